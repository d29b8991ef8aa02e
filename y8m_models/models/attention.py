"""Attention pooling LSTM models (paper Section 5, Eq. 3-5, Fig. 4/5, Table 7, Appendix A.5; catalog #23-#27;
the multi-AP LSTM #25 is also the member of #35, #36 and the base of the cascades #50, #58).

- ``local_attention_lstm`` (#23, Eq. 5): attention pooling over the *input* frames, ``z = sum_i a_i x_i``,
  next to the LSTM's representation: ``p = MoE([y_F; z])``.
- ``lstm_attention_lstm`` (#24): one LSTM's outputs weight the frames, another LSTM's outputs are pooled.
- ``multi_attention_lstm`` (#25, #27, Eq. 3-4, Fig. 4): K groups of weights scored from ``[x_i; y_i]``
  pool the LSTM outputs, one MoE shared by the groups, max over groups per class; #27 adds a learned
  embedding of the frame position (and, as the authors' code, the video's mean frame) to the scores.
- ``multi_attention_two_lstm`` (#26): as #25, but a separate LSTM's outputs score the frames.

``multi_attention_lstm`` takes a cascade input (§7; #50, #58): ``d`` is concatenated to each of the K pooled
vectors before the shared MoE (catalog #50, #58).

Every model returns the pooling weights as ``ModelOutput.attention`` [B, T, K] (K = 1 for #23/#24): they
sum to 1 over each video's valid frames and are 0 on padding (the dashboard's frame gallery, Fig. 5).

Shapes: B batch, T frames, D input features, N LSTM cells, E attention input, K attention groups,
C classes, L LSTM layers.
"""

from __future__ import annotations

import torch
from torch import nn

from y8m_models.architectures import (
    LocalAttentionParams,
    LSTMAttentionLSTMParams,
    MultiAttentionParams,
    MultiAttentionTwoLSTMParams,
)
from y8m_models.layers.attention_pooling import AttentionPooling
from y8m_models.layers.moe import MoE
from y8m_models.layers.stacked_lstm import StackedLSTM
from y8m_models.layers.temporal_pooling import mean_over_time
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

# --- blocks ---------------------------------------------------------------------------------------------------

def _max_over_groups(moe: MoE, z_BKN: torch.Tensor) -> torch.Tensor:
    """Eq. 4: one MoE shared by the K groups, then per class the most confident group: [B, K, N] -> [B, C]."""
    return moe(z_BKN).amax(dim=1)


