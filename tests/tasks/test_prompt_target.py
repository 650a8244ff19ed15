"""Prompt/target records: templates over fields, literal and derived fields, CLUTRR and MQuAKE
with the prompts of the LoFiT paper."""

from __future__ import annotations

import json

import pytest

from harness.tasks import DataFormatError, PromptTarget, PromptTargetTask

KINSHIP_YAML = """
_target_: harness.tasks.prompt_target.PromptTargetTask
name: kinship
data_subdir: kinship
format: json
files: {train: train.json, dev: val.json, test: test.json}
literal_fields: [pair]
prompt: "{story} How is {pair[1]} related to {pair[0]}?"
target_field: relation
id_field: uid
"""

KINSHIP = [
    {"uid": "a", "story": "[Ann] is [Bob]'s mother.", "pair": "('Bob', 'Ann')", "relation": "mother"},
    {"uid": "b", "story": "[Cy] is [Di]'s son.", "pair": "('Di', 'Cy')", "relation": "son"},
]


def write_json_splits(write_files, folder, records, names=("train.json", "val.json", "test.json")):
    text = "[\n" + ",\n".join(json.dumps(r) for r in records) + "\n]\n"
    write_files(folder, {name: text for name in names})


def test_a_generation_data_set_is_one_yaml(tmp_path, yaml_task, write_files):
    write_json_splits(write_files, tmp_path / "kinship", KINSHIP)
    task = yaml_task(KINSHIP_YAML)
    assert (task.kind, task.metric) == ("generation", "exact_match")
    data = task.load(tmp_path)
    assert data.train == [
        PromptTarget("[Ann] is [Bob]'s mother. How is Ann related to Bob?", "mother", (), "a"),
        PromptTarget("[Cy] is [Di]'s son. How is Cy related to Di?", "son", (), "b"),
    ]
    assert data.labels == []


def test_derived_fields_fill_a_cloze_and_replace_text(tmp_path, yaml_task, write_files):
    records = [
        {"edit": {"prompt": "The capital of {} is", "subject": "France"}, "new": "Lyon",
         "aka": ["Lugdunum"], "q": ["Where is the Louvre?"], "story": "[A] met [B]."},
    ]  # fmt: skip
    write_files(tmp_path / "e", {f"{s}.jsonl": json.dumps(records[0]) + "\n" for s in ("train", "dev", "test")})
    task = yaml_task(
        """
        _target_: harness.tasks.prompt_target.PromptTargetTask
        data_subdir: e
        derived_fields:
          cloze: {template: "{edit[prompt]}", positional: ["{edit[subject]}"]}
          plain: {template: "{story}", replace: {"[": "", "]": ""}}
          shout: "{cloze}!"
        prompt: "Imagine {shout} {plain} {q[0]} A:"
        target_field: new
        aliases_field: aka
        """
    )
    assert task.load(tmp_path).test == [
        PromptTarget("Imagine The capital of France is! A met B. Where is the Louvre? A:", "Lyon", ("Lugdunum",), "0")
    ]


def test_csv_records_fill_templates_too(tmp_path, yaml_task, write_files):
    text = "question,answer\nWho wrote Hamlet?,Shakespeare\n"
    write_files(tmp_path / "qa", {f"{s}.csv": text for s in ("train", "dev", "test")})
    task = yaml_task(
        "{_target_: harness.tasks.prompt_target.PromptTargetTask, data_subdir: qa, format: csv, "
        "prompt: 'Q: {question} A:', target_field: answer}"
    )
    assert task.load(tmp_path).dev == [PromptTarget("Q: Who wrote Hamlet? A:", "Shakespeare", (), "0")]


MALFORMED = [
    ({"uid": "c", "pair": "('X', 'Y')", "relation": "son"}, "record 1 has no field 'story' for the template"),
    ({"uid": "c", "story": "s", "pair": "('X',)", "relation": "son"}, "record 1 has a list too short"),
    ({"uid": "c", "story": "s", "pair": "('X', ", "relation": "son"}, "field 'pair' that is not a Python literal"),
    ({"uid": "c", "story": "s", "pair": "('X', 'Y')"}, "record 1 has no field 'relation'"),
    ({"uid": "c", "story": "s", "pair": "('X', 'Y')", "relation": ""}, "'relation' = '': expected a non-empty string"),
    ({"uid": "a", "story": "s", "pair": "('X', 'Y')", "relation": "son"}, "repeats the id 'a'"),
]


@pytest.mark.parametrize("record, message", MALFORMED, ids=[m for _, m in MALFORMED])
def test_malformed_records_name_file_line_and_record(tmp_path, yaml_task, write_files, record, message):
    folder = tmp_path / "kinship"
    write_json_splits(write_files, folder, KINSHIP)
    write_json_splits(write_files, folder, [KINSHIP[0], record], names=("val.json",))
    with pytest.raises(DataFormatError) as caught:
        yaml_task(KINSHIP_YAML).load(tmp_path)
    assert str(caught.value).startswith(f"{folder / 'val.json'}:3: ")  # record 1 starts on line 3
    assert message in str(caught.value)


