"""Prompt tuning, prefix tuning and P-tuning: the virtual tokens change what the model computes and
nothing else. The formulations call the adapted model as the base model and get the input's
length back; a row's real-token outputs do not depend on padding; with zero virtual tokens the
adapted model is the base model (outputs, cached choice scores, generated tokens); a prompt
initialised from text equals that text written before the input; a prefix is attended exactly as
cached keys and values; only the prompt trains; decoding with the cache equals a greedy loop
without it; checkpoints hold the prompt and restore it."""

from __future__ import annotations

import pytest
import torch
from peft import PrefixTuningConfig, PromptEncoderConfig, PromptTuningConfig
from transformers import AutoModelForCausalLM, DynamicCache

from harness.formulations.generation import causal_lm_loss, generate_batch
from harness.formulations.lifecycle import position_ids_from_mask
from harness.formulations.multiple_choice import score_choices_full, score_choices_shared
from harness.formulations.sequence_classification import SequenceClassifier
from harness.formulations.token_classification import TokenClassifier
from harness.methods.p_tuning import PTuning
from harness.methods.prefix_tuning import PrefixTuning
from harness.methods.prompt_learning import wrap
from harness.methods.prompt_tuning import PromptTuning, init_from_text
from harness.models.attention_spec import AttentionSpec
from harness.models.backbone import load_config
from harness.models.info import ModelInfo
from tests.tiny_models import FAMILIES, context, model_spec, tiny_backbone

CONFIGS = {
    "prompt_tuning": lambda m: PromptTuningConfig(num_virtual_tokens=m),
    "prefix_tuning": lambda m: PrefixTuningConfig(num_virtual_tokens=m),
    "p_tuning": lambda m: PromptEncoderConfig(num_virtual_tokens=m),
}
KINDS = tuple(CONFIGS)
METHODS = {"prompt_tuning": PromptTuning, "prefix_tuning": PrefixTuning, "p_tuning": PTuning}
PAD = 0
# Three rows of different lengths: with 4 virtual tokens and up to 3 extra pads they cross
# tiny_mistral's sliding window of 16, where the placement of the virtual tokens matters.
ROWS = [list(range(101, 113)), list(range(201, 208)), [301, 302, 303]]
SAME = 1e-5  # float32 rounding of the same computation laid out differently in the batch


def _lm(family: str):
    torch.manual_seed(0)
    return AutoModelForCausalLM.from_config(load_config(model_spec(family)), attn_implementation="sdpa").eval()


def _wrapped(kind: str, family: str, m: int = 4, lm: bool = False):
    model = _lm(family) if lm else tiny_backbone(family)[0]
    torch.manual_seed(1)
    return wrap(model, CONFIGS[kind](m)).eval()


def _batch(rows, side: str, extra: int = 0, pad: int = PAD):
    """(input_ids, attention_mask) padded on `side` to the longest row + `extra`."""
    width = max(map(len, rows)) + extra
    ids, mask = [], []
    for row in rows:
        fill = width - len(row)
        ids.append(row + [pad] * fill if side == "right" else [pad] * fill + row)
        mask.append([1] * len(row) + [0] * fill if side == "right" else [0] * fill + [1] * len(row))
    return torch.tensor(ids), torch.tensor(mask)


def _real(output: torch.Tensor, mask: torch.Tensor) -> list[torch.Tensor]:
    """Each row's outputs at its real tokens, in order."""
    return [output[row][mask[row].bool()] for row in range(output.shape[0])]