def local_windows_BTK(num_frames_B: torch.Tensor, steps: int, groups: int) -> torch.Tensor:
    """The authors' #26 windows [B, T, K] bool: group k sees frames k*w .. k*w + 2w (inclusive), w = floor(n / K).
    With n < K, w = 0 and every group sees frame 0 alone, as in the code. The windows of the last groups reach
    past the video's end; the code's weights there are a softmax over all 300 steps, padding included (its
    validity mask is unused), ours are already 0 there (masked softmax), so padding stays out."""
    w_B1 = (num_frames_B // groups)[:, None]
    start_BK = w_B1 * torch.arange(groups, device=num_frames_B.device)[None, :]
    t_1T1 = torch.arange(steps, device=num_frames_B.device)[None, :, None]
    return (t_1T1 >= start_BK[:, None, :]) & (t_1T1 <= (start_BK + 2 * w_B1)[:, None, :])


def restrict_to_windows(a_BTK: torch.Tensor, window_BTK: torch.Tensor) -> torch.Tensor:
    """The softmax times the window mask, renormalised (= the softmax over the window's frames). Guard (not in
    the code, which divides without one): where a window's weights sum to 0 (a video without frames, or every
    weight in the window underflowed) the group keeps its weights over all valid frames."""
    local_BTK = a_BTK * window_BTK
    total_B1K = local_BTK.sum(dim=1, keepdim=True)
    usable_B1K = total_B1K > 0
    return torch.where(usable_B1K, local_BTK / torch.where(usable_B1K, total_B1K, 1.0), a_BTK)


# --- models ---------------------------------------------------------------------------------------------------

class LocalAttentionLSTM(nn.Module):
    """#23, Eq. 5: z = sum_i a_i x_i over the input frames; p = MoE([y_F; z]) (paper) or MoE([z; c, h]) (code)."""

    def __init__(self, p: LocalAttentionParams, inputs: ModelInputs):
        super().__init__()
        self.p, self.feature_sizes = p, inputs.feature_sizes
        d = inputs.feature_dim
        self.lstm = StackedLSTM(d, p.cells, p.layers)
        if p.variant == "paper":
            # Eq. 5 does not say what scores a_i; Section 5's attention network (Eq. 3) takes the frame and the
            # LSTM output at that frame, [x_i; y_i], with a softmax: we use the same for the local scheme.
            self.pool = AttentionPooling(d + p.cells, groups=1, max_frames=p.max_frames)
            representation = p.cells  # y_F: the top layer's output after the last valid frame
        else:
            # [DIFF] the authors' code scores from the LSTM output alone, sigmoid normalised by the sum.
            self.pool = AttentionPooling(p.cells, groups=1, max_frames=p.max_frames, normalization="sigmoid")
            representation = 2 * p.layers * p.cells  # state_is_tuple=False: [c1, h1, c2, h2]
        self.moe = MoE(d + representation, inputs.num_classes, p.mixtures)

    def forward(self, batch: dict) -> ModelOutput:
        x_BTD, num_frames_B = frame_inputs(batch, self.p.max_frames, self.p.normalize, self.feature_sizes)
        run = self.lstm(x_BTD, frame_lengths(batch, x_BTD.shape[1]))
        if self.p.variant == "paper":
            z_B1D, a_BT1 = self.pool(x_BTD, torch.cat([x_BTD, run.outputs], dim=-1), num_frames_B)
            feature_BF = torch.cat([run.h[:, -1], z_B1D[:, 0]], dim=-1)
        else:
            z_B1D, a_BT1 = self.pool(x_BTD, run.outputs, num_frames_B)
            state_BF = torch.stack([run.c, run.h], dim=2).flatten(1)  # [B, L, 2, N] -> c1, h1, c2, h2
            feature_BF = torch.cat([z_B1D[:, 0], state_BF], dim=-1)
        return ModelOutput(self.moe(feature_BF), attention=a_BT1)


class LSTMAttentionLSTM(nn.Module):
    """#24: the attention LSTM's outputs weight the main LSTM's outputs; MoE([attended; c_att; c_main])."""

    def __init__(self, p: LSTMAttentionLSTMParams, inputs: ModelInputs):
        super().__init__()
        self.p, self.feature_sizes = p, inputs.feature_sizes
        d = inputs.feature_dim
        self.attention_lstm = StackedLSTM(d, p.cells, p.layers)
        self.main_lstm = StackedLSTM(d, p.cells, p.layers)
        self.pool = AttentionPooling(p.cells, groups=1, max_frames=p.max_frames, normalization=p.normalization)
        # Final c of every layer of both LSTMs (catalog §4.3 "memory"; one layer each in #24).
        self.moe = MoE(p.cells + 2 * p.layers * p.cells, inputs.num_classes, p.mixtures)

    def forward(self, batch: dict) -> ModelOutput:
        x_BTD, num_frames_B = frame_inputs(batch, self.p.max_frames, self.p.normalize, self.feature_sizes)
        lengths_B = frame_lengths(batch, x_BTD.shape[1])
        attention_run, main_run = self.attention_lstm(x_BTD, lengths_B), self.main_lstm(x_BTD, lengths_B)
        attended_B1N, a_BT1 = self.pool(main_run.outputs, attention_run.outputs, num_frames_B)
        feature_BF = torch.cat([attended_B1N[:, 0], attention_run.c.flatten(1), main_run.c.flatten(1)], dim=-1)
        return ModelOutput(self.moe(feature_BF), attention=a_BT1)


class MultiAttentionLSTM(nn.Module):
    """#25/#27, Eq. 3-4: e_ik = W_k[x_i; y_i] (+ position, + mean frame), z_k = sum_i a_ik y_i, max_k MoE(z_k);
    with a cascade input max_k MoE([z_k; d])."""

    def __init__(self, p: MultiAttentionParams, inputs: ModelInputs):
        super().__init__()
        self.p, self.feature_sizes = p, inputs.feature_sizes
        d = inputs.feature_dim
        self.lstm = StackedLSTM(d, p.cells, p.layers)
        attention_features = d + p.cells + (d if p.attention_input == "frame_output_mean" else 0)
        self.pool = AttentionPooling(attention_features, p.groups, positional=p.positional, max_frames=p.max_frames)
        self.moe = MoE(p.cells + cascade_width(inputs), inputs.num_classes, p.mixtures)
        self.cascade = cascade_feature(inputs)

    def forward(self, batch: dict) -> ModelOutput:
        x_BTD, num_frames_B = frame_inputs(batch, self.p.max_frames, self.p.normalize, self.feature_sizes)
        y_BTN = self.lstm(x_BTD, frame_lengths(batch, x_BTD.shape[1])).outputs
        parts = [x_BTD, y_BTN]
        if self.p.attention_input == "frame_output_mean":
            parts.append(mean_over_time(x_BTD, num_frames_B)[:, None].expand_as(x_BTD))
        z_BKN, a_BTK = self.pool(y_BTN, torch.cat(parts, dim=-1), num_frames_B)
        d_BKP = [d_BP[:, None].expand(-1, z_BKN.shape[1], -1) for d_BP in cascade_parts(self.cascade, batch)]
        return ModelOutput(_max_over_groups(self.moe, torch.cat([z_BKN, *d_BKP], dim=-1)), attention=a_BTK)


class MultiAttentionTwoLSTM(nn.Module):
    """#26: e_tk = W_k[y^att_t; x_t] from a separate attention LSTM; z_k = sum_t a_tk y^main_t; max_k MoE(z_k)."""

    def __init__(self, p: MultiAttentionTwoLSTMParams, inputs: ModelInputs):
        super().__init__()
        self.p, self.feature_sizes = p, inputs.feature_sizes
        d = inputs.feature_dim
        self.attention_lstm = StackedLSTM(d, p.cells, p.layers)
        self.main_lstm = StackedLSTM(d, p.cells, p.layers)
        self.pool = AttentionPooling(p.cells + d, p.groups, max_frames=p.max_frames)
        self.moe = MoE(p.cells, inputs.num_classes, p.mixtures)

    def forward(self, batch: dict) -> ModelOutput:
        x_BTD, num_frames_B = frame_inputs(batch, self.p.max_frames, self.p.normalize, self.feature_sizes)
        lengths_B = frame_lengths(batch, x_BTD.shape[1])
        y_att_BTN, y_BTN = self.attention_lstm(x_BTD, lengths_B).outputs, self.main_lstm(x_BTD, lengths_B).outputs
        z_BKN, a_BTK = self.pool(y_BTN, torch.cat([y_att_BTN, x_BTD], dim=-1), num_frames_B)
        if self.p.local_windows:  # the pooled z above is of the unwindowed weights: pool again
            a_BTK = restrict_to_windows(a_BTK, local_windows_BTK(num_frames_B, a_BTK.shape[1], self.p.groups))
            z_BKN = torch.einsum("btk,btn->bkn", a_BTK, y_BTN)
        return ModelOutput(_max_over_groups(self.moe, z_BKN), attention=a_BTK)


# --- builders -------------------------------------------------------------------------------------------------

@register("local_attention_lstm")
def _build_local_attention(p: LocalAttentionParams, inputs: ModelInputs) -> nn.Module:
    return LocalAttentionLSTM(p, inputs)


@register("lstm_attention_lstm")
def _build_lstm_attention_lstm(p: LSTMAttentionLSTMParams, inputs: ModelInputs) -> nn.Module:
    return LSTMAttentionLSTM(p, inputs)


@register("multi_attention_lstm")
def _build_multi_attention(p: MultiAttentionParams, inputs: ModelInputs) -> nn.Module:
    return MultiAttentionLSTM(p, inputs)


@register("multi_attention_two_lstm")
def _build_multi_attention_two_lstm(p: MultiAttentionTwoLSTMParams, inputs: ModelInputs) -> nn.Module:
    return MultiAttentionTwoLSTM(p, inputs)
