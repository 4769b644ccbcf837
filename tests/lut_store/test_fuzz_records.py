"""Fuzzing the measurement-record importer with mutated real records.

Each case takes a few real records from ../shared/mcu-measurements, mutates them as JSON (values
replaced by other JSON of any type, keys deleted or added, numbers negated, blown up, turned into
strings, NaN, ...), serialises them, garbles the text (truncation, deleted spans, inserted tokens,
overwritten bytes) and imports the folder. Property: `import_records` returns a LUT that can be
stored (every row converts to the Parquet schema; cycles finite and non-negative), or raises
`InputError` with a one-line message naming the file — never any other exception, and no warning
that Python would print (on the command's stderr it would be more than the one error line).

    MICRONAS_FUZZ_EXAMPLES=10000 .venv/bin/python -m pytest -q tests/lut_store/test_fuzz_records.py \\
        --hypothesis-show-statistics
"""

from __future__ import annotations

import copy
import json
import math
import shutil
import tempfile
import warnings
from functools import lru_cache
from pathlib import Path

import numpy as np
from _fuzz import FUZZ, shown
from hypothesis import event, given
from hypothesis import strategies as st

from lut_store import InputError, Lut, import_records

MEASUREMENTS = Path(__file__).resolve().parents[2].parent / "shared" / "mcu-measurements"

KEYS = ["error", "timing", "type", "cpuCycles", "millis", "modelConfig", "input_shape",
        "output_shape", "kernel_size", "strides", "pool_size", "padding", "activation",
        "tflmBackend", "name", "filters"]
TIMING_TYPES = [0, 1, 3, 4, 6, 9, 17, 19, 25, 40, 114, 255, 2, 77, -1, 256]
TOKENS = [b",", b"]", b"[", b"{", b"}", b'"', b":", b"NaN", b"-Infinity", b"1e999", b"-0",
          b"null", b"true", b"\xff", b"\x00", b"\\u0000", b"\\ud800", b"9" * 5000, b"[" * 3000,
          b" ", b"\n", b'"type": 3', b'"cpuCycles": -1', b"\xef\xbb\xbf"]


@lru_cache(maxsize=1)
def pool() -> tuple[dict, ...]:
    """Real records of every op kind: all non-CONV and error records plus every 25th CONV one."""
    records = []
    for path in sorted(MEASUREMENTS.rglob("records.json")):
        for i, record in enumerate(json.loads(path.read_text())):
            kinds = {t.get("type") for t in record.get("timing", [])}
            if record.get("error") or not kinds & {3} or i % 25 == 0:
                records.append(record)
    assert len(records) > 100, MEASUREMENTS
    return tuple(records)


scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-2 ** 66, 2 ** 66),
    st.sampled_from([0, 1, -1, 2, 255, 2 ** 31 - 1, 2 ** 31, 2 ** 63, 10 ** 30, *TIMING_TYPES]),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12),
    st.sampled_from(KEYS + ["same", "valid", "relu", "linear", "FLASHERROR", "", "CMSIS"]))
values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=5)
    | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=6), inner, max_size=5),
    max_leaves=10)
shapes = st.lists(st.integers(-2, 2 ** 33) | st.sampled_from([0, 1, 2, 3, 128, 2 ** 31]),
                  min_size=0, max_size=6)


