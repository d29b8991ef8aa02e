"""The Sweeps page through AppTest over a scratch run store (``swept``): the micro synthetic dataset, registered as
"tiny", and a finished sweep of #1 (3 learning rates, 6 steps each, validate1 every 2 steps) whose trial runs were
executed in this process as a worker executes them (``execute_run``, which advances the sweep: the ended trial's
value, the next trial asked and submitted). The form's sweeps stay queued (no worker reads the folder broker).
Then ``app.components.sweeps``' builders on hand-made ``show_sweep`` dicts. About 40 s on 2 cores, of which the
fixture 10 s and the page in a fresh interpreter (no torch) 15 s.

Plotly 7 writes arrays as base64 typed arrays in the figure JSON; ``_array`` decodes them."""

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
from typing import Any

import numpy as np
import pytest
from sqlalchemy import func, select
from streamlit.testing.v1 import AppTest

from app.components import sweeps as draw
from app.components.figures import NO_DATA
from tests.app.conftest import MAIN, ROOT, clear_streamlit_caches, open_page

LR = "model.training.learning_rate"
SPACE = f"{LR}: {{low: 0.001, high: 0.1, log: true}}"


@dataclass(frozen=True)
class Swept:
    """``done``: the id of the finished sweep of #1; ``env``: the run store's settings."""

    home: Path
    database_url: str
    done: int
    env: dict[str, str]


@pytest.fixture(scope="module")
def swept(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Swept]:
    from db.engine import forget
    from worker.execute import execute_run
    from worker.sweeps import SweepRequest, create_sweep, show_sweep
    from y8m_models.configs.space import SearchSpace
    from y8m_models.data.synthetic import generate
    from y8m_models.options import RunOptions

    home = tmp_path_factory.mktemp("sweeps-home")
    data_root = home / "datasets"
    generate(data_root / "tiny", preset="micro", seed=3)
    env = {"Y8M_HOME": str(home), "Y8M_DATA_ROOTS": str(data_root), "Y8M_DATABASE_URL": f"sqlite:///{home / 'y8m.db'}",
           "Y8M_BROKER_URL": "filesystem://", "Y8M_ARTIFACTS": str(home)}
    with pytest.MonkeyPatch.context() as mp:
        for key, value in env.items():
            mp.setenv(key, value)
        mp.delenv("Y8M_APP_PASSWORD", raising=False)
        clear_streamlit_caches()
        done = create_sweep(SweepRequest("1", str(data_root / "tiny"), SearchSpace.from_yaml(SPACE, "space"),
                                         RunOptions(max_steps=6, eval_every=2), n_trials=3, name="done"))
        while (info := show_sweep(done))["status"] == "running":
            queued = [t["run"] for t in info["trials"] if t["run_status"] == "queued"]
            assert queued, f"a running sweep with no queued trial: {info['trials']}"
            for run_id in queued:
                assert execute_run(run_id) == "succeeded", run_id
        assert [t["state"] for t in info["trials"]] == ["complete"] * 3, info["trials"]
        yield Swept(home, env["Y8M_DATABASE_URL"], done, env)
        clear_streamlit_caches()
    forget(env["Y8M_DATABASE_URL"])


@pytest.fixture(autouse=True)
def _fresh_caches() -> None:
    clear_streamlit_caches()


def _page(query: dict[str, str] | None = None) -> AppTest:
    return open_page("sweeps", query, 120)


def _counts(swept: Swept) -> tuple[int, int, int]:
    """Sweeps, trials and runs in the store."""
    from db.engine import get_engine, reading
    from db.models import Run, Sweep, SweepTrial

    with reading(get_engine(swept.database_url)) as s:
        return tuple(s.scalar(select(func.count()).select_from(table)) for table in (Sweep, SweepTrial, Run))


def _chart(at: AppTest, key: str) -> dict[str, Any]:
    (chart,) = [json.loads(c.proto.spec) for c in at.get("plotly_chart") if c.key == key]
    return chart


def _array(value: Any) -> np.ndarray:
    """A figure JSON array: a list, or plotly's {"dtype", "bdata"} typed array."""
    if isinstance(value, dict) and "bdata" in value:
        return np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"]))
    return np.asarray(value)


