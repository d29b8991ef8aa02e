"""Recurrent baselines (paper Section 2, Eq. 2, Tables 2-4; Appendix A.2; catalog §4.3, configurations #3-#11).

- ``lstm``: an LSTM stack whose final states feed an MoE: the authors' BasicLSTM (#3, #4, the paper's vanilla
  LSTM l = 1), LSTM-S (#6) or LSTM-A (#7) cells, and the half-frame sampling of #11.
- ``biuni_lstm``: a bidirectional first layer under a forward second layer (#5).
- ``lstm_a_fwd_bwd``: a forward LSTM-A under a backward LSTM-A that also reads the input (#8).
- ``parallel_lstm``: one LSTM stack per feature part, rgb and audio (#9 memory, #10 output).

"memory" features are the final cell states c of every layer, "output" ones the final h (catalog §4.3).

All four take a cascade input (§7; #48, #52, #56, #60, #61, #64, #65, #73): the MoE reads [features; d]
(catalog A.8: "MoE(8) over [c ; ReLU(FC_256(q))]", "features [h's ; d] -> MoE").

Shape suffixes: B batch, T frames, D features, N LSTM cells, F feature width fed to the MoE, C classes,
S half-frame subsets.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from y8m_models.architectures import (
    BiUniLSTMParams,
    FrameParams,
    LSTMAFwdBwdParams,
    LSTMParams,
    ParallelLSTMParams,
)
from y8m_models.data.dataset import host_to_device
from y8m_models.layers.lstm_cells import LSTMACell, LSTMSCell, run_cell
from y8m_models.layers.moe import MoE
from y8m_models.layers.stacked_lstm import ParallelLSTM, StackedLSTM
from y8m_models.models.base import (
    ModelInputs,
    ModelOutput,
    cascade_feature,
    cascade_parts,
    cascade_width,
    frame_inputs,
    frame_lengths,
    register,
)

# --- blocks ------------------------------------------------------------------------------------------------

def reverse_within_length(x_BTD: torch.Tensor, num_frames_B: torch.Tensor) -> torch.Tensor:
    """Reverse each video's first ``num_frames`` steps; padding stays where it is. Its own inverse."""
    t_T = torch.arange(x_BTD.shape[1], device=x_BTD.device)
    n_B1 = num_frames_B[:, None]
    index_BT = torch.where(t_T[None] < n_B1, n_B1 - 1 - t_T[None], t_T[None])
    return x_BTD.gather(1, index_BT[..., None].expand_as(x_BTD))


