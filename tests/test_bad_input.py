"""The bad-input table: malformed inputs at every entry point of `micronas`, each ending with one
line on stderr ("micronas: error: ..."), exit code 2, no traceback, and nothing written.

`CASES` is the table. docs/BAD_INPUT.md is generated from it (and a test checks they agree):

    .venv/bin/python tests/test_bad_input.py          # rewrites docs/BAD_INPUT.md

Every case builds its input under tmp_path and runs `orchestrator.cli.main` in-process. Besides
the exit code and the one stderr line (and no warning that Python would print: on the real
command's stderr that would be more lines), the test snapshots every file under tmp_path before and
after the command: nothing may be created, changed or removed (so the `--out` folder of a command
does not appear, a run folder or LUT folder given as input stays as it was, a pickle that would
create a file when unpickled never runs). No case trains: a `search` with bad data fails while
reading the data, before the search starts.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
import sys
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "BAD_INPUT.md"
L552, F446 = "nucleo-l552ze-q", "nucleo-f446re"
MARKER = "PWNED"  # what the pickles below would create if anything unpickled them


# --- the table -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Case:
    id: str
    area: str
    args: tuple[str, ...]   # placeholders: {in} the input, {out} an output folder, {lut} a good LUT,
                            # {records} good measurement records, {model} a good int8 .tflite
    name: str | None        # file or folder name of {in} (as shown in the doc)
    input: str              # what is wrong with it (the doc's column)
    build: Callable[[Path, Path], None] | None  # build(path of {in}, tmp_path)
    expect: str             # a fragment of the one-line error


CASES: list[Case] = []


def case(id, area, args, name, input, build, expect):
    CASES.append(Case(id, area, tuple(args), name, input, build, expect))


SEARCH = ["search", "--data", "{in}", "--mcu", L552, "--lat-ms", "50", "--lut", "{lut}",
          "--out", "{out}", "--no-progress"]
SWEEP = ["sweep", "{in}", "--check"]
MCU = ["lut", "import", "--mcu", "{in}", "--records", "{records}", "--out", "{out}"]
SHOW = ["lut", "show", "--lut", "{in}"]
IMPORT = ["lut", "import", "--mcu", F446, "--records", "{in}", "--out", "{out}"]
EXPORT = ["export", "--run", "{in}", "--lut", "{lut}", "--out", "{out}"]
EXPORT_IN_PLACE = ["export", "--run", "{in}", "--lut", "{lut}"]
COST = ["cost", "--mcu", L552, "--lut", "{lut}", "--model", "{in}"]
VERIFY = ["verify", "--model", "{in}", "--mcu", L552, "--lut", "{lut}"]


# --- builders: data files ------------------------------------------------------------------------

class Evil:
    """Unpickling this creates the file MARKER beside the input: it must never happen."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def npz(**arrays):
    """A builder: 30 windows (N, C, T) = (30, 2, 32), labels 0..2, with `arrays` replacing or
    (None) removing entries."""
    def build(path: Path, tmp: Path):
        rng = np.random.default_rng(0)
        base = {"X": rng.normal(size=(30, 2, 32)).astype(np.float32), "y": np.arange(30) % 3}
        base.update({k: (v(tmp) if callable(v) else v) for k, v in arrays.items()})
        np.savez(path, **{k: v for k, v in base.items() if v is not None})
    return build


def with_value(index, value, shape=(30, 2, 32)):
    x = np.random.default_rng(0).normal(size=shape).astype(np.float32)
    x[index] = value
    return x


def truncated_npz(path: Path, tmp: Path):
    npz()(path, tmp)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def corrupted_npz(path: Path, tmp: Path):
    npz()(path, tmp)
    data = bytearray(path.read_bytes())
    middle = len(data) // 3
    data[middle: middle + 64] = b"\x00" * 64      # inside X's bytes: the zip CRC no longer matches
    path.write_bytes(bytes(data))


def pickle_file(path: Path, tmp: Path):
    path.write_bytes(pickle.dumps({"X": Evil(str(tmp / MARKER)), "y": [0, 1]}))


def npy_file(path: Path, tmp: Path):
    with open(path, "wb") as f:
        np.save(f, np.zeros((30, 2, 32), np.float32))


def write_bytes(data: bytes):
    def build(path: Path, tmp: Path):
        path.write_bytes(data)
    return build


UCIHAR_CHANNELS = ("body_acc_x", "body_acc_y", "body_acc_z", "body_gyro_x", "body_gyro_y",
                   "body_gyro_z", "total_acc_x", "total_acc_y", "total_acc_z")


def ucihar_layout(root: Path, mutate=None) -> Path:
    """A tiny UCI HAR Dataset folder (2 windows per class and subject), optionally mutated."""
    base = root / "UCI HAR Dataset"
    rng = np.random.default_rng(1)
    for part, subjects in (("train", (1, 3, 5)), ("test", (2,))):
        labels = [c for s in subjects for c in range(1, 7) for _ in range(2)]
        subj = [s for s in subjects for c in range(1, 7) for _ in range(2)]
        folder = base / part / "Inertial Signals"
        folder.mkdir(parents=True)
        for channel in UCIHAR_CHANNELS:
            np.savetxt(folder / f"{channel}_{part}.txt", rng.normal(size=(len(labels), 128)),
                       fmt="%.4e")
        np.savetxt(base / part / f"y_{part}.txt", labels, fmt="%d")
        np.savetxt(base / part / f"subject_{part}.txt", subj, fmt="%d")
    (base / "activity_labels.txt").write_text(
        "1 WALKING\n2 WALKING_UPSTAIRS\n3 WALKING_DOWNSTAIRS\n4 SITTING\n5 STANDING\n6 LAYING\n")
    if mutate:
        mutate(base)
    return base


def ucihar_folder(mutate):
    def build(path: Path, tmp: Path):
        path.mkdir()
        ucihar_layout(path, mutate)
    return build


