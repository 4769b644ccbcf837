"""What the on-target tests need: the Arm cross toolchain, qemu-system-arm (`make toolchain`) and
the TFLM tree beside the checkout (../shared/tflm/tree); without them they skip with the reason."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TFLM_TREE = ROOT.parent / "shared" / "tflm" / "tree"
CORES = ("qemu-m4", "qemu-m33")


def missing_target() -> str | None:
    """Why the on-target tests cannot run here, or None."""
    missing = [t for t in ("arm-none-eabi-gcc", "arm-none-eabi-g++", "qemu-system-arm")
               if shutil.which(t) is None]
    if missing:
        return f"{', '.join(missing)} not installed (run `make toolchain`)"
    if not (TFLM_TREE / "tensorflow/lite/micro/micro_interpreter.h").is_file():
        return f"no TFLM tree at {TFLM_TREE}"
    return None


needs_target = pytest.mark.skipif(missing_target() is not None, reason=missing_target() or "")
