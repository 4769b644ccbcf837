"""On-disk cache of converted windows (before splitting, so seeds and fractions stay cheap).

Key: a hash of the loader, its version, every source file's identity (resolved path, size, mtime)
and every conversion parameter. Entries are plain .npz files (no pickles), written atomically
(`lut_store.storage.write_file`) so a crash or a concurrent writer never leaves a torn entry.
"""

from __future__ import annotations

import hashlib
import json
import warnings
import zipfile
from pathlib import Path

import numpy as np

from lut_store import cache_dir
from lut_store.storage import write_file

from ._raw import RawWindows

_FIELDS = ("subjects", "split", "groups")


def default_cache_dir() -> Path:
    return cache_dir("data")


def file_identity(path: Path) -> list:
    st = path.stat()
    return [str(path.resolve()), st.st_size, st.st_mtime_ns]


def cache_key(loader: str, version: int, sources: list[Path], params: dict) -> str:
    payload = json.dumps({"loader": loader, "version": version,
                          "sources": [file_identity(p) for p in sources],
                          "params": params}, sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:24]


def _path(cache_dir: Path, loader: str, key: str) -> Path:
    return cache_dir / f"{loader}-{key}.npz"


def load(cache_dir: Path, loader: str, key: str) -> RawWindows | None:
    """The cached windows, or None (missing, unreadable or from another format: a miss)."""
    path = _path(cache_dir, loader, key)
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as f:
            meta = json.loads(str(f["meta"]))
            if meta.get("key") != key:
                return None
            arrays = {name: f[name] for name in ("x", "y", *_FIELDS) if name in f.files}
        return RawWindows(
            x=arrays["x"], y=arrays["y"], classes=tuple(meta["classes"]),
            channels=tuple(meta["channels"]), sample_rate_hz=meta["sample_rate_hz"],
            subjects=arrays.get("subjects"), split=arrays.get("split"), groups=arrays.get("groups"),
            info=dict(meta["info"]), front_end=meta.get("front_end"),
        )
    except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile, EOFError):
        return None


def store(cache_dir: Path, loader: str, key: str, raw: RawWindows) -> Path | None:
    """Write atomically; a cache that cannot be written only costs time, so it warns, never fails."""
    path = _path(cache_dir, loader, key)
    meta = {"key": key, "classes": list(raw.classes), "channels": list(raw.channels),
            "sample_rate_hz": raw.sample_rate_hz, "info": raw.info, "front_end": raw.front_end}
    arrays = {"x": raw.x, "y": raw.y, "meta": np.array(json.dumps(meta))}
    arrays.update({name: getattr(raw, name) for name in _FIELDS if getattr(raw, name) is not None})
    try:
        write_file(path, lambda fh: np.savez(fh, **arrays))   # temp + fsync + rename + fsync dir
        return path
    except OSError as exc:
        warnings.warn(f"data cache not written to {cache_dir}: {exc}", RuntimeWarning, stacklevel=3)
        return None