def _call(model, ids, mask, **kwargs):
    return model(input_ids=ids, attention_mask=mask, position_ids=position_ids_from_mask(mask), **kwargs)


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("kind", KINDS)
def test_outputs_have_the_inputs_length(kind, family):
    ids, mask = _batch(ROWS, "left", extra=2)
    with torch.no_grad():
        hidden = _call(_wrapped(kind, family), ids, mask).last_hidden_state
        out = _call(_wrapped(kind, family, lm=True), ids, mask, output_hidden_states=True, labels=ids)
    assert hidden.shape == (3, ids.shape[1], 64)
    assert out.logits.shape[:2] == ids.shape
    assert all(h.shape == (3, ids.shape[1], 64) for h in out.hidden_states)
    assert torch.isfinite(out.loss)


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("kind", KINDS)
def test_real_tokens_do_not_depend_on_padding(kind, family):
    model = _wrapped(kind, family)
    with torch.no_grad():
        alone = [_call(model, torch.tensor([row]), torch.ones(1, len(row), dtype=torch.long)).last_hidden_state[0]
                 for row in ROWS]  # fmt: skip
        for side, extra in (("right", 0), ("left", 0), ("left", 3), ("right", 3)):
            ids, mask = _batch(ROWS, side, extra, pad=7)  # pads are real ids: only the mask may hide them
            for got, want in zip(_real(_call(model, ids, mask).last_hidden_state, mask), alone):
                assert (got - want).abs().max() < SAME, (side, extra)


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("side", ["right", "left"])
def test_logits_to_keep_gives_the_last_positions_of_the_full_logits(side, kind, family):
    """As transformers' models cut them (causal_lm_loss asks for the scored tail only); with right
    padding the base model cuts them itself, before its vocabulary projection."""
    model = _wrapped(kind, family, lm=True)
    ids, mask = _batch(ROWS, side, extra=1)
    widths = []
    hook = model.peft.get_base_model().register_forward_hook(lambda _m, _a, out: widths.append(out.logits.shape[1]))
    with torch.no_grad():
        full = _call(model, ids, mask).logits
        for keep in (1, 5, ids.shape[1]):
            cut = _call(model, ids, mask, logits_to_keep=keep).logits
            assert cut.shape == (3, keep, full.shape[-1])
            assert (cut - full[:, -keep:]).abs().max() < SAME, keep
    hook.remove()
    full_width = ids.shape[1] + (0 if kind == "prefix_tuning" else 4)
    assert widths == [full_width] + ([1, 5, ids.shape[1]] if side == "right" else [full_width] * 3)
    with pytest.raises(ValueError, match="labels and logits_to_keep"):
        _call(model, ids, mask, logits_to_keep=2, labels=ids)


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("kind", KINDS)
def test_zero_virtual_tokens_is_the_base_model(kind, family):
    """Everything the wrapper does besides adding the virtual tokens changes nothing."""
    base, adapted = _lm(family), _wrapped(kind, family, m=0, lm=True)
    ids, mask = _batch(ROWS, "left", extra=1)
    with torch.no_grad():
        for got, want in zip(_real(_call(adapted, ids, mask).logits, mask), _real(_call(base, ids, mask).logits, mask)):
            assert (got - want).abs().max() < SAME
        contexts, choices = [ROWS[1], ROWS[2]], [[[5, 6], [7, 8, 9]], [[10], [11, 12, 13, 14]]]
        shared = torch.tensor(score_choices_shared(adapted, contexts, choices, PAD, 3))
        assert torch.allclose(shared, torch.tensor(score_choices_shared(base, contexts, choices, PAD, 3)), atol=1e-4)
    tokenizer = type("Tokenizer", (), {"pad_token_id": PAD, "eos_token_id": 2})
    assert generate_batch(adapted, tokenizer, ROWS, 10) == generate_batch(base, tokenizer, ROWS, 10)


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("kind", KINDS)
def test_virtual_tokens_change_every_real_token(kind, family):
    ids, mask = _batch(ROWS, "left")
    with torch.no_grad():
        plain = _call(tiny_backbone(family)[0], ids, mask).last_hidden_state
        adapted = _call(_wrapped(kind, family), ids, mask).last_hidden_state
    for got, want in zip(_real(adapted, mask), _real(plain, mask)):
        assert ((got - want).abs().amax(-1) > 1e-3).all()  # the first real token already sees the prompt


class _Tokenizer:
    """Word i -> id i (a tokenizer's call signature, for text initialisations of known ids)."""

    def __call__(self, text, add_special_tokens=True):
        return {"input_ids": [int(word) for word in text.split()]}


