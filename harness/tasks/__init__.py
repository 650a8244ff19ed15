"""Tasks: each reads its splits into labeled sentences and knows its labels and its metric."""

from harness.tasks.absa import Rest14AbsaTask
from harness.tasks.base import DATA_SEED, DataFormatError, LabeledSentence, TaskData, subsample
from harness.tasks.conll2003 import Conll2003Task
from harness.tasks.encoding import (
    IGNORE_INDEX,
    TEMPLATE_VERSION,
    EncodedSplit,
    encode_sentences,
    tokenizer_fingerprint,
    word_prefix,
    word_tags_from_token_predictions,
)

__all__ = [
    "DATA_SEED",
    "IGNORE_INDEX",
    "TEMPLATE_VERSION",
    "Conll2003Task",
    "DataFormatError",
    "EncodedSplit",
    "LabeledSentence",
    "Rest14AbsaTask",
    "TaskData",
    "encode_sentences",
    "subsample",
    "tokenizer_fingerprint",
    "word_prefix",
    "word_tags_from_token_predictions",
]