def nodes(obj, prefix=()):
    """Paths to every node of a JSON document."""
    yield prefix
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from nodes(v, prefix + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from nodes(v, prefix + (i,))


def at(doc, path):
    for key in path:
        doc = doc[key]
    return doc


def tweaked(value, choice: int):
    """Something a buggy logger or an edit could turn a number (or anything) into."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        options = [lambda: -value, lambda: 0,
                   lambda: value * 10 ** 300 if isinstance(value, int) else value * 1e300,
                   lambda: value / 3, lambda: str(value), lambda: math.nan, lambda: math.inf,
                   lambda: -math.inf, lambda: True, lambda: [value]]
    else:
        options = [lambda: [value], lambda: {"value": value}, lambda: str(value), lambda: None,
                   lambda: 0, lambda: -1, lambda: "", lambda: []]
    return options[choice % len(options)]()


@st.composite
def mutated_document(draw):
    n = draw(st.integers(1, 4))
    doc = [copy.deepcopy(draw(st.sampled_from(pool()))) for _ in range(n)]
    for _ in range(draw(st.integers(0, 6))):
        paths = list(nodes(doc))
        path = paths[draw(st.integers(0, len(paths) - 1))]
        op = draw(st.sampled_from(["set", "delete", "add", "tweak", "type", "shape"]))
        node = at(doc, path)
        if op == "add":
            if isinstance(node, dict):
                node[draw(st.sampled_from(KEYS))] = draw(values)
            elif isinstance(node, list):
                node.append(copy.deepcopy(node[0]) if node and draw(st.booleans()) else draw(values))
            continue
        if not path:          # the document itself
            if op in ("set", "tweak"):
                doc = draw(values) if op == "set" else tweaked(doc, draw(st.integers(0, 9)))
            continue
        parent, key = at(doc, path[:-1]), path[-1]
        if op == "delete":
            del parent[key]
        elif op == "set":
            parent[key] = draw(values)
        elif op == "tweak":
            parent[key] = tweaked(node, draw(st.integers(0, 9)))
        elif op == "type":
            parent[key] = draw(st.sampled_from(TIMING_TYPES))
        else:
            parent[key] = draw(shapes)
    return doc


@st.composite
def record_file(draw) -> bytes:
    doc = draw(mutated_document())
    text = json.dumps(doc, indent=draw(st.sampled_from([None, 1, 4])), allow_nan=True)
    data = bytearray(text.encode())
    for _ in range(draw(st.integers(0, 3))):
        if not data:
            break
        op = draw(st.sampled_from(["truncate", "delete", "insert", "overwrite", "none", "none"]))
        pos = draw(st.integers(0, len(data) - 1))
        if op == "truncate":
            del data[pos:]
        elif op == "delete":
            del data[pos: pos + draw(st.integers(1, 64))]
        elif op == "insert":
            data[pos:pos] = draw(st.sampled_from(TOKENS) | st.binary(min_size=1, max_size=8))
        elif op == "overwrite":
            data[pos] = draw(st.integers(0, 255))
    return bytes(data)


def check_storable(lut: Lut) -> None:
    frame = lut.frame
    assert np.isfinite(frame["cycles"]).all() and (frame["cycles"] >= 0).all()
    lut.to_arrow()               # what `micronas lut import` writes: the Parquet schema's types


@FUZZ
@given(files=st.lists(record_file(), min_size=1, max_size=2))
def test_import_returns_a_lut_or_input_error(files):
    folder = Path(tempfile.mkdtemp(prefix="fuzz-records-"))
    try:
        for i, data in enumerate(files):
            path = folder / f"2023010{i}-000000" / "records.json"
            path.parent.mkdir()
            path.write_bytes(data)
        error = None
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                lut, report = import_records(folder, "fuzz-board")
            except InputError as exc:
                error = exc
        assert not shown(caught), shown(caught)
        if error is not None:
            message = str(error)
            assert message and "\n" not in message, message
            assert str(folder) in message, message          # names the file or the folder
            event("InputError: " + ("a record" if ": record " in message else "the file"))
            return
        assert report.files == len(files)
        check_storable(lut)
        event(f"imported ({'some' if len(lut) else 'no'} rows)")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_real_records_import_and_store():
    """The seeds of the fuzzer are valid: a file of them imports and stores."""
    folder = Path(tempfile.mkdtemp(prefix="fuzz-records-"))
    try:
        (folder / "run").mkdir()
        (folder / "run" / "records.json").write_text(json.dumps(list(pool())))
        lut, report = import_records(folder, "fuzz-board")
        assert report.records == len(pool()) and len(lut) > 50
        check_storable(lut)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
