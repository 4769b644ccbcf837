"""The real TFLite-Micro arena of a model, read from TFLM's Python interpreter (if installed).

The interpreter has no API for the arena size: `print_allocations()` writes
"[RecordingMicroAllocator] Arena allocation total|head|tail N bytes" to the C-level stderr, so file
descriptor 2 is redirected into a temporary file while it runs. `tflite_micro` is imported inside
the function only: lut_store must stay importable without it.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
import threading

__all__ = ["tflm_arena"]

_ARENA_LINE = re.compile(r"Arena allocation (total|head|tail) (\d+) bytes")
# fd 2 is process-wide: serialise the redirection between threads of this process.
_STDERR_LOCK = threading.Lock()


def tflm_arena(data: bytes, arena_size: int | None = None) -> dict[str, int] | None:
    """{"head", "tail", "total"} bytes of the TFLM arena for the .tflite `data`, or None when
    tflite_micro is not installed. `arena_size` defaults to a generous 16 x model size + 1 MiB.

    Raises RuntimeError (from TFLM) if the model cannot be allocated, e.g. an unsupported op."""
    try:
        from tflite_micro import runtime
    except ImportError:
        return None

    size = arena_size if arena_size is not None else 16 * len(data) + (1 << 20)
    with _STDERR_LOCK:
        interpreter = runtime.Interpreter.from_bytes(bytes(data), arena_size=size)
        text = _capture_fd2(interpreter.print_allocations)
    found = {key: int(value) for key, value in _ARENA_LINE.findall(text)}
    if set(found) != {"total", "head", "tail"}:
        raise RuntimeError(f"could not parse TFLM print_allocations() output: {text[:500]!r}")
    return found


def _capture_fd2(fn) -> str:
    """Run `fn` with file descriptor 2 pointing to a temporary file; return what was written."""
    sys.stderr.flush()
    with tempfile.TemporaryFile(mode="w+b") as tmp:
        saved = os.dup(2)
        try:
            os.dup2(tmp.fileno(), 2)
            fn()
        finally:
            _flush_c_stdio()
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
        tmp.seek(0)
        return tmp.read().decode("utf-8", errors="replace")


def _flush_c_stdio() -> None:
    """fflush(NULL), in case the C library buffered stderr output (it does not by default)."""
    try:
        import ctypes

        ctypes.CDLL(None).fflush(None)
    except (OSError, AttributeError):
        pass
