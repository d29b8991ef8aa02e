"""How a run computes: its precision (``--precision``) and whether it is deterministic (``--deterministic``).

The precision policy (README, "Precision"):

* ``auto`` (the default): bf16 autocast on CUDA, float32 elsewhere. ``bf16``: bf16 autocast on any device
  (on a CPU without bf16 units it is slower than float32). ``fp32``: no autocast.
* Under bf16 autocast the matrix products and convolutions run in bf16. What stays float32:
  - every LSTM run by ``torch.nn.LSTM`` (``layers.stacked_lstm``): autocast's rule for the cuDNN RNN casts to
    float16 whatever autocast dtype it was given, and float16 without loss scaling lets the LSTM's backward
    underflow, so the whole call runs outside autocast on float32 inputs (TF32 where the GPU allows it);
  - the cell states of the paper's own cells (``layers.lstm_cells``: their state starts in float32, and a
    float32 state times a bf16 gate stays float32);
  - the sigmoids and softmaxes that make the heads' probabilities (MoE, the split head, logistic regression,
    attention by sigmoid): their logits are cast to float32 first, so ``p + 1e-5`` keeps its epsilon and a
    sigmoid does not round to exactly 1.0 past a logit of ~6 (bf16 keeps 8 bits);
  - the losses, metrics and stored predictions (float16 of float32 probabilities in the prediction store).

Deterministic: cuDNN's deterministic algorithms without autotuning, ``torch.use_deterministic_algorithms``
(an operation without a deterministic kernel raises instead of running), and cuBLAS's fixed workspace
(``CUBLAS_WORKSPACE_CONFIG=:4096:8``, which must be set before the process's first cuBLAS call: ``apply``
runs before the run's model is built). Exact resume on CUDA is claimed under it only; on the CPU, training is
deterministic either way.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from typing import Any

import torch

from y8m_models.options import PRECISIONS, Precision, RunOptions


@dataclass(frozen=True)
class Numerics:
    precision: Precision = "auto"
    deterministic: bool = False

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision {self.precision!r}: expected one of {', '.join(PRECISIONS)}")

    @classmethod
    def from_options(cls, options: RunOptions | dict[str, Any]) -> Numerics:
        """From run options, or a run directory's stored ``numerics`` (``precision``, ``deterministic``; absent:
        the defaults)."""
        if isinstance(options, RunOptions):
            return cls(options.precision, options.deterministic)
        return cls(options.get("precision", "auto"), bool(options.get("deterministic", False)))

    def options(self) -> dict[str, Any]:
        return {"precision": self.precision, "deterministic": self.deterministic}

    def autocast_dtype(self, device: torch.device | str) -> torch.dtype | None:
        """bf16 where the policy autocasts on ``device``, else None (float32)."""
        kind = torch.device(device).type
        if self.precision == "bf16" or (self.precision == "auto" and kind == "cuda"):
            return torch.bfloat16 if kind in ("cuda", "cpu") else None
        return None

    def autocast(self, device: torch.device | str) -> contextlib.AbstractContextManager:
        dtype = self.autocast_dtype(device)
        if dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(torch.device(device).type, dtype=dtype)

    def apply(self) -> None:
        """The process-wide settings of ``deterministic``, on or off (one process may train several runs:
        ``y8m reproduce``); call it before the model is built and the first CUDA operation."""
        if self.deterministic:
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
            torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = self.deterministic
        torch.use_deterministic_algorithms(self.deterministic)

