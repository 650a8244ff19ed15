"""The four kinds of task example, one per way a data set can be posed (DESIGN: Formulations).

A reader (one per file format, configured in YAML) turns files into lists of these; a formulation
turns them into batches. Every example carries an ``id``: the data set's own identifier where it
has one, else its position in the split file, so ``predictions.jsonl`` lines can be joined back to
the data.

| kind                | example            | default formulation      |
|---------------------|--------------------|--------------------------|
| ``sequence_labeling`` | `LabeledSentence`  | token_classification     |
| ``text_classification`` | `LabeledText`  | sequence_classification  |
| ``multiple_choice`` | `ChoiceQuestion`   | multiple_choice          |
| ``generation``      | `PromptTarget`     | generation               |
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LabeledSentence:
    """One sentence as words, with one tag per word (IOB2 for span tasks, a plain tag for POS)."""

    words: tuple[str, ...]
    tags: tuple[str, ...]
    id: str = ""

    def __post_init__(self) -> None:
        if len(self.words) != len(self.tags):
            raise ValueError(f"{len(self.words)} words but {len(self.tags)} tags")


@dataclass(frozen=True)
class LabeledText:
    """A text with its labels: exactly one for single-label tasks, zero or more for multi-label."""

    text: str
    labels: tuple[str, ...]
    id: str = ""


@dataclass(frozen=True)
class ChoiceQuestion:
    """A question with answer choices; ``correct[i]`` says whether choice i is a true answer and
    ``best`` is the index of the single best one (TruthfulQA's MC1 target)."""

    question: str
    choices: tuple[str, ...]
    correct: tuple[bool, ...]
    best: int
    id: str = ""

    def __post_init__(self) -> None:
        if len(self.choices) != len(self.correct):
            raise ValueError(f"{len(self.choices)} choices but {len(self.correct)} correctness flags")
        if not 0 <= self.best < len(self.choices) or not self.correct[self.best]:
            raise ValueError(f"best choice {self.best} is not one of the correct choices")


@dataclass(frozen=True)
class PromptTarget:
    """A prompt (already filled from the task's template) and the answer to generate; ``aliases``
    are other answers that count as correct (MQuAKE's answer aliases)."""

    prompt: str
    target: str
    aliases: tuple[str, ...] = ()
    id: str = ""


KIND_OF_EXAMPLE = {
    LabeledSentence: "sequence_labeling",
    LabeledText: "text_classification",
    ChoiceQuestion: "multiple_choice",
    PromptTarget: "generation",
}
