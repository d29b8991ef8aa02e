"""Learnable pooling beyond the paper: WILLOW's two-stream NetVLAD, NetRVLAD, NetFV and Soft-DBoF models
(Miech, Laptev, Sivic 2017, arXiv 1706.06905; the 2017 challenge's 1st place) and NeXtVLAD (Lin, Xiao, Fan 2018,
arXiv 1811.05014; the 2018 challenge's 3rd place), single or as a mixture of branches with on-line distillation
(configurations #81 on, ``configs.beyond``).

- ``learnable_pooling``: each feature part (rgb, audio) pooled apart (``layers.netvlad``, ``layers.netfv``,
  ``layers.soft_dbof``), concatenated, a linear hidden layer, an MoE. WILLOW's "gated" models put Context Gating
  on the MoE's input and on its probabilities: the single model's ``context_gating`` option
  (``layers.context_gating.GatedHead``), which any MoE model here can take.
- ``nextvlad``: each feature part pooled apart by NeXtVLAD (``layers.nextvlad``); batch norm, dropout, a hidden
  layer with batch norm, SE Context Gating, a logistic classifier. With ``branches`` M > 1: M such branches, whose
  logits are mixed by a softmax gate on the video's mean frame, ``z = sum_m w_m z_m``; ``auxiliary`` holds each
  branch's probabilities, trained with the labels and distilled from the mixture (``loss.online_distillation``).

``attention`` (the gallery's weights, each column's share per frame): WILLOW's models give the soft assignments of
the rgb frames to each cluster; NeXtVLAD gives its rgb group attention (the first branch's, in a mixture).

Frames: all valid frames are pooled, padding masked. [DIFF] WILLOW's released models pool 300 frames drawn with
replacement from the valid ones, at evaluation too (random predictions); the sum over the valid frames is what
that draw estimates.

Shape suffixes: B batch, T frames, D features, F pooled features, H hidden units, C classes, M branches.
"""

from __future__ import annotations

import torch
from torch import nn

from y8m_models.architectures import LearnablePoolingParams, NeXtVLADParams
from y8m_models.layers.context_gating import SEContextGating
from y8m_models.layers.masked_batch_norm import MaskedBatchNorm
from y8m_models.layers.moe import MoE
from y8m_models.layers.netfv import NetFV
from y8m_models.layers.netvlad import NetVLAD
from y8m_models.layers.nextvlad import NeXtVLAD
from y8m_models.layers.soft_dbof import SoftDBoF
from y8m_models.layers.temporal_pooling import mean_over_time
from y8m_models.models.base import (
    LabelLogits,
    ModelInputs,
    ModelOutput,
    frame_inputs,
    frame_shares,
    register,
    valid_mask,
)

POOLINGS = {"netvlad": NetVLAD, "netrvlad": lambda d, k: NetVLAD(d, k, residual=False), "netfv": NetFV,
            "soft_dbof": SoftDBoF}

# --- blocks ---------------------------------------------------------------------------------------------------

def per_part(values: tuple[int, ...], feature_sizes: tuple[int, ...], name: str) -> tuple[int, ...]:
    """``values`` (one per feature part), checked against the dataset's parts."""
    if len(values) != len(feature_sizes):
        raise ValueError(f"{name} gives one value per feature part: {len(values)} values {list(values)} for the "
                         f"dataset's {len(feature_sizes)} parts of widths {list(feature_sizes)}")
    return values


