"""The networks that turn frames and audio into features, by name, with their weights.

Image networks: ``inception_v3`` (YouTube-8M's; ``inception``), ``timm:NAME`` (any timm model, its pooled features)
and ``open_clip:ARCH/PRETRAINED`` (an OpenCLIP image tower). Audio: VGGish (``vggish``).

Weights come from ``--weights FILE`` or, without it, the library's usual cache: torch hub's
(``torch.hub.get_dir()/checkpoints``) for Inception-v3 and VGGish, Hugging Face's for timm and OpenCLIP. Nothing is
downloaded: where the weights are not there, ``WeightsError`` says which file is missing and where to get it.
``random=True`` builds a network with random weights instead (seeded: the same network every time, so that
videos extracted later match a dataset extracted before): for testing the pipeline only (its features mean
nothing), and recorded as such in the dataset's ``extract.json``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from y8m_models.data.errors import Y8MDataError
from y8m_models.features import inception, vggish

IMAGE_NETWORKS = ("inception_v3", "timm:NAME", "open_clip:ARCH/PRETRAINED")


class WeightsError(Y8MDataError):
    """Weights that are missing or do not fit their network; the message names the file."""


def hub_checkpoint(name: str) -> Path:
    """Where torch hub (and torchvision) keep a downloaded checkpoint: ``$TORCH_HOME/hub/checkpoints/NAME``."""
    return Path(torch.hub.get_dir()) / "checkpoints" / name


def _missing(what: str, cache: Path, url: str, option: str) -> WeightsError:
    return WeightsError(cache, f"{what}'s weights are not there and nothing is downloaded here: fetch {url} into "
                               f"{cache.parent} (the torch hub cache; TORCH_HOME moves it), or pass the file with "
                               f"{option} FILE")


def load_state(network: nn.Module, path: Path, what: str, keep: Callable[[dict], dict] = lambda s: s) -> None:
    """``path``'s tensors into ``network``, every one of its parameters and buffers present with its shape."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise WeightsError(path, "does not exist") from None
    except Exception as exc:  # torch's own errors for a file that is not a checkpoint
        raise WeightsError(path, f"not a PyTorch checkpoint of {what} ({type(exc).__name__}: {exc})") from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise WeightsError(path, f"holds a {type(state).__name__}, not the tensors of {what}")
    state = keep(state)
    own = network.state_dict()
    # Batch norm's step counter: absent from checkpoints of older PyTorch (torchvision's Inception-v3), which
    # load_state_dict fills in.
    missing = [k for k in own if k not in state and not k.endswith("num_batches_tracked")]
    extra = [k for k in state if k not in own]
    wrong = [f"{k} {list(state[k].shape)} (expected {list(v.shape)})" for k, v in own.items()
             if k in state and tuple(state[k].shape) != tuple(v.shape)]
    if missing or extra or wrong:
        detail = "; ".join(part for part in (
            f"missing {len(missing)} tensors ({', '.join(missing[:3])} ...)" if missing else "",
            f"{len(extra)} it does not have ({', '.join(extra[:3])} ...)" if extra else "",
            f"shapes differ: {', '.join(wrong[:3])}" if wrong else "") if part)
        raise WeightsError(path, f"not the weights of {what}: {detail}")
    network.load_state_dict(state)


@dataclass
class ImageNetwork:
    """Frames -> features: ``name``, feature ``width``, input ``size`` (square, pixels), ``mean``/``std`` of the
    [0, 1] pixels' normalization and the module."""

    name: str
    width: int
    size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    module: nn.Module
    weights: str  # the file, or "random"
    device: str = "cpu"

    @torch.inference_mode()
    def features(self, frames_NHW3: np.ndarray, batch: int = 32) -> np.ndarray:
        """uint8 [N, size, size, 3] RGB -> float32 [N, width]."""
        mean = torch.tensor(self.mean, device=self.device).view(1, 3, 1, 1)
        std = torch.tensor(self.std, device=self.device).view(1, 3, 1, 1)
        out = []
        for start in range(0, len(frames_NHW3), batch):
            x = torch.from_numpy(np.ascontiguousarray(frames_NHW3[start:start + batch])).to(self.device)
            x = (x.permute(0, 3, 1, 2).float() / 255.0 - mean) / std
            out.append(self.module(x).float().reshape(x.shape[0], -1).cpu())
        return torch.cat(out).numpy() if out else np.zeros((0, self.width), np.float32)


def _published(module: nn.Module, weights: Path | None, checkpoint: str, url: str, what: str, option: str,
               keep: Callable[[dict], dict] = lambda s: s) -> str:
    """``module`` with the published checkpoint (``weights``, else torch hub's cached ``checkpoint``); its path."""
    path = weights or hub_checkpoint(checkpoint)
    if weights is None and not path.is_file():
        raise _missing(what, path, url, option)
    load_state(module, path, what, keep)
    return str(path)


