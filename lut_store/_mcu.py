"""Boards are data: one JSON file per MCU, no code per board."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from .errors import InputError

_BUILTIN_DIR = Path(__file__).with_name("mcus")
# Extra folders of board files, separated like PATH. Read on every lookup (never cached) so that
# two searches in one process can use boards from different folders.
MCU_PATH_ENV = "MICRONAS_MCU_PATH"

_REQUIRED = {"name": str, "core": str, "clock_hz": int, "sram_bytes": int, "flash_bytes": int}


@dataclass(frozen=True)
class Mcu:
    """A microcontroller board: what converts cycles to time and bounds RAM and flash."""

    name: str
    core: str
    clock_hz: int
    sram_bytes: int
    flash_bytes: int
    description: str = ""
    # Which on-device measurements back this board's LUT (backend, note); None = predicted only.
    measurements: dict | None = field(default=None, compare=False)
    # The runtime's code per set of kernels, {"ADD+CONV_2D+MEAN+SOFTMAX": bytes}, when this
    # board's firmware was measured; None: its core's record (lut_store._flash).
    runtime_flash: dict | None = field(default=None, compare=False)

    @property
    def core_family(self) -> str:
        """The core without its FPU suffix: cycle counts of int8 kernels do not depend on the FPU."""
        core = self.core.lower()
        return core[:-1] if core.endswith("f") else core

    @property
    def emulated(self) -> bool:
        """Whether the board is an emulator (its "cycles" are the emulator's counts, never a real
        core's): `measurements.emulated` in its file."""
        return bool((self.measurements or {}).get("emulated"))

    def cycles_to_ms(self, cycles: float) -> float:
        return float(cycles) * 1000.0 / self.clock_hz

    def to_dict(self) -> dict:
        return {
            "name": self.name, "description": self.description, "core": self.core,
            "clock_hz": self.clock_hz, "sram_bytes": self.sram_bytes,
            "flash_bytes": self.flash_bytes, "measurements": self.measurements,
            **({"runtime_flash": self.runtime_flash} if self.runtime_flash is not None else {}),
        }

    @classmethod
    def from_dict(cls, data: object, source: str = "<dict>") -> "Mcu":
        if not isinstance(data, dict):
            raise InputError(f"{source}: an MCU definition must be a JSON object")
        for key, typ in _REQUIRED.items():
            if key not in data:
                raise InputError(f"{source}: MCU definition lacks '{key}'")
            value = data[key]
            if typ is int and (isinstance(value, bool) or not isinstance(value, int)):
                raise InputError(f"{source}: '{key}' must be an integer, got {value!r}")
            if typ is str and (not isinstance(value, str) or not value.strip()):
                raise InputError(f"{source}: '{key}' must be a non-empty string")
            if typ is int and value <= 0:
                raise InputError(f"{source}: '{key}' must be positive, got {value}")
        measurements = data.get("measurements")
        if measurements is not None and not isinstance(measurements, dict):
            raise InputError(f"{source}: 'measurements' must be an object or null")
        runtime = data.get("runtime_flash")
        if runtime is not None and (not isinstance(runtime, dict) or not runtime or any(
                not isinstance(k, str) or isinstance(v, bool) or not isinstance(v, int) or v <= 0
                for k, v in runtime.items())):
            raise InputError(f"{source}: 'runtime_flash' must map kernel sets "
                             "(\"ADD+CONV_2D+...\") to positive byte counts")
        return cls(
            name=data["name"], core=data["core"], clock_hz=data["clock_hz"],
            sram_bytes=data["sram_bytes"], flash_bytes=data["flash_bytes"],
            description=str(data.get("description", "")), measurements=measurements,
            runtime_flash=runtime,
        )

    @classmethod
    def from_file(cls, path: str | os.PathLike) -> "Mcu":
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise InputError(f"{path}: no such MCU file") from None
        except (OSError, ValueError) as exc:  # ValueError: not UTF-8, not JSON, > 4300 digits
            raise InputError(f"{path}: not a readable JSON MCU file "
                             f"({str(exc).split(';')[0]})") from None
        except RecursionError:
            raise InputError(f"{path}: not a readable JSON MCU file (nested too deeply)") from None
        return cls.from_dict(data, str(path))


def _search_dirs() -> list[Path]:
    extra = [Path(p) for p in os.environ.get(MCU_PATH_ENV, "").split(os.pathsep) if p]
    return extra + [_BUILTIN_DIR]


def list_mcus() -> list[str]:
    """Names of every board that `load_mcu` finds (user folders first, then the built-in ones)."""
    names = {p.stem for d in _search_dirs() if d.is_dir() for p in d.glob("*.json")}
    return sorted(names)


def load_mcu(name_or_path: str | os.PathLike | Mcu) -> Mcu:
    """A board by name (built-in or from $MICRONAS_MCU_PATH) or by the path of its JSON file."""
    if isinstance(name_or_path, Mcu):
        return name_or_path
    text = str(name_or_path)
    if text.endswith(".json") or os.sep in text:
        return Mcu.from_file(text)
    for folder in _search_dirs():
        candidate = folder / f"{text}.json"
        if candidate.is_file():
            mcu = Mcu.from_file(candidate)
            if mcu.name != text:
                raise InputError(f"{candidate}: file name and 'name' ({mcu.name!r}) disagree")
            return mcu
    raise InputError(f"unknown MCU {text!r}; known: {', '.join(list_mcus())} "
                     f"(add a board as a JSON file in ${MCU_PATH_ENV} or pass its path)")
