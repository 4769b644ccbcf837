"""SkodaR: the Skoda mini checkpoint data set, right arm (`right_classall_clean.mat`).

One continuous recording of one worker, ~98 Hz, one row per sample: column 0 the label, then seven
columns per sensor s (0-based): 7s+1 the sensor id, 7s+2..7s+4 the calibrated x/y/z acceleration,
7s+5..7s+7 the raw values. Ten sensors → 30 calibrated channels.

Labels: 32 is the null class (nothing of interest happening), 48..57 the ten quality-check
gestures. MicroNAS classifies the ten gestures: by default windows of the null class are dropped
(they are not a class, and since only pure-label windows are kept no window mixes a gesture with
null time); `include_null=True` keeps them as an eleventh class "null".

There is a single subject, so the splits are made of whole gesture instances (contiguous labelled
runs), stratified by class, instead of the published code's random windows: windows of one instance
never land on both sides of a split.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lut_store.errors import InputError

from ._raw import RawWindows, as_labels, as_signal
from ._windows import check_window_step, gather, pure_windows

NULL_LABEL = 32
GESTURE_LABELS = tuple(range(48, 58))
GESTURES = ("write_on_notepad", "open_hood", "close_hood", "check_gaps_front_door",
            "open_left_front_door", "close_left_front_door", "close_both_left_doors",
            "check_trunk_gaps", "open_and_close_trunk", "check_steering_wheel")
RATE_HZ = 98.0


def read_mat(path: Path) -> tuple[np.ndarray, str]:
    try:
        from scipy.io import loadmat
        contents = loadmat(str(path))
    except Exception as exc:  # scipy raises many kinds (MatReadError, ValueError, …) on bad files
        raise InputError(f"{path}: not a readable MATLAB file ({type(exc).__name__}: {exc}); "
                         "v7.3 (HDF5) files are not supported") from None
    variables = {k: v for k, v in contents.items() if not k.startswith("__")}
    for name in ("right_classall_clean", "left_classall_clean"):
        if name in variables:
            return np.asarray(variables[name]), name
    arrays = {k: v for k, v in variables.items() if isinstance(v, np.ndarray) and v.ndim == 2}
    if len(arrays) != 1:
        raise InputError(f"{path}: expected the variable 'right_classall_clean' (or a single 2-D "
                         f"matrix), found {sorted(variables)}")
    name, value = next(iter(arrays.items()))
    return np.asarray(value), name


def convert_skoda(path: Path, *, window: int = 64, step: int = 64, include_null: bool = False,
                  sample_rate_hz: float = RATE_HZ, align: str = "recording") -> RawWindows:
    where = str(path)
    window, step = check_window_step(window, step, where)
    matrix, variable = read_mat(path)
    matrix = as_signal(matrix, where, f"matrix {variable!r}", 2)
    n_cols = matrix.shape[1]
    if n_cols < 8 or (n_cols - 1) % 7:
        raise InputError(f"{where}: {variable!r} has {n_cols} columns; expected 1 label column + 7 per "
                         "sensor (e.g. 71 for 10 sensors)")
    n_sensors = (n_cols - 1) // 7
    labels = as_labels(matrix[:, 0], where, "labels (column 0)")
    known = {NULL_LABEL, *GESTURE_LABELS}
    unknown = sorted(set(np.unique(labels).tolist()) - known)
    if unknown:
        raise InputError(f"{where}: unknown labels {unknown[:5]} in column 0; SkodaR uses {NULL_LABEL} "
                         f"(null) and {GESTURE_LABELS[0]}..{GESTURE_LABELS[-1]} (gestures)")
    columns = [7 * s + 2 + axis for s in range(n_sensors) for axis in range(3)]
    signal = matrix[:, columns]
    starts, codes, segs = pure_windows(labels, window, step, align)
    mapping = {code: i for i, code in enumerate(GESTURE_LABELS)}
    if include_null:
        mapping[NULL_LABEL] = len(GESTURE_LABELS)
    keep = np.isin(codes, list(mapping))
    starts, codes, segs = starts[keep], codes[keep], segs[keep]
    y = np.array([mapping[c] for c in codes.tolist()], np.int64)
    classes = GESTURES + (("null",) if include_null else ())
    channels = tuple(f"s{s}_acc_{axis}" for s in range(n_sensors) for axis in "xyz")
    return RawWindows(
        x=gather(signal, starts, window), y=y, classes=classes, channels=channels,
        sample_rate_hz=float(sample_rate_hz), groups=segs,
        info={"source": f"SkodaR ({path.name}, variable {variable!r}, calibrated x/y/z of "
                        f"{n_sensors} sensors)",
              "windowing": f"window {window}, step {step}, pure-label windows aligned to the {align}",
              "null_class": ("kept as class 'null'" if include_null else
                             "windows of the null class (label 32) dropped: 10 gestures, as MicroNAS")},
    )
