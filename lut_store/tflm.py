"""TFLite-Micro's Python interpreter as a measuring instrument: the real arena of a model, and
the C-level stderr it prints its figures and errors on.

The interpreter has no API for the arena size: `print_allocations()` writes
"[RecordingMicroAllocator] Arena allocation total|head|tail N bytes" to the C-level stderr, so file
descriptor 2 is redirected into a temporary file while it runs (`capture_stderr`). `tflite_micro`
is imported inside the function only: lut_store must stay importable without it.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass

__all__ = ["CapturedStderr", "capture_stderr", "tflm_arena"]

_ARENA_LINE = re.compile(r"Arena allocation (total|head|tail) (\d+) bytes")
# fd 2 is process-wide: serialise the redirection between threads of this process. Reentrant, so
# that a caller holding it around more TFLM calls can capture within (see `tflm_arena`).
_STDERR_LOCK = threading.RLock()


@dataclass
class CapturedStderr:
    """What was written to file descriptor 2 inside `capture_stderr` (set when the block ends)."""

    text: str = ""


@contextlib.contextmanager
def capture_stderr() -> Iterator[CapturedStderr]:
    """Redirect the process's file descriptor 2 (what C code such as TFLM prints) into a
    temporary file for the block; its text is in the yielded object's `.text` afterwards.
    Threads of this process take turns: only one block redirects at a time."""
    captured = CapturedStderr()
    with _STDERR_LOCK:
        sys.stderr.flush()
        with tempfile.TemporaryFile(mode="w+b") as tmp:
            saved = os.dup(2)
            try:
                os.dup2(tmp.fileno(), 2)
                yield captured
            finally:
                _flush_c_stdio()
                sys.stderr.flush()
                os.dup2(saved, 2)
                os.close(saved)
                tmp.seek(0)
                captured.text = tmp.read().decode("utf-8", errors="replace")


def tflm_arena(data: bytes, arena_size: int | None = None) -> dict[str, int] | None:
    """{"head", "tail", "total"} bytes of the TFLM arena for the .tflite `data`, or None when
    tflite_micro is not installed. `arena_size` defaults to a generous 16 x model size + 1 MiB.

    Raises RuntimeError (from TFLM) if the model cannot be allocated, e.g. an unsupported op."""
    try:
        from tflite_micro import runtime
    except ImportError:
        return None

    size = arena_size if arena_size is not None else 16 * len(data) + (1 << 20)
    # Held from the start: another thread's capture must not swallow what TFLM prints here.
    with _STDERR_LOCK:
        interpreter = runtime.Interpreter.from_bytes(bytes(data), arena_size=size)
        with capture_stderr() as captured:
            interpreter.print_allocations()
    text = captured.text
    found = {key: int(value) for key, value in _ARENA_LINE.findall(text)}
    if set(found) != {"total", "head", "tail"}:
        raise RuntimeError(f"could not parse TFLM print_allocations() output: {text[:500]!r}")
    found["needed"] = _least_arena(runtime, data, found["total"])
    return found


def _least_arena(runtime, data: bytes, used: int) -> int:
    """The smallest arena (16-byte steps) TFLM allocates the model in. Usually what it used, but
    its memory planner borrows scratch from the free arena while planning (about 40 bytes per
    tensor on a 64-bit host), more than the head of a tiny network: there an arena of exactly
    the used bytes fails ("Too many buffers")."""
    def loads(size: int) -> bool:
        with _STDERR_LOCK, capture_stderr():
            try:
                runtime.Interpreter.from_bytes(bytes(data), arena_size=size)
                return True
            except Exception:  # noqa: BLE001 - too small: TFLM raises RuntimeError
                return False
    if loads(used):
        return used
    lo, hi = used, used + 256
    while not loads(hi):
        lo, hi = hi, hi + 2 * (hi - used)
    while hi - lo > 16:
        mid = (lo + hi) // 2 // 16 * 16
        lo, hi = (lo, mid) if loads(mid) else (mid, hi)
    return hi


def _flush_c_stdio() -> None:
    """fflush(NULL), in case the C library buffered stderr output (it does not by default)."""
    try:
        import ctypes

        ctypes.CDLL(None).fflush(None)
    except (OSError, AttributeError):
        pass
