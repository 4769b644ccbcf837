"""On-the-fly augmentation of IMU windows for retraining: label-preserving changes a wearable sees
between people and between wearings — gain (scaling), sensor noise (jitter), a slightly different
placement (a small 3-D rotation of each sensor's axes), a different pace (time warping) and a
different cut of the recording (window shift).

Applied in the z-scored space the network sees, except the rotation: it is applied to the
sensor's own units (un-z-scored with the data's train statistics, then z-scored again), since a
rotation of per-axis z-scores is not a rotation of the sensor. Sensors are the channel triplets
named `<sensor>_x`, `<sensor>_y`, `<sensor>_z`, and all of them turn by the same rotation: they are
taken to be mounted in one device (a phone, a watch: UCI-HAR's accelerometer, its body-motion
part and the gyroscope share one frame). Data without such triplets get no rotation.
"""

from __future__ import annotations

import math
import re

import numpy as np
import torch

__all__ = ["Augmenter", "sensor_triplets"]

_AXIS = re.compile(r"^(.*?)[_ ]?([xyz])$", re.IGNORECASE)


def sensor_triplets(channels) -> list[tuple[int, int, int]]:
    """Indices (x, y, z) of every sensor whose three axes are channels of the data."""
    axes: dict[str, dict[str, int]] = {}
    for i, name in enumerate(channels):
        m = _AXIS.match(str(name))
        if m:
            axes.setdefault(m.group(1).lower(), {})[m.group(2).lower()] = i
    return [(a["x"], a["y"], a["z"]) for a in axes.values() if len(a) == 3]


def _rotations(n: int, max_deg: float, gen: torch.Generator) -> torch.Tensor:
    """(n, 3, 3) rotations about random axes by angles uniform in ±max_deg (Rodrigues)."""
    axis = torch.randn(n, 3, generator=gen)
    axis = axis / axis.norm(dim=1, keepdim=True).clamp_min(1e-8)
    angle = (torch.rand(n, generator=gen) * 2 - 1) * math.radians(max_deg)
    k = torch.zeros(n, 3, 3)
    k[:, 0, 1], k[:, 0, 2], k[:, 1, 2] = -axis[:, 2], axis[:, 1], -axis[:, 0]
    k = k - k.transpose(1, 2)
    s, c = torch.sin(angle)[:, None, None], torch.cos(angle)[:, None, None]
    return torch.eye(3) + s * k + (1 - c) * (k @ k)


class Augmenter:
    """Random label-preserving variants of a batch of (B, T, S) z-scored windows.

    The strengths are the ones measured on UCI-HAR (docs/BENCHMARKS.md, ablation): strong enough
    to change the window, weak enough that a person would still read the same activity.
    """

    def __init__(self, channels, norm_mean, norm_std, *, scale: float = 0.1, jitter: float = 0.05,
                 rotate_deg: float = 15.0, warp: float = 0.1, shift: float = 0.1):
        self.triplets = sensor_triplets(channels)
        self.mean = torch.as_tensor(np.asarray(norm_mean, np.float32))
        self.std = torch.as_tensor(np.asarray(norm_std, np.float32))
        self.scale, self.jitter, self.rotate_deg = scale, jitter, rotate_deg
        self.warp, self.shift = warp, shift

    def __call__(self, x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        """`gen` is a CPU generator: the draws are the same on every device (moved to x's)."""
        b, t, s = x.shape
        dev = x.device
        if self.rotate_deg > 0 and self.triplets:
            mean, std = self.mean.to(dev), self.std.to(dev)
            raw = x * std + mean
            r = _rotations(b, self.rotate_deg, gen).transpose(1, 2).to(dev)
            for idx in self.triplets:
                cols = list(idx)
                raw[:, :, cols] = raw[:, :, cols] @ r
            x = (raw - mean) / std
        if self.warp > 0 or self.shift > 0:
            x = self._resample(x, gen)
        if self.scale > 0:
            x = x * (1 + self.scale * torch.randn(b, 1, s, generator=gen).to(dev))
        if self.jitter > 0:
            x = x + self.jitter * torch.randn(x.shape, generator=gen).to(dev)
        return x

    def _resample(self, x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        """Time warp (a random pace in 1 ± warp) and shift (by up to ±shift of the window),
        by linear interpolation; samples past the window's ends repeat the edge."""
        b, t, _ = x.shape
        pace = 1 + self.warp * (torch.rand(b, 1, generator=gen) * 2 - 1)
        offset = self.shift * t * (torch.rand(b, 1, generator=gen) * 2 - 1)
        centre = (t - 1) / 2
        pos = ((torch.arange(t, dtype=x.dtype) - centre) * pace + centre + offset).clamp(0, t - 1)
        pos = pos.to(x.device)
        lo = pos.floor().long().clamp(max=t - 2)
        frac = (pos - lo)[..., None]
        gather = lambda i: torch.gather(x, 1, i[..., None].expand(-1, -1, x.shape[2]))  # noqa: E731
        return gather(lo) * (1 - frac) + gather(lo + 1) * frac
