"""Cascade layer (Fig. 6; #74's L1 input), temporal pooling, and local attention pooling's sigmoid normalisation."""

from __future__ import annotations

import pytest
import torch

from y8m_models.layers.attention_pooling import AttentionPooling
from y8m_models.layers.cascade import Cascade
from y8m_models.layers.temporal_pooling import max_over_time, mean_over_time


def test_cascade_averages_streams_with_learned_softmax_weights() -> None:
    torch.manual_seed(0)
    cascade = Cascade(num_classes=5, streams=3, projection=4)
    with torch.no_grad():
        cascade.logits.copy_(torch.tensor([0.0, 1.0, 2.0]))
    p = torch.rand(2, 3, 5)
    w = torch.softmax(torch.tensor([0.0, 1.0, 2.0]), dim=0)
    q = w[0] * p[:, 0] + w[1] * p[:, 1] + w[2] * p[:, 2]
    d = torch.relu(cascade.projection(q))
    torch.testing.assert_close(cascade(p), d / d.norm(dim=-1, keepdim=True).clamp_min(1e-12))
    torch.testing.assert_close(cascade.stream_weights().sum(), torch.tensor(1.0))
    raw = Cascade(num_classes=5, streams=1, projection=4, normalize=False)
    torch.testing.assert_close(raw(p[:, :1]), torch.relu(raw.projection(p[:, 0])))
    with pytest.raises(ValueError, match=r"expected 3 prediction streams \[B, M, C\], got shape \(2, 1, 5\)"):
        cascade(p[:, :1])


def test_cascade_l1_input_divides_the_average_by_its_sum() -> None:
    """#74: q / sum(q) before the projection; a scaled q gives the same d, an all-zero q stays finite."""
    torch.manual_seed(0)
    cascade = Cascade(num_classes=5, streams=2, projection=4, normalize=False, l1_input=True)
    p = torch.rand(3, 2, 5)
    q = p.mean(dim=1)  # equal stream weights at initialisation
    torch.testing.assert_close(cascade(p), torch.relu(cascade.projection(q / q.sum(dim=-1, keepdim=True))))
    torch.testing.assert_close(cascade(0.5 * p), cascade(p))
    zero = cascade(torch.zeros(1, 2, 5))
    torch.testing.assert_close(zero, torch.relu(cascade.projection.bias)[None])


def test_temporal_pooling_respects_num_frames() -> None:
    x = torch.tensor([[[1.0], [3.0], [-9.0]], [[-2.0], [-1.0], [5.0]], [[7.0], [7.0], [7.0]]])
    n = torch.tensor([2, 1, 0])
    assert mean_over_time(x, n).flatten().tolist() == [2.0, -2.0, 0.0]
    assert max_over_time(x, n).flatten().tolist() == [3.0, -2.0, 0.0]
    assert max_over_time(x).flatten().tolist() == [3.0, 5.0, 7.0]  # the authors' CNN: padding included


def test_sigmoid_normalised_attention() -> None:
    torch.manual_seed(1)
    pool = AttentionPooling(attention_features=3, groups=1, normalization="sigmoid")
    y, att = torch.randn(2, 4, 5), torch.randn(2, 4, 3)
    z, a = pool(y, att, torch.tensor([3, 0]))
    s = torch.sigmoid(att[0, :3] @ pool.scores.weight.T + pool.scores.bias)
    torch.testing.assert_close(a[0, :3], s / (s.sum(dim=0) + 1e-8))
    assert (a[0, 3] == 0).all() and (a[1] == 0).all()
    torch.testing.assert_close(z[0, 0], (a[0, :, 0:1] * y[0]).sum(dim=0))
    with pytest.raises(ValueError, match="normalization must be"):
        AttentionPooling(3, 1, normalization="tanh")  # type: ignore[arg-type]
