"""The ABSA reader through rest14_absa.yaml: real counts, BIO conversion, strict format errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.tasks import AbsaTask, DataFormatError, LabeledSentence
from harness.tasks.absa import to_bio

VALID = "Good food.####Good=O food=T-POS .=O\nBad staff####Bad=O staff=T-NEG\n"


def write_folder(root: Path, **overrides: str | bytes) -> Path:
    folder = root / "rest14"
    folder.mkdir(parents=True, exist_ok=True)
    for split in ("train", "dev", "test"):
        content = overrides.get(split, VALID)
        path = folder / f"{split}.txt"
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return root


@pytest.fixture(scope="module")
def rest14(conf_task):
    return conf_task("rest14_absa")


@pytest.fixture(scope="module")
def real(rest14, data_root):
    return rest14.load(data_root)


def test_real_split_counts_and_labels(real):
    assert (len(real.train), len(real.dev), len(real.test)) == (2736, 304, 800)
    assert real.labels == ["O", "B-NEG", "B-NEU", "B-POS", "I-NEG", "I-NEU", "I-POS"]
    assert {t for s in real.train for t in s.tags} == set(real.labels)


def test_real_known_lines(real):
    assert real.train[0] == LabeledSentence(
        ("But", "the", "staff", "was", "so", "horrible", "to", "us", "."),
        ("O", "O", "B-NEG", "O", "O", "O", "O", "O", "O"),
        "0",
    )
    assert real.test[799].id == "799"
    # train.txt:794 "Less ==O More=O ...": the word is "=", split on the LAST "=".
    assert real.train[793].words[:3] == ("Less", "=", "More")
    # train.txt:831 "priced=T-NEU wine=T-POS": adjacent aspects of different polarity.
    line = real.train[830]
    i = line.words.index("priced")
    assert line.tags[i : i + 2] == ("B-NEU", "B-POS")


def test_real_multiword_aspect_is_one_span(real):
    spans = [
        s for s in real.train if any(a.startswith("B-") and b.startswith("I-")
                                     for a, b in zip(s.tags, s.tags[1:]))
    ]  # fmt: skip
    assert spans, "rest14 has multi-word aspects"
    for sentence in real.train + real.dev + real.test:
        for previous, tag in zip(("O",) + sentence.tags, sentence.tags):
            if tag.startswith("I-"):
                assert previous in (f"B-{tag[2:]}", tag)  # valid IOB2 everywhere


def test_bio_conversion():
    source = ["O", "T-POS", "T-POS", "T-NEG", "O", "T-NEG", "T-NEU", "T-NEU"]
    expected = ("O", "B-POS", "I-POS", "B-NEG", "O", "B-NEG", "B-NEU", "I-NEU")
    assert to_bio(source) == expected


def test_subsets(data_root, conf_task):
    data = conf_task("rest14_absa", max_train_examples=100, max_eval_examples=50).load(data_root)
    assert (len(data.train), len(data.dev), len(data.test)) == (100, 50, 50)
    assert data.train == conf_task("rest14_absa", max_train_examples=100).load(data_root).train


MALFORMED = [
    ("missing separator", "ok####ok=O\nno separator here\n", 2, "missing '####'"),
    ("unknown tag", "a####a=O\n\nb####b=T-POSITIVE\n", 3, "unknown tag 'T-POSITIVE'"),
    ("BIO tag in source", "a####a=B-POS\n", 1, "unknown tag 'B-POS'"),
    ("item without =", "a b####a=O b\n", 1, "item 'b' is not word=TAG"),
    ("empty word", "a####=O\n", 1, "item '=O' is not word=TAG"),
    ("no tokens", "ok####ok=O\ntext####   \n", 2, "no tagged tokens"),
]


@pytest.mark.parametrize("case, text, line, message", MALFORMED, ids=[c[0] for c in MALFORMED])
@pytest.mark.parametrize("split", ["train", "test"])
def test_malformed_files_name_file_and_line(tmp_path, rest14, split, case, text, line, message):
    root = write_folder(tmp_path, **{split: text})
    with pytest.raises(DataFormatError) as caught:
        rest14.load(root)
    path = root / "rest14" / f"{split}.txt"
    assert str(caught.value).startswith(f"{path}:{line}: ")
    assert message in str(caught.value)


def test_empty_file_and_bad_bytes(tmp_path, rest14):
    with pytest.raises(DataFormatError, match=r"rest14/dev\.txt:1: the file holds no examples"):
        rest14.load(write_folder(tmp_path / "a", dev=""))
    bad = b"a####a=O\nb####b=O\nc\xc3####c=O\n"
    with pytest.raises(DataFormatError, match=r"rest14/train\.txt:3: not valid UTF-8"):
        rest14.load(write_folder(tmp_path / "b", train=bad))


def test_no_data_root_says_how_to_fix_it(rest14):
    with pytest.raises(ValueError, match=r"HARNESS_DATA_DIR.*rest14/"):
        rest14.load(None)


def test_a_new_absa_data_set_is_one_yaml(tmp_path, yaml_task, write_files):
    """Another separator, another tag set (BIO-less sentiment tags), another file naming."""
    text = "Nice screen|||Nice/O screen/POSITIVE\n\nbattery life bad|||battery/NEGATIVE life/NEGATIVE bad/O\n"
    write_files(tmp_path / "lap", {"train.tsv": text, "dev.tsv": text, "test.tsv": text})
    task = yaml_task(
        """
        _target_: harness.tasks.absa.AbsaTask
        name: laptops
        data_subdir: lap
        files: {train: train.tsv, dev: dev.tsv, test: test.tsv}
        text_separator: "|||"
        tag_separator: /
        span_tags: {POSITIVE: POS, NEGATIVE: NEG}
        """
    )
    assert isinstance(task, AbsaTask)
    data = task.load(tmp_path)
    assert data.train == [
        LabeledSentence(("Nice", "screen"), ("O", "B-POS"), "0"),
        LabeledSentence(("battery", "life", "bad"), ("B-NEG", "I-NEG", "O"), "1"),
    ]
    assert data.labels == ["O", "B-NEG", "B-POS", "I-NEG", "I-POS"]
    with pytest.raises(DataFormatError, match=r"train\.tsv:3: unknown tag 'NEUTRAL'"):
        write_files(tmp_path / "lap", {"train.tsv": "a|||a/O\n\nb|||b/NEUTRAL\n"})
        task.load(tmp_path)


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"span_tags": {}}, r"task\.span_tags must map"),
        ({"span_tags": {"O": "POS"}}, r"task\.span_tags: 'O' is task\.outside_tag"),
        ({"span_tags": {"T-POS": "B-POS"}}, r"task\.span_tags must map"),
        ({"text_separator": ""}, r"task\.text_separator must be a non-empty string"),
        ({"max_eval_examples": -1}, r"task\.max_eval_examples must be a positive integer"),
    ],
)
def test_impossible_values_name_the_key(overrides, message):
    with pytest.raises(ValueError, match=message):
        AbsaTask(**overrides)
