"""Cutting continuous recordings into pure-label windows."""

from __future__ import annotations

import numpy as np

from lut_store.errors import InputError

from ._dataset import Dataset
from ._raw import RawWindows, as_labels, as_signal, check_raw
from ._split import build_dataset

ALIGNS = ("recording", "segment")


def check_window_step(window, step, where: str) -> tuple[int, int]:
    for what, value in (("window", window), ("step", step)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
            raise InputError(f"{where}: {what} must be a positive integer, got {value!r}")
    return int(window), int(step)


def pure_windows(labels: np.ndarray, window: int, step: int, align: str = "recording",
                 breaks: np.ndarray | None = None):
    """Start indices, labels and segment ids of the windows whose samples all share one label.

    align="recording": windows start at 0, step, 2·step, … of the recording and are kept only if
    pure (the usual sliding window). align="segment": windows start at the beginning of every
    labelled run (segment) and slide inside it, so short runs keep more windows.
    `breaks` (bool per sample) starts a new segment even without a label change (e.g. a new subject).
    """
    if align not in ALIGNS:
        raise InputError(f"align must be one of {ALIGNS}, got {align!r}")
    n = len(labels)
    change = np.zeros(n, bool)
    if n:
        change[1:] = labels[1:] != labels[:-1]
        if breaks is not None:
            change[1:] |= breaks[1:]
    run = np.cumsum(change)
    if n < window:
        empty = np.zeros(0, np.int64)
        return empty, empty, empty
    if align == "recording":
        starts = np.arange(0, n - window + 1, step, dtype=np.int64)
        starts = starts[run[starts] == run[starts + window - 1]]
    else:
        run_starts = np.flatnonzero(np.r_[True, change[1:]])
        run_ends = np.r_[run_starts[1:], n]
        pieces = [np.arange(a, b - window + 1, step, dtype=np.int64)
                  for a, b in zip(run_starts, run_ends) if b - a >= window]
        starts = np.concatenate(pieces) if pieces else np.zeros(0, np.int64)
    return starts, labels[starts], run[starts].astype(np.int64)


def gather(signal: np.ndarray, starts: np.ndarray, window: int) -> np.ndarray:
    """(n_windows, window, S) copies of signal[start:start+window]."""
    if len(starts) == 0:
        return np.zeros((0, window, signal.shape[1]), np.float32)
    idx = starts[:, None] + np.arange(window)[None, :]
    return signal[idx].astype(np.float32)


def windows_from_recording(recording, labels, window: int, step: int | None = None, *,
                           name: str = "recording", classes=None, channels=None,
                           sample_rate_hz: float | None = None, subjects=None,
                           ignore_labels=(), align: str = "recording", seed: int = 0,
                           val_fraction: float = 0.1, test_fraction: float = 0.2,
                           normalize: bool = True) -> Dataset:
    """A Dataset from one continuous recording (T_total, S) with a label per sample (T_total,).

    Only pure-label windows are kept (every sample of a window has the same label). Negative labels
    and those in `ignore_labels` mark unlabelled time (e.g. a null class) and are never a window's
    label; the others must be 0..K-1 (K = len(classes) if given, else max + 1). `subjects` (one id
    per sample) makes windows stop at subject changes and the splits subject-wise; without subjects
    the splits are made of whole labelled segments (each run of a label), never of single windows
    cut from the same run, unless a class has fewer than two runs.
    """
    where = f"recording {name!r}"
    step = window if step is None else step
    window, step = check_window_step(window, step, where)
    signal = as_signal(recording, where, "recording", 2)
    lab = as_labels(labels, where)
    if len(lab) != len(signal):
        raise InputError(f"{where}: {len(signal)} samples but {len(lab)} labels")
    if signal.shape[1] < 1:
        raise InputError(f"{where}: the recording has no sensor channel (S = 0)")
    ignore = {int(v) for v in np.atleast_1d(np.asarray(ignore_labels, dtype=np.int64))}
    subj = None
    breaks = None
    if subjects is not None:
        subj = as_labels(subjects, where, "subjects")
        if len(subj) != len(signal):
            raise InputError(f"{where}: {len(signal)} samples but {len(subj)} subject ids")
        breaks = np.r_[False, subj[1:] != subj[:-1]]
    starts, y, segs = pure_windows(lab, window, step, align, breaks)
    keep = (y >= 0) & ~np.isin(y, list(ignore))
    starts, y, segs = starts[keep], y[keep], segs[keep]
    if len(y) == 0:
        raise InputError(f"{where}: no pure-label window of {window} samples (recording of {len(lab)} "
                         f"samples; check the window length and the labels)")
    k = len(classes) if classes is not None else int(y.max()) + 1
    if y.max() >= k:
        raise InputError(f"{where}: labels must be in 0..{k - 1} ({k} class names), got {int(y.max())}")
    class_names = tuple(str(c) for c in classes) if classes is not None else tuple(str(i) for i in range(k))
    channel_names = (tuple(str(c) for c in channels) if channels is not None
                     else tuple(f"ch{i}" for i in range(signal.shape[1])))
    raw = RawWindows(
        x=gather(signal, starts, window), y=y, classes=class_names, channels=channel_names,
        sample_rate_hz=sample_rate_hz,
        subjects=None if subj is None else subj[starts], groups=segs,
        info={"source": "continuous recording (in memory)",
              "windowing": f"window {window}, step {step}, pure-label windows aligned to the {align}"},
    )
    return build_dataset(name, check_raw(raw, where), seed=seed, val_fraction=val_fraction,
                         test_fraction=test_fraction, normalize=normalize)
