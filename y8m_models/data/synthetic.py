"""A synthetic YouTube-8M dataset in the real layout: the demo dataset and the test fixture.

``generate(out)`` writes::

    out/frame/<name>.tfrecord     SequenceExamples: uint8 codes rgb [T, 1024], audio [T, 128], T = 1..360
    out/video/<name>.tfrecord     Examples: mean_rgb / mean_audio = mean of the dequantized frame codes
    out/vocabulary.csv            the 2018 Kaggle columns; Index 0 is the most frequent label in train1
    out/synthetic.json            generator parameters and what each label is (kind, motifs, group, vertical)
    out/ground_truth.npz          per video: ids, true labels (before dropping), num_frames, filler frames

File names follow the 2017 release so that the paper's Table 1 globs split them: train1 ``train??``,
validate1 ``validate[a]?``, train2 ``validate[^a0-9]?``, validate2 ``validate[0-9]?``, test ``test??``
(the test split carries labels so that GAP can be shown on it). Videos are numbered in the sorted order of
the file names; the content of a video depends only on (seed, classes, knobs, its number), see
``synthetic_world.py`` for the generative model and ``thumbnails.py`` for pictures of its frames.

``ground_truth.npz`` (N videos in file order, F files): ``ids`` [N], ``files`` / ``splits`` [F],
``file_index`` [N], ``num_frames`` [N], ``true_labels`` and ``labels`` (written) [N, L] public ids padded
with -1, ``vertical`` [N], ``uninformative`` bool [N, 360] and ``filler_kind`` uint8 [N, 360] (0 content,
1 dark, 2 title card; 0 beyond num_frames).

Cost (demo preset, 12k videos, 1.3M frames, ~1.6 GB, 2 cores): ~21 s, of which ~30% is the
protobuf serialization in ``writer.py``, 40% the rendering and quantization of the features.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
import time
import warnings
import zipfile
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from y8m_models.data.records import dequantize, quantize
from y8m_models.data.splits import PAPER_GLOBS, SPLITS
from y8m_models.data.synthetic_world import (
    AUDIOVISUAL,
    FILLER_NONE,
    GROUP,
    KINDS,
    MAX_LENGTH,
    ORDER,
    VERTICALS,
    Knobs,
    VideoPlan,
    World,
    build_world,
    plan_video,
    render_video,
)

VERSION = 1
ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-_"  # file-name and id characters
SPLIT_FRACTIONS = {"train1": 0.60, "validate1": 0.06, "train2": 0.16, "validate2": 0.10, "test": 0.08}
_TRAIN2_FIRST = [c for c in ALPHABET if c != "a" and not c.isdigit()]  # `validate[^a0-9]?`
_ID_BITS = 24  # 4 id characters of 6 bits, as the real 4-character ids
VOCABULARY_COLUMNS = ("Index", "TrainVideoCount", "KnowledgeGraphId", "Name", "WikiUrl", "Vertical1",
                      "Vertical2", "Vertical3", "WikiDescription")


@dataclass(frozen=True)
class Preset:
    videos: int
    classes: int
    files: dict[str, int]  # files per split (train1 several, so DataLoader workers can shard)
    knobs: Knobs


PRESETS = {
    # The tests' dataset (called "tiny" before December 2026, the name of a model preset too).
    "micro": Preset(400, 60, {"train1": 4, "validate1": 1, "train2": 2, "validate2": 1, "test": 1},
                   Knobs(median_length=30)),
    "demo": Preset(12000, 300, {"train1": 8, "validate1": 2, "train2": 4, "validate2": 2, "test": 2}, Knobs()),
    # Small and easy (less noise, stronger motifs, a third of the labels in order pairs): models at the tiny
    # preset learn in a few hundred steps. The model-zoo learning tests and bench/bench_learning.py use it.
    "easy": Preset(3000, 16, {"train1": 4, "validate1": 1, "train2": 2, "validate2": 1, "test": 1},
                   Knobs(median_length=20, pair_fraction=0.34, frame_noise=0.25, motif_rgb=0.5, motif_audio=0.6,
                         distractors=0.5, scene=0.15, style=0.1)),
    # The paper in miniature (`y8m paper`): each mechanism of the paper strong enough to show in a
    # model trained for tens of seconds at the tiny preset. Half the labels defined by frame order, filler over
    # about a fifth of the frames, audio-only labels, groups, dropped labels; oracles in BENCHMARKS.md. Videos
    # at the tiny reader's scale (100 frames, a long 8% to 120), as the real ones are at the paper's 300 of 360.
    # Named after the command it is for (issue 15); `paper` is also the preset of the paper's model sizes.
    "paper": Preset(8000, 100, {"train1": 4, "validate1": 1, "train2": 2, "validate2": 1, "test": 1},
                    Knobs(median_length=40, pair_fraction=0.25, frame_noise=0.3, motif_rgb=0.35, motif_audio=0.5,
                          distractors=1.0, scene=0.2, style=0.15, group_fraction=0.1, filler=3.0,
                          reader_frames=100)),
}
RENAMED = {"tiny": "micro"}  # dataset presets renamed (ARCHITECTURE.md, glossary); the old names go next release


@dataclass(frozen=True)
class SynthSummary:
    out: Path
    files: dict[str, list[str]]  # split -> file names (e.g. "train00.tfrecord"), in each of frame/ and video/
    videos: dict[str, int]  # split -> videos
    classes: int
    frames: int  # frames written in all
    seconds: float


@dataclass(frozen=True)
class SynthConfig:
    """Everything a dataset is a function of (``synthetic.json`` holds it)."""

    preset: str
    seed: int
    videos: int
    classes: int
    knobs: Knobs
    files: dict[str, int] = field(hash=False)  # files per split
    id_key: str = "id"

    def world(self) -> World:
        return _world(self.seed, self.classes, self.knobs)


@lru_cache(maxsize=4)
def _world(seed: int, classes: int, knobs: Knobs) -> World:
    return build_world(seed, classes, knobs)


# -------------------------------------------------------------------------------------------- names, ids

def _chars(value: int, width: int) -> str:
    return "".join(ALPHABET[(value >> (6 * (width - 1 - i))) & 63] for i in range(width))


def file_capacity(split: str) -> int:
    """How many file names of a split its Table 1 glob allows (two characters after the prefix)."""
    first = {"train1": len(ALPHABET), "test": len(ALPHABET), "validate1": 1, "train2": len(_TRAIN2_FIRST),
             "validate2": 10}
    if split not in first:
        raise ValueError(f"unknown split {split!r}; splits are {', '.join(SPLITS)}")
    return first[split] * len(ALPHABET)


def file_names(split: str, count: int) -> list[str]:
    """``count`` file names of a split, matching its Table 1 glob (two characters after the prefix)."""
    if count > file_capacity(split):
        raise ValueError(f"{count} files of {split}: its Table 1 glob names at most {file_capacity(split)}")
    if split == "train1":
        return [f"train{_chars(i, 2)}.tfrecord" for i in range(count)]
    if split == "test":
        return [f"test{_chars(i, 2)}.tfrecord" for i in range(count)]
    if split == "validate1":
        return [f"validatea{ALPHABET[i]}.tfrecord" for i in range(count)]
    if split == "train2":
        return [f"validate{_TRAIN2_FIRST[i // 64]}{ALPHABET[i % 64]}.tfrecord" for i in range(count)]
    if split == "validate2":
        return [f"validate{i // 64}{ALPHABET[i % 64]}.tfrecord" for i in range(count)]
    raise ValueError(f"unknown split {split!r}; splits are {', '.join(SPLITS)}")


def _id_keys(seed: int) -> tuple[int, int]:
    """An odd multiplier and an offset: index -> id is a bijection on 24 bits that looks random."""
    mult, offset = np.random.default_rng([seed, 3]).integers(0, 1 << _ID_BITS, 2)
    return int(mult) | 1, int(offset)


def video_id(seed: int, index: int) -> str:
    mult, offset = _id_keys(seed)
    return _chars((index * mult + offset) % (1 << _ID_BITS), 4)


def video_index(config: SynthConfig, vid: str) -> int:
    """The number of the video with id ``vid`` (its position in the sorted file order)."""
    if len(vid) != 4 or any(c not in ALPHABET for c in vid):
        raise KeyError(f"{vid!r} is not a synthetic video id (4 characters of {ALPHABET})")
    key = sum(ALPHABET.index(c) << (6 * (3 - i)) for i, c in enumerate(vid))
    mult, offset = _id_keys(config.seed)
    index = ((key - offset) * pow(mult, -1, 1 << _ID_BITS)) % (1 << _ID_BITS)
    if index >= config.videos:
        raise KeyError(f"video id {vid!r} is not in this dataset (seed {config.seed}, {config.videos} videos)")
    return index


def _label_names(seed: int, classes: int) -> list[str]:
    """Readable invented names, unique, by internal label id."""
    rng = np.random.default_rng([seed, 4])
    syllables = ["ka", "lo", "mi", "ra", "ten", "vo", "shi", "du", "bel", "nor", "fa", "qui", "zen", "tor",
                 "li", "mar", "sa", "pe", "gro", "vin", "da", "ko", "re", "tu", "an", "el", "os", "ul"]
    names: list[str] = []
    seen: set[str] = set()
    while len(names) < classes:
        word = "".join(rng.choice(syllables, int(rng.integers(2, 4)))).capitalize()
        if word not in seen:
            seen.add(word)
            names.append(word)
    return names


# ------------------------------------------------------------------------------------------------ layout

@dataclass(frozen=True)
class _File:
    name: str
    split: str
    start: int  # first video number
    stop: int


def _layout(config: SynthConfig) -> list[_File]:
    """Files in sorted name order with the contiguous video numbers they hold."""
    n = config.videos
    counts = {p: max(config.files[p], round(SPLIT_FRACTIONS[p] * n)) for p in SPLITS[1:]}
    counts = {"train1": n - sum(counts.values()), **counts}
    if counts["train1"] < config.files["train1"]:
        raise ValueError(f"videos={n} is too few for {sum(config.files.values())} files; use at least "
                         f"{4 * sum(config.files.values())}")
    named = []
    for split in SPLITS:
        sizes = [len(a) for a in np.array_split(np.arange(counts[split]), config.files[split])]
        named += [(name, split, size) for name, size in zip(file_names(split, len(sizes)), sizes, strict=True)]
    files, start = [], 0
    for name, split, size in sorted(named):
        files.append(_File(name, split, start, start + size))
        start += size
    return files


def _public_ids(world: World, plans: list[VideoPlan], files: list[_File]) -> tuple[np.ndarray, np.ndarray]:
    """internal -> public label id (by written-label count in train1, most frequent first), and the counts
    by public id."""
    counts = np.zeros(world.classes, np.int64)
    for f in files:
        if f.split == "train1":
            for plan in plans[f.start:f.stop]:
                np.add.at(counts, plan.labels[plan.kept], 1)
    order = np.argsort(-counts, kind="stable")
    public = np.empty_like(order)
    public[order] = np.arange(world.classes)
    return public, counts[order]


# ---------------------------------------------------------------------------------------------- metadata

def _label_entries(world: World, public: np.ndarray, counts: np.ndarray, names: list[str]) -> list[dict]:
    entries: list[dict] = [{} for _ in range(world.classes)]
    partner = {}
    for a, b in world.slot_labels:
        if b >= 0:
            partner[int(a)], partner[int(b)] = int(public[b]), int(public[a])
    for i in range(world.classes):
        kind = int(world.kind[i])
        entry = {"index": int(public[i]), "name": names[i], "kind": KINDS[kind],
                 "vertical": VERTICALS[world.vertical[i]], "train_count": int(counts[public[i]])}
        if world.vertical2[i] >= 0:
            entry["vertical2"] = VERTICALS[world.vertical2[i]]
        if kind == ORDER:
            entry.update(first_motif=int(world.rgb_motif[i]), second_motif=int(world.second_motif[i]),
                         pair=partner[i])
        elif world.rgb_motif[i] >= 0:
            entry["rgb_motif"] = int(world.rgb_motif[i])
        if world.audio_motif[i] >= 0:
            entry["audio_motif"] = int(world.audio_motif[i])
        if kind == GROUP:
            entry["members"] = sorted(int(public[m]) for m in world.members[i])
        if world.group[i] >= 0:
            entry["group"] = int(public[world.group[i]])
        scale = world.knobs.audiovisual_scale if kind == AUDIOVISUAL else 1.0
        entry["amplitude"] = round(float(world.amplitude[i]) * scale, 4)  # of each of its motifs
        entries[public[i]] = entry
    return entries


def _describe(entry: dict) -> str:
    kind = entry["kind"]
    if kind == "order":
        return (f"Synthetic order label: rgb motif {entry['first_motif']} followed by motif "
                f"{entry['second_motif']} (label {entry['pair']} is the reverse order).")
    if kind == "group":
        return f"Synthetic group label: present whenever one of labels {entry['members']} is present."
    streams = {"visual": "the rgb stream only", "audio": "the audio stream only",
               "audiovisual": "both streams (each weaker)"}[kind]
    return f"Synthetic {kind} label, revealed by {streams}."


def _vocabulary_csv(entries: list[dict], seed: int) -> str:
    rng = np.random.default_rng([seed, 5])
    mids = ["/m/0" + "".join(rng.choice(list("0123456789bcdfghjklmnpqrstvwxyz_"), 5)) for _ in entries]
    buf = io.StringIO()
    out = csv.writer(buf, lineterminator="\n")
    out.writerow(VOCABULARY_COLUMNS)
    for entry, mid in zip(entries, mids, strict=True):
        out.writerow([entry["index"], entry["train_count"], mid, entry["name"],
                      f"https://en.wikipedia.org/wiki/{entry['name']}", entry["vertical"],
                      entry.get("vertical2", ""), "", _describe(entry)])
    return buf.getvalue()


def _save_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """``np.savez_compressed`` with a fixed timestamp, so that the same arrays give the same bytes."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, array in arrays.items():
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.asarray(array), allow_pickle=False)
            z.writestr(zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0)), buf.getvalue(),
                       compress_type=zipfile.ZIP_DEFLATED)