def _fill(at: AppTest, space: str, *, trials: int = 3, parallel: int = 1, max_steps: int = 4, name: str = "",
          overrides: str = "") -> AppTest:
    """The form with #1 and ``space`` (and the rest), then "Start the sweep"."""
    box = at.selectbox(key="sweeps_config")
    box.select_index(next(i for i, label in enumerate(box.options) if label.startswith("#1 ")))
    at.text_area(key="sweeps_space").input(space)
    at.number_input(key="sweeps_trials").set_value(trials)
    at.number_input(key="sweeps_parallel").set_value(parallel)
    at.number_input(key="sweeps_max_steps").set_value(max_steps)
    at.text_input(key="sweeps_name").input(name)
    at.text_area(key="sweeps_overrides").input(overrides)
    at.button(key="sweeps_start").click().run()
    assert not at.exception, [e.value for e in at.exception]
    return at


# ------------------------------------------------------------------------------------------------ the form

@pytest.mark.parametrize("space, extra, message", [
    ("model.training.no_such_knob: {low: 1, high: 2}", {},
     "model.training.no_such_knob: not a value of #1 chaining_video_relabel"),
    (f"{LR}: {{low: 0.1, high: 0.01}}", {}, f"search space: {LR}: low 0.1 must be below high 0.01"),
    (f"{LR}: {{low: 0.001", {}, "search space: not YAML"),
    ("", {}, "search space: a search space is a mapping of configuration keys"),
    (SPACE, {"overrides": f"{LR}=0.01"}, f"{LR}: both varied and fixed by --set"),
    (SPACE, {"trials": 2, "parallel": 3}, "--parallel 3: between 1 and the trials (2)"),
    (SPACE, {"name": "Bad Name"}, "--name 'Bad Name': 1 to 64 of a-z 0-9 _ . -"),
    (SPACE, {"overrides": "learning_rate 0.1"}, "--set: 'learning_rate 0.1' is not key=value"),
])
def test_the_form_refuses_a_bad_sweep_naming_the_field_and_creates_nothing(swept: Swept, space: str, extra: dict,
                                                                            message: str) -> None:
    before = _counts(swept)
    at = _fill(_page(), space, **extra)
    assert [e.value for e in at.error if message in e.value], [e.value for e in at.error]
    assert not [s for s in at.success if s.value.startswith("Sweep ")]
    assert _counts(swept) == before
    assert "sweep" not in at.query_params


def test_a_sweep_started_from_the_form_lists_its_trials_as_queued_runs_then_stops_and_resumes(swept: Swept) -> None:
    from worker.runs import show
    from worker.sweeps import show_sweep

    sweeps, trials, runs = _counts(swept)
    at = _fill(_page(), SPACE, trials=3, parallel=2, max_steps=4, name="queued")
    info = show_sweep("queued")
    assert [s.value for s in at.success] == [
        f"Sweep {info['id']} started: 3 trials of #1 chaining_video_relabel, 2 at once"]
    assert at.query_params["sweep"] == str(info["id"])
    assert _counts(swept) == (sweeps + 1, trials + 2, runs + 2)  # 2 at once: 2 trials asked, each a run
    run_ids = [t["run"] for t in info["trials"]]
    assert all(show(r)["status"] == "queued" and show(r)["number"] == 1 for r in run_ids)
    assert [show(r)["config"]["model"]["training"]["learning_rate"] for r in run_ids] == pytest.approx(
        [t["params"][LR] for t in info["trials"]])
    assert at.subheader[0].value == f"sweep {info['id']} queued: running — #1 chaining_video_relabel on tiny"
    table = at.dataframe[1].value  # [0]: the sweeps
    assert list(table["run"]) == [f"/runs?run={r}" for r in run_ids]
    assert list(table["state"]) == ["running", "running"] and list(table["run status"]) == ["queued", "queued"]
    assert list(table[LR]) == pytest.approx([t["params"][LR] for t in info["trials"]])
    assert list(table["step"]) == ["0/?", "0/?"]  # queued: the steps are known once a worker plans the run
    assert at.dataframe[0].value["name"][0] == "queued"  # newest first

    at.button(key=f"sweeps_stop_{info['id']}").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert show_sweep("queued")["status"] == "stopped"
    assert [show(r)["status"] for r in run_ids] == ["cancelled", "cancelled"]
    assert list(at.dataframe[1].value["state"]) == ["stopped", "stopped"]
    assert [s.value for s in at.success] == [f"Sweep {info['id']} stopped; runs cancelled: {run_ids[0]}, {run_ids[1]}"]

    at.number_input(key=f"sweeps_budget_{info['id']}").set_value(4)
    at.button(key=f"sweeps_resume_{info['id']}").click().run()
    assert not at.exception, [e.value for e in at.exception]
    again = show_sweep("queued")
    assert again["status"] == "running" and again["n_trials"] == 4
    assert [s.value for s in at.success] == [f"Sweep {info['id']} resumed: 4 trials in all"]
    assert [t["params"] for t in again["trials"]] == [t["params"] for t in info["trials"]]  # asked again as they were
    assert [show(t["run"])["status"] for t in again["trials"]] == ["queued", "queued"]
    assert list(at.dataframe[1].value["run"]) == [f"/runs?run={t['run']}" for t in again["trials"]]


