"""SpanF1 gives the known score on known examples (each expected number derived by hand), and
the score seqeval (the test-only reference) gives on thousands of random tag sequences: its default
mode for span_f1 (conlleval's definition), its strict IOB2 mode for span_f1_strict."""

from __future__ import annotations

import random
import warnings

import pytest
from seqeval.metrics import f1_score, precision_score, recall_score
from seqeval.metrics.sequence_labeling import precision_recall_fscore_support
from seqeval.scheme import IOB2

from harness.metrics import SpanF1
from harness.metrics.span_f1 import span_scores

# Random sentences (in random batches) scored here and by seqeval; quoted in the closing notes.
SEQUENCES_COMPARED = 10_000
TYPES = ("PER", "LOC", "ORG")
TAGS = ("O", *(f"{prefix}-{entity_type}" for entity_type in TYPES for prefix in "BI"))

# seqeval's README example.
SEQEVAL_TRUE = [["O", "O", "O", "B-MISC", "I-MISC", "I-MISC", "O"], ["B-PER", "I-PER", "O"]]
SEQEVAL_PRED = [["O", "O", "B-MISC", "I-MISC", "I-MISC", "I-MISC", "O"], ["B-PER", "I-PER", "O"]]

# Three types, two sentences, every count different.
MIXED_GOLD = [
    ["B-PER", "I-PER", "O", "B-LOC", "O", "B-ORG"],  # PER 0..2, LOC 3..4, ORG 5..6
    ["B-LOC", "O", "B-PER"],  # LOC 0..1, PER 2..3
]
MIXED_PRED = [
    ["B-PER", "I-PER", "O", "B-LOC", "O", "B-LOC"],  # PER 0..2 ok, LOC 3..4 ok, LOC 5..6 wrong
    ["B-LOC", "O", "O"],  # LOC 0..1 ok; PER 2..3 missed
]


@pytest.fixture(scope="module")
def span_f1():
    return SpanF1()


def test_seqeval_readme_example(span_f1):
    result = span_f1.compute(predictions=SEQEVAL_PRED, references=SEQEVAL_TRUE)
    # gold: MISC 3..6, PER 0..2; predicted: MISC 2..6 (wrong start), PER 0..2 (correct).
    # P = 1/2, R = 1/2, F1 = 2 * 0.5 * 0.5 / 1.0 = 0.5.
    assert result["span_f1"] == pytest.approx(0.5)
    assert result["span_precision"] == pytest.approx(0.5)
    assert result["span_recall"] == pytest.approx(0.5)
    # MISC: 0 of 1 predicted correct, 0 of 1 gold found -> 0; PER: 1/1 and 1/1 -> 1.
    assert result["per_type"]["MISC"] == {"f1": 0.0, "precision": 0.0, "recall": 0.0, "support": 1}
    assert result["per_type"]["PER"] == {"f1": 1.0, "precision": 1.0, "recall": 1.0, "support": 1}
    assert result["num_gold_spans"] == 2 and result["num_predicted_spans"] == 2
    assert result["num_correct_spans"] == 1
    # well-formed IOB2 (no stray I-): the strict reading finds the same spans, so the same scores.
    assert result["span_f1_strict"] == result["span_f1"]


