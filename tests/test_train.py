"""The training protocol's pieces (catalog §4.8): staircase decay, L2 on weight matrices, per-tensor clipping."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from y8m_models.configs.schema import Training
from y8m_models.train import build_optimizer, clip_per_tensor


def test_staircase_decay_per_examples_seen() -> None:
    model = nn.Linear(3, 2)
    training = Training(learning_rate=0.01, batch_size=1000, decay_rate=0.5, decay_examples=2500)
    optimizer, scheduler = build_optimizer(model, training)
    seen = []
    for _ in range(6):
        seen.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    # floor(step * 1000 / 2500): steps 0-2 -> 0, 3-4 -> 1, 5 -> 2
    assert seen == pytest.approx([0.01, 0.01, 0.01, 0.005, 0.005, 0.0025])


def test_l2_on_weight_matrices_only() -> None:
    model = nn.Linear(3, 2)
    optimizer, _ = build_optimizer(model, Training(learning_rate=0.01, batch_size=8, l2=1e-3))
    decay = {id(p): g["weight_decay"] for g in optimizer.param_groups for p in g["params"]}
    assert decay[id(model.weight)] == 1e-3 and decay[id(model.bias)] == 0.0


def test_clip_per_tensor_is_tf_clip_by_norm() -> None:
    model = nn.Linear(2, 2)
    model.weight.grad = torch.tensor([[3.0, 0.0], [0.0, 4.0]])  # norm 5
    model.bias.grad = torch.tensor([0.3, 0.4])  # norm 0.5: left alone
    clip_per_tensor(model, 1.0)
    torch.testing.assert_close(model.weight.grad, torch.tensor([[0.6, 0.0], [0.0, 0.8]]))
    torch.testing.assert_close(model.bias.grad, torch.tensor([0.3, 0.4]))


def _tiny_data(tmp_path_factory) -> tuple[list, int]:
    from y8m_models.data.splits import split_files
    from y8m_models.data.synthetic import generate

    out = tmp_path_factory.mktemp("fit") / "tiny"
    summary = generate(out, preset="micro", seed=5)
    return split_files(out, "frame")["train1"], summary.classes


@pytest.mark.parametrize(("config", "workers", "stop"), [(11, 0, 9), (3, 2, 5), (3, 3, 14)])
def test_resume_ends_with_the_weights_of_an_uninterrupted_run(tmp_path, tmp_path_factory, config, workers,
                                                              stop) -> None:
    """An interrupted run resumed from its mid-epoch checkpoint must continue the same batches, random draws
    and optimizer state. #11 at tiny draws random half-frame subsets while training (global RNG); with
    DataLoader workers the shards' batches must interleave as before (stopping after an odd step leaves
    worker 1's batch next). 20 steps cross the end of the first epoch (240 train1 videos = 15 batches of 16;
    with 3 workers, 5 per shard)."""
    from y8m_models.configs import resolve
    from y8m_models.models import ModelInputs, build_architecture
    from y8m_models.train import CHECKPOINT, Callback, fit

    files, classes = _tiny_data(tmp_path_factory)
    spec = resolve(config, "tiny").model

    def model():
        torch.manual_seed(1)
        return build_architecture(spec.architecture, spec.params, ModelInputs(classes))

    straight = model()
    state = fit(straight, spec, files, classes, tmp_path / "straight", steps=20, seed=3, num_workers=workers)
    assert (state.step, state.epoch) == (20, 1)

    class StopAt(Callback):
        def should_stop(self, state) -> bool:
            return state.step == stop

    interrupted = model()
    first = fit(interrupted, spec, files, classes, tmp_path / "resumed", steps=20, seed=3, callbacks=(StopAt(),),
                num_workers=workers)
    assert first.step == stop and (tmp_path / "resumed" / CHECKPOINT).exists()
    resumed = model()  # a fresh process would start from new weights: the checkpoint replaces them
    fit(resumed, spec, files, classes, tmp_path / "resumed", steps=20, seed=3, resume=True, num_workers=workers)
    for (name, a), b in zip(straight.state_dict().items(), resumed.state_dict().values(), strict=True):
        assert torch.equal(a, b), name


def test_workers_read_as_shards_and_their_positions_are_checkpointed(tmp_path, tmp_path_factory) -> None:
    from y8m_models.configs import resolve
    from y8m_models.models import ModelInputs, build_architecture
    from y8m_models.train import CHECKPOINT, fit

    files, classes = _tiny_data(tmp_path_factory)
    spec = resolve(3, "tiny").model
    net = build_architecture(spec.architecture, spec.params, ModelInputs(classes))
    state = fit(net, spec, files, classes, tmp_path, steps=4, num_workers=2)
    assert state.num_shards == 2 and set(state.positions) == {0, 1}  # round robin: 2 batches from each
    saved = torch.load(tmp_path / CHECKPOINT, weights_only=True)["state"]
    assert saved["num_shards"] == 2 and saved["positions"] == {"0": 32, "1": 32}


def test_compiled_training_takes_the_eager_steps_and_saves_plain_weights(tmp_path, tmp_path_factory) -> None:
    """``compile=True`` trains through torch.compile: the same first loss as eager (later ones drift by float
    rounding, which Adam's first steps amplify), and a checkpoint that loads into the plain module."""
    from y8m_models.configs import resolve
    from y8m_models.models import ModelInputs, build_architecture
    from y8m_models.train import CHECKPOINT, Callback, fit

    files, classes = _tiny_data(tmp_path_factory)
    spec = resolve(3, "tiny").model

    class Losses(Callback):
        def __init__(self) -> None:
            self.values: list[float] = []

        def on_step(self, state, loss, learning_rate: float) -> None:
            self.values.append(float(loss))

    runs = {}
    for compile in (False, True):
        torch.manual_seed(1)
        net = build_architecture(spec.architecture, spec.params, ModelInputs(classes))
        losses = Losses()
        fit(net, spec, files, classes, tmp_path / str(compile), steps=3, seed=3, callbacks=(losses,),
            compile=compile)
        runs[compile] = losses.values
    assert runs[True][0] == pytest.approx(runs[False][0], rel=1e-5)
    assert runs[True] == pytest.approx(runs[False], rel=1e-2)
    plain = build_architecture(spec.architecture, spec.params, ModelInputs(classes))
    plain.load_state_dict(torch.load(tmp_path / "True" / CHECKPOINT, weights_only=True)["model"])


def test_side_inputs_weight_the_loss_and_mix_in_the_teacher(tmp_path: Path) -> None:
    """Bagging/boosting weights scale each video's loss; distillation is (1 - lambda) L(p, y) + lambda L(p, p_hat)
    (paper Eq. 12, lambda 0.4 for #39), both read by video id from the prediction store."""
    from y8m_models.configs import resolve
    from y8m_models.configs.check import synthetic_batch
    from y8m_models.ensemble.weights import ExampleWeights
    from y8m_models.losses import cross_entropy
    from y8m_models.models import ModelInputs, build_architecture
    from y8m_models.store import PredictionLookup, PredictionWriter, read_predictions
    from y8m_models.train import SideInputs, build_optimizer, train_step

    spec = resolve(39, "tiny", overrides={"model.loss.aux_weight": 0.0}).model
    assert spec.distillation is not None and spec.distillation.weight == 0.4
    inputs = ModelInputs(6, (1024, 128))
    batch = synthetic_batch("video", inputs, batch_size=4)
    batch["video_ids"] = ["a", "b", "c", "d"]
    teacher_BC = torch.rand(4, 6, generator=torch.Generator().manual_seed(0))
    with PredictionWriter(tmp_path / "teacher", 6) as writer:
        writer.add(["d", "c", "b", "a"], teacher_BC.flip(0))
    teacher = PredictionLookup([read_predictions(tmp_path / "teacher")])
    side = SideInputs(ExampleWeights(["a", "b", "c"], [0.0, 2.0, 1.0]), teacher)  # "d" is not listed: 1
    model_inputs = dict(batch)
    weights, soft = side.apply(batch, model_inputs, "cpu")
    assert weights.tolist() == [0.0, 2.0, 1.0, 1.0]
    torch.testing.assert_close(soft, teacher_BC.half().float())

    torch.manual_seed(0)
    net = build_architecture(spec.architecture, spec.params, inputs)
    net.train()
    with torch.no_grad():
        p_BC = net(model_inputs).predictions
    expected = spec.loss.main_weight * (0.6 * cross_entropy(p_BC, batch["labels"], weights)
                                        + 0.4 * cross_entropy(p_BC, soft, weights))
    optimizer, scheduler = build_optimizer(net, spec.training)
    loss = train_step(net, model_inputs, spec, optimizer, scheduler, weights=weights, teacher=soft)
    assert float(loss) == pytest.approx(float(expected), rel=1e-5)


def test_boost_from_stream_weights_videos_the_stream_gets_wrong(tmp_path: Path) -> None:
    """#65: loss weight 3.0 where the cascade stream's own cross-entropy is above the batch mean, else 0.5."""
    from y8m_models.store import PredictionLookup, PredictionWriter, read_predictions
    from y8m_models.train import SideInputs

    labels = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, 1.0]])
    stream = torch.tensor([[0.9, 0.1], [0.1, 0.9], [0.1, 0.9], [0.8, 0.3]])  # right, right, wrong, wrong
    with PredictionWriter(tmp_path / "s", 2) as writer:
        writer.add(["a", "b", "c", "d"], stream)
    side = SideInputs(cascade=PredictionLookup([read_predictions(tmp_path / "s")]), boost_from_stream=True)
    inputs = {"labels": labels}
    weights, teacher = side.apply({"video_ids": ["a", "b", "c", "d"]}, inputs, "cpu")
    assert weights.tolist() == [0.5, 0.5, 3.0, 3.0] and teacher is None
    assert inputs["cascade"].shape == (4, 1, 2)


