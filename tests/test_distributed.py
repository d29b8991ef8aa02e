"""Training under DDP (``y8m train --nproc N``) on the CPU with gloo: two processes train as one would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from y8m_models.cli.torchrun import main as distributed_main
from y8m_models.configs import resolve
from y8m_models.data.synthetic import generate
from y8m_models.distributed import batch_mean
from y8m_models.experiment import create_run, open_run
from y8m_models.train import fit

Y8M = str(Path(sys.executable).with_name("y8m"))


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("distributed") / "tiny"
    generate(out, preset="micro", seed=2)
    return out


def _one_step_gradients(rank: int, world_size: int, run_dir: Path, rendezvous: Path) -> None:
    """In each process: one step of ``fit``; its gradients (after DDP's all-reduce) to a file."""
    if world_size > 1:
        dist.init_process_group("gloo", init_method=f"file://{rendezvous}", rank=rank, world_size=world_size)
    torch.set_num_threads(1)
    run = open_run(run_dir)
    torch.manual_seed(run.seed)
    model = run.build()
    fit(model, run.model, run.files("train1"), run.num_classes, None, 1, seed=run.seed,
        vertical_matrix=run.model_inputs().vertical_matrix)
    grads = {name: p.grad for name, p in model.named_parameters() if p.grad is not None}
    buffers = dict(model.named_buffers())  # batch-norm moving averages
    torch.save({"grads": grads, "buffers": buffers}, run_dir / f"grads-{world_size}-{rank}.pt")
    if world_size > 1:
        dist.destroy_process_group()


# #2: video level, chaining MoE; #16: multi-scale CNN-LSTM, batch normalisation over the valid frames; #3: LSTM
# over the valid frames. (DBoF and #11 draw frames at random, as dropout does: not the same draws.) Batches of
# 15 split 7 + 8: the ranks' losses are weighted by their share.
@pytest.mark.parametrize("config", ["chaining_video_8stage", "multiscale_cnn_lstm", "lstm_1024x2_moe8"])
def test_two_processes_take_the_gradient_of_one(data: Path, tmp_path: Path, config: str) -> None:
    run = create_run(resolve(config, "tiny", overrides={"model.training.batch_size": 15}), data, tmp_path / "run",
                     steps=1, seed=3)
    assert run.model.training.batch_size == 15
    _one_step_gradients(0, 1, run.dir, tmp_path / "unused")
    mp.spawn(_one_step_gradients, args=(2, run.dir, tmp_path / "rendezvous"), nprocs=2, join=True)
    one = torch.load(run.dir / "grads-1-0.pt", weights_only=True)
    ranks = [torch.load(run.dir / f"grads-2-{r}.pt", weights_only=True) for r in range(2)]
    assert set(one["grads"]) == set(ranks[0]["grads"]) and len(one["grads"]) > 3
    for name, grad in one["grads"].items():
        assert torch.equal(ranks[0]["grads"][name], ranks[1]["grads"][name]), name  # all-reduced
        torch.testing.assert_close(ranks[0]["grads"][name], grad, rtol=1e-4, atol=1e-6, msg=name)
    for name, buffer in one["buffers"].items():
        torch.testing.assert_close(ranks[0]["buffers"][name], buffer, rtol=1e-4, atol=1e-6, msg=name)


def _two_steps_of_every_model(rank: int, world_size: int, data: Path, out: Path, rendezvous: Path) -> None:
    """In each process: two steps of ``fit`` under DDP for every single model's code variant (DDP raises at the
    second step where a parameter got no gradient in the first); what failed to a file."""
    dist.init_process_group("gloo", init_method=f"file://{rendezvous}", rank=rank, world_size=world_size)
    torch.set_num_threads(1)
    failed = {}
    for number in range(1, 28):
        try:
            run = create_run(resolve(number, "tiny", as_in_code=True), data, out / f"{number}-{rank}", steps=2)
            torch.manual_seed(0)
            fit(run.build(), run.model, run.files("train1"), run.num_classes, None, 2,
                vertical_matrix=run.model_inputs().vertical_matrix)
        except Exception as exc:  # noqa: BLE001 - each model's failure is reported, not the first only
            failed[number] = f"{type(exc).__name__}: {str(exc)[:300]}"
    (out / f"failed-{rank}.json").write_text(json.dumps(failed))
    dist.destroy_process_group()


def test_every_models_code_variant_trains_under_ddp(data: Path, tmp_path: Path) -> None:
    """Parameters outside the loss (e.g. #16 ``--code``: its consensus head is not trained) must not stop DDP."""
    mp.spawn(_two_steps_of_every_model, args=(2, data, tmp_path, tmp_path / "rendezvous"), nprocs=2, join=True)
    for rank in range(2):
        assert json.loads((tmp_path / f"failed-{rank}.json").read_text()) == {}


def _batch_means(rank: int, world_size: int, rendezvous: Path, out: Path) -> None:
    dist.init_process_group("gloo", init_method=f"file://{rendezvous}", rank=rank, world_size=world_size)
    # rank 0: 3 videos of mean 1.0; rank 1: 1 video of 5.0 -> the batch's mean is (3 + 5) / 4 = 2.0
    mean = batch_mean(torch.tensor([1.0, 5.0][rank]), [3, 1][rank])
    torch.save(mean, out / f"mean-{rank}.pt")
    dist.destroy_process_group()


def test_batch_level_decisions_see_the_whole_batch(tmp_path: Path) -> None:
    """#1 relabels below a batch loss, #65 boosts above a batch mean: every rank takes the whole batch's."""
    mp.spawn(_batch_means, args=(2, tmp_path / "rendezvous", tmp_path), nprocs=2, join=True)
    assert [float(torch.load(tmp_path / f"mean-{r}.pt")) for r in range(2)] == [2.0, 2.0]
    assert float(batch_mean(torch.tensor(4.0), 7)) == 4.0  # one process: its own


def _train(data: Path, out: Path, *extra: str) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([Y8M, "train", "--config", "2", "--data", str(data), "--preset", "tiny", "--max-steps",
                           "20", "--eval-every", "10", "--seed", "1", "--device", "cpu", "--out", str(out), *extra],
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_y8m_train_nproc_2_matches_one_process(data: Path, tmp_path: Path) -> None:
    single = _train(data, tmp_path / "single")
    ddp = _train(data, tmp_path / "ddp", "--nproc", "2")
    assert ddp["processes"] == 2 and ddp["step"] == single["step"] == 20
    # The same batches and schedule: the losses agree up to floating-point order, which Adam's normalised first
    # steps amplify a little; validate1 scores within a few thousandths.
    lines = {name: [json.loads(x) for x in (tmp_path / name / "metrics.jsonl").read_text().splitlines()]
             for name in ("single", "ddp")}
    progress = {name: [m for m in lines[name] if "loss" in m] for name in lines}
    assert [m["step"] for m in progress["ddp"]] == [m["step"] for m in progress["single"]] == [10, 20]  # rank 0 only
    assert [m["examples"] for m in progress["ddp"]] == [m["examples"] for m in progress["single"]] == [160, 320]
    for a, b in zip(progress["single"], progress["ddp"], strict=True):
        assert b["loss"] == pytest.approx(a["loss"], rel=0.03)
    assert ddp["gap"] == pytest.approx(single["gap"], abs=0.02)
    assert [m["step"] for m in lines["ddp"] if m.get("split") == "validate1"] == [10, 20]
    # One checkpoint, written by rank 0, whose data positions are those of one process.
    states = [torch.load(tmp_path / name / "checkpoint.pt", weights_only=True)["state"] for name in lines]
    assert states[0] == states[1]
    assert (tmp_path / "ddp" / "best.pt").exists()


def test_bad_nproc_and_direct_start_are_refused(data: Path, tmp_path: Path) -> None:
    done = subprocess.run([Y8M, "train", "--config", "2", "--data", str(data), "--preset", "tiny", "--nproc", "0",
                           "--out", str(tmp_path / "r")], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "--nproc must be at least 1" in done.stderr.replace("\n", " ")
    done = subprocess.run([Y8M, "train", "--config", "2", "--data", str(data), "--preset", "tiny", "--nproc", "2",
                           "--set", "model.training.batch_size=1", "--out", str(tmp_path / "r")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "a batch of 1 cannot be split among 2" in done.stderr.replace("\n", " ")
    assert not (tmp_path / "r").exists()  # refused before anything was written
    done = subprocess.run([Y8M, "train", "--config", "2", "--data", str(data), "--preset", "tiny", "--nproc", "2",
                           "--device", "cuda:1", "--out", str(tmp_path / "r")], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 2 and "each process trains on a GPU of its own" in done.stderr.replace("\n", " ")
    assert not (tmp_path / "r").exists()
    if not torch.cuda.is_available():
        done = subprocess.run([Y8M, "train", "--config", "2", "--data", str(data), "--preset", "tiny", "--nproc",
                               "2", "--device", "cuda", "--out", str(tmp_path / "c")], capture_output=True, text=True,
                              timeout=120)
        assert done.returncode == 2 and "CUDA device" in done.stderr
    with pytest.raises(SystemExit, match="runs under torchrun"):
        os.environ.pop("LOCAL_RANK", None)
        distributed_main([str(tmp_path / "r")])
