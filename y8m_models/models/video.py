"""Video-level models on the mean rgb + mean audio vector (paper Section 2, Table 2 and Section 3; catalog §4.1,
§4.2, §4.4, §4.5, §7).

- ``logistic``: logistic regression, Table 2 "LR" (the authors' ``LogisticModel``).
- ``moe``: mixture of experts, Table 2 "MoE" with 16 mixtures (``MoeModel``).
- ``chaining_video``: the paper's Chaining on the video vector, the authors' wh "Deep Combine Chain":
  #2 (8 stages, projection 128, MoE 2) and the bagging/boosting members of #28, #30-#32, #39, #45, #46
  (4 stages, projection 256, MoE 4, input noise 0.1-0.2).
- ``complement_chaining``: the authors' zt chaining with projections of p and 1 - p, #1 and #29.1-29.4:
  the vertical branch or head (#29.3) and the sigmoid+softmax split head (#29.4).

``logistic``, ``moe`` and ``chaining_video`` take a cascade input (§7, #47, #57, #66-#71, #74): ``d`` is
concatenated to the normalised video vector, so for Chaining every unit sees it (s_0 = [x; d], catalog #47).

Every model reads its input the same way: N(0, input_noise^2) added to the raw vector while training (the
authors' ``NoiseAugmenter``; [DIFF] the paper says no augmentation, so 0 is the paper), then the L2
normalisation of catalog §4.2.

Shape suffixes: B batch, D features, C classes, S chaining stages, V verticals, P infrequent positions.
"""

from __future__ import annotations

from functools import partial

import torch
from torch import nn

from y8m_models.architectures import (
    ChainingVideoParams,
    ComplementChainingParams,
    LogisticParams,
    MoEParams,
    VideoParams,
)
from y8m_models.layers.chaining import Chaining, ComplementChaining
from y8m_models.layers.moe import MoE, Sigmoid32
from y8m_models.layers.split_head import SigmoidSoftmaxMoE
from y8m_models.models.base import (
    CascadeFeature,
    ModelInputs,
    ModelOutput,
    cascade_feature,
    cascade_parts,
    cascade_width,
    frequent_split,
    normalize_features,
    register,
    video_inputs,
)

# --- blocks ------------------------------------------------------------------------------------------------

class VideoInput(nn.Module):
    """batch -> x [B, D]: training-only Gaussian noise on the raw vector, then the §4.2 normalisation."""

    def __init__(self, normalize: str, feature_sizes: tuple[int, ...], input_noise: float):
        super().__init__()
        self.normalize, self.feature_sizes, self.input_noise = normalize, feature_sizes, input_noise

    def forward(self, batch: dict) -> torch.Tensor:
        x_BD = video_inputs(batch)
        if self.training and self.input_noise > 0:
            x_BD = x_BD + self.input_noise * torch.randn_like(x_BD)
        return normalize_features(x_BD, self.normalize, self.feature_sizes)


# --- models ------------------------------------------------------------------------------------------------

class VideoClassifier(nn.Module):
    """One classifier on the video vector (and the cascade's d): logistic regression or MoE -> [B, C]."""

    def __init__(self, video_input: VideoInput, classifier: nn.Module, cascade: CascadeFeature | None = None):
        super().__init__()
        self.video_input, self.classifier, self.cascade = video_input, classifier, cascade

    def forward(self, batch: dict) -> ModelOutput:
        x_BD = torch.cat([self.video_input(batch), *cascade_parts(self.cascade, batch)], dim=-1)
        return ModelOutput(predictions=self.classifier(x_BD))


class ChainingVideo(nn.Module):
    """Deep Combine Chain on the video vector -> predictions [B, C], auxiliary [B, S, C]. With a cascade
    input the chain starts from s_0 = [x; d] (catalog #47: ``d`` is concatenated before the chain)."""

    def __init__(self, video_input: VideoInput, chain: Chaining, cascade: CascadeFeature | None = None):
        super().__init__()
        self.video_input, self.chain, self.cascade = video_input, chain, cascade

    def forward(self, batch: dict) -> ModelOutput:
        s0_BD = torch.cat([self.video_input(batch), *cascade_parts(self.cascade, batch)], dim=-1)
        predictions_BC, stages_BSC = self.chain(s0_BD)
        return ModelOutput(predictions=predictions_BC, auxiliary=stages_BSC)


