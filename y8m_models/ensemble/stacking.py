"""Stacking: member predictions combined into one (paper §8, Eq. 7-11; catalog §4.13).

The four combiners of Table 10 (74 members, private LB): simple averaging 0.8436 (Eq. 7, ``MeanStack``),
linear weighted 0.8449 (Eq. 8, ``LinearStack``), class-wise weighted 0.8453 (Eq. 9, ``ClasswiseStack``;
#29, #75-#77), attention weighted 0.8458 (Eq. 10-11, ``AttentionStack``; #34, #36, #78 K=16 D=3,
#79 K=16 D=4). Every combiner is trained on train2's predictions and its checkpoint picked on validate2
(classwise: lr 0.01, batch 1024, 2 epochs, decay 0.95 per 1e6 examples, eval every 200 steps; attention:
lr 0.004, batch 1024, 4 epochs, eval every 100-300 steps).

Never below the best member: a learned combiner starts at the better, on train2, of its own
initialisation and "the best train2 member alone" (``Stack.start_at_member``); its checkpoint is chosen on
validate2 with that start included; and where one member alone is better on validate2 than every checkpoint,
the stack becomes that member (``StackResult.member`` says so). The comparison the rule makes is against the
best member *on validate2*, a choice made on validate2, so the stack is given the same choice. [DIFF] The
authors start from Glorot weights (the mean, for Eq. 8) and consider only their trained checkpoints; at small
scale that stack stayed below its dominant member (#75 on the tiny data: 0.567 vs 0.606). Simple averaging
(Eq. 7) has nothing to choose: it is the mean, below its best member whenever the members differ much.

[DIFF] Eq. 8, 9 and 11 carry a factor 1/M in front of the weighted sum; like the code we leave it out: the
weights already sum to 1, and with it a uniform weighting would give mean/M, not Eq. 7's mean.

Shapes: B batch, N videos, M members, C classes, K attentions, R the rank (the paper's D), D the width of
the video-level input x = [mean_rgb; mean_audio] (1152 in YouTube-8M).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from y8m_models.configs.schema import Combiner
from y8m_models.data.dataset import host_to_device
from y8m_models.losses import cross_entropy
from y8m_models.metrics import Evaluator
from y8m_models.store import StoredPredictions
from y8m_models.train import Callback, TrainState, build_optimizer, clip_per_tensor

# ------------------------------------------------------------------------------------------------ data


class StackBatch(NamedTuple):
    P_BMC: torch.Tensor  # member probabilities, float32
    x_BD: torch.Tensor  # video-level input features, float32
    labels_BC: torch.Tensor  # 0/1, float32


class StackData(Protocol):
    """What the combiners train and are evaluated on: N videos' member predictions, inputs and labels, read a
    batch at a time (a store can densify per batch: 74 members x 3862 classes x 100k videos never fit)."""

    @property
    def shape(self) -> tuple[int, int, int, int]:
        """(N videos, M members, C classes, D features)."""

    def batches(self, batch_size: int, shuffle: bool = False, rng: np.random.Generator | None = None,
                device: torch.device | str = "cpu") -> Iterator[StackBatch]:
        """Every video once, in order or shuffled by ``rng``, as float32 on ``device``; the last batch may be
        smaller."""


def _row_batches(n: int, batch_size: int, shuffle: bool,
                 rng: np.random.Generator | None) -> Iterator[slice | np.ndarray]:
    """The rows of each batch: consecutive slices, or (``shuffle``) sorted draws of a permutation, so that
    memory-mapped arrays are read in file order within a batch."""
    order = (rng or np.random.default_rng()).permutation(n) if shuffle else None
    for lo in range(0, n, batch_size):
        yield slice(lo, lo + batch_size) if order is None else np.sort(order[lo:lo + batch_size])


@dataclass
class TensorStackData:
    """In-memory ``StackData``: arrays of any float dtype (float16 halves the memory; np.memmap reads only
    the rows of a batch), cast to float32 per batch. Labels may be bool, int or float 0/1."""

    P_NMC: np.ndarray
    x_ND: np.ndarray
    labels_NC: np.ndarray

    def __post_init__(self) -> None:
        self.P_NMC, self.x_ND, self.labels_NC = (a.numpy() if isinstance(a, torch.Tensor) else a
                                                 for a in (self.P_NMC, self.x_ND, self.labels_NC))
        p, x, y = np.shape(self.P_NMC), np.shape(self.x_ND), np.shape(self.labels_NC)
        if len(p) != 3 or len(x) != 2 or len(y) != 2:
            raise ValueError(f"TensorStackData needs P [N, M, C], x [N, D], labels [N, C]; got P {p}, x {x}, "
                             f"labels {y}")
        if not p[0] == x[0] == y[0] or p[2] != y[1]:
            raise ValueError(f"TensorStackData: P {p}, x {x} and labels {y} disagree on N videos or C classes")

    @property
    def shape(self) -> tuple[int, int, int, int]:
        n, m, c = np.shape(self.P_NMC)
        return n, m, c, np.shape(self.x_ND)[1]

    def batches(self, batch_size: int, shuffle: bool = False, rng: np.random.Generator | None = None,
                device: torch.device | str = "cpu") -> Iterator[StackBatch]:
        for rows in _row_batches(self.shape[0], batch_size, shuffle, rng):
            yield StackBatch(*(_float32(a[rows], device) for a in (self.P_NMC, self.x_ND, self.labels_NC)))


@dataclass
class StoreStackData:
    """``StackData`` read from the members' prediction stores (dense or top-k, memory-mapped), densified one
    batch at a time, on the device that trains: 74 members x 3862 classes x 100k videos would be 114 GB as
    float32, and one batch of 1024 is 1.2 GB, where a top-k store's scores and classes are 12 MB. ``rows_MN[m]``
    are member m's store rows of the N videos (``StoredPredictions.row_of`` of the ids: the join by video id)."""

    stored: Sequence[StoredPredictions]
    rows_MN: np.ndarray
    x_ND: np.ndarray
    labels_NC: np.ndarray

    @property
    def shape(self) -> tuple[int, int, int, int]:
        return len(self.labels_NC), len(self.stored), self.stored[0].num_classes, np.shape(self.x_ND)[1]

    def batches(self, batch_size: int, shuffle: bool = False, rng: np.random.Generator | None = None,
                device: torch.device | str = "cpu") -> Iterator[StackBatch]:
        n, members, classes, _ = self.shape
        for rows in _row_batches(n, batch_size, shuffle, rng):
            size = len(range(n)[rows]) if isinstance(rows, slice) else len(rows)
            P_BMC = torch.zeros(size, members, classes, device=device)
            for m, stored in enumerate(self.stored):
                here = self.rows_MN[m, rows]
                if stored.indices is None:
                    P_BMC[:, m] = _float32(stored.scores[here], device)
                else:  # the k scores and their classes move; the zeros are made where they are used
                    P_BMC[:, m].scatter_(1, host_to_device(stored.indices[here], device).long(),
                                         _float32(stored.scores[here], device))
            yield StackBatch(P_BMC, _float32(self.x_ND[rows], device), _float32(self.labels_NC[rows], device))


