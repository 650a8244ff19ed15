"""Multiple-choice questions from JSON lines, a JSON list or CSV records, in two layouts.

- ``layout: index``: a field with the list of choices and a field with the index of the one
  correct choice (which is also the best one).
- ``layout: answer_lists`` (TruthfulQA, Lin et al. 2022): a best answer, a list of correct answers
  and a list of incorrect ones, each a list or a string split on ``answer_separator``. The choices
  are the correct answers (the best one included, put first when the correct list lacks it) and
  then the incorrect ones, so that MC1 (best against the incorrect answers) and MC2 (the
  probability mass of all correct answers against the incorrect ones) are both defined, as in the
  official ``truthfulqa/models.py``.

TruthfulQA's answers need one normalisation to match its official evaluation: its
``utilities.split_multi_answer`` and ``format_best`` split on ``;`` (not ``; ``: one answer list
ends in a bare ``;``), strip, drop empty answers (a trailing ``; `` occurs too) and end every
answer with a period (most lack one), so the scored strings are full sentences;
``answer_separator: ";"`` with ``close_answers: true`` does the same. Duplicates are kept as
the official code keeps them: fold 0 repeats an answer within a list in 3 questions and lists
"Unknown." as both correct and incorrect in 2, and dropping them would shift MC2 away from the
published figures.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.tasks.base import SPLITS, TaskData, check_name, local_folder, task_data
from harness.tasks.examples import ChoiceQuestion
from harness.tasks.records import (
    Record,
    check_record_task,
    example_id,
    field as record_field,
    read_split_records,
    text_field,
)

LAYOUTS = ("index", "answer_lists")


@dataclass
class ChoiceTask:
    """Questions with answer choices, some correct and one best, for log-likelihood scoring."""

    name: str = "multiple_choice"
    """Task name used in result records and run ids."""
    data_subdir: str = "multiple_choice"
    """Folder under the data root holding the split files."""
    files: dict[str, str] | None = None
    """File name of each split, keys train, dev, test; null = <split>.<format>."""
    format: str = "jsonl"
    """jsonl (one JSON object a line), json (a list of objects) or csv (with a header row)."""
    question_field: str = "question"
    """The field holding the question text."""
    layout: str = "index"
    """index (choices_field + answer_field) or answer_lists (best/correct/incorrect fields)."""
    choices_field: str = "choices"
    """layout index: the field holding the choices (a list, or a string split on answer_separator)."""
    answer_field: str = "answer"
    """layout index: the field holding the 0-based index of the correct choice."""
    best_field: str = "best_answer"
    """layout answer_lists: the field holding the best answer."""
    correct_field: str = "correct_answers"
    """layout answer_lists: the field holding the correct answers."""
    incorrect_field: str = "incorrect_answers"
    """layout answer_lists: the field holding the incorrect answers."""
    answer_separator: str = "; "
    """Splits a field that holds several answers as one string; answers are stripped, empty ones dropped."""
    close_answers: bool = False
    """End every choice with a period, as TruthfulQA's official evaluation does."""
    id_field: str | None = None
    """Field holding the example id; null = the record's 0-based position in its file."""
    metric: str = "mc1"
    """Primary metric key."""
    max_train_examples: int | None = None
    """Train on a fixed random subset of this many questions (data seed 0); null = all."""
    max_eval_examples: int | None = None
    """Evaluate dev and test on fixed random subsets of this many questions; null = all."""

    def __post_init__(self) -> None:
        self.files = check_record_task(self)
        if self.layout not in LAYOUTS:
            raise ValueError(f"task.layout must be one of {LAYOUTS}, got {self.layout!r}")
        used = (
            ("choices_field", "answer_field")
            if self.layout == "index"
            else ("best_field", "correct_field", "incorrect_field")
        )
        for key in ("question_field", *used):
            check_name(f"task.{key}", getattr(self, key))
        names = [getattr(self, key) for key in ("question_field", *used)]
        if len(set(names)) != len(names):
            raise ValueError(f"task: question_field, {', '.join(used)} must be distinct fields, got {names}")
        if not isinstance(self.answer_separator, str) or not self.answer_separator:
            raise ValueError(f"task.answer_separator must be a non-empty string, got {self.answer_separator!r}")
        if not isinstance(self.close_answers, bool):
            raise ValueError(f"task.close_answers must be true or false, got {self.close_answers!r}")

    @property
    def kind(self) -> str:
        return "multiple_choice"

    def load(self, data_root: Path | None) -> TaskData:
        """Reads ``<data_root>/<data_subdir>/<files>``; there is no Hub fallback."""
        folder = local_folder(self.name, data_root, self.data_subdir, self.files)
        records, data_hash = read_split_records(folder, self.files, self.format)
        splits = {split: self._questions(records[split]) for split in SPLITS}
        return task_data(
            splits, [], data_hash, str(folder), self.max_train_examples, self.max_eval_examples
        )

    def _questions(self, records: list[Record]) -> list[ChoiceQuestion]:
        questions, seen = [], set()
        for record in records:
            question = text_field(record, self.question_field)
            if not question.strip():
                raise record.error(f"has an empty question ({self.question_field!r})")
            if self.layout == "index":
                choices, correct, best = self._indexed(record)
            else:
                choices, correct, best = self._answer_lists(record)
            identifier = example_id(record, self.id_field, seen)
            questions.append(ChoiceQuestion(question, choices, correct, best, identifier))
        return questions

    def _answers(self, record: Record, name: str) -> tuple[str, ...]:
        value = record_field(record, name)
        items = value.split(self.answer_separator) if isinstance(value, str) else value
        if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
            raise record.error(f"has {name!r} = {value!r}: expected a list of strings or a string")
        return tuple(self._close(item.strip()) for item in items if item.strip())

    def _close(self, answer: str) -> str:
        return answer + "." if self.close_answers and not answer.endswith(".") else answer

    def _indexed(self, record: Record) -> tuple[tuple[str, ...], tuple[bool, ...], int]:
        choices = self._answers(record, self.choices_field)
        if len(choices) < 2:
            raise record.error(f"has {len(choices)} choices in {self.choices_field!r}, needs 2 or more")
        answer: Any = record_field(record, self.answer_field)
        if isinstance(answer, str) and answer.strip().isdigit():
            answer = int(answer)
        if isinstance(answer, bool) or not isinstance(answer, int) or not 0 <= answer < len(choices):
            raise record.error(
                f"has {self.answer_field!r} = {answer!r}: expected the index of one of its "
                f"{len(choices)} choices (0 to {len(choices) - 1})"
            )
        return choices, tuple(i == answer for i in range(len(choices))), answer

    def _answer_lists(self, record: Record) -> tuple[tuple[str, ...], tuple[bool, ...], int]:
        best = text_field(record, self.best_field).strip()
        if not best:
            raise record.error(f"has an empty best answer ({self.best_field!r})")
        best = self._close(best)
        correct = self._answers(record, self.correct_field)
        incorrect = self._answers(record, self.incorrect_field)
        if not incorrect:
            raise record.error(f"has no incorrect answers ({self.incorrect_field!r})")
        if best not in correct:
            correct = (best, *correct)
        choices = correct + incorrect
        flags = (True,) * len(correct) + (False,) * len(incorrect)
        return choices, flags, correct.index(best)
