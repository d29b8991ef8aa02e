"""Video-level models: shapes, gradients, sizes by the catalog's formulas (§4.1, §4.4, §4.5), the training-only
noise and dropout, the vertical branch and head, and the sigmoid+softmax split head of #29.4."""

from __future__ import annotations

import pytest
import torch

from y8m_models.layers.split_head import SigmoidSoftmaxMoE
from y8m_models.models.base import ModelInputs, build_architecture
from y8m_models.models.video import VideoInput

C, D, V, B = 10, 16, 3, 4
VERTICALS = torch.zeros(C, V).index_put_((torch.arange(C), torch.arange(C) % V), torch.tensor(1.0))
INPUTS = ModelInputs(num_classes=C, feature_sizes=(12, 4), vertical_matrix=VERTICALS)
NO_VERTICALS = ModelInputs(num_classes=C, feature_sizes=(12, 4))


def _batch(seed: int = 0) -> dict:
    return {"features": torch.randn(B, D, generator=torch.Generator().manual_seed(seed))}


def _moe_size(d: int, classes: int, k: int) -> int:
    return d * classes * (k + 1) + d * classes * k + classes * k  # gates (no bias) + experts with bias


def _size(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


CASES = [
    ("logistic", {}),
    ("moe", {"mixtures": 3}),
    ("chaining_video", {"mixtures": 2, "stages": 3, "projection": 5, "aux_dropout": 0.1, "input_noise": 0.1}),
    ("complement_chaining", {"mixtures": 2, "stages": 2, "projection": 5}),
    ("complement_chaining", {"mixtures": 2, "stages": 2, "projection": 5, "second_branch": "vertical",
                             "head": "sigmoid_softmax", "vertical_head": True}),
]


@pytest.mark.parametrize(("name", "params"), CASES)
def test_outputs_and_every_parameter_gets_a_finite_gradient(name: str, params: dict) -> None:
    torch.manual_seed(0)
    model = build_architecture(name, params, INPUTS).train()
    out = model(_batch())
    assert out.predictions.shape == (B, C) and ((out.predictions >= 0) & (out.predictions <= 1)).all()
    if "stages" in params:
        assert out.auxiliary.shape == (B, params["stages"], C)
    loss = sum((t * torch.randn_like(t)).sum() for t in (out.predictions, out.auxiliary, out.verticals,
                                                         out.infrequent) if t is not None)
    loss.backward()
    for pname, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, pname


def test_logistic_and_moe_sizes() -> None:
    assert _size(build_architecture("logistic", {}, INPUTS)) == D * C + C
    assert _size(build_architecture("moe", {"mixtures": 3}, INPUTS)) == _moe_size(D, C, 3)


def test_chaining_video_has_stages_plus_one_moes_on_growing_inputs() -> None:
    S, P, K = 3, 5, 2
    model = build_architecture("chaining_video", {"mixtures": K, "stages": S, "projection": P}, INPUTS)
    expected = sum(_moe_size(D + t * P, C, K) for t in range(S + 1)) + S * (C * P + P)
    assert _size(model) == expected


def test_aux_dropout_hits_auxiliary_inputs_only_and_only_in_training() -> None:
    torch.manual_seed(1)
    params = {"mixtures": 2, "stages": 2, "projection": 5}
    plain = build_architecture("chaining_video", params, INPUTS)
    dropped = build_architecture("chaining_video", {**params, "aux_dropout": 0.5}, INPUTS)
    dropped.load_state_dict(plain.state_dict())
    batch = _batch()
    plain_out, eval_out = plain.eval()(batch), dropped.eval()(batch)
    torch.testing.assert_close(eval_out.predictions, plain_out.predictions)
    seen = []
    dropped.chain.final_moe.register_forward_pre_hook(lambda _m, args: seen.append(args[0]))
    train_out = dropped.train()(batch)
    assert not torch.allclose(train_out.auxiliary, plain_out.auxiliary)
    x = torch.nn.functional.normalize(batch["features"], dim=-1)
    torch.testing.assert_close(seen[0][:, :D], x)  # the main MoE sees the undropped input


def test_input_noise_only_while_training() -> None:
    torch.manual_seed(2)
    noisy = build_architecture("logistic", {"input_noise": 0.5}, INPUTS)
    clean = build_architecture("logistic", {}, INPUTS)
    clean.load_state_dict(noisy.state_dict())
    batch = _batch()
    torch.testing.assert_close(noisy.eval()(batch).predictions, clean.eval()(batch).predictions)
    noisy.train()
    assert not torch.allclose(noisy(batch).predictions, clean(batch).predictions)


def test_noise_is_added_before_normalisation() -> None:
    torch.manual_seed(3)
    x = {"features": torch.randn(B, D) * 100}  # big raw values: sigma 0.5 barely moves the direction
    out = VideoInput("joint", (12, 4), 0.5).train()(x)
    torch.testing.assert_close(out.norm(dim=-1), torch.ones(B))
    assert (out - torch.nn.functional.normalize(x["features"], dim=-1)).abs().max() < 0.05


@pytest.mark.parametrize("branch", ["complement", "vertical"])
def test_complement_chaining_sizes_by_branch(branch: str) -> None:
    S, P, K = 2, 5, 2
    model = build_architecture("complement_chaining", {"mixtures": K, "stages": S, "projection": P,
                                                       "second_branch": branch}, INPUTS)
    second = C if branch == "complement" else V
    assert [m.gates.in_features for m in model.chain.moes] == [D, D + 2 * P, D + 4 * P]
    expected = sum(_moe_size(D + 2 * t * P, C, K) for t in range(S + 1)) + S * (C * P + P) + S * (second * P + P)
    assert _size(model) == expected


def test_vertical_head_predicts_the_verticals_from_the_final_input() -> None:
    params = {"mixtures": 2, "stages": 2, "projection": 5, "vertical_head": True}
    model = build_architecture("complement_chaining", params, INPUTS)
    out = model(_batch())
    assert out.verticals.shape == (B, V) and model.vertical_head.gates.in_features == D + 4 * 5
    assert model.chain.vertical_CV is None  # the paper's head keeps the 1 - p branch


@pytest.mark.parametrize("field", [{"vertical_head": True}, {"second_branch": "vertical"}])
def test_vertical_options_need_the_vertical_matrix(field: dict) -> None:
    key = next(iter(field))
    with pytest.raises(ValueError, match=f"{key}.*vertical_matrix"):
        build_architecture("complement_chaining", field, NO_VERTICALS)


def _split_head_by_definition(head: SigmoidSoftmaxMoE, x_D: torch.Tensor) -> torch.Tensor:
    """q_n = sum_{k<K} softmax(G_n)_k softmax_n(E_k)_n, renormalised; gate row n*(K+1)+k, expert row n*K+k."""
    K, N = head.num_mixtures, head.positions
    g = (head.gates.weight @ x_D).view(N, K + 1).double().softmax(dim=1)
    e = (head.experts.weight @ x_D + head.experts.bias).view(N, K).double()
    q = torch.zeros(N, dtype=torch.float64)
    for k in range(K):
        q += g[:, k] * e[:, k].softmax(dim=0)
    return q / q.sum()


def test_sigmoid_softmax_head_matches_its_definition() -> None:
    torch.manual_seed(4)
    head = SigmoidSoftmaxMoE(6, num_classes=C, num_mixtures=3, frequent_classes=4)
    x = torch.randn(5, 6)
    p, q = head.distribution(x)
    assert p.shape == (5, C) and q.shape == (5, C - 4 + 1)
    torch.testing.assert_close(q.sum(dim=-1), torch.ones(5))
    assert (p[:, 4:].sum(dim=-1) <= 1 + 1e-6).all()
    torch.testing.assert_close(p[:, :4], head.frequent(x))
    torch.testing.assert_close(p[:, 4:], q[:, :-1])  # the "none" slot (last) is dropped
    for b in range(5):
        torch.testing.assert_close(q[b].double(), _split_head_by_definition(head, x[b]), atol=1e-6, rtol=0)


@pytest.mark.parametrize(("frequent", "split"), [(1000, 2), (4715, C - 1), (1, 1)])
def test_split_head_replaces_every_unit_with_a_scaled_split(frequent: int, split: int) -> None:
    params = {"mixtures": 2, "stages": 2, "projection": 5, "head": "sigmoid_softmax", "frequent_classes": frequent}
    model = build_architecture("complement_chaining", params, INPUTS)
    assert all(isinstance(m, SigmoidSoftmaxMoE) and m.frequent_classes == split for m in model.chain.moes)
    out = model(_batch())
    assert out.infrequent.shape == (B, C - split + 1)
    torch.testing.assert_close(out.infrequent[:, :-1], out.predictions[:, split:])


def test_split_head_rejects_an_empty_side() -> None:
    with pytest.raises(ValueError, match="frequent_classes"):
        SigmoidSoftmaxMoE(6, num_classes=C, num_mixtures=2, frequent_classes=C)