def _padded(rows: list[np.ndarray]) -> np.ndarray:
    out = np.full((len(rows), max(1, max(len(r) for r in rows))), -1, np.int32)
    for i, r in enumerate(rows):
        out[i, : len(r)] = r
    return out


def _ground_truth(config: SynthConfig, plans: list[VideoPlan], public: np.ndarray, files: list[_File]) -> dict:
    n = len(plans)
    filler = np.zeros((n, MAX_LENGTH), np.uint8)
    for i, plan in enumerate(plans):
        filler[i, : plan.num_frames] = plan.filler
    file_of = np.concatenate([np.full(f.stop - f.start, j, np.int16) for j, f in enumerate(files)])
    return {
        "ids": np.array([video_id(config.seed, i) for i in range(n)]),
        "files": np.array([f.name for f in files]),
        "splits": np.array([f.split for f in files]),
        "file_index": file_of,  # per video: index into `files` (and `splits`)
        "num_frames": np.array([p.num_frames for p in plans], np.int32),
        "true_labels": _padded([np.sort(public[p.labels]) for p in plans]),  # public ids, -1 padded
        "labels": _padded([np.sort(public[p.labels[p.kept]]) for p in plans]),  # as written
        "vertical": np.array([p.vertical for p in plans], np.int8),
        "uninformative": filler != FILLER_NONE,  # [N, 360]; False beyond num_frames
        "filler_kind": filler,  # 0 content, 1 dark, 2 title card
    }


