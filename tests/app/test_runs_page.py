"""The Runs page's finding, curating and downloading through AppTest over ``conftest.dashboard``'s runs (#25 and
#75 with its members, trained 4 steps on the micro dataset) and three runs of #1 finished by hand beside them
(``lone``: no training, a folder with a file; learning rates 0.01, 0.0005 and 0.0005); then
``app.components.run_views``' parallel coordinates on hand-made dicts.

Each test checks what the page shows or offers against the database, the run folders or the prediction store. A
download's bytes are read back from the media file manager of the test's last run (``Downloads``).
Plotly 7 writes arrays as base64 typed arrays in the figure JSON; ``_array`` decodes them."""

from __future__ import annotations

import base64
import io
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from app.components import run_views
from app.components.figures import NO_DATA
from db.engine import get_engine, reading, writing
from db.models import Run
from tests.app.conftest import Dashboard, clear_streamlit_caches, open_page

LR = "model.training.learning_rate"


@pytest.fixture(autouse=True)
def _fresh_caches(dashboard: Dashboard) -> None:
    clear_streamlit_caches()


@pytest.fixture(scope="module")
def lone(dashboard: Dashboard) -> dict[str, int]:
    """Runs of #1 nothing reads, left as a worker leaves them (succeeded, scored, a folder with best.pt) without
    training: "fast" (learning rate 0.01, validate2 GAP 0.6), "slow" and "spare" (0.0005, 0.4 and 0.3)."""
    from db.queries import set_scores
    from worker.runs import submit
    from y8m_models.options import RunOptions

    made = {name: submit("1", "tiny", RunOptions(seed=seed, max_steps=3, overrides={LR: lr})).targets[1]
            for name, seed, lr in (("fast", 11, 0.01), ("slow", 12, 0.0005), ("spare", 13, 0.0005))}
    with writing(get_engine(dashboard.database_url)) as s:
        for run_id, gap in zip(made.values(), (0.6, 0.4, 0.3), strict=True):
            run = s.get(Run, run_id)
            run.status = "succeeded"
            set_scores(s, run_id, {"validate2": {"gap": gap}, "validate1": {"gap": gap + 0.01}})
            folder = dashboard.home / run.artifact_dir
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "best.pt").write_bytes(b"not a checkpoint")
    return made


class Downloads:
    """The media file managers of the AppTests' runs (a fresh one per run): a download button's bytes, made at
    once or (deferred) by its callable as a click would."""

    def __init__(self) -> None:
        self.managers: list[Any] = []

    def bytes_of(self, at: AppTest, key: str) -> bytes:
        proto = at.download_button(key=key).proto
        manager = self.managers[-1]
        url = manager.execute_deferred(proto.deferred_file_id) if proto.deferred_file_id else proto.url
        return manager.read_file(url.rsplit("/", 1)[-1]).content


@pytest.fixture
def downloads(monkeypatch: pytest.MonkeyPatch) -> Downloads:
    from streamlit.testing.v1 import app_test

    kept = Downloads()

    class Kept(app_test.MediaFileManager):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            kept.managers.append(self)

    monkeypatch.setattr(app_test, "MediaFileManager", Kept)
    return kept


def _page(query: dict[str, str] | None = None) -> AppTest:
    return open_page("runs", query, 120)


def _run(at: AppTest) -> AppTest:
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _ids(at: AppTest) -> list[int]:
    return [int(i) for i in at.dataframe[0].value["id"]]


def _row(dashboard: Dashboard, run_id: int) -> Run | None:
    with reading(get_engine(dashboard.database_url)) as s:
        return s.get(Run, run_id)


def _all_ids(dashboard: Dashboard, archived: bool = False) -> list[int]:
    with reading(get_engine(dashboard.database_url)) as s:
        return [r.id for r in s.scalars(select(Run).order_by(Run.id.desc())) if archived or r.archived_at is None]


def _texts(elements: Any) -> list[str]:
    return [e.value for e in elements]


def _array(value: Any) -> np.ndarray:
    if isinstance(value, dict) and "bdata" in value:
        return np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"]))
    return np.asarray(value)


# --------------------------------------------------------------------------------------------------- finding

