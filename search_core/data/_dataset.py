"""The windowed data set a search consumes, and the checks that make it searchable."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from lut_store.errors import InputError

# The search space halves time while ceil(T/2) >= 16, and its classifier pools over at least 16
# steps: a shorter window leaves no valid network.
MIN_WINDOW = 16
MIN_PER_CLASS = 2
SPLITS = ("train", "val", "test")


@dataclass(frozen=True, eq=False)
class Dataset:
    """Windows × time steps × sensor channels, split three ways and z-scored with train statistics.

    `x_*` are float32 (N, T, S): time is the height and the sensor channels are the width of the
    network's input, as MicroNAS lays it out. `y_*` are int64 labels 0..K-1. `norm_mean` and
    `norm_std` (float32, shape (S,)) map raw sensor values to the network's input:
    x = (raw - norm_mean) / norm_std; deployment uses them to quantise raw inputs.
    `info` says where the windows came from and how the splits were formed.
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    classes: tuple[str, ...]
    channels: tuple[str, ...]
    sample_rate_hz: float | None
    norm_mean: np.ndarray
    norm_std: np.ndarray
    subjects_train: np.ndarray | None = None
    subjects_val: np.ndarray | None = None
    subjects_test: np.ndarray | None = None
    info: Mapping[str, str] = field(default_factory=dict)
    # How the splits were formed: "official", "subjects-<fold>of<folds>" or "paper-random"
    # (leaky; search_core.data's _split module owns the protocols).
    protocol: str = "official"
    # What the sensors deliver (search_core.data._front_end.FrontEnd.to_dict()): sensors,
    # channels, rate, window, step and the anti-alias filter; None for pre-cut windows.
    front_end: Mapping | None = None

    @property
    def leaky(self) -> bool:
        return self.protocol == "paper-random"

    def __repr__(self) -> str:
        return (f"Dataset(name={self.name!r}, train={len(self.y_train)}, val={len(self.y_val)}, "
                f"test={len(self.y_test)}, window={self.window}, channels={self.n_channels}, "
                f"classes={self.n_classes})")

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    @property
    def window(self) -> int:
        return int(self.x_train.shape[1])

    @property
    def n_channels(self) -> int:
        return int(self.x_train.shape[2])

    def split(self, which: str) -> tuple[np.ndarray, np.ndarray]:
        if which not in SPLITS:
            raise InputError(f"split must be one of {SPLITS}, got {which!r}")
        return getattr(self, f"x_{which}"), getattr(self, f"y_{which}")

    def normalize(self, raw) -> np.ndarray:
        """Raw sensor values (..., S) to the network's input scale."""
        raw = np.asarray(raw, dtype=np.float32)
        if raw.shape[-1:] != (self.n_channels,):
            raise InputError(f"normalize: last axis must be the {self.n_channels} channels, "
                             f"got shape {raw.shape}")
        return (raw - self.norm_mean) / self.norm_std

    def denormalize(self, x) -> np.ndarray:
        """The network's input back to raw sensor units (..., S)."""
        x = np.asarray(x, dtype=np.float32)
        if x.shape[-1:] != (self.n_channels,):
            raise InputError(f"denormalize: last axis must be the {self.n_channels} channels, "
                             f"got shape {x.shape}")
        return x * self.norm_std + self.norm_mean

    def content_hash(self) -> str:
        """SHA-256 over every split's windows and labels (what a result was computed on)."""
        import hashlib
        digest = hashlib.sha256()
        for which in SPLITS:
            for array in self.split(which):
                digest.update(str((array.dtype.str, array.shape)).encode())
                digest.update(np.ascontiguousarray(array).tobytes())
        return digest.hexdigest()

    def summary(self) -> dict:
        """JSON-serialisable: counts per split, shape, class balance, provenance."""
        splits = {}
        for which in SPLITS:
            x, y = self.split(which)
            counts = np.bincount(y, minlength=self.n_classes)
            subjects = getattr(self, f"subjects_{which}")
            splits[which] = {
                "windows": int(len(y)),
                "class_counts": {name: int(c) for name, c in zip(self.classes, counts)},
                "subjects": None if subjects is None else sorted(int(s) for s in np.unique(subjects)),
            }
        train_counts = np.bincount(self.y_train, minlength=self.n_classes)
        return {
            "name": self.name,
            "shape": [self.window, self.n_channels],
            "window": self.window,
            "n_channels": self.n_channels,
            "n_classes": self.n_classes,
            "classes": list(self.classes),
            "channels": list(self.channels),
            "sample_rate_hz": self.sample_rate_hz,
            "protocol": self.protocol,
            "splits": splits,
            # Largest over smallest training class: 1.0 is perfectly balanced.
            "train_imbalance": float(train_counts.max() / max(train_counts.min(), 1)),
            "info": dict(self.info),
        }


def check_searchable(dataset: Dataset) -> Dataset:
    """Raise InputError unless the MicroNAS search space can be built and trained on `dataset`."""
    where = f"data set {dataset.name!r}"
    for which in SPLITS:
        x, y = dataset.split(which)
        if x.ndim != 3:
            raise InputError(f"{where}: x_{which} must be (windows, time steps, channels), "
                             f"got shape {x.shape}")
        if len(x) != len(y):
            raise InputError(f"{where}: x_{which} has {len(x)} windows but y_{which} has {len(y)} labels")
        if x.shape[1:] != dataset.x_train.shape[1:]:
            raise InputError(f"{where}: x_{which} windows are {x.shape[1:]}, "
                             f"x_train windows {dataset.x_train.shape[1:]}")
    if dataset.n_channels < 1:
        raise InputError(f"{where}: windows have no sensor channel (S = 0)")
    if dataset.window < MIN_WINDOW:
        raise InputError(f"{where}: windows have {dataset.window} time steps; the search space needs "
                         f"at least {MIN_WINDOW} (use a longer window)")
    if dataset.n_classes < 2:
        raise InputError(f"{where}: a classifier needs at least 2 classes, got {dataset.n_classes}")
    if len(dataset.channels) != dataset.n_channels:
        raise InputError(f"{where}: {len(dataset.channels)} channel names for {dataset.n_channels} channels")
    for which in SPLITS:
        y = dataset.split(which)[1]
        if len(y) and (y.min() < 0 or y.max() >= dataset.n_classes):
            raise InputError(f"{where}: y_{which} has labels outside 0..{dataset.n_classes - 1}")
    counts = np.bincount(dataset.y_train, minlength=dataset.n_classes)
    missing = [dataset.classes[k] for k in np.flatnonzero(counts == 0)]
    if missing:
        raise InputError(f"{where}: class(es) {missing} missing from the training split")
    few = {dataset.classes[k]: int(counts[k]) for k in np.flatnonzero(counts < MIN_PER_CLASS)}
    if few:
        raise InputError(f"{where}: too few training windows (need at least {MIN_PER_CLASS} per class): "
                         f"{few}")
    for which in ("val", "test"):
        if len(dataset.split(which)[1]) == 0:
            raise InputError(f"{where}: the {which} split is empty (too few windows to split)")
    return dataset
