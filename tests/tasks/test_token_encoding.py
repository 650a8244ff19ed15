"""Word/sub-token alignment on real tokenizers, truncation, the encoding cache, word predictions."""

from __future__ import annotations

import numpy as np
import pytest

from harness.tasks import (
    IGNORE_INDEX,
    LabeledSentence,
    encode_sentences,
    tokenizer_fingerprint,
    word_prefix,
    word_tags_from_token_predictions,
)


@pytest.fixture(scope="module")
def conll(data_root, conf_task):
    return conf_task("conll2003_ner").load(data_root)


@pytest.fixture(scope="module")
def label_to_id(conll):
    return {label: i for i, label in enumerate(conll.labels)}


def first_subtoken_positions(word_ids):
    return [p for p, w in enumerate(word_ids) if w is not None and (p == 0 or word_ids[p - 1] != w)]


def check_alignment(encoded, sentences, label_to_id):
    """Every word labeled exactly once, on its first sub-token, with its gold tag, in order."""
    for i, sentence in enumerate(sentences):
        item = encoded[i]
        assert len(item["input_ids"]) == len(item["labels"]) == len(item["word_index"])
        labeled = [p for p, label in enumerate(item["labels"]) if label != IGNORE_INDEX]
        assert labeled == [p for p, w in enumerate(item["word_index"]) if w >= 0]
        assert [item["word_index"][p] for p in labeled] == list(range(len(sentence.words)))
        assert [item["labels"][p] for p in labeled] == [label_to_id[t] for t in sentence.tags]


def test_smollm2_every_real_word_starts_with_a_space_token(conll, label_to_id, smollm2_tokenizer):
    tokenizer = smollm2_tokenizer
    sentences = conll.train
    encoded = encode_sentences(sentences, tokenizer, label_to_id, max_length=512, label_token="first_any")
    check_alignment(encoded, sentences, label_to_id)
    for i in range(len(sentences)):
        tokens = tokenizer.convert_ids_to_tokens(encoded[i]["input_ids"])
        firsts = [t for t, w in zip(tokens, encoded[i]["word_index"]) if w >= 0]
        assert all(t.startswith("Ġ") for t in firsts), (sentences[i].words, tokens)
        others = [t for t, w in zip(tokens, encoded[i]["word_index"]) if w < 0]
        assert not any(t.startswith("Ġ") for t in others)  # no word split at a space
    # "EU" opens the first sentence, yet is tokenized as mid-sentence, and no special tokens.
    assert tokenizer.convert_ids_to_tokens(encoded[0]["input_ids"])[0] == "ĠEU"
    # The same ids as the sentence as running text after a space: a word is a word anywhere.
    for i in range(50):
        text = " " + " ".join(sentences[i].words)
        assert encoded[i]["input_ids"] == tokenizer(text, add_special_tokens=False)["input_ids"]


SMOLLM2_CASES = [  # (word, its first sub-token with text, its last sub-token), as SmolLM2 splits them
    ("EU", "EU", "EU"),  # one piece
    ("1996", "1", "6"),  # " 1996" is a bare "Ġ" then one token per digit
    ("3-1", "3", "1"),
    ("19.5", "1", "5"),
    ("(", "(", "("),  # punctuation keeps its space: "Ġ("
    ("Ssangyong", "S", "ong"),  # a multi-piece word
]


@pytest.mark.parametrize("label_token", ["first", "last", "first_any"])
def test_label_token_on_numbers_punctuation_and_multi_piece_words(smollm2_tokenizer, label_token):
    words = tuple(word for word, _, _ in SMOLLM2_CASES)
    tags = tuple(f"B-T{i}" for i in range(len(words)))
    label_to_id = {tag: i for i, tag in enumerate(tags)}
    item = encode_sentences([LabeledSentence(words, tags)], smollm2_tokenizer, label_to_id, 64, label_token=label_token)[0]
    labelled = {item["word_index"][p]: p for p in range(len(item["input_ids"])) if item["word_index"][p] >= 0}
    assert sorted(labelled) == list(range(len(words)))
    for word_number, (word, first, last) in enumerate(SMOLLM2_CASES):
        text = smollm2_tokenizer.decode([item["input_ids"][labelled[word_number]]]).strip()
        if label_token == "last":
            assert text == last, word
        elif label_token == "first" or not word[0].isdigit():
            assert text == first, word
        else:
            assert text == "", word  # first_any: the bare boundary token before the digits
        assert item["labels"][labelled[word_number]] == label_to_id[tags[word_number]]


