"""A small real state for the dashboard's AppTests: a temporary ``$Y8M_HOME`` (SQLite, ``filesystem://``
broker) with the micro synthetic dataset and real runs executed in this process, without Celery workers.

``submit("25")`` then ``submit("75")`` (class-wise stacking of #2, #10, #18 and #25, reusing the #25 run),
4 steps each, executed in id order (a run's inputs have smaller ids) by ``worker.execute.execute_run``: that
gives scores, metric rows, an attention dump (#25) and stacking weights (#75). ``execute_run``'s ``dispatch``
sends broker messages nobody reads, which is harmless. 10-30 s on 2 cores, with the load."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[2]
MAIN = ROOT / "app" / "main.py"


@dataclass(frozen=True)
class Dashboard:
    """The state the pages show: ``runs`` maps configuration number -> run id (#25, #75 and the members of
    #75: #2, #10, #18); ``dataset``: the micro dataset's folder (registered as "tiny")."""

    home: Path
    data_root: Path
    dataset: Path
    database_url: str
    runs: dict[int, int]


def open_page(name: str, query: dict[str, str] | None = None, timeout: float = 60) -> AppTest:
    """The app opened on ``views/<name>.py`` with ``query`` (the first run registers st.navigation's pages; the
    Launch page is the default one), with no exception shown."""
    at = AppTest.from_file(str(MAIN), default_timeout=timeout).run()
    assert not at.exception, [e.value for e in at.exception]
    if name != "launch":
        at.query_params.update(query or {})
        at.switch_page(f"views/{name}.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def clear_streamlit_caches() -> None:
    """``st.cache_data`` and ``st.cache_resource`` live in the process, not in an AppTest: a test that follows
    another would see its cached engine and tables."""
    st.cache_data.clear()
    st.cache_resource.clear()


@pytest.fixture(autouse=True)
def _parameters_counted_here_after_the_app() -> Iterator[None]:
    """``app/main.py`` run by an AppTest declares this process torch-free (``count_parameters_apart``); the
    tests that follow submit as the command line does."""
    from worker.runs import count_parameters_apart

    yield
    count_parameters_apart(False)


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dashboard]:
    from sqlalchemy import select

    from db.engine import forget, get_engine, reading
    from db.models import Run
    from worker.execute import execute_run
    from worker.runs import submit
    from y8m_models.data.synthetic import generate
    from y8m_models.options import RunOptions

    home = tmp_path_factory.mktemp("dashboard-home")
    data_root = home / "datasets"
    generate(data_root / "tiny", preset="micro", seed=3)
    url = f"sqlite:///{home / 'y8m.db'}"
    with pytest.MonkeyPatch.context() as mp:
        for key, value in {"Y8M_HOME": str(home), "Y8M_DATA_ROOTS": str(data_root), "Y8M_DATABASE_URL": url,
                           "Y8M_BROKER_URL": "filesystem://", "Y8M_ARTIFACTS": str(home)}.items():
            mp.setenv(key, value)
        for key in ("Y8M_APP_PASSWORD", "Y8M_FRAMES_DIR"):
            mp.delenv(key, raising=False)
        clear_streamlit_caches()
        single = submit("25", data_root / "tiny", RunOptions(max_steps=4))
        stack = submit("75", data_root / "tiny", RunOptions(max_steps=4))
        assert single.targets[25] in stack.reused, "#75 should reuse the #25 run"
        for run_id in sorted(single.created + stack.created):
            execute_run(run_id)
        with reading(get_engine(url)) as s:
            runs = list(s.scalars(select(Run).order_by(Run.id)))
            failed = [f"run {r.id} (#{r.number} {r.kind}): {r.status} {r.error or ''}" for r in runs
                      if r.status != "succeeded"]
            assert not failed, "fixture runs did not succeed: " + "; ".join(failed)
            numbers = {r.number: r.id for r in runs}
        assert set(numbers) == {2, 10, 18, 25, 75}, numbers
        yield Dashboard(home, data_root, data_root / "tiny", url, numbers)
        clear_streamlit_caches()
    forget(url)