def test_filters_by_tag_text_and_value_and_a_bad_value_line_says_so(dashboard: Dashboard,
                                                                     lone: dict[str, int]) -> None:
    from worker.curation import set_note, tag_runs

    tag_runs([lone["fast"], lone["slow"]], add=["lr-sweep"])
    tag_runs([lone["fast"]], add=["best"])
    set_note(lone["slow"], "Too slow: the loss hardly moves")
    at = _page()
    assert set(at.dataframe[0].value.columns) >= {"tags", "sweep · trial"}
    assert _ids(at) == _all_ids(dashboard)
    assert set(at.multiselect(key="runs_tags").options) >= {"best", "lr-sweep"}
    at.multiselect(key="runs_tags").set_value(["lr-sweep"])
    assert _ids(_run(at)) == [lone["slow"], lone["fast"]]
    assert [list(t) for t in at.dataframe[0].value["tags"]] == [["lr-sweep"], ["best", "lr-sweep"]]
    at.multiselect(key="runs_tags").set_value(["lr-sweep", "best"])
    assert _ids(_run(at)) == [lone["fast"]]
    at.multiselect(key="runs_tags").set_value([])
    at.text_input(key="runs_search").set_value("HARDLY")
    assert _ids(_run(at)) == [lone["slow"]]
    at.text_input(key="runs_search").set_value("")
    at.text_area(key="runs_where").set_value(f"{LR}<0.001\n{LR}~1\nmodel.training.optimizer=adam")
    _run(at)
    assert _ids(at) == [lone["spare"], lone["slow"]]  # the bad line is not applied; the two others are
    assert len(at.error) == 1 and at.error[0].value.startswith("Value filter line 2 is not applied: ")
    assert f"'{LR}~1'" in at.error[0].value
    at.text_area(key="runs_where").set_value("model.architecture=multi_attention_lstm")
    assert _ids(_run(at)) == [dashboard.runs[25]] and not at.error


def test_archived_runs_are_hidden_until_show_archived(dashboard: Dashboard, lone: dict[str, int]) -> None:
    from worker.curation import archive_runs

    archive_runs([lone["spare"]])
    try:
        at = _page()
        assert lone["spare"] not in _ids(at) and _ids(at) == _all_ids(dashboard)
        at.toggle(key="runs_archived").set_value(True)
        assert _ids(_run(at)) == _all_ids(dashboard, archived=True)
        table = at.dataframe[0].value.set_index("id")
        assert table.loc[lone["spare"], "archived"] is not None and table["archived"].notna().sum() == 1
    finally:
        archive_runs([lone["spare"]], archived=False)


def test_a_sweeps_trial_names_its_sweep_and_number(dashboard: Dashboard) -> None:
    from worker.sweeps import SweepRequest, create_sweep, show_sweep
    from y8m_models.configs.space import SearchSpace
    from y8m_models.options import RunOptions

    sweep_id = create_sweep(SweepRequest("1", str(dashboard.dataset), SearchSpace.from_ranges([f"{LR}=0.001:0.1:log"]),
                                         RunOptions(max_steps=2), n_trials=1, name="page-lr"))
    trial_run = show_sweep(sweep_id)["trials"][0]["run"]
    table = _page().dataframe[0].value.set_index("id")
    assert table.loc[trial_run, "sweep · trial"] == "page-lr · 0"
    assert table["sweep · trial"].notna().sum() == 1


# -------------------------------------------------------------------------------------------------- curating

def test_tags_and_note_are_saved_from_the_page(dashboard: Dashboard, lone: dict[str, int]) -> None:
    run_id = lone["spare"]
    at = _page({"run": str(run_id)})
    at.multiselect(key=f"runs_run_tags_{run_id}").set_value(["keep", "page-tag"])
    at.button(key=f"runs_save_tags_{run_id}").click()
    _run(at)
    assert _row(dashboard, run_id).tags == ["keep", "page-tag"]
    assert at.success[0].value == f"Run {run_id}: tags keep, page-tag"
    assert at.multiselect(key=f"runs_run_tags_{run_id}").value == ["keep", "page-tag"]
    at.multiselect(key=f"runs_run_tags_{run_id}").set_value(["keep"])
    at.button(key=f"runs_save_tags_{run_id}").click()
    _run(at)
    assert _row(dashboard, run_id).tags == ["keep"]
    at.multiselect(key=f"runs_run_tags_{run_id}").set_value(["keep", "Not A Tag"])
    at.button(key=f"runs_save_tags_{run_id}").click()
    _run(at)
    assert "tag 'Not A Tag': 1 to 40 of a-z 0-9 _ . : -" in at.error[0].value
    assert _row(dashboard, run_id).tags == ["keep"]

    at.text_area(key=f"runs_note_{run_id}").set_value("  lr 5e-4: the loss still falls at the end ")
    at.button(key=f"runs_save_note_{run_id}").click()
    _run(at)
    assert _row(dashboard, run_id).note == "lr 5e-4: the loss still falls at the end"
    assert at.text_area(key=f"runs_note_{run_id}").value.strip() == "lr 5e-4: the loss still falls at the end"


