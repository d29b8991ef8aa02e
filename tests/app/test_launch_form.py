"""The Launch page's parameter form (AppTest): generated for every single-model configuration, every field
rendered with its paper / code / preset values, an invalid value refused under its field with nothing queued,
the parameter count following the values; "Save as variant", the variant in the configuration list, submitted
and run, and its own row on the leaderboard."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from streamlit.testing.v1 import AppTest

from app.components import params
from db.engine import get_engine, reading
from db.models import Run
from tests.app.conftest import MAIN, clear_streamlit_caches
from y8m_models.configs import all_configurations, get_config


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """An empty run store with the micro dataset registered."""
    from worker.runs import register_dataset
    from y8m_models.data.synthetic import generate

    home = tmp_path_factory.mktemp("launch-home")
    generate(home / "datasets" / "tiny", preset="micro", seed=3)
    with pytest.MonkeyPatch.context() as mp:
        for key, value in {"Y8M_HOME": str(home), "Y8M_DATA_ROOTS": str(home / "datasets"),
                           "Y8M_DATABASE_URL": f"sqlite:///{home / 'y8m.db'}", "Y8M_BROKER_URL": "filesystem://",
                           "Y8M_ARTIFACTS": str(home)}.items():
            mp.setenv(key, value)
        mp.delenv("Y8M_APP_PASSWORD", raising=False)
        clear_streamlit_caches()
        register_dataset(home / "datasets" / "tiny")
        yield home
        clear_streamlit_caches()


def _launch() -> AppTest:
    at = AppTest.from_file(str(MAIN), default_timeout=60).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _choose(at: AppTest, prefix: str) -> None:
    box = at.selectbox(key="launch_config")
    box.select_index(next(i for i, label in enumerate(box.options) if label.startswith(prefix))).run()
    assert not at.exception, [e.value for e in at.exception]


def _runs(home: Path) -> int:
    with reading(get_engine(f"sqlite:///{home / 'y8m.db'}")) as s:
        return s.scalar(select(func.count()).select_from(Run))


def _keys(at: AppTest) -> set[str]:
    return {w.key for kind in ("number_input", "selectbox", "toggle") for w in at.get(kind) if w.key}


def test_the_form_of_every_single_model_renders_every_field_and_refuses_an_invalid_value(home: Path) -> None:
    at = _launch()
    singles = [c for c in all_configurations() if c.model is not None]
    before = _runs(home)
    for config in singles:
        _choose(at, f"#{config.number} ")
        prefix = f"launch_param_{config.number}__"
        form = params.fields(config)
        keys = _keys(at)
        for f in form:  # a list's items are rows of their own; an optional field has its switch
            assert {prefix + f.path, prefix + f.path + "_0", prefix + f.path + "_on"} & keys, (config.name, f.path)
        # one caption per field, in the form's order: the paper's value, the code's where it differs, the preset's
        captions = [c.value for c in at.caption if c.value.startswith("paper ")]
        assert len(captions) == len(form), config.name
        shown = sorted(captions)
        for f in form:
            begin = f"paper {f.paper} · " + (f"code {f.code} · " if f.has_code else "") + "tiny "
            assert any(c.startswith(begin) for c in shown), (config.name, f.path, begin)
        # an integer below its bound: refused under its field, naming it; nothing can be queued
        bad = next(f for f in form if f.kind == "int" and f.low is not None and not f.optional)
        at.number_input(key=prefix + bad.path).set_value(int(bad.low) - 1).run()
        named = [e.value for e in at.error if bad.name in e.value]
        assert named and "greater than or equal to" in named[0], (config.name, [e.value for e in at.error])
        assert at.button(key="launch_submit").disabled and not at.subheader
        at.number_input(key=prefix + bad.path).set_value(int(bad.low) + (bad.paper > bad.low)).run()
    assert _runs(home) == before


def test_the_form_marks_changes_counts_parameters_and_shows_the_preset_s_value(home: Path) -> None:
    at = _launch()
    _choose(at, "#25 ")
    prefix = "launch_param_25__"
    cells = "model.params.cells"
    assert "paper 1024 · tiny 32 · >= 1" in [c.value for c in at.caption]
    first = at.metric[0].value
    at.number_input(key=prefix + cells).set_value(2048).run()
    assert "**changed** (paper 1024) · tiny 64 · >= 1" in [c.value for c in at.caption]
    assert int(at.metric[0].value.replace(",", "")) > int(first.replace(",", ""))
    assert at.metric[1].label == "Size (float32)"
    # #2's learning rate: the paper's 0.01, the authors' code 0.004
    _choose(at, "#2 ")
    assert any(c.value.startswith("paper 0.01 · code 0.004 · tiny") for c in at.caption)


def test_a_variant_saved_in_the_form_is_launched_run_and_on_the_leaderboard(home: Path) -> None:
    from worker.execute import execute_run

    at = _launch()
    _choose(at, "#25 ")
    prefix = "launch_param_25__"
    at.number_input(key=prefix + "model.params.groups").set_value(4).run()
    at.text_input(key="launch_variant_name").input("Not A Name")
    at.button(key="launch_variant_save").click().run()
    assert any("variant name 'Not A Name'" in e.value for e in at.error)
    at.text_input(key="launch_variant_name").input("g4")
    at.text_input(key="launch_variant_note").input("half the groups")
    at.button(key="launch_variant_save").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert [s.value for s in at.success] == ["Saved #25 · g4: selected below, and in the configuration list under "
                                             "its base"]
    labels = at.selectbox(key="launch_config").options
    assert labels[labels.index(next(x for x in labels if x.startswith("#25 "))) + 1] == \
        "#25 · g4 (variant of multi_attention_pooling_lstm)"
    assert at.selectbox(key="launch_config").value["variant"]["name"] == "g4"  # selected after saving
    vprefix = "launch_param_25_g4_"
    assert at.number_input(key=vprefix + "model.params.groups").value == 4  # the form starts at its values
    assert any(c.value.startswith("**changed** (paper 8)") for c in at.caption)
    at.number_input(key="launch_max_steps").set_value(4).run()
    at.button(key="launch_submit").click().run()
    assert not at.exception, [e.value for e in at.exception]
    run_id = int(at.query_params["run"])
    with reading(get_engine(f"sqlite:///{home / 'y8m.db'}")) as s:
        run = s.get(Run, run_id)
        assert (run.number, run.variant.name, run.variant.frozen_by) == (25, "g4", run_id)
        assert run.config["model"]["params"]["groups"] == 4
    execute_run(run_id)
    clear_streamlit_caches()
    board = AppTest.from_file(str(MAIN), default_timeout=60).run()
    board.switch_page("views/leaderboard.py").run()
    assert not board.exception, [e.value for e in board.exception]
    table = board.dataframe[0].value
    row = table[table["configuration"] == f"{get_config(25).slug} · g4"].iloc[0]
    assert row["#"] == 25 and row["best run"] == f"/runs?run={run_id}" and row["runs"] == 1
    assert 0 < row["our validate2 GAP"] <= 1
    assert list(table[table["variant"] == ""]["#"]) == list(range(1, 89))
    # changed once more on top of the variant, it is submitted as its base with every value, not as the variant
    at = _launch()
    _choose(at, "#25 · g4")
    at.number_input(key=vprefix + "model.params.cells").set_value(512).run()
    at.number_input(key="launch_max_steps").set_value(4).run()
    at.button(key="launch_submit").click().run()
    with reading(get_engine(f"sqlite:///{home / 'y8m.db'}")) as s:
        other = s.get(Run, int(at.query_params["run"]))
        assert other.variant is None and other.options["overrides"] == {"model.params.groups": 4,
                                                                        "model.params.cells": 512}
    assert re.match(r"run \d+: queued", at.subheader[0].value)


@pytest.mark.parametrize("name, number, changes", [
    ("audio256", 10, {"model.params.cells.1": 256}),  # a list item, saved from the command line
    ("bag4", 28, {"ensemble.count": 4}),  # an ensemble's: no form, its values go with it
])
def test_a_variant_with_values_the_form_does_not_show_is_submitted_as_itself(home: Path, name: str, number: int,
                                                                            changes: dict) -> None:
    from worker.variants import save_variant

    save_variant(name, str(number), changes)
    clear_streamlit_caches()
    at = _launch()
    _choose(at, f"#{number} · {name}")
    at.number_input(key="launch_max_steps").set_value(3).run()
    at.button(key="launch_submit").click().run()
    assert not at.exception, [e.value for e in at.exception]
    with reading(get_engine(f"sqlite:///{home / 'y8m.db'}")) as s:
        run = s.get(Run, int(at.query_params["run"]))
        assert (run.number, run.variant.name if run.variant else None) == (number, name)
