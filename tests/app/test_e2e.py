"""The dashboard end to end in a real browser: ``python -m app.serve`` (what ``make run`` starts: a worker and
Streamlit on SQLite and the folder broker) on a micro synthetic dataset, driven through Debian's chromium with
Playwright. A run of #1 is launched from the form, trained by the worker to ``succeeded`` on the Runs page, and
its validate2 GAP shows on the Leaderboard; a 3-trial sweep of #1's learning rate started on the Sweeps page is
trained by the worker, followed there to ``finished``, and its best trial opened on the Runs page; every page opens
(the Paper page with no demo or set yet); a video uploaded on "Try a video" is extracted and predicted by the
worker with a #25 trained on sample videos extracted (random weights) while the rest ran, its top labels and
attention gallery shown; Ctrl-C stops everything.

The app runs with ``Y8M_APP_PASSWORD`` and the browser first opens a page other than the default one, as a
shared link does on a freshly started server: the password must be asked for there too.

Screenshots of each page go to ``$Y8M_SCREENSHOTS`` when set, else to the test's temporary folder. About
170 s on 2 cores, the sweep 25 s of it (the worker trains, extracts and predicts for real). Chromium is
``/usr/bin/chromium`` (``.ci/run`` installs it; never ``playwright install``)."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
pytestmark = [pytest.mark.slow, pytest.mark.skipif(
    not CHROMIUM.exists(), reason=f"no chromium at {CHROMIUM} (apt-get install chromium; .ci/run does)")]
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PASSWORD = "e2e-password"
PAGES = ["Launch", "Compose", "Runs", "Sweeps", "Leaderboard", "Paper", "Attention", "Try a video", "Stacking",
         "Datasets"]
# the run store's settings a developer may have exported: the app must run on the embedded default here
STORE_SETTINGS = ("Y8M_DATABASE_URL", "Y8M_BROKER_URL", "Y8M_ARTIFACTS", "Y8M_DATA_ROOTS")


@dataclass
class Served:
    process: subprocess.Popen
    url: str
    home: Path
    output: Path

    def text(self) -> str:
        return self.output.read_text()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _descendants(pid: int) -> set[int]:
    """The processes below ``pid`` (from /proc: the worker, its pool child, streamlit)."""
    parents = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        parents[int(stat.parent.name)] = int(fields[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.fixture
def served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Served]:
    from y8m_models.data.synthetic import generate

    home = tmp_path / "home"
    generate(home / "datasets" / "paper", preset="micro", seed=0)
    port = _free_port()
    for key in STORE_SETTINGS:
        monkeypatch.delenv(key, raising=False)
    monkeypatch.delenv("Y8M_APP_HOST", raising=False)
    for key, value in {"Y8M_HOME": str(home), "Y8M_APP_PORT": str(port), "Y8M_WORKERS": "1",
                       "OMP_NUM_THREADS": "1", "Y8M_APP_PASSWORD": PASSWORD, "PYTHONUNBUFFERED": "1"}.items():
        monkeypatch.setenv(key, value)  # also this process's: worker.runs.show reads the same store
    output = tmp_path / "serve.out"
    with open(output, "w") as out:
        process = subprocess.Popen([sys.executable, "-m", "app.serve"], cwd=ROOT, stdout=out,
                                   stderr=subprocess.STDOUT)
    served = Served(process, f"http://127.0.0.1:{port}", home, output)
    try:
        deadline = time.monotonic() + 120
        while "Ctrl-C stops everything" not in served.text():
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"app.serve did not come up:\n{served.text()}")
            time.sleep(0.2)
        assert f"Open {served.url}" in served.text()
        yield served
    finally:
        if process.poll() is None:  # the test failed before its own Ctrl-C
            children = _descendants(process.pid)
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
            for pid in children:
                if _alive(pid):
                    os.kill(pid, signal.SIGKILL)


def _settle(page, quiet: float = 1.0, timeout: float = 60) -> None:
    """Until the script has finished: Streamlit's status widget ("Running...") absent for ``quiet`` s (it
    appears only after a short delay, so one look is not enough)."""
    page.wait_for_selector('[data-testid="stApp"]')
    running = page.get_by_test_id("stStatusWidget")
    deadline = since = time.monotonic()
    deadline += timeout
    while time.monotonic() < deadline:
        if running.count():
            since = time.monotonic()
        elif time.monotonic() - since >= quiet:
            return
        time.sleep(0.1)
    raise AssertionError(f"the script of {page.url} still runs after {timeout:.0f} s")


def _choose(page, label: str, text: str) -> None:
    """A selectbox: click, type to filter, Enter."""
    page.get_by_role("combobox", name=label).click()
    page.keyboard.type(text)
    page.keyboard.press("Enter")
    _settle(page)


def _open(page, name: str, title: str) -> None:
    """A page through the sidebar (the same browser session: the password is asked once)."""
    page.get_by_test_id("stSidebarNav").get_by_role("link", name=name, exact=True).click()
    _visible_title(page, title)
    _settle(page)


def _visible_title(page, title: str | re.Pattern) -> None:
    from playwright.sync_api import expect

    expect(page.get_by_role("heading", level=1, name=title)).to_be_visible(timeout=30_000)


def _screenshot(page, folder: Path, name: str) -> None:
    """The whole page: Streamlit scrolls inside its main block, so the window grows to the content first."""
    height = page.evaluate("document.querySelector('[data-testid=\"stMain\"]').scrollHeight")
    page.set_viewport_size({"width": 1400, "height": min(max(900, height), 6000)})
    page.wait_for_timeout(500)  # charts redraw at the new size
    page.screenshot(path=folder / f"{name}.png", full_page=True)
    page.set_viewport_size({"width": 1400, "height": 900})


def _cell(page, row_first_cell: str, column: str) -> str:
    """A cell of the first st.dataframe. The grid is drawn on a canvas; its text is in a hidden table kept
    for screen readers (hidden: so CSS, not roles)."""
    table = page.get_by_test_id("stDataFrame").first.locator("table")
    table.locator("tbody td").first.wait_for(state="attached")
    headers = [(h.text_content() or "").strip() for h in table.locator("thead th").all()]
    assert column in headers, f"no column {column!r} in {headers}"
    for row in table.locator("tbody tr").all():
        cells = [(c.text_content() or "").strip() for c in row.locator("td").all()]
        if cells and cells[0] == row_first_cell:
            return cells[headers.index(column)]
    raise AssertionError(f"no row {row_first_cell!r} in the table")


def _submitted_and_trained(page, button: str) -> int:
    """Click the page's submit button; the run it opens on the Runs page, once a worker has trained it."""
    from playwright.sync_api import expect

    page.get_by_role("button", name=button).click()
    page.wait_for_url(re.compile(r"/runs\?run=\d+$"))
    run_id = int(page.url.rsplit("=", 1)[1])
    # a worker of one thread trains it beside the app: minutes where the machine is busy
    expect(page.get_by_role("heading", name=f"run {run_id}: succeeded")).to_be_visible(timeout=240_000)
    return run_id


