"""A trained single model as one self-contained file: its weights in fp16 or int8, its frozen configuration and
the dataset's vocabulary, loadable with ``torch.load(weights_only=True)`` (``y8m export``; ``y8m eval`` scores it).

The 2018 challenge limited a submitted model to 1 GB, and its winners stored weights in fewer bits. Here:

- ``fp32``: the weights as trained (4 bytes a value).
- ``fp16``: every floating-point tensor in half precision (2 bytes a value).
- ``int8``: every floating-point weight of two or more dimensions (linear and recurrent matrices, cluster centres,
  embeddings) as symmetric 8-bit integers with one float32 scale per output row, ``w ~ q * s`` with
  ``s = max_j |w_ij| / 127`` (so a row's error is at most ``s / 2`` per value); vectors (biases, norms) in fp16.

Loading dequantizes to float32 and builds the model from the stored configuration (``configs.build.build_model``),
so it runs wherever the run's own checkpoint would. A cascade model reads other runs' predictions and is not
exported (it would not be self-contained). Under a byte budget (``--budget 1GB``) the file is written only where it
fits, in the widest dtype that does unless one is named.

File layout (a dict): ``format``, ``dtype``, ``config`` (the configuration, JSON), ``num_classes``,
``features`` (the dataset's feature names and widths: ``data.layout``), ``vocabulary`` (the dataset's vocabulary.csv
text, or ""), ``data`` (the dataset the run trained
on, a hint for ``y8m eval``), ``tensors`` (name -> tensor, fp16 or float32) and ``quantized`` (name -> {"q": int8,
"scale": float32 [rows]}).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
from torch import nn

from y8m_models import atomic
from y8m_models.configs.build import build_model
from y8m_models.configs.schema import Configuration
from y8m_models.data.errors import Y8MDataError
from y8m_models.data.layout import YOUTUBE_8M, FeatureLayout, check_same, find_layout
from y8m_models.data.splits import split_files
from y8m_models.data.vocabulary import find_vocabulary, parse_vocabulary
from y8m_models.experiment import Run, trained_model
from y8m_models.metrics import evaluate
from y8m_models.models import ModelInputs
from y8m_models.numerics import Numerics
from y8m_models.sizes import human, weight_bytes
from y8m_models.train import predict

FORMAT = "y8m-export-1"
DTYPES = ("fp32", "fp16", "int8")  # widest first
Dtype = Literal["fp32", "fp16", "int8"]


class ExportError(ValueError):
    """A run that cannot be exported, or a file that is not an export; the message names it."""


@dataclass
class Exported:
    """A loaded export: the float32 model (eval mode), its configuration and what it was trained on."""

    model: nn.Module
    config: Configuration
    num_classes: int
    features: FeatureLayout
    vocabulary: str
    data: Path | None  # the dataset it trained on, where it was recorded
    dtype: str


def quantize_rows(w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(q int8 [rows, ...], scale float32 [rows]): symmetric per output row (the first dimension)."""
    w32 = w.detach().float()
    scale_R = (w32.abs().flatten(1).amax(dim=1) / 127).clamp(min=torch.finfo(torch.float32).tiny)
    q = torch.round(w32 / scale_R.view(-1, *[1] * (w32.dim() - 1))).clamp(-127, 127).to(torch.int8)
    return q, scale_R


def dequantize_rows(q: torch.Tensor, scale_R: torch.Tensor) -> torch.Tensor:
    return q.float() * scale_R.view(-1, *[1] * (q.dim() - 1))


def export_model(model: nn.Module, config: Configuration, num_classes: int, features: FeatureLayout,
                 dtype: Dtype, out: Path, vocabulary: str = "", data: Path | None = None,
                 budget: int | None = None) -> int:
    """Write ``model``'s weights in ``dtype`` with its configuration to ``out`` (all or nothing; nothing where the
    file would be over ``budget`` bytes: ``ExportError``); returns the file's bytes."""
    if dtype not in DTYPES:
        raise ExportError(f"--dtype must be one of {', '.join(DTYPES)}, not {dtype!r}")
    if config.model is None or config.model.cascade is not None:
        raise ExportError(f"{config.name} is {'an ensemble' if config.model is None else 'a cascade model'}: only "
                          "a single model that reads nothing but its frames exports into one file")
    tensors: dict[str, torch.Tensor] = {}
    quantized: dict[str, dict[str, torch.Tensor]] = {}
    for name, value in model.state_dict().items():
        if not value.is_floating_point():
            tensors[name] = value.detach().cpu().clone()
        elif dtype == "int8" and value.dim() >= 2:
            q, scale = quantize_rows(value.cpu())
            quantized[name] = {"q": q, "scale": scale}
        else:
            tensors[name] = value.detach().cpu().to(torch.float32 if dtype == "fp32" else torch.float16)
    with atomic.replacing(out) as handle:  # the file becomes ``out`` only when the block ends without an error
        torch.save({"format": FORMAT, "dtype": dtype, "config": config.model_dump(mode="json"),
                    "num_classes": num_classes, "features": features.to_json(), "vocabulary": vocabulary,
                    "data": str(data or ""), "tensors": tensors, "quantized": quantized}, handle)
        size = handle.tell()
        if budget is not None and size > budget:
            raise ExportError(f"{config.name} in {dtype} is {size:,} bytes ({human(size)}), over the budget of "
                              f"{budget:,} bytes ({human(budget)}); {out} is not written")
    return size