@pytest.mark.parametrize("family", FAMILIES)
def test_a_prompt_from_text_equals_the_text_written_before_the_input(family):
    """Placement and positions: a prompt equal to text embeddings is that text before each row's
    first real token, at the positions just before it, whatever the row's padding."""
    text = [401, 402, 403, 404, 405]
    base, _ = tiny_backbone(family)
    model = PromptTuning(num_virtual_tokens=len(text), init="text", init_text=" ".join(map(str, text)))
    adapted = model.apply(tiny_backbone(family)[0], context(_info(family), tokenizer=_Tokenizer())).eval()
    ids, mask = _batch(ROWS, "left", extra=1)
    with_text, text_mask = _batch([text + row for row in ROWS], "left", extra=1)
    with torch.no_grad():
        got = _real(_call(adapted, ids, mask).last_hidden_state, mask)
        want = _real(_call(base, with_text, text_mask).last_hidden_state, text_mask)
    for row_got, row_want in zip(got, want):
        assert (row_got - row_want[len(text) :]).abs().max() < 1e-4  # rotary angles at other positions


def test_text_init_repeats_the_tokens_of_the_runs_tokenizer(smollm2_tokenizer):
    """peft's rule (repeat, then cut to m) from the run's own tokenizer: no tokenizer is loaded."""
    base, info = tiny_backbone("tiny_llama")
    method = PromptTuning(num_virtual_tokens=7, init="text", init_text="Tag the entities:")
    adapted = method.apply(base, context(info, tokenizer=smollm2_tokenizer))
    ids = smollm2_tokenizer("Tag the entities:", add_special_tokens=False)["input_ids"]
    expected = (ids * 7)[:7]
    weights = base.get_input_embeddings().weight[expected]
    assert torch.equal(adapted.prompt_encoder.embedding.weight.detach(), weights.detach())
    with pytest.raises(ValueError, match="method.init: text needs the run's tokenizer"):
        method.apply(tiny_backbone("tiny_llama")[0], context(info))


@pytest.mark.parametrize("family", FAMILIES)
def test_a_prefix_is_attended_as_cached_keys_and_values(family):
    """A prefix set to the base model's own keys and values for a text gives the base model's
    outputs on that text followed by the input: every layer attends the virtual keys."""
    text, row = [401, 402, 403, 404, 405], ROWS[1]
    base, _ = tiny_backbone(family)
    with torch.no_grad():
        filled = base(input_ids=torch.tensor([text]), use_cache=True).cache
        want = base(input_ids=torch.tensor([text + row])).last_hidden_state[0, len(text) :]
    adapted = _wrapped("prefix_tuning", family, m=len(text))
    per_layer = torch.stack([torch.stack([layer.keys[0], layer.values[0]]) for layer in filled.layers])  # (L,2,H,m,D)
    with torch.no_grad():
        adapted.prompt_encoder.embedding.weight.copy_(per_layer.permute(3, 0, 1, 2, 4).reshape(len(text), -1))
        positions = torch.arange(len(text), len(text) + len(row))[None]  # where the text left off
        got = adapted(input_ids=torch.tensor([row]), position_ids=positions).last_hidden_state[0]
        assert (got - want).abs().max() < 1e-4
        adapted.prompt_encoder.embedding.weight.mul_(-1)  # another prefix: other outputs
        changed = adapted(input_ids=torch.tensor([row]), position_ids=positions).last_hidden_state[0]
        assert ((changed - want).abs().amax(-1) > 1e-3).all()


@pytest.mark.parametrize("name", KINDS)
def test_only_the_prompt_trains(name):
    adapted = METHODS[name](num_virtual_tokens=4).apply(_lm("tiny_llama"), context(_info("tiny_llama"), "generation"))
    named = dict(adapted.named_parameters())
    trainable = {n for n, p in named.items() if p.requires_grad}
    assert trainable and all(".prompt_encoder." in n for n in trainable)
    frozen = {n: p.detach().clone() for n, p in named.items() if not p.requires_grad}
    prompt = {n: named[n].detach().clone() for n in trainable}
    ids, mask = _batch(ROWS, "left")
    adapted.train()
    batch = {"input_ids": ids, "attention_mask": mask, "labels": ids.masked_fill(mask == 0, -100)}
    causal_lm_loss(adapted, batch).backward()
    assert {n for n, p in named.items() if p.grad is not None} == trainable
    torch.optim.AdamW([named[n] for n in trainable], lr=1e-2).step()
    assert all(torch.equal(named[n], before) for n, before in frozen.items())
    assert all(not torch.equal(named[n], before) for n, before in prompt.items())


