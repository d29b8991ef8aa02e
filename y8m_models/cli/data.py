"""``y8m data ...`` and ``y8m metrics``: read, verify, split and generate data; score predictions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from y8m_models.cli.common import app, fail, renamed
from y8m_models.limits import MAX_INT32

RATIOS_TEXT = "0.6,0.06,0.16,0.1,0.08"  # convert.RATIOS as the option writes it


def parse_ratios(text: str) -> tuple[float, ...]:
    """``--ratios``: the shares of train1, validate1, train2, validate2, test, separated by commas."""
    try:
        return tuple(float(r) for r in text.split(","))
    except ValueError:
        raise fail(f"--ratios {text!r}: five numbers separated by commas ({RATIOS_TEXT})") from None


data_app = typer.Typer(help="Read, verify, split and generate YouTube-8M data.", no_args_is_help=True)
app.add_typer(data_app, name="data")


@data_app.command("dump")
def data_dump(
    glob: Annotated[list[str], typer.Argument(help="TFRecord files or globs (quote globs), then OUT.npz")],
    num_classes: Annotated[int | None, typer.Option("--num-classes", help="default: vocabulary.csv")] = None,
) -> None:
    """Write ids, labels, num_frames and features exactly as the loader feeds models to OUT.npz."""
    import numpy as np

    from y8m_models.data.check import dump_arrays, expand_globs
    from y8m_models.data.errors import Y8MDataError
    from y8m_models.data.vocabulary import resolve_num_classes

    if len(glob) < 2 or not glob[-1].endswith(".npz"):
        raise fail("usage: y8m data dump GLOB [GLOB ...] OUT.npz")
    out = Path(glob[-1])
    try:
        files = expand_globs(glob[:-1])
        classes = resolve_num_classes(files, num_classes)
        if classes is None:
            raise ValueError("cannot tell the number of classes: pass --num-classes (4716 for the 2017 "
                             "release, 3862 for 2018+) or put vocabulary.csv beside the data")
        arrays = dump_arrays(files, classes)
        out.parent.mkdir(parents=True, exist_ok=True)
        np.savez(out, **arrays)
    except (Y8MDataError, ValueError, OSError) as exc:
        raise fail(str(exc)) from None
    typer.echo(f"wrote {len(arrays['ids'])} videos, features {tuple(arrays['features'].shape)} to {out}")


@data_app.command("check")
def data_check(
    glob: Annotated[list[str], typer.Argument(help="TFRecord files or globs (quote globs)")],
    num_classes: Annotated[int | None, typer.Option("--num-classes", help="default: vocabulary.csv")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Read and verify every record (CRCs, structure, label range); exit 1 on any damage."""
    from y8m_models.data.check import check_files, expand_globs
    from y8m_models.data.vocabulary import resolve_num_classes

    try:
        files = expand_globs(glob)
        report = check_files(files, resolve_num_classes(files, num_classes))
    except (ValueError, OSError) as exc:
        raise fail(str(exc)) from None
    summary = report.to_dict()
    if as_json:
        typer.echo(json.dumps(summary, indent=1))
    else:
        typer.echo(f"{summary['files']} files ({summary['frame_files']} frame level, {summary['video_files']} "
                   f"video level), {summary['records']} intact records, {summary['frames']} frames")
        if summary["num_classes"] is None:
            typer.echo("label ids not checked against a class count (no vocabulary.csv; pass --num-classes)")
        for line in summary["damaged"]:
            typer.echo(f"DAMAGED {line}", err=True)
        typer.echo("ok" if summary["ok"] else f"{len(summary['damaged'])} damaged")
    if not summary["ok"]:
        raise typer.Exit(1)


