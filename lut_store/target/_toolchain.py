"""Finding what a target build needs: the cross toolchain, QEMU, a TFLM tree, the cache folder.

Every miss is one InputError line that says what to install or set, raised before anything is
built or written.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from .._cache import cache_dir
from ..errors import InputError

__all__ = ["TFLM_ENV", "Toolchain", "cache_root", "find_qemu", "find_tflm", "find_toolchain",
           "tree_hash"]

TFLM_ENV = "MICRONAS_TFLM"
APT_PACKAGES = ("gcc-arm-none-eabi binutils-arm-none-eabi libnewlib-arm-none-eabi "
                "libstdc++-arm-none-eabi-newlib")
_TREE_MARKER = Path("tensorflow/lite/micro/micro_interpreter.h")
_CMSIS_NN_MARKER = Path("third_party/cmsis_nn/Include/arm_nnfunctions.h")


@dataclass(frozen=True)
class Toolchain:
    gcc: str
    gxx: str
    ar: str
    size: str
    version: str          # first line of `gcc --version`: part of the library's cache key


def find_toolchain() -> Toolchain:
    tools = {name: shutil.which(f"arm-none-eabi-{name}") for name in ("gcc", "g++", "ar", "size")}
    missing = [f"arm-none-eabi-{n}" for n, path in tools.items() if path is None]
    if missing:
        raise InputError(f"{', '.join(missing)} not found on PATH: install the Arm cross toolchain "
                         f"(Debian/Ubuntu: apt-get install {APT_PACKAGES}; or `make toolchain`)")
    try:
        out = subprocess.run([tools["gcc"], "--version"], capture_output=True, text=True,
                             timeout=60, check=True).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        raise InputError(f"{tools['gcc']} does not run ({exc}): reinstall {APT_PACKAGES}") from None
    return Toolchain(tools["gcc"], tools["g++"], tools["ar"], tools["size"],
                     out.splitlines()[0].strip() if out else "unknown")


def find_qemu() -> str:
    path = shutil.which("qemu-system-arm")
    if path is None:
        raise InputError("qemu-system-arm not found on PATH: install QEMU's Arm system emulator "
                         "(Debian/Ubuntu: apt-get install qemu-system-arm; or `make toolchain`)")
    return path


def find_tflm(tflm: str | os.PathLike | None = None) -> Path:
    """The TFLM tree: `tflm` if given, else $MICRONAS_TFLM. It must be a tree as TFLM's
    create_tflm_tree.py writes it with OPTIMIZED_KERNEL_DIR=cmsis_nn (CMSIS-NN sources included)."""
    source = "--tflm" if tflm is not None else f"${TFLM_ENV}"
    raw = tflm if tflm is not None else os.environ.get(TFLM_ENV)
    if not raw:
        raise InputError(f"no TFLite-Micro tree given: pass --tflm DIR or set ${TFLM_ENV} to a tree "
                         "made by TFLM's create_tflm_tree.py with OPTIMIZED_KERNEL_DIR=cmsis_nn")
    path = Path(raw).expanduser()
    if not (path / _TREE_MARKER).is_file():
        raise InputError(f"{source} {path}: not a TFLite-Micro tree (no {_TREE_MARKER}); pass "
                         f"--tflm DIR or set ${TFLM_ENV} to a tree made by create_tflm_tree.py")
    if not (path / _CMSIS_NN_MARKER).is_file():
        raise InputError(f"{source} {path}: the tree has no CMSIS-NN ({_CMSIS_NN_MARKER}); make it "
                         "with create_tflm_tree.py --makefile_options=\"OPTIMIZED_KERNEL_DIR=cmsis_nn"
                         " TARGET=cortex_m_generic ...\"")
    return path.resolve()


_HASHED_SUFFIXES = {".c", ".cc", ".cpp", ".h", ".hpp", ".inc"}
_tree_hash_memo: dict[tuple, str] = {}


def tree_hash(tree: Path) -> str:
    """SHA-256 over the relative path and content of every source file of the tree. Memoised per
    process on (path, file count, newest mtime) because the tree is read on every build."""
    files = sorted(p for p in tree.rglob("*") if p.suffix in _HASHED_SUFFIXES and p.is_file())
    stamp = (str(tree), len(files), max((p.stat().st_mtime_ns for p in files), default=0))
    if stamp in _tree_hash_memo:
        return _tree_hash_memo[stamp]
    h = hashlib.sha256()
    for p in files:
        h.update(str(p.relative_to(tree)).encode() + b"\0")
        h.update(p.read_bytes())
        h.update(b"\0")
    _tree_hash_memo[stamp] = h.hexdigest()
    return _tree_hash_memo[stamp]


def cache_root() -> Path:
    """$MICRONAS_CACHE (or ~/.cache/micronas) / tflm: where compiled TFLM libraries are kept."""
    return cache_dir("tflm")