# --------------------------------------------------------------------------------------------- generation

def _config(preset: str, videos: int | None, classes: int | None, seed: int, id_key: str,
            knobs: Knobs | None) -> SynthConfig:
    if preset in RENAMED:
        warnings.warn(f"the dataset preset {preset!r} is now {RENAMED[preset]!r}", DeprecationWarning, stacklevel=3)
        preset = RENAMED[preset]
    if preset not in PRESETS:
        raise ValueError(f"unknown dataset preset {preset!r}; dataset presets are {', '.join(PRESETS)}")
    base = PRESETS[preset]
    videos = base.videos if videos is None else int(videos)
    classes = base.classes if classes is None else int(classes)
    if videos < 20 or videos >= 1 << _ID_BITS:
        raise ValueError(f"videos must be in 20..{(1 << _ID_BITS) - 1} (got {videos})")
    if id_key not in ("id", "video_id"):
        raise ValueError(f"id_key must be 'id' (2018+) or 'video_id' (2017), not {id_key!r}")
    return SynthConfig(preset, int(seed), videos, classes, knobs or base.knobs, dict(base.files), id_key)


def _check_target(out: Path) -> None:
    """Refuse to mix with foreign files: ``out`` must be absent, empty or an earlier synthetic dataset (whose
    ``synthetic.json`` names only record files: ``_earlier_files``)."""
    if out.exists() and not (out / "synthetic.json").exists() and any(out.iterdir()):
        raise FileExistsError(f"{out} is not empty and holds no synthetic.json; choose an empty directory")
    if (out / "synthetic.json").exists():
        _earlier_files(out / "synthetic.json")


