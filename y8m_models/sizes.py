"""How big a model is, in bytes, against the 2018 challenge's rule that a submitted model is at most 1 GB (its
winners stored weights in fp16 or 8 bits and distilled ensembles). No torch here: the dashboard reads it."""

from __future__ import annotations

SIZE_LIMIT_2018 = 1_000_000_000
BYTES_PER_PARAMETER = {"fp32": 4, "fp16": 2, "int8": 1}


def weight_bytes(parameters: int) -> dict[str, int]:
    """The bytes of ``parameters`` weights stored in each dtype (an exported file adds its configuration and
    vocabulary, and int8 one scale per output row: the file's own size is what ``y8m export`` reports)."""
    return {dtype: parameters * size for dtype, size in BYTES_PER_PARAMETER.items()}
