"""Sentences of words -> sub-token inputs for token classification, and predictions back to words.

Each word's label sits on ONE of its sub-tokens; the others and special tokens get
``IGNORE_INDEX`` so the loss and the metric see exactly one decision per word. Which one is a
choice (`LABEL_TOKENS`):

- ``first``: the first sub-token that holds a character of the word (the convention of BERT's NER
  fine-tuning, Devlin et al., 2019, and of the LS-LLaMA / bidirectional-layer papers), skipping a
  bare word-boundary token: byte-level BPE splits " 1996" into "Ġ" + "1" + "9" + ..., and a label
  on the bare "Ġ" is predicted before the model has seen any of the word in a causal layer;
- ``last``: the word's last sub-token, which in a causal layer has seen the whole word;
- ``first_any``: the first sub-token even when it is a bare boundary marker (how records made
  before the choice existed were encoded; kept so they can be reproduced).

Words reach the fast tokenizer pre-split (``is_split_into_words=True``), each with the prefix that
makes it tokenize as it would mid-sentence in running text: a space for byte-level BPE (SmolLM2,
Qwen2, Llama-3: ``EU`` alone is ``EU`` but ``ĠEU`` after a space), nothing for SentencePiece-style
tokenizers whose normalizer already prepends ``▁`` (a space there would add a stray ``▁`` token to
every word). WordPiece ignores the space either way. `word_prefix` finds out by probing.

Encoded splits are cached on disk as ``.npz`` (flat int32 arrays plus offsets, never pickle) under
a key that covers everything the result depends on, so a stale cache can never load.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from harness.tasks.examples import LabeledSentence

IGNORE_INDEX = -100  # torch.nn.CrossEntropyLoss's default ignore_index
TEMPLATE_VERSION = 1  # bump whenever the encoding below changes what it produces
LABEL_TOKENS = ("first", "last", "first_any")
_BATCH = 1024  # sentences per tokenizer call: large enough to amortise the Python overhead
_FIELDS = ("input_ids", "labels", "word_index")


@dataclass
class EncodedSplit:
    """Per sentence: ``input_ids``, ``labels`` (IGNORE_INDEX off each word's label token) and
    ``word_index`` (the word a label token labels, -1 elsewhere), all of equal length."""

    input_ids: list[list[int]]
    labels: list[list[int]]
    word_index: list[list[int]]
    cache_path: Path | None = None  # where this split is (or would be) cached
    from_cache: bool = False  # whether it was read from cache_path rather than tokenized

    def __len__(self) -> int:
        return len(self.input_ids)

    def __getitem__(self, index: int) -> dict[str, list[int]]:
        return {
            "input_ids": self.input_ids[index],
            "labels": self.labels[index],
            "word_index": self.word_index[index],
        }


def word_prefix(tokenizer) -> str:
    """``" "`` or ``""``: the prefix under which a pre-split word tokenizes as in running text.

    The reference is the tokens "the" gets after "a " in plain text. Prefers the space, which is
    also the fallback when neither matches (a tokenizer this probe does not understand).
    """
    alone = tokenizer("a", add_special_tokens=False)["input_ids"]
    running = tokenizer("a the", add_special_tokens=False)["input_ids"]
    if running[: len(alone)] == alone:
        expected = running[len(alone) :]
        for prefix in (" ", ""):
            got = tokenizer([prefix + "the"], is_split_into_words=True, add_special_tokens=False)
            if got["input_ids"] == expected:
                return prefix
    return " "


def tokenizer_fingerprint(tokenizer) -> str:
    """sha256 of what decides the tokenization: the backend's JSON, class and special tokens.

    The backend's truncation and padding state are dropped: they are call-time settings that
    the previous call left behind, not properties of the tokenizer.
    """
    backend = json.loads(tokenizer.backend_tokenizer.to_str())
    backend.pop("truncation", None)
    backend.pop("padding", None)
    settings = {
        "class": f"{type(tokenizer).__module__}.{type(tokenizer).__qualname__}",
        "backend": backend,
        "special_tokens": list(getattr(tokenizer, "all_special_tokens", [])),
        "truncation_side": getattr(tokenizer, "truncation_side", "right"),
        "add_bos_token": getattr(tokenizer, "add_bos_token", None),
        "add_eos_token": getattr(tokenizer, "add_eos_token", None),
    }
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()


def _sentences_digest(sentences: Sequence[LabeledSentence]) -> str:
    # The caller's cache_key should already identify the sentences; hashing them too means a
    # forgotten key field (a subset size, a split name) costs a cache miss, never wrong data.
    digest = hashlib.sha256()
    for sentence in sentences:
        digest.update(json.dumps([sentence.words, sentence.tags]).encode())
    return digest.hexdigest()


def encode_sentences(
    sentences: Sequence[LabeledSentence],
    tokenizer,
    label_to_id: Mapping[str, int],
    max_length: int,
    cache_dir: Path | None = None,
    cache_key: Mapping[str, Any] | None = None,
    label_token: str = "first",
) -> EncodedSplit:
    """Tokenizes ``sentences`` for token classification, through an on-disk cache if given.

    ``cache_key`` is the caller's description of the data (data_hash, split, subset sizes...);
    the cache file's name is a sha256 of it together with the tokenizer's fingerprint,
    ``max_length``, the label mapping, the sentences' content and ``TEMPLATE_VERSION``.
    """
    if not getattr(tokenizer, "is_fast", False):
        raise TypeError("encode_sentences needs a fast (Rust-backed) tokenizer for word_ids()")
    if max_length < 1:
        raise ValueError(f"max_length must be positive, got {max_length}")
    if label_token not in LABEL_TOKENS:
        raise ValueError(f"label_token: {label_token!r} is not one of {list(LABEL_TOKENS)}")
    cache_path = None
    if cache_dir is not None:
        full_key = {
            "caller": dict(cache_key or {}),
            "tokenizer": tokenizer_fingerprint(tokenizer),
            "max_length": max_length,
            "labels": sorted(label_to_id.items(), key=lambda item: item[1]),
            "sentences": _sentences_digest(sentences),
            "template_version": TEMPLATE_VERSION,
            # Left out for the old default so its cache files stay valid.
            **({} if label_token == "first_any" else {"label_token": label_token}),
        }
        key_json = json.dumps(full_key, sort_keys=True, default=str)
        cache_path = Path(cache_dir) / f"{hashlib.sha256(key_json.encode()).hexdigest()}.npz"
        cached = _read_cache(cache_path, key_json)
        if cached is not None:
            return cached
    encoded = _encode(sentences, tokenizer, label_to_id, max_length, label_token)
    encoded.cache_path = cache_path
    if cache_path is not None:
        _write_cache(cache_path, key_json, encoded)
    return encoded


def _encode(sentences, tokenizer, label_to_id, max_length, label_token: str = "first") -> EncodedSplit:
    prefix = word_prefix(tokenizer)
    is_bare = _bare_token_test(tokenizer)
    unknown = {t for s in sentences for t in s.tags} - set(label_to_id)
    if unknown:
        raise ValueError(f"tags {sorted(unknown)} are not in the label set {list(label_to_id)}")
    result = EncodedSplit([], [], [])
    for start in range(0, len(sentences), _BATCH):
        batch = sentences[start : start + _BATCH]
        encoding = tokenizer(
            [[prefix + word for word in s.words] for s in batch],
            is_split_into_words=True,
            truncation=True,  # keeps the special tokens the post-processor adds
            max_length=max_length,
        )
        for row, sentence in enumerate(batch):
            word_ids = encoding.word_ids(row)
            input_ids = list(encoding["input_ids"][row])
            labels = [IGNORE_INDEX] * len(word_ids)
            word_index = [-1] * len(word_ids)
            for word, position in _label_positions(word_ids, input_ids, label_token, is_bare).items():
                labels[position] = label_to_id[sentence.tags[word]]
                word_index[position] = word
            result.input_ids.append(input_ids)
            result.labels.append(labels)
            result.word_index.append(word_index)
    return result


def _label_positions(word_ids, input_ids, label_token: str, is_bare) -> dict[int, int]:
    """{word: position of the sub-token that carries its label} for one encoded sentence."""
    positions: dict[int, list[int]] = {}
    for position, word in enumerate(word_ids):
        if word is not None:
            positions.setdefault(word, []).append(position)
    if label_token == "last":
        return {word: tokens[-1] for word, tokens in positions.items()}
    if label_token == "first_any":
        return {word: tokens[0] for word, tokens in positions.items()}
    # The first sub-token with text; a word made only of boundary tokens keeps its first one.
    return {
        word: next((p for p in tokens if not is_bare(input_ids[p])), tokens[0]) for word, tokens in positions.items()
    }


def _bare_token_test(tokenizer):
    """is_bare(token_id): whether the token decodes to whitespace only ("Ġ", "▁"), memoised."""
    memo: dict[int, bool] = {}

    def is_bare(token_id: int) -> bool:
        if token_id not in memo:
            memo[token_id] = tokenizer.decode([token_id]).strip() == ""
        return memo[token_id]

    return is_bare


def _read_cache(path: Path, key_json: str) -> EncodedSplit | None:
    if not path.is_file():
        return None
    with np.load(path, allow_pickle=False) as arrays:
        if str(arrays["key"]) != key_json:  # same name, different key: never trust it
            return None
        offsets = arrays["offsets"].tolist()
        flat = {name: arrays[name].tolist() for name in _FIELDS}
    split = {name: [flat[name][a:b] for a, b in zip(offsets, offsets[1:])] for name in _FIELDS}
    return EncodedSplit(**split, cache_path=path, from_cache=True)


def _write_cache(path: Path, key_json: str, encoded: EncodedSplit) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    lengths = [len(ids) for ids in encoded.input_ids]
    arrays = {
        name: np.fromiter(
            (v for row in getattr(encoded, name) for v in row), dtype=np.int32, count=sum(lengths)
        )
        for name in _FIELDS
    }
    arrays["offsets"] = np.concatenate([[0], np.cumsum(lengths, dtype=np.int64)])
    arrays["key"] = np.array(key_json)
    # Temp file in the same folder, then an atomic rename: a crashed or concurrent run never
    # leaves a half-written cache under the final name.
    handle, temp_name = tempfile.mkstemp(dir=path.parent, prefix=path.stem, suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            np.savez(file, **arrays)
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise


def word_tags_from_token_predictions(
    predicted_ids_per_token: Sequence[int],
    word_index: Sequence[int],
    num_words: int,
    id_to_label: Sequence[str] | Mapping[int, str],
) -> list[str]:
    """One predicted tag per word, read off each word's label token (`word_index` marks it).

    Words that truncation cut off (or that produced no sub-token) get "O", so the metric still
    sees the whole sentence and counts their gold spans as missed.
    """
    tags = ["O"] * num_words
    for predicted, word in zip(predicted_ids_per_token, word_index):
        if word >= 0:
            tags[word] = id_to_label[int(predicted)]
    return tags
