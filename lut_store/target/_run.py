"""Running an int8 model on a target: check, build (library cached), run under QEMU, parse.

Everything that can be refused is refused before anything is built: a missing toolchain, QEMU or
TFLM tree, a model whose input/output is not int8, an op the runner cannot register.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..tflite import int8_io, read_model
from ._firmware import (
    Firmware,
    build_runner,
    firmware_source,
    generate_sources,
    model_ops,
    resolver_methods,
)
from ._library import build_library
from ._protocol import ProtocolError, parse_lines
from ._targets import Target, load_target
from ._toolchain import find_qemu, find_tflm, find_toolchain

__all__ = ["TargetRun", "check_model", "export_sources", "random_windows", "run_model"]


def _read_model(data: bytes, source: str):
    return read_model(data, source)


@dataclass(frozen=True)
class TargetRun:
    """What the runner reported. Ticks are *emulator* figures on QEMU targets: QEMU's virtual
    clock under `-icount shift=0` (1 ns per instruction) read through the `timer`, i.e. scaled
    instruction counts, repeatable run to run, but not cycles of a real core."""

    target: Target
    outputs: np.ndarray                 # (windows, *output shape) int8
    arena: dict[str, int]               # head (non-persistent), tail (persistent), total, available
    flash: dict[str, int]               # total = text + rodata + data; model, windows, runtime
    emulator_ticks: np.ndarray          # (windows,) ticks of each MicroInterpreter::Invoke
    op_emulator_ticks: np.ndarray       # (windows, ops) ticks of each op's Eval
    op_names: tuple[str, ...]
    timer: str
    timer_hz: int
    scratch: tuple[dict, ...]           # {"node", "op", "bytes": [...]}: kernel scratch requests
    build_seconds: float                # runner build (sources + link)
    library_seconds: float              # TFLM library build; 0 when it came from the cache
    run_seconds: float
    log: tuple[str, ...] = field(default=(), repr=False)

    @property
    def scratch_bytes(self) -> int:
        return sum(sum(s["bytes"]) for s in self.scratch)

    def summary(self) -> dict:
        """A JSON-friendly digest (medians over windows)."""
        per_op = np.median(self.op_emulator_ticks, axis=0) if self.op_emulator_ticks.size \
            else np.zeros(0)
        return {
            "target": self.target.name, "machine": self.target.machine,
            "core": self.target.core, "windows": len(self.outputs),
            "arena": dict(self.arena), "flash": dict(self.flash),
            "scratch": [dict(s) for s in self.scratch],
            "emulator_ticks": {
                "timer": self.timer, "timer_hz": self.timer_hz,
                "per_invoke_median": float(np.median(self.emulator_ticks))
                if self.emulator_ticks.size else None,
                "per_op_median": [{"node": i, "op": name, "ticks": float(t)}
                                  for i, (name, t) in enumerate(zip(self.op_names, per_op))],
                "note": "QEMU virtual-clock ticks (-icount shift=0), not board cycles",
            },
            "build_seconds": round(self.build_seconds, 2),
            "library_seconds": round(self.library_seconds, 2),
            "run_seconds": round(self.run_seconds, 2),
        }


def random_windows(model_bytes: bytes, n: int, seed: int = 0, source: str = "<model>"
                   ) -> np.ndarray:
    """`n` seeded uniform int8 inputs (n, *input shape) for a model without a data set."""
    inp, _ = int8_io(_read_model(bytes(model_bytes), source), source)
    rng = np.random.default_rng(seed)
    return rng.integers(-128, 128, size=(int(n), *inp.shape), dtype=np.int8)


def _flat_windows(inputs, inp, source: str) -> np.ndarray:
    """int8 windows -> (N, input bytes); InputError unless they fit the model's input."""
    inputs = np.asarray(inputs)
    if inputs.dtype != np.int8:
        raise InputError(f"{source}: inputs must be int8 (got {inputs.dtype}); quantise them first")
    if inputs.ndim == 0 or len(inputs) == 0 or inputs[0].size != inp.nbytes:
        raise InputError(f"{source}: inputs of shape {tuple(inputs.shape)} do not fit the model "
                         f"input {list(inp.shape)} (want N x {inp.nbytes} values, N >= 1)")
    return inputs.reshape(len(inputs), -1)


