"""CoNLL-2003 through its ColumnTask YAMLs: real counts and labels, strict errors, subsets, Hub."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.tasks import ColumnTask, DataFormatError, LabeledSentence

VALID = (
    "-DOCSTART- -X- -X- O\n"
    "\n"
    "EU NNP B-NP B-ORG\n"
    "rejects VBZ B-VP O\n"
    "German JJ B-NP B-MISC\n"
    "\n"
    "Peter NNP B-NP B-PER\n"
    "Blackburn NNP I-NP I-PER\n"
    "\n"
)


def write_folder(root: Path, **overrides: str | bytes) -> Path:
    """A conll2003/ folder of three valid files, ``overrides`` replacing some splits' content."""
    folder = root / "conll2003"
    folder.mkdir(parents=True, exist_ok=True)
    for split in ("train", "dev", "test"):
        content = overrides.get(split, VALID)
        path = folder / f"{split}.txt"
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return root


@pytest.fixture(scope="module")
def ner(conf_task):
    return conf_task("conll2003_ner")


@pytest.fixture(scope="module")
def real_ner(ner, data_root):
    return ner.load(data_root)


def test_yamls_describe_the_three_columns(conf_task):
    tasks = {column: conf_task(f"conll2003_{column}") for column in ("ner", "chunk", "pos")}
    assert all(isinstance(t, ColumnTask) for t in tasks.values())
    assert {c: (t.name, t.tag_column, t.metric) for c, t in tasks.items()} == {
        "ner": ("conll2003_ner", "ner", "span_f1"),
        "chunk": ("conll2003_chunk", "chunk", "span_f1"),
        "pos": ("conll2003_pos", "pos", "token_accuracy"),
    }
    assert {t.kind for t in tasks.values()} == {"sequence_labeling"}


def test_real_split_counts(real_ner):
    assert (len(real_ner.train), len(real_ner.dev), len(real_ner.test)) == (14041, 3250, 3453)


def test_real_first_sentence_ids_and_provenance(real_ner, data_root, conf_task):
    assert real_ner.train[0] == LabeledSentence(
        ("EU", "rejects", "German", "call", "to", "boycott", "British", "lamb", "."),
        ("B-ORG", "O", "B-MISC", "O", "O", "O", "B-MISC", "O", "O"),
        "0",
    )
    assert [s.id for s in real_ner.test[:3]] == ["0", "1", "2"]  # positions in the file
    assert real_ner.source == str(data_root / "conll2003")
    # The hash of the files as the harness has always computed it: records stay comparable.
    assert real_ner.data_hash == "487f8d8d7bb35ada7ac69764c6cd4a7ed1f838018c682f6d35f697c43b1e4644"
    # The hash is of the files, not of the chosen column or subset.
    pos = conf_task("conll2003_pos", max_train_examples=10).load(data_root)
    assert pos.data_hash == real_ner.data_hash


def test_real_ner_labels(real_ner):
    assert real_ner.labels == [
        "O", "B-LOC", "B-MISC", "B-ORG", "B-PER", "I-LOC", "I-MISC", "I-ORG", "I-PER"
    ]  # fmt: skip
    assert {t for s in real_ner.train for t in s.tags} == set(real_ner.labels)


def test_real_chunk_and_pos_labels(data_root, conf_task):
    chunk = conf_task("conll2003_chunk").load(data_root)
    assert chunk.labels[0] == "O"
    types = {label[2:] for label in chunk.labels[1:]}
    assert types == {"ADJP", "ADVP", "CONJP", "INTJ", "LST", "NP", "PP", "PRT", "SBAR", "VP"}
    assert len(chunk.labels) == 1 + 2 * len(types)
    assert "I-PRT" not in {t for s in chunk.train for t in s.tags}  # only dev has it...
    assert "I-PRT" in chunk.labels  # ...and the model can still emit it
    pos = conf_task("conll2003_pos").load(data_root)
    assert len(pos.labels) == 45 and "O" not in pos.labels
    assert {"NNP", "VBZ", "NN|SYM", "''", "("} <= set(pos.labels)
    assert chunk.train[0].tags[:3] == ("B-NP", "B-VP", "B-NP")
    assert pos.train[0].tags[:3] == ("NNP", "VBZ", "JJ")


