"""The schema of a configuration (pydantic): what one of the paper's 80 entries is, as data.

A configuration is either a **single model** (an architecture with its parameters, loss and training
hyperparameters; optionally distilled from an ensemble's predictions or fed other runs' predictions as a
cascade input) or an **ensemble** (bagging, boosting, stacking of other configurations, or the #80 merge).
Ensembles name their members by paper number, or inline them (#29's four variants).

Every value is the paper's; ``as_in_code`` holds dotted-path overrides that give the authors' code instead
([DIFF] in catalog_80.md), applied by ``resolve(..., as_in_code=True)``. Unknown keys and impossible values
are errors that name the field.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, Literal, Union

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    SerializeAsAny,
    Tag,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from y8m_models.architectures import ARCHITECTURES, ModelParams, architecture

SECTIONS = {
    "A.1": "Video-level models",
    "A.2": "Baseline frame-level models",
    "A.3": "Temporal multi-scale models",
    "A.4": "Chaining models",
    "A.5": "Attention pooling models",
    "A.6": "Bagging and boosting",
    "A.7": "Distillation",
    "A.8": "Cascade",
    "A.9": "Ensembles",
    "B": "Beyond the paper",
    "T2": "Table 2 baselines",
}
Positive = Annotated[float, Field(gt=0)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LossSpec(Strict):
    """How a configuration's loss combines the model's outputs (catalog §4.7); part of every config."""

    main_weight: float = Field(1.0, ge=0)
    aux_weight: float = Field(0.0, ge=0)  # per auxiliary prediction, summed over them
    positive_weight: float = Field(1.0, gt=0)  # #29.2's weighted CE: 10
    relabel: Literal["none", "paper", "code"] = "none"  # #1 (losses.relabeled_targets)
    relabel_threshold: float = Field(10.0, gt=0)
    # #29.3 as the paper has it: the vertical head is trained on "the video has a label of this vertical".
    vertical_weight: float = Field(0.0, ge=0)
    # #29.4: how the labels of the softmax head are trained. The paper predicts infrequent labels "with
    # softmax": a softmax cross-entropy over them and the "none" slot. [DIFF] The authors' script trains
    # every output with the plain sigmoid cross-entropy ("sigmoid").
    infrequent: Literal["softmax", "sigmoid"] = "softmax"
    # On-line distillation (NeXtVLAD's mixture, #86): this weight times sum_s KL(softmax(z / T) || softmax(z_s / T))
    # over the auxiliary predictions s, z the final prediction's logits (``losses.online_distillation``).
    online_distillation: float = Field(0.0, ge=0)
    temperature: float = Field(3.0, gt=0)


class Training(Strict):
    """Adam with the staircase decay ``lr = learning_rate * decay_rate ** floor(examples / decay_examples)``,
    per-tensor gradient-norm clipping and L2 on the weights (catalog §4.8)."""

    optimizer: Literal["adam"] = "adam"
    learning_rate: Positive
    decay_rate: float = Field(0.95, gt=0, le=1)
    decay_examples: int = Field(4_000_000, ge=1)
    batch_size: int = Field(ge=1)
    clip_norm: Positive = 1.0
    epochs: Positive = 5.0
    l2: float = Field(1e-8, ge=0)
    # Where the label classifiers' output biases start: the train1 label frequencies ("label_prior"), or
    # [DIFF] the authors' zero ("zero"), under which #25 never leaves the label-prior loss at small scale
    # (models.base.start_at_label_prior says why).
    output_bias: Literal["label_prior", "zero"] = "label_prior"


class VariantMember(Strict):
    """A saved variant where a configuration is read (a member, a teacher, a cascade stream): ``{"variant": "k16"}``;
    looked up when the configuration is planned (``pipeline.plan``'s ``refs``)."""

    variant: str


class RunMember(Strict):
    """A finished run of the run store as an ensemble member, its predictions reused as they are:
    ``{"run": 12}``; it must be on the dataset the ensemble runs on."""

    run: int = Field(ge=1)


# #1-#80 are the paper's; #81 on are the later models of the section "Beyond the paper". The registry checks that
# a number names one of its configurations (``registry.get_config``).
Number = Annotated[int, Field(ge=1)]


def _reference(value: Any) -> str | None:
    """Which kind of reference a member, teacher or stream is: a paper number, an inline model, a variant, a run."""
    if isinstance(value, int) and not isinstance(value, bool):
        return "number"
    if isinstance(value, BaseModel):
        value = value.model_dump()
    if isinstance(value, dict):
        return next((tag for key, tag in (("architecture", "model"), ("variant", "variant"), ("run", "run"))
                     if key in value), None)
    return None


def _one_of(*tagged: Any) -> Any:
    kinds = ", ".join({"number": "a paper number", "model": "an inline model", "variant": '{"variant": NAME}',
                       "run": '{"run": ID}'}[t.__metadata__[-1].tag] for t in tagged)
    return Annotated[Union[tagged], Discriminator(_reference, custom_error_type="reference",  # noqa: UP007
                                                  custom_error_message=f"expected {kinds}")]


Reads = _one_of(Annotated[Number, Tag("number")], Annotated[VariantMember, Tag("variant")])


class Distillation(Strict):
    """Soft targets from an ensemble's predictions on train1 (paper Eq. 12):
    ``(1 - weight) * L(p, y) + weight * L(p, teacher)``."""

    teacher: Reads
    weight: float = Field(gt=0, lt=1)


class CascadeInput(Strict):
    """Other configurations' predictions as an input (paper §7, Fig. 6): the streams are averaged with learned
    softmax weights, projected (ReLU), normalised, and concatenated to the model's representation."""

    streams: tuple[Reads, ...] = Field(min_length=1)  # paper numbers, e.g. (76, 66), or variants
    projection: int = Field(256, ge=1)
    # L2-normalise the projection (the wh cascades; the paper does not say); "none": the zt cascades.
    normalize: Literal["l2", "none"] = "l2"
    l1_input: bool = False  # #74: the averaged prediction divided by its sum before the projection
    # #56: the infrequent labels (past the first 1000 of 4716, the same share on another vocabulary) are taken
    # from this configuration's predictions.
    infrequent_from: int | None = Field(None, ge=1)
    # #65: per-video loss weight 3.0 where the stream's own CE is above the batch mean, else 0.5.
    boost_from_stream: bool = False


# A single model's fields added after runs of the 80 configurations were stored (dotted paths in the model, and
# their defaults): a content hash leaves them out while they hold these values, so those runs are still found
# (``pipeline``).
ADDED_LATER = {"context_gating": "none", "loss.online_distillation": 0.0, "loss.temperature": 3.0}


class SingleModel(Strict):
    architecture: str
    params: SerializeAsAny[ModelParams]
    loss: LossSpec = LossSpec()
    training: Training
    distillation: Distillation | None = None
    cascade: CascadeInput | None = None
    # Context Gating (WILLOW; ``layers.context_gating``) around every MoE that predicts the labels: on its input
    # features, on its output probabilities, or both.
    context_gating: Literal["none", "features", "probabilities", "both"] = "none"

    @field_validator("params", mode="before")
    @classmethod
    def _typed_params(cls, value: Any, info: ValidationInfo) -> Any:
        """Validate the params against the schema of the architecture named beside them."""
        if not isinstance(value, dict):
            return value
        if "architecture" not in info.data:
            raise ValueError("not checked: the architecture is unknown")
        schema = architecture(info.data["architecture"]).params
        try:
            return schema.model_validate(value)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
            raise ValueError(f"{problems} ({info.data['architecture']})") from None

    @field_validator("architecture")
    @classmethod
    def _known_architecture(cls, value: str) -> str:
        architecture(value)  # raises naming the closest known names
        return value

    @model_validator(mode="after")
    def _gated_heads(self) -> SingleModel:
        if self.context_gating != "none" and not architecture(self.architecture).moe_head:
            takers = ", ".join(sorted(n for n, a in ARCHITECTURES.items() if a.moe_head))
            raise ValueError(f"context_gating={self.context_gating!r}: {self.architecture} predicts without an MoE; "
                             f"the architectures with MoE heads to gate: {takers}")
        return self

    @property
    def level(self) -> str:
        return architecture(self.architecture).level


class NamedModel(SingleModel):
    """An ensemble member defined in place (#29.1-#29.4)."""

    label: str
    title: str


Member = _one_of(Annotated[Number, Tag("number")], Annotated[NamedModel, Tag("model")],
                 Annotated[VariantMember, Tag("variant")], Annotated[RunMember, Tag("run")])
Trained = _one_of(Annotated[Number, Tag("number")], Annotated[NamedModel, Tag("model")],
                  Annotated[VariantMember, Tag("variant")])


class Combiner(Strict):
    """How member predictions are combined (paper §8, Eq. 7-11; catalog §4.13)."""

    kind: Literal["mean", "linear", "classwise", "attention"]
    attentions: int = Field(16, ge=1)  # K, attention weighted stacking
    rank: int = Field(4, ge=1)  # D
    # Eq. 11's per-class rank-1 term a_k b_k^T; [DIFF] the code has only a_k broadcast over classes.
    per_class_term: bool = True
    training: Training = Training(learning_rate=0.01, batch_size=1024, decay_examples=1_000_000, epochs=2)


class Reweighting(Strict):
    """Boosting weights (paper Eq. 6, error = 1 - PERR): weights above ``threshold`` are clipped to it or
    discarded (set to 0), the excess redistributed; then normalised to mean 1."""

    rule: Literal["none", "clip", "discard"] = "clip"
    threshold: float = Field(5.0, gt=0)


class Ensemble(Strict):
    method: Literal["bagging", "boosting", "stacking", "merge"]
    # stacking and merge: paper numbers, inline models, saved variants or finished runs
    members: tuple[Member, ...] = ()
    member: Trained | None = None  # bagging and boosting: the model every member trains
    count: int = Field(8, ge=1)  # bagging and boosting
    base_epochs: float = Field(0, ge=0)  # a shared base trained first with uniform weights; 0 = from scratch
    member_epochs: float | None = Field(None, gt=0)  # each member: the base copy trained this much more
    bootstrap: bool = True  # bagging: members use their bootstrap weights ([DIFF] #33's code does not)
    reweighting: Reweighting | None = None  # boosting
    distillation: Distillation | None = None  # members distilled (#45, #46)
    combiner: Combiner | None = None
    top_k: int = Field(20, ge=1)  # merge
    # merge: a tag in only one model's top k is averaged with 0 ("zero") or kept at its score ("single").
    missing: Literal["zero", "single"] = "zero"

    @model_validator(mode="after")
    def _complete(self) -> Ensemble:
        if self.method in ("bagging", "boosting"):
            if self.member is None or self.members:
                raise ValueError(f"{self.method} trains one 'member' model {self.count} times; 'members' is for "
                                 "stacking and merge")
            if self.combiner is None:
                raise ValueError(f"{self.method} needs a 'combiner'")
        elif self.method == "stacking":
            if len(self.members) < 2 or self.member is not None or self.combiner is None:
                raise ValueError("stacking needs at least 2 'members' and a 'combiner'")
        elif len(self.members) != 2:
            raise ValueError("merge combines exactly 2 'members'")
        if self.method == "boosting" and self.reweighting is None:
            raise ValueError("boosting needs 'reweighting'")
        return self


class Configuration(Strict):
    number: int | None = Field(None, ge=1)  # None: a Table 2 baseline, outside the numbered configurations
    slug: Annotated[str, Field(pattern=r"^[a-z0-9_]+$")]
    title: str
    section: Literal[tuple(SECTIONS)]
    paper_section: str  # where the paper describes it, e.g. "§3, App. A.1"
    # validate2 GAP in the paper (for #81 on: a validation GAP their own paper published, where one could be read;
    # their leaderboard scores go to paper_private_gap, ``paper_section`` names the paper and data); never ranked
    # with the paper's 80
    paper_gap: float | None = None
    paper_private_gap: float | None = None  # private leaderboard, where given
    validate1_gap: float | None = None  # the authors' validate1 GAP (final_submission.conf), where quoted
    notes: tuple[str, ...] = ()  # paper-vs-code differences and what is not determinable
    model: SingleModel | None = None
    ensemble: Ensemble | None = None
    as_in_code: dict[str, Any] = {}  # dotted path -> the authors' code's value

    @model_validator(mode="after")
    def _one_kind(self) -> Configuration:
        if (self.model is None) == (self.ensemble is None):
            raise ValueError("a configuration is either a 'model' or an 'ensemble'")
        return self

    @property
    def level(self) -> str:
        return self.model.level if self.model is not None else "ensemble"

    @property
    def name(self) -> str:
        """How to call it in one line: ``#18 chaining_cnn`` (or the slug alone for a baseline)."""
        return f"#{self.number} {self.slug}" if self.number else self.slug


class Variant(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    base: int = Field(ge=1)  # the number of the configuration it derives from
    overrides: dict[str, Any] = Field(default_factory=dict)  # dotted path -> value, relative to the base
    parent: str | None = None  # the variant it was derived from, if any
    note: str = ""
    created_by: str = ""
    created_at: datetime | None = None
    frozen_by: int | None = None  # the first run that used it; from then on its values do not change

    @property
    def label(self) -> str:
        """``#25 · k16-lr2e-3``."""
        return f"#{self.base} · {self.name}"


Lookup = Callable[[str], Variant | None]  # a variant by name, or None (``configs.variants.find``)
