"""User recordings as tables: CSV or Parquet in long form (a row per sample), or Parquet that is
already windowed (a row per window). Read with pyarrow; nothing is evaluated from the file.

Long form (`.csv`, or a `.parquet` whose columns are all scalars), one row per sample:

    subject   required  who was recorded: integers, or names (numbered 0..n-1 in sorted order)
    session   optional  one recording session of a subject
    time      optional  numbers (seconds) or timestamps: rows are ordered by (subject, session,
                        time), the sample rate is 1 / the median step, and a gap of more than 1.5
                        median steps ends a recording (no window spans missing samples)
    split     optional  train / val / test (or 0 / 1 / 2): the source's own split
    label     required  the class of the sample: names or integers; an empty cell is unlabelled
                        time (never a window's label)
    any other column    a sensor channel, in file order: numbers only, no empty cell or NaN

A recording is a contiguous run of rows with the same subject, session and split (in file order;
with a time column after sorting). Each is cut into windows of `window` samples starting at its
first sample and every `step` samples (default: half the window). A window takes the one label
all its samples share: windows that straddle a label change, or hold unlabelled time, are dropped
(the rule of every recording loader here: `pure_windows`). Windows never cross a recording.

Windowed Parquet (a `.parquet` with list columns), one row per window:

    label     required  as above (no empty cell)
    subject   optional  subject-wise splits
    split     optional  as above
    every list column   a sensor channel: a list of T numbers per row, the same T everywhere

Classes are the distinct labels in sorted order (numbers numerically), named as written.
Column names can be changed with `columns={"label": "activity", ...}` (load_dataset's option).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lut_store.errors import InputError

from ._raw import RawWindows
from ._windows import check_window_step, gather, pure_windows

ROLES = ("subject", "session", "time", "split", "label")
SPLIT_NAMES = {"train": 0, "val": 1, "validation": 1, "test": 2, 0: 0, 1: 1, 2: 2}
_GAP = 1.5   # a time step over 1.5 median steps is missing samples: the recording ends there
_UNITS = {"s": 1.0, "ms": 1e3, "us": 1e6, "ns": 1e9}


def _columns(columns, where: str) -> dict[str, str]:
    if columns is None:
        return {r: r for r in ROLES}
    if not isinstance(columns, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                                for k, v in columns.items()):
        raise InputError(f"{where}: columns must map roles to column names, got {columns!r}")
    unknown = sorted(set(columns) - set(ROLES))
    if unknown:
        raise InputError(f"{where}: columns: unknown role(s) {unknown}; roles: {', '.join(ROLES)}")
    return {r: columns.get(r, r) for r in ROLES}


# --- reading ---------------------------------------------------------------------------------------

def _read_csv(path: Path):
    import pyarrow as pa
    import pyarrow.csv as pcsv

    try:
        if path.stat().st_size == 0:
            raise InputError(f"{path}: empty file (a CSV needs a header line and one row per sample)")
        table = pcsv.read_csv(path, convert_options=pcsv.ConvertOptions(strings_can_be_null=True))
    except OSError as exc:
        raise InputError(f"{path}: unreadable ({exc.strerror or exc})") from None
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as exc:
        text = _first_line(exc)
        if "Empty CSV" in text:   # a header line without a line break after it
            raise InputError(f"{path}: no rows (a row per sample is expected)") from None
        raise InputError(f"{path}: not a readable CSV file ({text})") from None
    return table


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


def _parquet(path: Path, read):
    """pyarrow raises many kinds (OSError, ArrowInvalid, UnicodeDecodeError, …) on a file that is
    not Parquet or is damaged: each is one line."""
    try:
        return read(path)
    except (FileNotFoundError, PermissionError, IsADirectoryError) as exc:
        raise InputError(f"{path}: unreadable ({exc.strerror or exc})") from None
    except Exception as exc:  # noqa: BLE001 - see the docstring
        raise InputError(f"{path}: not a readable Parquet file ({_first_line(exc)})") from None


def parquet_schema(path: Path):
    import pyarrow.parquet as pq
    return _parquet(path, pq.read_schema)


def _read_parquet(path: Path):
    import pyarrow.parquet as pq
    return _parquet(path, pq.read_table)


def is_windowed_parquet(path: Path) -> bool:
    """A Parquet file with a list column holds windows; one of scalar columns only, samples."""
    import pyarrow as pa
    return any(_is_list(pa, field.type) for field in parquet_schema(path))


def _is_list(pa, t) -> bool:
    return pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t)


# --- column conversions ----------------------------------------------------------------------------

class _Table:
    """A pyarrow table and how to name its rows in messages (CSV: the file's line numbers)."""

    def __init__(self, table, path: Path, csv: bool):
        # pandas' to_parquet stores a non-default index as a column of its own: not a channel.
        index = [n for n in table.column_names if n.startswith("__index_level_")]
        table = table.drop_columns(index) if index else table
        self.table, self.path, self.csv = table, path, csv
        self.names = list(table.column_names)
        if "" in self.names or any(n.startswith("Unnamed: ") for n in self.names):
            raise InputError(f"{path}: a column without a name (pandas' index? write the file with "
                             "index=False)")
        if len(set(self.names)) != len(self.names):
            dup = sorted({n for n in self.names if self.names.count(n) > 1})
            raise InputError(f"{path}: duplicate column name(s) {dup}")

    def row(self, i: int) -> str:
        return f"line {i + 2}" if self.csv else f"row {i + 1}"

    def column(self, name: str):
        import pyarrow as pa
        col = self.table.column(name).combine_chunks()
        # pandas writes categorical columns as dictionaries: read them as their values.
        return col.dictionary_decode() if pa.types.is_dictionary(col.type) else col


def _first_null(col) -> int | None:
    if col.null_count == 0:
        return None
    return int(np.flatnonzero(~np.asarray(col.is_valid()))[0])


def _numbers(t: _Table, name: str, what: str) -> np.ndarray:
    import pyarrow as pa

    col = t.column(name)
    if pa.types.is_integer(col.type) or pa.types.is_floating(col.type) or pa.types.is_null(col.type):
        first = _first_null(col)
        if first is not None or pa.types.is_null(col.type):
            raise InputError(f"{t.path}: {what} {name!r} has an empty or NaN cell at "
                             f"{t.row(first or 0)}")
        values = col.to_numpy(zero_copy_only=False)
        finite = np.isfinite(values) if values.dtype.kind == "f" else np.ones(len(values), bool)
        if not finite.all():
            raise InputError(f"{t.path}: {what} {name!r} holds NaN or infinite values (first at "
                             f"{t.row(int(np.argmin(finite)))})")
        return values
    sample = ""
    if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
        for i, v in enumerate(col.to_pylist()):
            try:
                float(v)
            except (TypeError, ValueError):
                sample = f" (e.g. {v!r} at {t.row(i)})"
                break
    raise InputError(f"{t.path}: {what} {name!r} is not numeric{sample}: every column other than "
                     f"{', '.join(ROLES)} is a sensor channel and must hold numbers")


def _codes(t: _Table, name: str, what: str, allow_null: bool = False):
    """(int codes per row, -1 for an empty cell, the distinct values in sorted order)."""
    import pyarrow as pa

    col = t.column(name)
    first = _first_null(col)
    if first is not None and not allow_null:
        raise InputError(f"{t.path}: {what} column {name!r} has an empty cell at {t.row(first)}")
    valid = np.asarray(col.is_valid()) if col.null_count else np.ones(len(col), bool)
    if pa.types.is_floating(col.type):
        v = col.to_numpy(zero_copy_only=False)
        ok = v[valid]
        if not (np.isfinite(ok).all() and np.array_equal(ok, np.round(ok))):
            bad = ok[~np.isfinite(ok) | (ok != np.round(ok))][:1].tolist()
            raise InputError(f"{t.path}: {what} column {name!r} holds non-integer numbers such as "
                             f"{bad}")
        values = np.where(valid, np.nan_to_num(v), 0).astype(np.int64)
    elif pa.types.is_integer(col.type) or pa.types.is_boolean(col.type):
        values = np.asarray(col.fill_null(0).to_numpy(zero_copy_only=False)).astype(np.int64)
    elif pa.types.is_string(col.type) or pa.types.is_large_string(col.type) or pa.types.is_null(col.type):
        values = np.array(["" if v is None else v for v in col.to_pylist()], dtype=object)
    else:
        raise InputError(f"{t.path}: {what} column {name!r} must hold names or integers, got "
                         f"{col.type}")
    distinct, codes = np.unique(values[valid], return_inverse=True)
    out = np.full(len(values), -1, np.int64)
    out[valid] = codes
    return out, distinct


def _split_codes(t: _Table, name: str) -> np.ndarray:
    codes, distinct = _codes(t, name, "split")
    mapped = []
    for v in distinct.tolist():
        key = v.strip().lower() if isinstance(v, str) else v
        if key not in SPLIT_NAMES:
            raise InputError(f"{t.path}: split column {name!r} holds {v!r}; use train, val or test "
                             "(or 0, 1, 2)")
        mapped.append(SPLIT_NAMES[key])
    return np.asarray(mapped, np.int8)[codes]


def _subjects(t: _Table, name: str, info: dict) -> np.ndarray:
    codes, distinct = _codes(t, name, "subject")
    if distinct.dtype.kind in "iu":
        return distinct.astype(np.int64)[codes]
    shown = ", ".join(f"{v}={i}" for i, v in enumerate(distinct.tolist()[:20]))
    info["subjects"] = f"names numbered in sorted order: {shown}" + (" …" if len(distinct) > 20 else "")
    return codes


def _classes(distinct) -> tuple[str, ...]:
    return tuple(str(v) for v in distinct.tolist())


def _time(t: _Table, name: str) -> np.ndarray:
    import pyarrow as pa
    import pyarrow.compute as pc

    col = t.column(name)
    if pa.types.is_timestamp(col.type):
        first = _first_null(col)
        if first is not None:
            raise InputError(f"{t.path}: time column {name!r} has an empty cell at {t.row(first)}")
        ints = pc.cast(col, pa.int64()).to_numpy(zero_copy_only=False)
        return ints.astype(np.float64) / _UNITS[col.type.unit]
    return _numbers(t, name, "time column").astype(np.float64)


def _require(t: _Table, cols: dict, roles) -> None:
    for role in roles:
        if cols[role] not in t.names:
            found = ", ".join(repr(n) if len(n) <= 40 else repr(n[:40]) + "…" for n in t.names[:12])
            raise InputError(f"{t.path}: no {cols[role]!r} column (found {found}"
                             f"{' …' if len(t.names) > 12 else ''}); a recording table needs "
                             f"{' and '.join(repr(cols[r]) for r in roles)}")


# --- long form -------------------------------------------------------------------------------------

def convert_long(path: Path, *, window: int = 128, step: int | None = None, align: str = "recording",
                 columns=None) -> RawWindows:
    where = str(path)
    step = max(1, window // 2) if step is None and isinstance(window, int) else step
    window, step = check_window_step(window, step, where)
    cols = _columns(columns, where)
    csv = path.suffix.lower() == ".csv"
    t = _Table(_read_csv(path) if csv else _read_parquet(path), path, csv)
    _require(t, cols, ("subject", "label"))
    n = t.table.num_rows
    if n == 0:
        raise InputError(f"{path}: no rows (a row per sample is expected)")
    roles = {cols[r] for r in ROLES}
    channel_names = [c for c in t.names if c not in roles]
    if not channel_names:
        raise InputError(f"{path}: no sensor channel column (every column other than "
                         f"{', '.join(cols[r] for r in ROLES)} is a channel)")
    info: dict = {}
    subjects = _subjects(t, cols["subject"], info)
    labels, label_values = _codes(t, cols["label"], "label", allow_null=True)
    if not len(label_values):
        raise InputError(f"{path}: label column {cols['label']!r} is empty in every row")
    session = _codes(t, cols["session"], "session")[0] if cols["session"] in t.names else None
    split = _split_codes(t, cols["split"]) if cols["split"] in t.names else None
    time = _time(t, cols["time"]) if cols["time"] in t.names else None
    signal = np.stack([_numbers(t, c, "channel") for c in channel_names], axis=1)

    keys = [subjects] + [k for k in (session, split) if k is not None]
    if time is not None:
        order = np.lexsort((time, *reversed(keys)))
        subjects, labels, signal, time = subjects[order], labels[order], signal[order], time[order]
        session = None if session is None else session[order]
        split = None if split is None else split[order]
        keys = [k[order] for k in keys]
    boundary = np.zeros(n, bool)
    boundary[0] = True
    for k in keys:
        boundary[1:] |= k[1:] != k[:-1]
    rate = None
    if time is not None:
        steps = np.diff(time)[~boundary[1:]]
        steps = steps[steps > 0]
        if steps.size:
            median = float(np.median(steps))
            rate = float(f"{1.0 / median:.6g}")   # 25.000000000000533 Hz is 25 Hz
            gap = np.r_[False, np.diff(time) > _GAP * median] & ~boundary
            boundary |= gap
            info["time"] = (f"ordered by {cols['time']!r}; sample rate {rate:.6g} Hz (1 / median "
                            f"step); {int(gap.sum())} gap(s) over {_GAP} steps end a recording")
    starts_of = np.flatnonzero(boundary)
    ends_of = np.r_[starts_of[1:], n]

    all_starts, all_y, all_groups = [], [], []
    offset = 0
    longest = 0
    for a, b in zip(starts_of.tolist(), ends_of.tolist()):
        longest = max(longest, b - a)
        s, y, runs = pure_windows(labels[a:b], window, step, align)
        keep = y >= 0
        all_starts.append(s[keep] + a)
        all_y.append(y[keep])
        all_groups.append(runs[keep] + offset)
        offset += (b - a) + 1
    starts = np.concatenate(all_starts)
    y = np.concatenate(all_y)
    if len(starts) == 0:
        if longest < window:
            raise InputError(f"{path}: the window ({window} samples) is longer than every recording "
                             f"(the longest has {longest} samples): use a smaller window")
        raise InputError(f"{path}: no window of {window} samples has a single label (windows that "
                         "straddle a label change or hold unlabelled rows are dropped): use a "
                         "smaller window")
    info.update({
        "source": f"user recordings ({path.name}: long form, {n} samples, "
                  f"{len(starts_of)} recording(s))",
        "windowing": f"window {window}, step {step}, pure-label windows aligned to the {align}; "
                     "windows straddling a label change or a recording boundary are dropped",
    })
    if split is not None:
        info["split_given"] = f"the file's {cols['split']!r} column"
    return RawWindows(
        x=gather(signal, starts, window), y=y, classes=_classes(label_values),
        channels=tuple(channel_names), sample_rate_hz=rate, subjects=subjects[starts],
        split=None if split is None else split[starts], groups=np.concatenate(all_groups),
        info=info,
    )


# --- windowed Parquet ------------------------------------------------------------------------------

def convert_windowed(path: Path, *, columns=None) -> RawWindows:
    import pyarrow as pa
    import pyarrow.compute as pc

    where = str(path)
    cols = _columns(columns, where)
    t = _Table(_read_parquet(path), path, csv=False)
    _require(t, cols, ("label",))
    n = t.table.num_rows
    if n == 0:
        raise InputError(f"{path}: no rows (a row per window is expected)")
    scalars = {cols[r] for r in ("label", "subject", "split")}
    channel_names, length = [], None
    for name in t.names:
        col_type = t.table.schema.field(name).type
        if name in scalars:
            continue
        if not _is_list(pa, col_type):
            raise InputError(f"{path}: column {name!r} ({col_type}) is neither a channel (a list of "
                             f"samples per window) nor {', '.join(sorted(scalars))}")
        channel_names.append(name)
    if not channel_names:
        raise InputError(f"{path}: no channel column (a list of samples per window)")
    channels = []
    for name in channel_names:
        col = t.column(name)
        first = _first_null(col)
        if first is not None:
            raise InputError(f"{path}: channel {name!r} has no window at {t.row(first)}")
        lengths = np.asarray(pc.list_value_length(col).to_numpy(zero_copy_only=False))
        want = int(lengths[0]) if length is None else length
        if (lengths != want).any():
            bad = int(np.flatnonzero(lengths != want)[0])
            raise InputError(f"{path}: channel {name!r} has {int(lengths[bad])} samples at "
                             f"{t.row(bad)}, other windows {want}: every window needs the same length")
        length = want
        values = col.flatten()
        if not (pa.types.is_integer(values.type) or pa.types.is_floating(values.type)):
            raise InputError(f"{path}: channel {name!r} holds {values.type}, not numbers")
        if values.null_count:
            raise InputError(f"{path}: channel {name!r} has an empty sample (null)")
        arr = values.to_numpy(zero_copy_only=False)
        if arr.dtype.kind == "f" and not np.isfinite(arr).all():
            row = int(np.argmin(np.isfinite(arr))) // max(length, 1)
            raise InputError(f"{path}: channel {name!r} holds NaN or infinite values (first at "
                             f"{t.row(row)})")
        channels.append(arr.reshape(n, length))
    info: dict = {"source": f"user windows ({path.name}: windowed Parquet, {n} windows)",
                  "windowing": f"one window per row ({length} steps)"}
    labels, label_values = _codes(t, cols["label"], "label")
    subjects = _subjects(t, cols["subject"], info) if cols["subject"] in t.names else None
    split = _split_codes(t, cols["split"]) if cols["split"] in t.names else None
    if split is not None:
        info["split_given"] = f"the file's {cols['split']!r} column"
    return RawWindows(
        x=np.stack(channels, axis=2).astype(np.float32), y=labels, classes=_classes(label_values),
        channels=tuple(channel_names), subjects=subjects, split=split, info=info,
    )