def _inception(weights: Path | None, random: bool) -> ImageNetwork:
    module = inception.InceptionV3Features()
    source = "random" if random else _published(module, weights, inception.CHECKPOINT, inception.URL,
                                                "Inception-v3", "--weights", inception.feature_state)
    # torchvision's port of the TensorFlow weights reads pixels scaled to [-1, 1], as the original graph.
    return ImageNetwork("inception_v3", inception.WIDTH, inception.SIZE, (0.5,) * 3, (0.5,) * 3, module.eval(),
                        source)


def _timm(name: str, weights: Path | None, random: bool) -> ImageNetwork:
    try:
        import timm
    except Exception as exc:  # ImportError, or torchvision's own failure to load beside this torch
        raise WeightsError(f"timm:{name}", f"timm cannot be imported here ({type(exc).__name__}: {exc}); it needs "
                                           "torchvision built for the installed torch") from None
    try:
        overlay = {"file": str(weights)} if weights else None
        module = timm.create_model(name, pretrained=not random, num_classes=0, pretrained_cfg_overlay=overlay)
    except Exception as exc:  # an unknown name; weights not in the Hugging Face cache while offline
        raise WeightsError(f"timm:{name}", f"cannot be built with {'random' if random else 'its'} weights "
                                           f"({type(exc).__name__}: {exc}); with no network, put the weights in the "
                                           "Hugging Face cache or pass --weights FILE") from None
    config = timm.data.resolve_data_config({}, model=module)
    size = int(config["input_size"][-1])
    return ImageNetwork(f"timm:{name}", int(module.num_features), size, tuple(config["mean"]), tuple(config["std"]),
                        module.eval(), "random" if random else str(weights or "hugging face cache"))


class _ClipImage(nn.Module):
    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.encode_image(x)


def _open_clip(name: str, weights: Path | None, random: bool) -> ImageNetwork:
    try:
        import open_clip
    except Exception as exc:
        raise WeightsError(f"open_clip:{name}", f"open_clip cannot be imported here ({type(exc).__name__}: {exc}); "
                                                "it needs torchvision built for the installed torch") from None
    arch, _, tag = name.partition("/")
    if not (random or weights or tag):
        raise WeightsError(f"open_clip:{name}", "names no weights: open_clip:ARCH/PRETRAINED (ViT-B-32/openai, "
                                                "say), or --weights FILE")
    try:
        model = open_clip.create_model(arch, pretrained=None if random else str(weights or tag))
    except Exception as exc:
        raise WeightsError(f"open_clip:{name}", f"cannot be built ({type(exc).__name__}: {exc}); with no network, "
                                                "pass the weights with --weights FILE") from None
    visual = model.visual
    size = visual.image_size if isinstance(visual.image_size, int) else visual.image_size[0]
    mean = getattr(visual, "image_mean", None) or open_clip.OPENAI_DATASET_MEAN
    std = getattr(visual, "image_std", None) or open_clip.OPENAI_DATASET_STD
    return ImageNetwork(f"open_clip:{name}", int(visual.output_dim), int(size), tuple(mean), tuple(std),
                        _ClipImage(model).eval(), "random" if random else str(weights or tag))


RANDOM_SEED = 0  # of the random-weights networks


def image_network(name: str, weights: Path | None = None, *, random: bool = False,
                  device: str = "cpu") -> ImageNetwork:
    """The image network ``name`` (``IMAGE_NETWORKS``) with its weights, on ``device``, in eval mode."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(RANDOM_SEED)
        network = _image_network(name, weights, random)
    network.module.to(device)
    network.device = device
    return network


def _image_network(name: str, weights: Path | None, random: bool) -> ImageNetwork:
    if name == "inception_v3":
        network = _inception(weights, random)
    elif name.startswith("timm:") and len(name) > 5:
        network = _timm(name[5:], weights, random)
    elif name.startswith("open_clip:") and len(name) > 10:
        network = _open_clip(name[10:], weights, random)
    else:
        raise WeightsError("--image-network", f"{name!r} is not one of {', '.join(IMAGE_NETWORKS)}")
    return network


@dataclass
class AudioNetwork:
    module: vggish.VGGish
    weights: str
    device: str = "cpu"

    @torch.inference_mode()
    def features(self, patches_NFB: np.ndarray, batch: int = 64) -> np.ndarray:
        """float32 [N, 96, 64] log-mel patches -> [N, 128] embeddings (before PCA)."""
        out = [self.module(torch.from_numpy(patches_NFB[s:s + batch]).to(self.device)).float().cpu()
               for s in range(0, len(patches_NFB), batch)]
        return torch.cat(out).numpy() if out else np.zeros((0, vggish.WIDTH), np.float32)


def audio_network(weights: Path | None = None, *, random: bool = False, device: str = "cpu") -> AudioNetwork:
    """VGGish with torchvggish's weights (``--audio-weights`` or the torch hub cache)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(RANDOM_SEED)
        module = vggish.VGGish()
    source = "random" if random else _published(module, weights, vggish.CHECKPOINT, vggish.URL, "VGGish",
                                                "--audio-weights")
    return AudioNetwork(module.eval().to(device), source, device)