def _earlier_files(meta: Path) -> list[str]:
    """The record files an earlier generation's ``synthetic.json`` lists, each checked to be a plain
    ``*.tfrecord`` name (no folder, no ``..``), so that the clean-up deletes nothing else; ValueError naming the
    file and entry otherwise, before anything is deleted."""
    try:
        entries = json.loads(meta.read_text(encoding="utf-8")).get("files", [])
        names = [entry["name"] for entry in entries]
    except (OSError, ValueError, AttributeError, KeyError, TypeError) as exc:
        raise ValueError(f"{meta}: not an earlier synthetic dataset's manifest ({type(exc).__name__}: {exc}); "
                         "remove it or choose an empty directory") from None
    for name in names:
        if not (isinstance(name, str) and name == Path(name).name and name.endswith(".tfrecord")
                and name not in (".tfrecord", "..")):
            raise ValueError(f"{meta}: file entry {name!r} is not a record file name of this dataset (a plain "
                             "*.tfrecord name); nothing was deleted")
    return names


def _publish(staging: Path, out: Path) -> None:
    """Move a finished dataset from ``staging`` into ``out``, replacing an earlier synthetic dataset's files;
    synthetic.json goes last, so its presence means the dataset is complete."""
    _check_target(out)
    meta = out / "synthetic.json"
    if meta.exists():  # the earlier dataset's own files, which may be named differently
        earlier = _earlier_files(meta)
        meta.unlink()
        for name in earlier:
            for level in ("frame", "video"):
                (out / level / name).unlink(missing_ok=True)
    for level in ("frame", "video"):
        (out / level).mkdir(parents=True, exist_ok=True)
        for path in sorted((staging / level).iterdir()):
            path.replace(out / level / path.name)
        (staging / level).rmdir()
    for name in ("vocabulary.csv", "ground_truth.npz", "synthetic.json"):
        (staging / name).replace(out / name)
    staging.rmdir()