def test_archive_and_unarchive_from_the_page(dashboard: Dashboard, lone: dict[str, int]) -> None:
    run_id = lone["slow"]
    at = _page({"run": str(run_id)})
    at.button(key=f"runs_archive_{run_id}").click()
    _run(at)
    assert _row(dashboard, run_id).archived_at is not None
    assert run_id not in _ids(at)
    assert at.subheader[0].value.startswith(f"run {run_id}: succeeded")  # still shown, its button now Unarchive
    assert at.button(key=f"runs_archive_{run_id}").label == f"Unarchive run {run_id}"
    at.button(key=f"runs_archive_{run_id}").click()
    _run(at)
    assert _row(dashboard, run_id).archived_at is None and run_id in _ids(at)


def test_deleting_a_member_of_a_stack_is_refused_and_removes_nothing(dashboard: Dashboard) -> None:
    member, stack = dashboard.runs[25], dashboard.runs[75]
    folder = dashboard.home / _row(dashboard, member).artifact_dir
    before = _all_ids(dashboard, archived=True)
    at = _page({"run": str(member)})
    at.button(key=f"runs_delete_{member}").click()
    _run(at)
    assert any(e.value.startswith(f"run {member} is read by run {stack} (as member ") for e in at.error), \
        _texts(at.error)
    with pytest.raises(KeyError):  # no confirmation offered
        at.button(key=f"runs_delete_confirm_{member}")
    assert _all_ids(dashboard, archived=True) == before and (folder / "best.pt").is_file()


def test_deleting_a_lone_run_shows_what_goes_then_deletes_it_once_confirmed(dashboard: Dashboard,
                                                                             lone: dict[str, int]) -> None:
    run_id = lone["fast"]
    folder = dashboard.home / _row(dashboard, run_id).artifact_dir
    size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    at = _page({"run": str(run_id)})
    at.button(key=f"runs_delete_{run_id}").click()
    _run(at)
    said = at.warning[0].value
    assert said.startswith(f"Deleting removes run {run_id} (") and f"1 folder(s), {size} B: {folder}." in said
    assert _row(dashboard, run_id) is not None and folder.is_dir()  # nothing yet
    at.button(key=f"runs_delete_confirm_{run_id}").click()
    _run(at)
    assert _row(dashboard, run_id) is None and not folder.exists()
    assert at.success[0].value == f"Deleted run {run_id} and 1 folder(s), {size} B"
    assert run_id not in _ids(at) and "run" not in at.query_params and not at.subheader


# ------------------------------------------------------------------------------------------------- downloads

def test_the_submission_download_offers_the_files_bytes(dashboard: Dashboard, lone: dict[str, int],
                                                        downloads: Downloads) -> None:
    run_id = lone["slow"]
    csv = dashboard.home / _row(dashboard, run_id).artifact_dir / "submission.csv"
    csv.write_text("VideoId,LabelConfidencePairs\nvid1,3 0.9 1 0.5\n", encoding="utf-8")
    try:
        at = _page({"run": str(run_id)})
        assert downloads.bytes_of(at, f"runs_submission_{run_id}") == csv.read_bytes()
    finally:
        csv.unlink()
    with pytest.raises(KeyError):  # none without the file
        _page({"run": str(run_id)}).download_button(key=f"runs_submission_{run_id}")


