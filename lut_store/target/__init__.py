"""The target: a TFLite-Micro + CMSIS-NN runner firmware for an int8 .tflite, built with the Arm
cross toolchain against the user's TFLM tree (`tflm=DIR` or $MICRONAS_TFLM), run on an emulated
Cortex-M4F or Cortex-M33 (QEMU's mps2-an386 / mps2-an505), its line protocol parsed.

    run = run_model(model_bytes, inputs_int8, "qemu-m33", tflm="../shared/tflm/tree")
    run.outputs, run.arena["head"], run.flash["total"], run.emulator_ticks

The TFLM library is compiled once per (core, flags, compiler, tree content) into
$MICRONAS_CACHE/tflm (default ~/.cache/micronas/tflm). The firmware sources are package data
(lut_store/target/firmware); `board_generic.c` ports the runner to a real board. Ticks on QEMU are
emulator figures (virtual-clock ticks), never board cycles.

Profiling a board: `build_profile` links many single-layer models into ONE image (or
`export_profile_sources` for a board project), `run_profile` runs it under QEMU, `read_profile`
reads its output (damaged lines skipped, a reconnect's repeats dropped) and `profile_records`
writes what it reports as measurement records; `emulated_board` is a QEMU target's board file.

Needs the Debian packages gcc-arm-none-eabi binutils-arm-none-eabi libnewlib-arm-none-eabi
libstdc++-arm-none-eabi-newlib qemu-system-arm (`make toolchain`).
"""

from ._profile import (
    NOT_REPORTED,
    ProfileLog,
    build_profile,
    check_profile_target,
    emulated_board,
    export_profile_sources,
    profile_records,
    read_profile,
    run_profile,
)
from ._protocol import PROTOCOL_VERSION, ProtocolError, parse_line, parse_lines
from ._run import TargetRun, check_model, export_sources, random_windows, run_model
from ._targets import TARGETS, Target, load_target
from ._toolchain import TFLM_ENV

__all__ = [
    "NOT_REPORTED",
    "PROTOCOL_VERSION",
    "TARGETS",
    "TFLM_ENV",
    "ProfileLog",
    "ProtocolError",
    "Target",
    "TargetRun",
    "build_profile",
    "check_model",
    "check_profile_target",
    "emulated_board",
    "export_profile_sources",
    "export_sources",
    "load_target",
    "parse_line",
    "parse_lines",
    "profile_records",
    "random_windows",
    "read_profile",
    "run_model",
    "run_profile",
]
