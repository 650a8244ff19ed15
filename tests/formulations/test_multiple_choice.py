"""Multiple-choice scoring: reusing each question's KV cache for its choices gives the same
log-likelihoods as scoring every question + choice as a full sequence, whatever the batch."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoModelForCausalLM

from harness.formulations.multiple_choice import score_choices_full, score_choices_shared
from harness.models.backbone import load_config
from tests.tiny_models import FAMILIES, model_spec

PAD = 0
# Questions of 4, 19 and 11 tokens (Mistral's window is 16) with 2, 4 and 3 choices of 1 to 9 tokens.
QUESTIONS = [
    ([101, 102, 103, 104], [[500], [600, 601, 602, 603, 604, 605, 606, 607, 608]]),
    (list(range(2000, 2019)), [[700, 701], [710, 711, 712, 713, 714, 715], [720], [730, 731, 732]]),
    (list(range(3000, 3022, 2)), [[800, 801, 802, 803], [810], [820, 821]]),
]


@pytest.fixture(scope="module", params=FAMILIES)
def causal_lm(request):
    torch.manual_seed(0)
    return AutoModelForCausalLM.from_config(load_config(model_spec(request.param))).eval()


def _hand_scores(model, context: list[int], choices: list[list[int]]) -> list[float]:
    """Sum over the choice's tokens of log p(token | question, earlier choice tokens), each
    question + choice run alone through the model (no padding, no cache)."""
    scores = []
    with torch.no_grad():
        for choice in choices:
            ids = context + choice
            log_probs = model(input_ids=torch.tensor([ids])).logits[0].log_softmax(-1)  # (T, V)
            scores.append(sum(float(log_probs[len(context) + j - 1, token]) for j, token in enumerate(choice)))
    return scores


@pytest.fixture(scope="module")
def hand_scores(causal_lm) -> list[list[float]]:
    return [_hand_scores(causal_lm, context, choices) for context, choices in QUESTIONS]


def _shared(model, questions, rows_per_forward: int = 64) -> list[list[float]]:
    return score_choices_shared(model, [q for q, _ in questions], [c for _, c in questions], PAD, rows_per_forward)


def test_full_scoring_equals_a_hand_loop(causal_lm, hand_scores):
    for (context, choices), expected in zip(QUESTIONS, hand_scores):
        assert score_choices_full(causal_lm, context, choices, PAD) == pytest.approx(expected, abs=1e-4)


def test_shared_prefix_equals_a_hand_loop_for_each_question_alone(causal_lm, hand_scores):
    for question, expected in zip(QUESTIONS, hand_scores):
        assert _shared(causal_lm, [question])[0] == pytest.approx(expected, abs=1e-4)


@pytest.mark.parametrize(("order", "rows_per_forward"), [([0, 1, 2], 64), ([2, 0, 1], 3), ([1, 2], 1)])
def test_shared_prefix_in_a_mixed_batch_equals_full_sequences(causal_lm, hand_scores, order, rows_per_forward):
    """Questions of different lengths left-padded together, their choices split across forwards."""
    questions = [QUESTIONS[i] for i in order]
    shared = _shared(causal_lm, questions, rows_per_forward)
    assert [len(s) for s in shared] == [len(c) for _, c in questions]
    for scores, (context, choices), i in zip(shared, questions, order):
        full = score_choices_full(causal_lm, context, choices, PAD)
        assert scores == pytest.approx(full, abs=1e-4)
        assert scores == pytest.approx(hand_scores[i], abs=1e-4)
    # the scores separate the choices: a mix-up between rows could not go unnoticed
    flat = [s for scores in shared for s in scores]
    assert min(abs(a - b) for i, a in enumerate(flat) for b in flat[i + 1 :]) > 1e-3
