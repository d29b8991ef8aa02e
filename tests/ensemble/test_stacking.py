"""Stacking combiners (paper §8, Eq. 7-11; catalog §4.13): shapes, the weights' constraints, the formulas,
training on predictions where each member is right on its own half of the classes, checkpoint selection,
export for the dashboard and the errors on bad shapes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from y8m_models.configs.schema import Combiner, Training
from y8m_models.ensemble.stacking import (
    AttentionStack,
    ClasswiseStack,
    LinearStack,
    MeanStack,
    StackCallback,
    TensorStackData,
    build_stack,
    evaluate_stack,
    export_weights,
    fit_stack,
)
from y8m_models.metrics import evaluate

M, C, D = 3, 24, 8
FAST = Training(learning_rate=0.05, batch_size=64, epochs=2, decay_examples=1_000_000)
KINDS = ("mean", "linear", "classwise", "attention")


def combiner(kind: str, per_class_term: bool = True) -> Combiner:
    return Combiner(kind=kind, attentions=4, rank=2, per_class_term=per_class_term, training=FAST)


def synthetic(n: int, seed: int, swap: bool = False) -> TensorStackData:
    """Member 0 is accurate on classes [0, C/2) and noise elsewhere, member 1 the reverse (``swap``: the
    halves exchanged), member 2 noise everywhere. Stored as float16, as a store would."""
    rng = np.random.default_rng(seed)
    y = (rng.random((n, C)) < 0.08).astype(np.float32)
    y[np.arange(n), rng.integers(0, C, n)] = 1
    good = np.clip(0.6 * y + 0.2 + 0.15 * rng.standard_normal((n, C)), 0, 1)
    first = (np.arange(C) < C // 2) != swap
    P = np.stack([np.where(first, good, rng.random((n, C)) * 0.8),
                  np.where(~first, good, rng.random((n, C)) * 0.8),
                  rng.random((n, C)) * 0.8], axis=1)
    return TensorStackData(P.astype(np.float16), rng.standard_normal((n, D)).astype(np.float32), y)


@pytest.fixture(scope="module")
def train() -> TensorStackData:
    return synthetic(1200, seed=1)


@pytest.fixture(scope="module")
def validate() -> TensorStackData:
    return synthetic(500, seed=2)


def best_member_gap(data: TensorStackData) -> float:
    return max(evaluate(data.P_NMC[:, m].astype(np.float32), data.labels_NC).gap for m in range(M))


def batch(b: int = 5, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(b, M, C, generator=g), torch.randn(b, D, generator=g)


# ------------------------------------------------------------------------------------------- the models


@pytest.mark.parametrize("kind", KINDS)
def test_shapes_and_weights_sum_to_one_over_members(kind: str) -> None:
    stack = build_stack(combiner(kind), M, C, D, seed=3)
    P, x = batch()
    p = stack(P, x)
    w = stack.weights(P, x)
    assert p.shape == (5, C)
    member_axis = 1 if w.dim() == 3 else 0
    torch.testing.assert_close(w.sum(dim=member_axis), torch.ones_like(w.sum(dim=member_axis)))
    assert (w > 0).all()
    # p is the weighted sum, so it stays inside the members' range
    assert (p >= P.min(dim=1).values - 1e-6).all() and (p <= P.max(dim=1).values + 1e-6).all()


def test_mean_stack_is_the_mean_and_linear_starts_there() -> None:
    P, x = batch()
    torch.testing.assert_close(MeanStack(M, C, D)(P, x), P.mean(dim=1))
    torch.testing.assert_close(LinearStack(M, C, D)(P), P.mean(dim=1))


def test_classwise_weights_are_the_softmax_of_w2_times_w1() -> None:
    stack = ClasswiseStack(M, C, D, torch.Generator().manual_seed(0))
    P, _ = batch()
    w_MC = torch.softmax(stack.W2_CM * stack.w1_M[None, :], dim=1).T
    torch.testing.assert_close(stack(P), (P * w_MC).sum(dim=1))


@pytest.mark.parametrize("per_class_term", [True, False])
def test_attention_is_eq_11(per_class_term: bool) -> None:
    """The one-product implementation against Eq. 10-11 written term by term (c_k cancels: left out)."""
    stack = AttentionStack(M, C, D, attentions=4, rank=2, per_class_term=per_class_term,
                           generator=torch.Generator().manual_seed(0))
    with torch.no_grad():  # move b off its initial ones so that the per-class term shows
        if stack.b_KC is not None:
            stack.b_KC.uniform_(-1, 1)
    P, x = batch(seed=4)
    x_bar = x / x.norm(dim=1, keepdim=True)
    alpha = torch.softmax(stack.gate(torch.cat([x_bar, P.mean(dim=1)], dim=1)), dim=1)
    b = stack.b_KC if per_class_term else torch.ones(4, C)
    E_KCM = torch.einsum("kcr,krm->kcm", stack.X_KCR, stack.Y_KRM) + torch.einsum("km,kc->kcm", stack.a_KM, b)
    w_BCM = torch.softmax(torch.einsum("bk,kcm->bcm", alpha, E_KCM), dim=2)
    torch.testing.assert_close(stack.alpha(P, x), alpha)
    torch.testing.assert_close(stack(P, x), (w_BCM * P.transpose(1, 2)).sum(dim=2))
    assert (stack.b_KC is not None) == per_class_term


def test_the_papers_attention_starts_as_the_codes() -> None:
    """b_k starts at 1, so with the same seed both variants give the same predictions before training."""
    P, x = batch()
    paper = build_stack(combiner("attention", True), M, C, D, seed=7)
    code = build_stack(combiner("attention", False), M, C, D, seed=7)
    torch.testing.assert_close(paper(P, x), code(P, x))


@pytest.mark.parametrize("kind,cls", [("mean", MeanStack), ("linear", LinearStack), ("classwise", ClasswiseStack),
                                      ("attention", AttentionStack)])
def test_build_stack_builds_each_kind(kind: str, cls: type) -> None:
    stack = build_stack(Combiner(kind=kind, attentions=5, rank=3), M, C, D)
    assert type(stack) is cls
    if kind == "attention":
        assert stack.X_KCR.shape == (5, C, 3) and stack.Y_KRM.shape == (5, 3, M) and stack.a_KM.shape == (5, M)
        assert stack.gate.in_features == D + C and stack.b_KC.shape == (5, C)


@pytest.mark.parametrize("kind", KINDS)
def test_wrong_member_count_names_the_shapes(kind: str) -> None:
    stack = build_stack(combiner(kind), M, C, D)
    with pytest.raises(ValueError, match=r"3 members.*\(5, 4, 24\)"):
        stack(torch.rand(5, 4, C), torch.randn(5, D))


def test_attention_with_the_wrong_feature_width_names_the_shapes() -> None:
    stack = build_stack(combiner("attention"), M, C, D)
    with pytest.raises(ValueError, match=r"x \[5, 8 features\].*\(5, 9\)"):
        stack(torch.rand(5, M, C), torch.randn(5, 9))
    with pytest.raises(ValueError, match="needs x"):
        stack(torch.rand(5, M, C), None)


def test_data_with_disagreeing_shapes_is_refused(train: TensorStackData) -> None:
    with pytest.raises(ValueError, match=r"\(10, 3, 24\).*\(9, 8\)"):
        TensorStackData(np.zeros((10, M, C)), np.zeros((9, D)), np.zeros((10, C)))
    stack = build_stack(combiner("classwise"), 4, C, D)
    with pytest.raises(ValueError, match="built for 4 members"):
        fit_stack(stack, combiner("classwise"), train, train, eval_every=5)


# ------------------------------------------------------------------------------------------- training


def test_mean_stack_is_not_trained(train: TensorStackData, validate: TensorStackData) -> None:
    result = fit_stack(MeanStack(M, C, D), combiner("mean"), train, validate, eval_every=5)
    assert result.steps == 0 and result.best_step == 0
    assert result.best_gap == pytest.approx(evaluate(validate.P_NMC.astype(np.float32).mean(1),
                                                     validate.labels_NC).gap, abs=1e-6)


def test_linear_stack_drops_the_noise_member(train: TensorStackData, validate: TensorStackData) -> None:
    stack = build_stack(combiner("linear"), M, C, D)
    result = fit_stack(stack, combiner("linear"), train, validate, eval_every=10)
    w = export_weights(stack)["member_weights"]
    assert w[2] < 0.1 < min(w[0], w[1])
    mean_gap = evaluate(validate.P_NMC.astype(np.float32).mean(1), validate.labels_NC).gap
    assert result.best_gap > mean_gap


def test_classwise_stack_finds_each_members_classes(train: TensorStackData, validate: TensorStackData) -> None:
    stack = build_stack(combiner("classwise"), M, C, D, seed=1)
    result = fit_stack(stack, combiner("classwise"), train, validate, eval_every=10)
    right = np.repeat([0, 1], C // 2)
    assert (export_weights(stack)["class_weights"].argmax(axis=0) == right).mean() >= 0.9
    assert result.best_gap > best_member_gap(validate) + 0.1
    assert result.steps == 2 * int(np.ceil(1200 / 64))


@pytest.mark.parametrize("per_class_term", [True, False])
def test_attention_stack_beats_the_best_member(train: TensorStackData, validate: TensorStackData,
                                               per_class_term: bool) -> None:
    spec = combiner("attention", per_class_term)
    stack = build_stack(spec, M, C, D, seed=2)
    result = fit_stack(stack, spec, train, validate, eval_every=10)
    assert result.best_gap > best_member_gap(validate) + 0.1
    assert evaluate_stack(stack, validate) == pytest.approx(result.best_gap)
    right = np.repeat([0, 1], C // 2)
    assert (export_weights(stack, validate)["class_weights"].argmax(axis=0) == right).mean() >= 0.9


class Snapshots(StackCallback):
    """Records the weights at every evaluation."""

    def __init__(self, stack: torch.nn.Module) -> None:
        self.stack = stack
        self.states: dict[int, dict[str, torch.Tensor]] = {}

    def on_eval(self, state, gap: float, best: bool) -> None:
        self.states[state.step] = {k: v.clone() for k, v in self.stack.state_dict().items()}


def test_the_best_validation_step_is_returned(train: TensorStackData) -> None:
    """Validation rewards the opposite halves: the more the stack learns train, the worse it gets, so an
    early step must be returned, with exactly the weights it had then."""
    worse_later = synthetic(400, seed=3, swap=True)
    stack = build_stack(combiner("classwise"), M, C, D, seed=5)
    snapshots = Snapshots(stack)
    result = fit_stack(stack, combiner("classwise"), train, worse_later, eval_every=4, callbacks=(snapshots,))
    steps = [s for s, _ in result.history]
    gaps = [g for _, g in result.history]
    assert steps[-1] == result.steps and result.best_step < result.steps
    assert result.best_gap == max(gaps) > gaps[-1]
    assert steps[gaps.index(max(gaps))] == result.best_step
    for name, value in stack.state_dict().items():
        torch.testing.assert_close(value, snapshots.states[result.best_step][name])
    assert evaluate_stack(stack, worse_later) == pytest.approx(result.best_gap)


def test_training_is_deterministic(train: TensorStackData, validate: TensorStackData) -> None:
    runs = []
    for _ in range(2):
        stack = build_stack(combiner("classwise"), M, C, D, seed=4)
        result = fit_stack(stack, combiner("classwise"), train, validate, eval_every=19, seed=0, shuffle=True)
        runs.append((result.history, stack.W2_CM.detach().clone()))
    assert runs[0][0] == runs[1][0]
    torch.testing.assert_close(runs[0][1], runs[1][1], rtol=0, atol=0)


# --------------------------------------------------------------------------------------------- export


@pytest.mark.parametrize("kind", KINDS)
def test_export_shapes_and_sums(kind: str, validate: TensorStackData) -> None:
    stack = build_stack(combiner(kind), M, C, D)
    out = export_weights(stack, validate, videos=[4, 0, 499])
    assert out["class_weights"].shape == (M, C)
    np.testing.assert_allclose(out["class_weights"].sum(axis=0), 1.0, rtol=1e-5)
    if kind in ("mean", "linear"):
        np.testing.assert_allclose(out["member_weights"], np.full(M, 1 / M), rtol=1e-6)
    if kind == "attention":
        assert out["alpha"].shape == (500, 4) and out["video_weights"].shape == (3, M, C)
        np.testing.assert_allclose(out["alpha"].sum(axis=1), 1.0, rtol=1e-5)
        np.testing.assert_allclose(out["video_weights"].sum(axis=1), 1.0, rtol=1e-5)
        P, x = (torch.from_numpy(a[[0]].astype(np.float32)) for a in (validate.P_NMC, validate.x_ND))
        np.testing.assert_allclose(out["video_weights"][1], stack.weights(P, x)[0].detach().numpy(), rtol=1e-5)


def test_attention_export_needs_data_and_valid_rows(validate: TensorStackData) -> None:
    stack = build_stack(combiner("attention"), M, C, D)
    with pytest.raises(ValueError, match="needs data"):
        export_weights(stack)
    with pytest.raises(ValueError, match=r"\[500\].*\[0, 500\)"):
        export_weights(stack, validate, videos=[500])


# ------------------------------------------------------------------------------- never below the best member


@pytest.mark.parametrize("kind", ["linear", "classwise", "attention"])
def test_start_at_member_gives_it_the_weight_for_every_class_and_video(kind: str) -> None:
    stack = build_stack(combiner(kind), M, C, D, seed=3)
    stack.start_at_member(1, 0.99)
    P, x = batch(b=6)
    w = stack.weights(P, x)  # [M] linear, [M, C] classwise, [B, M, C] attention
    w_BMC = w[:, None].expand(M, C)[None] if w.dim() == 1 else w[None] if w.dim() == 2 else w
    # attention: X_k Y_k (Glorot, small) still moves each class's logits a little around the member's
    assert torch.allclose(w_BMC[:, 1], torch.full_like(w_BMC[:, 1], 0.99), atol=0.01 if kind == "attention" else 1e-5)
    assert float(w_BMC.sum(dim=1).sub(1).abs().max()) < 1e-5
    with pytest.raises(ValueError, match="outside the 3 members"):
        stack.start_at_member(3)
    with pytest.raises(ValueError, match="has no weights"):
        MeanStack(M, C, D).start_at_member(0)


def dominant(n: int, seed: int) -> TensorStackData:
    """Member 0 good on every class, members 1 and 2 near noise: the mean is far below member 0."""
    rng = np.random.default_rng(seed)
    y = (rng.random((n, C)) < 0.08).astype(np.float32)
    y[np.arange(n), rng.integers(0, C, n)] = 1
    P = np.stack([np.clip(0.5 * y + 0.25 + 0.2 * rng.standard_normal((n, C)), 0, 1),
                  np.clip(0.1 * y + rng.random((n, C)) * 0.8, 0, 1), rng.random((n, C)) * 0.8], axis=1)
    return TensorStackData(P.astype(np.float16), rng.standard_normal((n, D)).astype(np.float32), y)


@pytest.mark.parametrize("kind", ["linear", "classwise", "attention"])
def test_a_dominant_member_is_where_the_stack_starts_and_never_above_it(kind: str) -> None:
    """The authors' start (Glorot, or Eq. 8's mean) is the mean here, far below member 0; the stack starts at
    member 0 (best on train) and ends at least at its validate GAP minus the 0.002 of issue 15."""
    train, validate = dominant(400, seed=5), dominant(200, seed=6)
    mean = evaluate_stack(MeanStack(M, C, D), validate)
    best = best_member_gap(validate)
    assert mean < best - 0.05  # the situation the rule is about
    stack = build_stack(combiner(kind), M, C, D, seed=0)
    result = fit_stack(stack, combiner(kind), train, validate, eval_every=2)
    assert result.start == 0
    assert result.history[0][0] == 0  # the start was a candidate
    assert evaluate_stack(stack, validate) == pytest.approx(result.best_gap)
    assert result.best_gap >= best - 0.002, (result.best_gap, best)


def test_a_member_alone_replaces_a_worse_stack(train: TensorStackData) -> None:
    """Member 1 is the best on this validate set (the halves swapped against train's): every checkpoint
    that learned train's halves is worse, and the stack becomes member 1 alone, which it says."""
    validate = TensorStackData(*(a.copy() for a in (synthetic(300, seed=8).P_NMC, synthetic(300, seed=8).x_ND,
                                                    synthetic(300, seed=8).labels_NC)))
    validate.P_NMC[:, 0] = validate.P_NMC[:, 2]  # member 0 is noise on validate
    stack = build_stack(combiner("linear"), M, C, D)
    result = fit_stack(stack, combiner("linear"), train, validate, eval_every=5)
    gaps = [evaluate(validate.P_NMC[:, m].astype(np.float32), validate.labels_NC).gap for m in range(M)]
    assert result.member == int(np.argmax(gaps))
    assert result.best_gap == pytest.approx(max(gaps), abs=1e-6)
    assert evaluate_stack(stack, validate) == pytest.approx(max(gaps), abs=1e-6)


def test_a_store_batch_is_the_dense_predictions_joined_by_video(tmp_path) -> None:
    """``StoreStackData`` builds each batch where it trains (the top-k scores and their classes move, the zeros are
    made there): a top-k and a dense member, stored in other video orders, give exactly the joined float32 of
    their ``dense`` rows, shuffled batches included, with the features and labels of the same videos."""
    from y8m_models.ensemble.stacking import StoreStackData
    from y8m_models.store import PredictionWriter, read_predictions

    rng = np.random.default_rng(5)
    ids = [f"v{i}" for i in range(23)]
    stored = []
    for name, top_k, order in (("topk", 4, rng.permutation(23)), ("dense", None, rng.permutation(23))):
        with PredictionWriter(tmp_path / name, 9, top_k) as writer:
            writer.add([ids[i] for i in order], rng.random((23, 9), dtype=np.float32))
        stored.append(read_predictions(tmp_path / name))
    rows_MN = np.stack([s.row_of(ids) for s in stored])
    x_ND = np.repeat(np.arange(23, dtype=np.float16)[:, None], 3, axis=1)  # each video's features: its number
    labels_NC = rng.random((23, 9)) < 0.2
    data = StoreStackData(stored, rows_MN, x_ND, labels_NC)
    for shuffle in (False, True):
        seen = []
        for batch in data.batches(5, shuffle=shuffle, rng=np.random.default_rng(1)):
            assert all(t.dtype == torch.float32 for t in batch)
            videos = batch.x_BD[:, 0].long().tolist()
            seen += videos
            for m, s in enumerate(stored):
                assert np.array_equal(batch.P_BMC[:, m].numpy(), s.dense(rows_MN[m, videos]))
            assert np.array_equal(batch.labels_BC.numpy(), labels_NC[videos].astype(np.float32))
        assert sorted(seen) == list(range(23)) and (seen != list(range(23))) == shuffle
        assert np.count_nonzero(batch.P_BMC[:, 0].numpy(), axis=1).max() <= 4  # the top-k member: k classes