def test_real_subsets_are_fixed_random_and_sized(data_root, real_ner, conf_task):
    task = conf_task("conll2003_ner", max_train_examples=500, max_eval_examples=200)
    first, second = task.load(data_root), task.load(data_root)
    assert (len(first.train), len(first.dev), len(first.test)) == (500, 200, 200)
    assert first.train == second.train and first.dev == second.dev and first.test == second.test
    assert first.train != real_ner.train[:500]  # not the first few documents
    positions = {s: i for i, s in enumerate(real_ner.train)}
    assert max(positions[s] for s in first.train) > 10_000
    assert all(s.id == str(positions[s]) for s in first.train)  # ids survive subsetting
    assert first.labels == real_ner.labels  # labels come from the full data


def test_docstart_lines_separate_and_are_skipped(tmp_path, ner):
    text = "A NN B-NP B-PER\n-DOCSTART- -X- -X- O\nB NN B-NP O\n"
    data = ner.load(write_folder(tmp_path, train=text))
    assert data.train == [
        LabeledSentence(("A",), ("B-PER",), "0"), LabeledSentence(("B",), ("O",), "1")
    ]  # fmt: skip
    assert len(data.dev) == 2


MALFORMED = [
    ("wrong column count", "EU NNP B-NP B-ORG\nrejects VBZ O\n", 2, "expected 4 columns"),
    ("five columns", "\nEU NNP B-NP B-ORG extra\n", 2, "got 5"),
    ("unknown NER type", "EU NNP B-NP B-ORG\nx NN B-NP B-PERS\n", 2, "unknown ner tag 'B-PERS'"),
    ("IOB1-style NER", "x NN B-NP O\nEU NNP B-NP I-ORG\n", 2, "ner tag 'I-ORG' follows 'O'"),
    ("NER type change", "x NN B-NP B-PER\ny NN I-NP I-LOC\n", 2, "ner tag 'I-LOC' follows 'B-PER'"),
    ("I- at sentence start", "a NN B-NP O\n\nx NN I-NP O\n", 3, "chunk tag 'I-NP' follows"),
    ("lower-case chunk", "x NN b-np O\n", 1, "unknown chunk tag 'b-np'"),
]


@pytest.mark.parametrize("case, text, line, message", MALFORMED, ids=[c[0] for c in MALFORMED])
@pytest.mark.parametrize("split", ["train", "dev", "test"])
def test_malformed_files_name_file_and_line(tmp_path, ner, split, case, text, line, message):
    root = write_folder(tmp_path, **{split: text})
    with pytest.raises(DataFormatError) as caught:
        ner.load(root)
    path = root / "conll2003" / f"{split}.txt"
    assert (caught.value.path, caught.value.line_number) == (str(path), line)
    assert str(caught.value).startswith(f"{path}:{line}: ")
    assert message in str(caught.value)


def test_every_checked_column_is_validated_whichever_is_learned(tmp_path, conf_task):
    root = write_folder(tmp_path, dev="x NN B-NP O\ny NN B-NP I-PER\n")
    for column in ("pos", "chunk", "ner"):
        with pytest.raises(DataFormatError, match=r"dev\.txt:2: ner tag 'I-PER' follows 'O'"):
            conf_task(f"conll2003_{column}").load(root)


@pytest.mark.parametrize("text", ["", "\n\n", "-DOCSTART- -X- -X- O\n\n"])
def test_file_without_sentences_is_an_error(tmp_path, ner, text):
    root = write_folder(tmp_path, test=text)
    with pytest.raises(DataFormatError, match=r"conll2003/test\.txt:1: the file holds no examples"):
        ner.load(root)


def test_undecodable_bytes_name_the_line(tmp_path, ner):
    root = write_folder(tmp_path, dev=b"EU NNP B-NP B-ORG\n\nM\xfcller NNP B-NP B-PER\n")
    with pytest.raises(DataFormatError, match=r"conll2003/dev\.txt:3: not valid UTF-8"):
        ner.load(root)