def test_the_predictions_download_as_a_top20_csv_and_a_zip_and_its_limit(dashboard: Dashboard, downloads: Downloads,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from y8m_models.store import read_predictions
    from y8m_models.submission import read_submission

    run_id = dashboard.runs[25]
    root = dashboard.home / _row(dashboard, run_id).artifact_dir / "predictions"
    splits = sorted(p.name for p in root.iterdir() if not p.name.startswith("."))
    at = _page({"run": str(run_id)})
    assert at.selectbox(key=f"runs_predictions_split_{run_id}").options == splits
    at.selectbox(key=f"runs_predictions_split_{run_id}").set_value("validate2")
    _run(at)
    stored = read_predictions(root / "validate2")
    csv = downloads.bytes_of(at, f"runs_predictions_{run_id}")
    path = dashboard.home / "top20.csv"
    path.write_bytes(csv)
    parsed = read_submission(path, top_k=None)
    dense = stored.dense()
    assert parsed.video_ids == list(stored.ids) and parsed.classes.shape == (stored.rows, min(20, stored.num_classes))
    assert (parsed.classes[:, 0] == dense.argmax(axis=1)).all()
    assert np.allclose(parsed.scores, np.take_along_axis(dense, parsed.classes, axis=1), atol=1e-5)

    at.radio(key=f"runs_predictions_form_{run_id}").set_value("zip of the store")
    _run(at)
    with zipfile.ZipFile(io.BytesIO(downloads.bytes_of(at, f"runs_predictions_{run_id}"))) as archive:
        files = sorted(p.name for p in (root / "validate2").iterdir())
        assert sorted(archive.namelist()) == [f"validate2/{f}" for f in files]
        assert all(archive.read(f"validate2/{f}") == (root / "validate2" / f).read_bytes() for f in files)

    monkeypatch.setattr("app.data.DOWNLOAD_LIMIT", 100)
    _run(at)
    assert any(w.value.startswith("The validate2 predictions as a zip of the store is ")
               and "over the dashboard's download limit of 100 B" in w.value for w in at.warning), _texts(at.warning)
    with pytest.raises(KeyError):
        at.download_button(key=f"runs_predictions_{run_id}")


def test_the_exported_model_download_and_what_a_failed_export_says(dashboard: Dashboard, lone: dict[str, int],
                                                                   downloads: Downloads) -> None:
    from y8m_models.export import load_exported

    run_id = dashboard.runs[25]
    at = _page({"run": str(run_id)})
    at.selectbox(key=f"runs_export_dtype_{run_id}").set_value("fp16")
    at.button(key=f"runs_export_{run_id}").click()
    _run(at)
    assert not at.error, _texts(at.error)
    content = downloads.bytes_of(at, f"runs_export_download_{run_id}")
    path = dashboard.home / "exported.pt"
    path.write_bytes(content)
    exported = load_exported(path)
    assert exported.config.number == 25 and exported.dtype == "fp16"

    broken = lone["spare"]  # never trained: a folder with a best.pt that is no checkpoint, and no run.json
    at = _page({"run": str(broken)})
    at.button(key=f"runs_export_{broken}").click()
    _run(at)
    assert at.error[0].value.startswith(f"`y8m export` of run {broken} as int8 failed:")
    assert f"error: {dashboard.home / 'runs' / str(broken)} is not a run directory (no run.json)" in at.error[0].value
    with pytest.raises(KeyError):
        at.download_button(key=f"runs_export_download_{broken}")

    stack = dashboard.runs[75]
    at = _page({"run": str(stack)})
    assert any(f"run {stack} is a stack run" in c.value for c in at.caption)
    with pytest.raises(KeyError):
        at.button(key=f"runs_export_{stack}")


# ------------------------------------------------------------------------------------- parallel coordinates

def _parallel_dims(at: AppTest) -> dict[str, dict[str, Any]]:
    chart = json.loads(next(c for c in at.get("plotly_chart") if c.key == "runs_parallel").proto.spec)
    return {d["label"]: d for d in chart["data"][0]["dimensions"]}


def test_the_page_draws_the_tables_runs_and_then_the_selected_on_parallel_coordinates(dashboard: Dashboard) -> None:
    at = _page()
    table = at.dataframe[0].value
    dims = _parallel_dims(at)
    assert _array(dims["run"]["values"]).tolist() == _ids(at)
    assert {"configuration", "validate1 GAP", "validate2 GAP"} <= set(dims)
    scored = table["validate2 GAP"].notna().to_numpy()
    assert np.allclose(_array(dims["validate2 GAP"]["values"])[scored], table["validate2 GAP"][scored])

    rows = [int(i) for i in np.flatnonzero(table["#"].isin([2, 25]))]  # two rows selected, as a click does
    at.session_state["runs_table_0"] = {"selection": {"rows": rows, "columns": [], "cells": []}}
    dims = _parallel_dims(_run(at))
    chosen = [dashboard.runs[2], dashboard.runs[25]]  # in the table's order: newest first
    assert _array(dims["run"]["values"]).tolist() == chosen
    assert _texts(at.subheader) == [f"Compare runs {chosen[0]}, {chosen[1]}"]
    assert "architecture" in dims and _array(dims["validate2 GAP"]["values"]).tolist() == \
        table.set_index("id").loc[chosen, "validate2 GAP"].tolist()


def _runs(*rows: tuple[int, dict[str, Any], float | None, float | None]) -> list[dict[str, Any]]:
    return [{"id": i, "values": values, "validate1 GAP": v1, "validate2 GAP": v2} for i, values, v1, v2 in rows]


def test_parallel_coordinates_have_an_axis_per_differing_value_and_the_gaps() -> None:
    runs = _runs(
        (3, {"seed": 0, "model": {"training": {"learning_rate": 0.01, "optimizer": "adam"}, "params": {"groups": 8}}},
         0.5, 0.6),
        (4, {"seed": 0, "model": {"training": {"learning_rate": 0.0001, "optimizer": "sgd"}, "params": {"groups": 8}}},
         0.3, 0.4),
        (5, {"seed": 0, "model": {"training": {"learning_rate": 0.001, "optimizer": "adam"}, "params": {"groups": 4}}},
         0.4, None))
    assert run_views.differing_keys(runs) == [LR, "model.training.optimizer", "model.params.groups"]
    fig = run_views.parallel_coordinates(runs)
    dims = fig.data[0].dimensions
    assert [d.label for d in dims] == ["run", "learning_rate (log)", "optimizer", "groups", "validate1 GAP",
                                       "validate2 GAP"]
    assert list(dims[0].values) == [3, 4, 5]
    assert np.allclose(dims[1].values, [-2, -4, -3]) and list(dims[1].ticktext) == ["0.0001", "0.001", "0.01"]
    assert list(dims[2].values) == [0, 1, 0] and list(dims[2].ticktext) == ["adam", "sgd"]
    assert list(dims[3].values) == [8, 8, 4] and list(dims[3].ticktext) == ["4", "8"]  # whole numbers: each one
    assert list(dims[4].values) == [0.5, 0.3, 0.4]
    v2 = dims[5]
    assert list(v2.values[:2]) == [0.6, 0.4] and v2.values[2] < 0.4 and v2.ticktext[0] == "none"
    assert v2.tickvals[0] == v2.values[2] and v2.range[0] == v2.values[2]
    assert list(fig.data[0].line.color) == list(v2.values) and (fig.data[0].line.cmin, fig.data[0].line.cmax) == \
        (0.4, 0.6)  # the run without a validate2 GAP below the scale: its lowest colour
    assert fig.layout.title.text == "Parallel coordinates of 3 runs: 3 values differ"


def test_parallel_coordinates_name_keys_by_their_shortest_unique_ending_and_take_any_value() -> None:
    assert run_views.short_labels(["model.loss.temperature", "model.distillation.temperature", "model.params.cells"]) \
        == {"model.loss.temperature": "loss.temperature", "model.distillation.temperature": "distillation.temperature",
            "model.params.cells": "cells"}
    runs = _runs((1, {"model": {"params": {"hidden": [1024, 512], "gate": True}}, "ensemble": None}, None, 0.5),
                 (2, {"model": {"params": {"hidden": [512], "gate": False, "extra": 3}},
                      "ensemble": {"members": [{"run": 1}]}}, None, 0.7))
    keys = run_views.differing_keys(runs)
    assert keys == ["model.params.hidden", "model.params.gate", "model.params.extra", "ensemble.members"]
    dims = {d.label: d for d in run_views.parallel_coordinates(runs).data[0].dimensions}
    assert list(dims["hidden"].ticktext) == ["[1024, 512]", "[512]"] and list(dims["hidden"].values) == [0, 1]
    assert list(dims["gate"].ticktext) == ["false", "true"] and list(dims["gate"].values) == [1, 0]
    assert list(dims["members"].ticktext) == ["none", '[{"run": 1}]'] and list(dims["members"].values) == [0, 1]
    assert list(dims["extra"].ticktext)[0] == "none" and dims["extra"].values[1] == 3  # a key run 1 lacks
    assert list(dims["validate1 GAP"].values) == [0, 0] and list(dims["validate1 GAP"].ticktext) == ["none"]


def test_parallel_coordinates_of_nothing_say_so_and_chosen_keys_are_kept() -> None:
    assert NO_DATA in run_views.parallel_coordinates([]).layout.title.text
    runs = _runs((1, {"a": 1, "b": "x"}, 0.1, 0.2), (2, {"a": 2, "b": "y"}, 0.2, 0.3))
    chosen = run_views.parallel_coordinates(runs, ["b"])
    assert [d.label for d in chosen.data[0].dimensions] == ["run", "b", "validate1 GAP", "validate2 GAP"]
    assert chosen.layout.title.text == "Parallel coordinates of 2 runs: 2 values differ, 1 shown"
    same = run_views.parallel_coordinates(_runs((1, {"a": 1}, 0.1, 0.2), (2, {"a": 1}, 0.1, 0.2)))
    assert same.layout.title.text == "Parallel coordinates of 2 runs: no value differs"


@pytest.fixture(scope="module", autouse=True)
def _no_stray_files(dashboard: Dashboard) -> Iterator[None]:
    yield
    for name in ("top20.csv", "exported.pt"):
        (Path(dashboard.home) / name).unlink(missing_ok=True)
