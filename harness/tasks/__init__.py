"""Tasks: one reader per data format, each a dataclass a YAML in ``conf/task/`` configures.

A reader reads a data set's three splits into examples of one kind (`harness.tasks.examples`),
knows its label inventory and its primary metric, and fingerprints the bytes it read:

| reader                     | format                                  | kind                  |
|----------------------------|-----------------------------------------|-----------------------|
| `ColumnTask`               | CoNLL-style columns                     | sequence_labeling     |
| `AbsaTask`                 | ``text####tok=TAG`` lines               | sequence_labeling     |
| `TextClassificationTask`   | JSON lines / JSON / CSV records         | text_classification   |
| `ChoiceTask`               | JSON lines / JSON / CSV records         | multiple_choice       |
| `PromptTargetTask`         | JSON lines / JSON / CSV records         | generation            |
"""

from harness.tasks.absa import AbsaTask
from harness.tasks.base import DATA_SEED, DataFormatError, Example, TaskData, subsample
from harness.tasks.choices import ChoiceTask
from harness.tasks.columns import ColumnTask
from harness.tasks.encoding import (
    IGNORE_INDEX,
    TEMPLATE_VERSION,
    EncodedSplit,
    encode_sentences,
    tokenizer_fingerprint,
    word_prefix,
    word_tags_from_token_predictions,
)
from harness.tasks.examples import (
    KIND_OF_EXAMPLE,
    ChoiceQuestion,
    LabeledSentence,
    LabeledText,
    PromptTarget,
)
from harness.tasks.prompt_target import PromptTargetTask
from harness.tasks.text_classification import TextClassificationTask

__all__ = [
    "DATA_SEED",
    "IGNORE_INDEX",
    "KIND_OF_EXAMPLE",
    "TEMPLATE_VERSION",
    "AbsaTask",
    "ChoiceQuestion",
    "ChoiceTask",
    "ColumnTask",
    "DataFormatError",
    "EncodedSplit",
    "Example",
    "LabeledSentence",
    "LabeledText",
    "PromptTarget",
    "PromptTargetTask",
    "TaskData",
    "TextClassificationTask",
    "encode_sentences",
    "subsample",
    "tokenizer_fingerprint",
    "word_prefix",
    "word_tags_from_token_predictions",
]
