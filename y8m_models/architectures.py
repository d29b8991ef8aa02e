"""The architectures as data, without torch: each one's name, input level, family (the module of
``y8m_models.models`` that builds it) and the parameters a configuration may set, with their bounds, choices and
defaults (pydantic). The configurations, their validation and the dashboard need nothing else, so none of them
imports torch; the builders register under these names in ``y8m_models.models``.

Parameter fields carry a preset marker (``WIDTH``, ``MIXTURES``, ``FRAMES``) so that the ``small`` and
``tiny`` presets are derived from the paper values by one rule (``y8m_models.configs.presets``).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Annotated, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, model_validator

VOCABULARY_2017 = 4716  # classes of the 2017 release, the vocabulary the authors' class counts refer to


@dataclass(frozen=True)
class PresetMarker:
    """How a parameter scales with the preset: a layer width, an MoE mixture count, or a length in frames."""

    kind: Literal["width", "mixtures", "frames"]


WIDTH, MIXTURES, FRAMES = PresetMarker("width"), PresetMarker("mixtures"), PresetMarker("frames")
Width = Annotated[int, Field(ge=1), WIDTH]
Widths = Annotated[tuple[Annotated[int, Field(ge=1)], ...], Field(min_length=1), WIDTH]
Mixtures = Annotated[int, Field(ge=1), MIXTURES]
Frames = Annotated[int, Field(ge=1), FRAMES]
OptionalWidth = Annotated[int, Field(ge=0), WIDTH]  # 0 = the feature is off (presets keep 0 at 0)
Count = Annotated[int, Field(ge=1)]  # layers, stages, groups: structure, never scaled


class ModelParams(BaseModel):
    """Base of every architecture's parameters: unknown keys and impossible values are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class VideoParams(ModelParams):
    normalize: Literal["joint", "none"] = "joint"  # L2-normalise the concatenated input (wh DefaultTransformer)
    # [DIFF] the paper says no augmentation; several of the authors' video Chaining runs add N(0, s^2) to the
    # raw input while training (catalog §4.2). 0 = the paper.
    input_noise: float = Field(0.0, ge=0)


class FrameParams(ModelParams):
    max_frames: Frames = 300  # frames read per video (the reader keeps the first 300)
    # joint: L2-normalise each frame's concatenated features; per_part: rgb and audio separately; none.
    normalize: Literal["joint", "per_part", "none"] = "joint"


# --- video level (logistic, MoE, Chaining, complement Chaining) (models/video.py) --------------------------

class LogisticParams(VideoParams):
    pass


class MoEParams(VideoParams):
    mixtures: Mixtures = 16  # Table 2 "MoE-16"


class ChainingVideoParams(VideoParams):
    """#2: 8 stages (auxiliary MoEs) + the main MoE, projection 128, MoE 2."""

    mixtures: Mixtures = 2
    stages: int = Field(8, ge=1)  # auxiliary MoEs; the chain has stages + 1 MoEs (catalog §4.4)
    projection: Width = 128
    # Dropout probability on each auxiliary MoE's input while training (the authors' ``--dropout`` keep_prob
    # 0.9 = 0.1 here); the main MoE never gets dropout. The paper does not mention it; 0 = none.
    aux_dropout: float = Field(0.0, ge=0.0, lt=1.0)


class ComplementChainingParams(VideoParams):
    """#1 / #29.1: MoE 4, 3 stages (4 MoEs), projections of p and 1 - p of width 100 each."""

    mixtures: Mixtures = 4
    stages: int = Field(3, ge=1)
    projection: Width = 100
    # complement: the second branch of each stage projects 1 - p (MoeMix4Model). vertical: [DIFF] it projects
    # the vertical-aggregated p V instead (the authors' code for #29.3, MoeKnowledgeModel, no vertical target).
    second_branch: Literal["complement", "vertical"] = "complement"
    # moe: sigmoid MoE units. sigmoid_softmax: every unit is the split head of #29.4 (layers/split_head.py).
    head: Literal["moe", "sigmoid_softmax"] = "moe"
    # Labels [0, F) stay sigmoid under the split head. Counted in the 2017 vocabulary of 4716 and scaled to the
    # dataset's classes. The authors' HEAD code splits at 1000 (``softmax_bound``); final_submission.conf says
    # "first 3000 sigmoid" instead: which one #29.4 used is not determinable (catalog #29).
    frequent_classes: int = Field(1000, ge=1, le=VOCABULARY_2017 - 1)
    # The paper's #29.3 "jointly predicts labels and top-level verticals": an extra MoE on the final unit's
    # input predicts the V verticals (ModelOutput.verticals). The code has no such target (see second_branch).
    vertical_head: bool = False


