"""Plain modern sequence encoders beyond the paper, as baselines beside the 80 configurations (#81 on,
``configs.beyond``).

- ``gru``: a GRU stack over the valid frames (a packed sequence); the final state of every layer feeds an MoE.
  WILLOW's recurrent baseline (Miech, Laptev, Sivic 2017): 2 layers of 1200 cells.
- ``transformer``: the frames projected to ``width``, plus a learned embedding of their position, through a
  pre-norm Transformer encoder whose attention never reads padding and whose residual branches start at zero;
  pooled by a class token (prepended, with a position of its own) or by attention pooling over the frames
  (``layers.attention_pooling``, one group: its weights are the model's ``attention`` for the gallery); then an MoE.

A video without frames: the GRU's states are zero; the Transformer's class token sees only itself, and its
attention pooling gives zero weights.

Shape suffixes: B batch, T frames, D features, N cells or width, L layers, C classes.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from y8m_models.architectures import GRUParams, TransformerParams
from y8m_models.layers.attention_pooling import AttentionPooling
from y8m_models.layers.moe import MoE
from y8m_models.models.base import (
    ModelInputs,
    ModelOutput,
    frame_inputs,
    frame_lengths,
    register,
    valid_mask,
)

# --- models ---------------------------------------------------------------------------------------------------

class GRUEncoder(nn.Module):
    """frames [B, T, D] -> final h of every layer [B, L * N] -> MoE."""

    def __init__(self, p: GRUParams, inputs: ModelInputs):
        super().__init__()
        self.p, self.feature_sizes = p, inputs.feature_sizes
        self.gru = nn.GRU(inputs.feature_dim, p.cells, p.layers, batch_first=True)
        self.moe = MoE(p.layers * p.cells, inputs.num_classes, p.mixtures)

    def forward(self, batch: dict) -> ModelOutput:
        x_BTD, _ = frame_inputs(batch, self.p.max_frames, self.p.normalize, self.feature_sizes)
        lengths_B = frame_lengths(batch, x_BTD.shape[1])
        # A packed sequence needs at least one step: a video without frames runs one (zero) step, then is zeroed.
        # float32 whatever the autocast, as every LSTM here (numerics.py: cuDNN's float16 RNN backward underflows)
        with torch.autocast(x_BTD.device.type, enabled=False):
            packed = pack_padded_sequence(x_BTD.float(), lengths_B.clamp(min=1), batch_first=True,
                                          enforce_sorted=False)
            _, h_LBN = self.gru(packed)
        h_BLN = h_LBN.transpose(0, 1) * (lengths_B > 0).to(h_LBN.device)[:, None, None]
        return ModelOutput(self.moe(h_BLN.flatten(1)))


class TransformerEncoder(nn.Module):
    """frames [B, T, D] -> projection + positions -> pre-norm encoder (padding masked) -> class token or
    attention pooling -> MoE."""

    def __init__(self, p: TransformerParams, inputs: ModelInputs):
        super().__init__()
        self.p, self.feature_sizes = p, inputs.feature_sizes
        self.project = nn.Linear(inputs.feature_dim, p.width)
        self.positions = nn.Parameter(torch.zeros(p.max_frames + 1, p.width))  # row 0: the class token's
        nn.init.trunc_normal_(self.positions, std=0.02)
        self.class_token = nn.Parameter(torch.zeros(1, 1, p.width)) if p.pooling == "class_token" else None
        layer = nn.TransformerEncoderLayer(p.width, p.heads, p.feedforward, p.dropout, batch_first=True,
                                           norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, p.layers, enable_nested_tensor=False)
        # Every residual branch starts at zero (its last projection zeroed), so the untrained encoder passes the
        # projected frames through and the MoE starts at the label prior (``models.base.start_at_label_prior``),
        # as a fan-in-scaled LSTM's small outputs do; no warm-up is needed. No final layer norm, for the same
        # reason: it would scale every video's vector up to unit variance.
        with torch.no_grad():
            for block in self.encoder.layers:
                block.self_attn.out_proj.weight.zero_()  # its bias starts at 0 already
                block.linear2.weight.zero_()
                block.linear2.bias.zero_()
        self.pool = AttentionPooling(p.width, groups=1, max_frames=p.max_frames) if p.pooling == "attention" else None
        self.moe = MoE(p.width, inputs.num_classes, p.mixtures)

    def forward(self, batch: dict) -> ModelOutput:
        x_BTD, num_frames_B = frame_inputs(batch, self.p.max_frames, self.p.normalize, self.feature_sizes)
        steps = x_BTD.shape[1]
        h_BTN = self.project(x_BTD) + self.positions[1: steps + 1]
        valid_BT = valid_mask(num_frames_B, steps)
        if self.class_token is not None:
            token_B1N = (self.class_token + self.positions[:1]).expand(x_BTD.shape[0], -1, -1)
            h_BTN = torch.cat([token_B1N.to(h_BTN.dtype), h_BTN], dim=1)
            valid_BT = torch.cat([torch.ones_like(valid_BT[:, :1]), valid_BT], dim=1)
        # Every key row needs one unmasked key (else the softmax is NaN): a video without frames reads its first
        # position, whose output the attention pooling then weights 0.
        keys_BT = valid_BT.clone()
        keys_BT[:, 0] = True
        h_BTN = self.encoder(h_BTN, src_key_padding_mask=~keys_BT)
        if self.pool is None:
            return ModelOutput(self.moe(h_BTN[:, 0]))
        z_B1N, a_BT1 = self.pool(h_BTN, h_BTN, num_frames_B)
        return ModelOutput(self.moe(z_B1N[:, 0]), attention=a_BT1)


# --- builders -------------------------------------------------------------------------------------------------

@register("gru")
def _build_gru(p: GRUParams, inputs: ModelInputs) -> nn.Module:
    return GRUEncoder(p, inputs)


@register("transformer")
def _build_transformer(p: TransformerParams, inputs: ModelInputs) -> nn.Module:
    return TransformerEncoder(p, inputs)