def _filled_launch_form(page, number: int, slug: str):
    """The Launch form with configuration ``number`` at preset tiny for 30 steps; returns the steps field."""
    from playwright.sync_api import expect

    _open(page, "Launch", "Launch a run")
    _choose(page, "Configuration", slug)
    _choose(page, "Preset", "tiny")
    steps = page.get_by_label(re.compile(r"^Max steps"))
    steps.fill("30")
    steps.press("Enter")
    _settle(page)
    expect(page.get_by_role("combobox", name="Configuration")).to_have_value(re.compile(rf"^#{number} {slug} "))
    return steps


def _swept_and_best_opened(page, shots: Path) -> None:
    """A 3-trial sweep of #1's learning rate at preset tiny, 20 steps a trial, started from the Sweeps page and
    followed there until the worker has trained it; then its best trial's run, opened from the page."""
    from playwright.sync_api import expect

    from worker.sweeps import show_sweep

    _open(page, "Sweeps", "Sweeps")
    _choose(page, "Configuration", "#1 chaining_video_relabel")  # not its variant e2e-s2 (step 3b)
    expect(page.get_by_role("combobox", name="Configuration")).to_have_value(re.compile(r"^#1 chaining_video_relabel "))
    space = page.get_by_label(re.compile(r"^Search space"))
    space.fill("model.training.learning_rate: {low: 0.001, high: 0.1, log: true}")
    space.press("Control+Enter")  # a text area sends its value on Ctrl+Enter or blur
    _settle(page)
    for label, value in (("Trials", "3"), ("Max steps per trial (0: the configuration's epochs)", "20")):
        field = page.get_by_label(label, exact=True)
        field.fill(value)
        field.press("Enter")
        _settle(page)
    page.get_by_role("button", name="Start the sweep").click()
    started = page.get_by_text(re.compile(r"^Sweep \d+ started: 3 trials of #1 chaining_video_relabel, 1 at once$"))
    expect(started).to_be_visible(timeout=60_000)
    sweep_id = int(started.text_content().split()[1])
    # the page polls the sweep; a worker of one thread trains the trials one after the other
    expect(page.get_by_role("heading", name=re.compile(rf"^sweep {sweep_id} \S+: finished "))).to_be_visible(
        timeout=240_000)
    info = show_sweep(sweep_id)
    assert [t["state"] for t in info["trials"]] == ["complete"] * 3, info["trials"]
    assert [t["run_steps"] for t in info["trials"]] == [20] * 3, info["trials"]
    _settle(page)
    _screenshot(page, shots, "3e-sweep")
    best = info["best"]
    assert best["value"] == max(t["value"] for t in info["trials"])
    expect(page.get_by_text(f"Best: trial {best['trial']}")).to_be_visible()
    page.get_by_role("link", name=f"Open run {best['run']}, the best trial's").click()
    page.wait_for_url(re.compile(rf"/runs\?run={best['run']}$"))
    expect(page.get_by_role("heading", name=f"run {best['run']}: succeeded")).to_be_visible()
    _settle(page)


