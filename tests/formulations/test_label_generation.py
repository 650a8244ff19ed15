"""Label generation: the label-list format round-trips through a real tokenizer, parsing credits
only exact label names (never a prefix or substring of another), the training items put the loss
on the label list alone, single-label tasks are refused before weights load, and `pt` / `pt_trie`
runs end to end with multi-label scores in the record."""

from __future__ import annotations

import json

import pytest

from harness.config import TrainerConfig
from harness.formulations.label_generation import LabelGeneration, prompt_ids
from harness.formulations.label_list import NONE, LabelListIds, check_labels, label_list_text, parse_label_list
from harness.formulations.prompting import IGNORE_INDEX
from harness.formulations.registry import check_combination
from harness.methods.pt import PT
from harness.run import run
from harness.tasks.base import TaskData
from harness.tasks.examples import LabeledText
from tests.composing import compose_config, quick_overrides

HATE = ["Towards law enforcement", "Specific nation(s)", "Towards AJ+", "Swearing", "Neutral"]


@pytest.mark.parametrize("gold", [("Swearing",), ("Specific nation(s)", "Swearing"), ("Neutral", "Towards AJ+"), ()])
def test_the_response_ids_decode_to_the_documented_text_and_parse_back(smollm2_tokenizer, gold):
    ids = LabelListIds.build(smollm2_tokenizer, HATE)
    response = ids.response([HATE.index(label) for label in gold])
    assert response[-1] == smollm2_tokenizer.eos_token_id
    text = smollm2_tokenizer.decode(response[:-1])
    assert text == label_list_text(gold, HATE)  # task label order, "; " between, " none" when empty
    if not gold:
        assert text == " " + NONE
    else:
        assert text.startswith(" ") and text.count(";") == len(gold) - 1
    labels, counts = parse_label_list(text, HATE)
    assert labels == [label for label in HATE if label in gold]
    assert counts.unknown_items == counts.repeated_labels == 0 and counts.none_responses == int(not gold)


def test_exact_match_never_credits_a_prefix_or_substring():
    labels = ["hate", "hateful", "Towards AJ", "Towards AJ+"]
    assert parse_label_list(" hateful", labels)[0] == ["hateful"]  # not "hate" as well
    assert parse_label_list(" Towards AJ+", labels)[0] == ["Towards AJ+"]  # not "Towards AJ"
    assert parse_label_list(" Towards AJ", labels)[0] == ["Towards AJ"]
    found, counts = parse_label_list(" hate speech; Hate; hat", labels)  # a label inside, another case, a prefix
    assert found == [] and counts.unknown_items == 3
    found, counts = parse_label_list(" hate; hateful; hate\n hateful", labels)  # the answer is its first line
    assert found == ["hate", "hateful"] and counts.repeated_labels == 1
    # cut by the generation budget: a partial last item is unfinished, not unknown; a whole one counts
    assert parse_label_list(" hate; Towards", labels, finished=False) == (["hate"], parse_label_list("", labels)[1])
    assert parse_label_list(" hate; Towards AJ", labels, finished=False)[0] == ["hate", "Towards AJ"]
    assert parse_label_list(" hate; Towards", labels)[1].unknown_items == 1


def test_labels_the_format_cannot_write_are_refused():
    for bad, message in ([["a;b"], "cannot hold"], [[" a"], "cannot hold"], [["none"], "empty label set"], [["a", "a"], "duplicates"]):
        with pytest.raises(ValueError, match=message):
            check_labels(bad)


def test_the_text_is_cut_to_max_length_tokens_and_the_template_kept(smollm2_tokenizer):
    text = "one two three four five six seven eight"
    ids = prompt_ids(smollm2_tokenizer, "{text}\nLabels:", text, 3)
    suffix = smollm2_tokenizer("\nLabels:", add_special_tokens=False)["input_ids"]
    assert ids[-len(suffix) :] == suffix
    assert ids[: -len(suffix)] == smollm2_tokenizer(text, add_special_tokens=False)["input_ids"][:3]


class _Backbone:
    def __init__(self, tokenizer):
        self.tokenizer, self.model = tokenizer, None


class _Task:
    name, metric, multi_label, kind = "toy", "macro_f1", True, "text_classification"


def test_training_items_score_the_label_list_and_its_eos_only(smollm2_tokenizer):
    train = [LabeledText("cops are out of control", ("Towards law enforcement", "Swearing"), "0"), LabeledText("ok", (), "1")]
    data = TaskData(train=train, dev=train[:1], test=train[:1], labels=HATE, data_hash="", source="")
    _, examples = LabelGeneration().build(_Task(), data, _Backbone(smollm2_tokenizer), PT(), TrainerConfig(max_length=64), 0, None)
    for item, example in zip(examples.splits["train"].items, train):
        scored = [token for token, label in zip(item["input_ids"], item["labels"]) if label != IGNORE_INDEX]
        assert smollm2_tokenizer.decode(scored[:-1]) == label_list_text(example.labels, HATE)
        assert scored[-1] == smollm2_tokenizer.eos_token_id
        prompt = item["input_ids"][: len(item["input_ids"]) - len(scored)]
        assert smollm2_tokenizer.decode(prompt) == f"{example.text}\nLabels:"


def test_a_single_label_task_is_refused_before_weights_load():
    class SingleLabel(_Task):
        multi_label = False

    with pytest.raises(ValueError, match="formulation=label_generation: task 'toy' is single-label"):
        check_combination(SingleLabel(), LabelGeneration(), None, None, None)


@pytest.mark.parametrize("method", ["pt", "pt_trie"])
def test_prompt_tuning_runs_end_to_end_with_multi_label_scores(tmp_path, data_root, method):
    cfg = compose_config([
        *quick_overrides(tmp_path, train=8, evaluate=6), "task=hatespeech", "formulation=label_generation",
        f"method={method}", "method.init=label_names", "formulation.max_new_tokens=12", f"paths.data_dir={data_root}",
    ])  # fmt: skip
    result = run(cfg)
    assert result.status == "completed", result.error and result.error["traceback"]
    assert result.formulation == "label_generation" and result.method == method
    for split in ("dev", "test"):
        assert {"macro_f1", "micro_f1", "unknown_items", "repeated_labels", "unfinished_responses"} <= set(result.metrics[split])
    assert result.cost.trainable_params == 16 * 64  # the soft prompt only: m x hidden
    rows = [json.loads(line) for line in (tmp_path / "results" / "default" / result.run_id / "predictions.jsonl").open()]
    assert len(rows) == 12 and all(set(row["prediction"]) <= set(HATE_ALL) for row in rows)
    if method == "pt_trie":  # the trie admits known, distinct labels only
        assert all(row["parse"]["unknown_items"] == row["parse"]["repeated_labels"] == 0 for row in rows)


HATE_ALL = compose_config(["task=hatespeech"]).task.label_fields
