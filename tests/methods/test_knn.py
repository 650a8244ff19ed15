"""kNN over sentence embeddings: each label's score is the (optionally similarity-weighted) share of
the k nearest train texts carrying it, ties to the lower train index; through sequence
classification it replaces the head (nothing trainable, threshold tuned on dev on the vote
shares); with MiniLM a train text is its own nearest neighbour; a run completes untrained."""

from __future__ import annotations

import numpy as np
import pytest

from harness.config import TrainerConfig
from harness.formulations.sequence_classification import SequenceClassification
from harness.methods.knn import KNN
from harness.methods.trainable import count_parameters
from harness.models.backbone import load_backbone
from harness.run import run
from harness.tasks.base import TaskData
from harness.tasks.examples import LabeledText
from tests.composing import compose_config, quick_overrides
from tests.tiny_models import context, model_spec

# Unit vectors in the plane: the angle says who is near whom.
ANGLES = {"t0": 0.0, "t1": 10.0, "t2": 20.0, "t3": 100.0, "t4": 170.0, "q_near_0": 5.0, "q_far": 180.0, "q_at_100": 100.0}


def fake_encode(texts: list[str]) -> np.ndarray:
    radians = np.deg2rad([ANGLES[t] for t in texts])
    return np.stack([np.cos(radians), np.sin(radians)], axis=1).astype(np.float32)


TRAIN_TEXTS = ["t0", "t1", "t2", "t3", "t4"]
TARGETS = np.array([[1, 0], [1, 1], [0, 1], [0, 0], [0, 1]])  # labels a, b


def test_scores_are_the_vote_shares_of_the_k_nearest():
    vote = KNN(k=3).label_scorer(TRAIN_TEXTS, TARGETS, encode=fake_encode)
    # q_near_0 (5 deg): nearest t0, t1, t2 -> a: 2/3, b: 2/3
    np.testing.assert_allclose(vote(["q_near_0"]), [[2 / 3, 2 / 3]], rtol=1e-6)
    one = KNN(k=1).label_scorer(TRAIN_TEXTS, TARGETS, encode=fake_encode)
    np.testing.assert_allclose(one(TRAIN_TEXTS), TARGETS)  # a train text is its own nearest neighbour
    # a text written twice in train with other labels: the tie goes to the lower train index
    tied = KNN(k=1).label_scorer([*TRAIN_TEXTS, "t3"], np.vstack([TARGETS, [[1, 1]]]), encode=fake_encode)
    np.testing.assert_allclose(tied(["q_at_100"]), [[0, 0]])


def test_similarity_weights_votes_by_cosine_floored_at_zero():
    vote = KNN(k=2, weighting="similarity").label_scorer(TRAIN_TEXTS, TARGETS, encode=fake_encode)
    near = np.cos(np.deg2rad([5.0, 5.0]))  # t0 and t1, both 5 deg away
    np.testing.assert_allclose(vote(["q_near_0"]), [[1.0, near[1] / near.sum()]], rtol=1e-5)
    # q_far (180 deg): nearest t4 (10 deg away, cos > 0) and t3 (80 deg, cos > 0)
    weights = np.cos(np.deg2rad([10.0, 80.0]))
    np.testing.assert_allclose(vote(["q_far"]), [[0.0, weights[0] / weights.sum()]], rtol=1e-5)


@pytest.mark.parametrize("settings, message", [({"k": 0}, "method.k"), ({"weighting": "distance"}, "method.weighting")])
def test_impossible_values_fail_naming_the_key(settings, message):
    with pytest.raises(ValueError, match=message):
        KNN(**settings)


class _Task:
    name, metric, multi_label, kind = "toy", "macro_f1", True, "text_classification"


def test_through_sequence_classification_the_votes_replace_the_head(monkeypatch):
    monkeypatch.setattr("harness.formulations.demonstrations.minilm_encoder", lambda cache_dir=None: fake_encode)
    backbone = load_backbone(model_spec("tiny_llama"))
    method = KNN(k=3)
    backbone.model = method.apply(backbone.model, context(backbone.info, "sequence_classification"))
    train = [LabeledText(t, tuple(l for l, on in zip("ab", row) if on), t) for t, row in zip(TRAIN_TEXTS, TARGETS)]
    dev = [LabeledText("q_near_0", ("a", "b"), "d0"), LabeledText("q_far", ("b",), "d1")]
    data = TaskData(train=train, dev=dev, test=dev, labels=["a", "b"], data_hash="", source="")
    module, examples = SequenceClassification().build(_Task(), data, backbone, method, TrainerConfig(max_length=8), 0, None)
    assert count_parameters(module)[0] == 0  # the head is frozen and unused
    batch = next(iter(examples.val_dataloader()))
    predictions = {index: (probs, None) for index, probs, _ in module.predict(batch)}
    np.testing.assert_allclose(predictions[0][0], [2 / 3, 2 / 3], rtol=1e-6)
    np.testing.assert_allclose(predictions[1][0], [0.0, 2 / 3], rtol=1e-6)  # t4, t3, t2: b from t4 and t2
    module._trainer = type("T", (), {"state": type("S", (), {"fn": "validate"})()})()
    scores = module.score("dev", predictions)
    assert scores["macro_f1"] == 1.0 and scores["threshold"] <= 2 / 3  # tuned on the vote shares


def test_minilm_finds_a_train_text_as_its_own_neighbour():
    texts = ["These cops are out of control!", "What a lovely sunny day at the beach", "Politicians lie all the time"]
    targets = np.eye(3)
    vote = KNN(k=1).label_scorer(texts, targets)
    np.testing.assert_allclose(vote(texts), targets)
    assert vote(["the police are out of control"]).argmax() == 0


def test_knn_runs_end_to_end_without_training(tmp_path, data_root):
    cfg = compose_config([*quick_overrides(tmp_path, train=16, evaluate=8), "task=hatespeech", "method=knn", f"paths.data_dir={data_root}"])
    result = run(cfg)
    assert result.status == "completed", result.error and result.error["traceback"]
    assert not result.stages[0]["trained"] and result.cost.trainable_params == 0
    assert {"macro_f1", "threshold"} <= set(result.metrics["test"])