def check_model(model_bytes: bytes, tflm=None, source: str = "<model>") -> list[str]:
    """The model's ops if the runner can run it; InputError naming the first op it cannot."""
    tree = find_tflm(tflm)
    model = _read_model(bytes(model_bytes), source)
    int8_io(model, source)
    methods = resolver_methods(tree)
    ops = model_ops(model)
    for op in ops:
        if op not in methods:
            raise InputError(f"{source}: op {op} cannot be registered by the runner (the TFLM "
                             f"tree's MicroMutableOpResolver has no builtin method for it)")
    return ops


def run_model(model: bytes | str | os.PathLike, inputs: np.ndarray | None = None,
              target: Target | str = "qemu-m4", *, tflm=None, windows: int = 8, seed: int = 0,
              timeout: float | None = None, cache=None, keep=None, jobs: int = 2,
              log=None) -> TargetRun:
    """Build the runner for `model` and run it on `target` (a QEMU machine).

    `inputs`: int8 windows (N, *input shape); None = `windows` seeded random ones. `tflm`: the
    TFLM tree (default $MICRONAS_TFLM). `cache`: the library cache folder (default
    $MICRONAS_CACHE/tflm). `keep`: a folder to keep the generated sources and the image in."""
    source = str(model) if not isinstance(model, (bytes, bytearray, memoryview)) else "<model>"
    if not isinstance(model, (bytes, bytearray, memoryview)):
        try:
            model = Path(model).read_bytes()
        except OSError as exc:
            raise InputError(f"{source}: cannot read the model ({exc.strerror})") from None
    model = bytes(model)
    target = load_target(target)
    if target.machine is None:
        raise InputError(f"target {target.name!r} is a real board: flash the generated sources "
                         "and read its serial output with parse_lines (no emulator to run)")
    ops = check_model(model, tflm, source)           # before anything is built
    tree = find_tflm(tflm)
    toolchain = find_toolchain()
    qemu = find_qemu()

    parsed = _read_model(model, source)
    inp, out = int8_io(parsed, source)
    if inputs is None:
        inputs = random_windows(model, windows, seed, source)
    flat = _flat_windows(inputs, inp, source)

    library = build_library(tree, target, toolchain, jobs=jobs, cache=cache, log=log)
    with tempfile.TemporaryDirectory(prefix="micronas-target-") as tmp:
        folder = Path(keep) if keep is not None else Path(tmp)
        firmware = build_runner(model, flat, ops, resolver_methods(tree), tree=tree,
                                target=target, toolchain=toolchain, library=library,
                                folder=folder, jobs=jobs)
        t0 = time.monotonic()
        limit = timeout if timeout is not None else 120.0 + 2.0 * len(flat)
        records = _run_qemu(qemu, target, firmware, limit)
        run_seconds = time.monotonic() - t0
    return _assemble(records, target, firmware, model, flat, out, library.build_seconds,
                     run_seconds, parsed)


def export_sources(model_bytes: bytes, folder, inputs: np.ndarray | None = None, *, tflm=None,
                   windows: int = 8, seed: int = 0, name: str = "board") -> list[Path]:
    """Write the runner for a real board into `folder`: runner.cc, board.h, board_generic.c (DWT
    CYCCNT + your `micronas_putchar`) and the generated mn_model.h, mn_model_data.c,
    mn_inputs.c, mn_ops.cc. Add them and the TFLM + CMSIS-NN sources to the board's project
    (STM32CubeIDE, PlatformIO, Zephyr, Arduino) and call micronas_run(); see board_generic.c."""
    model_bytes = bytes(model_bytes)
    ops = check_model(model_bytes, tflm)
    if inputs is None:
        inputs = random_windows(model_bytes, windows, seed)
    inp, _ = int8_io(_read_model(model_bytes, "<model>"), "<model>")
    flat = _flat_windows(inputs, inp, "<model>")
    files = {n: firmware_source(n) for n in ("runner.cc", "board.h", "board_generic.c")}
    files.update(generate_sources(model_bytes, flat, ops,
                                  resolver_methods(find_tflm(tflm)), name))
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    for fname, text in files.items():
        (out / fname).write_text(text)
    return [out / f for f in files]


def qemu_command(qemu: str, target: Target, elf: Path) -> list[str]:
    return [qemu, "-machine", str(target.machine), "-nographic", "-semihosting-config",
            "enable=on,target=native", "-icount", "shift=0", "-kernel", str(elf)]