@data_app.command("splits")
def data_splits(
    directory: Annotated[Path, typer.Argument(help="dataset directory (with frame/ and video/)")],
    level: Annotated[str, typer.Option(help="frame, video or both")] = "both",
    glob: Annotated[list[str] | None, typer.Option(help="override a part's glob: PART=GLOB")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Print the files and record counts of the five parts (paper Table 1)."""
    from y8m_models.data.splits import split_files

    levels = ["frame", "video"] if level == "both" else [level]
    if any(lv not in ("frame", "video") for lv in levels):
        raise fail(f"--level must be frame, video or both, not {level!r}")
    try:
        globs = dict(g.split("=", 1) for g in glob or [])
    except ValueError:
        raise fail("--glob takes PART=GLOB, e.g. --glob 'train1=train*.tfrecord'") from None
    result: dict = {}
    try:
        for lv in levels:
            parts = split_files(directory, lv, globs)  # type: ignore[arg-type]
            result[lv] = {part: [_file_summary(p) for p in files] for part, files in parts.items()}
    except ValueError as exc:
        raise fail(str(exc)) from None
    damaged = [f for parts in result.values() for files in parts.values() for f in files if f["damaged"]]
    if as_json:
        typer.echo(json.dumps(result, indent=1))
    else:
        for lv, parts in result.items():
            typer.echo(f"[{lv}]")
            for part, files in parts.items():
                typer.echo(f"  {part:<10} {len(files):>5} files {sum(f['records'] for f in files):>9} records")
                for f in files:
                    flag = f"  DAMAGED: {f['damaged']}" if f["damaged"] else ""
                    typer.echo(f"      {f['file']}  {f['records']}{flag}")
    if damaged:
        typer.echo(f"{len(damaged)} damaged file(s): counts are of their intact records (y8m data check)", err=True)
        raise typer.Exit(1)


def _file_summary(path: Path) -> dict:
    from y8m_models.data.errors import Y8MDataError
    from y8m_models.data.tfrecord import build_index

    try:
        index = build_index(path)
    except Y8MDataError as exc:
        return {"file": str(path), "records": 0, "damaged": exc.reason}
    damage = index.damage.error(path) if index.damage else None
    return {"file": str(path), "records": len(index), "damaged": str(damage) if damage else None}


@data_app.command("synth")
def data_synth(
    out: Annotated[Path, typer.Argument(help="output directory")],
    preset: Annotated[str, typer.Option(help="the dataset preset: micro (tests), easy (learning tests), demo, "
                                        "paper (y8m paper)")] = "micro",
    videos: Annotated[int | None, typer.Option(help="override the preset's number of videos")] = None,
    classes: Annotated[int | None, typer.Option(help="override the preset's number of classes")] = None,
    seed: Annotated[int, typer.Option(min=0, max=MAX_INT32)] = 0,
) -> None:
    """Generate a synthetic YouTube-8M dataset (frame + video TFRecords, vocabulary.csv, ground truth)."""
    from y8m_models.data.synthetic import RENAMED, generate

    if preset in RENAMED:
        preset = renamed(f"the dataset preset {preset}", RENAMED[preset], RENAMED[preset])
    try:
        summary = generate(out, preset=preset, videos=videos, classes=classes, seed=seed)
    except (ValueError, OSError) as exc:  # a bad option, a foreign non-empty folder, a full disk
        raise fail(str(exc)) from None
    parts = ", ".join(f"{part} {n}" for part, n in summary.videos.items())
    typer.echo(f"wrote {sum(summary.videos.values())} videos ({parts}), {summary.classes} classes, "
               f"{summary.frames} frames to {summary.out} in {summary.seconds:.1f} s")


@data_app.command("convert")
def data_convert(
    features: Annotated[Path, typer.Argument(help="a folder of VIDEO_ID.npy / VIDEO_ID.npz files, a .parquet table "
                                             "(video_id, frame, a list column per feature) or an .h5/.hdf5 file")],
    labels: Annotated[Path, typer.Argument(help="a CSV: video_id,labels[,split]; labels: names separated by ';', "
                                           "or ids")],
    out: Annotated[Path, typer.Argument(help="the dataset folder to write (new, or empty)")],
    names: Annotated[str | None, typer.Option(help="the features, in order (default: as the input holds them; a "
                                              ".npy file's one is 'features')")] = None,
    vocabulary: Annotated[Path | None, typer.Option(help="a vocabulary.csv whose names (or Index) the labels are; "
                                                    "default: made from the labels")] = None,
    ratios: Annotated[str, typer.Option(help="shares of train1, validate1, train2, validate2, test where the "
                                        "labels CSV has no split column")] = RATIOS_TEXT,
    seed: Annotated[int, typer.Option(min=0, max=MAX_INT32, help="the random split's seed")] = 0,
    shard_size: Annotated[int, typer.Option(help="videos per TFRecord file")] = 1024,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Your own per-video frame features and labels as a dataset in the YouTube-8M layout (frame/, video/
    TFRecords of the five Table 1 splits, vocabulary.csv, features.json), 8-bit quantized as YouTube-8M's; bad input
    is named by file and row, and nothing is left behind."""
    from y8m_models.data.convert import convert
    from y8m_models.data.errors import Y8MDataError

    shares = parse_ratios(ratios)
    try:
        done = convert(features, labels, out, names=[n.strip() for n in names.split(",")] if names else None,
                       vocabulary=vocabulary, ratios=shares, seed=seed, shard_size=shard_size)
    except (Y8MDataError, ValueError, OSError) as exc:  # bad input; a vocabulary.csv's own errors; a full disk
        raise fail(str(exc)) from None
    if as_json:
        typer.echo(json.dumps(done.to_dict()))
        return
    parts = ", ".join(f"{split} {n}" for split, n in done.videos.items())
    typer.echo(f"wrote {sum(done.videos.values())} videos ({parts}), {done.classes} classes, {done.frames} frames, "
               f"features {done.layout.describe('frame')} to {done.out} in {done.seconds:.1f} s")


@app.command("metrics")
def metrics(
    predictions: Annotated[Path, typer.Option(help="scores, .npy float [N, C]")],
    labels: Annotated[Path, typer.Option(help="ground truth, .npy 0/1 [N, C]")],
    top_k: Annotated[int, typer.Option(help="k of GAP@k")] = 20,
) -> None:
    """Print GAP@k, Hit@1, PERR, mAP and the tie report as JSON."""
    import numpy as np

    from y8m_models.metrics import evaluate

    try:
        p = np.load(predictions, mmap_mode="r")
        y = np.load(labels, mmap_mode="r")
        if p.shape != y.shape or p.ndim != 2:
            raise ValueError(f"predictions {p.shape} and labels {y.shape} must both be [N, C]")
        result = evaluate(p, y, top_k=top_k)
    except (ValueError, OSError) as exc:
        raise fail(str(exc)) from None
    typer.echo(json.dumps(result.to_dict(), indent=1))