# --- deep bag of frames (models/dbof.py) -------------------------------------------------------------------

class DBoFParams(FrameParams):
    sample_frames: Frames = 30  # frames drawn per video while training (starter ``iterations``)
    cluster_size: Width = 8192
    hidden_size: Width = 1024
    mixtures: Mixtures = 2


# --- LSTMs (models/lstm.py) --------------------------------------------------------------------------------

class LSTMParams(FrameParams):
    cell: Literal["basic", "lstm_s", "lstm_a"] = "basic"  # BasicLSTMCell (wh), LSTM-S or LSTM-A (zt, Eq. 2)
    cells: Width = 1024
    layers: int = Field(2, ge=1)
    state: Literal["memory", "output"] = "memory"  # final c (memory) or h (output) of every layer -> MoE
    mixtures: Mixtures = 8
    # [DIFF] LSTM-A only: False = Eq. 2 (per-cell i/f, per-feature accumulator gates); True = the code's scalars.
    lstm_a_scalar_gates: bool = False
    # #11. [DIFF] True = the paper: train on a random half of the frames. In the authors' HEAD the training
    # branch is dead code, so the code's #11 is False (with eval_subsets=16).
    random_half_frames: bool = False
    # At eval: 1 = all frames; N > 1 = average the predictions of N random half-subsets (FrameRandomEvalModel).
    eval_subsets: int = Field(1, ge=1)

    @model_validator(mode="after")
    def _check_scalar_gates(self) -> LSTMParams:
        if self.lstm_a_scalar_gates and self.cell != "lstm_a":
            raise ValueError(f"lstm_a_scalar_gates=True needs cell='lstm_a', not cell={self.cell!r}")
        return self


class BiUniLSTMParams(FrameParams):
    cells: Width = 1024
    mixtures: Mixtures = 4


class LSTMAFwdBwdParams(FrameParams):
    cells: Width = 1024
    mixtures: Mixtures = 8
    # paper: forward LSTM-A, then backward LSTM-A over [x_t; y_t]. [DIFF] code (zt LstmBigluModel): scalar-gate
    # cells without accumulator (forget bias 0.1), the first over the reversed sequence, the second forward.
    variant: Literal["paper", "code"] = "paper"


class ParallelLSTMParams(FrameParams):
    normalize: Literal["joint", "per_part", "none"] = "per_part"  # rgb and audio L2-normalised apart (§4.2)
    cells: Widths = (1024, 128)  # one width per feature part
    layers: int = Field(2, ge=1)
    state: Literal["memory", "output"] = "memory"
    mixtures: Mixtures = 8


# --- CNNs and Chaining over CNNs (models/cnn.py) -----------------------------------------------------------

# Channels of the filter widths 1, 2, 3 (one number each).
Channels = Annotated[Widths, Field(min_length=3, max_length=3)]


class CNNParams(FrameParams):
    channels: Channels = (512, 512, 1024)  # Table 5's original CNN: 1x512, 2x512, 3x1024
    mixtures: Mixtures = 4
    pool_padding: bool = False  # [DIFF-detail] True: the code's max over all positions, padding included


class CNNLSTMParams(FrameParams):
    channels: Channels = (1024, 1024, 1024)
    cells: Width = 1024
    layers: int = Field(2, ge=1)
    mixtures: Mixtures = 8