def _float32(a: np.ndarray, device: torch.device | str) -> torch.Tensor:
    """``host_to_device`` then float32: float16 scores and bool labels cross to a GPU at their own width."""
    return host_to_device(a, device).float()


# ---------------------------------------------------------------------------------------------- models

START_WEIGHT = 0.99  # a combiner started at one member gives it this weight: close to it, still trainable
ALONE_WEIGHT = 1 - 1e-12  # "this member alone": the others' share is below float32's resolution of a score


def _glorot_(t: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """Glorot-uniform with TensorFlow's fans (the code's ``tf.get_variable`` default): a vector of n has
    fan_in = fan_out = n; a tensor [..., i, o] has fan_in = prod(...) * i, fan_out = prod(...) * o."""
    if t.dim() == 1:
        fan_in = fan_out = t.shape[0]
    else:
        field_size = math.prod(t.shape[:-2])
        fan_in, fan_out = field_size * t.shape[-2], field_size * t.shape[-1]
    limit = math.sqrt(6.0 / (fan_in + fan_out))
    with torch.no_grad():
        return t.uniform_(-limit, limit, generator=generator)


class Stack(nn.Module):
    """``forward(P_BMC, x_BD) -> p_BC = sum_m w_m P_m`` and ``weights(P_BMC, x_BD)``, the weights w; they sum to
    1 over members, with shape [M] (one per member), [M, C] (per class) or [B, M, C] (per video)."""

    def __init__(self, members: int, classes: int, features: int):
        super().__init__()
        for name, value in (("members", members), ("classes", classes), ("features", features)):
            if value < 1:
                raise ValueError(f"{type(self).__name__}: {name} must be >= 1, got {value}")
        self.members, self.classes, self.features = members, classes, features

    def _check(self, P_BMC: torch.Tensor, x_BD: torch.Tensor | None, needs_x: bool = False) -> None:
        want = f"P [B, {self.members} members, {self.classes} classes]"
        if P_BMC.dim() != 3 or tuple(P_BMC.shape[1:]) != (self.members, self.classes):
            raise ValueError(f"{type(self).__name__} expects {want}; got P {tuple(P_BMC.shape)}")
        if x_BD is None:
            if needs_x:
                raise ValueError(f"{type(self).__name__} needs x [B, {self.features}]; got None")
        elif x_BD.dim() != 2 or tuple(x_BD.shape) != (P_BMC.shape[0], self.features):
            raise ValueError(f"{type(self).__name__} expects x [{P_BMC.shape[0]}, {self.features} features] "
                             f"beside P {tuple(P_BMC.shape)}; got x {tuple(x_BD.shape)}")

    def weights(self, P_BMC: torch.Tensor, x_BD: torch.Tensor | None = None) -> torch.Tensor:
        raise NotImplementedError

    def start_at_member(self, member: int, weight: float = START_WEIGHT) -> None:
        """Set the parameters so that every class and video gives ``member`` the weight ``weight`` and the
        others share the rest equally: member logit ``log(weight (M-1) / (1-weight))`` above the others'."""
        raise ValueError(f"{type(self).__name__} has no weights to set")

    def _member_logit(self, member: int, weight: float) -> float:
        if not 0 <= member < self.members:
            raise ValueError(f"member {member} is outside the {self.members} members")
        if not 1 / self.members <= weight < 1:
            raise ValueError(f"a start weight must be in [1/M, 1), got {weight}")
        return math.log(weight * (self.members - 1) / (1 - weight))

    def forward(self, P_BMC: torch.Tensor, x_BD: torch.Tensor | None = None) -> torch.Tensor:
        w = self.weights(P_BMC, x_BD)
        w_MC = w if w.dim() == 2 else w[:, None]
        return (P_BMC * w_MC).sum(dim=1)


class MeanStack(Stack):
    """Eq. 7: p_c = mean_m P_{m,c}; nothing to learn."""

    def weights(self, P_BMC: torch.Tensor, x_BD: torch.Tensor | None = None) -> torch.Tensor:
        self._check(P_BMC, x_BD)
        return P_BMC.new_full((self.members,), 1.0 / self.members)

    def forward(self, P_BMC: torch.Tensor, x_BD: torch.Tensor | None = None) -> torch.Tensor:
        self._check(P_BMC, x_BD)
        return P_BMC.mean(dim=1)


class LinearStack(Stack):
    """Eq. 8: w = softmax(v), v in R^M. v starts at 0, i.e. at Eq. 7's mean.
    [DIFF] The stored ``LinearRegressionModel`` is an unconstrained FC (with bias) over the members; we
    follow the paper and catalog §4.13 (weights positive, summing to 1)."""

    def __init__(self, members: int, classes: int, features: int):
        super().__init__(members, classes, features)
        self.v_M = nn.Parameter(torch.zeros(members))

    def weights(self, P_BMC: torch.Tensor, x_BD: torch.Tensor | None = None) -> torch.Tensor:
        self._check(P_BMC, x_BD)
        return self.v_M.softmax(dim=0)

    @torch.no_grad()
    def start_at_member(self, member: int, weight: float = START_WEIGHT) -> None:
        self.v_M.zero_()[member] = self._member_logit(member, weight)


class ClasswiseStack(Stack):
    """Eq. 9 as ``MatrixRegressionModel``: w_{m,c} = softmax_m(W2[c, m] * w1[m]), both Glorot-uniform."""

    def __init__(self, members: int, classes: int, features: int, generator: torch.Generator | None = None):
        super().__init__(members, classes, features)
        self.W2_CM = nn.Parameter(_glorot_(torch.empty(classes, members), generator))
        self.w1_M = nn.Parameter(_glorot_(torch.empty(members), generator))

    def weights(self, P_BMC: torch.Tensor, x_BD: torch.Tensor | None = None) -> torch.Tensor:
        self._check(P_BMC, x_BD)
        return (self.W2_CM * self.w1_M).softmax(dim=1).T  # [M, C]

    @torch.no_grad()
    def start_at_member(self, member: int, weight: float = START_WEIGHT) -> None:
        """w1 = 1 and W2 = 0 but the member's column: the product's gradients stay alive (neither factor is 0
        where the other needs it)."""
        logit = self._member_logit(member, weight)
        self.w1_M.fill_(1.0)
        self.W2_CM.zero_()[:, member] = logit


class AttentionStack(Stack):
    """Eq. 10-11: alpha = softmax(FC_K([L2norm(x); mean_m P])); e = sum_k alpha_k (X_k Y_k + a_k b_k^T);
    w = softmax_m(e); p_c = sum_m w_{m,c} P_{m,c}. X_k in R^{C x R}, Y_k in R^{R x M}, a_k in R^M, b_k in R^C.

    ``per_class_term=True`` is the paper's full rank-1 term (b_k learned, initialised to 1 so that it starts
    as the code's). [DIFF] ``False`` is the code's ``AttentionLinmatrixModel`` (#79): b_k = 1, a_k broadcast
    over classes. Eq. 11's scalar c_k is left out in both: sum_k alpha_k c_k is the same for every member,
    so it cancels in the softmax over m (the code has it; it never changes a prediction).
    The a_k b_k^T term is an extra rank-1 component of each E_k, so X and Y are extended by one rank and e is
    one matrix product; e [B, M, C] is freed once its softmax exists, and forward adds only w * P.
    """

    def __init__(self, members: int, classes: int, features: int, attentions: int = 16, rank: int = 4,
                 per_class_term: bool = True, generator: torch.Generator | None = None):
        super().__init__(members, classes, features)
        if attentions < 1 or rank < 1:
            raise ValueError(f"AttentionStack needs attentions >= 1 and rank >= 1; got {attentions}, {rank}")
        K, R, M, C = attentions, rank, members, classes
        self.attentions, self.rank, self.per_class_term = K, R, per_class_term
        self.gate = nn.Linear(features + classes, K)  # weights Glorot (slim default), bias 0
        _glorot_(self.gate.weight, generator)
        nn.init.zeros_(self.gate.bias)
        self.X_KCR = nn.Parameter(_glorot_(torch.empty(K, C, R), generator))
        self.Y_KRM = nn.Parameter(_glorot_(torch.empty(K, R, M), generator))
        # The code's a is [K, 1, M]: its Glorot fans are K and K * M.
        self.a_KM = nn.Parameter(_glorot_(torch.empty(K, 1, M), generator).squeeze(1))
        self.b_KC = nn.Parameter(torch.ones(K, C)) if per_class_term else None

    def alpha(self, P_BMC: torch.Tensor, x_BD: torch.Tensor) -> torch.Tensor:
        """Eq. 10's attention [B, K] (sums to 1 over K)."""
        self._check(P_BMC, x_BD, needs_x=True)
        # The code normalises the raw [mean_rgb; mean_audio]; the paper only says "averaged input".
        return self.gate(torch.cat([F.normalize(x_BD, dim=1), P_BMC.mean(dim=1)], dim=1)).softmax(dim=1)

    def _logits(self, alpha_BK: torch.Tensor) -> torch.Tensor:
        """e [B, M, C] = sum_k alpha_k [X_k | b_k] [Y_k ; a_k]."""
        K, C = self.attentions, self.classes
        b_KC = self.b_KC if self.b_KC is not None else self.X_KCR.new_ones(K, C)
        X_KCr = torch.cat([self.X_KCR, b_KC[:, :, None]], dim=2)  # r = R + 1
        Y_KrM = torch.cat([self.Y_KRM, self.a_KM[:, None, :]], dim=1)
        Ya_BMq = (alpha_BK[:, :, None, None] * Y_KrM).flatten(1, 2).transpose(1, 2)  # q = K * r, small
        return Ya_BMq @ X_KCr.transpose(1, 2).reshape(-1, C)

    def weights(self, P_BMC: torch.Tensor, x_BD: torch.Tensor | None = None) -> torch.Tensor:
        return self._logits(self.alpha(P_BMC, x_BD)).softmax(dim=1)  # e dies here: only its softmax is kept

    @torch.no_grad()
    def start_at_member(self, member: int, weight: float = START_WEIGHT) -> None:
        """Every attention's rank-1 member term a_k favours the member (alpha sums to 1, so e does too); X and
        Y keep their Glorot draws, small beside the member logit; b stays (1 at the start)."""
        self.a_KM.zero_()[:, member] = self._member_logit(member, weight)

    def forward(self, P_BMC: torch.Tensor, x_BD: torch.Tensor | None = None) -> torch.Tensor:
        return (self.weights(P_BMC, x_BD) * P_BMC).sum(dim=1)


def build_stack(combiner: Combiner, members: int, classes: int, features: int, *, seed: int = 0) -> Stack:
    """The combiner a ``Combiner`` config names; ``seed`` draws the Glorot initialisations."""
    generator = torch.Generator().manual_seed(seed)
    if combiner.kind == "mean":
        return MeanStack(members, classes, features)
    if combiner.kind == "linear":
        return LinearStack(members, classes, features)
    if combiner.kind == "classwise":
        return ClasswiseStack(members, classes, features, generator)
    if combiner.kind == "attention":
        return AttentionStack(members, classes, features, combiner.attentions, combiner.rank,
                              combiner.per_class_term, generator)
    raise ValueError(f"unknown combiner kind {combiner.kind!r}; known: mean, linear, classwise, attention")


# -------------------------------------------------------------------------------------------- training


def _check_data(stack: Stack, data: StackData, name: str) -> None:
    n, m, c, d = data.shape
    if (m, c, d) != (stack.members, stack.classes, stack.features):
        raise ValueError(f"{name} data has P [{n}, {m}, {c}] and x [{n}, {d}]; {type(stack).__name__} was built "
                         f"for {stack.members} members, {stack.classes} classes, {stack.features} features")


@torch.no_grad()
def predict_stack(stack: Stack, data: StackData, *, batch_size: int = 1024,
                  device: torch.device | str = "cpu") -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(stacked predictions p [B, C], labels [B, C]), float32 on the CPU, batch by batch in the data's order."""
    _check_data(stack, data, "predict")
    stack.eval()
    for batch in data.batches(batch_size, device=device):
        p_BC = stack(batch.P_BMC, batch.x_BD)
        yield p_BC.float().cpu().numpy(), batch.labels_BC.cpu().numpy()


def evaluate_stack(stack: Stack, data: StackData, *, batch_size: int = 1024,
                   device: torch.device | str = "cpu") -> float:
    """GAP@20 of the stacked predictions on ``data`` (streamed: memory O(N * 20))."""
    evaluator = Evaluator(data.shape[2], top_k=20)
    for p_BC, y_BC in predict_stack(stack, data, batch_size=batch_size, device=device):
        evaluator.update(p_BC, y_BC)
    return evaluator.result().gap


def member_gaps(data: StackData, *, batch_size: int = 1024) -> list[float]:
    """GAP@20 of each member alone on ``data`` (one pass over it)."""
    n, m, c, _ = data.shape
    evaluators = [Evaluator(c, top_k=20) for _ in range(m)]
    for batch in data.batches(batch_size):
        P_BMC, y_BC = batch.P_BMC.numpy(), batch.labels_BC.numpy()
        for k, evaluator in enumerate(evaluators):
            evaluator.update(P_BMC[:, k], y_BC)
    return [e.result().gap for e in evaluators]


class StackCallback(Callback):
    """``train.Callback`` (on_step, should_stop) plus what stacking adds: each validation."""

    def on_eval(self, state: TrainState, gap: float, best: bool) -> None:
        """After each GAP@20 on validate; ``best``: the best so far (its weights are the ones kept)."""


@dataclass
class StackResult:
    """``history``: (step, validate GAP@20) at every evaluation; the stack holds ``best_step``'s weights, or,
    where ``member`` is set, that member alone (better on validate than every checkpoint). ``start``: the
    member the training started at (None: the combiner's own initialisation). ``member_gaps``: each member
    alone's GAP@20 on validate."""

    best_step: int
    best_gap: float
    steps: int
    history: list[tuple[int, float]] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)
    start: int | None = None
    member: int | None = None
    member_gaps: list[float] = field(default_factory=list)


