"""Chaining over LSTM representations (paper Section 3 Table 5, App. A.4; catalog §4.3, §4.4; configurations
#21 and #22).

- #21 (``shared_lstm=False``, wh ``LstmMemoryDeepChainModel``): every Chaining unit has its own stacked LSTM
  over the same frames; unit t sees ``[c-concat of LSTM_t; r_0 ... r_{t-1}]``.
- #22 (``shared_lstm=True``, wh ``LstmMemoryModel`` + ``DeepCombineChainModel``): one stacked LSTM whose
  c-concat is the input of every unit (the DCC head of §4.4).

With a cascade input (§7, #62) ``d`` is appended to every unit's LSTM feature (catalog #62: "stage input =
[L2(c_t) ; d ; m ; r_0 ... r_{t-1}]"; [DIFF-detail] that code's L2 of c_t and its m projection of the mean
frame belong to the wh cascade class, not to #21, and are not reproduced).

The LSTMs are length-masked (``StackedLSTM``), so padding after ``num_frames`` changes nothing.

Shape suffixes: B batch, T frames, D features, C classes, S auxiliary stages.
"""

from __future__ import annotations

import torch
from torch import nn

from y8m_models.architectures import (
    ChainingLSTMParams,
)
from y8m_models.layers.chaining import Chaining
from y8m_models.layers.stacked_lstm import StackedLSTM
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


class ChainingLSTM(nn.Module):
    """frames -> one LSTM per unit (or one shared) -> final c of every layer -> Chaining ->
    (predictions [B, C], auxiliary [B, S, C])."""

    def __init__(self, p: ChainingLSTMParams, inputs: ModelInputs):
        super().__init__()
        self.p, self.feature_sizes = p, inputs.feature_sizes
        units = 1 if p.shared_lstm else p.stages + 1
        self.lstms = nn.ModuleList(StackedLSTM(inputs.feature_dim, p.cells, p.layers) for _ in range(units))
        # [DIFF-detail] #21's code is a plain chain: unit t sees only r_{t-1}, not r_0 ... r_{t-1}. With the
        # configured stages = 1 the two agree; for more stages this follows the paper's Chaining (Fig. 2).
        width = p.layers * p.cells + cascade_width(inputs)
        self.chaining = Chaining(width, inputs.num_classes, p.mixtures, p.stages, p.projection)
        self.cascade = cascade_feature(inputs)

    def forward(self, batch: dict) -> ModelOutput:
        x_BTD, _ = frame_inputs(batch, self.p.max_frames, self.p.normalize, self.feature_sizes)
        d = cascade_parts(self.cascade, batch)
        lengths_B = frame_lengths(batch, x_BTD.shape[1])
        memories = [torch.cat([lstm(x_BTD, lengths_B).c.flatten(1), *d], dim=-1) for lstm in self.lstms]
        features: torch.Tensor | list[torch.Tensor] = memories[0] if self.p.shared_lstm else memories
        predictions_BC, stages_BSC = self.chaining(features)
        return ModelOutput(predictions_BC, auxiliary=stages_BSC)


@register("chaining_lstm")
def _build_chaining_lstm(p: ChainingLSTMParams, inputs: ModelInputs) -> nn.Module:
    return ChainingLSTM(p, inputs)