class ChainingCNNParams(FrameParams):
    stages: int = Field(4, ge=1)  # auxiliary MoEs; stages + 1 units (and CNNs) in all
    # [DIFF] the paper's projection is 256, the code's (deep_chain_relu_cells) 128; the configuration sets it.
    projection: Width = 256
    channels: Channels = (128, 128, 256)
    mixtures: Mixtures = 4
    pool_padding: bool = False  # [DIFF-detail] True: the code's max over all positions, padding included


class ChainingDeepCNNParams(FrameParams):
    stages: int = Field(3, ge=1)  # paper: 3 (4 units); code: 2
    projection: Width = 256
    channels: Channels = (128, 128, 256)  # layer 1; layers 2 and 3 have channels[0] for each of widths 2, 3
    mixtures: Mixtures = 4
    # [DIFF] paper: one deep CNN, its 3 pooled layers and the averaged input feed 4 units (stages must be 3);
    # code: every unit has its own deep CNN (3 pooled layers concatenated), unit inputs as chaining_cnn.
    variant: Literal["paper", "code"] = "paper"
    pool_padding: bool = False  # [DIFF-detail] True: the code's max over all positions, padding included

    @model_validator(mode="after")
    def _paper_has_four_units(self) -> ChainingDeepCNNParams:
        if self.variant == "paper" and self.stages != 3:
            raise ValueError(f"stages must be 3 for variant='paper' (the averaged input and 3 pooled CNN layers "
                             f"are the 4 units), got {self.stages}; variant='code' takes any stages >= 1")
        return self


class ChainingLSTMCNNParams(FrameParams):
    cells: Widths = (1024, 128)  # one 1-layer LSTM per feature part (rgb, audio)
    stages: int = Field(3, ge=1)
    projection: Width = 128
    channels: Channels = (128, 128, 256)
    # [DIFF-detail] the code gives CNN_0 (128, 256, 128), probably by accident; None: CNN_0 uses `channels`.
    first_channels: Annotated[Channels | None, WIDTH] = None
    mixtures: Mixtures = 4
    pool_padding: bool = False  # [DIFF-detail] True: the code's max over all positions, padding included


# --- Chaining over LSTMs (models/chaining_sequence.py) -----------------------------------------------------

class ChainingLSTMParams(FrameParams):
    cells: Width = 1024
    layers: int = Field(2, ge=1)
    stages: int = Field(1, ge=1)  # auxiliary MoEs: the paper's "2 stages" are 1 auxiliary + the final unit
    projection: Width = 200  # #21; #22 uses 256
    mixtures: Mixtures = 4
    shared_lstm: bool = False  # False: one LSTM per unit (#21); True: one LSTM shared by all units (#22)


# --- multi-scale (models/multiscale.py) --------------------------------------------------------------------

class TemporalSegmentParams(FrameParams):
    clip_frames: Frames = 10
    cells: Width = 1024  # both LSTMs (the paper's "2 layers": clip level and clip-sequence level)
    mixtures: Mixtures = 8
    # [DIFF-detail] True (paper silent; principled): a clip's LSTM stops at the video's last frame and the clip
    # sequence has ceil(n / clip_frames) clips. False: the authors' code: no length mask inside clips, and
    # n // clip_frames clips, at least 1 (the code's 0 would leave a video under clip_frames frames stateless).
    mask_clips: bool = True


class TemporalPoolingParams(FrameParams):
    cells: Widths = (1024,)  # one width: one LSTM on the joint input; one per feature part: a ParallelLSTM
    layers: int = Field(1, ge=1)  # LSTM layers in each level (no pooling between them)
    levels: int = Field(4, ge=1)  # LSTM levels with temporal 2-pooling between them
    mixtures: Mixtures = 8  # the Appendix; the Section 4 text says 4
    # [DIFF, large] paper: 2-pooling = mean of non-overlapping pairs of valid frames, lengths ceil(n / 2) per
    # level (the paper does not say which pooling; mean as in its sibling #15, "average pooled", since max-pooling
    # appears only after ReLU CNNs), L2 per part between levels as in the code. code (wh FramehopLstmMemoryModel;
    # config: cells (512, 64), layers 2, levels 5, mixtures 4): 2-hopping (keep element 1 of each pair), per-part
    # L2 of the input too, every level >= 1 given num_frames // 2 of the original video (the code's bug, kept;
    # clamped to the sequence length).
    variant: Literal["paper", "code"] = "paper"


