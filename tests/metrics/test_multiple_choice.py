"""MultipleChoice: acc, acc_norm and TruthfulQA's MC1/MC2 on hand-made choices, against values
computed by hand (and, for random questions, against the official MC_calcs formulas)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from harness.metrics import MultipleChoice
from harness.metrics.multiple_choice import mc1, mc2, multiple_choice_scores

E = math.exp


@pytest.fixture(scope="module")
def multiple_choice():
    return MultipleChoice()


def test_truthfulqa_example_mc1_loses_to_an_incorrect_choice(multiple_choice):
    result = multiple_choice.compute(
        predictions=[[-1.0, -2.0, -0.5]], references=[[1, 1, 0]], best=[0], choice_lengths=[[1, 1, 1]]
    )
    # MC1: best answer 0 scores -1, the incorrect choice 2 scores -0.5 > -1 -> 0.
    assert result["mc1"] == 0.0
    # MC2: (e^-1 + e^-2) / (e^-1 + e^-2 + e^-0.5) = 0.4534...
    assert result["mc2"] == pytest.approx((E(-1) + E(-2)) / (E(-1) + E(-2) + E(-0.5)))
    # acc: the top score -0.5 is choice 2, incorrect -> 0; equal lengths, so acc_norm is the same.
    assert result["acc"] == 0.0 and result["acc_norm"] == 0.0
    assert result["num_questions"] == 1


def test_length_normalisation_can_change_the_answer(multiple_choice):
    result = multiple_choice.compute(
        predictions=[[-1.0, -2.0, -0.5]], references=[[1, 1, 0]], best=[0], choice_lengths=[[1, 8, 1]]
    )
    # per-length scores: -1/1, -2/8 = -0.25, -0.5/1 -> the top is choice 1 (correct): acc_norm 1.
    assert result["acc"] == 0.0 and result["acc_norm"] == 1.0


def test_mc1_ignores_the_other_correct_answers():
    # the correct choice 1 outscores the best answer 0, but MC1 compares the best answer with the
    # incorrect choices only: -2 > max(-3) -> 1.
    assert mc1([-2.0, -0.5, -3.0], [1, 1, 0], best=0) == 1.0
    # MC2: (e^-2 + e^-0.5) / (e^-2 + e^-0.5 + e^-3).
    assert mc2([-2.0, -0.5, -3.0], [1, 1, 0]) == pytest.approx(
        (E(-2) + E(-0.5)) / (E(-2) + E(-0.5) + E(-3))
    )


def test_mc1_needs_a_strictly_greater_score():
    # best answer -1 equals the incorrect -1: not strictly greater -> 0.
    assert mc1([-1.0, -1.0], [1, 0], best=0) == 0.0
    assert mc2([-1.0, -1.0], [1, 0]) == pytest.approx(0.5)  # e^-1 / (2 e^-1)


def test_ties_count_as_wrong_unless_every_tied_choice_is_correct(multiple_choice):
    lengths = [[1, 1, 1]] * 3
    result = multiple_choice.compute(
        predictions=[[-1.0, -1.0, -3.0], [-1.0, -1.0, -3.0], [-3.0, -1.0, -1.0]],
        references=[[1, 1, 0], [1, 0, 0], [0, 1, 0]],
        best=[0, 0, 1],
        choice_lengths=lengths,
    )
    # q0: tie between 0 and 1, both correct -> right; q1: tie between correct 0 and incorrect 1
    # -> wrong (np.argmax would pick 0 and say right); q2: tie between correct 1 and incorrect 2
    # -> wrong. acc = 1/3, and acc_norm the same with equal lengths.
    assert result["acc"] == pytest.approx(1 / 3) and result["acc_norm"] == pytest.approx(1 / 3)


def test_scores_average_over_questions(multiple_choice):
    predictions = [[-1.0, -2.0, -0.5], [-2.0, -0.5, -3.0], [-1.0, -1.0]]
    references = [[1, 1, 0], [1, 1, 0], [1, 0]]
    result = multiple_choice.compute(
        predictions=predictions,
        references=references,
        best=[0, 0, 0],
        choice_lengths=[[1, 1, 1], [1, 1, 1], [1, 1]],
    )
    # acc: q0 0 (top is incorrect), q1 1 (top -0.5 is correct), q2 0 (tie with an incorrect) -> 1/3.
    assert result["acc"] == pytest.approx(1 / 3)
    # mc1 per question from the tests above: 0, 1, 0 -> 1/3.
    assert result["mc1"] == pytest.approx(1 / 3)
    expected_mc2 = [
        (E(-1) + E(-2)) / (E(-1) + E(-2) + E(-0.5)),
        (E(-2) + E(-0.5)) / (E(-2) + E(-0.5) + E(-3)),
        0.5,
    ]
    assert result["mc2"] == pytest.approx(sum(expected_mc2) / 3)
    assert result["num_questions"] == 3


def test_mc2_is_stable_for_very_negative_log_likelihoods():
    # exp(-1000) underflows to 0.0, so the official formula gives 0/0 = nan here; in log space it is
    # e^-1000 / (e^-1000 + e^-1001 + e^-2000) = 1 / (1 + e^-1 + e^-1000) = 1 / (1 + e^-1).
    scores = [-1000.0, -1001.0, -2000.0]
    assert mc2(scores, [1, 0, 0]) == pytest.approx(1 / (1 + E(-1)))
    # and adding a constant to every score changes nothing (same as for moderate scores).
    assert mc2([score + 999.0 for score in scores], [1, 0, 0]) == pytest.approx(1 / (1 + E(-1)))


def test_impossible_choices():
    # -inf is an impossible choice: no mass. Correct choice impossible -> MC1 0, MC2 0/e^-1 = 0.
    assert mc1([-math.inf, -1.0], [1, 0], best=0) == 0.0
    assert mc2([-math.inf, -1.0], [1, 0]) == 0.0
    # every choice impossible: no mass at all -> MC2 0 by definition; the tie at -inf includes an
    # incorrect choice, so acc is 0 too.
    result = multiple_choice_scores([[-math.inf, -math.inf]], [[1, 0]], choice_lengths=[[1, 1]])
    assert result["mc2"] == 0.0 and result["acc"] == 0.0 and result["mc1"] == 0.0


def test_no_incorrect_choice_and_a_single_choice(multiple_choice):
    # all choices correct: nothing outscores the best answer (MC1 1) and all mass is correct (MC2 1).
    result = multiple_choice.compute(
        predictions=[[-1.0, -2.0], [-3.0]], references=[[1, 1], [1]], best=[1, 0], choice_lengths=[[3, 4], [2]]
    )
    assert result == {"acc": 1.0, "acc_norm": 1.0, "mc1": 1.0, "mc2": 1.0, "num_questions": 2}


def test_best_defaults_to_the_only_correct_choice(multiple_choice):
    result = multiple_choice.compute(
        predictions=[[-0.5, -2.0, -1.0]], references=[[0, 0, 1]], choice_lengths=[[1, 1, 1]]
    )
    # best = choice 2 (-1): the incorrect choice 0 (-0.5) outscores it -> MC1 0.
    assert result["mc1"] == 0.0
    with pytest.raises(ValueError, match=r"question 0: 2 correct choices, so pass best"):
        multiple_choice.compute(predictions=[[-1.0, -2.0]], references=[[1, 1]], choice_lengths=[[1, 1]])


def test_no_questions(multiple_choice):
    result = multiple_choice.compute(predictions=[], references=[], choice_lengths=[], best=[])
    assert result == {"acc": 0.0, "acc_norm": 0.0, "mc1": 0.0, "mc2": 0.0, "num_questions": 0}


def test_batches_add_up_to_the_whole(multiple_choice):
    multiple_choice.add_batch(predictions=[[-1.0, -2.0, -0.5]], references=[[1, 1, 0]])
    multiple_choice.add_batch(predictions=[[-2.0, -0.5, -3.0]], references=[[1, 1, 0]])
    # best and choice_lengths cover every question added, in order.
    result = multiple_choice.compute(best=[0, 0], choice_lengths=[[1, 1, 1], [1, 1, 1]])
    assert result["mc1"] == 0.5 and result["acc"] == 0.5  # q0: 0 and 0; q1: 1 and 1


def test_matches_the_official_formulas_on_random_questions():
    # truthfulqa/models.py MC_calcs, with plain exp (safe at these magnitudes), as the oracle.
    rng = np.random.default_rng(0)
    for _ in range(50):
        num_choices = int(rng.integers(2, 8))
        scores = (-rng.uniform(0, 20, size=num_choices)).tolist()
        flags = [1] + rng.integers(0, 2, size=num_choices - 1).tolist()
        flags[-1] = 0  # at least one incorrect choice, as the official code needs
        true = [s for s, f in zip(scores, flags) if f]
        false = [s for s, f in zip(scores, flags) if not f]
        best = int(rng.choice([i for i, f in enumerate(flags) if f]))
        official_mc1 = 1.0 if scores[best] > max(false) else 0.0
        official_mc2 = sum(np.exp(true)) / (sum(np.exp(true)) + sum(np.exp(false)))
        assert mc1(scores, flags, best) == official_mc1
        assert mc2(scores, flags) == pytest.approx(official_mc2, rel=1e-12)


@pytest.mark.parametrize(
    ("predictions", "references", "kwargs", "message"),
    [
        ([[-1.0, -2.0]], [[0, 1]], {"best": [0], "choice_lengths": [[1, 1]]}, r"question 0: best answer 0 is not a correct"),
        ([[-1.0, -2.0]], [[0, 0]], {"choice_lengths": [[1, 1]]}, r"question 0: no correct choice"),
        ([[-1.0, -2.0]], [[1, 0]], {}, r"choice_lengths is required"),
        ([[-1.0, -2.0]], [[1, 0]], {"choice_lengths": [[1, 0]]}, r"question 0: choice lengths must be positive"),
        ([[-1.0, -2.0]], [[1, 0]], {"choice_lengths": [[1]]}, r"question 0: 2 scores but 1 choice lengths"),
        ([[-1.0, -2.0]], [[1, 0, 0]], {"choice_lengths": [[1, 1]]}, r"question 0: 2 scores but 3 correctness"),
        ([[-1.0, float("nan")]], [[1, 0]], {"choice_lengths": [[1, 1]]}, r"finite or -inf"),
        ([[-1.0, -2.0]], [[1, 2]], {"choice_lengths": [[1, 1]]}, r"flags must be 0 or 1"),
        ([[-1.0]], [[1]], {"best": [0, 0], "choice_lengths": [[1]]}, r"got 2 best answers for 1 questions"),
        ([[]], [[]], {"choice_lengths": [[]]}, r"question 0: no choices"),
    ],
)
def test_bad_inputs_fail_naming_the_question(predictions, references, kwargs, message):
    with pytest.raises(ValueError, match=message):
        multiple_choice_scores(predictions, references, **kwargs)