def test_micro_and_per_type_scores(span_f1):
    result = span_f1.compute(predictions=MIXED_PRED, references=MIXED_GOLD)
    # gold 5 spans (PER 2, LOC 2, ORG 1), predicted 4 (PER 1, LOC 3), correct 3 (PER 1, LOC 2).
    # P = 3/4 = 0.75, R = 3/5 = 0.6, F1 = 2 * 0.75 * 0.6 / 1.35 = 0.9 / 1.35 = 2/3.
    assert result["span_precision"] == pytest.approx(0.75)
    assert result["span_recall"] == pytest.approx(0.6)
    assert result["span_f1"] == pytest.approx(2 / 3)
    assert result["num_gold_spans"] == 5 and result["num_predicted_spans"] == 4
    assert result["num_correct_spans"] == 3
    assert result["span_precision_strict"] == result["span_precision"]
    assert result["span_recall_strict"] == result["span_recall"]
    per_type = result["per_type"]
    assert sorted(per_type) == ["LOC", "ORG", "PER"]
    # PER: P = 1/1, R = 1/2, F1 = 2 * 1 * 0.5 / 1.5 = 2/3.
    assert per_type["PER"] == pytest.approx({"f1": 2 / 3, "precision": 1.0, "recall": 0.5, "support": 2})
    # LOC: P = 2/3, R = 2/2, F1 = 2 * (2/3) * 1 / (5/3) = 4/5.
    assert per_type["LOC"] == pytest.approx({"f1": 0.8, "precision": 2 / 3, "recall": 1.0, "support": 2})
    # ORG: never predicted -> P = 0 by definition, R = 0/1, F1 = 0.
    assert per_type["ORG"] == {"f1": 0.0, "precision": 0.0, "recall": 0.0, "support": 1}


def test_perfect_predictions_score_one(span_f1):
    result = span_f1.compute(predictions=MIXED_GOLD, references=MIXED_GOLD)
    # every one of the 5 gold spans predicted exactly, nothing else: P = R = F1 = 5/5.
    assert result["span_f1"] == result["span_precision"] == result["span_recall"] == 1.0
    assert all(scores["f1"] == 1.0 for scores in result["per_type"].values())


def test_leading_i_prediction_is_a_span_for_conlleval_and_none_strictly(span_f1):
    gold = [["B-PER", "I-PER", "O"]]  # PER 0..2
    result = span_f1.compute(predictions=[["I-PER", "I-PER", "O"]], references=gold)
    # conlleval: I-PER after the sentence start starts PER 0..2, the gold span: P = R = F1 = 1/1.
    assert result["num_predicted_spans"] == 1 and result["num_correct_spans"] == 1
    assert result["span_f1"] == result["span_precision"] == result["span_recall"] == 1.0
    # strict: I-PER I-PER starts no span, so nothing is predicted: P = 0 (no predictions), R = 0/1, F1 = 0.
    assert result["span_f1_strict"] == 0.0 and result["span_recall_strict"] == 0.0
    assert result["span_precision_strict"] == 0.0


def test_type_change_inside_a_span_gives_a_wrong_boundary(span_f1):
    gold = [["B-PER", "I-PER", "O"]]  # PER 0..2
    result = span_f1.compute(predictions=[["B-PER", "I-LOC", "O"]], references=gold)
    # conlleval: the type change ends PER 0..1 and starts LOC 1..2: two predicted spans, neither the
    # gold one: P = 0/2, R = 0/1, F1 = 0; LOC appears with support 0.
    assert result["num_predicted_spans"] == 2 and result["num_correct_spans"] == 0
    assert result["span_f1"] == 0.0 and result["span_precision"] == 0.0
    assert result["per_type"] == {
        "LOC": {"f1": 0.0, "precision": 0.0, "recall": 0.0, "support": 0},
        "PER": {"f1": 0.0, "precision": 0.0, "recall": 0.0, "support": 1},
    }
    # strict: predicted PER 0..1 only (I-LOC ends it and is dropped): wrong end, P = 0/1, R = 0/1.
    assert result["span_f1_strict"] == 0.0 and result["span_precision_strict"] == 0.0


def test_spans_match_only_within_their_own_sentence(span_f1):
    # PER 0..1 in sentence 0 (gold) and in sentence 1 (predicted): same offsets, different spans.
    result = span_f1.compute(predictions=[["O", "O"], ["B-PER", "O"]], references=[["B-PER", "O"], ["O", "O"]])
    # 0 correct of 1 predicted and 1 gold: P = R = F1 = 0.
    assert result["span_f1"] == 0.0


def test_no_predicted_spans_gives_precision_zero(span_f1):
    result = span_f1.compute(predictions=[["O", "O", "O"]], references=[["B-PER", "I-PER", "O"]])
    # 0 predicted -> P = 0 (defined, not NaN); R = 0/1 = 0; P + R = 0 -> F1 = 0.
    assert result["span_precision"] == 0.0 and result["span_recall"] == 0.0 and result["span_f1"] == 0.0
    assert result["num_predicted_spans"] == 0 and result["num_gold_spans"] == 1
    assert result["per_type"]["PER"]["support"] == 1


