"""Windowed user data as .npz (read with allow_pickle=False: an .npz can never run code).

    X        float (N, C, T)  windows × channels × time steps (channels first, as most tools save)
    y        int (N,)         labels 0..K-1
    subject  int (N,)         optional: splits become subject-wise
    split    int (N,)         optional: 0 train, 1 validation, 2 test (missing parts are carved
                              from the training windows)
    meta     str              optional JSON: {"classes": [...], "channels": [...], "sample_rate_hz": x}
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np

from lut_store.errors import InputError

from ._raw import RawWindows, as_labels, as_signal

_META_KEYS = {"classes": ("classes", "class_names"), "channels": ("channels", "channel_names"),
              "sample_rate_hz": ("sample_rate_hz", "sample_rate")}


def _read(path: Path) -> dict[str, np.ndarray]:
    try:
        with open(path, "rb") as f:
            magic = f.read(6)
    except OSError as exc:
        raise InputError(f"{path}: unreadable ({exc})") from None
    if magic.startswith(b"\x93NUMPY"):
        raise InputError(f"{path}: a single .npy array, not an .npz archive with X and y (use np.savez)")
    if magic[:1] == b"\x80":
        raise InputError(f"{path}: a pickle; pickles are never loaded (save X and y with np.savez)")
    if not magic.startswith(b"PK"):
        raise InputError(f"{path}: not an .npz archive (a zip of arrays written by np.savez)")
    try:
        archive = np.load(path, allow_pickle=False)
    except ValueError as exc:
        if "pickle" in str(exc):
            raise InputError(f"{path}: holds pickled data; only plain numeric arrays are accepted "
                             "(save with np.savez and no object arrays)") from None
        raise InputError(f"{path}: not a readable .npz archive ({exc})") from None
    except (OSError, EOFError, zipfile.BadZipFile) as exc:
        raise InputError(f"{path}: not a readable .npz archive ({exc})") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise InputError(f"{path}: a single .npy array, not an .npz archive with X and y")
    out = {}
    with archive:
        for key in archive.files:
            try:
                out[key] = archive[key]
            except ValueError as exc:
                if "allow_pickle" in str(exc) or "Object arrays" in str(exc):
                    raise InputError(f"{path}: array {key!r} is an object array (pickled Python objects); "
                                     "store plain numeric arrays (and meta as a JSON string)") from None
                raise InputError(f"{path}: array {key!r} unreadable ({exc})") from None
            except (OSError, EOFError, zipfile.BadZipFile) as exc:
                raise InputError(f"{path}: array {key!r} unreadable ({exc})") from None
    return out


def _meta(path: Path, value: np.ndarray | None) -> dict:
    if value is None:
        return {}
    if value.shape != () or value.dtype.kind not in "US":
        raise InputError(f"{path}: meta must be one JSON string, got an array of shape {value.shape} "
                         f"and dtype {value.dtype}")
    text = value.item()
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    try:
        meta = json.loads(text)
    except (ValueError, RecursionError) as exc:  # also: a number of > 4300 digits, deep nesting
        reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc).split(";")[0]
        raise InputError(f"{path}: meta is not valid JSON ({reason})") from None
    if not isinstance(meta, dict):
        raise InputError(f"{path}: meta must be a JSON object, got {type(meta).__name__}")
    out = {}
    for key, aliases in _META_KEYS.items():
        for alias in aliases:
            if alias in meta:
                out[key] = meta[alias]
                break
    for key in ("classes", "channels"):
        names = out.get(key)
        if names is not None and (not isinstance(names, list)
                                  or not all(isinstance(v, (str, int)) for v in names)):
            raise InputError(f"{path}: meta.{key} must be a list of names")
    rate = out.get("sample_rate_hz")
    if rate is not None and (not isinstance(rate, (int, float)) or isinstance(rate, bool)
                             or not 0 < rate < float("inf")):
        raise InputError(f"{path}: meta.sample_rate_hz must be a positive number, got {rate!r}")
    return out


def convert_npz(path: Path) -> RawWindows:
    arrays = _read(path)
    missing = [k for k in ("X", "y") if k not in arrays]
    if missing:
        raise InputError(f"{path}: missing array(s) {missing}; found {sorted(arrays)} "
                         "(expected X (N, C, T) and y (N,))")
    where = str(path)
    x = arrays["X"]
    if x.ndim != 3:
        raise InputError(f"{where}: X must be (windows, channels, time steps), got shape {x.shape}")
    x = as_signal(x, where, "X", 3)
    n, c, t = x.shape
    if c < 1:
        raise InputError(f"{where}: X has no channel (shape {x.shape}; expected (N, C, T))")
    if t < 16 <= c:
        raise InputError(f"{where}: X has shape {x.shape}, read as (N, C={c}, T={t}): only {t} time "
                         f"steps, the search space needs at least 16. If you saved (N, T, C), "
                         "transpose to (N, C, T)")
    y = as_labels(arrays["y"], where, "y")
    if len(y) != n:
        raise InputError(f"{where}: X has {n} windows but y has {len(y)} labels")
    meta = _meta(path, arrays.get("meta"))
    if len(y) and y.min() < 0:
        raise InputError(f"{where}: y must hold labels 0..K-1, got {int(y.min())}")
    classes = meta.get("classes")
    if classes is None and len(y) and y.max() >= n:
        raise InputError(f"{where}: y holds label {int(y.max())} but X has only {n} windows: labels "
                         "must be 0..K-1 and every class needs windows")
    k = len(classes) if classes is not None else (int(y.max()) + 1 if len(y) else 0)
    if len(y) and y.max() >= k:
        raise InputError(f"{where}: y holds label {int(y.max())} but meta names {k} classes (0..{k - 1})")
    channels = meta.get("channels")
    if channels is not None and len(channels) != c:
        raise InputError(f"{where}: meta.channels names {len(channels)} channels, X has {c}")
    extra = {}
    for key, name in (("subject", "subjects"), ("split", "split")):
        if key in arrays:
            values = as_labels(arrays[key], where, key)
            if len(values) != n:
                raise InputError(f"{where}: X has {n} windows but {key} has {len(values)} entries")
            extra[name] = values
    info = {"source": f"user windows ({path.name})"}
    if "split" in extra:
        info["split_given"] = "the file's split column (0 train, 1 validation, 2 test)"
    return RawWindows(
        x=np.ascontiguousarray(x.transpose(0, 2, 1)), y=y,
        classes=tuple(str(v) for v in classes) if classes is not None else tuple(map(str, range(k))),
        channels=(tuple(str(v) for v in channels) if channels is not None
                  else tuple(f"ch{i}" for i in range(c))),
        sample_rate_hz=meta.get("sample_rate_hz"), subjects=extra.get("subjects"), split=extra.get("split"),
        info=info,
    )