class MultiresParams(FrameParams):
    normalize: Literal["joint", "per_part", "none"] = "none"  # IdenticalTransformer: per part inside instead
    cells: Widths = (512, 64)  # one per feature part (rgb, audio)
    layers: int = Field(2, ge=1)
    stages: int = Field(4, ge=1)  # resolutions 2^stages, ..., 2, 1
    projection: Width = 256
    mixtures: Mixtures = 4
    # Dropout on the auxiliary MoEs' inputs while training (paper silent; the code drops 0.1: keep 0.9).
    aux_dropout: float = Field(0.0, ge=0, lt=1)
    # [DIFF-detail] True (paper silent; principled): a video's last, partial window is the mean of its valid
    # frames and the length is ceil(n / r). False: the code: partial windows are dropped, length n // r (0 for
    # videos under r frames: that resolution's LSTM state is then zero).
    partial_windows: bool = True


class MultiscaleCNNLSTMParams(FrameParams):
    scales: int = Field(4, ge=1)  # CNN layers, each with its own LSTM and MoE
    channels: Widths = (256, 256, 512)  # filters of width 1, 2, 3, ...
    cells: Width = 1024
    cell: Literal["basic", "lstm_s"] = "basic"  # #16 BasicLSTM; #17 the LSTM-S cell of #6
    mixtures: Mixtures = 4
    # [DIFF] paper: "averaging". class_softmax: #16's code, p_l = sum_s softmax_s(c_s . Wc[s, :, l]) p_{s,l};
    # its trainer puts weight 0 on this output, so Wc keeps its random initialisation (catalog #16).
    consensus: Literal["mean", "class_softmax"] = "mean"


# --- attention pooling (models/attention.py) ---------------------------------------------------------------

class LocalAttentionParams(FrameParams):
    cells: Width = 1024
    layers: Count = 2
    mixtures: Mixtures = 4  # Table 7 text: the local-AP model has 4 mixtures
    # paper: softmax weights scored from [x_i; y_i] (Eq. 3), MoE([y_F; z]) with y_F the top layer's final h.
    # code [DIFF] (wh LstmAttentionModel): sigmoid(FC(y_i)) normalised by its sum, MoE([z; c1, h1, c2, h2]).
    variant: Literal["paper", "code"] = "paper"


class LSTMAttentionLSTMParams(FrameParams):
    cells: Width = 1024
    layers: Count = 1
    mixtures: Mixtures = 8
    # The paper does not say how the weights are normalised: softmax as in Eq. 3 (default). The authors'
    # code (wh LstmAttentionLstmModel) uses sigmoid scores divided by their sum over valid frames: "sigmoid".
    normalization: Literal["softmax", "sigmoid"] = "softmax"


class MultiAttentionParams(FrameParams):
    cells: Width = 1024
    layers: Count = 2
    groups: Count = 8
    # The paper is inconsistent: 8 mixtures in Section 5, 4 in Appendix A.5; the authors' code (#25 and #27,
    # also the wh re-implementation of #35/#36) uses 8.
    mixtures: Mixtures = 8
    positional: OptionalWidth = 0  # size of the learned frame-position embedding in the scores; 0 = none (#27: 32)
    # frame_output: scores from [x_t; y_t] (Eq. 3). frame_output_mean [DIFF-detail]: the authors' #27 code also
    # feeds the masked mean of x over the valid frames, [x_t; mean(x); y_t].
    attention_input: Literal["frame_output", "frame_output_mean"] = "frame_output"


