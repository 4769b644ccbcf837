"""The user's cache folder: one place says where the project keeps what it can rebuild."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir(part: str) -> Path:
    """$MICRONAS_CACHE/<part>, else $XDG_CACHE_HOME (or ~/.cache)/micronas/<part>: converted data
    windows (`data`), compiled TFLite-Micro libraries (`tflm`)."""
    root = os.environ.get("MICRONAS_CACHE")
    if root:
        return Path(root).expanduser() / part
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "micronas" / part
