"""Paper Table 1 splits over file names, and vocabulary.csv parsing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from y8m_models.data.splits import PAPER_GLOBS, files_of_split, in_split, split_files
from y8m_models.data.vocabulary import find_vocabulary, read_vocabulary

# 2017 release file names: prefix + two characters from 0-9a-zA-Z-_
NAMES = {
    "train1": ["train00.tfrecord", "trainzZ.tfrecord", "train-_.tfrecord"],
    "validate1": ["validatea0.tfrecord", "validatea_.tfrecord"],
    "train2": ["validateb0.tfrecord", "validateZ9.tfrecord", "validate-a.tfrecord", "validate_x.tfrecord"],
    "validate2": ["validate00.tfrecord", "validate9a.tfrecord"],
    "test": ["test0A.tfrecord", "test--.tfrecord.gz"],
}


def test_paper_globs_assign_every_2017_name_to_exactly_one_split() -> None:
    for split, names in NAMES.items():
        for name in names:
            owners = [p for p, glob in PAPER_GLOBS.items() if in_split(name, glob)]
            assert owners == [split], name
    # 2018 names (four digits) are outside the paper globs; they need their own.
    assert not any(in_split("train0000.tfrecord", g) for g in PAPER_GLOBS.values())
    assert not in_split("validatea0.tfrecord.bak", PAPER_GLOBS["validate1"])


def test_split_files_in_release_layout(tmp_path: Path) -> None:
    (tmp_path / "frame").mkdir()
    for names in NAMES.values():
        for name in names:
            (tmp_path / "frame" / name).write_bytes(b"")
    splits = split_files(tmp_path, "frame")
    assert {p: [f.name for f in files] for p, files in splits.items()} == {p: sorted(n) for p, n in NAMES.items()}
    # Level directory missing: the dataset root itself holds the files.
    assert [f.name for f in files_of_split(tmp_path / "frame", "video", "validate2")] == sorted(NAMES["validate2"])
    custom = files_of_split(tmp_path, "frame", "train1", {"train1": "train0?.tfrecord"})
    assert [f.name for f in custom] == ["train00.tfrecord"]


def test_split_errors_name_the_split_and_glob(tmp_path: Path) -> None:
    (tmp_path / "video").mkdir()
    with pytest.raises(ValueError, match=r"split 'test' has no files: nothing in .*video matches 'test\?\?"):
        files_of_split(tmp_path, "video", "test")
    with pytest.raises(ValueError, match="unknown split 'train3'; splits are train1, validate1"):
        files_of_split(tmp_path, "video", "train3")
    with pytest.raises(ValueError, match="does not exist"):
        files_of_split(tmp_path / "nowhere", "video", "test")


def _write_vocab(path: Path, rows: list[str], header: str = "Index,TrainVideoCount,Name,Vertical1,Vertical2") -> Path:
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def test_vocabulary_names_and_verticals(tmp_path: Path) -> None:
    vocab = read_vocabulary(_write_vocab(tmp_path / "vocabulary.csv", [
        '2,10,"Cat, domestic",Pets & Animals,', "0,30,Game,Games,Arts", "1,20,Car,Autos & Vehicles,",
        "3,5,Mystery,,"]))
    assert vocab.names == ("Game", "Car", "Cat, domestic", "Mystery")
    # Vertical ids in order of first appearance when scanning labels by index; empty -> "(none)".
    assert vocab.verticals == ("Games", "Autos & Vehicles", "Pets & Animals", "(none)")
    assert vocab.vertical_ids.tolist() == [0, 1, 2, 3]
    assert vocab.train_counts.tolist() == [30, 20, 10, 5]
    np.testing.assert_array_equal(vocab.vertical_matrix().sum(0), [1, 1, 1, 1])
    assert find_vocabulary(tmp_path / "frame") == tmp_path / "vocabulary.csv"


@pytest.mark.parametrize(("rows", "header", "message"), [
    (["0,1,a,x", "2,1,b,y"], None, r"Index must cover 0..2 without gaps; missing \[1\]"),
    (["0,1,a,x", "0,1,b,y"], None, "line 3: Index 0 is negative or repeated"),
    (["zero,1,a,x"], None, "line 2: Index 'zero' is not an integer"),
    (["0,a"], "Index,Label", "missing column"),
])
def test_bad_vocabulary_names_the_line(tmp_path: Path, rows: list[str], header: str | None, message: str) -> None:
    path = _write_vocab(tmp_path / "vocabulary.csv", rows, header or "Index,TrainVideoCount,Name,Vertical1")
    with pytest.raises(ValueError, match=message):
        read_vocabulary(path)


def test_a_huge_index_is_refused_without_building_its_range(tmp_path: Path) -> None:
    """A 25-byte file with ``Index 20000000`` once took 2.4 GB before its error: the gaps are now found from the
    ids present."""
    import tracemalloc

    path = tmp_path / "vocabulary.csv"
    path.write_text("Index,Name\n20000000,x\n")
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match=r"Index must cover 0..20000000 without gaps; missing \[0, 1, 2, 3, 4\]"):
            read_vocabulary(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20, peak  # a megabyte, not gigabytes


def test_a_vocabulary_past_its_row_limit_is_refused_naming_the_setting(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "vocabulary.csv"
    path.write_text("Index,Name\n" + "".join(f"{i},c{i}\n" for i in range(5)))
    monkeypatch.setenv("Y8M_MAX_VOCABULARY_ROWS", "4")
    with pytest.raises(ValueError, match="more than 4 labels .*Y8M_MAX_VOCABULARY_ROWS"):
        read_vocabulary(path)
    monkeypatch.setenv("Y8M_MAX_VOCABULARY_ROWS", "5")
    assert read_vocabulary(path).num_classes == 5
    monkeypatch.setenv("Y8M_MAX_VOCABULARY_ROWS", "many")
    with pytest.raises(ValueError, match="Y8M_MAX_VOCABULARY_ROWS='many': expected a whole number"):
        read_vocabulary(path)