class ComplementChainingVideo(nn.Module):
    """zt chaining -> predictions [B, C], auxiliary [B, S, C]; verticals [B, V] with a vertical head;
    infrequent [B, P] (the final split head's softmax, "none" slot last) with the sigmoid+softmax head."""

    def __init__(self, video_input: VideoInput, chain: ComplementChaining, vertical_head: nn.Module | None):
        super().__init__()
        self.video_input, self.chain, self.vertical_head = video_input, chain, vertical_head

    def forward(self, batch: dict) -> ModelOutput:
        running_BR, stages_BSC = self.chain.running_input(self.video_input(batch))
        final = self.chain.moes[-1]
        if isinstance(final, SigmoidSoftmaxMoE):
            predictions_BC, infrequent_BP = final.distribution(running_BR)
        else:
            predictions_BC, infrequent_BP = final(running_BR), None
        verticals_BV = None if self.vertical_head is None else self.vertical_head(running_BR)
        return ModelOutput(predictions=predictions_BC, auxiliary=stages_BSC, verticals=verticals_BV,
                           infrequent=infrequent_BP)


# --- builders ----------------------------------------------------------------------------------------------

def _video_input(p: VideoParams, inputs: ModelInputs) -> VideoInput:
    return VideoInput(p.normalize, inputs.feature_sizes, p.input_noise)


def _vertical_matrix(inputs: ModelInputs, why: str) -> torch.Tensor:
    if inputs.vertical_matrix is None:
        raise ValueError(f"complement_chaining with {why} needs ModelInputs.vertical_matrix (the [C, V] "
                         "label -> vertical matrix from vocabulary.csv), which is None for this dataset")
    if inputs.vertical_matrix.shape[0] != inputs.num_classes:
        raise ValueError(f"ModelInputs.vertical_matrix has {inputs.vertical_matrix.shape[0]} rows, expected "
                         f"num_classes={inputs.num_classes}")
    return inputs.vertical_matrix


@register("logistic")
def _build_logistic(p: LogisticParams, inputs: ModelInputs) -> nn.Module:
    width = inputs.feature_dim + cascade_width(inputs)
    classifier = nn.Sequential(nn.Linear(width, inputs.num_classes), Sigmoid32())
    return VideoClassifier(_video_input(p, inputs), classifier, cascade_feature(inputs))


@register("moe")
def _build_moe(p: MoEParams, inputs: ModelInputs) -> nn.Module:
    moe = MoE(inputs.feature_dim + cascade_width(inputs), inputs.num_classes, p.mixtures)
    return VideoClassifier(_video_input(p, inputs), moe, cascade_feature(inputs))


@register("chaining_video")
def _build_chaining_video(p: ChainingVideoParams, inputs: ModelInputs) -> nn.Module:
    chain = Chaining(inputs.feature_dim + cascade_width(inputs), inputs.num_classes, p.mixtures, p.stages,
                     p.projection, aux_dropout=p.aux_dropout)
    return ChainingVideo(_video_input(p, inputs), chain, cascade_feature(inputs))


@register("complement_chaining")
def _build_complement_chaining(p: ComplementChainingParams, inputs: ModelInputs) -> nn.Module:
    C = inputs.num_classes
    head = MoE
    if p.head == "sigmoid_softmax":
        frequent = frequent_split(p.frequent_classes, C, "head='sigmoid_softmax'")
        head = partial(SigmoidSoftmaxMoE, frequent_classes=frequent)
    branch_matrix = _vertical_matrix(inputs, "second_branch='vertical'") if p.second_branch == "vertical" else None
    chain = ComplementChaining(inputs.feature_dim, C, p.mixtures, p.stages, p.projection,
                               vertical_matrix=branch_matrix, head=head)
    vertical_head = None
    if p.vertical_head:
        # An MoE like every other classifier of the paper; V is small (24-25), so it costs little.
        verticals = _vertical_matrix(inputs, "vertical_head=True").shape[1]
        final_width = inputs.feature_dim + 2 * p.stages * p.projection  # the final unit's input
        vertical_head = MoE(final_width, verticals, p.mixtures)
    return ComplementChainingVideo(_video_input(p, inputs), chain, vertical_head)
