"""Converted windows before splitting and scaling, and the checks every loader's output passes."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from lut_store.errors import InputError

from ._dataset import MIN_WINDOW

SPLIT_CODES = {0: "train", 1: "val", 2: "test"}


@dataclass
class RawWindows:
    """What a loader produces (and what the cache stores): raw sensor units, no split yet.

    `split` (0 train pool, 1 validation, 2 test) is set where the source fixes it (an official
    test split, a user's split column); `subjects` allows subject-wise splits; `groups` are
    segment ids (one contiguous labelled run of a recording each) for splits that never put windows
    of the same gesture instance on both sides when there are no subjects.
    """

    x: np.ndarray                      # float32 (N, T, S)
    y: np.ndarray                      # int64 (N,)
    classes: tuple[str, ...]
    channels: tuple[str, ...]
    sample_rate_hz: float | None = None
    subjects: np.ndarray | None = None  # int64 (N,)
    split: np.ndarray | None = None     # int8 (N,)
    groups: np.ndarray | None = None    # int64 (N,)
    info: dict = field(default_factory=dict)
    front_end: dict | None = None       # _front_end.FrontEnd.to_dict(), where a loader cut windows


def as_labels(values, where: str, what: str = "labels") -> np.ndarray:
    """Integer labels as int64; integral floats are accepted (MATLAB exports them), others are not."""
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise InputError(f"{where}: {what} must be one-dimensional, got shape {arr.shape}")
    if arr.dtype == bool or np.issubdtype(arr.dtype, np.integer):
        return arr.astype(np.int64)
    if np.issubdtype(arr.dtype, np.floating):
        if not np.isfinite(arr).all():
            raise InputError(f"{where}: {what} contain NaN or infinite values")
        if not np.array_equal(arr, np.round(arr)):
            bad = arr[arr != np.round(arr)][:3]
            raise InputError(f"{where}: {what} must be integers, got non-integer values such as "
                             f"{bad.tolist()}")
        return arr.astype(np.int64)
    raise InputError(f"{where}: {what} must be integers, got dtype {arr.dtype}"
                     + (" (map class names to 0..K-1 and give the names as classes)"
                        if arr.dtype.kind in "USO" else ""))


def as_signal(values, where: str, what: str, ndim: int) -> np.ndarray:
    """Real numeric values of the given rank, as float32 (float64 stays float64 for filtering)."""
    arr = np.asarray(values)
    if arr.dtype.kind not in "iuf":
        raise InputError(f"{where}: {what} must be real numbers, got dtype {arr.dtype}")
    if arr.ndim != ndim:
        raise InputError(f"{where}: {what} must have {ndim} dimensions, got shape {arr.shape}")
    if arr.size:
        finite = np.isfinite(arr)
        if not finite.all():
            first = np.unravel_index(int(np.argmin(finite)), arr.shape)
            raise InputError(f"{where}: {what}: {int(arr.size - finite.sum())} NaN or infinite "
                             f"values (first at index {tuple(int(i) for i in first)})")
    return arr


def check_raw(raw: RawWindows, where: str) -> RawWindows:
    """Every loader's output goes through here before splitting."""
    x = as_signal(raw.x, where, "windows", 3)
    n, t, s = x.shape
    if n == 0:
        raise InputError(f"{where}: no windows (nothing left after windowing and filtering labels)")
    if s < 1:
        raise InputError(f"{where}: windows have no sensor channel (S = 0)")
    if t < MIN_WINDOW:
        raise InputError(f"{where}: windows have {t} time steps; the search space needs at least "
                         f"{MIN_WINDOW}")
    y = as_labels(raw.y, where)
    if len(y) != n:
        raise InputError(f"{where}: {n} windows but {len(y)} labels")
    k = len(raw.classes)
    if y.min() < 0 or y.max() >= k:
        raise InputError(f"{where}: labels must be in 0..{k - 1} ({k} classes), "
                         f"got values in {int(y.min())}..{int(y.max())}")
    if len(raw.channels) != s:
        raise InputError(f"{where}: {len(raw.channels)} channel names for {s} channels")
    for what in ("subjects", "split", "groups"):
        values = getattr(raw, what)
        if values is None:
            continue
        values = as_labels(values, where, what)
        if len(values) != n:
            raise InputError(f"{where}: {n} windows but {len(values)} {what} entries")
        if what == "split" and not np.isin(values, list(SPLIT_CODES)).all():
            bad = sorted(set(np.unique(values).tolist()) - set(SPLIT_CODES))
            raise InputError(f"{where}: split values must be 0 (train), 1 (validation) or 2 (test), "
                             f"got {bad}")
        setattr(raw, what, values.astype(np.int8 if what == "split" else np.int64))
    with np.errstate(over="ignore"):
        raw.x = x.astype(np.float32, copy=False)
    if x.dtype != np.float32 and not np.isfinite(raw.x).all():
        raise InputError(f"{where}: windows hold values beyond the float32 range (|x| > 3.4e38)")
    raw.y = y
    return raw
