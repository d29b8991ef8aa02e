"""The "Try a video" page through AppTest over a real state: sample videos extracted with labels (random weights)
into a dataset, a tiny #25 (multiple attention pooling) trained on it, and an extraction that stored an "upload"
as the page does, was sent (to a folder broker nobody reads) and then run here by
``y8m_models.features.extraction.run_extraction``; beside them a synthetic dataset with a #1 run, which cannot try a
video. The fixture takes about 15 s on 2 cores (40 s beside a benchmark), mostly the extraction; the test in a fresh
interpreter (no torch) another 15 s.

AppTest cannot drive ``st.file_uploader``: storing an upload is ``app.components.uploads`` (test_uploads.py), and the
browser test uploads through the page."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from app.components.text import plain
from tests.app.conftest import MAIN, ROOT, clear_streamlit_caches, open_page

LABELS = ("sky", "sea", "road")


@dataclass(frozen=True)
class Tried:
    """``run``: the #25 run on the extracted dataset "clips"; ``extraction``: the folder of a finished extraction
    with it."""

    home: Path
    run: int
    run_dir: Path
    extraction: Path
    env: dict[str, str]


def _write_extraction(home: Path, name: str, run_dir: Path, progress: dict | None, queue: str = "cpu") -> Path:
    """An extraction's folder as ``worker.extract.submit`` leaves it, with ``progress.json`` as a worker writes it."""
    folder = home / "extractions" / name
    folder.mkdir(parents=True)
    (folder / "extraction.json").write_text(json.dumps({"videos": [str(folder / "uploads" / "a.mp4"),
                                                            str(folder / "uploads" / "b.mkv")],
                                                 "options": {}, "out": str(folder / "data"),
                                                 "run_dir": str(run_dir), "labels": None, "vocabulary": None,
                                                 "created": 0.0}))
    (folder / "queue").write_text(queue)
    if progress is not None:
        (folder / "progress.json").write_text(json.dumps(progress))
    return folder


@pytest.fixture(scope="module")
def tried(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tried]:
    from app.components.uploads import save_uploads
    from db.engine import forget
    from db.settings import Settings
    from worker.execute import execute_run
    from worker.extract import new_extraction_dir, submit
    from worker.runs import submit as submit_runs
    from y8m_models.data.synthetic import generate
    from y8m_models.features.extract import ExtractOptions, extract
    from y8m_models.features.extraction import run_extraction
    from y8m_models.features.sample_video import write_video
    from y8m_models.options import RunOptions

    home = tmp_path_factory.mktemp("try-home")
    data_root, videos = home / "datasets", home / "videos"
    for i, seconds in enumerate((2.0, 3.0, 2.5, 3.5)):
        write_video(videos / f"clip{i}.mp4", seconds)
    labels = home / "labels.csv"
    labels.write_text("video_id,labels,split\n" + "".join(
        f"clip{i},{LABELS[i % 3]};{('cat', 'dog')[i % 2]},{split}\n"
        for i, split in enumerate(("train1", "train1", "validate1", "validate2"))))
    extract([videos], data_root / "clips", labels=labels, options=ExtractOptions(random_weights=True))
    generate(data_root / "synthetic", preset="micro", seed=1)
    env = {"Y8M_HOME": str(home), "Y8M_DATA_ROOTS": str(data_root), "Y8M_DATABASE_URL": f"sqlite:///{home / 'y8m.db'}",
           "Y8M_BROKER_URL": "filesystem://", "Y8M_ARTIFACTS": str(home)}
    with pytest.MonkeyPatch.context() as mp:
        for key, value in env.items():
            mp.setenv(key, value)
        for key in ("Y8M_APP_PASSWORD", "Y8M_UPLOAD_MB"):
            mp.delenv(key, raising=False)
        clear_streamlit_caches()
        attention = submit_runs("25", data_root / "clips", RunOptions(max_steps=2))
        other = submit_runs("1", data_root / "synthetic", RunOptions(max_steps=2))
        for run_id in attention.created + other.created:
            assert execute_run(run_id) == "succeeded", run_id
        run_id = attention.targets[25]
        # what the page does with an upload, and then what the worker does with the message
        folder = new_extraction_dir(Settings.from_env())
        clip = write_video(home / "upload" / "My clip.mp4", 4.0).read_bytes()
        stored = save_uploads([("My clip.mp4", clip)], folder / "uploads", 200)
        submit(stored, ExtractOptions(), folder=folder, run_id=run_id)
        run_extraction(folder, device="cpu")
        run_dir = Path(json.loads((folder / "extraction.json").read_text())["run_dir"])
        yield Tried(home, run_id, run_dir, folder, env)
        clear_streamlit_caches()
    forget(env["Y8M_DATABASE_URL"])


