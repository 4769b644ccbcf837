"""Targets are data: a core's compiler flags, a board layer and a memory map, no code per target.

The two built-in targets are QEMU's MPS2 machines (facts from QEMU 7.2, see the TFLM notes): AN386
is a Cortex-M4F, AN505 a Cortex-M33 that boots Secure (a Secure-only program needs no SAU/MPC
set-up, so it is linked at the Secure aliases). The `generic` board layer is for real boards: it
reads DWT CYCCNT and writes through a putchar the user supplies, see firmware/board_generic.c.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from ..errors import InputError

__all__ = ["CORES", "TARGETS", "Target", "load_target"]

# Per-core compiler flags, as TFLM's own cortex_m_generic makefiles set them (hard float).
CORES: dict[str, dict] = {
    "cortex-m4f": {
        "cpu": ("-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"),
        "defines": ("-DCPU_M4=1", "-DARMCM4",
                    '-DCMSIS_DEVICE_ARM_CORTEX_M_XX_HEADER_FILE="ARMCM4.h"'),
        "device": "ARMCM4",
    },
    "cortex-m33": {
        "cpu": ("-mcpu=cortex-m33", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv5-sp-d16"),
        "defines": ("-DCPU_M33=1", "-DARMCM33",
                    '-DCMSIS_DEVICE_ARM_CORTEX_M_XX_HEADER_FILE="ARMCM33.h"'),
        "device": "ARMCM33",
    },
}


@dataclass(frozen=True)
class Target:
    """Where the runner firmware runs: `machine` is the QEMU machine (None for a real board).

    `ram_bytes` may be set below what the machine has (`target.with_memory(ram_bytes=64 * 1024)`)
    to check that a model fits a smaller board: the linker script gives the arena only that RAM."""

    name: str
    core: str                     # a key of CORES
    board: str                    # board layer: "qemu-mps2" or "generic"
    machine: str | None
    flash_origin: int
    flash_bytes: int
    ram_origin: int
    ram_bytes: int
    uart_base: int = 0
    clock_hz: int = 0             # the tick counter's clock
    timer: str = "DWT CYCCNT"     # what the ticks count
    stack_bytes: int = 16 * 1024

    def __post_init__(self) -> None:
        if self.core not in CORES:
            raise InputError(f"target {self.name!r}: unknown core {self.core!r} "
                             f"(known: {', '.join(sorted(CORES))})")

    @property
    def cpu_flags(self) -> tuple[str, ...]:
        return CORES[self.core]["cpu"]

    @property
    def defines(self) -> tuple[str, ...]:
        return CORES[self.core]["defines"]

    @property
    def device(self) -> str:
        return CORES[self.core]["device"]

    def with_memory(self, *, ram_bytes: int | None = None,
                    flash_bytes: int | None = None) -> Target:
        return replace(self, ram_bytes=self.ram_bytes if ram_bytes is None else int(ram_bytes),
                       flash_bytes=self.flash_bytes if flash_bytes is None else int(flash_bytes))

    def to_dict(self) -> dict:
        return {"name": self.name, "core": self.core, "board": self.board, "machine": self.machine,
                "flash_origin": self.flash_origin, "flash_bytes": self.flash_bytes,
                "ram_origin": self.ram_origin, "ram_bytes": self.ram_bytes,
                "clock_hz": self.clock_hz, "timer": self.timer}


_MB = 1024 * 1024
TARGETS: dict[str, Target] = {
    "qemu-m4": Target(
        name="qemu-m4", core="cortex-m4f", board="qemu-mps2", machine="mps2-an386",
        flash_origin=0x00000000, flash_bytes=4 * _MB, ram_origin=0x20000000, ram_bytes=4 * _MB,
        uart_base=0x40004000, clock_hz=25_000_000,
        timer="SysTick, QEMU virtual clock 25 MHz (-icount shift=0: 1 ns per instruction)"),
    "qemu-m33": Target(
        name="qemu-m33", core="cortex-m33", board="qemu-mps2", machine="mps2-an505",
        flash_origin=0x10000000, flash_bytes=4 * _MB, ram_origin=0x38000000, ram_bytes=4 * _MB,
        uart_base=0x50200000, clock_hz=20_000_000,
        timer="SysTick, QEMU virtual clock 20 MHz (-icount shift=0: 1 ns per instruction)"),
}


def load_target(target: Target | str) -> Target:
    if isinstance(target, Target):
        return target
    try:
        return TARGETS[str(target)]
    except KeyError:
        raise InputError(f"unknown target {target!r} (known: {', '.join(TARGETS)})") from None