def _extracted_clips(home: Path) -> Path:
    """Three sample videos with labels extracted (random weights) into ``$Y8M_HOME/datasets/clips``, and a fourth
    video to upload; returns that one. In the test's process, beside the app: unregistered until "Try a video"."""
    from y8m_models.features.extract import ExtractOptions, extract
    from y8m_models.features.sample_video import write_video

    videos = home / "clips"
    for i, seconds in enumerate((3.0, 2.0, 2.0)):
        write_video(videos / f"clip{i}.mp4", seconds)
    labels = home / "clips.csv"
    labels.write_text("video_id,labels,split\nclip0,sky;cat,train1\nclip1,sea;dog,validate1\n"
                      "clip2,road;cat,validate2\n")
    extract([videos], home / "datasets" / "clips", labels=labels, options=ExtractOptions(random_weights=True))
    return write_video(home / "upload" / "my holiday.mp4", 4.0)


def _tried(page, run_id: int, video: Path, home: Path) -> None:
    """``video`` uploaded on "Try a video" and predicted by run ``run_id``: its top labels, as the extraction's result
    says, and its frames with the most and least attention."""
    from playwright.sync_api import expect

    _open(page, "Try a video", "Try a video")
    page.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(str(video))
    expect(page.get_by_text(video.name)).to_be_visible()
    _choose(page, "Trained run", f"run {run_id}: ")
    expect(page.get_by_role("combobox", name="Trained run")).to_have_value(
        re.compile(rf"^run {run_id}: #25 multi_attention_pooling_lstm \(clips\) · attention"))
    page.get_by_role("button", name="Extract and predict").click()
    # the worker builds the networks, extracts 4 frames and predicts: the page polls the extraction until then
    expect(page.get_by_text("#25 multi_attention_pooling_lstm on 1 video(s)")).to_be_visible(timeout=240_000)
    _settle(page)
    (folder,) = (home / "extractions").iterdir()
    assert sorted(p.name for p in (folder / "uploads").iterdir()) == ["my_holiday.mp4"]
    result = json.loads((folder / "result.json").read_text())
    top = result["videos"]["my_holiday"]["top"]
    assert len(top) == 5 and _cell(page, "1", "label") == top[0]["name"]  # every class: sky, sea, road, cat, dog
    assert float(_cell(page, "1", "score")) == pytest.approx(top[0]["score"], abs=5e-5)
    expect(page.get_by_test_id("stImage")).to_have_count(8 * 4)  # 8 groups' 2 lowest and 2 highest of 4 frames
    expect(page.get_by_test_id("stImage").first.locator("img")).to_have_attribute("src", re.compile(r"/media/"))