@pytest.fixture(autouse=True)
def _fresh_caches() -> None:
    clear_streamlit_caches()


def _page(query: dict[str, str] | None = None) -> AppTest:
    return open_page("try_video", query, 60)


def _chart_y(at: AppTest, key: str) -> list[np.ndarray]:
    """Each trace's y values of the page's plotly chart ``key`` (plotly writes arrays as base64 typed arrays)."""
    (chart,) = [json.loads(c.proto.spec) for c in at.get("plotly_chart") if c.key == key]
    return [np.frombuffer(base64.b64decode(t["y"]["bdata"]), dtype=t["y"]["dtype"]) if isinstance(t["y"], dict)
            else np.asarray(t["y"]) for t in chart["data"]]


def test_without_a_run_to_try_the_page_says_how_to_get_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from db.engine import forget

    url = f"sqlite:///{tmp_path / 'y8m.db'}"
    for key, value in {"Y8M_HOME": str(tmp_path), "Y8M_DATA_ROOTS": str(tmp_path / "datasets"),
                       "Y8M_DATABASE_URL": url, "Y8M_BROKER_URL": "filesystem://",
                       "Y8M_ARTIFACTS": str(tmp_path)}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("Y8M_APP_PASSWORD", raising=False)
    try:
        at = _page()
        (info,) = [i.value for i in at.info]
        assert info.startswith("No run can try a video yet: it takes a succeeded training run on a dataset made "
                               "from videos.")
        assert "`y8m data extract VIDEOS $Y8M_HOME/datasets/NAME --labels labels.csv`" in info
        assert "`y8m runs submit --config 25 --data NAME`" in info
        with pytest.raises(KeyError):
            at.selectbox(key="try_run")
        assert not at.subheader  # no extractions
    finally:
        clear_streamlit_caches()
        forget(url)


def test_the_runs_offered_are_the_succeeded_training_runs_on_extracted_datasets(tried: Tried) -> None:
    at = _page()
    run = at.selectbox(key="try_run")
    assert run.options == [f"run {tried.run}: #25 multi_attention_pooling_lstm (clips) · attention"]  # not #1's
    assert at.radio(key="try_queue").options == ["cpu", "gpu"] and at.radio(key="try_queue").value == "cpu"
    captions = [c.value for c in at.caption]
    assert "Single models only: stacks (ensembles) and cascades cannot predict on new videos yet." in captions
    assert any(c.startswith("Runs whose dataset was extracted with random network weights") for c in captions)


def test_submitting_without_a_video_says_so_and_sends_nothing(tried: Tried) -> None:
    before = sorted(p.name for p in (tried.home / "extractions").iterdir())
    at = _page()
    at.button(key="try_submit").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert [e.value for e in at.error] == ["no video chosen: choose one or more video files first"]
    assert sorted(p.name for p in (tried.home / "extractions").iterdir()) == before


def test_a_finished_extraction_shows_each_videos_top_labels_and_its_attention_over_its_frames(tried: Tried) -> None:
    from app.components.figures import extreme_frames

    result = json.loads((tried.extraction / "result.json").read_text())
    assert list(result["videos"]) == ["My_clip"]
    at = _page({"extraction": tried.extraction.name})
    assert at.selectbox(key="try_extraction").value == tried.extraction.name
    assert at.selectbox(key="try_extraction").options == [
        f"{tried.extraction.name}: My_clip.mp4 with run {tried.run}: #25 multi_attention_pooling_lstm (clips) "
        "· attention"]
    assert [m.value for m in at.markdown if "video(s)" in m.value] == [
        r"**\#25 multi\_attention\_pooling\_lstm** on 1 video(s)"]
    assert at.query_params["extraction"] == tried.extraction.name
    assert at.selectbox(key=f"try_video_{tried.extraction.name}").value == "My_clip"

    table = at.dataframe[0].value
    top = result["videos"]["My_clip"]["top"]
    assert len(top) == 5  # every class of the five the dataset's labels name ("sky;cat", ...)
    assert list(table["label"]) == [t["name"] for t in top]
    assert sorted(table["label"]) == sorted({*LABELS, "cat", "dog"})
    assert list(table["score"]) == pytest.approx([t["score"] for t in top])
    assert list(table["rank"]) == [1, 2, 3, 4, 5] and list(table["score"]) == sorted(table["score"], reverse=True)

    with np.load(tried.extraction / "attention.npz") as dump:
        weights_KT = dump["weights/My_clip"].T
    K, T = weights_KT.shape
    assert K == 8 and T == result["videos"]["My_clip"]["frames"] == 4
    traces = _chart_y(at, "try_attention_over_time")
    assert len(traces) == K
    assert [list(y) for y in traces] == [pytest.approx(w) for w in weights_KT]
    pictures = at.get("image")  # 4 frames: the 2 lowest and the 2 highest of each group
    assert len(pictures) == K * 4
    for k, (lowest, highest) in enumerate(extreme_frames(weights_KT, 2, T)):
        assert sorted({*lowest, *highest}) == [0, 1, 2, 3]
        assert [c for p in pictures[4 * k:4 * k + 4] for c in p.captions] == [
            f"{f} s, {weights_KT[k, f]:.3f}" for f in (*lowest, *highest)]