def _greedy_without_cache(model, row: list[int], steps: int) -> list[int]:
    tokens = list(row)
    with torch.no_grad():
        for _ in range(steps):
            ids = torch.tensor([tokens])
            positions = torch.arange(len(tokens))[None]
            logits = model(input_ids=ids, attention_mask=torch.ones_like(ids), position_ids=positions).logits
            tokens.append(int(logits[0, -1].argmax()))
    return tokens[len(row) :]


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("kind", KINDS)
def test_generation_equals_a_greedy_loop_over_the_forward(kind, family):
    """Batched, left-padded, with the KV cache (as the generation formulation decodes) = one row at
    a time, no padding, the whole sequence re-read at every step."""
    model = _wrapped(kind, family, lm=True)
    tokenizer = type("Tokenizer", (), {"pad_token_id": PAD, "eos_token_id": None})
    assert generate_batch(model, tokenizer, ROWS, 12) == [_greedy_without_cache(model, row, 12) for row in ROWS]


def test_generation_stops_a_row_at_eos_and_pads_it():
    model = _wrapped("prompt_tuning", "tiny_llama", lm=True)
    free = [_greedy_without_cache(model, row, 6) for row in ROWS]
    eos = free[0][2]
    ids, mask = _batch(ROWS, "left")
    out = model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=6, pad_token_id=PAD, eos_token_id=eos)
    new = out[:, ids.shape[1] :].tolist()
    for got, want in zip(new, free):
        cut = want.index(eos) + 1 if eos in want else len(want)
        assert got[:cut] == want[:cut] and set(got[cut:]) <= {PAD}


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("kind", KINDS)
def test_choice_scores_with_a_shared_prefix_equal_full_sequences(kind, family):
    """The cache a first call returns holds the virtual tokens; a call that continues it passes a
    mask over its own tokens only (multiple choice's shared-prefix scoring)."""
    model = _wrapped(kind, family, lm=True)
    contexts, choices = [ROWS[0], ROWS[2]], [[[5, 6], [7, 8, 9], [10]], [[11], [12, 13, 14, 15]]]
    with torch.no_grad():
        shared = score_choices_shared(model, contexts, choices, PAD, 2)
        full = [score_choices_full(model, c, cs, PAD) for c, cs in zip(contexts, choices)]
    flat = [torch.tensor([s for question in scores for s in question]) for scores in (shared, full)]
    assert torch.allclose(*flat, atol=1e-4)


@pytest.mark.parametrize("kind", KINDS)
def test_classification_heads_see_only_real_tokens(kind):
    """The formulations' own forwards: the input's length, and the same per-token logits and
    pooled logits (last, mean, first real token) whichever side the padding is on."""
    model = _wrapped(kind, "tiny_mistral")
    token = TokenClassifier(model, 64, ["O", "B-X", "I-X"], None, "span_f1", PromptTuning()).eval()
    sequence = [
        SequenceClassifier(model, 64, ["a", "b"], False, pooling, None, "f1", PromptTuning(), {}).eval()
        for pooling in ("last", "mean", "first")
    ]  # fmt: skip
    outputs = {}
    for side in ("left", "right"):
        ids, mask = _batch(ROWS, side, extra=2, pad=9)
        with torch.no_grad():
            logits = token(ids, mask)
            assert logits.shape[:2] == ids.shape
            outputs[side] = (_real(logits, mask), [classifier(ids, mask) for classifier in sequence])
    for got, want in zip(outputs["left"][0], outputs["right"][0]):
        assert (got - want).abs().max() < SAME
    for got, want in zip(outputs["left"][1], outputs["right"][1]):
        assert (got - want).abs().max() < SAME


def test_checkpoints_hold_the_prompt_and_restore_it():
    """Only trainable tensors are checkpointed (lifecycle.on_save_checkpoint): the prompt encoder
    and the head, under the names a fresh adapted model loads."""
    def classifier():
        adapted = PTuning(num_virtual_tokens=4).apply(tiny_backbone("tiny_llama")[0], context(_info("tiny_llama")))
        return TokenClassifier(adapted, 64, ["O", "B-X"], None, "span_f1", PTuning()).eval()

    trained = classifier()
    with torch.no_grad():
        for parameter in trained.parameters():
            if parameter.requires_grad:
                parameter.add_(torch.randn_like(parameter))
    checkpoint = {"state_dict": trained.state_dict()}
    trained.on_save_checkpoint(checkpoint)
    kept = {key.split(".default.")[0] for key in checkpoint["state_dict"]}
    assert kept == {"backbone.peft.prompt_encoder", "head.weight", "head.bias"}
    restored = classifier()
    ids, mask = _batch(ROWS, "right")
    with torch.no_grad():
        assert not torch.equal(restored(ids, mask), trained(ids, mask))
        restored.load_state_dict(checkpoint["state_dict"], strict=False)
        assert torch.equal(restored(ids, mask), trained(ids, mask))