def ucihar_zip(mutate=None, truncate=False, drop_marker=False):
    def build(path: Path, tmp: Path):
        base = ucihar_layout(tmp / "layout", mutate)
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
            for f in sorted(base.rglob("*")):
                if f.is_file() and not (drop_marker and f.name == "total_acc_x_train.txt"):
                    z.write(f, f.relative_to(base.parent))
        shutil.rmtree(tmp / "layout")
        if truncate:
            data = path.read_bytes()
            path.write_bytes(data[: len(data) // 2])
    return build


def append_line(rel: str, line: str):
    def mutate(base: Path):
        with open(base / rel, "a") as f:
            f.write(line)
    return mutate


def replace_text(rel: str, old: str, new: str, count: int = 1):
    def mutate(base: Path):
        p = base / rel
        p.write_text(p.read_text().replace(old, new, count))
    return mutate


def skoda_matrix(rng=None, instances=2):
    rng = rng or np.random.default_rng(2)
    labels = []
    for _ in range(instances):
        for code in range(48, 58):
            labels += [32] * 70 + [code] * 140
    labels = np.array(labels, float)
    matrix = np.zeros((len(labels), 71))
    matrix[:, 0] = labels
    for s in range(10):
        matrix[:, 7 * s + 1] = s + 1
        matrix[:, 7 * s + 2: 7 * s + 5] = rng.normal(size=(len(labels), 3))
    return matrix


def skoda(change):
    def build(path: Path, tmp: Path):
        import scipy.io
        scipy.io.savemat(path, {"right_classall_clean": change(skoda_matrix())})
    return build


def set_at(index, value):
    def change(m):
        m[index] = value
        return m
    return change


case("npz-nan", "data file", SEARCH, "nan.npz", "`.npz`: X holds a NaN",
     npz(X=with_value((4, 1, 7), np.nan)), "NaN or infinite values (first at index (4, 1, 7))")
case("npz-inf", "data file", SEARCH, "inf.npz", "`.npz`: X holds +inf",
     npz(X=with_value((0, 0, 0), np.inf)), "1 NaN or infinite values")
case("npz-rank", "data file", SEARCH, "rank2.npz", "`.npz`: X of rank 2 (30, 64)",
     npz(X=np.zeros((30, 64), np.float32)), "X must be (windows, channels, time steps)")
case("npz-rank4", "data file", SEARCH, "rank4.npz", "`.npz`: X of rank 4 (30, 2, 32, 1)",
     npz(X=np.zeros((30, 2, 32, 1), np.float32)), "got shape (30, 2, 32, 1)")
case("npz-complex", "data file", SEARCH, "complex.npz", "`.npz`: X of complex numbers",
     npz(X=np.zeros((30, 2, 32), np.complex64)), "must be real numbers, got dtype complex64")
case("npz-strings", "data file", SEARCH, "strings.npz", "`.npz`: X of strings",
     npz(X=np.full((30, 2, 32), "1.0")), "must be real numbers")
case("npz-label-range", "data file", SEARCH, "labels.npz",
     "`.npz`: labels 0..2 but meta names 2 classes",
     npz(meta=json.dumps({"classes": ["a", "b"]})), "y holds label 2 but meta names 2 classes")
case("npz-label-negative", "data file", SEARCH, "negative.npz", "`.npz`: a label -1",
     npz(y=np.arange(30) % 3 - 1), "y must hold labels 0..K-1, got -1")
case("npz-label-float", "data file", SEARCH, "fractional.npz", "`.npz`: labels 0.5",
     npz(y=np.full(30, 0.5)), "must be integers, got non-integer values")
case("npz-label-nan", "data file", SEARCH, "label-nan.npz", "`.npz`: a NaN label",
     npz(y=np.where(np.arange(30) == 3, np.nan, np.arange(30) % 3)), "contain NaN or infinite")
case("npz-class-missing", "data file", SEARCH, "missing-class.npz",
     "`.npz`: class 2 only in the test split (split column)",
     npz(split=np.where(np.arange(30) % 3 == 2, 2, 0)), "class(es) ['2'] missing from the training split")
case("npz-class-absent", "data file", SEARCH, "absent-class.npz",
     "`.npz`: meta names 4 classes, class 3 has no window",
     npz(meta=json.dumps({"classes": ["a", "b", "c", "d"]})), "class(es) ['d'] have no window at all")
case("npz-empty-train", "data file", SEARCH, "no-train.npz",
     "`.npz`: split column with validation and test windows only",
     npz(split=np.r_[np.ones(10, int), np.full(20, 2)]), "missing from the training split")
case("npz-huge-label", "data file", SEARCH, "huge-label.npz", "`.npz`: a label 10^9 (no meta)",
     npz(y=np.r_[np.arange(29) % 3, 10 ** 9]), "y holds label 1000000000 but X has only 30 windows")
case("npz-beyond-float32", "data file", SEARCH, "float64.npz", "`.npz`: float64 X with a value 1e300",
     npz(X=np.where(np.arange(30 * 2 * 32).reshape(30, 2, 32) == 7, 1e300,
                    np.random.default_rng(0).normal(size=(30, 2, 32)))),
     "values beyond the float32 range")
case("npz-float32-limit", "data file", SEARCH, "limit.npz",
     "`.npz`: X of +3.4e38 (20 windows) and -3.4e38 (10 windows)",
     npz(X=np.r_[np.full((20, 2, 32), 3.4e38), np.full((10, 2, 32), -3.4e38)].astype(np.float32)),
     "too large to normalise")
case("npz-meta-number", "data file", SEARCH, "meta-number.npz", "`.npz`: meta of 5,000 digits",
     npz(meta="9" * 5000), "meta is not valid JSON (Exceeds the limit (4300 digits)")
case("npz-meta-rate", "data file", SEARCH, "meta-rate.npz", "`.npz`: meta `sample_rate_hz: NaN`",
     npz(meta='{"sample_rate_hz": NaN}'), "meta.sample_rate_hz must be a positive number, got nan")
case("npz-too-few-per-class", "data file", SEARCH, "one-window.npz",
     "`.npz`: a class with a single window",
     npz(y=np.r_[np.arange(29) % 2, 2]), "too few training windows")
case("npz-too-few", "data file", SEARCH, "two-windows.npz", "`.npz`: 2 windows in all",
     npz(X=np.zeros((2, 2, 32), np.float32), y=np.array([0, 1])),
     "too few windows (2) to carve a test split")
case("npz-empty", "data file", SEARCH, "empty.npz", "`.npz`: 0 windows",
     npz(X=np.zeros((0, 2, 32), np.float32), y=np.zeros(0, np.int64)), "no windows")
case("npz-short", "data file", SEARCH, "short.npz", "`.npz`: windows of 8 time steps",
     npz(X=np.zeros((30, 2, 8), np.float32)), "the search space needs at least 16")
case("npz-lengths", "data file", SEARCH, "lengths.npz", "`.npz`: 30 windows, 20 labels",
     npz(y=np.arange(20) % 3), "X has 30 windows but y has 20 labels")
case("npz-missing-y", "data file", SEARCH, "no-y.npz", "`.npz`: no y array",
     npz(y=None), "missing array(s) ['y']")
case("npz-split-values", "data file", SEARCH, "split.npz", "`.npz`: split column holds 3",
     npz(split=np.full(30, 3)), "split values must be 0 (train), 1 (validation) or 2 (test)")
case("npz-object-x", "data file", SEARCH, "object.npz",
     "`.npz`: X is an object array whose unpickling would create a file",
     npz(X=lambda tmp: np.array([Evil(str(tmp / MARKER))] * 3, dtype=object)), "is an object array")
case("npz-pickled-meta", "data file", SEARCH, "meta-object.npz", "`.npz`: meta is a pickled dict",
     npz(meta=np.array({"classes": ["a", "b", "c"]}, dtype=object)), "array 'meta' is an object array")
case("npz-pickle", "data file", SEARCH, "pickle.npz",
     "a pickle named `.npz` (unpickling would create a file)", pickle_file,
     "a pickle; pickles are never loaded")
case("npz-npy", "data file", SEARCH, "array.npz", "a single `.npy` array named `.npz`", npy_file,
     "a single .npy array, not an .npz archive")
case("npz-truncated", "data file", SEARCH, "truncated.npz", "`.npz` cut in half (truncated zip)",
     truncated_npz, "not a readable .npz archive")
case("npz-crc", "data file", SEARCH, "corrupt.npz", "`.npz` with 64 bytes zeroed (bad CRC)",
     corrupted_npz, "unreadable")
case("npz-text", "data file", SEARCH, "text.npz", "a text file named `.npz`",
     write_bytes(b"X,y\n1,2\n"), "not an .npz archive")
case("data-suffix", "data file", SEARCH, "windows.xlsx", "a `.xlsx` file", write_bytes(b"1,2\n"),
     "unsupported file type '.xlsx'")
case("data-missing", "data file", SEARCH, "nothing.npz", "no such file", None,
     "no such file or folder")
case("ucihar-missing-file", "data file", SEARCH, "ucihar",
     "UCI-HAR folder without test/Inertial Signals/body_gyro_z_test.txt",
     ucihar_folder(lambda b: (b / "test" / "Inertial Signals" / "body_gyro_z_test.txt").unlink()),
     "body_gyro_z_test.txt is missing")
case("ucihar-not-layout", "data file", SEARCH, "some-folder", "a folder without the UCI-HAR layout",
     lambda p, t: (p.mkdir(), (p / "readme.txt").write_text("hi")),
     "not a UCI-HAR folder")
case("ucihar-label-range", "data file", SEARCH, "ucihar", "UCI-HAR folder with a label 7 in y_train.txt",
     ucihar_folder(replace_text("train/y_train.txt", "6\n", "7\n")),
     "train/y_train.txt must hold integer labels 1..6")
case("ucihar-ragged", "data file", SEARCH, "ucihar",
     "UCI-HAR folder: a row of body_acc_x_train.txt with 3 values",
     ucihar_folder(append_line("train/Inertial Signals/body_acc_x_train.txt", "1 2 3\n")),
     "is not a whitespace-separated table of numbers")
case("ucihar-row-count", "data file", SEARCH, "ucihar",
     "UCI-HAR folder: y_test.txt has one line too many",
     ucihar_folder(append_line("test/y_test.txt", "1\n")), "test/y_test.txt has shape (13, 1)")
case("ucihar-nan", "data file", SEARCH, "ucihar", "UCI-HAR folder: `nan` in total_acc_z_test.txt",
     ucihar_folder(lambda b: (b / "test/Inertial Signals/total_acc_z_test.txt").write_text(
         "\n".join(" ".join(["nan"] + ["0"] * 127) for _ in range(12)) + "\n")),
     "NaN or infinite")
case("ucihar-zip-truncated", "data file", SEARCH, "UCI HAR Dataset.zip", "UCI-HAR zip cut in half",
     ucihar_zip(truncate=True), "not a readable zip archive")
case("ucihar-zip-layout", "data file", SEARCH, "UCI HAR Dataset.zip",
     "UCI-HAR zip without train/Inertial Signals/total_acc_x_train.txt",
     ucihar_zip(drop_marker=True), "found 0")
case("skoda-garbage", "data file", SEARCH, "right_classall_clean.mat", "`.mat` holding text",
     write_bytes(b"MATLAB? no."), "not a readable MATLAB file")
case("skoda-columns", "data file", SEARCH, "right_classall_clean.mat",
     "SkodaR `.mat` with 70 columns", skoda(lambda m: m[:, :70]), "has 70 columns")
case("skoda-label", "data file", SEARCH, "right_classall_clean.mat", "SkodaR `.mat` with a label 77",
     skoda(set_at((5, 0), 77)), "unknown labels [77]")
case("skoda-nan", "data file", SEARCH, "right_classall_clean.mat", "SkodaR `.mat` with a NaN sample",
     skoda(set_at((100, 3), np.nan)), "NaN or infinite")
case("skoda-variable", "data file", SEARCH, "right_classall_clean.mat",
     "`.mat` with two other matrices and no right_classall_clean",
     lambda p, t: __import__("scipy.io").io.savemat(p, {"a": np.zeros((3, 3)), "b": np.ones((2, 2))}),
     "expected the variable 'right_classall_clean'")


def recording_csv(subjects=4, samples=40, header="subject,time,acc_x,acc_y,label", change=None):
    """A builder: a long-form CSV (a row per sample), `subjects` x `samples` rows, labels a/b in
    halves; `change(lines)` edits the text lines (header first)."""
    def build(path: Path, tmp: Path):
        lines = [header]
        for s in range(subjects):
            for i in range(samples):
                lines.append(f"{s},{i / 50:.2f},{np.sin(i):.4f},{np.cos(i):.4f},"
                             f"{'a' if i < samples // 2 else 'b'}")
        if change:
            lines = change(lines)
        path.write_text("\n".join(lines) + "\n")
    return build


def drop_csv_column(index):
    return lambda lines: [",".join(v for i, v in enumerate(line.split(",")) if i != index)
                          for line in lines]


def set_cell(line, column, value):
    def change(lines):
        cells = lines[line].split(",")
        cells[column] = value
        lines[line] = ",".join(cells)
        return lines
    return change


def windowed_parquet(**columns):
    def build(path: Path, tmp: Path):
        import pyarrow as pa
        import pyarrow.parquet as pq
        pq.write_table(pa.table(columns), path)
    return build


SEARCH_W64 = [*SEARCH, "--window", "64"]
case("csv-empty", "data file", SEARCH, "recording.csv", "an empty `.csv` file", write_bytes(b""),
     "empty file")
case("csv-header-only", "data file", SEARCH, "recording.csv", "a `.csv` with its header line only",
     recording_csv(subjects=0), "no rows (a row per sample is expected)")
case("csv-no-label", "data file", SEARCH, "recording.csv", "long-form `.csv` without a label column",
     recording_csv(change=drop_csv_column(4)), "no 'label' column")
case("csv-no-subject", "data file", SEARCH, "recording.csv",
     "long-form `.csv` without a subject column", recording_csv(change=drop_csv_column(0)),
     "no 'subject' column")
case("csv-text-channel", "data file", SEARCH, "recording.csv", "a channel cell `high` at line 5",
     recording_csv(change=set_cell(4, 2, "high")),
     "channel 'acc_x' is not numeric (e.g. 'high' at line 5)")
case("csv-empty-cell", "data file", SEARCH, "recording.csv", "an empty channel cell at line 7",
     recording_csv(change=set_cell(6, 3, "")), "channel 'acc_y' has an empty or NaN cell at line 7")
case("csv-ragged", "data file", SEARCH, "recording.csv", "a `.csv` row with a missing cell",
     recording_csv(change=lambda lines: lines[:3] + ["0,1.0,2.0"] + lines[3:]),
     "not a readable CSV file")
case("csv-window-too-long", "data file", SEARCH_W64, "recording.csv",
     "`--window 64`, recordings of 40 samples", recording_csv(),
     "the window (64 samples) is longer than every recording (the longest has 40 samples)")
case("csv-no-pure-window", "data file", SEARCH, "recording.csv",
     "the label changes every sample (no window has a single label)",
     recording_csv(samples=200, change=lambda lines: [lines[0]] + [
         line[:-1] + "ab"[i % 2] for i, line in enumerate(lines[1:])]),
     "no window of 128 samples has a single label")
case("parquet-not-parquet", "data file", SEARCH, "recording.parquet", "a text file named `.parquet`",
     write_bytes(b"subject,label\n1,a\n"), "not a readable Parquet file")
case("parquet-ragged-windows", "data file", SEARCH, "windows.parquet",
     "windowed `.parquet`: a window of 31 samples among 32", windowed_parquet(
         acc_x=[[0.0] * 32, [0.0] * 31], label=["a", "b"]),
     "channel 'acc_x' has 31 samples at row 2")
case("parquet-stray-column", "data file", SEARCH, "windows.parquet",
     "windowed `.parquet` with a text column `note`", windowed_parquet(
         acc_x=[[0.0] * 32], note=["hi"], label=["a"]),
     "column 'note' (string) is neither a channel")
case("npz-window", "data file", SEARCH_W64, "windows.npz", "`--window 64` on `.npz` windows",
     npz(), "already cut into windows: window applies only to data cut from recordings")
case("inspect-empty", "data file", ["data", "inspect", "{in}"], "recording.csv",
     "`data inspect` of an empty `.csv`", write_bytes(b""), "empty file")
case("front-end-rate", "data file", ["data", "inspect", "ucihar", "--rate-hz", "30"], None,
     "`--rate-hz 30` on 50 Hz recordings", None,
     "rate_hz must be the recording's 50 Hz divided by a whole number")
case("front-end-sensors", "data file", ["data", "inspect", "ucihar", "--sensors", "mag"], None,
     "`--sensors mag` on UCI-HAR (accelerometer and gyroscope)", None,
     "sensors must be some of acc, gyro (from the channel names), got ['mag']")


# --- builders: sweep specs -----------------------------------------------------------------------

def store_with_lut(tmp: Path, lut: bool = True) -> Path:
    store = tmp / "store"
    store.mkdir(exist_ok=True)
    if lut:
        shutil.copytree(os.environ["MICRONAS_TEST_LUT"], store / "lut")
    return store


def spec(body: str, lut: bool = True, **changes):
    """A builder: a valid spec (storage with a LUT in tmp_path) with top-level `changes` (YAML
    text per key; None drops the key), or `body` verbatim when given."""
    def build(path: Path, tmp: Path):
        store = store_with_lut(tmp, lut)
        lines = {"name": "t", "storage": str(store), "datasets": "[basicmotions]",
                 "mcus": f"[{L552}]", "budgets": "{latency_ms: [12], memory_kb: [6]}"}
        lines.update(changes)
        text = body or "".join(f"{k}: {v}\n" for k, v in lines.items() if v is not None)
        path.write_text(text)
    return build


case("spec-unknown-key", "sweep spec", SWEEP, "spec.yaml", "top-level key `colour: blue`",
     spec("", colour="blue"), "unknown key colour")
case("spec-name-escapes", "sweep spec", SWEEP, "spec.yaml",
     "`name: ../../outside` (would put Tune's and Optuna's folders outside the store)",
     spec("", name="../../outside"), "name must be letters, digits")
case("spec-name-absolute", "sweep spec", SWEEP, "spec.yaml", "`name: /tmp/elsewhere`",
     spec("", name="/tmp/elsewhere"), "name must be letters, digits")
case("spec-front-ends-cut", "sweep spec", SWEEP, "spec.yaml",
     "`front_ends: [{rate_hz: 25}]` on windows that come already cut",
     spec("", front_ends="[{rate_hz: 25}]"), "front_ends: basicmotions does not take rate_hz")
case("spec-front-ends-sensor", "sweep spec", SWEEP, "spec.yaml",
     "`front_ends: [{sensors: [lidar]}]`",
     spec("", datasets="[ucihar]", front_ends="[{sensors: [lidar]}]"),
     "front_ends[0].sensors must be a list of acc, gyro, mag")
case("spec-arch-every-zero", "sweep spec", SWEEP, "spec.yaml", "`search: {arch_every: 0}`",
     spec("", search="{arch_every: 0}"), "arch_every must be positive")
case("spec-unknown-search-key", "sweep spec", SWEEP, "spec.yaml", "`search: {epochz: 3}`",
     spec("", search="{epochz: 3}"), "unknown key search.epochz")
case("spec-search-type", "sweep spec", SWEEP, "spec.yaml", "`search: {epochs: 2.5}`",
     spec("", search="{epochs: 2.5}"), "search.epochs must be an integer, got 2.5")
case("spec-empty-grid", "sweep spec", SWEEP, "spec.yaml", "`budgets: {latency_ms: []}`",
     spec("", budgets="{latency_ms: []}"), "empty grid")
case("spec-empty-list", "sweep spec", SWEEP, "spec.yaml", "`budgets: []`",
     spec("", budgets="[]"), "empty list")
case("spec-negative-budget", "sweep spec", SWEEP, "spec.yaml", "`budgets: {latency_ms: [-1]}`",
     spec("", budgets="{latency_ms: [-1]}"), "positive number")
case("spec-budget-text", "sweep spec", SWEEP, "spec.yaml", "`budgets: {latency_ms: [fast]}`",
     spec("", budgets="{latency_ms: [fast]}"), "positive number")
case("spec-no-budget", "sweep spec", SWEEP, "spec.yaml", "`budgets: [{memory_kb: null}]`",
     spec("", budgets="[{memory_kb: null}]"), "needs a latency or a memory budget")
case("spec-missing-key", "sweep spec", SWEEP, "spec.yaml", "no `mcus`",
     spec("", mcus=None), "missing key 'mcus'")
case("spec-unknown-board", "sweep spec", SWEEP, "spec.yaml", "`mcus: [no-such-board]`",
     spec("", mcus="[no-such-board]"), "unknown MCU 'no-such-board'")
case("spec-unknown-dataset", "sweep spec", SWEEP, "spec.yaml", "`datasets: [no_such_set]`",
     spec("", datasets="[no_such_set]"), "unknown data set 'no_such_set'")
case("spec-data-windowed", "sweep spec", SWEEP, "spec.yaml",
     "`data: {window: 64}` with `datasets: [basicmotions]` (already windowed)",
     spec("", data="{window: 64}"), "data.window: basicmotions is already cut into windows")
case("spec-data-window-short", "sweep spec", SWEEP, "spec.yaml", "`data: {window: 8}`",
     spec("", data="{window: 8}"), "data.window must be an integer >= 16")
case("spec-unknown-method", "sweep spec", SWEEP, "spec.yaml", "`methods: [micronas, enas]`",
     spec("", methods="[micronas, enas]"), "methods: unknown method 'enas'")
case("spec-method-and-methods", "sweep spec", SWEEP, "spec.yaml",
     "`method: darts` and `methods: [darts, random]`",
     spec("", method="darts", methods="[darts, random]"), "method and methods are both set")
case("spec-retrain-unknown", "sweep spec", SWEEP, "spec.yaml", "`retrain: some`",
     spec("", retrain="some"), "retrain must be one of every, best, got 'some'")
case("spec-retrain-best-baseline", "sweep spec", SWEEP, "spec.yaml",
     "`retrain: best` with `method: darts`",
     spec("", retrain="best", method="darts"), "retrain: best chooses among a micronas point's")
case("spec-board-without-lut", "sweep spec", SWEEP, "spec.yaml", "storage whose lut/ is empty",
     spec("", lut=False), "no LUT for nucleo-l552ze-q")
case("spec-not-yaml", "sweep spec", SWEEP, "spec.yaml", "`name: [t` (unclosed bracket)",
     spec("name: [t\nmcus: x\n"), "not valid YAML")
case("spec-not-mapping", "sweep spec", SWEEP, "spec.yaml", "a YAML list",
     spec("- name\n- t\n"), "a sweep spec is a YAML mapping")
case("spec-binary", "sweep spec", SWEEP, "spec.yaml", "bytes that are not UTF-8 text",
     write_bytes(b"name: t\n\xff\xfe\x00\x81"), "cannot read the sweep spec")
case("spec-long-number", "sweep spec", SWEEP, "spec.yaml", "`seeds: [999…9]` (5,000 digits)",
     spec("", seeds="[" + "9" * 5000 + "]"), "cannot read the sweep spec (Exceeds the limit (4300 digits)")
case("spec-missing", "sweep spec", SWEEP, "nope.yaml", "no such file", None,
     "cannot read the sweep spec")


# --- builders: MCU files ---------------------------------------------------------------------------

GOOD_MCU = {"name": "my-board", "core": "cortex-m4f", "clock_hz": 64000000, "sram_bytes": 65536,
            "flash_bytes": 524288}


def mcu_file(text: str | None = None, **changes):
    def build(path: Path, tmp: Path):
        data = {**GOOD_MCU, **changes}
        path.write_text(text if text is not None
                        else json.dumps({k: v for k, v in data.items() if v is not ...}))
    return build


case("mcu-not-json", "MCU file", MCU, "my-board.json", "`{name: my-board` (not JSON)",
     mcu_file("{name: my-board"), "not a readable JSON MCU file")
case("mcu-list", "MCU file", MCU, "my-board.json", "a JSON list", mcu_file("[1, 2]"),
     "an MCU definition must be a JSON object")
case("mcu-missing-clock", "MCU file", MCU, "my-board.json", "no `clock_hz`",
     mcu_file(clock_hz=...), "MCU definition lacks 'clock_hz'")
case("mcu-negative-sram", "MCU file", MCU, "my-board.json", "`sram_bytes: -1`",
     mcu_file(sram_bytes=-1), "'sram_bytes' must be positive, got -1")
case("mcu-clock-text", "MCU file", MCU, "my-board.json", "`clock_hz: \"64 MHz\"`",
     mcu_file(clock_hz="64 MHz"), "'clock_hz' must be an integer")
case("mcu-clock-float", "MCU file", MCU, "my-board.json", "`clock_hz: 6.4e7` (a float)",
     mcu_file(clock_hz=6.4e7), "'clock_hz' must be an integer")
case("mcu-empty-name", "MCU file", MCU, "my-board.json", "`name: \"\"`", mcu_file(name=""),
     "'name' must be a non-empty string")
case("mcu-measurements", "MCU file", MCU, "my-board.json", "`measurements: \"CMSIS\"`",
     mcu_file(measurements="CMSIS"), "'measurements' must be an object or null")
case("mcu-deep", "MCU file", MCU, "my-board.json", "JSON nested 100,000 levels deep",
     mcu_file("[" * 100_000 + "]" * 100_000), "not a readable JSON MCU file (nested too deeply)")
case("mcu-long-number", "MCU file", MCU, "my-board.json", "`clock_hz` of 5,000 digits",
     mcu_file(json.dumps(GOOD_MCU).replace("64000000", "9" * 5000)),
     "Exceeds the limit (4300 digits) for integer string conversion")
case("mcu-binary", "MCU file", MCU, "my-board.json", "bytes that are not UTF-8",
     write_bytes(b"\xff\xfe{}"), "not a readable JSON MCU file")
case("mcu-missing", "MCU file", MCU, "my-board.json", "no such file", None, "no such MCU file")


# --- builders: LUT folders -------------------------------------------------------------------------

def lut_copy(change=None, predictor: bytes | None = None, raw=None):
    """A builder: a copy of the good LUT folder with its parquet table (or file) changed."""
    def build(path: Path, tmp: Path):
        import pyarrow.parquet as pq
        shutil.copytree(os.environ["MICRONAS_TEST_LUT"], path)
        table_path = path / f"{L552}.parquet"
        if raw is not None:
            table_path.write_bytes(raw(table_path.read_bytes()))
        if change is not None:
            result = change(pq.read_table(table_path))
            if isinstance(result, bytes):
                table_path.write_bytes(result)
            else:
                pq.write_table(result, table_path)
        if predictor is not None:
            (path / "predictor.json").write_bytes(predictor)
    return build


def drop_column(name):
    return lambda t: t.drop_columns([name])


def text_column(name):
    import pyarrow as pa
    return lambda t: t.set_column(t.schema.get_field_index(name), name,
                                  pa.array(["x"] * len(t), pa.string()))


def duplicate_first_row(t):
    import pyarrow as pa
    return pa.concat_tables([t, t.slice(0, 1)])


case("lut-garbage", "LUT folder", SHOW, "lut", "`nucleo-l552ze-q.parquet` holding text",
     lut_copy(lambda t: b"not parquet"), "not a readable Parquet file")
case("lut-truncated", "LUT folder", SHOW, "lut", "`nucleo-l552ze-q.parquet` cut in half",
     lut_copy(raw=lambda data: data[: len(data) // 2]), "not a readable Parquet file")
case("lut-missing-column", "LUT folder", SHOW, "lut", "table without the `cycles` column",
     lut_copy(drop_column("cycles")), "not a MicroNAS LUT (missing columns ['cycles'])")
case("lut-column-type", "LUT folder", SHOW, "lut", "`kernel_h` column of strings",
     lut_copy(text_column("kernel_h")), "not a MicroNAS LUT (column kernel_h")
case("lut-duplicates", "LUT folder", SHOW, "lut", "one op configuration twice",
     lut_copy(duplicate_first_row), "lut: LUT has duplicate op configurations")
case("lut-empty", "LUT folder", SHOW, "lut", "an empty folder", lambda p, t: p.mkdir(),
     "no LUT rows")
case("lut-url", "LUT folder", ["lut", "show", "--lut", "nosuchscheme://bucket/lut"], None,
     "a URL of an unknown protocol", None, "unsupported storage URL")
case("lut-fit-garbage", "LUT folder", ["lut", "fit", "--lut", "{in}"], "lut",
     "`lut fit` (writes predictor.json there) on a parquet holding text",
     lut_copy(lambda t: b"PAR1 not parquet PAR1"), "not a readable Parquet file")
case("lut-predictor", "LUT folder", ["cost", "--mcu", L552, "--lut", "{in}", "--model", "{model}"],
     "lut", "`predictor.json` holding `{\"format\": 1}`", lut_copy(predictor=b'{"format": 1}'),
     "not a MicroNAS latency predictor")
case("lut-predictor-deep", "LUT folder",
     ["cost", "--mcu", L552, "--lut", "{in}", "--model", "{model}"], "lut",
     "`predictor.json` nested 100,000 levels deep", lut_copy(predictor=b"[" * 100_000 + b"]" * 100_000),
     "not a JSON predictor (nested too deeply)")
case("lut-predictor-edited", "LUT folder",
     ["cost", "--mcu", L552, "--lut", "{in}", "--model", "{model}"], "lut",
     "`predictor.json` with an edited coefficient",
     lambda p, t: _edited_predictor(p), "does not match the coefficients")


def _edited_predictor(path: Path):
    lut_copy()(path, None)
    text = (path / "predictor.json").read_text()
    data = json.loads(text)

    def bump(obj):
        if isinstance(obj, dict):
            for k, v in obj.items():
                if isinstance(v, float) and v != 0:
                    obj[k] = v * 1.5
                    return True
                if bump(v):
                    return True
        elif isinstance(obj, list):
            for i, v in enumerate(obj):
                if isinstance(v, float) and v != 0:
                    obj[i] = v * 1.5
                    return True
                if bump(v):
                    return True
        return False
    assert bump(data["boards"])
    (path / "predictor.json").write_text(json.dumps(data))


# --- builders: measurement records -----------------------------------------------------------------

def real_records() -> list:
    folder = Path(os.environ["MICRONAS_TEST_RECORDS"])
    return json.loads(sorted(folder.rglob("records.json"))[-1].read_text())[:20]


def first_timed(records) -> int:
    return next(i for i, r in enumerate(records) if r.get("timing") and not r.get("error"))


def records(mutate=None, text: Callable[[str], str] | None = None, raw: bytes | None = None):
    """A builder: a records folder with one run of 20 real records, one of them mutated."""
    def build(path: Path, tmp: Path):
        target = path / "20230811-110932" / "records.json"
        target.parent.mkdir(parents=True)
        if raw is not None:
            target.write_bytes(raw)
            return
        recs = real_records()
        if mutate:
            mutate(recs[first_timed(recs)])
        body = json.dumps(recs, indent=1)
        target.write_text(text(body) if text else body)
    return build


def kernel_entry(record) -> dict:
    return next(t for t in record["timing"] if t["type"] not in (1, 255))


case("records-truncated", "measurement records", IMPORT, "records", "records.json cut off mid-way",
     records(text=lambda s: s[: len(s) // 2]), "not valid JSON (truncated or malformed at line")
case("records-object", "measurement records", IMPORT, "records", "a JSON object instead of a list",
     records(raw=b'{"timing": []}'), "a record file must hold a JSON list of records")
case("records-negative", "measurement records", IMPORT, "records", "kernel `cpuCycles: -1`",
     records(lambda r: kernel_entry(r).update(cpuCycles=-1)), "cpuCycles must be finite and non-negative")
case("records-nan", "measurement records", IMPORT, "records", "kernel `cpuCycles: NaN` (a JSON literal)",
     records(lambda r: kernel_entry(r).update(cpuCycles=123456789),
             text=lambda s: s.replace("123456789", "NaN")), "cpuCycles must be finite")
case("records-cycles-text", "measurement records", IMPORT, "records", "kernel `cpuCycles: \"12\"`",
     records(lambda r: kernel_entry(r).update(cpuCycles="12")), "cpuCycles must be a number")
case("records-type", "measurement records", IMPORT, "records", "kernel timing `type: 77`",
     records(lambda r: kernel_entry(r).update(type=77)), "unknown kernel timing type 77")
case("records-no-kernel", "measurement records", IMPORT, "records", "only execute/invoke timings",
     records(lambda r: r.update(timing=[t for t in r["timing"] if t["type"] in (1, 255)])),
     "no kernel timing entry")
case("records-no-config", "measurement records", IMPORT, "records", "a record without `modelConfig`",
     records(lambda r: r.pop("modelConfig")), "missing or malformed 'modelConfig'")
case("records-no-timing", "measurement records", IMPORT, "records", "neither `timing` nor `error`",
     records(lambda r: r.pop("timing")), "no 'timing' list and no 'error'")
case("records-shape", "measurement records", IMPORT, "records", "`input_shape: \"1x128x9x1\"`",
     records(lambda r: r["modelConfig"].update(input_shape="1x128x9x1")),
     "input_shape must be a list of positive integers")
case("records-kernel-size", "measurement records", IMPORT, "records", "`kernel_size: [3]`",
     records(lambda r: r["modelConfig"].update(kernel_size=[3])), "kernel_size must be two positive")
case("records-huge-stride", "measurement records", IMPORT, "records", "`strides: [1099511627776, 1]` (2^40)",
     records(lambda r: r["modelConfig"].update(strides=[2 ** 40, 1])),
     "strides must be two positive integers (below 2^31)")
case("records-deep", "measurement records", IMPORT, "records", "JSON nested 100,000 levels deep",
     records(raw=b"[" * 100_000 + b"]" * 100_000), "not a readable record file (JSON nested too deeply)")
case("records-long-number", "measurement records", IMPORT, "records",
     "a number literal of 5,000 digits", records(raw=b"[" + b"9" * 5000 + b"]"),
     "not a readable record file (Exceeds the limit (4300 digits)")
case("records-binary", "measurement records", IMPORT, "records", "bytes that are not UTF-8",
     records(raw=b"[\xff\xfe]"), "cannot read")
case("records-none", "measurement records", IMPORT, "records", "a folder without *.json",
     lambda p, t: (p.mkdir(), (p / "notes.txt").write_text("x")), "no record files (*.json) found")
case("records-missing", "measurement records", IMPORT, "records", "no such folder", None,
     "no such records folder")


# --- builders: finished search folders (architecture.json, result.json, weights.pt) ------------

def run_folder(arch_text=None, result_text=None, weights: bytes | None = None, drop=()):
    """A builder: a finished search folder (smallest UCI-HAR network, its weights, result.json)
    with one file replaced."""
    def build(path: Path, tmp: Path):
        import torch

        from search_core.space import SearchSpace
        from search_core.supernet import Network

        path.mkdir()
        arch = SearchSpace(128, 9, 6).smallest()
        good = json.loads(arch.to_json())
        text = arch.to_json() if arch_text is None else arch_text(good)
        (path / "architecture.json").write_bytes(text if isinstance(text, bytes) else text.encode())
        result = {"data_source": "basicmotions", "seed": 0, "mcu": L552}
        (path / "result.json").write_text(json.dumps(result) if result_text is None
                                          else result_text(result))
        if weights is None:
            torch.save(Network(arch).state_dict(), path / "weights.pt")
        else:
            (path / "weights.pt").write_bytes(weights)
        for name in drop:
            (path / name).unlink()
    return build


def dumps_with(**changes):
    return lambda d: json.dumps({**d, **changes})


case("arch-missing-files", "architecture JSON", EXPORT, "run", "no weights.pt",
     run_folder(drop=("weights.pt",)), "not a finished search (weights.pt missing")
case("arch-not-json", "architecture JSON", EXPORT, "run", "architecture.json cut off",
     run_folder(arch_text=lambda d: json.dumps(d)[:50]), "architecture.json: not valid JSON")
case("arch-binary", "architecture JSON", EXPORT_IN_PLACE, "run",
     "architecture.json of bytes that are not UTF-8 (bundle would go into the run folder)",
     run_folder(arch_text=lambda d: b'{"format": "\xff\xfe"}'), "architecture.json: not valid JSON")
case("arch-deep", "architecture JSON", EXPORT, "run", "architecture.json nested 100,000 levels deep",
     run_folder(arch_text=lambda d: "[" * 100_000 + "]" * 100_000),
     "architecture.json: not valid JSON (nested too deeply)")
case("arch-long-number", "architecture JSON", EXPORT, "run", "`input_steps` of 5,000 digits",
     run_folder(arch_text=lambda d: json.dumps(d).replace('"input_steps": 128',
                                                          '"input_steps": ' + "9" * 5000)),
     "architecture.json: not valid JSON (Exceeds the limit (4300 digits)")
case("arch-format", "architecture JSON", EXPORT, "run", "`format: \"keras\"`",
     run_folder(arch_text=dumps_with(format="keras")), "format must be 'micronas-architecture'")
case("arch-version", "architecture JSON", EXPORT, "run", "`version: 99`",
     run_folder(arch_text=dumps_with(version=99)), "unsupported architecture version 99")
case("arch-unknown-field", "architecture JSON", EXPORT, "run", "an extra field `colour`",
     run_folder(arch_text=dumps_with(colour="blue")), "unknown field(s) 'colour'")
case("arch-steps", "architecture JSON", EXPORT, "run", "`input_steps: 8`",
     run_folder(arch_text=dumps_with(input_steps=8)), "input_steps must be >= 16")
case("arch-kernel", "architecture JSON", EXPORT, "run", "a Time-Reduce cell with kernel 4",
     run_folder(arch_text=lambda d: json.dumps(
         {**d, "tr_cells": [{**d["tr_cells"][0], "kernel": 4}, *d["tr_cells"][1:]]})),
     "tr_cells[0]")
case("arch-cells", "architecture JSON", EXPORT, "run", "one Time-Reduce cell too few",
     run_folder(arch_text=lambda d: json.dumps({**d, "tr_cells": d["tr_cells"][:-1]})),
     "a 128-step input has")
case("arch-list", "architecture JSON", EXPORT_IN_PLACE, "run", "a JSON list",
     run_folder(arch_text=lambda d: "[]"), "must be a JSON object")
case("result-list", "architecture JSON", EXPORT, "run", "result.json holding a list",
     run_folder(result_text=lambda r: "[]"), "result.json: not the result of a finished search")
case("result-no-mcu", "architecture JSON", EXPORT, "run", "result.json without `mcu`",
     run_folder(result_text=lambda r: json.dumps({k: v for k, v in r.items() if k != "mcu"})),
     "not the result of a finished search (no 'mcu')")
case("result-deep", "architecture JSON", EXPORT, "run", "result.json nested 100,000 levels deep",
     run_folder(result_text=lambda r: "[" * 100_000 + "]" * 100_000),
     "result.json: not the result of a finished search (nested too deeply)")
case("weights-garbage", "architecture JSON", EXPORT_IN_PLACE, "run", "weights.pt holding text",
     run_folder(weights=b"not torch"), "weights.pt: not the weights of architecture.json")
case("weights-pickle", "architecture JSON", EXPORT, "run",
     "weights.pt a pickle whose loading would create a file",
     lambda p, t: (run_folder()(p, t), _evil_weights(p / "weights.pt", t)),
     "weights.pt: not the weights of architecture.json")


def _evil_weights(path: Path, tmp: Path):
    import torch
    torch.save({"w": Evil(str(tmp / MARKER))}, path)


# --- builders: .tflite files -----------------------------------------------------------------------

def tflite(dtype="INT8", op="SOFTMAX", shape=(1, 4), quant=True, cut=None, mutate=None) -> bytes:
    """A one-op model written with the TFLite schema's object API (no TensorFlow needed)."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as s

    m = s.ModelT()
    m.version = 3
    code = s.OperatorCodeT()
    code.builtinCode = getattr(s.BuiltinOperator, op)
    code.deprecatedBuiltinCode = min(code.builtinCode, 127)
    code.version = 1
    m.operatorCodes = [code]
    empty = s.BufferT()
    empty.data = []
    m.buffers = [empty]
    tensors = []
    for name in ("input", "output"):
        t = s.TensorT()
        t.shape, t.type, t.buffer, t.name = list(shape), getattr(s.TensorType, dtype), 0, name
        if quant:
            q = s.QuantizationParametersT()
            q.scale, q.zeroPoint = [1 / 256], [-128]
            t.quantization = q
        tensors.append(t)
    sg = s.SubGraphT()
    sg.tensors, sg.inputs, sg.outputs = tensors, [0], [1]
    o = s.OperatorT()
    o.opcodeIndex, o.inputs, o.outputs = 0, [0], [1]
    sg.operators = [o]
    m.subgraphs = [sg]
    if mutate:
        mutate(m, sg, o)
    b = flatbuffers.Builder(1024)
    b.Finish(m.Pack(b), file_identifier=b"TFL3")
    data = bytes(b.Output())
    return data[:cut] if cut else data


def model(**kw):
    def build(path: Path, tmp: Path):
        path.write_bytes(tflite(**kw))
    return build


def bad_tensor_index(m, sg, o):
    o.inputs = [7]


case("tflite-empty", ".tflite", COST, "model.tflite", "an empty file", write_bytes(b""),
     "not a valid TFLite flatbuffer")
case("tflite-zeros", ".tflite", COST, "model.tflite", "64 zero bytes", write_bytes(b"\0" * 64),
     "not a valid TFLite flatbuffer")
case("tflite-identifier", ".tflite", COST, "model.tflite", "a zip file renamed `.tflite`",
     write_bytes(b"PK\x03\x04" + b"\0" * 60), "not a valid TFLite flatbuffer")
case("tflite-truncated", ".tflite", COST, "model.tflite", "a one-op model cut to 40 bytes",
     model(cut=40), "past the end of the file")
case("tflite-tensor-index", ".tflite", COST, "model.tflite", "an op whose input is tensor 7 of 2",
     model(mutate=bad_tensor_index), "not a valid TFLite flatbuffer")
case("tflite-unpriceable", ".tflite", COST, "model.tflite",
     "an int8 TANH model (neither measured nor predictable)", model(op="TANH"),
     "op TANH with input [1, 4] is neither measured in the LUT nor predictable")
case("tflite-missing", ".tflite", COST, "model.tflite", "no such file", None, "cannot read")
case("verify-float", ".tflite", VERIFY, "model.tflite", "a float32 model",
     model(dtype="FLOAT32", quant=False), "the input is float32, not int8")
case("verify-no-quant", ".tflite", VERIFY, "model.tflite", "int8 tensors without quantisation",
     model(quant=False), "has no per-tensor quantisation")
case("verify-garbage", ".tflite", VERIFY, "model.tflite", "text renamed `.tflite`",
     write_bytes(b"this is not a model at all"), "not a valid TFLite flatbuffer")
case("verify-missing", ".tflite", VERIFY, "model.tflite", "no such file", None,
     "cannot read the model")


# --- CLI arguments ---------------------------------------------------------------------------------

GOOD_DATA = ["--dataset", "basicmotions", "--mcu", L552, "--lut", "{lut}", "--out", "{out}"]
case("arg-zero-window", "CLI arguments", ["search", *GOOD_DATA, "--lat-ms", "9", "--window", "0"],
     None, "`--window 0`", None, "argument --window: expected a positive integer, got '0'")
case("arg-negative-latency", "CLI arguments", ["search", *GOOD_DATA, "--lat-ms", "-1"], None,
     "`--lat-ms -1`", None, "argument --lat-ms: expected a positive number, got '-1'")
case("arg-nan-memory", "CLI arguments", ["search", *GOOD_DATA, "--mem-kb", "nan"], None,
     "`--mem-kb nan`", None, "argument --mem-kb: expected a positive number, got 'nan'")
case("arg-inf-latency", "CLI arguments", ["search", *GOOD_DATA, "--lat-ms", "inf"], None,
     "`--lat-ms inf`", None, "expected a positive number, got 'inf'")
case("arg-zero-memory", "CLI arguments", ["search", *GOOD_DATA, "--mem-kb", "0"], None,
     "`--mem-kb 0`", None, "expected a positive number, got '0'")
case("arg-no-budget", "CLI arguments", ["search", *GOOD_DATA], None, "no budget flag at all",
     None, "give at least one budget")
case("arg-zero-power", "CLI arguments", ["search", *GOOD_DATA, "--power-mw", "0"], None,
     "`--power-mw 0`", None, "argument --power-mw: expected a positive number, got '0'")
case("arg-energy-missing", "CLI arguments",
     ["search", *GOOD_DATA, "--lat-ms", "20", "--energy", "{out}/none.json"], None,
     "`--energy` naming no file", None, "not a readable energy file")
case("arg-power-no-step", "CLI arguments", ["search", *GOOD_DATA, "--power-mw", "1"], None,
     "`--power-mw 1` on windows that do not say how often they come", None,
     "a power budget needs the front end's window step")
case("arg-budget-too-small", "CLI arguments", ["search", *GOOD_DATA, "--lat-ms", "0.01"], None,
     "`--lat-ms 0.01` (below the smallest network)", None, "no network of the space fits")
case("arg-missing-mcu", "CLI arguments",
     ["search", "--dataset", "basicmotions", "--lat-ms", "20", "--out", "{out}"], None,
     "no --mcu", None, "the following arguments are required: --mcu")
case("arg-missing-out", "CLI arguments",
     ["lut", "import", "--mcu", L552, "--records", "{records}"], None,
     "no --out", None, "the following arguments are required: --out")
case("arg-both-sources", "CLI arguments", ["search", *GOOD_DATA, "--data", "x.npz", "--lat-ms", "9"],
     None, "--dataset and --data", None, "not allowed with argument")
case("arg-unknown-mcu", "CLI arguments", ["search", *GOOD_DATA[:2], "--mcu", "nucleo", "--lut",
                                           "{lut}", "--out", "{out}", "--lat-ms", "9"],
     None, "`--mcu nucleo`", None, "unknown MCU 'nucleo'")
case("arg-epochs", "CLI arguments", ["search", *GOOD_DATA, "--lat-ms", "20", "--epochs", "-3"], None,
     "`--epochs -3`", None, "expected a non-negative integer, got '-3'")
case("arg-seed", "CLI arguments", ["search", *GOOD_DATA, "--lat-ms", "20", "--seed", "one"], None,
     "`--seed one`", None, "argument --seed: expected an integer, got 'one'")
case("arg-cv", "CLI arguments", ["lut", "eval", "--lut", "{lut}", "--mcu", L552, "--cv", "0"], None,
     "`--cv 0`", None, "expected a positive integer, got 0")
case("arg-qat-epochs", "CLI arguments", ["export", "--run", "{out}", "--qat-epochs", "-1"], None,
     "`--qat-epochs -1`", None, "expected a non-negative integer, got '-1'")
case("arg-arena", "CLI arguments",
     ["verify", "--model", "{model}", "--mcu", L552, "--lut", "{lut}", "--arena-bytes", "0"], None,
     "`--arena-bytes 0`", None, "expected a positive integer, got '0'")
case("arg-no-lut", "CLI arguments", ["search", "--dataset", "basicmotions", "--mcu", L552,
                                      "--lat-ms", "20", "--out", "{out}"], None,
     "no --lut and no $MICRONAS_LUT", None, "no LUT: import board measurements")
case("arg-unknown-dataset", "CLI arguments", ["search", "--dataset", "ucihr", "--mcu", L552,
                                               "--lat-ms", "20", "--lut", "{lut}", "--out", "{out}"],
     None, "`--dataset ucihr`", None, "unknown data set 'ucihr'")
case("arg-unknown-command", "CLI arguments", ["frobnicate"], None, "an unknown command", None,
     "invalid choice: 'frobnicate'")
case("arg-no-command", "CLI arguments", [], None, "no command at all", None,
     "the following arguments are required: COMMAND")
case("arg-results-suffix", "CLI arguments",
     ["results", "--storage", "{out}", "--out", "{out}/table.txt"], None,
     "`results --out table.txt`", None, "--out must end in .csv or .parquet")


# --- the doc ---------------------------------------------------------------------------------------

SHOWN = {"{lut}": "LUT", "{out}": "OUT", "{records}": "RECORDS", "{model}": "MODEL"}


def command_text(c: Case) -> str:
    words = []
    for a in c.args:
        if a == "{in}":
            a = c.name
        for k, v in SHOWN.items():
            a = a.replace(k, v)
        words.append(f'"{a}"' if " " in a else a)
    return "micronas " + " ".join(words)


def markdown() -> str:
    def cell(text: str) -> str:
        return text.replace("|", "\\|")
    areas = list(dict.fromkeys(c.area for c in CASES))
    lines = [
        "# Bad input: what `micronas` says",
        "",
        "Every row is a malformed input and the one line `micronas` prints for it. For each one",
        "`tests/test_bad_input.py` (parametrised over the same table; this page is generated from",
        "it with `.venv/bin/python tests/test_bad_input.py`) builds the input, runs the command",
        "in-process and checks: exit code 2, exactly one line on stderr starting with",
        "`micronas: error:` and containing the fragment, no traceback, no warning that Python would",
        "print (more lines on stderr), and no file created, changed or removed anywhere in the",
        "test's folder (the `--out` folder does not appear; a run or LUT folder given as input",
        "stays as it was; no pickle is ever loaded). No row trains: `search` fails while reading",
        "its data, before the search.",
        "",
        "Placeholders: `LUT` is a good LUT folder (the nucleo-l552ze-q measurements and a fitted",
        "predictor), `RECORDS` good measurement records (`../shared/mcu-measurements/nucleo-f446re`),",
        "`MODEL` a good one-op int8 `.tflite`, `OUT` an output folder that must not appear. Sweep",
        "specs are a valid spec (`name: t`, a storage folder holding `lut/`, `datasets:",
        "[basicmotions]`, `mcus: [nucleo-l552ze-q]`, `budgets: {latency_ms: [12], memory_kb: [6]}`)",
        "with the change shown; measurement records are 20 real records of which one is changed;",
        "run folders hold the smallest UCI-HAR network (`architecture.json`, `weights.pt`,",
        "`result.json`) with the change shown. Fuzz tests over the record importer and the `.npz`",
        "loader: `tests/lut_store/test_fuzz_records.py`, `tests/search_core/test_fuzz_npz.py`.",
        "",
        f"{len(CASES)} rows: " + ", ".join(
            f"{sum(c.area == a for c in CASES)} {a}" for a in areas) + ".",
        "",
    ]
    n = 0
    for area in areas:
        lines += [f"## {area[0].upper() + area[1:]}", "",
                  "| # | test id | command | input | error contains |", "|---|---|---|---|---|"]
        for c in CASES:
            if c.area == area:
                n += 1
                lines.append(f"| {n} | `{c.id}` | `{cell(command_text(c))}` | {cell(c.input)} | "
                             f"`{cell(c.expect)}` |")
        lines.append("")
    return "\n".join(lines)


# --- the tests -------------------------------------------------------------------------------------

@pytest.fixture(autouse=True)
def _environment(lut_folder, measurements, monkeypatch, tmp_path_factory):
    monkeypatch.setenv("MICRONAS_TEST_LUT", lut_folder)
    monkeypatch.setenv("MICRONAS_TEST_RECORDS", str(measurements / F446))
    monkeypatch.setenv("MICRONAS_CACHE", str(tmp_path_factory.mktemp("cache")))
    for name in ("MICRONAS_LUT", "MICRONAS_MCU_PATH", "RAY_ADDRESS", "MICRONAS_STORAGE"):
        monkeypatch.delenv(name, raising=False)


def snapshot(folder: Path) -> dict:
    """Every file and folder below `folder`: files with size, mtime and content hash."""
    import hashlib
    out = {}
    for p in sorted(folder.rglob("*")):
        rel = str(p.relative_to(folder))
        if p.is_file():
            st = p.stat()
            out[rel] = (st.st_size, st.st_mtime_ns, hashlib.sha256(p.read_bytes()).hexdigest())
        else:
            out[rel] = "dir"
    return out


@pytest.mark.parametrize("c", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(c: Case, tmp_path, capsys, lut_folder,
                                                         measurements):
    work = tmp_path / "work"
    work.mkdir()
    target = work / (c.name or "input")
    good_model = work / "model-good.tflite"
    if any("{model}" in a for a in c.args):
        good_model.write_bytes(tflite())
    if c.build is not None:
        c.build(target, work)
    out = work / "out"
    values = {"{in}": str(target),
              "{out}": str(out), "{lut}": lut_folder, "{records}": str(measurements / F446),
              "{model}": str(good_model)}
    argv = []
    for a in c.args:
        for k, v in values.items():
            a = a.replace(k, v)
        argv.append(a)
    lut_before = snapshot(Path(lut_folder))
    before = snapshot(work)
    capsys.readouterr()

    from orchestrator.cli import main
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        code = main(argv)
    # A warning that Python shows by default would be more lines on the real command's stderr.
    shown = [f"{w.category.__name__}: {w.message} ({w.filename}:{w.lineno})" for w in caught
             if not issubclass(w.category, (DeprecationWarning, PendingDeprecationWarning,
                                            ImportWarning, ResourceWarning))]

    captured = capsys.readouterr()
    err = captured.err
    assert code == 2, (code, err)
    assert "Traceback" not in err and "Traceback" not in captured.out
    assert err.endswith("\n") and err.count("\n") == 1, err
    assert err.startswith("micronas: error: "), err
    assert c.expect in err, err
    assert not shown, shown
    assert not out.exists(), f"{out} was created"
    assert not (work / MARKER).exists(), "a pickle was loaded"
    assert snapshot(work) == before, "files changed under the test folder"
    assert snapshot(Path(lut_folder)) == lut_before


def test_doc_lists_the_same_table():
    assert DOC.is_file(), f"{DOC} missing: run .venv/bin/python tests/test_bad_input.py"
    assert DOC.read_text() == markdown(), \
        f"{DOC} is out of date: run .venv/bin/python tests/test_bad_input.py"


def test_table_size_and_ids():
    assert len(CASES) >= 30
    assert len({c.id for c in CASES}) == len(CASES)


if __name__ == "__main__":
    DOC.parent.mkdir(exist_ok=True)
    DOC.write_text(markdown())
    print(f"{DOC}: {len(CASES)} rows")
    sys.exit(0)
