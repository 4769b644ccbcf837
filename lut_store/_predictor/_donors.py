"""Which fitted board predicts for a board without (enough) measurements of its own.

Cycles of int8 kernels do not depend on the clock or the FPU, so the donor is the closest board
by core: the same core family first, else the same architecture, else the same CMSIS-NN build
flavour (DSP, MVE, plain C); among equals the one with the most rows. Emulated boards (their
"cycles" are an emulator's instruction counts) and real ones never stand in for each other.
"""

from __future__ import annotations

from collections.abc import Iterable

from .._mcu import Mcu, load_mcu
from ..errors import InputError

# A board whose definition is not known: it ranks after every known core family.
UNKNOWN_CORE = "unknown"

# Core families → (architecture, CMSIS-NN build flavour): the donor search order.
_CORES = {
    "cortex-m0": ("armv6-m", "plain"), "cortex-m0+": ("armv6-m", "plain"),
    "cortex-m1": ("armv6-m", "plain"), "cortex-m3": ("armv7-m", "plain"),
    "cortex-m4": ("armv7e-m", "dsp"), "cortex-m7": ("armv7e-m", "dsp"),
    "cortex-m23": ("armv8-m.base", "plain"), "cortex-m33": ("armv8-m.main", "dsp"),
    "cortex-m35p": ("armv8-m.main", "dsp"), "cortex-m52": ("armv8.1-m", "mve"),
    "cortex-m55": ("armv8.1-m", "mve"), "cortex-m85": ("armv8.1-m", "mve"),
}


def _core_distance(a: str, b: str) -> int:
    if a == b:
        return 0
    arch_a, flavour_a = _CORES.get(a, (a, a))
    arch_b, flavour_b = _CORES.get(b, (b, b))
    if arch_a == arch_b:
        return 1
    return 2 if flavour_a == flavour_b else 3


def ranked_donors(boards: dict, family: str, exclude: str | None = None,
                  need: tuple[str, str] | None = None, emulated: bool = False) -> list[str]:
    """Fitted boards (other than `exclude`, with model `need` = (op, key) if given, emulated or
    real as asked), closest to the core `family` first."""
    names = [n for n in boards if n != exclude
             and bool(boards[n].get("emulated")) == emulated
             and (need is None or need[1] in boards[n]["ops"].get(need[0], {}).get("models", {}))]
    return sorted(names, key=lambda n: (_core_distance(family, boards[n]["core_family"]),
                                        -int(boards[n].get("rows", 0)), n))


def donor_for(boards: dict, family: str, exclude: str | None = None,
              need: tuple[str, str] | None = None, emulated: bool = False) -> str | None:
    ranked = ranked_donors(boards, family, exclude, need, emulated)
    return ranked[0] if ranked else None


def board_definitions(names: Iterable[str]) -> list[Mcu]:
    """The definitions `load_mcu` finds for board names (built-in or $MICRONAS_MCU_PATH); a name
    it does not know is left out (the predictor then treats that board's core as unknown)."""
    found = []
    for name in names:
        try:
            found.append(load_mcu(name))
        except InputError:
            pass
    return found


def unknown_board(name: str) -> Mcu:
    """A stand-in definition for a board only known by name (only its name and core are used)."""
    return Mcu(name=name, core=UNKNOWN_CORE, clock_hz=1, sram_bytes=1, flash_bytes=1)
