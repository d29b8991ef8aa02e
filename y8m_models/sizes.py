"""How big a model is, in bytes, against the 2018 challenge's rule that a submitted model is at most 1 GB (its
winners stored weights in fp16 or 8 bits and distilled ensembles). No torch here: the dashboard reads it."""

from __future__ import annotations

import re
from decimal import Decimal

SIZE_LIMIT_2018 = 1_000_000_000
BYTES_PER_PARAMETER = {"fp32": 4, "fp16": 2, "int8": 1}  # widest first
_UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
          "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}


def weight_bytes(parameters: int) -> dict[str, int]:
    """The bytes of ``parameters`` weights stored in each dtype (an exported file adds its configuration and
    vocabulary, and int8 one scale per output row: the file's own size is what ``y8m export`` reports)."""
    return {dtype: parameters * size for dtype, size in BYTES_PER_PARAMETER.items()}


def size_of(parameters: int) -> dict[str, dict[str, int | bool]]:
    """``parameters`` weights' bytes in each dtype and whether each fits the 2018 challenge's 1 GB."""
    stored = weight_bytes(parameters)
    return {"bytes": stored, "fits_1gb": {dtype: size <= SIZE_LIMIT_2018 for dtype, size in stored.items()}}


def widest_fitting(parameters: int, budget: int) -> str | None:
    """The widest dtype in which ``parameters`` weights fit ``budget`` bytes, or None where not even int8 does."""
    return next((dtype for dtype, size in weight_bytes(parameters).items() if size <= budget), None)


def parse_bytes(text: str) -> int:
    """A byte budget as written on a command line: ``1GB`` (10^9, the 2018 rule's unit), ``500MB``, ``1.5GiB``
    (2^30), ``123456``; ValueError naming the text otherwise."""
    found = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]i?b|b)?\s*", text, re.IGNORECASE)
    if found is None:
        raise ValueError(f"{text!r} is not a size: a number of bytes with an optional unit (1GB, 500MB, 1.5GiB)")
    value = int(Decimal(found.group(1)) * _UNITS[(found.group(2) or "").lower()])  # 1.001kB: 1001, not 1000
    if value < 1:
        raise ValueError(f"{text!r} is not a size: it is under one byte")
    return value


def human(size: int) -> str:
    """Bytes in the decimal unit that reads best: 964.7 MB, 1.9 GB, 512 B."""
    for unit, scale in (("TB", 10**12), ("GB", 10**9), ("MB", 10**6), ("kB", 10**3)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size} B"