def test_the_first_label_token_is_never_a_bare_boundary_token(conll, label_to_id, smollm2_tokenizer):
    sentences = conll.train[:2000]
    first = encode_sentences(sentences, smollm2_tokenizer, label_to_id, max_length=512, label_token="first")
    first_any = encode_sentences(sentences, smollm2_tokenizer, label_to_id, max_length=512, label_token="first_any")
    check_alignment(first, sentences, label_to_id)
    bare_before = bare_now = words = 0
    for i in range(len(sentences)):
        for encoded, counter in ((first, "now"), (first_any, "before")):
            ids, word_index = encoded[i]["input_ids"], encoded[i]["word_index"]
            bare = sum(smollm2_tokenizer.decode([ids[p]]).strip() == "" for p in range(len(ids)) if word_index[p] >= 0)
            if counter == "now":
                bare_now += bare
                words += len(sentences[i].words)
            else:
                bare_before += bare
    assert bare_now == 0
    assert 0.05 * words < bare_before < 0.25 * words  # about one word in eight (mostly numbers)


def test_an_unknown_label_token_is_refused_by_name(smollm2_tokenizer):
    sentence = LabeledSentence(("a",), ("O",))
    with pytest.raises(ValueError, match="label_token"):
        encode_sentences([sentence], smollm2_tokenizer, {"O": 0}, 8, label_token="middle")


def test_minilm_special_tokens_are_unlabeled(conll, label_to_id, minilm_tokenizer):
    tokenizer = minilm_tokenizer
    sentences = conll.dev[:300]
    encoded = encode_sentences(sentences, tokenizer, label_to_id, max_length=512)
    check_alignment(encoded, sentences, label_to_id)
    for i in range(len(sentences)):
        item = encoded[i]
        tokens = tokenizer.convert_ids_to_tokens(item["input_ids"])
        assert tokens[0] == "[CLS]" and tokens[-1] == "[SEP]"
        assert item["labels"][0] == item["labels"][-1] == IGNORE_INDEX
        assert item["word_index"][0] == item["word_index"][-1] == -1
        assert not any(t.startswith("##") for t, w in zip(tokens, item["word_index"]) if w >= 0)


def test_truncation_keeps_special_tokens_and_drops_whole_words(minilm_tokenizer, smollm2_tokenizer):
    words = ("Peter", "Blackburn", "visited", "Brussels", "on", "Thursday", "with", "friends", ".")
    tags = ("B-PER", "I-PER", "O", "B-LOC", "O", "O", "O", "O", "O")
    labels = ["O", "B-LOC", "B-PER", "I-LOC", "I-PER"]
    label_to_id = {label: i for i, label in enumerate(labels)}
    sentence = LabeledSentence(words, tags)
    for tokenizer, specials in ((minilm_tokenizer, 2), (smollm2_tokenizer, 0)):
        full = encode_sentences([sentence], tokenizer, label_to_id, max_length=64)[0]
        short = encode_sentences([sentence], tokenizer, label_to_id, max_length=6)[0]
        assert len(full["input_ids"]) > 6 and len(short["input_ids"]) == 6
        if specials:
            assert tokenizer.convert_ids_to_tokens(short["input_ids"])[-1] == "[SEP]"
            assert short["labels"][-1] == IGNORE_INDEX
        kept = [w for w in short["word_index"] if w >= 0]
        assert kept == list(range(len(kept))) and 0 < len(kept) < len(words)
        predicted = word_tags_from_token_predictions(
            [max(label, 0) for label in short["labels"]], short["word_index"], len(words), labels
        )
        assert predicted == list(tags[: len(kept)]) + ["O"] * (len(words) - len(kept))


def test_word_tags_round_trip_from_gold_predictions(conll, label_to_id, smollm2_tokenizer):
    sentences = conll.test[:100]
    encoded = encode_sentences(sentences, smollm2_tokenizer, label_to_id, max_length=512)
    id_to_label = {i: label for label, i in label_to_id.items()}
    for i, sentence in enumerate(sentences):
        # Off-word positions carry an arbitrary prediction that must be ignored.
        predictions = [label if label >= 0 else 7 for label in encoded[i]["labels"]]
        tags = word_tags_from_token_predictions(
            predictions, encoded[i]["word_index"], len(sentence.words), id_to_label
        )
        assert tags == list(sentence.tags)


def test_unknown_tag_is_refused(smollm2_tokenizer):
    with pytest.raises(ValueError, match="B-XYZ"):
        encode_sentences([LabeledSentence(("a",), ("B-XYZ",))], smollm2_tokenizer, {"O": 0}, 8)


