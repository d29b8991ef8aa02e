"""RunOptions: one typed object for how a run trains, its errors naming the command-line option."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from y8m_models.limits import MAX_INT32
from y8m_models.options import OptionsError, RunOptions


@pytest.mark.parametrize(("values", "message"), [
    ({"seed": -1}, f"--seed must be from 0 to {MAX_INT32}, not -1"),
    ({"max_steps": 0}, f"--max-steps must be from 1 to {MAX_INT32}, not 0"),
    ({"eval_every": MAX_INT32 + 1}, f"--eval-every must be from 1 to {MAX_INT32}, not {MAX_INT32 + 1}"),
    ({"checkpoint_every": 0}, f"--checkpoint-every must be from 1 to {MAX_INT32}, not 0"),
    ({"loader_workers": -2}, f"--loader-workers must be from 0 to {MAX_INT32}, not -2"),
    ({"epochs": 0}, "--epochs must be more than 0, not 0"),
    ({"device": "gpu"}, "--device 'gpu': expected auto, cpu, cuda, cuda:N or mps"),
    ({"precision": "fp16"}, "--precision: precision 'fp16': expected one of auto, fp32, bf16"),
    ({"preset": "huge"}, "--preset 'huge': presets are paper, small, tiny"),
    ({"seed": "seven"}, "--seed: Input should be a valid integer"),
    ({"overrides": ["a=1"]}, "--set: Input should be a valid dictionary"),
    ({"colour": "red"}, "--colour: Extra inputs are not permitted"),
])
def test_a_bad_option_is_named_by_its_flag(values: dict, message: str) -> None:
    with pytest.raises(OptionsError) as caught:
        RunOptions.of(**values)
    assert str(caught.value).startswith(message)


def test_the_defaults_live_in_one_place_and_a_stored_run_reads_back() -> None:
    options = RunOptions.of(seed=3, max_steps=40, overrides={"model.training.learning_rate": 0.002})
    assert (options.preset, options.checkpoint_every, options.loader_workers, options.device, options.precision) == \
        ("tiny", 500, 0, "auto", "auto")
    assert RunOptions.from_stored(options.stored()) == options
    # a run queued by another version: a key this one does not know is left out, a missing one defaults
    older = {k: v for k, v in options.stored().items() if k != "checkpoint_every"} | {"retired_knob": 1}
    assert RunOptions.from_stored(older) == options
    # "workers" was the name of loader_workers (the DataLoader processes) before the glossary's
    renamed = {k: v for k, v in options.stored().items() if k != "loader_workers"} | {"workers": 2}
    assert RunOptions.from_stored(renamed) == options.model_copy(update={"loader_workers": 2})
    with pytest.raises(ValidationError, match="frozen"):  # frozen: passed down, never changed on the way
        options.seed = 4  # type: ignore[misc]