def sample_half_frames(x_BTD: torch.Tensor, num_frames_B: torch.Tensor,
                       lengths_B: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """#11's augmentation (zt LstmRandomModel): one random permutation of the T frame indices for the whole
    batch; keep ceil(T/2) of them (150 of 300) in ascending order; a video keeps those below its length, so
    its valid frames stay in order at the front. Returns (frames [B, ceil(T/2), D], the new num_frames [B] and
    the same on the host)."""
    steps = x_BTD.shape[1]
    kept_K = torch.randperm(steps)[: math.ceil(steps / 2)].sort().values
    on_device_K = host_to_device(kept_K, x_BTD.device)
    return (x_BTD[:, on_device_K], (on_device_K[None] < num_frames_B[:, None]).sum(dim=1),
            (kept_K[None] < lengths_B[:, None]).sum(dim=1))


class BasicLSTMFeatures(nn.Module):
    """The wh BasicLSTM stack: ([B, T, D], num_frames [B], lengths [B] on the host) -> final c or h of every
    layer [B, layers * N]. Every encoder here takes both counts: the cells' gathers read them on the device,
    a packed sequence on the host (``StackedLSTM``)."""

    def __init__(self, in_features: int, cells: int, layers: int, state: str):
        super().__init__()
        self.lstm, self.state = StackedLSTM(in_features, cells, layers), state
        self.out_features = layers * cells

    def forward(self, x_BTD: torch.Tensor, num_frames_B: torch.Tensor, lengths_B: torch.Tensor) -> torch.Tensor:
        run = self.lstm(x_BTD, lengths_B)
        return (run.c if self.state == "memory" else run.h).flatten(1)


class CellStackFeatures(nn.Module):
    """LSTM-S or LSTM-A cells stacked ``layers`` deep, layer l+1 reading layer l's h sequence:
    ([B, T, D], [B]) -> final c or h of every layer [B, layers * N]."""

    def __init__(self, cell: str, in_features: int, cells: int, layers: int, state: str, scalar_gates: bool):
        super().__init__()
        widths = [in_features] + [cells] * (layers - 1)
        if cell == "lstm_s":
            self.cells = nn.ModuleList(LSTMSCell(d, cells) for d in widths)
        else:
            self.cells = nn.ModuleList(LSTMACell(d, cells, scalar_gates=scalar_gates) for d in widths)
        self.state_index = 0 if state == "memory" else 1  # run_cell's final state is (c, h, ...)
        self.out_features = layers * cells

    def forward(self, x_BTD: torch.Tensor, num_frames_B: torch.Tensor, lengths_B: torch.Tensor) -> torch.Tensor:
        finals = []
        for cell in self.cells:
            x_BTD, final = run_cell(cell, x_BTD, num_frames_B)
            finals.append(final[self.state_index])
        return torch.cat(finals, dim=-1)


# --- models ------------------------------------------------------------------------------------------------

class FrameFeaturesMoE(nn.Module):
    """Normalised frames -> ``encoder`` (frames, num_frames, host lengths) -> [B, F] (+ the cascade's d) -> MoE
    -> [B, C].
    ``half_frames`` trains on random half-subsets (#11); ``eval_subsets`` > 1 averages that many half-subsets'
    predictions at eval."""

    def __init__(self, encoder: nn.Module, params: FrameParams, inputs: ModelInputs, mixtures: int,
                 half_frames: bool = False, eval_subsets: int = 1):
        super().__init__()
        self.encoder = encoder
        self.moe = MoE(encoder.out_features + cascade_width(inputs), inputs.num_classes, mixtures)
        self.cascade = cascade_feature(inputs)
        self.max_frames, self.normalize, self.feature_sizes = params.max_frames, params.normalize, inputs.feature_sizes
        self.half_frames, self.eval_subsets = half_frames, eval_subsets

    def forward(self, batch: dict) -> ModelOutput:
        x_BTD, num_frames_B = frame_inputs(batch, self.max_frames, self.normalize, self.feature_sizes)
        lengths_B = frame_lengths(batch, x_BTD.shape[1])
        d = cascade_parts(self.cascade, batch)
        if self.training and self.half_frames:
            x_BTD, num_frames_B, lengths_B = sample_half_frames(x_BTD, num_frames_B, lengths_B)
        elif not self.training and self.eval_subsets > 1:
            return ModelOutput(self._average_over_subsets(x_BTD, num_frames_B, lengths_B, d))
        return ModelOutput(self.moe(torch.cat([self.encoder(x_BTD, num_frames_B, lengths_B), *d], dim=-1)))

    def _average_over_subsets(self, x_BTD: torch.Tensor, num_frames_B: torch.Tensor, lengths_B: torch.Tensor,
                              d: list[torch.Tensor]) -> torch.Tensor:
        # The S subsets run as one batch of S * B videos (each subset has its own permutation).
        subsets = [sample_half_frames(x_BTD, num_frames_B, lengths_B) for _ in range(self.eval_subsets)]
        x_SBTD = torch.cat([x for x, _, _ in subsets])
        features_SBF = self.encoder(x_SBTD, torch.cat([n for _, n, _ in subsets]),
                                    torch.cat([n for _, _, n in subsets]))
        d_SBP = [d_BP.repeat(self.eval_subsets, 1) for d_BP in d]  # the same d for every subset of a video
        p_SBC = self.moe(torch.cat([features_SBF, *d_SBP], dim=-1))
        return p_SBC.view(self.eval_subsets, x_BTD.shape[0], -1).mean(dim=0)


class BiUniLSTMFeatures(nn.Module):
    """#5 (wh BiUniLstmModel): ([B, T, D], [B]) -> [fw (c, h); bw (c, h); layer 2 (c, h)] [B, 6N]."""

    def __init__(self, in_features: int, cells: int):
        super().__init__()
        self.bidirectional = StackedLSTM(in_features, cells, bidirectional=True)
        self.forward_layer = StackedLSTM(2 * cells, cells)  # reads the per-frame [h_fw; h_bw]
        self.out_features = 6 * cells

    def forward(self, x_BTD: torch.Tensor, num_frames_B: torch.Tensor, lengths_B: torch.Tensor) -> torch.Tensor:
        first = self.bidirectional(x_BTD, lengths_B)
        second = self.forward_layer(first.outputs, lengths_B)
        # TF's state_is_tuple=False states are [c; h] per direction / layer.
        states = [torch.cat([run.c[:, k], run.h[:, k]], dim=-1) for run, k in ((first, 0), (first, 1), (second, 0))]
        return torch.cat(states, dim=-1)


class LSTMAFwdBwdFeatures(nn.Module):
    """#8: ([B, T, D], [B]) -> [c of layer 1; c of layer 2] [B, 2N]. Layer 2 reads [x_t; y_t], y_t being layer
    1's output at t. "Backward" runs over each video's valid frames in reverse (padding stays at the end)."""

    def __init__(self, in_features: int, cells: int, variant: str):
        super().__init__()
        self.variant = variant
        if variant == "paper":
            self.first, self.second = LSTMACell(in_features, cells), LSTMACell(in_features + cells, cells)
        else:
            # [DIFF] the code: scalar-gate LSTM-S-style cells, no accumulator, every bias 0.1 (forget included).
            self.first, self.second = LSTMSCell(in_features, cells), LSTMSCell(in_features + cells, cells)
            for cell in (self.first, self.second):
                with torch.no_grad():
                    cell.gates.bias[1] = 0.1  # LSTMSCell gate rows: [i, f, o (N), candidate (N)]
        self.out_features = 2 * cells

    def forward(self, x_BTD: torch.Tensor, num_frames_B: torch.Tensor, lengths_B: torch.Tensor) -> torch.Tensor:
        if self.variant == "paper":  # forward, then backward
            y_BTN, (c1_BN, *_) = run_cell(self.first, x_BTD, num_frames_B)
            xy_BTD = reverse_within_length(torch.cat([x_BTD, y_BTN], dim=-1), num_frames_B)
            _, (c2_BN, *_) = run_cell(self.second, xy_BTD, num_frames_B)
        else:  # [DIFF] the code: backward, then forward
            y_BTN, (c1_BN, *_) = run_cell(self.first, reverse_within_length(x_BTD, num_frames_B), num_frames_B)
            y_BTN = reverse_within_length(y_BTN, num_frames_B)
            _, (c2_BN, *_) = run_cell(self.second, torch.cat([x_BTD, y_BTN], dim=-1), num_frames_B)
        return torch.cat([c1_BN, c2_BN], dim=-1)


class ParallelLSTMFeatures(nn.Module):
    """#9/#10: one BasicLSTM stack per feature part -> final c or h of every layer of every part
    [B, layers * sum(cells)], in the authors' order (rgb layers, then audio layers)."""

    def __init__(self, feature_sizes: tuple[int, ...], cells: tuple[int, ...], layers: int, state: str):
        super().__init__()
        self.lstm, self.state = ParallelLSTM(feature_sizes, cells, layers), state
        self.out_features = layers * sum(cells)

    def forward(self, x_BTD: torch.Tensor, num_frames_B: torch.Tensor, lengths_B: torch.Tensor) -> torch.Tensor:
        run = self.lstm(x_BTD, lengths_B)
        return (run.c if self.state == "memory" else run.h).flatten(1)


# --- builders ----------------------------------------------------------------------------------------------

@register("lstm")
def _build_lstm(p: LSTMParams, inputs: ModelInputs) -> nn.Module:
    if p.cell == "basic":
        encoder = BasicLSTMFeatures(inputs.feature_dim, p.cells, p.layers, p.state)
    else:
        encoder = CellStackFeatures(p.cell, inputs.feature_dim, p.cells, p.layers, p.state, p.lstm_a_scalar_gates)
    return FrameFeaturesMoE(encoder, p, inputs, p.mixtures, p.random_half_frames, p.eval_subsets)


@register("biuni_lstm")
def _build_biuni_lstm(p: BiUniLSTMParams, inputs: ModelInputs) -> nn.Module:
    return FrameFeaturesMoE(BiUniLSTMFeatures(inputs.feature_dim, p.cells), p, inputs, p.mixtures)


@register("lstm_a_fwd_bwd")
def _build_lstm_a_fwd_bwd(p: LSTMAFwdBwdParams, inputs: ModelInputs) -> nn.Module:
    return FrameFeaturesMoE(LSTMAFwdBwdFeatures(inputs.feature_dim, p.cells, p.variant), p, inputs, p.mixtures)


@register("parallel_lstm")
def _build_parallel_lstm(p: ParallelLSTMParams, inputs: ModelInputs) -> nn.Module:
    if len(p.cells) != len(inputs.feature_sizes):
        raise ValueError(f"parallel_lstm: cells needs one width per feature part; the input has "
                         f"{len(inputs.feature_sizes)} parts {inputs.feature_sizes}, cells is {p.cells}")
    encoder = ParallelLSTMFeatures(inputs.feature_sizes, p.cells, p.layers, p.state)
    return FrameFeaturesMoE(encoder, p, inputs, p.mixtures)
