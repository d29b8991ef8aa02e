"""A sweep's trials as an Optuna study, built in memory from the run store's records each time a decision is made:
which values the next trial draws, whether a running trial is pruned, and the figures that explain a sweep.

Why in memory: the trials already live in the run store (``sweep_trials``, each with its run), and Optuna's own
database storage keeps its schema version in a table named ``alembic_version``, the name this project's migrations
use in the same database; two schemas cannot share it. Rebuilding a study of a few hundred trials takes
milliseconds. The samplers and pruners hold no state Optuna does not derive from the study's trials, with two
exceptions handled here: a sampler's random state (seeded per trial: ``seed + trial number``, so a rebuilt sampler
does not draw the same values twice) and Hyperband's brackets (a hash of the study's name and the trial's number,
both stable).

Torch-free: the dashboard draws its figures from it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from y8m_models.configs.space import SearchSpace

SAMPLERS = ("tpe", "random")
PRUNERS = ("none", "median", "hyperband")
DIRECTION = "maximize"  # a trial's value is a GAP


@dataclass(frozen=True)
class Pruning:
    """How poor trials are stopped, on their validate1 GAP at each evaluation. ``median``: below the median of the
    finished trials at the same step, once ``startup_trials`` have finished and after ``warmup_steps`` (Optuna's
    MedianPruner); ``hyperband``: successive halving in brackets from ``min_steps`` (Optuna's HyperbandPruner)."""

    kind: str = "none"
    startup_trials: int = 5
    warmup_steps: int = 0
    min_steps: int = 1

    def __post_init__(self) -> None:
        if self.kind not in PRUNERS:
            raise ValueError(f"pruner {self.kind!r}: the pruners are {', '.join(PRUNERS)}")
        for name in ("startup_trials", "warmup_steps", "min_steps"):
            if getattr(self, name) < (1 if name == "min_steps" else 0):
                raise ValueError(f"{name} {getattr(self, name)} must be at least {1 if name == 'min_steps' else 0}")

    def stored(self) -> dict[str, Any]:
        return {"kind": self.kind, "startup_trials": self.startup_trials, "warmup_steps": self.warmup_steps,
                "min_steps": self.min_steps}

    def text(self) -> str:
        if self.kind == "median":
            return f"median (after {self.startup_trials} trials and {self.warmup_steps} steps)"
        return f"hyperband (from {self.min_steps} steps)" if self.kind == "hyperband" else "none"

    def optuna(self) -> Any:
        import optuna

        if self.kind == "median":
            return optuna.pruners.MedianPruner(n_startup_trials=self.startup_trials, n_warmup_steps=self.warmup_steps)
        if self.kind == "hyperband":
            return optuna.pruners.HyperbandPruner(min_resource=self.min_steps)
        return optuna.pruners.NopPruner()


@dataclass
class TrialRecord:
    """A trial as the run store keeps it: its values (configuration values), state (``db.models.TRIAL_STATES``),
    value, and its validate1 GAP by step."""

    number: int
    params: dict[str, Any]
    state: str
    value: float | None = None
    intermediate: dict[int, float] = field(default_factory=dict)


def _state(state: str) -> Any:
    from optuna.trial import TrialState

    return {"complete": TrialState.COMPLETE, "pruned": TrialState.PRUNED, "asked": TrialState.RUNNING,
            "running": TrialState.RUNNING}.get(state, TrialState.FAIL)  # failed, stopped


def build_study(name: str, space: SearchSpace, trials: Sequence[TrialRecord], *, sampler: str = "tpe",
                seed: int = 0, pruning: Pruning = Pruning()) -> Any:
    """An in-memory Optuna study holding ``trials`` (in number order, so Optuna's numbers are the sweep's), whose
    sampler is seeded for the next trial (``seed + len(trials)``)."""
    import optuna
    from optuna.trial import TrialState, create_trial

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if sampler not in SAMPLERS:
        raise ValueError(f"sampler {sampler!r}: the samplers are {', '.join(SAMPLERS)}")
    next_seed = seed + len(trials)
    chosen = (optuna.samplers.TPESampler(seed=next_seed, constant_liar=True) if sampler == "tpe" else
              optuna.samplers.RandomSampler(seed=next_seed))
    study = optuna.create_study(study_name=name, direction=DIRECTION, sampler=chosen, pruner=pruning.optuna())
    distributions = space.distributions()
    for k, trial in enumerate(sorted(trials, key=lambda t: t.number)):
        if trial.number != k:
            raise ValueError(f"{name}: trial numbers run 0, 1, 2 ...; found {trial.number} at {k}")
        state = _state(trial.state)
        study.add_trial(create_trial(
            state=state, value=trial.value if state == TrialState.COMPLETE else None,
            params=space.internal(trial.params), distributions=distributions,
            intermediate_values={int(s): float(v) for s, v in trial.intermediate.items()}))
    return study


def next_values(name: str, space: SearchSpace, trials: Sequence[TrialRecord], *, sampler: str, seed: int) -> dict:
    """The values the next trial draws (configuration values), given the trials so far (running ones as running:
    TPE's constant liar keeps parallel trials apart)."""
    study = build_study(name, space, trials, sampler=sampler, seed=seed)
    return space.overrides(study.ask(space.distributions()).params)


def should_prune(name: str, space: SearchSpace, trials: Sequence[TrialRecord], number: int,
                 pruning: Pruning) -> bool:
    """Whether running trial ``number`` is pruned now, on its validate1 GAP so far and the other trials'."""
    if pruning.kind == "none":
        return False
    study = build_study(name, space, trials, pruning=pruning)
    trial = study.get_trials(deepcopy=False)[number]
    if not trial.intermediate_values:
        return False
    return bool(study.pruner.prune(study, trial))
