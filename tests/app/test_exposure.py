"""An exposed dashboard refuses to run open: ``app/exposure.py`` and the launcher (``app/serve.py``)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from app.exposure import exposure_problem, loopback
from tests.app.conftest import ROOT


@pytest.mark.parametrize(("address", "expected"), [
    ("127.0.0.1", True), ("127.1.2.3", True), ("::1", True), ("[::1]", True), ("localhost", True),
    ("0.0.0.0", False), ("::", False), ("192.168.1.5", False), ("example.org", False)])
def test_loopback(address: str, expected: bool) -> None:
    assert loopback(address) is expected


def test_reachable_without_a_password_is_refused_unless_open_is_intended() -> None:
    problem = exposure_problem("0.0.0.0", {})
    assert problem and "listening on 0.0.0.0" in problem
    assert "Y8M_APP_PASSWORD" in problem and "Y8M_APP_OPEN=1" in problem
    assert exposure_problem("0.0.0.0", {"Y8M_APP_PASSWORD": "s3cret"}) is None
    assert exposure_problem("0.0.0.0", {"Y8M_APP_OPEN": "1"}) is None
    assert exposure_problem("127.0.0.1", {}) is None
    # in a container: it listens everywhere, and where the port is published decides
    assert exposure_problem("0.0.0.0", {"Y8M_APP_PUBLISHED": "127.0.0.1"}) is None
    assert "published at 10.0.0.7" in exposure_problem("0.0.0.0", {"Y8M_APP_PUBLISHED": "10.0.0.7"})


def test_serve_refuses_to_start_open_on_every_interface(tmp_path) -> None:
    env = {"PATH": "/usr/bin:/bin", "Y8M_HOME": str(tmp_path), "Y8M_APP_HOST": "0.0.0.0", "Y8M_WORKERS": "0"}
    done = subprocess.run([sys.executable, "-m", "app.serve"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Y8M_APP_HOST=0.0.0.0: the dashboard would be listening on 0.0.0.0" in done.stderr
    assert not (tmp_path / "y8m.db").exists()  # refused before anything was prepared


def test_the_app_shows_only_the_refusal_when_published_open(monkeypatch: pytest.MonkeyPatch) -> None:
    from streamlit.testing.v1 import AppTest

    from tests.app.conftest import MAIN

    monkeypatch.setenv("Y8M_APP_PUBLISHED", "10.0.0.7")
    for name in ("Y8M_APP_PASSWORD", "Y8M_APP_OPEN"):
        monkeypatch.delenv(name, raising=False)
    at = AppTest.from_file(str(MAIN), default_timeout=30).run()
    (error,) = at.error
    assert error.value.startswith("The dashboard does not run open: the dashboard would be published at 10.0.0.7")
    assert not at.selectbox and not at.button  # no page ran
    monkeypatch.setenv("Y8M_APP_PASSWORD", "s3cret")
    at = AppTest.from_file(str(MAIN), default_timeout=30).run()
    assert not at.error and [t.label for t in at.text_input] == ["Password"]