@pytest.mark.parametrize("kind", ["prompt_tuning", "p_tuning"])
def test_virtual_input_tokens_work_with_unmasked_layers(kind):
    """The padding-only mask of unmasked layers covers the virtual tokens like any real token: the
    outputs still ignore padding, and differ from the causal model's with the same prompt."""
    attention = AttentionSpec(name="layers", unmasked="layers", layers=[2, 3])
    base, info = tiny_backbone("tiny_llama")
    torch.manual_seed(1)
    unmasked = wrap(attention.apply(base, info), CONFIGS[kind](4)).eval()
    causal = _wrapped(kind, "tiny_llama")
    with torch.no_grad():
        right, left = _batch(ROWS, "right"), _batch(ROWS, "left", extra=2)
        by_side = [_real(_call(unmasked, *batch).last_hidden_state, batch[1]) for batch in (right, left)]
        plain = _real(_call(causal, *right).last_hidden_state, right[1])
    for got, want, causal_row in zip(*by_side, plain):
        assert (got - want).abs().max() < SAME
        assert (got - causal_row).abs().max() > 1e-3


def test_prefix_tuning_refuses_unmasked_layers():
    base, info = tiny_backbone("tiny_llama")
    attention = AttentionSpec(name="unmasked", unmasked="all")
    with pytest.raises(ValueError, match="method=prefix_tuning: unmasked attention layers .* attention=causal"):
        PrefixTuning().apply(attention.apply(base, info), context(info))


def test_a_cache_not_made_by_the_model_is_refused():
    model = _wrapped("prompt_tuning", "tiny_llama", lm=True)
    with pytest.raises(ValueError, match="cache: pass only a cache this model returned"):
        model(input_ids=torch.tensor([[5, 6]]), cache=DynamicCache(), use_cache=True)


def _info(family: str) -> ModelInfo:
    return tiny_backbone(family)[1]


@pytest.mark.parametrize("name", KINDS)
def test_check_refuses_models_without_rotary_positions(name):
    bert = ModelInfo("minilm_l6", "bert", "encoder", 6, 12, 12, 384, 32, 30522)
    allowed = r"allowed families: \['llama', 'mistral', 'qwen2'\]"
    with pytest.raises(ValueError, match=rf"method={name}: model minilm_l6 .* {allowed}"):
        METHODS[name]().check(bert, "sequence_classification")
    METHODS[name]().check(_info("tiny_qwen2"), "generation")


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: PromptTuning(num_virtual_tokens=0), r"method\.num_virtual_tokens: must be an integer >= 1, got 0"),
        (lambda: PrefixTuning(num_virtual_tokens=2.5), r"method\.num_virtual_tokens"),
        (lambda: PromptTuning(init="vocab"), r"method\.init: 'vocab' is not one of \['random', 'sample_vocab', 'text"),
        (lambda: PromptTuning(init="text"), r"method\.init_text: init is text"),
        (lambda: PrefixTuning(encoder_hidden_size=32), r"encoder_hidden_size: only used with method\.prefix_pro"),
        (lambda: PTuning(encoder_reparameterization_type="GRU"), r"method\.encoder_reparameterization_type: 'GRU'"),
        (lambda: PTuning(encoder_hidden_size=0), r"method\.encoder_hidden_size: must be an integer >= 1"),
    ],
)
def test_impossible_values_fail_naming_the_key(make, message):
    with pytest.raises(ValueError, match=message):
        make()