def test_an_unknown_sweep_says_so(swept: Swept) -> None:
    at = _page({"sweep": "999"})
    assert [e.value for e in at.error] == ["no sweep 999"]


# ------------------------------------------------------------------------------------------- a finished one

def test_a_finished_sweep_shows_its_best_trial_and_its_figures(swept: Swept) -> None:
    from worker.sweeps import show_sweep

    info = show_sweep(swept.done)
    values = [t["value"] for t in info["trials"]]
    best = info["trials"][int(np.argmax(values))]
    at = _page({"sweep": str(swept.done)})
    assert at.subheader[0].value == f"sweep {swept.done} done: finished — #1 chaining_video_relabel on tiny"
    assert at.markdown[0].value == (f"**Best: trial {best['number']}**, [run {best['run']}](/runs?run={best['run']}), "
                                    f"validate1 GAP {max(values):.4f}: {LR}={best['params'][LR]:.4g}")
    (link,) = at.get("page_link")
    assert (link.proto.page, link.proto.query_string) == ("runs", f"run={best['run']}")
    assert link.proto.label == f"Open run {best['run']}, the best trial's"
    table = at.dataframe[1].value
    assert list(table["value"]) == pytest.approx(values)
    assert list(table["validate2 GAP"]) == pytest.approx([t["gap"]["validate2"] for t in info["trials"]])
    assert list(table["step"]) == ["6/6"] * 3

    history = _chart(at, f"sweeps_history_{swept.done}")["data"]
    assert [t["name"] for t in history] == ["complete", "best so far"]
    assert _array(history[0]["y"]) == pytest.approx(values)
    assert _array(history[1]["y"]) == pytest.approx(np.maximum.accumulate(values))
    curves = _chart(at, f"sweeps_intermediate_{swept.done}")["data"]
    assert [list(_array(c["x"])) for c in curves] == [[2, 4, 6]] * 3
    assert [_array(c["y"])[-1] for c in curves] == pytest.approx(values)  # the last evaluation is the value
    (lines,) = _chart(at, f"sweeps_parallel_{swept.done}")["data"]
    lr_axis, gap_axis = lines["dimensions"]
    assert lr_axis["label"] == "learning_rate (log)"
    assert _array(lr_axis["values"]) == pytest.approx(np.log10([t["params"][LR] for t in info["trials"]]))
    assert _array(gap_axis["values"]) == pytest.approx(values)
    (bars,) = _chart(at, f"sweeps_importance_{swept.done}")["data"]
    assert list(bars["y"]) == [LR] and _array(bars["x"]) == pytest.approx([1.0])  # the only varied value: all of it
    assert f"sweeps_stop_{swept.done}" not in [b.key for b in at.button]  # finished: Resume instead
    assert at.button(key=f"sweeps_resume_{swept.done}")


def test_the_best_trial_is_saved_as_a_variant_and_launched(swept: Swept) -> None:
    from worker.runs import show
    from worker.sweeps import show_sweep
    from worker.variants import get_variant

    best = show_sweep(swept.done)["best"]
    at = _page({"sweep": str(swept.done)})
    assert at.text_input(key=f"sweeps_variant_name_{swept.done}").value == "done-best"
    at.text_input(key=f"sweeps_variant_name_{swept.done}").input("Best!")
    at.button(key=f"sweeps_variant_save_{swept.done}").click().run()
    assert [e.value for e in at.error if e.value.startswith("variant name 'Best!': 2-64 characters")], at.error
    assert get_variant("Best!") is None and f"sweeps_launch_{swept.done}" not in [b.key for b in at.button]

    at.text_input(key=f"sweeps_variant_name_{swept.done}").input("lr-best")
    at.button(key=f"sweeps_variant_save_{swept.done}").click().run()
    assert not at.error, [e.value for e in at.error]
    variant = get_variant("lr-best")
    assert variant.base == 1 and variant.overrides == {LR: best["params"][LR]}
    assert [s.value for s in at.success] == [f"Saved {variant.label}: {LR}={best['params'][LR]:.4g}"]

    assert at.number_input(key=f"sweeps_launch_steps_{swept.done}").value == 6  # the trials' options
    at.button(key=f"sweeps_launch_{swept.done}").click().run()
    assert [s.value for s in at.success if " on tiny: " in s.value] == [
        f"lr-best on tiny: [run {best['run']}](/runs?run={best['run']}) reused"]  # the same values: the same run
    at.number_input(key=f"sweeps_launch_steps_{swept.done}").set_value(8)
    at.button(key=f"sweeps_launch_{swept.done}").click().run()
    assert not at.exception, [e.value for e in at.exception]
    (done,) = [s.value for s in at.success if " on tiny: " in s.value]
    run_id = int(done.split("/runs?run=")[1].split(")")[0])
    assert done == f"lr-best on tiny: [run {run_id}](/runs?run={run_id}) queued"
    assert [(p.proto.label, p.proto.query_string) for p in at.get("page_link")][-1] == (f"Open run {run_id}",
                                                                                       f"run={run_id}")
    run = show(run_id)
    assert run["variant"] == "lr-best" and run["status"] == "queued" and run["steps"] in (None, 8)
    assert run["config"]["model"]["training"]["learning_rate"] == pytest.approx(best["params"][LR])


