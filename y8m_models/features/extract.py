"""``y8m data extract``: a user's videos -> a dataset in the YouTube-8M layout, as YouTube-8M's features were
made: frames at 1 per second (the first 360 s) through an image network (Inception-v3's 2048-d pool by default),
0.96 s log-mel patches through VGGish, PCA with whitening to 1024 + 128 dimensions and 8-bit codes
(``features.pca``), video-level features the means of the frames'; plus a thumbnail per frame
(``frames/VIDEO_ID/SECOND.jpg``) for the attention gallery.

Resumable per video: each video's network outputs go to a cache beside ``OUT`` (``.OUT.extract/``) as soon as it
is done, so a killed extraction goes on at the next video; the dataset is written (all or nothing, as ``convert``)
once every video is in, with the PCA given (``--pca``) or fitted on them, and the cache removed.

``extract.json`` in the dataset records how it was made (networks, weights, PCA, frames per video, time per
stage); ``ExtractOptions.like(DATASET)`` extracts more videos the same way (the same PCA), as "Try a video" does
for a trained run's dataset: features made otherwise are not comparable.

A video without an audio stream gets the features of silence (VGGish on zeros) and is listed as such.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from y8m_models import atomic
from y8m_models.data.convert import RATIOS, Labelled, assign_splits, read_labels, write_records, write_vocabulary
from y8m_models.data.layout import write_layout
from y8m_models.features import pca as pcas
from y8m_models.features import vggish
from y8m_models.features.options import (
    EXTRACT_FILE,
    FRAMES_DIR,
    PCA_DIR,
    ExtractError,
    ExtractOptions,
    Progress,
)
from y8m_models.features.video import (
    SAMPLE_RATE,
    VideoError,
    audio_track,
    check_video,
    sampled_frames,
    video_files,
    video_id,
)

AUDIO_PCA_FILES = ("vggish_pca_params.npz", vggish.PCA_CHECKPOINT)
BATCH = 32  # frames per image-network call


@dataclass
class Extracted:
    out: Path
    videos: dict[str, int]  # per split
    frames: int
    silent: list[str]  # videos without audio
    pca: dict[str, str]  # where each stream's PCA came from
    seconds: dict[str, float] = field(default_factory=dict)  # decode, image, audio, pca, write, total

    def to_dict(self) -> dict:
        return {"out": str(self.out), "videos": self.videos, "frames": self.frames, "silent": self.silent,
                "pca": self.pca, "seconds": {k: round(v, 3) for k, v in self.seconds.items()}}


# ---------------------------------------------------------------------------------------- one video's outputs

class _Networks:
    def __init__(self, options: ExtractOptions):
        from y8m_models.features.networks import audio_network, image_network

        weights = Path(options.weights) if options.weights else None
        self.image = image_network(options.image_network, weights, random=options.random_weights,
                                   device=options.device)
        self.audio = audio_network(Path(options.audio_weights) if options.audio_weights else None,
                                   random=options.random_weights, device=options.device) if options.audio else None


def _thumbnail(frame: object, width: int, folder: Path, second: int) -> None:
    height = max(2, round(width * frame.height / frame.width / 2) * 2)  # even, for the pixel formats
    frame.to_image(width=width, height=height).save(folder / f"{second}.jpg", quality=85)


def _one_video(path: Path, networks: _Networks, options: ExtractOptions, cache: Path, seconds: dict[str, float],
               tell: Callable[[int, str], None]) -> None:
    """``cache/videos/ID.npz`` (rgb [T, D], audio [T, 128] raw network outputs, seconds [T]) and thumbnails."""
    vid = video_id(path)
    frames_dir = cache / FRAMES_DIR / vid
    if options.thumbnail:
        frames_dir.mkdir(parents=True, exist_ok=True)
    size = networks.image.size
    rgb, times, batch = [], [], []
    start = time.perf_counter()
    for t, frame in sampled_frames(path, options.max_frames):
        batch.append(frame.to_ndarray(width=size, height=size, format="rgb24"))
        if options.thumbnail:
            _thumbnail(frame, options.thumbnail, frames_dir, len(times))
        times.append(t)
        if len(batch) == BATCH:
            seconds["decode"] += time.perf_counter() - start
            start = time.perf_counter()
            rgb.append(networks.image.features(np.stack(batch)))
            seconds["image"] += time.perf_counter() - start
            batch = []
            tell(len(times), "decode")
            start = time.perf_counter()
    seconds["decode"] += time.perf_counter() - start
    if batch:
        start = time.perf_counter()
        rgb.append(networks.image.features(np.stack(batch)))
        seconds["image"] += time.perf_counter() - start
    if not times:
        raise VideoError(path, "has no frames to decode")
    arrays = {"rgb": np.concatenate(rgb).astype(np.float32), "seconds": np.asarray(times, np.float64)}
    if networks.audio is not None:
        tell(len(times), "audio")
        start = time.perf_counter()
        track = audio_track(path, times[-1] + vggish.PATCH_SAMPLES / SAMPLE_RATE)
        arrays["has_audio"] = np.array(track is not None)
        track = np.zeros(0, np.float32) if track is None else track  # silence
        arrays["audio"] = networks.audio.features(vggish.log_mel_patches(track, times))
        seconds["audio"] += time.perf_counter() - start
    atomic.save_npz(cache / "videos" / f"{vid}.npz", **arrays)


def _open_cache(cache: Path, options: ExtractOptions) -> None:
    settings = cache / "options.json"
    wanted = options.cached()
    if settings.is_file():
        made = json.loads(settings.read_text(encoding="utf-8"))
        if made != wanted:
            changed = sorted(k for k in set(made) | set(wanted) if made.get(k) != wanted.get(k))
            raise ExtractError(cache, f"holds videos extracted with other options ({', '.join(changed)}): extract "
                                      "with those, or remove the folder to start again")
        return
    (cache / "videos").mkdir(parents=True, exist_ok=True)
    atomic.write_text(settings, json.dumps(wanted, indent=1))


# ------------------------------------------------------------------------------------------------------ PCA

def _pca_folder(given: Path) -> Path:
    return given / PCA_DIR if (given / PCA_DIR).is_dir() else given


def _rgb_pca(options: ExtractOptions, cached: list[Path], width: int) -> pcas.Pca:
    if options.pca:
        return pcas.load_official(_pca_folder(Path(options.pca)), width)
    return _fit(cached, "rgb", width)


def _audio_pca(options: ExtractOptions, cached: list[Path]) -> pcas.Pca:
    if options.pca:
        folder = _pca_folder(Path(options.pca))
        found = next((folder / name for name in AUDIO_PCA_FILES if (folder / name).is_file()), None)
        if found is not None:
            return pcas.load_vggish(found)
    pca = _fit(cached, "audio", vggish.WIDTH)
    # Stored as VGGish's parameters are: the whitening folded into the vectors.
    return pcas.Pca(pca.mean_D, pca.vectors_KD / np.sqrt(pca.values_K + pcas.EPSILON)[:, None], None, pca.source)


def _fit(cached: list[Path], stream: str, width: int) -> pcas.Pca:
    """Fitted on every frame of the cached videos, their covariance accumulated video by video."""
    total, count, outer = None, 0, None
    for path in cached:
        with np.load(path) as loaded:
            x = loaded[stream].astype(np.float64)
        total = x.sum(0) if total is None else total + x.sum(0)
        outer = x.T @ x if outer is None else outer + x.T @ x
        count += len(x)
    if count < 2:
        raise pcas.PcaError(stream, f"cannot fit a PCA on {count} frame: give the official files with --pca, or "
                                    "more videos")
    source = f"fitted on {count} frames of {len(cached)} videos" + (
        f" (only {count - 1} of its {min(width, len(total))} components carry information: more videos, or a "
        "smaller width)" if count - 1 < min(width, len(total)) else "")
    mean = total / count
    covariance = (outer - count * np.outer(mean, mean)) / (count - 1)
    return pcas.from_covariance(mean, covariance, min(width, len(mean)), source)


# --------------------------------------------------------------------------------------------------- whole

def extract(videos: list[Path], out: Path, *, labels: Path | None = None, vocabulary: Path | None = None,
            options: ExtractOptions = ExtractOptions(), ratios: tuple[float, ...] | None = None, seed: int = 0,
            shard_size: int = 1024, progress: Callable[[Progress], None] | None = None,
            keep_cache: bool = False) -> Extracted:
    """Extract ``videos`` (files, or folders of them) into the dataset ``out`` (new, or an empty folder).

    With ``labels`` (a CSV video_id,labels[,split] as ``convert``'s; the id is the file name without its suffix)
    the videos are split as ``convert`` splits them; without, every video is a test video without labels (to
    predict on), and ``vocabulary`` names the classes where given."""
    begun = time.perf_counter()
    if not atomic.new_or_empty(out):
        raise ExtractError(out, "exists and is not an empty folder: choose a new one")
    files = video_files(videos)
    if not files:
        raise ExtractError("VIDEOS", "no videos given")
    ids: dict[str, Path] = {}
    for path in files:
        if video_id(path).startswith(".") or ".." in video_id(path):
            raise ExtractError(path, "a video's id is its file name without the suffix: rename it without a leading "
                                     "'.' or '..' in it")
        check_video(path)
        if video_id(path) in ids:
            raise ExtractError(path, f"has the id {video_id(path)!r} of {ids[video_id(path)]} (a video's id is its "
                                     "file name without the suffix): rename one")
        ids[video_id(path)] = path
    if options.max_frames < 1 or options.rgb_width < 1 or options.thumbnail < 0:
        raise ExtractError("options", f"max_frames {options.max_frames} and rgb_width {options.rgb_width} are at "
                                      f"least 1, thumbnail {options.thumbnail} at least 0")
    if labels is not None:
        labelled, known = read_labels(labels, vocabulary)
        missing = [vid for vid in ids if vid not in labelled]
        if missing:
            raise ExtractError(labels, f"has no line for video {missing[0]!r} ({ids[missing[0]]}; {len(missing)} "
                                       "such)")
        unlisted = sorted(set(labelled) - set(ids))
        if unlisted:
            raise ExtractError(labels, f"line {labelled[unlisted[0]].line}: video {unlisted[0]!r} is not among the "
                                       f"videos given ({len(unlisted)} such)")
        splits = assign_splits(labelled, ratios or RATIOS, seed, labels)
    else:
        labelled = {vid: Labelled([], "test", 0) for vid in ids}
        splits, known = dict.fromkeys(ids, "test"), []

    cache = out.with_name(f".{out.name}.extract")
    _open_cache(cache, options)
    seconds = dict.fromkeys(("decode", "image", "audio", "pca", "write"), 0.0)
    networks = None
    try:
        for index, (vid, path) in enumerate(ids.items()):
            def tell(frames: int, stage: str, index: int = index, vid: str = vid) -> None:
                if progress:
                    progress(Progress(index, len(ids), vid, frames, stage))

            if (cache / "videos" / f"{vid}.npz").is_file():
                tell(0, "cached")
                continue
            networks = networks or _Networks(options)
            _one_video(path, networks, options, cache, seconds, tell)
            tell(-1, "done")
    except BaseException:
        if not any((cache / "videos").glob("*.npz")):  # nothing to go on from: nothing left behind
            shutil.rmtree(cache, ignore_errors=True)
        raise
    cached = [cache / "videos" / f"{vid}.npz" for vid in ids]

    if progress:
        progress(Progress(len(ids), len(ids), "", 0, "pca"))
    start = time.perf_counter()
    rgb_pca = _rgb_pca(options, cached, options.rgb_width)
    audio_pca = _audio_pca(options, cached) if options.audio else None
    seconds["pca"] = time.perf_counter() - start

    if progress:
        progress(Progress(len(ids), len(ids), "", 0, "write"))
    start = time.perf_counter()
    silent: list[str] = []
    frames_per_video: dict[str, int] = {}

    def features() -> Iterator[tuple[str, list[str], list[np.ndarray], str]]:
        for vid, path in zip(ids, cached, strict=True):
            with np.load(path) as loaded:
                names, arrays = ["rgb"], [rgb_pca.apply(loaded["rgb"])]
                if audio_pca is not None:
                    names.append("audio")
                    arrays.append(audio_pca.apply(loaded["audio"]))
                    if not bool(loaded["has_audio"]):
                        silent.append(vid)
            frames_per_video[vid] = len(arrays[0])
            yield vid, names, arrays, str(ids[vid])

    with atomic.folder_in_place(out) as partial:
        layout, counts, frames = write_records(features(), labelled, splits, partial, shard_size,
                                               labels or "the videos", extracted=True)
        if known or vocabulary:
            write_vocabulary(partial, known, vocabulary)
        write_layout(partial, layout)
        rgb_pca.save(partial / PCA_DIR)
        if audio_pca is not None:
            atomic.save_npz(partial / PCA_DIR / AUDIO_PCA_FILES[0], pca_eigen_vectors=audio_pca.vectors_KD,
                            pca_means=audio_pca.mean_D)
        if options.thumbnail:
            shutil.copytree(cache / FRAMES_DIR, partial / FRAMES_DIR)
        seconds["write"] = time.perf_counter() - start
        seconds["total"] = time.perf_counter() - begun
        pca_sources = {"rgb": rgb_pca.source, **({"audio": audio_pca.source} if audio_pca else {})}
        atomic.write_text(partial / EXTRACT_FILE, json.dumps({
            "options": asdict(replace(options, pca=None)), "pca": pca_sources, "labels": str(labels or ""),
            "videos": {vid: {"file": str(ids[vid].resolve()), "frames": frames_per_video[vid],
                             "audio": vid not in silent} for vid in ids},
            "seconds": {k: round(v, 3) for k, v in seconds.items()}}, indent=1))
    if not keep_cache:
        shutil.rmtree(cache, ignore_errors=True)
    return Extracted(out, counts, frames, silent, pca_sources, seconds)