class MultiAttentionTwoLSTMParams(FrameParams):
    cells: Width = 1024
    layers: Count = 2
    groups: Count = 8
    mixtures: Mixtures = 4
    # [DIFF] the authors' code (zt InputExtendModel) restricts group k to the frames [k*w, k*w + 2w] (inclusive)
    # with w = floor(num_frames / groups); the paper describes no window (False).
    local_windows: bool = False


# --- beyond the paper: learnable pooling (models/learnable_pooling.py) --------------------------------------

class LearnablePoolingParams(FrameParams):
    """WILLOW (Miech, Laptev, Sivic 2017, arXiv 1706.06905; 2017 1st place): each feature part (rgb, audio) pooled
    apart by NetVLAD, NetRVLAD, NetFV or Soft-DBoF, the pooled vectors concatenated, a linear hidden layer, an
    MoE. The Context Gating around the MoE is the single model's ``context_gating`` option."""

    pooling: Literal["netvlad", "netrvlad", "netfv", "soft_dbof"] = "netvlad"
    # One cluster count per feature part: the released models give audio half the rgb clusters (an eighth for
    # Soft-DBoF).
    clusters: Widths = (256, 128)
    hidden: Width = 1024  # linear: no activation after it (the released runs: relu off)
    mixtures: Mixtures = 2
    input_norm: bool = True  # batch-normalise each frame's features before pooling (the released models' input)


class NeXtVLADParams(FrameParams):
    """NeXtVLAD (Lin, Xiao, Fan 2018, arXiv 1811.05014; 2018 3rd place): each feature part pooled apart by
    NeXtVLAD, then batch norm, dropout, a hidden layer with batch norm, SE Context Gating and a logistic
    classifier. ``branches`` > 1: that many such models mixed by a gate on the mean frame (their logits
    weighted), trained with on-line distillation from the mixture (``loss.online_distillation``)."""

    clusters: Widths = (128, 64)  # per feature part (rgb, audio): audio has half the clusters
    groups: tuple[Count, ...] = Field((8, 4), min_length=1)  # per feature part: audio has half the groups
    expansion: Count = 2  # lambda
    hidden: Width = 2048
    gating_reduction: Count = 8  # r of the SE Context Gating
    dropout: float = Field(0.5, ge=0, lt=1)  # on the pooled vector, while training
    branches: Count = 1

    @model_validator(mode="after")
    def _one_per_part(self) -> NeXtVLADParams:
        if len(self.groups) != len(self.clusters):
            raise ValueError(f"clusters and groups give one value per feature part: {len(self.clusters)} and "
                             f"{len(self.groups)} values")
        return self


# --- beyond the paper: recurrent and self-attention encoders (models/encoders.py) ---------------------------

class GRUParams(FrameParams):
    """A GRU stack whose final states feed an MoE: WILLOW's recurrent baseline (2 layers of 1200 cells)."""

    cells: Width = 1200
    layers: Count = 2
    mixtures: Mixtures = 2


class TransformerParams(FrameParams):
    """A Transformer encoder over the frames (pre-norm, padding masked, learned positions), pooled by a class
    token or by attention, then an MoE."""

    width: Width = 512  # d_model
    heads: Count = 8
    layers: Count = 4
    feedforward: Width = 2048
    dropout: float = Field(0.1, ge=0, lt=1)
    pooling: Literal["class_token", "attention"] = "class_token"
    mixtures: Mixtures = 2

    @model_validator(mode="after")
    def _heads_divide_width(self) -> TransformerParams:
        if self.width % self.heads:
            raise ValueError(f"heads must divide width: width {self.width} is not a multiple of heads {self.heads}")
        return self


# --- the cascade input (paper §7, Fig. 6; catalog §4.12) ---------------------------------------------------

class CascadeSpec(Protocol):
    """What a model needs to know of its cascade input: ``configs.schema.CascadeInput`` is one. A Protocol, not
    that class, because the models never import the configurations."""

    @property
    def streams(self) -> tuple[int, ...]: ...  # paper numbers of the averaged prediction streams

    @property
    def projection(self) -> int: ...

    @property
    def normalize(self) -> str: ...  # "l2" or "none"

    @property
    def l1_input(self) -> bool: ...

    @property
    def infrequent_from(self) -> int | None: ...


