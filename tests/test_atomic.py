"""All-or-nothing artifacts (``y8m_models.atomic``) and the append-only ``metrics.jsonl``: an exception, a cut
line or a full disk (a real one: a small tmpfs, mounted where this runs as root) never leaves a part of a file
where a later step reads it, and a full disk says so with the path."""

from __future__ import annotations

import errno
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from y8m_models import atomic
from y8m_models.experiment import METRICS_FILE, RunError, log_metric, read_metrics


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """An 8 MiB tmpfs: a file system that fills up. Skipped where it cannot be mounted (not root)."""
    folder = tmp_path / "disk"
    folder.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(folder)],
                             capture_output=True, text=True)
    if mounted.returncode:
        pytest.skip(f"cannot mount a small tmpfs here: {mounted.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=True)


def _fill(folder: Path) -> Path:
    """Fill the file system until one more byte does not fit; returns the filler file."""
    filler = folder / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:
        for size in (65536, 4096, 1):
            while True:
                try:
                    if os.write(fd, b"\0" * size) < size:
                        break
                except OSError as exc:
                    assert exc.errno == errno.ENOSPC
                    break
    finally:
        os.close(fd)
    return filler


def test_a_block_that_raises_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "run.json"
    atomic.write_text(target, "old")
    with pytest.raises(RuntimeError, match="midway"), atomic.replacing(target, "w") as out:
        out.write("new, half written")
        raise RuntimeError("midway")
    assert target.read_text() == "old" and _leftovers(tmp_path) == []


def test_torch_and_npz_round_trip_at_exactly_the_name_given(tmp_path: Path) -> None:
    atomic.save_torch({"w": torch.arange(3)}, tmp_path / "best.pt")
    assert torch.equal(torch.load(tmp_path / "best.pt", weights_only=True)["w"], torch.arange(3))
    atomic.save_npz(tmp_path / "weights", ids=np.array(["a"]), weights=np.ones(1))
    with np.load(tmp_path / "weights") as data:  # no ".npz" appended
        assert data["ids"].tolist() == ["a"]
    assert _leftovers(tmp_path) == []


def test_an_injected_enospc_is_disk_full_naming_the_file(tmp_path: Path) -> None:
    target = tmp_path / "stack.pt"
    with pytest.raises(atomic.DiskFull, match=f"disk full while writing {target}"), atomic.replacing(target):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    assert not target.exists() and _leftovers(tmp_path) == []


def test_a_full_disk_keeps_the_previous_checkpoint_whole(small_disk: Path) -> None:
    target = small_disk / "checkpoint.pt"
    atomic.save_torch({"step": 1, "w": torch.zeros(100)}, target)
    before = target.read_bytes()
    _fill(small_disk)
    with pytest.raises(atomic.DiskFull, match=f"disk full while writing {target}"):
        atomic.save_torch({"step": 2, "w": torch.zeros(100_000)}, target)
    assert target.read_bytes() == before and _leftovers(small_disk) == []
    assert torch.load(target, weights_only=True)["step"] == 1


def test_metrics_tolerate_a_cut_last_line_and_the_next_write_removes_it(tmp_path: Path) -> None:
    log_metric(tmp_path, {"step": 10, "loss": 1.5})
    with open(tmp_path / METRICS_FILE, "a") as out:
        out.write('{"step": 20, "lo')  # the writer was killed here
    assert read_metrics(tmp_path) == [{"step": 10, "loss": 1.5}]
    log_metric(tmp_path, {"step": 20, "loss": 1.25})  # the resumed run
    assert read_metrics(tmp_path) == [{"step": 10, "loss": 1.5}, {"step": 20, "loss": 1.25}]
    assert (tmp_path / METRICS_FILE).read_text().count("\n") == 2


def test_a_damaged_whole_line_is_named(tmp_path: Path) -> None:
    (tmp_path / METRICS_FILE).write_text('{"step": 10}\nnot json\n{"step": 20}\n')
    with pytest.raises(RunError, match=rf"{METRICS_FILE}, line 2: not a JSON line"):
        read_metrics(tmp_path)


def test_metrics_on_a_full_disk_say_so_and_go_on_once_there_is_room(small_disk: Path) -> None:
    log_metric(small_disk, {"step": 10})
    filler = _fill(small_disk)
    with pytest.raises(atomic.DiskFull, match=f"disk full while writing {small_disk / METRICS_FILE}"):
        log_metric(small_disk, {"step": 20, "note": "x" * 8192})
    filler.unlink()
    log_metric(small_disk, {"step": 20})
    assert read_metrics(small_disk) == [{"step": 10}, {"step": 20}]
    assert json.loads((small_disk / METRICS_FILE).read_text().splitlines()[-1]) == {"step": 20}


def test_a_run_whose_disk_fills_fails_readably_and_resumes_once_there_is_room(small_disk: Path,
                                                                               tmp_path: Path) -> None:
    """Fault injection at the run level: the run directory on a small file system that fills up between two
    checkpoints. Training stops with "disk full while writing ..."; the earlier checkpoint, run.json and
    metrics.jsonl are whole; with room again, the run resumes from that checkpoint and finishes."""
    from y8m_models.data.synthetic import generate
    from y8m_models.experiment import create_run, open_run, train_run
    from y8m_models.train import CHECKPOINT, Callback

    data = tmp_path / "tiny"
    generate(data, "micro", videos=60, classes=12, seed=4)
    run = create_run(1, data, small_disk / "run", preset="tiny", steps=12)

    class FillAfter(Callback):  # the disk fills once the step-4 checkpoint is written
        def on_step(self, state, loss: float, learning_rate: float) -> None:
            if state.step == 5:
                _fill(small_disk)

    with pytest.raises(atomic.DiskFull, match=r"disk full while writing .*run/"):
        train_run(run, checkpoint_every=4, eval_every=100, callbacks=(FillAfter(),))
    assert torch.load(run.dir / CHECKPOINT, weights_only=True)["state"]["step"] == 4
    assert _leftovers(run.dir) == []
    assert open_run(run.dir).steps == 12
    assert all(m.get("step", 0) <= 8 for m in read_metrics(run.dir))  # whole lines only
    (small_disk / "filler").unlink()
    result = train_run(open_run(run.dir), resume=True, checkpoint_every=4, eval_every=100)
    assert result["step"] == 12
    assert torch.load(run.dir / CHECKPOINT, weights_only=True)["state"]["step"] == 12


def test_a_prediction_split_on_a_full_disk_keeps_the_old_one(small_disk: Path) -> None:
    from y8m_models.store import PredictionWriter, read_predictions

    folder = small_disk / "predictions" / "validate2"
    with PredictionWriter(folder, 10) as writer:
        writer.add(["a", "b"], np.full((2, 10), 0.5))
    _fill(small_disk)
    with pytest.raises(atomic.DiskFull, match=f"disk full while writing {folder}"), \
            PredictionWriter(folder, 10) as writer:
        for start in range(0, 200_000, 1000):
            writer.add([f"v{i}" for i in range(start, start + 1000)], np.zeros((1000, 10)))
    kept = read_predictions(folder)
    assert kept.ids.tolist() == ["a", "b"] and float(kept.dense([0])[0, 0]) == 0.5
    assert sorted(p.name for p in folder.parent.iterdir()) == ["validate2"]  # no staging folder left


# The killed child: a run that writes its checkpoint at every step, whose flush of a file to the disk takes 20 ms
# more than it would (``os.fsync`` of a regular file), so that the temporary file lives long enough for a kill
# that follows its appearance by a fraction of a millisecond to land before the rename on any disk (on a fast one
# the write and flush of a small checkpoint end in tens of microseconds and a kill could always come too late).
TRAIN_ON = ("import os, stat, sys, time; from pathlib import Path; "
            "from y8m_models.experiment import open_run, train_run; "
            "flush = os.fsync; "
            "os.fsync = lambda fd: (stat.S_ISREG(os.fstat(fd).st_mode) and time.sleep(0.02), flush(fd))[1]; "
            "train_run(open_run(Path(sys.argv[1])), resume=True, checkpoint_every=1, eval_every=1000)")


STRAIGHT = ("import sys; from pathlib import Path; from y8m_models.experiment import open_run, train_run; "
            "train_run(open_run(Path(sys.argv[1])), checkpoint_every=1000, eval_every=1000)")


def test_kill_9_at_random_points_of_checkpoint_writes_loses_nothing(tmp_path: Path) -> None:
    """A run that writes its checkpoint at every step, killed with SIGKILL at random moments just after a
    checkpoint's temporary file appears (in the middle of its write or of its flush, which TRAIN_ON slows), three
    times, and resumed each time: after every kill ``checkpoint.pt`` loads whole and never goes back; the resumed
    run ends with exactly the weights of a run that was never killed, and the half-written temporaries are gone."""
    import random
    import signal
    import sys
    import time

    from y8m_models.data.synthetic import generate
    from y8m_models.experiment import create_run, open_run
    from y8m_models.train import CHECKPOINT

    seed = random.SystemRandom().randrange(2**32)
    rng = random.Random(seed)
    data = tmp_path / "tiny"
    generate(data, "micro", videos=60, classes=12, seed=4)
    killed = create_run(1, data, tmp_path / "killed", preset="tiny", steps=80)
    steps_seen, cut = [0], 0
    for _ in range(3):
        child = subprocess.Popen([sys.executable, "-c", TRAIN_ON, str(killed.dir)], env={**os.environ,
                                 "OMP_NUM_THREADS": "1"}, stderr=subprocess.PIPE)
        started, wait, deadline = None, rng.uniform(0, 1.0), time.monotonic() + 120
        while child.poll() is None and time.monotonic() < deadline:
            if (killed.dir / f".{CHECKPOINT}.{child.pid}.tmp").exists():  # this child writes a checkpoint
                started = started or time.monotonic()  # training has begun: kill at a write after ``wait``
                if time.monotonic() - started > wait:
                    time.sleep(rng.uniform(0, 0.0002))
                    child.send_signal(signal.SIGKILL)
                    break
        child.wait()
        assert child.returncode in (-signal.SIGKILL, 0), child.stderr.read().decode()[-2000:]
        cut += bool(_leftovers(killed.dir))
        saved = killed.dir / CHECKPOINT  # none yet: the kill came during the first checkpoint's write
        step = torch.load(saved, weights_only=True)["state"]["step"] if saved.exists() else 0
        assert step >= steps_seen[-1], f"seed {seed}: the checkpoint went back from {steps_seen[-1]} to {step}"
        steps_seen.append(step)
    subprocess.run([sys.executable, "-c", TRAIN_ON, str(killed.dir)], check=True, env={**os.environ,
                   "OMP_NUM_THREADS": "1"})
    print(f"\nseed {seed}: killed at checkpoints of steps {steps_seen[1:]}, {cut} of 3 in the middle of a write")
    assert _leftovers(killed.dir) == [] and cut >= 1
    # The run never killed trains in a child with the same single thread: a matrix product's sums may be ordered
    # differently with another thread count, and the claim is about resuming, not about threads.
    straight = create_run(1, data, tmp_path / "straight", preset="tiny", steps=80)
    subprocess.run([sys.executable, "-c", STRAIGHT, str(straight.dir)], check=True, env={**os.environ,
                   "OMP_NUM_THREADS": "1"})
    ends = [torch.load(run.dir / CHECKPOINT, weights_only=True) for run in (open_run(killed.dir), straight)]
    assert ends[0]["state"]["step"] == ends[1]["state"]["step"] == 80
    for name, weight in ends[1]["model"].items():
        assert torch.equal(ends[0]["model"][name], weight), f"seed {seed}: {name} differs after the kills"


def test_a_stack_on_a_full_disk_fails_readably_and_keeps_the_stack_it_had(small_disk: Path, tmp_path: Path) -> None:
    """#75's class-wise stack written on a small file system, then fitted again once the disk is full: it stops
    with "disk full while writing ..." in its folder, the stack, stacking weights and predictions it had are
    untouched and no temporary is left; with room again it fits and writes the same stack. Its members'
    predictions are stored noisy labels (the stack's writes are what is tested, not the members')."""
    from y8m_models.data.synthetic import generate
    from y8m_models.executor import Executor
    from y8m_models.options import RunOptions
    from y8m_models.pipeline import plan
    from y8m_models.store import PredictionWriter, read_predictions

    data = tmp_path / "tiny"
    classes = generate(data, "micro", videos=120, classes=12, seed=2).classes
    jobs = plan([75], data, RunOptions(max_steps=5))

    def place(job) -> Path:
        return (small_disk if job.kind == "stack" else tmp_path / "runs") / job.name

    executor = Executor(data, place, classes, RunOptions(), log=lambda line: None)
    *members, stack = jobs.jobs
    folder = place(stack)
    assert stack.kind == "stack" and folder.parent == small_disk and all(m.kind == "train" for m in members)
    rng = np.random.default_rng(0)
    for member in members:
        for split in ("train2", "validate2", "test"):
            ids, labels, _ = executor.split(split)
            with PredictionWriter(place(member) / "predictions" / split, classes) as writer:
                writer.add(list(ids), np.clip(labels + rng.normal(0, 0.6, labels.shape), 0, 1))
    folder.mkdir()
    first = executor(stack, folder)
    kept = {name: (folder / name).read_bytes() for name in ("stack.pt", "stacking_weights.npz")}
    scores = read_predictions(folder / "predictions" / "validate2").dense(list(range(10)))
    _fill(small_disk)
    with pytest.raises(atomic.DiskFull, match=f"disk full while writing {folder}/"):
        executor(stack, folder)
    assert all((folder / name).read_bytes() == content for name, content in kept.items())
    assert np.array_equal(read_predictions(folder / "predictions" / "validate2").dense(list(range(10))), scores)
    assert _leftovers(folder) == []
    (small_disk / "filler").unlink()
    again = executor(stack, folder)
    assert again["gap"]["validate2"] == first["gap"]["validate2"]
    assert (folder / "stack.pt").read_bytes() != b""
