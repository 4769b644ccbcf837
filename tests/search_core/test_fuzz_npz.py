"""Fuzzing the .npz loader (`search_core.data.load_dataset(path)`).

Cases are archives written with np.savez: mostly near-valid windows (X (N, C, T), y, optional
subject, split and meta) with the shapes, dtypes, lengths, labels and values pushed around (NaN,
inf, values near or beyond the float32 range, labels out of range, mismatched lengths, object
arrays whose unpickling would create a file, meta that is not JSON, ...), some archives of random
arrays under random keys, and some files with garbled bytes (truncated, overwritten, inserted) or
that are no archive at all. Property: `load_dataset` returns a searchable Dataset with finite
values, or raises `InputError` with a one-line message naming the file — never any other
exception, no warning that Python would print (more lines on the command's stderr) — and never
unpickles anything.

    MICRONAS_FUZZ_EXAMPLES=10000 .venv/bin/python -m pytest -q tests/search_core/test_fuzz_npz.py \\
        --hypothesis-show-statistics
"""

from __future__ import annotations

import io
import json
import pickle
import shutil
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pytest
from _fuzz import FUZZ, shown
from hypothesis import assume, event, given
from hypothesis import strategies as st

from search_core.data import Dataset, InputError, load_dataset

MARKER = "PWNED"
OBJECT_META = object()      # stands for meta saved as a pickled dict
KEYS = ["X", "y", "subject", "split", "meta"]
FLOAT_EDGES = [0.0, -0.0, 1.0, -1.0, np.nan, np.inf, -np.inf, 1e300, -1e300, 3.4e38, -3.4e38,
               3.3e38, 1e-300, 5e-324, 65504.0, 1e38, -1e38, 2.0 ** 63]
LABEL_EDGES = [-1, -2 ** 63, 2 ** 31, 2 ** 62, 10 ** 6, 255, 3, 4, 5]
DTYPES = ["float32", "float64", "float16", "longdouble", "int8", "int16", "int32", "int64",
          "uint8", "uint16", "uint32", "uint64", "bool", "complex64", "complex128", "U3", "S3",
          "datetime64[s]", "timedelta64[ms]", "object", "V4", "structured"]


