"""The dashboard process never imports torch (ARCHITECTURE.md): the configurations reach it as data
(``y8m_models.architectures``, ``y8m_models.configs``) and a submission's parameter count is made in a helper
process (``worker.runs.parameter_counts``). Checked in a fresh interpreter, since this one has loaded torch:
every page rendered through AppTest over ``conftest.dashboard``'s runs, a preview and a submission from the
Launch page, then ``sys.modules``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

from tests.app.conftest import MAIN, ROOT, Dashboard

PAGES = ("compose", "runs", "leaderboard", "attention", "stacking", "datasets", "paper")

SCRIPT = textwrap.dedent("""
    import json, sys, traceback

    first = []

    class Watch:  # records who imports torch first, for the failure message
        def find_spec(self, name, path=None, target=None):
            if name == "torch" and not first:
                first.append("".join(traceback.format_stack(limit=40)[:-1]))
            return None

    sys.meta_path.insert(0, Watch())
    from streamlit.testing.v1 import AppTest

    main, pages, run = sys.argv[1], sys.argv[2].split(","), sys.argv[3]
    problems, shown = [], []

    def check(at, where):
        problems.extend(f"{where}: {e.value}" for e in at.exception)
        shown.append(where)

    def select(at, key, prefix):
        box = at.selectbox(key=key)
        box.select_index(next(i for i, label in enumerate(box.options) if label.startswith(prefix)))

    at = AppTest.from_file(main, default_timeout=120).run()
    check(at, "launch")
    at.number_input(key="launch_max_steps").set_value(4)
    select(at, "launch_config", "#75 ")
    at.run()
    check(at, "launch preview of #75")
    select(at, "launch_config", "#3 ")
    at.selectbox(key="launch_preset").set_value("tiny")
    at.number_input(key="launch_seed").set_value(7).run()
    at.button(key="launch_submit").click().run()
    check(at, "launch submit of #3")
    for page in pages:
        at = AppTest.from_file(main, default_timeout=120).run()
        if page == "runs":
            at.query_params["run"] = run
        at.switch_page(f"views/{page}.py").run()
        check(at, page)
    print(json.dumps({"torch": "torch" in sys.modules, "importer": first[0] if first else None,
                      "problems": problems, "shown": shown}))
""")


def test_no_page_imports_torch(dashboard: Dashboard) -> None:
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(MAIN), ",".join(PAGES), str(dashboard.runs[25])],
                          cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-4000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["problems"] == []
    assert len(report["shown"]) == 3 + len(PAGES)
    assert not report["torch"], f"the dashboard imported torch:\n{report['importer']}"


def test_the_watch_would_see_torch() -> None:
    """The check itself: the same script's watch names the module that imports torch."""
    probe = SCRIPT.split("from streamlit.testing")[0] + "import y8m_models.numerics\nprint(json.dumps({'torch': " \
        "'torch' in sys.modules, 'importer': first[0] if first else None}))\n"
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120)
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["torch"] and "y8m_models/numerics.py" in report["importer"]