def _run_qemu(qemu: str, target: Target, firmware: Firmware, limit: float) -> list[dict]:
    cmd = qemu_command(qemu, target, firmware.elf)
    try:
        proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, timeout=limit,
                              check=False)
    except subprocess.TimeoutExpired as exc:
        partial = (exc.stdout or b"").decode("utf-8", errors="replace")
        try:
            last = parse_lines(partial, complete=False)
            what = last[-1]["t"] if last else "nothing"
        except ProtocolError:
            what = "a damaged line"
        raise InputError(f"{target.machine}: the runner did not finish within {limit:.0f} s "
                         f"(last record: {what})") from None
    text = proc.stdout.decode("utf-8", errors="replace")
    records = parse_lines(text, complete=False)
    errors = [r for r in records if r["t"] == "error"]
    if errors:
        _raise_runner_error(errors[0], records, target)
    if proc.returncode != 0 or not any(r["t"] == "end" for r in records):
        stderr = proc.stderr.decode("utf-8", errors="replace").strip().splitlines()
        why = stderr[0] if stderr else f"exit status {proc.returncode}"
        if proc.returncode == 0:
            parse_lines(text)                         # raises the precise protocol error
        raise InputError(f"qemu-system-arm -machine {target.machine} failed: {why}")
    return records


_ARENA_FAIL = re.compile(r"(Failed to (allocate|resize)|too small|missing)", re.IGNORECASE)


def _raise_runner_error(err: dict, records: list[dict], target: Target):
    logs = [r.get("msg", "") for r in records if r["t"] == "log"]
    hello = next((r for r in records if r["t"] == "hello"), {})
    if err.get("stage") == "allocate":
        reason = next((m for m in logs if _ARENA_FAIL.search(m)), logs[0] if logs else "")
        raise InputError(f"the model does not fit {target.name}'s RAM: its tensor arena has "
                         f"{hello.get('arena_bytes', '?')} bytes ({target.ram_bytes} bytes of RAM "
                         f"less the runner's stack and data) and TFLM says: {reason}")
    detail = "; ".join(logs[-2:])
    raise InputError(f"the runner stopped on {target.name} at {err.get('stage')}: "
                     f"{err.get('msg')}{' (' + detail + ')' if detail else ''}")


def _assemble(records, target, firmware: Firmware, model: bytes, flat: np.ndarray, out,
              library_seconds: float, run_seconds: float, parsed) -> TargetRun:
    hello = next(r for r in records if r["t"] == "hello")
    arena = next(r for r in records if r["t"] == "arena")
    names = next((r["names"] for r in records if r["t"] == "ops"), [])
    wins = sorted((r for r in records if r["t"] == "window"), key=lambda r: r["i"])
    if len(wins) != len(flat):
        raise ProtocolError(f"the runner reported {len(wins)} windows of {len(flat)}")
    outputs = np.array([w["out"] for w in wins], dtype=np.int8).reshape(len(wins), *out.shape)
    ops = parsed.operators
    scratch = tuple({"node": r["node"],
                     "op": ops[r["node"]].op if 0 <= r["node"] < len(ops) else "?",
                     "bytes": list(r["bytes"])}
                    for r in records if r["t"] == "scratch")
    flash = {"total": firmware.flash_bytes, "model": len(model), "windows": int(flat.size),
             "runtime": firmware.flash_bytes - len(model) - int(flat.size),
             **{k.lstrip("."): v for k, v in firmware.sections.items()}}
    return TargetRun(
        target=target, outputs=outputs,
        arena={k: int(arena[k]) for k in ("head", "tail", "total", "available")},
        flash=flash,
        emulator_ticks=np.array([w["ticks"] for w in wins], dtype=np.int64),
        op_emulator_ticks=np.array([w["op_ticks"] for w in wins], dtype=np.int64)
        .reshape(len(wins), -1),
        op_names=tuple(names), timer=str(hello.get("timer", "")),
        timer_hz=int(hello.get("timer_hz", 0)), scratch=scratch,
        build_seconds=firmware.build_seconds, library_seconds=library_seconds,
        run_seconds=run_seconds, log=tuple(r.get("msg", "") for r in records if r["t"] == "log"))
