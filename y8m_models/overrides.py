"""The ``key=value`` overrides of a configuration (``--set`` on every command, the Launch form's lines): one
parser for all of them. Torch-free, so that the dashboard reads them without loading the models."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any


def parse_overrides(pairs: Iterable[str]) -> dict[str, Any]:
    """``key=value`` pairs (blank ones skipped) -> {dotted key: value}; a value is JSON where it parses (numbers,
    lists, true), else the string as written. ValueError naming the pair that is not ``key=value``."""
    out: dict[str, Any] = {}
    for pair in filter(None, (p.strip() for p in pairs)):
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"{pair!r} is not key=value (e.g. model.training.learning_rate=0.002)")
        try:
            out[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            out[key.strip()] = value.strip()
    return out
