"""Temporal CNN models and their Chaining versions (paper Section 3 Table 5, App. A.2 and A.4; catalog §4.4,
§4.6; configurations #12, #18, #19, #20 and Table 5's "original CNN").

Every CNN here is the shifted-concat CNN of §4.6 (widths 1, 2, 3; no bias, no activation). It is causal
(frame t sees t and earlier frames only), so trailing padding never reaches a valid frame's output.

- ``cnn`` (wh ``CnnModel``): CNN -> max over time -> L2 -> MoE.
- ``cnn_lstm`` (#12, wh ``CnnLstmMemoryModel``): CNN -> per-frame L2 -> stacked LSTM -> final c of every
  layer -> MoE.
- ``chaining_cnn`` (#18), ``chaining_deep_cnn`` (#19, code variant) and ``chaining_lstm_cnn`` (#20): Chaining
  whose every unit has its own CNN; unit 0 sees its CNN feature only, unit t >= 1 sees
  ``[mean input (#18, #19 only); CNN_t feature; m; r_0 ... r_{t-1}]`` with ``m = L2(ReLU(FC_P(mean input)))``.
  That is ``layers.chaining.Chaining`` with one feature per unit (the r's are appended by Chaining).
- ``chaining_deep_cnn`` paper variant (App. A.4): one 3-layer CNN; the averaged input and the three
  max-pooled layers feed the four Chaining units in that order.

The three Chaining architectures take a cascade input (§7; #49, #51, #55, #59, #72): ``d`` is appended to
every unit's input (catalog #49, #55: "stage t input = [h_t ; d ; m ; r_0 ... r_{t-1}]").

Max over time runs over the valid frames by default (the paper is silent; masking keeps padding out);
``pool_padding=True`` is the authors' code, a max over all positions, padding included.

Shape suffixes: B batch, T frames, D input features, N channels, C classes, S auxiliary stages,
P projection.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from y8m_models.architectures import (
    ChainingCNNParams,
    ChainingDeepCNNParams,
    ChainingLSTMCNNParams,
    CNNLSTMParams,
    CNNParams,
    FrameParams,
)
from y8m_models.layers.chaining import Chaining
from y8m_models.layers.moe import MoE
from y8m_models.layers.stacked_lstm import ParallelLSTM, StackedLSTM
from y8m_models.layers.temporal_cnn import ShiftedConcatCNN
from y8m_models.layers.temporal_pooling import max_over_time, mean_over_time
from y8m_models.models.base import (
    ModelInputs,
    ModelOutput,
    cascade_feature,
    cascade_parts,
    cascade_width,
    frame_inputs,
    frame_lengths,
    normalize_features,
    register,
    valid_mask,
)

WIDTHS = (1, 2, 3)


# --- blocks ------------------------------------------------------------------------------------------------

def _max_l2(x_BTN: torch.Tensor, num_frames_B: torch.Tensor, pool_padding: bool) -> torch.Tensor:
    """Max over time (valid frames, or all positions) then L2 -> [B, N]; a video without frames gives 0."""
    return F.normalize(max_over_time(x_BTN, None if pool_padding else num_frames_B), dim=-1)


def _pair_max_pool(x_BTN: torch.Tensor, num_frames_B: torch.Tensor,
                   pool_padding: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Non-overlapping 2-max-pool over time, truncated: T -> max(T // 2, 1) positions, each video's length
    n -> max(n // 2, 1) (0 stays 0). Masked, padding never enters a valid pair, and pooled positions past
    the new length are zeroed so that the next (causal) layer sees finite values there."""
    batch, steps, width = x_BTN.shape
    lowest = torch.finfo(x_BTN.dtype).min
    new_steps = max(steps // 2, 1)
    new_frames_B = torch.where(num_frames_B > 0, (num_frames_B // 2).clamp(min=1), 0)
    if not pool_padding:
        x_BTN = x_BTN.masked_fill(~valid_mask(num_frames_B, steps)[:, :, None], lowest)
    if steps % 2:  # a filler that never wins makes the pairs even; truncation drops it again unless T = 1
        x_BTN = F.pad(x_BTN, (0, 0, 0, 1), value=lowest)
    pooled_BTN = x_BTN.reshape(batch, -1, 2, width).amax(dim=2)[:, :new_steps]
    if not pool_padding:
        pooled_BTN = torch.where(valid_mask(new_frames_B, new_steps)[:, :, None], pooled_BTN, 0.0)
    return pooled_BTN, new_frames_B


class PooledCNN(nn.Module):
    """CNN (widths 1, 2, 3) -> max over time -> L2: ([B, T, D], num_frames) -> [B, sum(channels)]."""

    def __init__(self, in_features: int, channels: Sequence[int], pool_padding: bool):
        super().__init__()
        self.cnn = ShiftedConcatCNN(in_features, WIDTHS, channels)
        self.pool_padding = pool_padding
        self.out_features = sum(channels)

    def forward(self, x_BTD: torch.Tensor, num_frames_B: torch.Tensor) -> torch.Tensor:
        return _max_l2(self.cnn(x_BTD), num_frames_B, self.pool_padding)


class DeepCNN(nn.Module):
    """#19's 3-layer CNN: layer 1 widths 1/2/3 with ``channels``; 2-max-pool; layer 2 widths 2/3 with
    ``channels[0]`` each; 2-max-pool; layer 3 as layer 2. ([B, T, D], num_frames) -> the max over time of
    each layer, [B, sum(channels)], [B, 2 channels[0]], [B, 2 channels[0]] (not normalised)."""

    def __init__(self, in_features: int, channels: Sequence[int], pool_padding: bool):
        super().__init__()
        deep = (channels[0], channels[0])
        self.layers = nn.ModuleList([ShiftedConcatCNN(in_features, WIDTHS, channels),
                                     ShiftedConcatCNN(sum(channels), (2, 3), deep),
                                     ShiftedConcatCNN(sum(deep), (2, 3), deep)])
        self.pool_padding = pool_padding
        self.out_features = (sum(channels), sum(deep), sum(deep))

    def forward(self, x_BTD: torch.Tensor, num_frames_B: torch.Tensor) -> list[torch.Tensor]:
        pooled = []
        x_BTN, frames_B = x_BTD, num_frames_B
        for i, layer in enumerate(self.layers):
            if i > 0:
                x_BTN, frames_B = _pair_max_pool(x_BTN, frames_B, self.pool_padding)
            x_BTN = layer(x_BTN)
            pooled.append(max_over_time(x_BTN, None if self.pool_padding else frames_B))
        return pooled


class ConcatDeepCNN(DeepCNN):
    """#19 code variant: the three pooled layers concatenated and L2-normalised -> [B, sum(out_features)]."""

    def __init__(self, in_features: int, channels: Sequence[int], pool_padding: bool):
        super().__init__(in_features, channels, pool_padding)
        self.out_features = sum(self.out_features)

    def forward(self, x_BTD: torch.Tensor, num_frames_B: torch.Tensor) -> torch.Tensor:
        return F.normalize(torch.cat(super().forward(x_BTD, num_frames_B), dim=-1), dim=-1)


class ParallelLSTMOutputs(nn.Module):
    """#20's sequence model: rgb and audio L2-normalised separately, one 1-layer LSTM each -> their per-frame
    outputs [B, T, sum(cells)] (zero past each video's length)."""

    def __init__(self, feature_sizes: Sequence[int], cells: Sequence[int]):
        super().__init__()
        self.feature_sizes = tuple(feature_sizes)
        self.lstm = ParallelLSTM(feature_sizes, cells, layers=1)
        self.out_features = sum(cells)

    def forward(self, x_BTD: torch.Tensor, lengths_B: torch.Tensor) -> torch.Tensor:
        """``lengths_B`` on the host (``StackedLSTM``)."""
        return self.lstm(normalize_features(x_BTD, "per_part", self.feature_sizes), lengths_B).outputs


# --- models ------------------------------------------------------------------------------------------------

class CNNModel(nn.Module):
    """Table 5's original CNN: frames -> PooledCNN -> MoE."""

    def __init__(self, p: CNNParams, inputs: ModelInputs):
        super().__init__()
        self.p, self.feature_sizes = p, inputs.feature_sizes
        self.encoder = PooledCNN(inputs.feature_dim, p.channels, p.pool_padding)
        self.moe = MoE(self.encoder.out_features, inputs.num_classes, p.mixtures)

    def forward(self, batch: dict) -> ModelOutput:
        x_BTD, num_frames_B = frame_inputs(batch, self.p.max_frames, self.p.normalize, self.feature_sizes)
        return ModelOutput(self.moe(self.encoder(x_BTD, num_frames_B)))


class CNNLSTMModel(nn.Module):
    """#12: frames -> CNN -> per-frame L2 -> stacked LSTM (length-masked) -> [c of every layer] -> MoE."""

    def __init__(self, p: CNNLSTMParams, inputs: ModelInputs):
        super().__init__()
        self.p, self.feature_sizes = p, inputs.feature_sizes
        self.cnn = ShiftedConcatCNN(inputs.feature_dim, WIDTHS, p.channels)
        self.lstm = StackedLSTM(sum(p.channels), p.cells, p.layers)
        self.moe = MoE(p.layers * p.cells, inputs.num_classes, p.mixtures)

    def forward(self, batch: dict) -> ModelOutput:
        x_BTD, _ = frame_inputs(batch, self.p.max_frames, self.p.normalize, self.feature_sizes)
        run = self.lstm(F.normalize(self.cnn(x_BTD), dim=-1), frame_lengths(batch, x_BTD.shape[1]))
        return ModelOutput(self.moe(run.c.flatten(1)))


class CNNChaining(nn.Module):
    """#18, #19 (code) and #20: one encoder per Chaining unit over a frame sequence (the frames, or #20's LSTM
    outputs). Unit 0 gets ``encoder_0``'s feature; unit t >= 1 ``[mean input; encoder_t feature; m]`` (#18,
    #19) or ``[encoder_t feature; m]`` (#20); a cascade's ``d`` comes next in every unit; and Chaining appends
    ``r_0 ... r_{t-1}``."""

    def __init__(self, p: FrameParams, inputs: ModelInputs, encoders: Sequence[nn.Module], projection: int,
                 mixtures: int, with_mean_input: bool, sequence: nn.Module | None = None):
        super().__init__()
        self.p, self.feature_sizes, self.with_mean_input = p, inputs.feature_sizes, with_mean_input
        self.sequence = sequence
        self.encoders = nn.ModuleList(encoders)
        self.mean_projection = nn.Linear(inputs.feature_dim, projection)
        extra = projection + (inputs.feature_dim if with_mean_input else 0)
        widths = [e.out_features + (extra if t else 0) + cascade_width(inputs) for t, e in enumerate(encoders)]
        self.chaining = Chaining(widths, inputs.num_classes, mixtures, len(encoders) - 1, projection)
        # [DIFF-detail] the wh cascade code (#49, #55) also gives unit 0 the m projection and drops the raw
        # mean input; zt's #51 appends d to the first unit only. The paper says neither: d joins every unit
        # of the base model unchanged.
        self.cascade = cascade_feature(inputs)

    def forward(self, batch: dict) -> ModelOutput:
        x_BTD, num_frames_B = frame_inputs(batch, self.p.max_frames, self.p.normalize, self.feature_sizes)
        mean_BD = mean_over_time(x_BTD, num_frames_B)
        m_BP = F.normalize(F.relu(self.mean_projection(mean_BD)), dim=-1)
        seq_BTN = x_BTD if self.sequence is None else self.sequence(x_BTD, frame_lengths(batch, x_BTD.shape[1]))
        head = [mean_BD] if self.with_mean_input else []
        d = cascade_parts(self.cascade, batch)
        features = []
        for t, encoder in enumerate(self.encoders):
            h_BN = encoder(seq_BTN, num_frames_B)
            features.append(torch.cat([h_BN, *d] if t == 0 else [*head, h_BN, m_BP, *d], dim=-1))
        predictions_BC, stages_BSC = self.chaining(features)
        return ModelOutput(predictions_BC, auxiliary=stages_BSC)


class DeepCNNChaining(nn.Module):
    """#19 paper: one DeepCNN; units fed, in order, the averaged input and L2 of each layer's pooled map (each
    followed by a cascade's ``d``)."""

    def __init__(self, p: ChainingDeepCNNParams, inputs: ModelInputs):
        super().__init__()
        self.p, self.feature_sizes = p, inputs.feature_sizes
        self.cnn = DeepCNN(inputs.feature_dim, p.channels, p.pool_padding)
        widths = [w + cascade_width(inputs) for w in (inputs.feature_dim, *self.cnn.out_features)]
        self.chaining = Chaining(widths, inputs.num_classes, p.mixtures, p.stages, p.projection)
        self.cascade = cascade_feature(inputs)

    def forward(self, batch: dict) -> ModelOutput:
        x_BTD, num_frames_B = frame_inputs(batch, self.p.max_frames, self.p.normalize, self.feature_sizes)
        # The paper does not say how the maps are scaled; L2 as every other pooled CNN feature here.
        pooled = [F.normalize(h_BN, dim=-1) for h_BN in self.cnn(x_BTD, num_frames_B)]
        d = cascade_parts(self.cascade, batch)
        units = [torch.cat([f_BN, *d], dim=-1) for f_BN in (mean_over_time(x_BTD, num_frames_B), *pooled)]
        predictions_BC, stages_BSC = self.chaining(units)
        return ModelOutput(predictions_BC, auxiliary=stages_BSC)


# --- builders ----------------------------------------------------------------------------------------------

@register("cnn")
def _build_cnn(p: CNNParams, inputs: ModelInputs) -> nn.Module:
    return CNNModel(p, inputs)


@register("cnn_lstm")
def _build_cnn_lstm(p: CNNLSTMParams, inputs: ModelInputs) -> nn.Module:
    return CNNLSTMModel(p, inputs)


@register("chaining_cnn")
def _build_chaining_cnn(p: ChainingCNNParams, inputs: ModelInputs) -> nn.Module:
    encoders = [PooledCNN(inputs.feature_dim, p.channels, p.pool_padding) for _ in range(p.stages + 1)]
    return CNNChaining(p, inputs, encoders, p.projection, p.mixtures, with_mean_input=True)


@register("chaining_deep_cnn")
def _build_chaining_deep_cnn(p: ChainingDeepCNNParams, inputs: ModelInputs) -> nn.Module:
    if p.variant == "paper":
        return DeepCNNChaining(p, inputs)
    encoders = [ConcatDeepCNN(inputs.feature_dim, p.channels, p.pool_padding) for _ in range(p.stages + 1)]
    return CNNChaining(p, inputs, encoders, p.projection, p.mixtures, with_mean_input=True)


@register("chaining_lstm_cnn")
def _build_chaining_lstm_cnn(p: ChainingLSTMCNNParams, inputs: ModelInputs) -> nn.Module:
    if len(p.cells) != len(inputs.feature_sizes):
        raise ValueError(f"cells needs one LSTM width per feature part {inputs.feature_sizes}, got {p.cells}")
    sequence = ParallelLSTMOutputs(inputs.feature_sizes, p.cells)
    channels = [p.first_channels or p.channels] + [p.channels] * p.stages
    encoders = [PooledCNN(sequence.out_features, c, p.pool_padding) for c in channels]
    return CNNChaining(p, inputs, encoders, p.projection, p.mixtures, with_mean_input=False, sequence=sequence)