def test_a_running_extraction_shows_its_progress_and_a_queued_one_its_queue(tried: Tried) -> None:
    running = _write_extraction(tried.home, "29990101-000000-aaaaaa", tried.run_dir,
                         {"state": "extracting", "video": "b", "index": 1, "videos": 2, "frames": 7, "stage": "decode"})
    queued = _write_extraction(tried.home, "29990101-000000-bbbbbb", tried.run_dir, None, queue="gpu")
    try:
        at = _page({"extraction": running.name})
        (bar,) = at.get("progress")
        assert bar.proto.text == "Extracting b: video 2 of 2, 7 frames (decode)"
        assert bar.proto.value == 50
        at = _page()  # the newest first
        assert at.selectbox(key="try_extraction").value == queued.name
        assert at.selectbox(key="try_extraction").options == [
            f"{name}: {videos} with run {tried.run}: #25 multi_attention_pooling_lstm (clips) · attention"
            for name, videos in [(queued.name, "a.mp4, b.mkv"), (running.name, "a.mp4, b.mkv"),
                                 (tried.extraction.name, "My_clip.mp4")]]
        (info,) = [i.value for i in at.info]
        assert info.startswith("Queued: waiting for a worker on the gpu queue (`make run` starts one here; ")
    finally:
        for folder in (running, queued):
            for path in folder.iterdir():
                path.unlink()
            folder.rmdir()


def test_a_failed_extraction_shows_its_error(tried: Tried) -> None:
    failed = _write_extraction(tried.home, "29990101-000000-cccccc", tried.run_dir,
                        {"state": "failed", "error": "b.mkv: not a video PyAV can open (InvalidDataError: ...)"})
    try:
        at = _page({"extraction": failed.name})
        assert [e.value for e in at.error] == [
            "The extraction failed: " + plain("b.mkv: not a video PyAV can open (InvalidDataError: ...)")]
        assert not at.dataframe
    finally:
        for path in failed.iterdir():
            path.unlink()
        failed.rmdir()


NO_TORCH = textwrap.dedent("""
    import json, sys, traceback

    first = []

    class Watch:  # records who imports torch first
        def find_spec(self, name, path=None, target=None):
            if name == "torch" and not first:
                first.append("".join(traceback.format_stack(limit=40)[:-1]))
            return None

    sys.meta_path.insert(0, Watch())
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(sys.argv[1], default_timeout=120).run()
    at.query_params["extraction"] = sys.argv[2]
    at.switch_page("views/try_video.py").run()
    at.button(key="try_submit").click().run()
    print(json.dumps({"torch": "torch" in sys.modules, "importer": first[0] if first else None,
                      "problems": [e.value for e in at.exception], "tables": len(at.dataframe)}))
""")


def test_the_page_never_imports_torch(tried: Tried) -> None:
    """A finished extraction shown and a submission refused, in a fresh interpreter (this one has loaded torch)."""
    done = subprocess.run([sys.executable, "-c", NO_TORCH, str(MAIN), tried.extraction.name], cwd=ROOT,
                          env={**os.environ, **tried.env, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-4000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["problems"] == [] and report["tables"] == 1
    assert not report["torch"], f"the page imported torch:\n{report['importer']}"


def test_the_attention_page_shows_the_frames_extracted_with_a_dataset(tried: Tried) -> None:
    """The Attention page's pictures (``data.thumbnail``) of a run trained on extracted videos: the JPEGs kept in
    the dataset's ``frames/``, not a strip drawn from the features."""
    from app import data

    dataset = tried.home / "datasets" / "clips"
    assert data.thumbnail(str(dataset), "clip3", 2) == (dataset / "frames" / "clip3" / "2.jpg").read_bytes()
    assert data.thumbnail(str(dataset), "clip3", 99) is None  # past its end