class Evil:
    """An object whose unpickling creates a file: must never happen."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def cast(values: np.ndarray, dtype: str, rng, marker: str) -> np.ndarray:
    """`values` as `dtype`, however lossy (the loader must cope with whatever a user saves)."""
    shape = values.shape
    if dtype == "object":
        items = [Evil(marker), None, "a", 1, 2.5, {"classes": ["a"]}, [1, 2], b"x"]
        out = np.empty(values.size, dtype=object)
        for i in range(values.size):
            out[i] = items[int(rng.integers(len(items)))]
        return out.reshape(shape)
    if dtype == "structured":
        out = np.zeros(shape, dtype=[("a", "<f4"), ("b", "<i4")])
        with np.errstate(all="ignore"):
            out["a"] = values
        return out
    if dtype == "V4":
        return np.zeros(shape, dtype="V4")
    if dtype in ("U3", "S3"):
        return values.astype(str).astype(dtype)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if dtype.startswith(("datetime64", "timedelta64")):
            return np.nan_to_num(values).astype(np.int64).astype(dtype)
        if np.dtype(dtype).kind in "iub":
            return np.nan_to_num(values, posinf=0, neginf=0).astype(dtype)
        return values.astype(dtype)


def json_meta(draw, k: int, c: int):
    meta = {}
    if draw(st.booleans()):
        n = draw(st.sampled_from([k, k, k - 1, k + 1, 0, 1]))
        meta[draw(st.sampled_from(["classes", "class_names"]))] = draw(st.sampled_from([
            [f"c{i}" for i in range(max(n, 0))], list(range(max(n, 0))), "abc", [None, 1.5], [[1]]]))
    if draw(st.booleans()):
        n = draw(st.sampled_from([c, c, c + 1, max(c - 1, 0)]))
        meta["channels"] = [f"ch{i}" for i in range(n)]
    if draw(st.booleans()):
        meta[draw(st.sampled_from(["sample_rate_hz", "sample_rate"]))] = draw(st.sampled_from(
            [50, 98.5, 0, -1, "50", True, None, float("nan"), float("inf"), 1e308]))
    return meta


CORRUPTIONS = ["windows", "channels", "steps", "scale", "edges", "extreme", "labels", "subject",
               "split", "meta", "dtype", "reshape", "transpose", "drop", "rename", "scalar"]


@st.composite
def near_valid(draw) -> dict:
    """Valid windows as a user would save them, then none, one or a few things made wrong."""
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 32 - 1)))
    wrong = set(draw(st.lists(st.sampled_from(CORRUPTIONS), max_size=3)))
    n = draw(st.sampled_from([0, 1, 2, 3, 5, 6, 9] if "windows" in wrong else [20, 30, 40]))
    c = draw(st.sampled_from([0, 16, 40] if "channels" in wrong else [1, 2, 3]))
    t = draw(st.sampled_from([0, 1, 8, 15] if "steps" in wrong else [16, 17, 24, 32]))
    k = draw(st.integers(2, 4))
    scale = draw(st.sampled_from([1e-30, 1e30, 1e38, 1e300])) if "scale" in wrong else 1.0
    x = rng.normal(size=(n, c, t)) * scale
    if "edges" in wrong:
        for _ in range(draw(st.integers(1, 3))):
            if x.size:
                x.flat[draw(st.integers(0, x.size - 1))] = draw(st.sampled_from(FLOAT_EDGES))
    if "extreme" in wrong and x.size:                      # a big share of extreme values
        x[: max(n // 2, 1)] = draw(st.sampled_from([3.4e38, -3.4e38, 3e38, 1e300]))
    y = rng.permutation(np.arange(n) % k) if n else np.zeros(0, np.int64)
    if "labels" in wrong and n:
        for _ in range(draw(st.integers(1, 2))):
            y[draw(st.integers(0, n - 1))] = draw(st.sampled_from(LABEL_EDGES))
    arrays = {"X": x, "y": y}
    if draw(st.booleans()) or "subject" in wrong:
        size = n + (draw(st.sampled_from([-1, 1, -n])) if "subject" in wrong else 0)
        arrays["subject"] = rng.integers(0, draw(st.integers(1, 6)), size=max(size, 0))
    if draw(st.integers(0, 3)) == 0 or "split" in wrong:
        if "split" in wrong:
            arrays["split"] = rng.integers(0, draw(st.sampled_from([1, 2, 4])),
                                           size=n + draw(st.sampled_from([0, 1])))
        else:
            arrays["split"] = rng.choice(3, size=n, p=[0.6, 0.2, 0.2])
    if draw(st.booleans()) or "meta" in wrong:
        if "meta" in wrong:
            meta = json_meta(draw, k, c)
            form = draw(st.sampled_from(["str", "bytes", "array", "object", "garbage", "number"]))
        else:
            meta = {"classes": [f"c{i}" for i in range(k)], "channels": [f"s{i}" for i in range(c)],
                    "sample_rate_hz": 50}
            form = draw(st.sampled_from(["str", "bytes"]))
        text = json.dumps(meta)
        arrays["meta"] = {"str": np.array(text), "bytes": np.array(text.encode()),
                          "array": np.array([text, text]), "object": OBJECT_META,
                          "garbage": np.array(text[: len(text) // 2] + "{]"),
                          "number": np.array("9" * draw(st.sampled_from([10, 5000])))}[form]
    # Shapes, dtypes and keys pushed around.
    for op in sorted(wrong & {"dtype", "reshape", "transpose", "drop", "rename", "scalar"}):
        key = draw(st.sampled_from(sorted(arrays)))
        value = arrays[key]
        if not isinstance(value, np.ndarray):
            continue
        if op == "dtype":
            arrays[key] = ("dtype", draw(st.sampled_from(DTYPES)))   # cast below, with the RNG
        elif op == "reshape":
            arrays[key] = value.reshape(value.shape + (1,))
        elif op == "transpose" and value.ndim >= 2:
            arrays[key] = np.swapaxes(value, -1, -2)
        elif op == "drop":
            del arrays[key]
        elif op == "rename":
            arrays[key.lower() if key != key.lower() else key.upper()] = arrays.pop(key)
        elif op == "scalar":
            arrays[key] = np.array(value.flat[0] if value.size else 0)
    return arrays


@st.composite
def random_archive(draw) -> dict:
    """Random arrays of random dtypes and shapes under random (often expected) keys."""
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 32 - 1)))
    keys = draw(st.lists(st.sampled_from(KEYS) | st.text("abcXYZ_0-.", min_size=1, max_size=5),
                         max_size=5, unique=True))
    arrays = {}
    for key in keys:
        shape = tuple(draw(st.lists(st.integers(0, 6), max_size=4)))
        arrays[key] = ("values", draw(st.sampled_from(DTYPES)),
                       rng.normal(size=shape) * 10.0 ** draw(st.integers(-5, 40)))
    return arrays


def materialise(arrays: dict, rng, marker: str) -> dict:
    out = {}
    for key, value in arrays.items():
        if value is OBJECT_META:                            # a pickled dict
            out[key] = np.array({"classes": ["a", "b"]}, dtype=object)
        elif isinstance(value, tuple) and value[0] == "values":   # random_archive's arrays
            out[key] = cast(value[2], value[1], rng, marker)
        elif isinstance(value, tuple):                      # ("dtype", name) chosen for this key
            base = rng.integers(0, 3, size=30) if key != "X" else rng.normal(size=(30, 2, 16))
            out[key] = cast(np.asarray(base, float), value[1], rng, marker)
        else:
            out[key] = value
    return out


@st.composite
def npz_file(draw) -> tuple[str, object]:
    kind = draw(st.sampled_from(["near"] * 6 + ["random"] * 2 + ["garbled"] * 2 + ["other"]))
    if kind == "other":
        return "bytes", draw(st.sampled_from(["pickle", "npy", "text", "empty", "zip"]))
    arrays = draw(near_valid() if kind != "random" else random_archive())
    garble = []
    if kind == "garbled":
        for _ in range(draw(st.integers(1, 3))):
            garble.append((draw(st.sampled_from(["truncate", "overwrite", "insert", "delete"])),
                           draw(st.floats(0, 1)), draw(st.integers(0, 255)), draw(st.integers(1, 16))))
    return "npz", (arrays, garble, draw(st.integers(0, 2 ** 32 - 1)))


def write(path: Path, spec, marker: str) -> None:
    kind, what = spec
    if kind == "bytes":
        data = {"pickle": pickle.dumps({"X": Evil(marker)}), "empty": b"", "text": b"X,y\n",
                "npy": b"\x93NUMPY\x01\x00v\x00{'descr': '<f4', 'fortran_order': False, "
                       b"'shape': (2,), }" + b" " * 53 + b"\n" + b"\0" * 8,
                "zip": b"PK\x05\x06" + b"\0" * 18}[what]
        path.write_bytes(data)
        return
    arrays, garble, seed = what
    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    try:
        np.savez(buf, **materialise(arrays, rng, marker))
    except (ValueError, TypeError, OSError):                # numpy cannot save this: not a case
        assume(False)
    data = bytearray(buf.getvalue())
    for op, where, byte, size in garble:
        if not data:
            break
        pos = min(int(where * len(data)), len(data) - 1)
        if op == "truncate":
            del data[pos:]
        elif op == "overwrite":
            data[pos] = byte
        elif op == "insert":
            data[pos:pos] = bytes([byte]) * size
        else:
            del data[pos: pos + size]
    path.write_bytes(bytes(data))


def check_dataset(ds: Dataset) -> None:
    assert isinstance(ds, Dataset) and ds.n_classes >= 2
    for which in ("train", "val", "test"):
        x, y = ds.split(which)
        assert x.dtype == np.float32 and np.isfinite(x).all(), which
        assert len(y) and y.min() >= 0 and y.max() < ds.n_classes
    assert np.isfinite(ds.norm_mean).all() and np.isfinite(ds.norm_std).all()
    assert (ds.norm_std > 0).all()


@pytest.fixture(scope="module")
def folder():
    path = Path(tempfile.mkdtemp(prefix="fuzz-npz-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@FUZZ
@given(spec=npz_file())
def test_load_npz_returns_a_dataset_or_input_error(folder, spec):
    path = folder / "windows.npz"
    marker = folder / MARKER
    write(path, spec, str(marker))
    error = None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            ds = load_dataset(path, seed=0)
        except InputError as exc:
            error = exc
    assert not marker.exists(), "the loader unpickled something"
    assert not shown(caught), shown(caught)
    if error is not None:
        message = str(error)
        assert message.startswith(f"{path}: ") and "\n" not in message, message
        assert len(message) < 2000, message[:300]
        event("InputError")
    else:
        check_dataset(ds)
        event("dataset")
