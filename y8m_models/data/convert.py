"""``y8m data convert``: a user's own per-video frame features and labels -> a dataset in the YouTube-8M layout
(``frame/`` and ``video/`` TFRecords named for the five splits of paper Table 1, ``vocabulary.csv``,
``features.json``), which every command reads as it reads YouTube-8M.

Features, one of:

- a folder of ``VIDEO_ID.npy`` files (one feature, [frames, width]) or ``VIDEO_ID.npz`` files (one array per
  feature, each [frames, width_k], the same frames);
- a Parquet table with one row per frame: ``video_id``, ``frame`` (the order within the video) and one column per
  feature holding that frame's values (a list of floats);
- an HDF5 file (``.h5``/``.hdf5``) with one group per video holding one dataset per feature ([frames, width]), or
  one dataset per video (one feature).

Labels: a CSV with a header ``video_id,labels`` (and optionally ``split``): ``labels`` holds label names separated
by ``;``, or label ids (``;`` or spaces, as Kaggle's files); names are looked up in ``--vocabulary`` where given,
else the vocabulary is made from them (Index 0 the most frequent). ``split`` names each video's part of Table 1
(train1, validate1, train2, validate2, test); without it the videos are split at random by ``ratios`` (seeded).
A test video may have no labels; every other has at least one.

Frame features are stored as YouTube-8M's: 8-bit codes of values in [-2, 2] (``records.quantize``); the video-level
features are the means of the dequantized frames. Values outside that range are refused, naming the video and
feature, with their range. Anything wrong (a ragged width, NaN, an unknown label, a duplicate id, an empty video, a
video without labels or labels without a video) is named by file and row, and nothing is left behind: the dataset is
written beside ``OUT`` and renamed into place only when complete.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from y8m_models import atomic
from y8m_models.data.errors import Y8MDataError
from y8m_models.data.layout import FeatureLayout, write_layout
from y8m_models.data.records import FeatureSpec, dequantize, quantize
from y8m_models.data.splits import SPLITS
from y8m_models.data.synthetic import file_capacity, file_names
from y8m_models.data.vocabulary import VOCABULARY_FILE, read_vocabulary
from y8m_models.data.writer import RecordWriter

RATIOS = (0.6, 0.06, 0.16, 0.1, 0.08)  # the `paper` synthetic dataset's shares of train1 .. test
SHARD_SIZE = 1024  # videos per TFRecord file
LOW, HIGH = -2.0, 2.0  # the 8-bit codes' range


class ConvertError(Y8MDataError):
    """Input that cannot become a dataset; the message names the file and row (or the option)."""


@dataclass
class Labelled:
    labels: list[int]
    split: str | None
    line: int  # in the labels CSV, for the messages


@dataclass
class Converted:
    out: Path
    videos: dict[str, int]  # per split
    frames: int
    classes: int
    layout: FeatureLayout
    seconds: float

    def to_dict(self) -> dict:
        return {"out": str(self.out), "videos": self.videos, "frames": self.frames, "classes": self.classes,
                "features": self.layout.to_json(), "seconds": round(self.seconds, 2)}


# ------------------------------------------------------------------------------------------------- features

def _npy_folder(folder: Path, names: Sequence[str] | None) -> Iterator[tuple[str, list[str], list[np.ndarray], str]]:
    files = sorted(p for p in folder.iterdir() if p.suffix in (".npy", ".npz") and p.is_file())
    if not files:
        raise ConvertError(folder, "no .npy or .npz files (one per video, named VIDEO_ID.npy or VIDEO_ID.npz)")
    for path in files:
        if path.suffix == ".npy" and names and len(names) > 1:
            raise ConvertError(path, f"a .npy file holds one feature; --names gives {len(names)} ({', '.join(names)})")
        try:
            if path.suffix == ".npy":
                arrays = {(names or ["features"])[0]: np.load(path, allow_pickle=False)}
            else:
                with np.load(path, allow_pickle=False) as loaded:
                    arrays = {key: loaded[key] for key in loaded.files}
        except (OSError, ValueError) as exc:
            raise ConvertError(path, f"not a numpy array file ({type(exc).__name__}: {exc})") from None
        order = list(names) if names and path.suffix == ".npz" else list(arrays)
        missing = [n for n in order if n not in arrays]
        if missing:
            raise ConvertError(path, f"no array named {', '.join(missing)} (it holds {', '.join(arrays) or 'none'})")
        yield path.stem, order, [arrays[n] for n in order], str(path)


def _parquet(path: Path, names: Sequence[str] | None) -> Iterator[tuple[str, list[str], list[np.ndarray], str]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except Exception as exc:  # pyarrow raises its own ArrowInvalid, OSError ...
        raise ConvertError(path, f"not a Parquet table ({type(exc).__name__}: {exc})") from None
    columns = table.column_names
    for needed in ("video_id", "frame"):
        if needed not in columns:
            raise ConvertError(path, f"no column {needed!r}: expected video_id, frame and one list column per "
                                     f"feature (found {', '.join(columns)})")
    order = list(names) if names else [c for c in columns if c not in ("video_id", "frame")]
    missing = [n for n in order if n not in columns]
    if missing or not order:
        raise ConvertError(path, f"no feature column {', '.join(missing) or '(none)'} (found {', '.join(columns)})")
    values, offsets = {}, {}
    for name in order:
        column = table.column(name).combine_chunks()
        kind = column.type
        if not (pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind)) or not (
                pa.types.is_floating(kind.value_type) or pa.types.is_integer(kind.value_type)):
            raise ConvertError(path, f"column {name!r} is {kind}: a feature column holds each frame's values as a "
                                     "list of numbers")
        if column.null_count:
            raise ConvertError(path, f"column {name!r}: row {column.is_null().index(True).as_py()} is empty")
        if pa.types.is_fixed_size_list(kind):
            offsets[name] = np.arange(len(column) + 1) * kind.list_size
        else:
            offsets[name] = column.offsets.to_numpy()
        values[name] = column.flatten().to_numpy(zero_copy_only=False)
    ids = table.column("video_id").to_pylist()
    frames = table.column("frame").to_pylist()
    rows: dict[str, list[int]] = {}
    for row, video in enumerate(ids):
        if video is None or frames[row] is None:
            raise ConvertError(path, f"row {row}: video_id or frame is empty")
        rows.setdefault(str(video), []).append(row)
    for video, at in rows.items():
        at.sort(key=lambda r: frames[r])
        seen = [frames[r] for r in at]
        if len(set(seen)) != len(seen):
            raise ConvertError(path, f"video {video!r}: frame {Counter(seen).most_common(1)[0][0]} appears twice")
        arrays = []
        for name in order:
            starts, ends = offsets[name][at], offsets[name][np.asarray(at) + 1]
            widths = set((ends - starts).tolist())
            if len(widths) != 1:
                raise ConvertError(path, f"video {video!r}: feature {name!r} has frames of widths {sorted(widths)}")
            arrays.append(np.stack([values[name][a:b] for a, b in zip(starts, ends, strict=True)]))
        yield video, order, arrays, f"{path} (video {video!r}, rows {at[0]}..)"


def _hdf5(path: Path, names: Sequence[str] | None) -> Iterator[tuple[str, list[str], list[np.ndarray], str]]:
    try:
        import h5py
    except ImportError:
        raise ConvertError(path, "reading HDF5 needs h5py (pip install h5py)") from None
    try:
        handle = h5py.File(path, "r")
    except OSError as exc:
        raise ConvertError(path, f"not an HDF5 file ({exc})") from None
    with handle:
        for video in handle:
            item = handle[video]
            where = f"{path}:/{video}"
            if isinstance(item, h5py.Dataset):
                if names and len(names) > 1:
                    raise ConvertError(where, f"a dataset per video holds one feature; --names gives {len(names)}")
                yield video, [(names or ["features"])[0]], [item[()]], where
                continue
            order = list(names) if names else sorted(item)
            missing = [n for n in order if n not in item]
            if missing:
                raise ConvertError(where, f"no dataset named {', '.join(missing)} (it holds {', '.join(item)})")
            yield video, order, [item[n][()] for n in order], where


def read_features(source: Path, names: Sequence[str] | None = None
                  ) -> Iterator[tuple[str, list[str], list[np.ndarray], str]]:
    """(video id, feature names, arrays, where) per video of ``source`` (a folder, .parquet, .h5/.hdf5)."""
    if source.is_dir():
        return _npy_folder(source, names)
    if source.suffix == ".parquet":
        return _parquet(source, names)
    if source.suffix in (".h5", ".hdf5"):
        return _hdf5(source, names)
    if not source.exists():
        raise ConvertError(source, "does not exist")
    raise ConvertError(source, "expected a folder of .npy/.npz files, a .parquet table or an .h5/.hdf5 file")


def checked_frames(names: list[str], arrays: list[np.ndarray], where: str,
                   layout: FeatureSpec | None, clipped: bool = False) -> list[np.ndarray]:
    """The video's features as float64 [frames, width], each checked: two dimensions, at least one frame, the
    same frames for every feature, the layout's widths, finite, within the 8-bit codes' range (unless
    ``clipped``: the codes clip them, as the official extractor's)."""
    if layout is not None and names != list(layout.names):
        raise ConvertError(where, f"features {', '.join(names)}; the first video has {', '.join(layout.names)}")
    out, frames = [], None
    for k, (name, array) in enumerate(zip(names, arrays, strict=True)):
        x = np.asarray(array)
        if x.dtype.kind not in "fiu" or x.ndim != 2:
            raise ConvertError(where, f"feature {name!r}: expected numbers of shape [frames, width], not "
                                      f"{x.dtype} {list(x.shape)}")
        if x.shape[0] == 0 or x.shape[1] == 0:
            raise ConvertError(where, f"feature {name!r} is empty (shape {list(x.shape)}): a video has at least one "
                                      "frame")
        if frames is not None and x.shape[0] != frames:
            raise ConvertError(where, f"feature {name!r} has {x.shape[0]} frames, {names[0]!r} {frames}")
        frames = x.shape[0]
        if layout is not None and x.shape[1] != layout.sizes[k]:
            raise ConvertError(where, f"feature {name!r} is {x.shape[1]} wide; the first video's is "
                                      f"{layout.sizes[k]} (every video has the same widths)")
        x = x.astype(np.float64)
        bad = ~np.isfinite(x)
        if bad.any():
            t, d = np.argwhere(bad)[0]
            raise ConvertError(where, f"feature {name!r}: frame {t}, value {d} is {x[t, d]} (NaN or infinite)")
        low, high = float(x.min()), float(x.max())
        if not clipped and (low < LOW or high > HIGH):
            raise ConvertError(where, f"feature {name!r} has values from {low:.4g} to {high:.4g}, outside [-2, 2], "
                                      "the range of YouTube-8M's 8-bit codes: scale the features into it (dividing "
                                      "by max |x| / 2, say) and convert again")
        out.append(x)
    return out


# --------------------------------------------------------------------------------------------------- labels

def read_labels(path: Path, vocabulary: Path | None) -> tuple[dict[str, Labelled], list[str]]:
    """Each video's labels (class indices) and split from the labels CSV, and the vocabulary's names."""
    known = list(read_vocabulary(vocabulary).names) if vocabulary else None
    index = {name: i for i, name in enumerate(known)} if known else {}
    rows: dict[str, tuple[list[str], str | None, int]] = {}
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:  # -sig: a spreadsheet's byte-order mark
            reader = csv.DictReader(handle)
            fields = reader.fieldnames or []
            key = next((k for k in ("video_id", "id") if k in fields), None)
            if key is None or "labels" not in fields:
                raise ConvertError(path, "expected a header video_id,labels[,split]; found "
                                         f"{','.join(fields) or 'none'}")
            for line, row in enumerate(reader, start=2):
                video = (row[key] or "").strip()
                if not video or "," in video:
                    raise ConvertError(path, f"line {line}: video_id {video!r} is empty or holds a comma")
                if video in rows:
                    raise ConvertError(path, f"line {line}: video {video!r} is listed twice (first on line "
                                             f"{rows[video][2]})")
                text = (row["labels"] or "").strip()
                tokens = [t.strip() for t in text.split(";")] if ";" in text else (
                    text.split() if text and all(t.isdigit() for t in text.split()) else [text] if text else [])
                split = (row.get("split") or "").strip() or None
                if split is not None and split not in SPLITS:
                    raise ConvertError(path, f"line {line}: split {split!r} is not one of {', '.join(SPLITS)}")
                rows[video] = ([t for t in tokens if t], split, line)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ConvertError(path, f"not a readable labels CSV ({type(exc).__name__}: {exc})") from None
    if not rows:
        raise ConvertError(path, "no videos")
    if known is None:  # made from the labels: ids as they are, names by frequency
        tokens = [t for labels, _, _ in rows.values() for t in labels]
        if tokens and all(t.isdigit() for t in tokens):
            known = [f"class {i}" for i in range(max(int(t) for t in tokens) + 1)]
        else:
            counts = Counter(tokens)
            known = sorted(counts, key=lambda name: (-counts[name], name))
            index = {name: i for i, name in enumerate(known)}
    out = {}
    for video, (labels, split, line) in rows.items():
        ids = []
        for token in labels:
            if token in index:
                ids.append(index[token])
            elif token.isdigit() and int(token) < len(known):
                ids.append(int(token))
            else:
                where = f"the vocabulary {vocabulary}" if vocabulary else "the labels"
                raise ConvertError(path, f"line {line}: label {token!r} is not in {where}")
        if not ids and split != "test":
            raise ConvertError(path, f"line {line}: video {video!r} has no labels (only a test video may have none)")
        out[video] = Labelled(sorted(set(ids)), split, line)
    return out, known


def assign_splits(videos: dict[str, Labelled], ratios: Sequence[float], seed: int, labels: Path) -> dict[str, str]:
    """Each video's split: its ``split`` column, else drawn by ``ratios`` (train1 .. test), seeded."""
    given = {v: x.split for v, x in videos.items() if x.split}
    if given and len(given) != len(videos):
        first = next(x for x in videos.values() if not x.split)
        raise ConvertError(labels, f"line {first.line}: no split, where other lines name one (all or none)")
    if given:
        return given
    if len(ratios) != len(SPLITS) or any(r <= 0 for r in ratios):
        raise ConvertError("--ratios", f"five positive shares of train1, validate1, train2, validate2, test, not "
                                       f"{list(ratios)}")
    if len(videos) < len(SPLITS):
        raise ConvertError(labels, f"{len(videos)} videos cannot fill the five splits")
    order = sorted(videos)
    np.random.default_rng(seed).shuffle(order)
    counts = shares_of(len(order), ratios)
    out, start = {}, 0
    for split, count in zip(SPLITS, counts, strict=True):
        out.update({v: split for v in order[start:start + count]})
        start += count
    return out


def shares_of(n: int, ratios: Sequence[float]) -> np.ndarray:
    """``n`` split by ``ratios`` into whole counts of at least 1 each (n >= len(ratios)): each share rounded down,
    at least 1, the largest lowered while the sum is over n, the rest to the largest remainders."""
    exact = np.asarray(ratios, np.float64) / sum(ratios) * n
    counts = np.maximum(1, np.floor(exact).astype(int))
    while counts.sum() > n:
        counts[np.argmax(counts)] -= 1
    for k in np.argsort(-(exact - np.floor(exact)), kind="stable")[: n - counts.sum()]:
        counts[k] += 1
    return counts


# ---------------------------------------------------------------------------------------------------- write

def convert(features: Path, labels: Path, out: Path, *, names: Sequence[str] | None = None,
            vocabulary: Path | None = None, ratios: Sequence[float] = RATIOS, seed: int = 0,
            shard_size: int = SHARD_SIZE) -> Converted:
    """Write the dataset at ``out`` (which must not exist, or be an empty folder); ``ConvertError`` naming the
    input otherwise, with nothing written."""
    start = time.perf_counter()
    if not atomic.new_or_empty(out):
        raise ConvertError(out, "exists and is not an empty folder: choose a new one")
    if shard_size < 1:
        raise ConvertError("--shard-size", f"must be at least 1, not {shard_size}")
    labelled, known = read_labels(labels, vocabulary)
    splits = assign_splits(labelled, ratios, seed, labels)
    for split, count in Counter(splits.values()).items():
        files = -(-count // shard_size)
        if files > file_capacity(split):
            raise ConvertError("--shard-size", f"{count:,} {split} videos in files of {shard_size:,} are {files:,} "
                                               f"files; the split's Table 1 glob names at most "
                                               f"{file_capacity(split):,}: a larger --shard-size")
    with atomic.folder_in_place(out) as partial:
        layout, counts, frames = write_records(read_features(features, names), labelled, splits, partial, shard_size,
                                               labels)
        write_vocabulary(partial, known, vocabulary)
        write_layout(partial, layout)
        atomic.write_text(partial / "convert.json", json.dumps({
            "features": str(features.resolve()), "labels": str(labels.resolve()), "vocabulary": str(vocabulary or ""),
            "ratios": list(ratios), "seed": seed, "videos": counts, "frames": frames}, indent=1))
    return Converted(out, counts, frames, len(known), layout, time.perf_counter() - start)


def write_vocabulary(folder: Path, known: Sequence[str], vocabulary: Path | None) -> None:
    """``folder/vocabulary.csv``: a copy of ``vocabulary``, else made from the names ``known`` (Index, Name)."""
    if vocabulary:
        shutil.copyfile(vocabulary, folder / VOCABULARY_FILE)
        return
    text = io.StringIO()
    csv.writer(text, lineterminator="\n").writerows([("Index", "Name"), *enumerate(known)])
    atomic.write_text(folder / VOCABULARY_FILE, text.getvalue())


def write_records(videos: Iterator[tuple[str, list[str], list[np.ndarray], str]], labelled: dict[str, Labelled],
                  splits: dict[str, str], out: Path, shard_size: int, labels_csv: Path | str,
                  extracted: bool = False) -> tuple[FeatureLayout, dict[str, int], int]:
    """Each video's frame and video records into ``out``'s files of its split; the layout, videos per split and
    frames. ``extracted``: the values are an extractor's (clipped by the codes; the video-level features are the
    means of the values, as the official extractor's), else a user's (refused outside [-2, 2]; the means of the
    dequantized codes, which the frame-level models read)."""
    counts = dict.fromkeys(SPLITS, 0)
    layout: FeatureLayout | None = None
    seen: dict[str, str] = {}
    frames = 0
    with ExitStack() as stack:
        writers: dict[str, tuple[RecordWriter, RecordWriter]] = {}
        for video, names, arrays, where in videos:
            if video in seen:
                raise ConvertError(where, f"video {video!r} appears twice (first in {seen[video]})")
            seen[video] = where
            if video not in labelled:
                raise ConvertError(where, f"video {video!r} has no line in {labels_csv}")
            x = checked_frames(names, arrays, where, layout.frame if layout else None, clipped=extracted)
            if layout is None:
                layout = FeatureLayout.from_json(
                    {"frame": [{"name": n, "size": a.shape[1]} for n, a in zip(names, x, strict=True)],
                     "video": [{"name": f"mean_{n}", "size": a.shape[1]} for n, a in zip(names, x, strict=True)]},
                    where)
            split = splits[video]
            if counts[split] % shard_size == 0:  # the next file of the split
                name = file_names(split, counts[split] // shard_size + 1)[-1]
                if split in writers:
                    for writer in writers[split]:
                        writer.close()
                writers[split] = (stack.enter_context(RecordWriter(out / "frame" / name, "frame", spec=layout.frame)),
                                  stack.enter_context(RecordWriter(out / "video" / name, "video", spec=layout.video)))
            # An extractor's float32 values are quantized in float32, as the official extractor's (a value near 0
            # sits at the codes' midpoint, where float32 and float64 arithmetic round apart).
            codes = [quantize(a.astype(np.float32) if extracted else a) for a in x]
            writers[split][0].write(video, labelled[video].labels, codes)
            means = [a.mean(0) for a in x] if extracted else [dequantize(c).mean(0) for c in codes]
            writers[split][1].write(video, labelled[video].labels, means)
            counts[split] += 1
            frames += x[0].shape[0]
    unmatched = sorted(set(labelled) - set(seen))
    if unmatched:
        line = labelled[unmatched[0]].line
        raise ConvertError(labels_csv, f"line {line}: video {unmatched[0]!r} has no features"
                                       + (f" ({len(unmatched)} such videos)" if len(unmatched) > 1 else ""))
    if layout is None:
        raise ConvertError(labels_csv, "no videos")
    return layout, counts, frames