def test_no_gold_spans_gives_recall_zero(span_f1):
    result = span_f1.compute(predictions=[["B-PER", "O"]], references=[["O", "O"]])
    # 1 predicted, 0 correct -> P = 0/1 = 0; 0 gold -> R = 0; F1 = 0. PER appears with support 0.
    assert result["span_recall"] == 0.0 and result["span_precision"] == 0.0 and result["span_f1"] == 0.0
    assert result["per_type"]["PER"] == {"f1": 0.0, "precision": 0.0, "recall": 0.0, "support": 0}


def test_nothing_at_all_scores_zero(span_f1):
    # no spans on either side: P = R = 0 by definition, F1 = 0, no types.
    for sentences in ([["O", "O"]], [[]], []):
        result = span_f1.compute(predictions=sentences, references=sentences)
        assert result["span_f1"] == 0.0 and result["per_type"] == {}
        assert result["num_gold_spans"] == 0 and result["num_predicted_spans"] == 0
        assert result["num_correct_spans"] == 0 and result["span_f1_strict"] == 0.0


def test_batches_add_up_to_the_whole(span_f1):
    for predicted, gold in zip(SEQEVAL_PRED, SEQEVAL_TRUE):
        span_f1.add_batch(predictions=[predicted], references=[gold])
    # the same two sentences as the README example: F1 = 0.5.
    assert span_f1.compute()["span_f1"] == pytest.approx(0.5)


def test_length_mismatch_names_the_sentence(span_f1):
    gold = [["B-PER", "O"], ["O", "B-LOC", "I-LOC"]]
    predicted = [["B-PER", "O"], ["O", "B-LOC"]]
    with pytest.raises(ValueError, match=r"sentence 1: 2 predicted tags but 3 reference tags"):
        span_f1.compute(predictions=predicted, references=gold)
    # the metric stays usable after the error.
    assert span_f1.compute(predictions=gold, references=gold)["span_f1"] == 1.0


def test_malformed_tags_fail(span_f1):
    with pytest.raises(ValueError, match="not IOB2"):
        span_f1.compute(predictions=[["S-PER"]], references=[["B-PER"]])


# Predicted tags, gold tags, and what conlleval.perl counts on them (gold spans, predicted spans,
# correct spans), each worked through its startOfChunk / endOfChunk rules.
CONLLEVAL_CASES = [
    # I-PER at the sentence start begins a chunk (previous tag O): one PER 0..2, the gold one.
    (["I-PER", "I-PER", "O"], ["B-PER", "I-PER", "O"], 1, 1, 1),
    # the type change PER -> LOC ends PER 0..1 and starts LOC 1..2: two spans, gold is LOC 1..2 only.
    (["B-PER", "I-LOC"], ["O", "B-LOC"], 1, 2, 1),
    # I-MISC after O begins MISC 1..3, the gold span.
    (["O", "I-MISC", "I-MISC"], ["O", "B-MISC", "I-MISC"], 1, 1, 1),
    # B-PER always begins a chunk: the stray I-PER is PER 0..1, then PER 1..2; gold PER 0..2 matches neither.
    (["I-PER", "B-PER"], ["B-PER", "I-PER"], 1, 2, 0),
    # a stray I- in gold is read the same way: gold I-LOC I-LOC is LOC 0..2, predicted exactly.
    (["B-LOC", "I-LOC", "O"], ["I-LOC", "I-LOC", "O"], 1, 1, 1),
    # LOC 0..1, PER 1..2 and LOC 2..3 (changing back starts a third chunk); gold LOC 0..3 matches none.
    (["B-LOC", "I-PER", "I-LOC"], ["B-LOC", "I-LOC", "I-LOC"], 1, 3, 0),
]