def export_run(run: Run, dtype: Dtype | None, out: Path, budget: int | None = None) -> tuple[str, int]:
    """``run``'s weights chosen on validate1 into ``out`` in ``dtype``, or (None) in the widest dtype whose file
    fits ``budget`` (int8 without one); returns the dtype and the file's bytes."""
    if dtype is not None and dtype not in DTYPES:  # before the checkpoint is read
        raise ExportError(f"--dtype must be one of {', '.join(DTYPES)}, not {dtype!r}")
    found = find_vocabulary(run.data / run.model.level)
    vocabulary = found.read_text(encoding="utf-8") if found else ""
    model = trained_model(run, "cpu")

    def write(chosen: str) -> tuple[str, int]:
        return chosen, export_model(model, run.config, run.num_classes, run.features, chosen,
                                    out, vocabulary, run.data, budget)

    if dtype is not None or budget is None:
        return write(dtype or "int8")
    parameters = sum(value.numel() for value in model.state_dict().values() if value.is_floating_point())
    # the weights alone over the budget rule a dtype out; the file adds its configuration (and int8's scales)
    candidates = [d for d, size in weight_bytes(parameters).items() if size <= budget]
    for candidate in candidates[:-1]:
        try:
            return write(candidate)
        except ExportError:
            continue
    if candidates:
        return write(candidates[-1])
    raise ExportError(f"{run.config.name}: {parameters:,} weights are {human(parameters)} even in int8, over the "
                      f"budget of {budget:,} bytes ({human(budget)}); {out} is not written")


def load_exported(path: Path) -> Exported:
    """The model of an exported file, dequantized to float32, in eval mode."""
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch.load raises what the unpickler raises: OSError, UnpicklingError, EOFError...
        raise ExportError(f"{path}: not a y8m export (torch.load(weights_only=True) fails: {type(exc).__name__}); "
                          "`y8m export RUN_DIR OUT --dtype int8` writes one") from None
    if not isinstance(saved, dict) or saved.get("format") != FORMAT:
        raise ExportError(f"{path}: not a y8m export (format {FORMAT}); `y8m export RUN_DIR OUT --dtype int8` "
                          "writes one")
    config = Configuration.model_validate(saved["config"])
    num_classes = int(saved["num_classes"])
    try:
        features = FeatureLayout.from_json(saved["features"], f"{path} (its features)") if "features" in saved else (
            YOUTUBE_8M)
    except Y8MDataError as exc:
        raise ExportError(str(exc)) from None
    verticals = None
    if saved["vocabulary"]:
        vocabulary = parse_vocabulary(saved["vocabulary"].splitlines(), f"{path} (its vocabulary)")
        verticals = torch.from_numpy(vocabulary.vertical_matrix()).float()
    model = build_model(config.model, ModelInputs(num_classes, features.spec(config.model.level).sizes, verticals))
    state = {name: value.float() if value.is_floating_point() else value for name, value in saved["tensors"].items()}
    state |= {name: dequantize_rows(part["q"], part["scale"]) for name, part in saved["quantized"].items()}
    model.load_state_dict(state)
    return Exported(model.eval(), config, num_classes, features, saved["vocabulary"],
                    Path(saved["data"]) if saved["data"] else None, saved["dtype"])


def scores_of(model: nn.Module, config: Configuration, features: FeatureLayout, data: Path | None, split: str,
              num_classes: int, numerics: Numerics = Numerics()) -> dict:
    """GAP@20, Hit@1, PERR and mAP of ``model``, trained on ``features``, on ``split`` of the dataset ``data``
    (nothing is written); ``ExportError`` where the data's features are others, naming both."""
    level = config.model.level
    files = split_files(data, level).get(split) if data is not None else None
    if not files:
        raise ExportError(f"no {split} files of level {level} under {data or 'an unknown dataset'} "
                          "(--data names the dataset)")
    try:
        check_same(features, find_layout(data / level), level, config.name, data)
    except Y8MDataError as exc:
        raise ExportError(str(exc)) from None
    out = predict(model, config.model, files, num_classes, numerics=numerics)
    return evaluate(out.scores.numpy(), out.labels.numpy()).to_dict()


def evaluate_exported(path: Path, split: str, data: Path | None = None) -> dict:
    """``scores_of`` an exported model on ``split`` of ``data`` (default: the dataset it trained on), with its
    dtype."""
    exported = load_exported(path)
    return {**scores_of(exported.model, exported.config, exported.features, data or exported.data, split,
                        exported.num_classes),
            "dtype": exported.dtype}