@pytest.mark.parametrize("settings", [{"prefix_projection": True, "encoder_hidden_size": 24, "init": "random"}, {}])
def test_prefix_projection_trains_the_mlp_and_fits_grouped_kv_heads(settings):
    """peft sizes the prefix for the KV heads (2 of 4 on the tiny models), and the projection's MLP
    is what trains when it is on."""
    adapted = PrefixTuning(num_virtual_tokens=3, **settings).apply(*_base_and_context("tiny_qwen2"))
    trainable = {n for n, p in adapted.named_parameters() if p.requires_grad}
    assert any("transform" in n for n in trainable) == bool(settings)
    cache = adapted.peft.get_prompt(2)
    assert cache.layers[0].keys.shape == (2, 2, 3, 16)  # (batch, KV heads, m, head dim)


def _base_and_context(family: str):
    base, info = tiny_backbone(family)
    return base, context(info)


@pytest.mark.parametrize("family", FAMILIES)
def test_a_prefix_from_text_equals_the_text_written_before_the_input(family):
    """init=text: the prefix is the frozen model's keys and values for the text at the positions
    just before the input, so each row's real tokens see that text before them, whatever the
    row's padding (grouped KV heads and the sliding window included)."""
    text = [401, 402, 403, 404, 405]
    base, info = tiny_backbone(family)
    method = PrefixTuning(num_virtual_tokens=len(text), init="text", init_text=" ".join(map(str, text)))
    adapted = method.apply(tiny_backbone(family)[0], context(info, tokenizer=_Tokenizer())).eval()
    for side in ("left", "right"):
        ids, mask = _batch(ROWS, side, extra=1)
        with_text, text_mask = _batch([text + row for row in ROWS], side, extra=1)
        with torch.no_grad():
            got = _real(_call(adapted, ids, mask).last_hidden_state, mask)
            want = _real(_call(base, with_text, text_mask).last_hidden_state, text_mask)
        for row_got, row_want in zip(got, want):
            assert (row_got - row_want[len(text) :]).abs().max() < 1e-4  # rotary angles at other positions


def test_a_prefix_from_sampled_vocabulary_is_those_tokens_keys_and_values():
    """init=sample_vocab draws m token ids with the run's seed and starts from their activations:
    the same seed gives the same prefix, which equals the text init of those ids; another seed
    gives another prefix."""
    base, info = tiny_backbone("tiny_llama")
    vocabulary = base.get_input_embeddings().num_embeddings

    def sampled(seed):
        backbone = tiny_backbone("tiny_llama")[0]
        torch.manual_seed(seed)
        model = PrefixTuning(num_virtual_tokens=6, init="sample_vocab").apply(backbone, context(info))
        return model.prompt_encoder.embedding.weight.detach().clone()

    torch.manual_seed(3)
    ids = torch.randint(0, vocabulary, (6,)).tolist()
    from_text = PrefixTuning(num_virtual_tokens=6, init="text", init_text=" ".join(map(str, ids)))
    want = from_text.apply(base, context(info, tokenizer=_Tokenizer())).prompt_encoder.embedding.weight.detach()
    assert torch.equal(sampled(3), want)
    assert not torch.allclose(sampled(3), sampled(4))


def test_an_activation_init_with_the_projection_is_refused():
    with pytest.raises(ValueError, match=r"method\.init: sample_vocab writes the prefix's keys.*init=random"):
        PrefixTuning(init="sample_vocab", prefix_projection=True)
    with pytest.raises(ValueError, match=r"method\.init: 'real' is not one of"):
        PrefixTuning(init="real")
    with pytest.raises(ValueError, match=r"method\.init_text: init is text"):
        PrefixTuning(init="text")


def test_a_prefix_longer_than_the_sliding_window_keeps_every_token():
    """tiny_mistral's window is 16: a 20-token prefix still holds all 20 tokens' keys and values,
    in order (layer 0's values depend on the token alone, not its position or context)."""
    base, info = tiny_backbone("tiny_mistral")
    text = list(range(401, 421))

    def prefix(ids):
        method = PrefixTuning(num_virtual_tokens=len(ids), init="text", init_text=" ".join(map(str, ids)))
        return method.apply(tiny_backbone("tiny_mistral")[0], context(info, tokenizer=_Tokenizer())).peft.get_prompt(1)

    long, short = prefix(text), prefix(text[:5])
    assert all(layer.keys.shape[2] == layer.values.shape[2] == 20 for layer in long.layers)
    assert torch.allclose(long.layers[0].values[:, :, :5], short.layers[0].values, atol=1e-6)
