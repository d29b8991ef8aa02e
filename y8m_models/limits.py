"""Limits on what untrusted input may make this process do, as data: each is a default here, raised (or
lowered) by its environment variable, never by editing code. An input past a limit gets an error that names
the input, the limit and the variable.

=============================  ==============  ======================================================
variable                       default         bounds
=============================  ==============  ======================================================
``Y8M_MAX_RECORD_BYTES``       256 MiB         one TFRecord record (a YouTube-8M frame-level video: ~0.4 MB)
``Y8M_MAX_RECORD_FRAMES``      100,000         the frames of one frame-level video (YouTube-8M: a few hundred)
``Y8M_MAX_DECOMPRESSED_BYTES`` 4 GiB           the bytes one gzip TFRecord file may decompress to
``Y8M_MAX_GZIP_RATIO``         100             ... and at most this many times its compressed size
``Y8M_MAX_VOCABULARY_ROWS``    1,000,000       the rows of a vocabulary.csv (YouTube-8M has 4,716 / 3,862)
``Y8M_MAX_PARAMETERS``         4,000,000,000   the parameters of a submitted model (the paper's largest, #2: 358 M)
``Y8M_MAX_BATCH``              65,536          a submitted model's training batch (the paper's largest: 1,024)
=============================  ==============  ======================================================

YouTube-8M's frame-level files decompress to a few hundred MB, about twice their compressed size; a gzip
"bomb" of 388 KB that decompressed to 1 GB is what the ratio stops.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields


@dataclass(frozen=True)
class Limits:
    record_bytes: int = 256 << 20
    record_frames: int = 100_000
    decompressed_bytes: int = 4 << 30
    gzip_ratio: int = 100
    vocabulary_rows: int = 1_000_000
    parameters: int = 4_000_000_000
    batch: int = 65_536

    @staticmethod
    def variable(name: str) -> str:
        return f"Y8M_MAX_{name.upper()}"

    @classmethod
    def from_env(cls) -> Limits:
        """The limits in force: the defaults, each replaced by its variable where set (a whole number >= 1, else
        ValueError). Read at each use: cheap, and a test can set them."""
        values = {}
        for field in fields(cls):
            text = os.environ.get(cls.variable(field.name))
            if text is not None:
                if not text.strip().isdigit() or int(text) < 1:
                    raise ValueError(f"{cls.variable(field.name)}={text!r}: expected a whole number >= 1")
                values[field.name] = int(text)
        return cls(**values)


MAX_INT32 = 2**31 - 1  # seeds and step counts: the run store keeps them in 32-bit columns (PostgreSQL integer)
