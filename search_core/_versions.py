"""The versions a result depends on, for its provenance record."""

from __future__ import annotations

import platform

# Everything a result depends on, read from the installed metadata (TensorFlow and Ray are not
# imported for it).
PACKAGES = ("micronas", "torch", "numpy", "pandas", "pyarrow", "tensorflow", "tf_keras",
            "tensorflow-model-optimization", "ai-edge-litert", "tflite_micro", "ray", "optuna",
            "s3fs")


def versions() -> dict:
    out = {"python": platform.python_version(), "platform": platform.platform()}
    for name in PACKAGES:
        out[name] = _package_version(name)
    return out


def _package_version(name: str) -> str | None:
    try:
        from importlib.metadata import version
        return version(name)
    except Exception:  # noqa: BLE001 - not installed
        return None