def test_cuda_generator_states_of_more_gpus_resume_on_fewer(monkeypatch: pytest.MonkeyPatch) -> None:
    """A checkpoint saved under ``--nproc 8`` by the old rule (one state per visible GPU), resumed by a worker
    that sees one GPU, gives that GPU the state of its index (it used to raise IndexError); a new checkpoint's
    single state goes to whichever GPU resumes it; a CPU resume touches no GPU."""
    from y8m_models.train import restore_cuda_rng

    restored = []
    monkeypatch.setattr(torch.cuda, "set_rng_state", lambda state, device: restored.append((int(state[0]), device)))
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    eight = [torch.full((4,), i, dtype=torch.uint8) for i in range(8)]
    restore_cuda_rng(eight, "cuda")
    restore_cuda_rng(eight, "cuda:3")
    restore_cuda_rng(eight[5:6], "cuda:2")
    restore_cuda_rng(eight, "cpu")
    restore_cuda_rng([], "cuda:0")
    assert restored == [(0, torch.device("cuda")), (3, torch.device("cuda", 3)), (5, torch.device("cuda", 2))]


@pytest.mark.parametrize("config", [3, 8, 18, 25])
def test_a_deterministic_bf16_run_trains_and_keeps_its_numerics(tmp_path, tmp_path_factory, config) -> None:
    """``--precision bf16 --deterministic`` on the CPU: the LSTM (#3), the gathered frames of #8, the CNN (#18)
    and attention pooling (#25) train and evaluate under ``torch.use_deterministic_algorithms`` (an operation
    without a deterministic kernel would raise) and bf16 autocast; ``run.json`` keeps both for its resumption
    and predictions."""
    from y8m_models.data.synthetic import generate
    from y8m_models.experiment import create_run, open_run, train_run
    from y8m_models.numerics import Numerics

    data = tmp_path_factory.getbasetemp() / "deterministic-data"
    if not data.exists():
        generate(data, "micro", videos=80, classes=12, seed=6)
    numerics = Numerics("bf16", deterministic=True)
    run = create_run(config, data, tmp_path / "run", preset="tiny", steps=4, numerics=numerics)
    try:
        result = train_run(run, eval_every=2)
        assert torch.are_deterministic_algorithms_enabled() and torch.backends.cudnn.deterministic
    finally:
        torch.use_deterministic_algorithms(False)
        torch.backends.cudnn.deterministic = False
    assert result["step"] == 4 and 0 <= result["gap"] <= 1
    assert open_run(run.dir).numerics == numerics
