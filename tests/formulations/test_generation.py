"""The generation formulation: what an example generates does not depend on the batch it lands in,
and the training loss is the cross-entropy of exactly the tokens the loss mask selects."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from transformers import AutoModelForCausalLM

from harness.formulations.generation import causal_lm_loss, generate_batch, lm_collate
from harness.formulations.prompting import IGNORE_INDEX, training_item
from harness.models.backbone import load_config
from tests.tiny_models import FAMILIES, model_spec

PAD, EOS = 0, 1
TOKENIZER = SimpleNamespace(pad_token_id=PAD, eos_token_id=EOS)  # all generate_batch reads
# Lengths 3, 9, 20 and 27: the shortest gets 24 pads on the left; Mistral's window is 16 tokens.
PROMPTS = [
    list(range(200, 209)),
    [4000, 4100, 4200],
    list(range(1000, 1054, 2)),
    list(range(700, 720)),
]
NEW_TOKENS = 12


@pytest.fixture(scope="module", params=FAMILIES)
def causal_lm(request):
    torch.manual_seed(0)
    return AutoModelForCausalLM.from_config(load_config(model_spec(request.param))).eval()


def _alone(model, prompts, tokenizer=TOKENIZER):
    return [generate_batch(model, tokenizer, [p], NEW_TOKENS)[0] for p in prompts]


def test_batched_generation_equals_one_at_a_time(causal_lm):
    alone = _alone(causal_lm, PROMPTS)
    assert all(len(tokens) == NEW_TOKENS for tokens in alone)  # no EOS / pad id was generated
    assert len({tuple(t) for t in alone}) == len(PROMPTS)  # the prompts lead to different answers
    assert generate_batch(causal_lm, TOKENIZER, PROMPTS, NEW_TOKENS) == alone


def test_generation_does_not_depend_on_batch_composition_or_order(causal_lm):
    alone = _alone(causal_lm, PROMPTS)
    for order in ([3, 2, 1, 0], [1, 3], [0, 2], [2, 0, 3]):
        batched = generate_batch(causal_lm, TOKENIZER, [PROMPTS[i] for i in order], NEW_TOKENS)
        assert batched == [alone[i] for i in order], order


def test_a_sequence_that_ends_does_not_change_the_others(causal_lm):
    """Cut at its EOS, one answer stops early; the others in its batch keep generating, unchanged."""
    alone = _alone(causal_lm, PROMPTS)
    eos = alone[1][3]  # make the 4th token the short prompt generates its end of sequence
    tokenizer = SimpleNamespace(pad_token_id=PAD, eos_token_id=eos)
    expected = [t[: t.index(eos)] if eos in t else t for t in alone]
    assert len(expected[1]) <= 3 and any(len(t) == NEW_TOKENS for t in expected)
    assert generate_batch(causal_lm, tokenizer, PROMPTS, NEW_TOKENS) == expected


def _items(loss_on: str) -> list[dict]:
    # (prompt, response): different lengths, so rows are right-padded in the batch
    pairs = [([11, 12, 13, 14, 15, 16, 17], [300, 301, 302, EOS]), ([21, 22, 23], [400, 401, EOS])]
    return [training_item(p, r, max_length=64, loss_on=loss_on) for p, r in pairs]


def _hand_loss(model, items: list[dict], scored) -> torch.Tensor:
    """Mean of -log p(token t | tokens < t) over the chosen positions, each row run alone."""
    terms = []
    with torch.no_grad():
        for item in items:
            ids = torch.tensor([item["input_ids"]])
            logits = model(input_ids=ids).logits[0]  # (T, V), no padding
            for t in scored(item):
                terms.append(-logits[t - 1].log_softmax(-1)[item["input_ids"][t]])
    return torch.stack(terms).mean()


def test_loss_is_cross_entropy_over_exactly_the_response_tokens(causal_lm):
    items = _items("response")
    batch = lm_collate(PAD)(items)
    with torch.no_grad():
        loss = causal_lm_loss(causal_lm, batch)

    def response_positions(item):
        return [t for t, label in enumerate(item["labels"]) if label != IGNORE_INDEX]

    assert [len(response_positions(i)) for i in items] == [4, 3]
    torch.testing.assert_close(loss, _hand_loss(causal_lm, items, response_positions), rtol=1e-5, atol=1e-5)
    # a plain mean over every next-token position would be a different number
    every = _hand_loss(causal_lm, items, lambda item: range(1, len(item["input_ids"])))
    assert abs(float(loss) - float(every)) > 1e-3


def test_the_loss_asks_for_logits_from_the_first_scored_prediction_on(causal_lm):
    """Prompt positions before it are never scored: their vocabulary projection is skipped, and the
    loss is the one over the full logits."""
    batch = lm_collate(PAD)(_items("response"))
    width = batch["input_ids"].shape[1]
    kept = []
    hook = causal_lm.register_forward_hook(lambda _m, _a, out: kept.append(out.logits.shape[1]))
    with torch.no_grad():
        loss = causal_lm_loss(causal_lm, batch)
        hook.remove()
        logits = causal_lm(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    # the shorter row's response starts at token 3, so the prediction at position 2 is the first scored
    assert (width, kept) == (11, [width - 2])
    targets = batch["labels"][:, 1:]
    full = torch.nn.functional.cross_entropy(logits[:, :-1][targets != IGNORE_INDEX], targets[targets != IGNORE_INDEX])
    torch.testing.assert_close(loss, full, rtol=1e-6, atol=1e-6)


def test_unmasking_prompt_labels_changes_the_loss(causal_lm):
    with torch.no_grad():
        response_only = causal_lm_loss(causal_lm, lm_collate(PAD)(_items("response")))
        items = _items("all")
        everything = causal_lm_loss(causal_lm, lm_collate(PAD)(items))
    assert abs(float(everything) - float(response_only)) > 1e-3
    # loss_on=all: every next-token prediction in each row (the first token has nothing before it)
    hand = _hand_loss(causal_lm, items, lambda item: range(1, len(item["input_ids"])))
    torch.testing.assert_close(everything, hand, rtol=1e-5, atol=1e-5)


class _Only:
    """A logits processor that allows one token id at every step."""

    def __init__(self, token: int) -> None:
        self.token = token

    def __call__(self, input_ids, scores):
        allowed = torch.full_like(scores, float("-inf"))
        allowed[:, self.token] = 0.0
        return scores + allowed


def test_methods_and_tasks_constrain_decoding_through_the_hook(smollm2_tokenizer):
    from harness.formulations.generation import Generation, Generator
    from harness.metrics import metric_for

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(load_config(model_spec("tiny_llama"))).eval()
    token = smollm2_tokenizer(" yes", add_special_tokens=False)["input_ids"][0]
    method = SimpleNamespace(lr=0.0, logits_processors=lambda tokenizer: [_Only(token)])
    module = Generator(model, smollm2_tokenizer, Generation(max_new_tokens=3), metric_for("exact_match"),
                       "exact_match", method, {}, task=SimpleNamespace())
    batch = {"prompt_ids": PROMPTS[:2], "index": torch.tensor([0, 1])}
    assert [p for _, p, _ in module.predict(batch)] == ["yes yes yes", "yes yes yes"]
    # A task's hook applies too, after the method's.
    eos = smollm2_tokenizer.eos_token_id
    module.method = SimpleNamespace(lr=0.0)
    module.task = SimpleNamespace(logits_processors=lambda tokenizer: [_Only(eos)])
    assert [p for _, p, _ in module.predict(batch)] == ["", ""]


# Shared prefixes: the instruction and fixed demonstrations every prompt of a batch begins with.
SHARED = list(range(3000, 3013))  # 13 tokens all four prompts begin with
PREFIXED = [SHARED + p for p in PROMPTS] + [SHARED[:-1]]  # the last one is the shared prefix but one token


def test_shared_prefix_length_leaves_every_prompt_a_token():
    from harness.formulations.generation import shared_prefix_length

    assert shared_prefix_length(PREFIXED[:4]) == 13
    assert shared_prefix_length(PREFIXED) == 11  # the shortest keeps its last token to encode
    assert shared_prefix_length([[1, 2, 3], [1, 2, 3]]) == 2
    assert shared_prefix_length([[5, 2], [1, 2]]) == 0


def test_generation_with_a_shared_prefix_cache_equals_one_at_a_time(causal_lm):
    """The prefix encoded once and its cache repeated per row: each row generates what it does alone
    (no sharing, no padding), in any batch composition."""
    alone = _alone(causal_lm, PREFIXED)
    assert len({tuple(t) for t in alone}) == len(PREFIXED)
    shapes = []
    hook = causal_lm.register_forward_pre_hook(lambda _, args, kwargs: shapes.append(tuple(kwargs["input_ids"].shape)), with_kwargs=True)
    try:
        assert generate_batch(causal_lm, TOKENIZER, PREFIXED, NEW_TOKENS, share_prefix=True) == alone
    finally:
        hook.remove()
    # the prefix is encoded once, as one row, unless a sliding window (tiny Mistral's 16) could reach the padding
    window = getattr(causal_lm.config, "sliding_window", None)
    assert ((1, 11) in shapes) == (window is None), shapes
    for order in ([3, 2, 1, 0], [4, 1], [0, 2]):
        batch = [PREFIXED[i] for i in order]
        assert generate_batch(causal_lm, TOKENIZER, batch, NEW_TOKENS, share_prefix=True) == [alone[i] for i in order]


def test_stop_tokens_end_a_row_and_stay_in_its_output(causal_lm):
    alone = _alone(causal_lm, PROMPTS)
    stop = alone[2][4]  # the 5th token the third prompt generates
    outputs = generate_batch(causal_lm, TOKENIZER, PROMPTS, NEW_TOKENS, stop_token_ids=[stop])
    expected = [t[: t.index(stop) + 1] if stop in t else t for t in alone]
    assert outputs == expected and len(outputs[2]) <= 5