def fit_stack(stack: Stack, combiner: Combiner, train: StackData, validate: StackData, *, seed: int = 0,
              eval_every: int = 200, device: torch.device | str = "cpu",
              callbacks: tuple[Callback, ...] = (), shuffle: bool = False) -> StackResult:
    """Train ``stack`` on ``train`` for ``combiner.training.epochs`` epochs of ``batch_size`` (the last
    epoch may be fractional); before the first step, every ``eval_every`` steps (at least ten times a run)
    and at the end take GAP@20 on ``validate`` and keep the best weights (the code's checkpoint selection on
    validate2), loaded into ``stack`` on return. The start is the better on ``train`` of the combiner's
    initialisation and its best member alone (``start_at_member``); a member alone that beats every
    checkpoint on ``validate`` is the result (module docstring). Each member alone is scored on ``validate``
    once (``StackResult.member_gaps``).

    Loss: the code's ``CrossEntropyLoss`` on probabilities, eps 1e-5 inside the logs (catalog §4.7).
    Adam with the staircase decay and per-tensor clipping as every model (``build_optimizer``). [DIFF] The L2
    is ``training.l2`` on every tensor of rank >= 2, none on vectors: the code puts 1e-7 on the classwise
    W2 and 1e-8 on its w1. Unshuffled by default: the code's ensemble ``train.py`` reads the members' files
    in order (shuffle=False) for every combiner, which keeps the member streams aligned; ``shuffle=True``
    draws each epoch's order from ``seed``. bf16 autocast is not used: the combiners are a few small
    products, and softmax weights over close logits want float32.
    """
    _check_data(stack, train, "train")
    _check_data(stack, validate, "validate")
    if eval_every < 1:
        raise ValueError(f"eval_every must be >= 1, got {eval_every}")
    if not train.shape[0] or not validate.shape[0]:
        raise ValueError(f"fit_stack needs videos to train and validate on; got {train.shape[0]} and "
                         f"{validate.shape[0]}")
    training = combiner.training
    stack.to(device)
    on_validate = member_gaps(validate, batch_size=training.batch_size)
    if not any(p.requires_grad for p in stack.parameters()):  # MeanStack: nothing to learn
        gap = evaluate_stack(stack, validate, device=device)
        return StackResult(best_step=0, best_gap=gap, steps=0, history=[(0, gap)], member_gaps=on_validate)
    result = StackResult(best_step=0, best_gap=-math.inf, steps=0, member_gaps=on_validate)
    on_train = member_gaps(train, batch_size=training.batch_size)
    if max(on_train) > evaluate_stack(stack, train, batch_size=training.batch_size, device=device):
        result.start = int(np.argmax(on_train))
        stack.start_at_member(result.start)
    optimizer, scheduler = build_optimizer(stack, training)
    rng = np.random.default_rng(seed)
    total = max(1, math.ceil(training.epochs * math.ceil(train.shape[0] / training.batch_size)))
    eval_every = min(eval_every, max(1, total // 10))
    state, best = TrainState(), None

    def validate_now() -> None:
        nonlocal best
        gap = evaluate_stack(stack, validate, batch_size=training.batch_size, device=device)
        result.history.append((state.step, gap))
        improved = gap > result.best_gap  # ties keep the earlier, less trained weights
        if improved:
            result.best_step, result.best_gap = state.step, gap
            best = {k: v.detach().clone() for k, v in stack.state_dict().items()}
        for callback in callbacks:
            if isinstance(callback, StackCallback):
                callback.on_eval(state, gap, improved)

    validate_now()  # the start is a candidate too
    stop, losses = False, []
    while state.step < total and not stop:
        for batch in train.batches(training.batch_size, shuffle=shuffle, rng=rng, device=device):
            stack.train()
            P_BMC, x_BD, y_BC = batch
            loss = cross_entropy(stack(P_BMC, x_BD), y_BC)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            clip_per_tensor(stack, training.clip_norm)
            optimizer.step()
            scheduler.step()
            state.step += 1
            state.examples += len(y_BC)
            del batch, P_BMC, x_BD, y_BC  # not held while the next batch is built (on a GPU, 1.2 GB at 74 x 3862)
            losses.append(loss.detach())  # read at the end: float() now would wait for the step
            for callback in callbacks:
                callback.on_step(state, losses[-1], scheduler.get_last_lr()[0])
            stop = any(callback.should_stop(state) for callback in callbacks)
            if state.step % eval_every == 0:
                validate_now()
            if state.step >= total or stop:
                break
        state.epoch += 1
    if not result.history or result.history[-1][0] != state.step:
        validate_now()
    result.losses = torch.stack(losses).tolist() if losses else []
    stack.load_state_dict(best)
    result.steps = state.step
    if max(on_validate) > result.best_gap:
        result.member = int(np.argmax(on_validate))
        stack.start_at_member(result.member, ALONE_WEIGHT)
        result.best_gap = evaluate_stack(stack, validate, batch_size=training.batch_size, device=device)
    return result


# ---------------------------------------------------------------------------------------------- export


@torch.no_grad()
def export_weights(stack: Stack, data: StackData | None = None, *, videos: Sequence[int] = (),
                   batch_size: int = 1024, device: torch.device | str = "cpu") -> dict[str, np.ndarray]:
    """The combiner's weights for the dashboard's heatmaps, float32:

    * every kind: ``class_weights`` [M, C] (sums to 1 over M); attention: averaged over ``data``'s videos;
    * mean, linear: ``member_weights`` [M];
    * attention (needs ``data``): ``alpha`` [N, K] per video, and ``video_weights`` [len(videos), M, C] for
      the row indices ``videos`` of ``data``, in that order.
    """
    stack.eval()
    M, C = stack.members, stack.classes
    if not isinstance(stack, AttentionStack):
        probe = torch.zeros(1, M, C, device=device)
        w = stack.weights(probe).float().cpu()
        out = {"class_weights": (w if w.dim() == 2 else w[:, None].expand(M, C)).numpy().copy()}
        if w.dim() == 1:
            out["member_weights"] = w.numpy()
        return out
    if data is None:
        raise ValueError("export_weights of an AttentionStack needs data: its weights depend on each video")
    _check_data(stack, data, "export")
    n = data.shape[0]
    rows_V = np.asarray(videos, dtype=np.int64).reshape(-1)
    bad = rows_V[(rows_V < 0) | (rows_V >= n)]
    if bad.size:
        raise ValueError(f"videos {bad[:5].tolist()} are outside the data's rows [0, {n})")
    alpha_NK = np.empty((n, stack.attentions), np.float32)
    video_weights = np.empty((len(rows_V), M, C), np.float32)
    total_MC, lo = torch.zeros(M, C, dtype=torch.float64), 0
    for batch in data.batches(batch_size, device=device):
        P_BMC, x_BD = batch.P_BMC, batch.x_BD
        alpha_BK = stack.alpha(P_BMC, x_BD)
        w_BMC = stack._logits(alpha_BK).softmax(dim=1)
        alpha_NK[lo:lo + len(P_BMC)] = alpha_BK.float().cpu().numpy()
        total_MC += w_BMC.sum(dim=0).double().cpu()
        here_V = (rows_V >= lo) & (rows_V < lo + len(P_BMC))
        video_weights[here_V] = w_BMC[torch.from_numpy(rows_V[here_V] - lo)].float().cpu().numpy()
        lo += len(P_BMC)
    return {"class_weights": (total_MC / max(n, 1)).float().numpy(), "alpha": alpha_NK,
            "video_weights": video_weights}
