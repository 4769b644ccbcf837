"""Running an int8 .tflite model: LiteRT with its reference kernels and the TFLite-Micro
interpreter, window by window, on inputs quantised the way firmware must do it.

Both runtimes are imported inside the functions: the search never pays for them. The reference
op resolver matters: LiteRT's default (XNNPACK / optimised) kernels differ from TFLM's by 1–3 LSB,
the reference ones are the same arithmetic as TFLM's host kernels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lut_store import InputError
from lut_store.tflite import int8_io, read_model
from lut_store.tflm import capture_stderr

from .._versions import pip_install

_RUNTIMES_NEEDED = pip_install("ai-edge-litert", "tflite-micro")   # at pyproject.toml's pins


@dataclass(frozen=True)
class IoSpec:
    """Shape, type and quantisation of the model's single input and output."""

    input_shape: tuple[int, ...]
    input_dtype: str
    input_scale: float
    input_zero_point: int
    output_shape: tuple[int, ...]
    output_dtype: str
    output_scale: float
    output_zero_point: int


def io_spec(data: bytes, source: str = "<model>") -> IoSpec:
    """The model's input/output; InputError unless it is a single-input, single-output full-int8
    model with per-tensor quantised input and output."""
    model = read_model(data, source)
    inp, out = int8_io(model, source)
    for what, t in (("input", inp), ("output", out)):
        if len(t.scale) != 1 or len(t.zero_point) != 1:
            raise InputError(f"{source}: the {what} has no per-tensor quantisation")
    return IoSpec(tuple(inp.shape), inp.dtype, float(inp.scale[0]), int(inp.zero_point[0]),
                  tuple(out.shape), out.dtype, float(out.scale[0]), int(out.zero_point[0]))


def quantize_input(x: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """Float (normalised) windows → int8, as TFLite's QUANTIZE does it: round half away from zero,
    add the zero point, clamp to [-128, 127]. (The original MicroNAS code truncated and wrapped.)"""
    v = np.asarray(x, dtype=np.float64) / scale
    q = np.sign(v) * np.floor(np.abs(v) + 0.5) + zero_point
    return np.clip(q, -128, 127).astype(np.int8)


def windows_for(io: IoSpec, x: np.ndarray, source: str = "<data>") -> np.ndarray:
    """Normalised float windows (N, T, S) → int8 model inputs (N, 1, T, S, 1)."""
    x = np.asarray(x, dtype=np.float32)
    _, t, s, c = io.input_shape
    if x.ndim != 3 or x.shape[1:] != (t, s) or c != 1:
        raise InputError(f"{source}: windows of shape {tuple(x.shape[1:])} do not fit the model "
                         f"input {list(io.input_shape)} (NHWC: 1 x time x sensors x 1)")
    return quantize_input(x, io.input_scale, io.input_zero_point)[:, None, :, :, None]


def _litert():
    try:
        from ai_edge_litert import interpreter
    except ImportError as exc:
        raise InputError(f"LiteRT is not installed ({exc.name or exc}): {_RUNTIMES_NEEDED}") from None
    return interpreter


def _tflm():
    try:
        from tflite_micro import runtime
    except ImportError as exc:
        raise InputError(f"TFLite-Micro is not installed ({exc.name or exc}): "
                         f"{_RUNTIMES_NEEDED}") from None
    return runtime


def require_runtimes() -> None:
    """Fail early (before any training) if a runtime is missing."""
    _litert()
    _tflm()


def run_litert(data: bytes, inputs: np.ndarray, source: str = "<model>") -> np.ndarray:
    """int8 outputs (N, *output) of LiteRT with the reference kernels, one window per invoke."""
    interpreter = _litert()
    try:
        it = interpreter.Interpreter(
            model_content=bytes(data),
            experimental_op_resolver_type=interpreter.OpResolverType.BUILTIN_REF)
        it.allocate_tensors()
    except (RuntimeError, ValueError) as exc:
        raise InputError(f"{source}: LiteRT cannot load the model ({_first_line(exc)})") from None
    i, o = it.get_input_details()[0]["index"], it.get_output_details()[0]["index"]
    out = []
    for window in inputs:
        it.set_tensor(i, window)
        it.invoke()
        out.append(it.get_tensor(o).copy())
    return np.stack(out) if out else np.zeros((0,), np.int8)


def tflm_interpreter(data: bytes, arena_size: int, source: str = "<model>"):
    """A TFLite-Micro interpreter with an arena of `arena_size` bytes. An arena that is too small,
    an operator TFLM does not have or a malformed model is an InputError carrying TFLM's reason
    (which TFLM prints on the C-level stderr before raising)."""
    runtime = _tflm()
    holder: dict = {}

    def make():
        try:
            holder["it"] = runtime.Interpreter.from_bytes(bytes(data), arena_size=int(arena_size))
        except Exception as exc:  # noqa: BLE001 - RuntimeError, struct.error on a torn file, ...
            holder["error"] = exc

    with capture_stderr() as captured:
        make()
    log = captured.text
    if "error" in holder:
        raise InputError(f"{source}: TFLite-Micro cannot run the model with a {arena_size}-byte "
                         f"arena: {_tflm_reason(log, holder['error'])}") from None
    return holder["it"]


def run_tflm(data: bytes, inputs: np.ndarray, arena_size: int, source: str = "<model>") -> np.ndarray:
    """int8 outputs (N, *output) of the TFLite-Micro interpreter, one window per invoke."""
    it = tflm_interpreter(data, arena_size, source)
    out = []
    for window in inputs:
        it.set_input(window, 0)
        it.invoke()
        out.append(np.array(it.get_output(0), copy=True))
    return np.stack(out) if out else np.zeros((0,), np.int8)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _tflm_reason(log: str, exc: BaseException) -> str:
    lines = [line.strip() for line in log.splitlines() if line.strip()]
    missing = [line for line in lines if "missing" in line or "Didn't find op" in line
               or "not supported" in line.lower() or "Failed to get registration" in line]
    picked = missing[:2] or lines[:2]
    return "; ".join(picked) if picked else _first_line(exc)
