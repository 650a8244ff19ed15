"""PTEC: the soft prompt and the head train at their own learning rates (checked on the optimizer),
the language model stays bit-identical through training, pos_weight is negatives/positives from
the train counts, a prompt of any length is never pooled and never moves the real tokens whatever
the padding side and pooling, the label-name initialisation reads the label names' embeddings,
and a run completes with only the prompt and the head trainable."""

from __future__ import annotations

import pytest
import torch

from harness.config import TrainerConfig
from harness.formulations.sequence_classification import SequenceClassification, SequenceClassifier
from harness.methods.ptec import PTEC
from harness.models.backbone import load_backbone
from harness.run import run
from harness.tasks.base import TaskData
from harness.tasks.examples import LabeledText
from tests.composing import compose_config, quick_overrides
from tests.tiny_models import context, model_spec

LABELS = ["Towards law enforcement", "Swearing", "Neutral"]
TRAIN = [
    LabeledText("These cops are out of control!", ("Towards law enforcement",), "0"),
    LabeledText("damn cops", ("Towards law enforcement", "Swearing"), "1"),
    LabeledText("what a nice day", ("Neutral",), "2"),
    LabeledText("police everywhere", ("Towards law enforcement",), "3"),
    LabeledText("no label here", (), "4"),
]
SAME = 1e-5


class _Task:
    name, metric, multi_label, kind = "toy", "macro_f1", True, "text_classification"


class _Trainer:  # what configure_optimizers reads from a Lightning trainer
    estimated_stepping_batches = 20


def _built(method: PTEC, pooling: str = "auto"):
    """A PTEC sequence classifier on tiny_llama built as a run builds it, and its data."""
    backbone = load_backbone(model_spec("tiny_llama"))
    torch.manual_seed(0)
    backbone.model = method.apply(backbone.model, context(backbone.info, "sequence_classification", tokenizer=backbone.tokenizer, labels=LABELS))
    data = TaskData(train=TRAIN, dev=TRAIN[:2], test=TRAIN[:2], labels=LABELS, data_hash="", source="")
    spec = SequenceClassification(pooling=pooling)
    module, examples = spec.build(_Task(), data, backbone, method, TrainerConfig(max_length=32, batch_size=2), 0, None)
    module._trainer = _Trainer()
    return module, examples


def test_prompt_and_head_get_their_own_learning_rates_on_the_optimizer():
    method = PTEC(lr=0.02, head_lr=0.004)
    module, _ = _built(method)
    optimizer = module.configure_optimizers()["optimizer"]
    rate_of = {id(p): group["initial_lr"] for group in optimizer.param_groups for p in group["params"]}
    trainable = {name: p for name, p in module.named_parameters() if p.requires_grad}
    assert set(trainable) == {"backbone.peft.prompt_encoder.default.embedding.weight", "head.weight", "head.bias"}
    assert rate_of[id(trainable["backbone.peft.prompt_encoder.default.embedding.weight"])] == 0.02
    assert rate_of[id(trainable["head.weight"])] == rate_of[id(trainable["head.bias"])] == 0.004
    assert len(rate_of) == len(trainable)  # no frozen tensor is in the optimizer


def test_the_language_model_is_bit_identical_after_training():
    module, data = _built(PTEC())
    frozen = {name: p.detach().clone() for name, p in module.named_parameters() if not p.requires_grad}
    trained = {name: p.detach().clone() for name, p in module.named_parameters() if p.requires_grad}
    assert any(".base_model." in name for name in frozen) and len(frozen) > 20
    optimizers = module.configure_optimizers()
    optimizer, scheduler = optimizers["optimizer"], optimizers["lr_scheduler"]["scheduler"]
    module.train()
    for _ in range(2):
        for batch in data.train_dataloader_standalone():
            module.loss(batch).backward()
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()
    named = dict(module.named_parameters())
    for name, before in frozen.items():
        assert torch.equal(named[name], before), f"frozen {name} changed"
    for name, before in trained.items():
        assert not torch.equal(named[name], before), f"trainable {name} did not change"


def test_pos_weight_is_negatives_over_positives_from_the_train_counts():
    module, _ = _built(PTEC())
    # 5 train texts: law enforcement 3 positives (2 negatives), swearing 1 (4), neutral 1 (4)
    torch.testing.assert_close(module.pos_weight, torch.tensor([2 / 3, 4.0, 4.0]))