def _write_file(out: Path, f: _File, config: SynthConfig, world: World, plans: list[VideoPlan],
                public: np.ndarray) -> int:
    from y8m_models.data.writer import RecordWriter  # the tfrecord package imports torch: only when writing

    frames = 0
    with RecordWriter(out / "frame" / f.name, "frame", config.id_key) as fw, \
            RecordWriter(out / "video" / f.name, "video", config.id_key) as vw:
        for plan in plans[f.start:f.stop]:
            rgb, audio = render_video(world, plan)
            codes = (quantize(rgb), quantize(audio))
            # video level = what the official reader would average: dequantized codes, all frames
            means = [dequantize(c).mean(axis=0, dtype=np.float64).astype(np.float32) for c in codes]
            vid = video_id(config.seed, plan.index)
            labels = np.sort(public[plan.labels[plan.kept]]).tolist()
            fw.write(vid, labels, codes)
            vw.write(vid, labels, means)
            frames += plan.num_frames
    return frames


def generate(out: Path, preset: str = "micro", videos: int | None = None, classes: int | None = None,
             seed: int = 0, id_key: str = "id", *, knobs: Knobs | None = None) -> SynthSummary:
    """Write a synthetic dataset to ``out`` (see the module docstring); byte-identical for equal arguments.

    ``videos`` / ``classes`` override the preset; ``knobs`` replaces the preset's difficulty settings.
    """
    start = time.perf_counter()
    out = Path(out)
    config = _config(preset, videos, classes, seed, id_key, knobs)
    world = config.world()
    files = _layout(config)
    plans = [plan_video(world, i) for i in range(config.videos)]
    public, counts = _public_ids(world, plans, files)
    _check_target(out)
    # Written aside first: an interrupted run leaves no half dataset that looks complete.
    staging = out.parent / f".{out.name}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    frames = sum(_write_file(staging, f, config, world, plans, public) for f in files)

    entries = _label_entries(world, public, counts, _label_names(config.seed, world.classes))
    (staging / "vocabulary.csv").write_text(_vocabulary_csv(entries, config.seed), encoding="utf-8")
    meta = {
        "generator": "y8m_models.data.synthetic", "version": VERSION, "preset": config.preset,
        "seed": config.seed, "videos": config.videos, "classes": config.classes, "id_key": config.id_key,
        "knobs": config.knobs.to_json(), "files_per_split": config.files,
        "splits": {p: {"glob": PAPER_GLOBS[p], "files": [f.name for f in files if f.split == p],
                      "videos": sum(f.stop - f.start for f in files if f.split == p)} for p in SPLITS},
        "files": [{"name": f.name, "split": f.split, "first": f.start, "videos": f.stop - f.start} for f in files],
        "kinds": {k: [e["index"] for e in entries if e["kind"] == k] for k in KINDS},
        "labels": entries,
    }
    (staging / "synthetic.json").write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
    _save_npz(staging / "ground_truth.npz", _ground_truth(config, plans, public, files))
    _publish(staging, out)
    return SynthSummary(out, {p: meta["splits"][p]["files"] for p in SPLITS},
                        {p: meta["splits"][p]["videos"] for p in SPLITS}, world.classes, frames,
                        time.perf_counter() - start)