def cascade_streams(spec: CascadeSpec) -> tuple[int, ...]:
    """The configurations whose predictions a cascade model reads (``batch["cascade"]``), in order: the averaged
    streams, then the ``infrequent_from`` configuration when it is not one of them (#56: #6 beside the #75
    stream)."""
    extra = spec.infrequent_from
    return spec.streams + ((extra,) if extra is not None and extra not in spec.streams else ())


# --- the table ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Architecture:
    name: str
    level: Literal["video", "frame"]
    params: type[ModelParams]
    family: str  # the module of y8m_models.models that builds it, e.g. "lstm"
    cascade: bool = False  # accepts a cascade input (the cascade configurations' architectures)
    moe_head: bool = True  # predicts the labels with MoEs, which ``model.context_gating`` can gate


ARCHITECTURES: dict[str, Architecture] = {a.name: a for a in (
    Architecture("logistic", "video", LogisticParams, "video", cascade=True, moe_head=False),
    Architecture("moe", "video", MoEParams, "video", cascade=True),
    Architecture("chaining_video", "video", ChainingVideoParams, "video", cascade=True),
    Architecture("complement_chaining", "video", ComplementChainingParams, "video"),
    Architecture("dbof", "frame", DBoFParams, "dbof"),
    Architecture("lstm", "frame", LSTMParams, "lstm", cascade=True),
    Architecture("biuni_lstm", "frame", BiUniLSTMParams, "lstm", cascade=True),
    Architecture("lstm_a_fwd_bwd", "frame", LSTMAFwdBwdParams, "lstm", cascade=True),
    Architecture("parallel_lstm", "frame", ParallelLSTMParams, "lstm", cascade=True),
    Architecture("cnn", "frame", CNNParams, "cnn"),
    Architecture("cnn_lstm", "frame", CNNLSTMParams, "cnn"),
    Architecture("chaining_cnn", "frame", ChainingCNNParams, "cnn", cascade=True),
    Architecture("chaining_deep_cnn", "frame", ChainingDeepCNNParams, "cnn", cascade=True),
    Architecture("chaining_lstm_cnn", "frame", ChainingLSTMCNNParams, "cnn", cascade=True),
    Architecture("chaining_lstm", "frame", ChainingLSTMParams, "chaining_sequence", cascade=True),
    Architecture("temporal_segment_lstm", "frame", TemporalSegmentParams, "multiscale"),
    Architecture("temporal_pooling_lstm", "frame", TemporalPoolingParams, "multiscale"),
    Architecture("multires_lstm_chaining", "frame", MultiresParams, "multiscale"),
    Architecture("multiscale_cnn_lstm", "frame", MultiscaleCNNLSTMParams, "multiscale", cascade=True),
    Architecture("local_attention_lstm", "frame", LocalAttentionParams, "attention"),
    Architecture("lstm_attention_lstm", "frame", LSTMAttentionLSTMParams, "attention"),
    Architecture("multi_attention_lstm", "frame", MultiAttentionParams, "attention", cascade=True),
    Architecture("multi_attention_two_lstm", "frame", MultiAttentionTwoLSTMParams, "attention"),
    Architecture("learnable_pooling", "frame", LearnablePoolingParams, "learnable_pooling"),
    Architecture("nextvlad", "frame", NeXtVLADParams, "learnable_pooling", moe_head=False),
    Architecture("gru", "frame", GRUParams, "encoders"),
    Architecture("transformer", "frame", TransformerParams, "encoders"),
)}


def architecture(name: str) -> Architecture:
    if name not in ARCHITECTURES:
        close = difflib.get_close_matches(name, ARCHITECTURES, n=3, cutoff=0.4)
        hint = f"; did you mean {', '.join(close)}?" if close else f"; known: {', '.join(sorted(ARCHITECTURES))}"
        raise ValueError(f"unknown architecture {name!r}{hint}")
    return ARCHITECTURES[name]