class NeXtVLADBranch(nn.Module):
    """(feature parts [B, T, D_p], valid [B, T]) -> (logits [B, C], the first part's group attention [B, T, G]):
    one NeXtVLAD model up to its logits."""

    def __init__(self, p: NeXtVLADParams, feature_sizes: tuple[int, ...], num_classes: int):
        super().__init__()
        clusters, groups = per_part(p.clusters, feature_sizes, "clusters"), per_part(p.groups, feature_sizes, "groups")
        self.pools = nn.ModuleList(NeXtVLAD(d, k, p.expansion, g)
                                   for d, k, g in zip(feature_sizes, clusters, groups, strict=True))
        width = sum(pool.out_features for pool in self.pools)
        self.pooled_norm = MaskedBatchNorm(width, warm_start=True)
        self.dropout = nn.Dropout(p.dropout)
        self.hidden = nn.Linear(width, p.hidden, bias=False)  # the batch norm's shift is the bias
        self.hidden_norm = MaskedBatchNorm(p.hidden, warm_start=True)
        self.gating = SEContextGating(p.hidden, p.gating_reduction)
        self.classifier = LabelLogits(p.hidden, num_classes)

    def forward(self, parts: tuple[torch.Tensor, ...], valid_BT: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        pooled = [pool(x_BTD, valid_BT) for pool, x_BTD in zip(self.pools, parts, strict=True)]
        pooled_BF = torch.cat([vlad_BF for vlad_BF, _, _ in pooled], dim=-1)
        pooled_BF = self.dropout(self.pooled_norm.per_video(pooled_BF))
        hidden_BH = self.hidden_norm.per_video(self.hidden(pooled_BF.to(self.hidden.weight.dtype)))
        return self.classifier(self.gating(hidden_BH)).float(), pooled[0][1]


# --- models ---------------------------------------------------------------------------------------------------

class LearnablePooling(nn.Module):
    """WILLOW: frames [B, T, D] -> each part pooled apart -> linear hidden layer -> MoE -> predictions [B, C]."""

    def __init__(self, p: LearnablePoolingParams, inputs: ModelInputs):
        super().__init__()
        self.p, self.feature_sizes = p, inputs.feature_sizes
        clusters = per_part(p.clusters, inputs.feature_sizes, "clusters")
        self.input_norm = MaskedBatchNorm(inputs.feature_dim, warm_start=True) if p.input_norm else None
        self.pools = nn.ModuleList(POOLINGS[p.pooling](d, k)
                                   for d, k in zip(inputs.feature_sizes, clusters, strict=True))
        self.hidden = nn.Linear(sum(pool.out_features for pool in self.pools), p.hidden)
        # N(0, 1/16): each part's pooled vector has unit norm, so a fan-in initialisation would give every video
        # about the same hidden vector. [DIFF-detail] The released models use 1/sqrt(K), K the rgb clusters: 1/16
        # for NetVLAD-256, their best; here 1/16 for every pooling and preset, so smaller presets start alike.
        nn.init.normal_(self.hidden.weight, std=1 / 16)
        self.moe = MoE(p.hidden, inputs.num_classes, p.mixtures)

    def forward(self, batch: dict) -> ModelOutput:
        x_BTD, num_frames_B = frame_inputs(batch, self.p.max_frames, self.p.normalize, self.feature_sizes)
        valid_BT = valid_mask(num_frames_B, x_BTD.shape[1])
        if self.input_norm is not None:
            x_BTD = self.input_norm(x_BTD, valid_BT)
        parts = x_BTD.split(self.feature_sizes, dim=-1)
        pooled = [pool(part, valid_BT) for pool, part in zip(self.pools, parts, strict=True)]
        pooled_BF = torch.cat([vector_BF for vector_BF, _ in pooled], dim=-1)
        # the gallery: each rgb cluster's share of its assignments per frame
        return ModelOutput(self.moe(self.hidden(pooled_BF.to(self.hidden.weight.dtype))),
                           attention=frame_shares(pooled[0][1]))


class NeXtVLADModel(nn.Module):
    """NeXtVLAD: frames [B, T, D] -> one branch's sigmoid, or the gated mixture of M branches' logits."""

    def __init__(self, p: NeXtVLADParams, inputs: ModelInputs):
        super().__init__()
        self.p, self.feature_sizes = p, inputs.feature_sizes
        self.branches = nn.ModuleList(NeXtVLADBranch(p, inputs.feature_sizes, inputs.num_classes)
                                      for _ in range(p.branches))
        if p.branches > 1:  # the gate: the masked mean frame, batch-normalised, to a softmax over the branches
            self.gate_norm = MaskedBatchNorm(inputs.feature_dim, warm_start=True)
            self.gate = nn.Linear(inputs.feature_dim, p.branches)

    def forward(self, batch: dict) -> ModelOutput:
        x_BTD, num_frames_B = frame_inputs(batch, self.p.max_frames, self.p.normalize, self.feature_sizes)
        valid_BT = valid_mask(num_frames_B, x_BTD.shape[1])
        parts = x_BTD.split(self.feature_sizes, dim=-1)
        runs = [branch(parts, valid_BT) for branch in self.branches]
        z_BMC = torch.stack([z_BC for z_BC, _ in runs], dim=1)
        attention_BTG = frame_shares(runs[0][1])  # the gallery: the (first) branch's rgb group attention per frame
        if len(self.branches) == 1:
            return ModelOutput(torch.sigmoid(z_BMC[:, 0]), attention=attention_BTG)
        # [DIFF-detail] the released mixture's mean runs over all 300 positions, padding included
        mean_BD = self.gate_norm.per_video(mean_over_time(x_BTD, num_frames_B))
        w_BM = self.gate(mean_BD).float().softmax(dim=-1)
        z_BC = (w_BM[..., None] * z_BMC).sum(dim=1)
        return ModelOutput(torch.sigmoid(z_BC), auxiliary=torch.sigmoid(z_BMC), attention=attention_BTG)


# --- builders -------------------------------------------------------------------------------------------------

@register("learnable_pooling")
def _build_learnable_pooling(p: LearnablePoolingParams, inputs: ModelInputs) -> nn.Module:
    return LearnablePooling(p, inputs)


@register("nextvlad")
def _build_nextvlad(p: NeXtVLADParams, inputs: ModelInputs) -> nn.Module:
    return NeXtVLADModel(p, inputs)