@pytest.mark.parametrize(("predicted", "gold", "num_gold", "num_predicted", "num_correct"), CONLLEVAL_CASES)
def test_known_conlleval_counts(predicted, gold, num_gold, num_predicted, num_correct):
    result = span_scores([predicted], [gold])
    assert (result["num_gold_spans"], result["num_predicted_spans"], result["num_correct_spans"]) == (
        num_gold, num_predicted, num_correct
    )
    # P = correct / predicted, R = correct / gold, F1 their harmonic mean (0 when both are 0).
    precision, recall = num_correct / num_predicted, num_correct / num_gold
    assert result["span_precision"] == pytest.approx(precision)
    assert result["span_recall"] == pytest.approx(recall)
    assert result["span_f1"] == pytest.approx(2 * precision * recall / (precision + recall) if num_correct else 0.0)


def test_sentence_counts_add_up_to_the_corpus_counts():
    # An example-level bootstrap sums per-sentence counts: they must add up to the corpus's.
    predicted = [case[0] for case in CONLLEVAL_CASES]
    gold = [case[1] for case in CONLLEVAL_CASES]
    whole = span_scores(predicted, gold)
    for key in ("num_gold_spans", "num_predicted_spans", "num_correct_spans"):
        assert sum(span_scores([p], [g])[key] for p, g in zip(predicted, gold)) == whole[key]


def _random_sentence(rng: random.Random) -> list[str]:
    return rng.choices(TAGS, k=rng.randint(0, 10))


def _random_batches(rng: random.Random):
    """(predicted, gold) batches of 1 to 12 sentences, SEQUENCES_COMPARED sentences in all. Gold is
    random (stray I- tags included); each prediction is its gold with some tags replaced at random,
    so that correct spans, near misses and unrelated spans all occur."""
    made = 0
    while made < SEQUENCES_COMPARED:
        size = min(rng.randint(1, 12), SEQUENCES_COMPARED - made)
        noise = rng.choice((0.0, 0.1, 0.3, 1.0))
        gold = [_random_sentence(rng) for _ in range(size)]
        predicted = [[rng.choice(TAGS) if rng.random() < noise else tag for tag in sentence] for sentence in gold]
        made += size
        yield predicted, gold


def _seqeval_scores(predicted: list[list[str]], gold: list[list[str]]) -> dict[str, object]:
    default, strict = {"zero_division": 0}, {"zero_division": 0, "mode": "strict", "scheme": IOB2}
    precisions, recalls, f1s, supports = precision_recall_fscore_support(gold, predicted, zero_division=0)
    return {
        "span_f1": f1_score(gold, predicted, **default),
        "span_precision": precision_score(gold, predicted, **default),
        "span_recall": recall_score(gold, predicted, **default),
        "per_type": [list(values) for values in zip(f1s, precisions, recalls, supports)],
        "span_f1_strict": f1_score(gold, predicted, **strict),
        "span_precision_strict": precision_score(gold, predicted, **strict),
        "span_recall_strict": recall_score(gold, predicted, **strict),
    }


def _differs(ours: dict[str, object], reference: dict[str, object]) -> list[str]:
    """The keys whose values differ by more than 1e-12 (per_type: per type, in type order)."""
    ours = {**ours, "per_type": [list(scores.values()) for _, scores in sorted(ours["per_type"].items())]}
    differing = []
    for key, expected in reference.items():
        if key == "per_type":
            same = len(ours[key]) == len(expected) and all(
                a == pytest.approx(b, abs=1e-12, rel=0) for a, b in zip(ours[key], expected)
            )
        else:
            same = abs(ours[key] - expected) <= 1e-12
        if not same:
            differing.append(key)
    return differing


def test_scores_equal_seqeval_on_random_batches():
    rng = random.Random(20240611)
    disagreements = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # seqeval warns where a type has no spans; we define that as 0
        for predicted, gold in _random_batches(rng):
            differing = _differs(span_scores(predicted, gold), _seqeval_scores(predicted, gold))
            if differing:
                disagreements.append((differing, predicted, gold))
    assert disagreements == [], f"{len(disagreements)} batches differ from seqeval, e.g. {disagreements[:3]}"
