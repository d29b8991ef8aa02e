"""VGGish (Hershey et al., "CNN Architectures for Large-Scale Audio Classification", ICASSP 2017): a VGG on
0.96 s log-mel patches whose 128-d embedding, after PCA with whitening and 8-bit codes, is YouTube-8M's (and
AudioSet's) audio feature.

The front end, as the released VGGish: 16 kHz mono; 25 ms periodic-Hann windows every 10 ms, |FFT| of 512 points;
64 mel bands from 125 to 7500 Hz (HTK's mel scale, triangles in mel, the DC bin dropped); log(mel + 0.01); patches
of 96 frames x 64 bands. One patch per sampled second here: the 0.96 s from that second on (zero-padded past the
end of the track), so the audio features line up one to one with the frames taken at 1 per second.

The modules carry torchvggish's names, so its converted checkpoint ``vggish-10086976.pth`` loads as it is; its
PCA parameters (``vggish_pca_params-970ea276.pth``, or Google's ``vggish_pca_params.npz``) are read by ``pca``.

Shapes: N patches, F = 96 frames, B = 64 bands. ``embed``: [N, F, B] -> [N, 128].
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from y8m_models.features.video import SAMPLE_RATE

WIDTH = 128
WINDOW, HOP, FFT = 400, 160, 512  # samples: 25 ms, 10 ms
BANDS, FRAMES = 64, 96
LOW_HZ, HIGH_HZ, LOG_OFFSET = 125.0, 7500.0, 0.01
PATCH_SAMPLES = WINDOW + (FRAMES - 1) * HOP  # 15,600: what one patch of 96 frames reads
CHECKPOINT = "vggish-10086976.pth"
PCA_CHECKPOINT = "vggish_pca_params-970ea276.pth"
URL = f"https://github.com/harritaylor/torchvggish/releases/download/v0.1/{CHECKPOINT}"
PCA_URL = f"https://github.com/harritaylor/torchvggish/releases/download/v0.1/{PCA_CHECKPOINT}"


def _mel(hz: np.ndarray) -> np.ndarray:
    return 1127.0 * np.log1p(hz / 700.0)


def mel_matrix() -> np.ndarray:
    """[FFT // 2 + 1 bins, 64 bands]: triangles evenly spaced in mel between 125 and 7500 Hz, DC bin zero."""
    bins_mel = _mel(np.linspace(0.0, SAMPLE_RATE / 2, FFT // 2 + 1))
    edges = np.linspace(_mel(np.array(LOW_HZ)), _mel(np.array(HIGH_HZ)), BANDS + 2)
    lower, center, upper = edges[:-2], edges[1:-1], edges[2:]
    rising = (bins_mel[:, None] - lower) / (center - lower)
    falling = (upper - bins_mel[:, None]) / (upper - center)
    weights = np.maximum(0.0, np.minimum(rising, falling))
    weights[0, :] = 0.0
    return weights


_MEL = mel_matrix()
_HANN = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(WINDOW) / WINDOW)  # periodic


def log_mel_patches(audio: np.ndarray, starts: list[float]) -> np.ndarray:
    """float32 [len(starts), 96, 64]: the log-mel patch beginning at each time (seconds) of ``audio`` (16 kHz)."""
    out = np.empty((len(starts), FRAMES, BANDS), np.float32)
    for n, start in enumerate(starts):
        at = int(round(start * SAMPLE_RATE))
        piece = np.zeros(PATCH_SAMPLES, np.float64)
        got = audio[at:at + PATCH_SAMPLES]
        piece[:got.size] = got
        frames = np.lib.stride_tricks.sliding_window_view(piece, WINDOW)[::HOP]  # [96, 400]
        magnitude = np.abs(np.fft.rfft(frames * _HANN, FFT))
        out[n] = np.log(magnitude @ _MEL + LOG_OFFSET)
    return out


class VGGish(nn.Module):
    """Log-mel patches [N, 96, 64] -> embeddings [N, 128] (before PCA)."""

    def __init__(self):
        super().__init__()
        layers: list[nn.Module] = []
        c_in = 1
        for c_out in (64, "pool", 128, "pool", 256, 256, "pool", 512, 512, "pool"):
            if c_out == "pool":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(c_in, c_out, 3, padding=1), nn.ReLU(inplace=True)]
                c_in = c_out
        self.features = nn.Sequential(*layers)
        self.embeddings = nn.Sequential(nn.Linear(512 * 6 * 4, 4096), nn.ReLU(True), nn.Linear(4096, 4096),
                                        nn.ReLU(True), nn.Linear(4096, WIDTH), nn.ReLU(True))

    def forward(self, patches_NFB: torch.Tensor) -> torch.Tensor:
        x = self.features(patches_NFB[:, None])  # [N, 512, 6, 4]
        # Flattened channels last, as the TensorFlow model the weights come from.
        return self.embeddings(x.permute(0, 2, 3, 1).reshape(x.shape[0], -1))