def test_a_cloze_without_its_slot_is_an_error(tmp_path, yaml_task, write_files):
    record = {"edit": {"prompt": "The capital is", "subject": "France"}, "target": "Paris"}
    write_files(tmp_path / "e", {f"{s}.jsonl": json.dumps(record) + "\n" for s in ("train", "dev", "test")})
    task = yaml_task(
        "{_target_: harness.tasks.prompt_target.PromptTargetTask, data_subdir: e, prompt: '{c}', "
        "derived_fields: {c: {template: '{edit[prompt]}', positional: ['{edit[subject]}', 'x']}}}"
    )
    assert task.load(tmp_path).train[0].prompt == "The capital is"  # unused arguments are fine
    record["edit"]["prompt"] = "The capital of {} is {}"
    write_files(tmp_path / "e", {"dev.jsonl": json.dumps(record) + "\n"})
    task = yaml_task(
        "{_target_: harness.tasks.prompt_target.PromptTargetTask, data_subdir: e, prompt: '{c}', "
        "derived_fields: {c: {template: '{edit[prompt]}', positional: ['{edit[subject]}']}}}"
    )
    with pytest.raises(DataFormatError, match=r"dev\.jsonl:1: record 0 has .* for task\.derived_fields\.c"):
        task.load(tmp_path)


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"prompt": "{} asks"}, r"task\.prompt: template .* positional field"),
        ({"prompt": "{oops"}, r"task\.prompt: invalid template"),
        ({"derived_fields": {"x": {"positional": ["{a}"]}}}, r"task\.derived_fields\.x must be"),
        ({"derived_fields": {"x": {"template": "{a}", "extra": 1}}}, r"task\.derived_fields\.x must be"),
        ({"derived_fields": {"x": {"template": "{a}", "replace": {"": "b"}}}}, r"task\.derived_fields\.x\.replace"),
        ({"derived_fields": {"x": {"template": "{a}", "positional": ["{0}"]}}}, r"task\.derived_fields\.x\.positional\[0\]"),
        ({"literal_fields": ["a", "a"]}, r"task\.literal_fields must be a list of distinct"),
        ({"target_field": ""}, r"task\.target_field must be a non-empty string"),
    ],
)
def test_impossible_values_name_the_key(overrides, message):
    with pytest.raises(ValueError, match=message):
        PromptTargetTask(**overrides)


# The real data, with LoFiT's prompts (github.com/fc2869/lo-fit, utils/dataloaders.py), restated.

LOFIT_CLUTRR = (
    "Read the following story about a family. \"{}\" Assume the relations described in the story "
    "are all true. Based on relations between the fictional characters in the story (assume the "
    "relations are all true) and your commonsense knowledge about family relationship, how is {} "
    "related to {}? Answer: {} is {} 's"
)


def lofit_clutrr_prompt(record: dict) -> str:
    """CLUTRR.format_clutrr_prompt for an evaluation record: the prompt body and a newline."""
    story = record["clean_story"].replace("[", "").replace("]", "")
    first, second = record["query"][1:-1].replace("'", "").split(",")
    return LOFIT_CLUTRR.format(story, second, first, second, first) + "\n"


def lofit_mquake_prompt(record: dict) -> str:
    """MQUAKE.format_prompt: the first question under the first requested edit."""
    rewrite = record["requested_rewrite"][0]
    edited = rewrite["prompt"].format(rewrite["subject"]) + " " + rewrite["target_new"]["str"]
    return "Q: Imagine that {edited_prompt}. {question} A:".format(
        edited_prompt=edited, question=record["questions"][0]
    )


def test_clutrr_counts_and_lofit_prompts(conf_task, data_root):
    data = conf_task("clutrr").load(data_root)
    assert (len(data.train), len(data.dev), len(data.test)) == (3151, 450, 450)
    for split, file in (("train", "train.json"), ("dev", "val.json"), ("test", "test.json")):
        records = json.loads((data_root / "clutrr" / file).read_text(encoding="utf-8"))
        for record, example in zip(records, getattr(data, split), strict=True):
            assert example == PromptTarget(lofit_clutrr_prompt(record), record["target_text"], (), record["id"])
    assert data.test[0].prompt.endswith(" 's\n")


def test_mquake_counts_and_lofit_prompts(conf_task, data_root):
    data = conf_task("mquake").load(data_root)
    assert (len(data.train), len(data.dev), len(data.test)) == (134, 95, 864)
    for split, file in (("train", "train.jsonl"), ("dev", "val.jsonl"), ("test", "test.jsonl")):
        lines = (data_root / "mquake" / file).read_text(encoding="utf-8").splitlines()
        records = [json.loads(line) for line in lines if line.strip()]
        for record, example in zip(records, getattr(data, split), strict=True):
            # LoFiT scores the post-edit answer and its aliases.
            expected = (record["new_answer"], tuple(record["new_answer_alias"]), str(record["case_id"]))
            assert example.prompt == lofit_mquake_prompt(record)
            assert (example.target, example.aliases, example.id) == expected
    assert data.train[0].prompt == (
        "Q: Imagine that The name of the current head of the Nigeria government is Karl Döhler. "
        "Who was the head of government of the country where Ahmadu Bello was a citizen? A:"
    )
