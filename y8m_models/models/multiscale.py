"""Temporal multi-scale models (paper Section 4, Fig. 3, Table 6, Appendix A.3; catalog #13-#17, §4.6).

- ``temporal_segment_lstm`` (#13, Fig. 3a without the dashes): a shared LSTM reads each clip of
  ``clip_frames`` frames; a second LSTM reads the clips' final states; MoE.
- ``temporal_pooling_lstm`` (#14, Fig. 3a with the dashes): LSTM levels with temporal 2-pooling between
  them; the final c of every layer of every level -> MoE. ``variant="code"`` is the authors' frame-hop model.
- ``multires_lstm_chaining`` (#15, Fig. 3b): window-mean sequences at resolutions 2^S, ..., 2, 1, a
  parallel LSTM each, joined by Chaining (coarsest first, the original sequence in the final MoE).
- ``multiscale_cnn_lstm`` (#16 basic LSTM, #17 LSTM-S, Fig. 3c): CNN -> BN -> ReLU at each scale, with
  2-max-pooling between scales; each scale has its own LSTM and MoE; a consensus joins their predictions.
  With a cascade input (§7; #53, #54, #63) each scale's MoE reads [c_s; d_s], every scale with its own
  projection ``d_s`` (catalog #53/#54; #63's text writes one d, which does not settle whether it is shared).

Shape suffixes: B batch, T frames, D features, N LSTM cells or CNN channels, C classes, M clips,
S scales or Chaining stages.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from y8m_models.architectures import (
    MultiresParams,
    MultiscaleCNNLSTMParams,
    TemporalPoolingParams,
    TemporalSegmentParams,
)
from y8m_models.layers.chaining import Chaining
from y8m_models.layers.lstm_cells import LSTMSCell, run_cell
from y8m_models.layers.masked_batch_norm import MaskedBatchNorm
from y8m_models.layers.moe import MoE
from y8m_models.layers.stacked_lstm import ParallelLSTM, StackedLSTM
from y8m_models.layers.temporal_cnn import ShiftedConcatCNN
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

# --- blocks ----------------------------------------------------------------------------------------------------

def _pad_frames(x_BTD: torch.Tensor, steps: int) -> torch.Tensor:
    """Zero frames appended up to ``steps`` frames (no-op when there are already that many)."""
    return F.pad(x_BTD, (0, 0, 0, steps - x_BTD.shape[1])) if steps > x_BTD.shape[1] else x_BTD


def clip_lengths(num_frames_B: torch.Tensor, clips: int, clip: int,
                 masked: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """(frames of each clip [B, M], clips in each video [B]) for #13; see ``TemporalSegmentParams.mask_clips``."""
    if masked:
        start_M = torch.arange(clips, device=num_frames_B.device) * clip
        return (num_frames_B[:, None] - start_M).clamp(0, clip), (num_frames_B + clip - 1) // clip
    full_BM = num_frames_B.new_full((len(num_frames_B), clips), clip)
    return full_BM, torch.where(num_frames_B > 0, (num_frames_B // clip).clamp(min=1), 0)


def window_means(x_BTD: torch.Tensor, num_frames_B: torch.Tensor, r: int,
                 partial: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Means over non-overlapping windows of r frames -> ([B, T', D], lengths [B]). ``partial``: ceil(T / r)
    windows, a partial one averaging its valid frames only, length ceil(n / r); otherwise the authors' code:
    floor(T / r) windows (at least 1), length n // r. Padding never enters a window inside the length."""
    if r == 1:
        return x_BTD, num_frames_B
    steps = x_BTD.shape[1]
    windows = (steps + r - 1) // r if partial else max(steps // r, 1)
    x_BTD = _pad_frames(x_BTD, windows * r)[:, : windows * r]
    valid_BT1 = valid_mask(num_frames_B, windows * r)[..., None].to(x_BTD.dtype)
    sums_BMD = (x_BTD * valid_BT1).unflatten(1, (windows, r)).sum(dim=2)
    counts_BM1 = valid_BT1.unflatten(1, (windows, r)).sum(dim=2).clamp(min=1) if partial else r
    return sums_BMD / counts_BM1, window_lengths(num_frames_B, r, partial)


def window_lengths(num_frames_B: torch.Tensor, r: int, partial: bool) -> torch.Tensor:
    """The lengths ``window_means`` gives (on whichever device ``num_frames_B`` is)."""
    return (num_frames_B + r - 1) // r if partial else num_frames_B // r


def frame_hop(x_BTD: torch.Tensor) -> torch.Tensor:
    """#14's code: every 2nd frame (element 1 of each pair) -> [B, max(T // 2, 1), D]; its lengths are
    ``hop_lengths``."""
    return _pad_frames(x_BTD, 2)[:, 1::2]


def hop_lengths(num_frames_B: torch.Tensor, steps: int) -> torch.Tensor:
    """The lengths of a ``frame_hop`` sequence of ``steps`` frames: the *original* video's num_frames // 2 at
    every level (the code's bug), clamped to the new sequence length."""
    return (num_frames_B // 2).clamp(max=steps)


def max_pool_pairs(x_BTN: torch.Tensor, num_frames_B: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """2-max-pool over time, non-overlapping and truncated (the authors' code) -> ([B, max(T // 2, 1), N],
    lengths max(n // 2, 1), 0 staying 0). ``x`` must be >= 0 and 0 on padding (post-ReLU, masked), so that a
    one-frame video's pair with padding gives its frame; padding of the result is set to 0 again."""
    steps = x_BTN.shape[1]
    if steps >= 2:
        x_BTN = x_BTN[:, : steps // 2 * 2].unflatten(1, (steps // 2, 2)).amax(dim=2)
    num_frames_B = pair_lengths(num_frames_B)
    return x_BTN * valid_mask(num_frames_B, x_BTN.shape[1])[..., None], num_frames_B


def pair_lengths(num_frames_B: torch.Tensor) -> torch.Tensor:
    """The lengths ``max_pool_pairs`` gives."""
    return torch.where(num_frames_B > 0, (num_frames_B // 2).clamp(min=1), 0)


def _recurrent(parts: Sequence[int], cells: Sequence[int], layers: int) -> StackedLSTM | ParallelLSTM:
    """One LSTM on the joint input for one width, a ParallelLSTM for one width per part."""
    return StackedLSTM(sum(parts), cells[0], layers) if len(cells) == 1 else ParallelLSTM(parts, cells, layers)


def _final_memory(rnn: StackedLSTM | LSTMSCell, x_BTN: torch.Tensor, num_frames_B: torch.Tensor,
                  lengths_B: torch.Tensor) -> torch.Tensor:
    """The c after each video's last valid frame [B, N]; the counts on the device and on the host."""
    if isinstance(rnn, LSTMSCell):
        return run_cell(rnn, x_BTN, num_frames_B)[1][0]
    return rnn(x_BTN, lengths_B).c[:, -1]


# --- models ----------------------------------------------------------------------------------------------------

class TemporalSegmentLSTM(nn.Module):
    def __init__(self, p: TemporalSegmentParams, inputs: ModelInputs):
        super().__init__()
        self.p, self.feature_sizes = p, inputs.feature_sizes
        self.clip_lstm = StackedLSTM(inputs.feature_dim, p.cells)  # shared by all clips
        self.video_lstm = StackedLSTM(p.cells, p.cells)
        self.moe = MoE(p.cells, inputs.num_classes, p.mixtures)

    def forward(self, batch: dict) -> ModelOutput:
        x_BTD, _ = frame_inputs(batch, self.p.max_frames, self.p.normalize, self.feature_sizes)
        (B, steps, D), clip = x_BTD.shape, self.p.clip_frames
        clips = (steps + clip - 1) // clip
        x_BMLD = _pad_frames(x_BTD, clips * clip).view(B, clips, clip, D)
        frames_BM, clips_B = clip_lengths(frame_lengths(batch, steps), clips, clip, self.p.mask_clips)
        c_BMN = self.clip_lstm(x_BMLD.flatten(0, 1), frames_BM.flatten()).c[:, -1].view(B, clips, -1)
        return ModelOutput(self.moe(self.video_lstm(c_BMN, clips_B).c[:, -1]))


class TemporalPoolingLSTM(nn.Module):
    def __init__(self, p: TemporalPoolingParams, inputs: ModelInputs, frame_hop: bool):
        super().__init__()
        self.p, self.feature_sizes, self.frame_hop = p, inputs.feature_sizes, frame_hop
        in_parts = inputs.feature_sizes if len(p.cells) > 1 else (inputs.feature_dim,)
        out_parts = p.cells if len(p.cells) > 1 else (p.cells[0],)
        self.parts = [in_parts] + [out_parts] * (p.levels - 1)  # how each level's LSTM splits its input
        self.levels = nn.ModuleList(_recurrent(parts, p.cells, p.layers) for parts in self.parts)
        self.moe = MoE(p.levels * p.layers * sum(p.cells), inputs.num_classes, p.mixtures)

    def forward(self, batch: dict) -> ModelOutput:
        x_BTD, num_frames_B = frame_inputs(batch, self.p.max_frames, self.p.normalize, self.feature_sizes)
        host_B = frame_lengths(batch, x_BTD.shape[1])  # the same counts on the host, for the LSTMs
        lengths_B, level_host_B, memories = num_frames_B, host_B, []
        for level, (lstm, parts) in enumerate(zip(self.levels, self.parts, strict=True)):
            if level > 0 and self.frame_hop:
                x_BTD = frame_hop(x_BTD)
                level_host_B = hop_lengths(host_B, x_BTD.shape[1])
            elif level > 0:
                x_BTD, lengths_B = window_means(x_BTD, lengths_B, 2)
                level_host_B = window_lengths(level_host_B, 2, partial=True)
            if level > 0 or self.frame_hop:  # paper silent between levels: the code's per-part L2
                x_BTD = normalize_features(x_BTD, "per_part", parts)
            run = lstm(x_BTD, level_host_B)
            memories.append(run.c.flatten(1))
            x_BTD = run.outputs
        return ModelOutput(self.moe(torch.cat(memories, dim=-1)))


class MultiresLSTMChaining(nn.Module):
    def __init__(self, p: MultiresParams, inputs: ModelInputs):
        super().__init__()
        self.p, self.feature_sizes = p, inputs.feature_sizes
        self.resolutions = [2 ** s for s in range(p.stages, -1, -1)]  # coarsest first: Chaining's first unit
        self.lstms = nn.ModuleList(ParallelLSTM(inputs.feature_sizes, p.cells, p.layers) for _ in self.resolutions)
        width = p.layers * sum(p.cells)
        self.chain = Chaining([width] * (p.stages + 1), inputs.num_classes, p.mixtures, p.stages, p.projection,
                              aux_dropout=p.aux_dropout)

    def forward(self, batch: dict) -> ModelOutput:
        x_BTD, num_frames_B = frame_inputs(batch, self.p.max_frames, self.p.normalize, self.feature_sizes)
        host_B, memories = frame_lengths(batch, x_BTD.shape[1]), []
        for r, lstm in zip(self.resolutions, self.lstms, strict=True):
            xr_BTD, _ = window_means(x_BTD, num_frames_B, r, self.p.partial_windows)
            lengths_B = window_lengths(host_B, r, self.p.partial_windows)
            memories.append(lstm(normalize_features(xr_BTD, "per_part", self.feature_sizes), lengths_B).c[:, 0])
        predictions_BC, stages_BSC = self.chain(memories)
        return ModelOutput(predictions_BC, auxiliary=stages_BSC)


class MultiscaleCNNLSTM(nn.Module):
    def __init__(self, p: MultiscaleCNNLSTMParams, inputs: ModelInputs,
                 cell: type[StackedLSTM] | type[LSTMSCell]):
        super().__init__()
        self.p, self.feature_sizes = p, inputs.feature_sizes
        widths, channels = tuple(range(1, len(p.channels) + 1)), sum(p.channels)
        self.cnns = nn.ModuleList(ShiftedConcatCNN(inputs.feature_dim if s == 0 else channels, widths, p.channels)
                                  for s in range(p.scales))
        self.norms = nn.ModuleList(MaskedBatchNorm(channels) for _ in range(p.scales))
        self.rnns = nn.ModuleList(cell(channels, p.cells) for _ in range(p.scales))
        self.moes = nn.ModuleList(MoE(p.cells + cascade_width(inputs), inputs.num_classes, p.mixtures)
                                  for _ in range(p.scales))
        self.consensus_SNC = None
        if p.consensus == "class_softmax":  # zt initialisation: truncated normal, sigma 0.1
            self.consensus_SNC = nn.Parameter(torch.empty(p.scales, p.cells, inputs.num_classes))
            nn.init.trunc_normal_(self.consensus_SNC, std=0.1, a=-0.2, b=0.2)
        self.cascades = None if inputs.cascade is None else nn.ModuleList(cascade_feature(inputs)
                                                                          for _ in range(p.scales))

    def forward(self, batch: dict) -> ModelOutput:
        x_BTD, num_frames_B = frame_inputs(batch, self.p.max_frames, self.p.normalize, self.feature_sizes)
        lengths_B, memories, predictions = frame_lengths(batch, x_BTD.shape[1]), [], []
        cascades = [None] * len(self.cnns) if self.cascades is None else self.cascades
        for s, (cnn, norm, rnn, moe, cascade) in enumerate(
                zip(self.cnns, self.norms, self.rnns, self.moes, cascades, strict=True)):
            valid_BT = valid_mask(num_frames_B, x_BTD.shape[1])
            h_BTN = F.relu(norm(cnn(x_BTD), valid_BT))  # causal CNN: padding after a frame never reaches it
            memories.append(_final_memory(rnn, h_BTN, num_frames_B, lengths_B))
            predictions.append(moe(torch.cat([memories[-1], *cascade_parts(cascade, batch)], dim=-1)))
            if s + 1 < len(self.cnns):
                x_BTD, num_frames_B = max_pool_pairs(h_BTN, num_frames_B)
                lengths_B = pair_lengths(lengths_B)
        scales_BSC = torch.stack(predictions, dim=1)
        if self.consensus_SNC is None:
            return ModelOutput(scales_BSC.mean(dim=1), auxiliary=scales_BSC)
        logits_BSC = torch.einsum("bsn,snc->bsc", torch.stack(memories, dim=1), self.consensus_SNC)
        return ModelOutput((logits_BSC.float().softmax(dim=1) * scales_BSC).sum(dim=1), auxiliary=scales_BSC)


# --- builders --------------------------------------------------------------------------------------------------

def _check_cells_per_part(name: str, cells: tuple[int, ...], inputs: ModelInputs, joint_allowed: bool) -> None:
    if len(cells) == len(inputs.feature_sizes) or (joint_allowed and len(cells) == 1):
        return
    allowed = "one width, or one per feature part" if joint_allowed else "one width per feature part"
    raise ValueError(f"{name}: cells {cells} must be {allowed} {inputs.feature_sizes}")


@register("temporal_segment_lstm")
def _build_temporal_segment_lstm(p: TemporalSegmentParams, inputs: ModelInputs) -> nn.Module:
    return TemporalSegmentLSTM(p, inputs)


@register("temporal_pooling_lstm")
def _build_temporal_pooling_lstm(p: TemporalPoolingParams, inputs: ModelInputs) -> nn.Module:
    _check_cells_per_part("temporal_pooling_lstm", p.cells, inputs, joint_allowed=True)
    return TemporalPoolingLSTM(p, inputs, frame_hop=p.variant == "code")


@register("multires_lstm_chaining")
def _build_multires_lstm_chaining(p: MultiresParams, inputs: ModelInputs) -> nn.Module:
    _check_cells_per_part("multires_lstm_chaining", p.cells, inputs, joint_allowed=False)
    return MultiresLSTMChaining(p, inputs)


@register("multiscale_cnn_lstm")
def _build_multiscale_cnn_lstm(p: MultiscaleCNNLSTMParams, inputs: ModelInputs) -> nn.Module:
    return MultiscaleCNNLSTM(p, inputs, cell={"basic": StackedLSTM, "lstm_s": LSTMSCell}[p.cell])
