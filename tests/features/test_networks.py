"""The feature networks: Inception-v3 to its 2048-d pool under torchvision's names (so its checkpoint loads),
VGGish's log-mel front end and network under torchvggish's, and weights that are missing or do not fit."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from y8m_models.features import inception, vggish
from y8m_models.features.networks import WeightsError, audio_network, image_network, load_state
from y8m_models.features.video import SAMPLE_RATE


@pytest.fixture(scope="module")
def random_inception():
    return image_network("inception_v3", random=True)


def test_inception_pool_features_and_torchvision_names(random_inception) -> None:
    frames = np.random.default_rng(0).integers(0, 256, (2, 299, 299, 3), dtype=np.uint8)
    out = random_inception.features(frames)
    assert out.shape == (2, 2048) and np.isfinite(out).all() and (out >= 0).all()  # an average of ReLUs
    keys = set(random_inception.module.state_dict())
    # A few names of torchvision's inception_v3 checkpoint, and the size of the whole (without AuxLogits, fc).
    for name in ("Conv2d_1a_3x3.conv.weight", "Conv2d_4a_3x3.bn.running_var", "Mixed_5b.branch_pool.conv.weight",
                 "Mixed_6e.branch7x7dbl_5.bn.bias", "Mixed_7c.branch3x3dbl_3b.conv.weight"):
        assert name in keys
    parameters = sum(p.numel() for p in random_inception.module.parameters())
    assert parameters == 21_785_568  # torchvision's 27,161,264 less AuxLogits (3,326,696) and fc (2,049,000)


def test_a_checkpoint_loads_with_its_classifier_parts_skipped(random_inception, tmp_path: Path) -> None:
    # As torchvision's file: saved by an older PyTorch (no batch norm step counters), with the classifier parts.
    state = {k: v + 0.01 for k, v in random_inception.module.state_dict().items()
             if not k.endswith("num_batches_tracked")}
    state["AuxLogits.fc.weight"] = torch.zeros(1000, 768)
    state["fc.weight"], state["fc.bias"] = torch.zeros(1000, 2048), torch.zeros(1000)
    torch.save(state, tmp_path / "inception.pth")
    loaded = image_network("inception_v3", tmp_path / "inception.pth")
    assert torch.equal(loaded.module.state_dict()["Mixed_7c.branch_pool.conv.weight"],
                       state["Mixed_7c.branch_pool.conv.weight"])
    assert loaded.weights == str(tmp_path / "inception.pth")
    del state["Mixed_6a.branch3x3.bn.weight"]
    state["Mixed_6a.branch3x3.conv.weight"] = torch.zeros(3, 3)
    torch.save(state, tmp_path / "broken.pth")
    with pytest.raises(WeightsError, match=r"broken\.pth: not the weights of Inception-v3: missing 1 tensors "
                                           r"\(Mixed_6a\.branch3x3\.bn\.weight .*shapes differ: "
                                           r"Mixed_6a\.branch3x3\.conv\.weight \[3, 3\]"):
        image_network("inception_v3", tmp_path / "broken.pth")


def test_missing_weights_say_which_file_and_where_to_get_it(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    with pytest.raises(WeightsError, match=r"hub/checkpoints/inception_v3_google-0cc3c7bd\.pth: Inception-v3's weights "
                                           r"are not there.*fetch https://download\.pytorch\.org/models/"):
        image_network("inception_v3")
    with pytest.raises(WeightsError, match=r"vggish-10086976\.pth: VGGish's weights .* --audio-weights FILE"):
        audio_network()
    with pytest.raises(WeightsError, match=r"nothing\.pth: does not exist"):
        image_network("inception_v3", tmp_path / "nothing.pth")
    (tmp_path / "text.pth").write_text("not a checkpoint")
    with pytest.raises(WeightsError, match=r"text\.pth: not a PyTorch checkpoint of Inception-v3"):
        image_network("inception_v3", tmp_path / "text.pth")
    with pytest.raises(WeightsError, match="'resnet' is not one of inception_v3, timm:NAME"):
        image_network("resnet")


def test_log_mel_patches_as_vggish_reads_them() -> None:
    assert vggish.PATCH_SAMPLES == 15_600 and vggish.mel_matrix().shape == (257, 64)
    assert (vggish.mel_matrix()[0] == 0).all()  # the DC bin dropped
    silence = vggish.log_mel_patches(np.zeros(0, np.float32), [0.0, 1.0])
    assert silence.shape == (2, 96, 64) and np.allclose(silence, np.log(0.01))
    t = np.arange(3 * SAMPLE_RATE) / SAMPLE_RATE
    low, high = (vggish.log_mel_patches(np.sin(2 * np.pi * hz * t).astype(np.float32), [1.0]) for hz in (300, 3000))
    assert low[0].mean(0).argmax() < high[0].mean(0).argmax()  # a higher tone in a higher band
    # A patch past the end of the track is padded with silence.
    tail = vggish.log_mel_patches(np.sin(2 * np.pi * 300 * t).astype(np.float32), [2.5])
    assert np.allclose(tail[0, -40:], np.log(0.01)) and not np.allclose(tail[0, :40], np.log(0.01))


def test_vggish_embeddings_under_torchvggish_names(tmp_path: Path) -> None:
    network = audio_network(random=True)
    out = network.features(vggish.log_mel_patches(np.zeros(SAMPLE_RATE, np.float32), [0.0]))
    assert out.shape == (1, 128) and (out >= 0).all()  # the last ReLU, as the released model's
    names = list(network.module.state_dict())
    assert names == [f"features.{i}.{p}" for i in (0, 3, 6, 8, 11, 13) for p in ("weight", "bias")] + [
        f"embeddings.{i}.{p}" for i in (0, 2, 4) for p in ("weight", "bias")]
    torch.save({"features.0.weight": torch.zeros(64, 1, 3, 3)}, tmp_path / "part.pth")
    with pytest.raises(WeightsError, match=r"part\.pth: not the weights of VGGish: missing 17 tensors"):
        load_state(vggish.VGGish(), tmp_path / "part.pth", "VGGish")


def test_random_networks_are_the_same_every_time() -> None:
    a, b = audio_network(random=True), audio_network(random=True)
    assert torch.equal(a.module.embeddings[4].weight, b.module.embeddings[4].weight)
    assert inception.SIZE == 299


@pytest.mark.parametrize("name, width", [("timm:resnet18", 512), ("open_clip:RN50", 1024)])
def test_timm_and_open_clip_networks_by_name(name: str, width: int, tmp_path: Path) -> None:
    """Where timm and OpenCLIP can be imported (they need a torchvision built for the installed torch: none
    is on the package index for this project's torch 2.13.0 CPU, so this is skipped here and in CI)."""
    pytest.importorskip("timm" if name.startswith("timm") else "open_clip")
    network = image_network(name, random=True)
    frames = np.zeros((2, network.size, network.size, 3), np.uint8)
    assert network.features(frames).shape == (2, width)
    torch.save(network.module.state_dict() if name.startswith("timm") else network.module.model.state_dict(),
               tmp_path / "weights.pth")
    assert image_network(name, tmp_path / "weights.pth").weights == str(tmp_path / "weights.pth")