def test_cache_hit_is_identical_and_every_input_changes_the_file(
    tmp_path, conll, label_to_id, smollm2_tokenizer, minilm_tokenizer
):
    sentences = conll.dev[:200]
    key = {"data_hash": conll.data_hash, "split": "dev", "max_eval_examples": 200}

    def encode(tokenizer=smollm2_tokenizer, max_length=128, cache_key=key, labels=label_to_id):
        return encode_sentences(sentences, tokenizer, labels, max_length, tmp_path, cache_key)

    fresh = encode()
    assert not fresh.from_cache and fresh.cache_path.is_file()
    hit = encode()
    assert hit.from_cache and hit.cache_path == fresh.cache_path
    assert (hit.input_ids, hit.labels, hit.word_index) == (
        fresh.input_ids, fresh.labels, fresh.word_index
    )  # fmt: skip
    with np.load(fresh.cache_path, allow_pickle=False) as arrays:  # plain arrays, no pickle
        assert arrays["offsets"][-1] == sum(len(ids) for ids in fresh.input_ids)
    variants = [
        encode(max_length=64),
        encode(cache_key={**key, "data_hash": "0" * 64}),
        encode(tokenizer=minilm_tokenizer),
        encode(labels={label: i + 1 for label, i in label_to_id.items()}),
    ]
    paths = {fresh.cache_path} | {v.cache_path for v in variants}
    assert len(paths) == 1 + len(variants)
    assert not any(v.from_cache for v in variants)
    assert not list(tmp_path.glob("*.tmp"))  # atomic writes leave no temp files


def test_cache_file_with_another_key_is_not_trusted(tmp_path, label_to_id, smollm2_tokenizer):
    sentence = [LabeledSentence(("EU", "rejects"), ("B-ORG", "O"))]
    first = encode_sentences(sentence, smollm2_tokenizer, label_to_id, 16, tmp_path, {"k": 1})
    other = encode_sentences(
        [LabeledSentence(("Peter",), ("B-PER",))], smollm2_tokenizer, label_to_id, 16, tmp_path,
        {"k": 2},
    )  # fmt: skip
    other.cache_path.replace(first.cache_path)  # a file under the wrong name
    again = encode_sentences(sentence, smollm2_tokenizer, label_to_id, 16, tmp_path, {"k": 1})
    assert not again.from_cache and again.input_ids == first.input_ids


def test_fingerprint_ignores_leftover_truncation_state(smollm2_tokenizer):
    before = tokenizer_fingerprint(smollm2_tokenizer)
    smollm2_tokenizer(["a b c"], truncation=True, max_length=2)  # leaves truncation set
    assert tokenizer_fingerprint(smollm2_tokenizer) == before


def sentencepiece_style_tokenizer():
    """A tiny tokenizer shaped like Llama-2/Mistral's tokenizer.json: no pre-tokenizer, a
    normalizer that prepends "▁" and turns spaces into "▁", BPE merges within words."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer(models.BPE(unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    corpus = ["the cat sat on the mat", "a dog ate the hat", "EU rejects German call"] * 20
    trainer = trainers.BpeTrainer(vocab_size=200, special_tokens=["<unk>"], show_progress=False)
    backend.train_from_iterator(corpus, trainer)
    backend.pre_tokenizer = None
    backend.normalizer = normalizers.Sequence(
        [normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")]
    )
    return PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="<unk>")


def test_word_prefix_matches_running_text_for_each_tokenizer_family(
    smollm2_tokenizer, minilm_tokenizer
):
    assert word_prefix(smollm2_tokenizer) == " "  # byte-level BPE needs the space
    assert word_prefix(minilm_tokenizer) == " "  # WordPiece ignores it
    tokenizer = sentencepiece_style_tokenizer()
    assert word_prefix(tokenizer) == ""  # a space would become a stray "▁" token
    sentence = LabeledSentence(("EU", "rejects", "the", "cat"), ("B-ORG", "O", "O", "O"))
    encoded = encode_sentences([sentence], tokenizer, {"O": 0, "B-ORG": 1}, 32)[0]
    tokens = tokenizer.convert_ids_to_tokens(encoded["input_ids"])
    assert tokens == ["▁EU", "▁rejects", "▁the", "▁cat"]
    assert encoded["input_ids"] == tokenizer("EU rejects the cat")["input_ids"]


def test_example_ids_do_not_change_the_encoding_or_its_cache(tmp_path, smollm2_tokenizer):
    labels = {"O": 0, "B-ORG": 1}
    plain = [LabeledSentence(("EU", "rejects"), ("B-ORG", "O"))]
    with_id = [LabeledSentence(("EU", "rejects"), ("B-ORG", "O"), "17")]
    first = encode_sentences(plain, smollm2_tokenizer, labels, 16, tmp_path, {"k": 1})
    second = encode_sentences(with_id, smollm2_tokenizer, labels, 16, tmp_path, {"k": 1})
    assert second.from_cache and second.cache_path == first.cache_path