NO_TORCH = textwrap.dedent("""
    import json, sys
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(sys.argv[1], default_timeout=120).run()
    at.query_params["sweep"] = sys.argv[2]
    at.switch_page("views/sweeps.py").run()
    print(json.dumps({"torch": "torch" in sys.modules, "problems": [e.value for e in at.exception],
                      "charts": sorted(c.key for c in at.get("plotly_chart"))}))
""")


def test_the_page_and_its_figures_load_no_torch(swept: Swept) -> None:
    """As ``test_no_torch`` checks the other pages: a fresh interpreter, the finished sweep with its figures (Optuna's
    importances included)."""
    done = subprocess.run([sys.executable, "-c", NO_TORCH, str(MAIN), str(swept.done)], cwd=ROOT,
                          env={**os.environ, **swept.env, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-4000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["problems"] == [] and len(report["charts"]) == 4
    assert not report["torch"]


# ----------------------------------------------------------------------------------------- the builders

def _trial(number: int, state: str, value: float | None, params: dict, intermediate: list | None = None,
           run: int | None = None, step: int | None = None, message: str = "") -> dict[str, Any]:
    return {"number": number, "params": params, "state": state, "value": value, "step": step, "message": message,
            "run": run, "run_status": "succeeded" if run else None, "run_step": 10 if run else None,
            "run_steps": 10 if run else None, "gap": {"validate2": 0.5} if run else {},
            "intermediate": intermediate or []}


def _info(trials: list[dict], space: dict | None = None, best: dict | None = None) -> dict[str, Any]:
    return {"id": 7, "name": "s", "config": "1", "number": 1, "slug": "chaining_video_relabel",
            "space": space or {LR: {"low": 0.001, "high": 0.1, "log": True}, "model.params.mixtures": {
                "choices": [2, 4, 8]}}, "trials": trials, "best": best}


TRIALS = [_trial(0, "complete", 0.30, {LR: 0.01, "model.params.mixtures": 4}, [(5, 0.2), (10, 0.3)], run=11),
          _trial(1, "pruned", None, {LR: 0.1, "model.params.mixtures": 8}, [(5, 0.1)], run=12, step=5,
                 message="pruned by sweep s"),
          _trial(2, "complete", 0.25, {LR: 0.001, "model.params.mixtures": 2}, [(5, 0.2), (10, 0.25)], run=13),
          _trial(3, "complete", 0.40, {LR: 0.003, "model.params.mixtures": 4}, [(5, 0.3), (10, 0.4)], run=14),
          _trial(4, "running", None, {LR: 0.02, "model.params.mixtures": 2})]


def test_the_history_draws_the_best_so_far_and_the_pruned_trials_at_their_last_gap() -> None:
    complete, best, pruned = draw.history(_info(TRIALS)).data
    assert list(complete.x) == [0, 2, 3] and list(complete.y) == [0.30, 0.25, 0.40]
    assert list(best.y) == [0.30, 0.30, 0.40] and best.line.shape == "hv"
    assert list(pruned.x) == [1] and list(pruned.y) == [0.1] and pruned.marker.symbol == "x"
    empty = draw.history(_info([TRIALS[4]]))
    assert not empty.data and empty.layout.annotations[0].text == NO_DATA


def test_the_parallel_coordinates_put_a_log_range_on_log10_and_choices_by_index() -> None:
    (lines,) = draw.parallel(_info(TRIALS)).data
    lr, mixtures, gap = lines.dimensions
    assert lr.label == "learning_rate (log)" and list(lr.values) == pytest.approx([-2, -3, np.log10(0.003)])
    assert list(lr.range) == pytest.approx([-3, -1])
    assert list(lr.tickvals) == [-3, -2, -1] and list(lr.ticktext) == ["0.001", "0.01", "0.1"]
    assert mixtures.label == "mixtures" and list(mixtures.ticktext) == ["2", "4", "8"]
    assert list(mixtures.values) == [1, 0, 1]  # the index of each trial's choice
    assert gap.label == "validate1 GAP" and list(gap.values) == [0.30, 0.25, 0.40]
    assert list(lines.line.color) == [0.30, 0.25, 0.40]
    assert draw.parallel(_info(TRIALS[4:])).layout.annotations[0].text == NO_DATA


def test_a_log_axis_within_one_decade_is_ticked_at_its_ends_and_a_shared_last_part_keeps_the_whole_key() -> None:
    space = {LR: {"low": 0.002, "high": 0.008, "log": True}, "model.params.learning_rate": {"low": 1, "high": 3}}
    trial = _trial(0, "complete", 0.3, {LR: 0.004, "model.params.learning_rate": 2})
    lr, other, _ = draw.parallel(_info([trial], space)).data[0].dimensions
    assert list(lr.tickvals) == pytest.approx(np.log10([0.002, 0.008])) and list(lr.ticktext) == ["0.002", "0.008"]
    assert (lr.label, other.label) == (f"{LR} (log)", "model.params.learning_rate")
    assert list(other.values) == [2] and list(other.range) == [1, 3]


def test_the_importance_bars_put_the_largest_on_top() -> None:
    (bars,) = draw.importance({"a": 0.2, "b": 0.7, "c": 0.1}).data
    assert list(bars.y) == ["c", "a", "b"] and list(bars.x) == [0.1, 0.2, 0.7]  # plotly draws the first at the bottom
    assert draw.importance({}).layout.annotations[0].text == NO_DATA


def test_the_intermediate_curves_are_one_per_evaluated_trial_the_pruned_dashed() -> None:
    curves = draw.intermediate(_info(TRIALS)).data
    assert [c.name for c in curves] == ["trial 0 (complete)", "trial 1 (pruned)", "trial 2 (complete)",
                                        "trial 3 (complete)"]
    assert [c.line.dash for c in curves] == ["solid", "dash", "solid", "solid"]
    assert list(curves[0].x) == [5, 10] and list(curves[0].y) == [0.2, 0.3]
    assert draw.intermediate(_info([TRIALS[4]])).layout.annotations[0].text == NO_DATA


def test_the_trial_rows_link_each_run_and_say_why_a_trial_was_pruned() -> None:
    rows = draw.trial_rows(_info(TRIALS))
    assert [r["run"] for r in rows] == ["/runs?run=11", "/runs?run=12", "/runs?run=13", "/runs?run=14", None]
    assert [r["step"] for r in rows] == ["10/10", "5/10", "10/10", "10/10", ""]  # pruned: where it was stopped
    assert [r["message"] for r in rows] == ["", "pruned by sweep s", "", "", ""]
    assert rows[1]["latest validate1 GAP"] == 0.1 and rows[4]["latest validate1 GAP"] is None
    assert rows[0][LR] == 0.01 and rows[0]["model.params.mixtures"] == 4 and rows[0]["validate2 GAP"] == 0.5


def test_the_sweep_rows_count_the_trials_done_and_name_a_variant_by_its_base() -> None:
    sweep = {"id": 3, "name": "s", "status": "running", "config": "k16", "number": 25,
             "slug": "multi_attention_pooling_lstm", "dataset": "tiny", "n_trials": 10,
             "trials_by_state": {"running": 2, "complete": 3, "pruned": 1, "failed": 0, "stopped": 1}, "done": 4,
             "best": {"trial": 2, "run": 9, "value": 0.5, "params": {}}}
    (row,) = draw.sweep_rows([sweep])
    assert row["trials"] == "4/10" and row["best validate1 GAP"] == 0.5 and row["best trial"] == 2
    assert row["configuration"] == "#25 · k16 (variant of multi_attention_pooling_lstm)"
    assert draw.config_text({**sweep, "config": "25"}) == "#25 multi_attention_pooling_lstm"
    assert draw.best_text(_info(TRIALS)) is None
    assert draw.best_text(_info(TRIALS, best={"trial": 3, "run": 14, "value": 0.4, "params": {LR: 0.003}})) == (
        f"**Best: trial 3**, [run 14](/runs?run=14), validate1 GAP 0.4000: {LR}=0.003")