def test_launch_train_and_browse_every_page_then_ctrl_c(served: Served, tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    from worker.runs import show

    shots = Path(os.environ.get("Y8M_SCREENSHOTS") or tmp_path / "screenshots")
    shots.mkdir(parents=True, exist_ok=True)
    beside = ThreadPoolExecutor(1)
    clips = beside.submit(_extracted_clips, served.home)  # for step 8, while the worker trains the others
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.set_default_timeout(30_000)

        # a fresh server opened on a page that is not the default one asks for the password first
        page.goto(f"{served.url}/runs")
        password = page.get_by_label("Password", exact=True)
        expect(password, "/runs on a fresh server: no password asked (a pages/ folder beside app/main.py puts "
                         "Streamlit in its legacy mode, which runs page files without main.py)").to_be_visible()
        password.fill(PASSWORD)
        password.press("Enter")
        expect(page.get_by_test_id("stSidebarNav").get_by_role("link")).to_have_text(PAGES)
        _settle(page)

        # a bookmarked /launch in a fresh browser opens the form: Streamlit serves the default page at "/" only,
        # and without the alias page a modal "Page not found" made the password field inert
        bookmark = browser.new_context().new_page()
        bookmark.goto(f"{served.url}/launch")
        field = bookmark.get_by_label("Password", exact=True)
        expect(field).to_be_visible()
        bookmark.wait_for_timeout(2000)
        expect(bookmark.get_by_text("Page not found")).to_have_count(0)
        field.fill(PASSWORD, timeout=5000)
        field.press("Enter")
        _visible_title(bookmark, "Launch a run")
        bookmark.context.close()

        # 1. launch #1 at preset tiny for 30 steps
        steps = _filled_launch_form(page, 1, "chaining_video_relabel")
        expect(page.get_by_role("combobox", name="Preset")).to_have_value("tiny")
        expect(steps).to_have_value("30")
        _screenshot(page, shots, "1-launch")
        # 2. the run's page, live, until the worker has trained it
        run_id = _submitted_and_trained(page, "Submit")
        _visible_title(page, "Runs")
        expect(page.get_by_text("step 30/30")).to_be_visible()
        expect(page.get_by_text("no data yet")).to_have_count(0)  # its loss and GAP curves
        info = show(run_id)
        assert info["status"] == "succeeded" and info["number"] == 1 and info["steps"] == 30, info
        _screenshot(page, shots, "2-runs")

        # 3. the leaderboard's #1 row holds the run's validate2 GAP
        _open(page, "Leaderboard", "Leaderboard of the 80 configurations and beyond")
        shown = float(_cell(page, "1", "our validate2 GAP"))
        assert shown == pytest.approx(info["scores"]["validate2"]["gap"], abs=5e-5)
        _screenshot(page, shots, "3-leaderboard")

        # 3b. #1 with 2 auxiliary stages, saved from the parameter form as a variant, trained, and on the leaderboard
        _open(page, "Launch", "Launch a run")
        _choose(page, "Configuration", "chaining_video_relabel")
        page.get_by_text("Parameters", exact=True).click()
        stages = page.get_by_label("stages", exact=True)
        stages.fill("2")
        stages.press("Enter")
        _settle(page)
        expect(page.get_by_text("**changed**")).to_have_count(0)  # markdown, not its source
        expect(page.get_by_text(re.compile(r"^changed \(paper 3\) · tiny 2"))).to_be_visible()
        page.get_by_text("Save these values as a variant", exact=True).click()
        page.get_by_label("Name (e.g. k16-lr2e-3)").fill("e2e-s2")
        page.get_by_role("button", name="Save as variant").click()
        _settle(page)
        # the save reruns the page: under load that takes longer than an assertion's default 5 s
        expect(page.get_by_text("Saved #1 · e2e-s2: selected below, and in the configuration list under its base")
               ).to_be_visible(timeout=30_000)
        expect(page.get_by_role("combobox", name="Configuration")).to_have_value(
            "#1 · e2e-s2 (variant of chaining_video_relabel)", timeout=30_000)
        steps = page.get_by_label(re.compile(r"^Max steps"))
        steps.fill("30")
        steps.press("Enter")
        _settle(page)
        _screenshot(page, shots, "3b-variant")
        variant_run = _submitted_and_trained(page, "Submit")
        assert show(variant_run)["variant"] == "e2e-s2"
        # 3c. the two finished runs stacked by attention weighted stacking in the composer, run, its weights on the
        # Stacking page and its row on the leaderboard beside the variant's
        _open(page, "Compose", "Compose an ensemble")
        page.get_by_label("Name (e.g. my-stack)").fill("e2e-stack")
        _choose(page, "Method", "attention")
        for run in (run_id, variant_run):
            _choose(page, "Members (configurations, variants, finished runs)", f"run {run}: ")
        page.keyboard.press("Escape")  # a multiselect stays open after a choice
        _settle(page)
        expect(page.get_by_role("heading", name="3 run(s): 1 new, 2 reused")).to_be_visible()
        _screenshot(page, shots, "3c-compose")
        stack_run = _submitted_and_trained(page, "Save and submit")
        assert show(stack_run)["variant"] == "e2e-stack"
        assert [i["run"] for i in show(stack_run)["inputs"]] == [run_id, variant_run]
        _open(page, "Stacking", "Stacking weights")
        expect(page.get_by_role("combobox", name="Stacking run")).to_have_value(
            re.compile(rf"^run {stack_run}: #78 ensemble57_attention_r3 · e2e-stack "))
        _screenshot(page, shots, "3c-stacking")
        _open(page, "Leaderboard", "Leaderboard of the 80 configurations and beyond")
        table = page.get_by_test_id("stDataFrame").first.locator("table")
        expect(table.locator("tbody td", has_text="chaining_video_relabel · e2e-s2")).to_have_count(1)
        _choose(page, "Section", "A.9")  # the ensembles: #75's rows are past what the grid draws
        page.keyboard.press("Escape")
        _settle(page)
        expect(table.locator("tbody td", has_text="ensemble57_attention_r3 · e2e-stack")).to_have_count(1)

        # 3d. beyond the paper: #81, WILLOW's gated NetVLAD, launched from the form and trained; its parameters in
        # the run record; its soft cluster assignments (the rgb frames' share of each cluster) on the Attention page
        _filled_launch_form(page, 81, "willow_gated_netvlad")
        willow = _submitted_and_trained(page, "Submit")
        info = show(willow)
        assert info["number"] == 81 and info["steps"] == 30 and info["parameters"] > 0, info
        _open(page, "Attention", "Attention frame gallery")
        _choose(page, "Run", f"run {willow}: ")
        expect(page.get_by_role("combobox", name="Run")).to_have_value(
            re.compile(rf"^run {willow}: #81 willow_gated_netvlad "))
        _screenshot(page, shots, "3d-attention-81")

        # 3e. a sweep of #1's learning rate started from the Sweeps page: 3 trials of 20 steps, one at a time, trained
        # by the worker (each trial's end asks the next); once it has finished its best trial opens on the Runs page
        _swept_and_best_opened(page, shots)
        _screenshot(page, shots, "3e-sweep-best-run")

        # 4. the Paper page: the demo not run on the dataset yet, no paper set yet, the two buttons there
        _open(page, "Paper", "The paper in miniature")
        expect(page.get_by_text("The demo on paper: 0 of 3 findings show")).to_be_visible()
        expect(page.get_by_text(re.compile(r"^No paper set yet: "))).to_be_visible()
        expect(page.get_by_role("button", name="Run the demo on the workers")).to_be_enabled()
        expect(page.get_by_role("button", name="Run the quick set on the workers")).to_be_enabled()
        _screenshot(page, shots, "4-paper")

        # 5-7. the other pages open
        for name, title in [("Attention", "Attention frame gallery"), ("Stacking", "Stacking weights"),
                            ("Datasets", "Datasets")]:
            _open(page, name, title)
            _screenshot(page, shots, f"{PAGES.index(name) + 1}-{name.lower()}")
        assert _cell(page, "paper", "classes") == "60"
        assert _cell(page, "paper", "features") == "rgb 1024 + audio 128"

        # 8. Try a video: a #25 trained on the sample videos extracted meanwhile, a video uploaded, extracted and
        # predicted by the worker, its top labels and its attention gallery on the page
        from worker.runs import submit
        from y8m_models.options import RunOptions

        upload = clips.result()
        beside.shutdown()
        attention = submit("25", served.home / "datasets" / "clips", RunOptions(max_steps=5)).targets[25]
        deadline = time.monotonic() + 240
        while (info := show(attention))["status"] != "succeeded":
            assert info["status"] in ("queued", "running") and time.monotonic() < deadline, info
            time.sleep(1)
        _tried(page, attention, upload, served.home)
        _screenshot(page, shots, "8-try-a-video")
        browser.close()

    # 9. Ctrl-C stops the app and the worker
    children = _descendants(served.process.pid)
    assert len(children) >= 3, children  # streamlit, the worker, its pool child
    served.process.send_signal(signal.SIGINT)
    assert served.process.wait(timeout=30) == 0, served.text()
    time.sleep(0.5)
    assert not [pid for pid in children if _alive(pid)], "processes left behind"
    assert "Stopping the app and the workers" in served.text()