def test_missing_split_file_and_missing_folder(tmp_path, ner):
    root = write_folder(tmp_path)
    (root / "conll2003" / "dev.txt").unlink()
    with pytest.raises(FileNotFoundError, match="dev"):
        ner.load(root)
    empty_root = tmp_path / "elsewhere"
    empty_root.mkdir()
    with pytest.raises(FileNotFoundError, match=str(empty_root / "conll2003")):
        ner.load(empty_root)


def test_no_hub_dataset_means_local_only(conf_task):
    with pytest.raises(ValueError, match=r"reads local files only.*HARNESS_DATA_DIR.*conll2003/"):
        conf_task("conll2003_ner", hub_dataset=None).load(None)


# The Hub path, with a fake `datasets.load_dataset`: the real Hub is unreachable in tests.

POS_NAMES = ['"', "NNP", "VBZ", "JJ", "NN"]
CHUNK_NAMES = ["O", "B-NP", "I-NP", "B-VP"]
NER_NAMES = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC"]


def fake_hub(rows_per_split):
    import datasets

    features = datasets.Features(
        {
            "id": datasets.Value("string"),
            "tokens": datasets.List(datasets.Value("string")),
            "pos_tags": datasets.List(datasets.ClassLabel(names=POS_NAMES)),
            "chunk_tags": datasets.List(datasets.ClassLabel(names=CHUNK_NAMES)),
            "ner_tags": datasets.List(datasets.ClassLabel(names=NER_NAMES)),
        }
    )
    splits = {}
    for split, rows in rows_per_split.items():
        columns = {name: [row[i] for row in rows] for i, name in enumerate(features)}
        splits[split] = datasets.Dataset.from_dict(columns, features=features)
    return datasets.DatasetDict(splits)


HUB_ROWS = [
    ("0", ["-DOCSTART-"], [0], [0], [0]),
    ("1", ["EU", "rejects", "German"], [1, 2, 3], [1, 3, 1], [3, 0, 7]),
    ("2", ["Peter", "Blackburn"], [1, 1], [1, 2], [1, 2]),
]


@pytest.fixture
def hub_calls(monkeypatch):
    import datasets

    calls = []

    def load_dataset(name, **kwargs):
        calls.append((name, kwargs))
        return fake_hub({"train": HUB_ROWS, "validation": HUB_ROWS[1:2], "test": HUB_ROWS[2:]})

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    return calls


def test_hub_path_maps_class_label_ids_to_names(hub_calls, ner, conf_task):
    data = ner.load(None)
    assert hub_calls == [("eriktks/conll2003", {"revision": "refs/convert/parquet"})]
    assert data.train == [
        LabeledSentence(("EU", "rejects", "German"), ("B-ORG", "O", "B-MISC"), "1"),
        LabeledSentence(("Peter", "Blackburn"), ("B-PER", "I-PER"), "2"),
    ]  # the -DOCSTART- row is dropped; ids are the rows' own
    assert len(data.dev) == len(data.test) == 1
    assert data.labels[0] == "O" and len(data.labels) == 9
    assert data.source == "hub:eriktks/conll2003"
    pos = conf_task("conll2003_pos").load(None)
    assert data.data_hash == pos.data_hash
    # The content hash as the harness has always computed it for these rows.
    assert data.data_hash == "1667b1f662af5a9da8dfdeb56f7198e77691b98bcca784ba3769f3ba95385b32"
    assert pos.train[0].tags == ("NNP", "VBZ", "JJ") and pos.labels == ["JJ", "NNP", "VBZ"]
    chunk = conf_task("conll2003_chunk").load(None)
    assert chunk.train[1].tags == ("B-NP", "I-NP")
    assert chunk.labels == ["O", "B-NP", "B-VP", "I-NP", "I-VP"]


def test_hub_rows_are_validated_with_split_and_row(monkeypatch, ner):
    import datasets

    broken = [("0", ["x", "y"], [1, 1], [1, 1], [0, 2])]  # I-PER after O
    monkeypatch.setattr(
        datasets,
        "load_dataset",
        lambda name, **kwargs: fake_hub({"train": HUB_ROWS, "validation": broken, "test": broken}),
    )
    with pytest.raises(DataFormatError, match=r"conll2003\[validation\]:1: ner tag 'I-PER'"):
        ner.load(None)
