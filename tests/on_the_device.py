"""A CPU stand-in for a tensor on a GPU, to show on a CPU that code never makes the host wait for the device."""

from __future__ import annotations

import torch


class OnTheDevice(torch.Tensor):
    """A tensor as if it were on a GPU (frame counts, a batch loss): reading its values on the host (a copy to
    the CPU, a list, a Python number, a truth value) raises, and so does reading any tensor computed from it.
    On a GPU each of these reads waits for every step queued before it."""

    READS = {torch.Tensor.tolist, torch.Tensor.item, torch.Tensor.cpu, torch.Tensor.numpy, torch.Tensor.__bool__,
             torch.Tensor.__int__, torch.Tensor.__float__, torch.Tensor.__index__}

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        to_host = func is torch.Tensor.to and any(
            str(a) == "cpu" for a in (*args[1:], kwargs.get("device")) if isinstance(a, (str, torch.device)))
        if func in cls.READS or to_host:
            raise AssertionError(f"{getattr(func, '__name__', func)} reads a device value back on the host")
        return super().__torch_function__(func, types, args, kwargs)