ROWS = [list(range(101, 113)), list(range(201, 206)), [301, 302]]


def _padded(side: str, pad: int = 0, extra: int = 2):
    width = max(map(len, ROWS)) + extra
    ids, mask = [], []
    for row in ROWS:
        fill = [pad] * (width - len(row))
        ids.append(row + fill if side == "right" else fill + row)
        mask.append([1] * len(row) + [0] * len(fill) if side == "right" else [0] * len(fill) + [1] * len(row))
    return torch.tensor(ids), torch.tensor(mask)


def _reference(classifier: SequenceClassifier, row: list[int], pooling: str) -> torch.Tensor:
    """The head on the pooled hidden states of [P; E x] run through the base model by hand, the m
    prompt positions (at -m .. -1) dropped before pooling: what PTEC means."""
    wrapped = classifier.backbone
    base, prompt = wrapped.peft.get_base_model(), wrapped.prompt_encoder.embedding.weight
    m = prompt.shape[0]
    embeds = torch.cat([prompt, base.get_input_embeddings()(torch.tensor(row))])[None]  # (1, m + T, H)
    positions = torch.arange(-m, len(row))[None]
    hidden = base(inputs_embeds=embeds, position_ids=positions).last_hidden_state[0, m:]  # (T, H): real tokens only
    pooled = {"last": hidden[-1], "first": hidden[0], "mean": hidden.mean(0)}[pooling]
    return classifier.head(pooled)


@pytest.mark.parametrize("m", [1, 3, 16])
def test_a_prompt_of_any_length_is_never_pooled_whatever_the_padding_and_pooling(m):
    for pooling in ("last", "mean", "first"):
        classifier, _ = _built(PTEC(num_virtual_tokens=m), pooling=pooling)
        classifier.eval()
        with torch.no_grad():
            expected = torch.stack([_reference(classifier, row, pooling) for row in ROWS])
            for side in ("left", "right"):
                got = classifier(*_padded(side))
                assert (got - expected).abs().max() < SAME, (pooling, side)


def test_the_label_name_initialisation_reads_the_label_names_embeddings(smollm2_tokenizer):
    backbone = load_backbone(model_spec("tiny_llama"))
    words = backbone.model.get_input_embeddings().weight.detach().clone()
    tokens = smollm2_tokenizer(" ".join(LABELS), add_special_tokens=False)["input_ids"]
    assert len(set(tokens)) == len(tokens)  # so a row names its token
    for m in (3, len(tokens) + 2):
        wrapped = PTEC(num_virtual_tokens=m, init="label_names").apply(
            load_backbone(model_spec("tiny_llama")).model,
            context(backbone.info, "sequence_classification", tokenizer=smollm2_tokenizer, labels=LABELS),
        )
        prompt = wrapped.prompt_encoder.embedding.weight.detach()
        chosen = [next(t for t in tokens if torch.equal(words[t], row)) for row in prompt]  # StopIteration: not a label token
        if m < len(tokens):  # a subset, in text order
            positions = [tokens.index(t) for t in chosen]
            assert positions == sorted(set(positions))
        else:  # every token, repeated
            assert chosen == (tokens * 2)[:m]
    with pytest.raises(ValueError, match="label_names needs the task's labels"):
        PTEC(init="label_names").apply(backbone.model, context(backbone.info, "sequence_classification"))


@pytest.mark.parametrize(
    "settings, message",
    [({"num_virtual_tokens": 0}, "method.num_virtual_tokens"), ({"init": "text"}, "method.init"), ({"head_lr": 0.0}, "method.head_lr")],
)
def test_impossible_values_fail_naming_the_key(settings, message):
    with pytest.raises(ValueError, match=message):
        PTEC(**settings)


def test_ptec_runs_end_to_end_training_only_the_prompt_and_the_head(tmp_path, data_root):
    cfg = compose_config([
        *quick_overrides(tmp_path, train=16, evaluate=8), "task=hatespeech", "method=ptec",
        "method.init=label_names", f"paths.data_dir={data_root}",
    ])  # fmt: skip
    result = run(cfg)
    assert result.status == "completed", result.error and result.error["traceback"]
    assert result.formulation == "sequence_classification"
    assert {"macro_f1", "threshold"} <= set(result.metrics["test"])
    hidden, labels = 64, 22
    assert result.cost.trainable_params == 16 * hidden + hidden * labels + labels  # prompt, head weight, head bias