# ------------------------------------------------------------------------------------- reading it back

def load_config(dataset_dir: Path) -> SynthConfig:
    """The parameters of a generated dataset, from its synthetic.json."""
    path = Path(dataset_dir) / "synthetic.json"
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: {dataset_dir} is not a synthetic dataset")
    return _load_config(str(path.resolve()), path.stat().st_mtime_ns)


@lru_cache(maxsize=8)
def _load_config(path: str, mtime_ns: int) -> SynthConfig:
    meta = json.loads(Path(path).read_text(encoding="utf-8"))
    if meta.get("version") != VERSION:
        raise ValueError(f"{path}: synthetic dataset version {meta.get('version')}, this code reads {VERSION}")
    return SynthConfig(meta["preset"], meta["seed"], meta["videos"], meta["classes"],
                       Knobs.from_json(meta["knobs"]), meta.get("files_per_split") or meta["files_per_part"],
                       meta["id_key"])  # files_per_part: the name before December 2026


def regenerate_video(dataset_dir: Path, vid: str) -> tuple[VideoPlan, np.ndarray, np.ndarray]:
    """Plan and uint8 codes (rgb [T, 1024], audio [T, 128]) of one video, recomputed without the records."""
    config = load_config(dataset_dir)
    world = config.world()
    plan = plan_video(world, video_index(config, vid))
    rgb, audio = render_video(world, plan)
    return plan, quantize(rgb), quantize(audio)
