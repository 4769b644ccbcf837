"""`load_dataset`: names and paths to loaders, the conversion cache, splitting and scaling."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from lut_store.errors import InputError

from . import _cache
from ._dataset import Dataset
from ._hapt import convert_hapt, convert_ucihar, hapt_file
from ._npz import convert_npz
from ._raw import RawWindows, check_raw
from ._skoda import convert_skoda
from ._split import build_dataset
from ._tables import convert_long, convert_windowed, is_windowed_parquet
from ._uea import KNOWN as _UEA, convert_known, convert_ts, known_files, pair_of
from ._ucihar_zip import _Source, convert_ucihar_layout

# Bump when a conversion changes its output, so stale cache entries are never read.
_CACHE_VERSION = 3


@dataclass(frozen=True)
class _Loader:
    kind: str
    sources: Callable[[dict], list[Path]]
    convert: Callable[[dict], RawWindows]
    defaults: dict
    cached: bool = True


# The front end a recording source can change besides the window (search_core.data._front_end):
# which sensors are on and the sampling rate (None: the recording's).
_FRONT_END = {"rate_hz": None, "sensors": None}

_NAMED = {
    "ucihar": _Loader("ucihar", lambda o: [hapt_file()],
                      lambda o: convert_ucihar(hapt_file(), **o),
                      {"window": 128, "step": 64, "align": "recording", **_FRONT_END}),
    "hapt": _Loader("hapt", lambda o: [hapt_file()],
                    lambda o: convert_hapt(hapt_file(), **o),
                    {"classes": 6, "window": 128, "step": 64, "align": "recording", **_FRONT_END}),
    # UCI-HAPT's 12 classes (the 6 activities and the 6 postural transitions) under a name of
    # its own, so that a command line, a spec and every results row can say which one ran.
    "hapt12": _Loader("hapt12", lambda o: [hapt_file()],
                      lambda o: convert_hapt(hapt_file(), classes=12, **o),
                      {"window": 128, "step": 64, "align": "recording", **_FRONT_END}),
    **{name: _Loader(name, lambda o, name=name: list(known_files(name, o["variant"])),
                     lambda o, name=name: convert_known(name, **o), {"variant": "eq"})
       for name in _UEA},
}
KNOWN_DATASETS = tuple(_NAMED)
PATH_KINDS = (".csv or .parquet (recordings, a row per sample; or windowed Parquet), .npz (windowed "
              "user data), .mat (SkodaR), .ts (UEA pair), .zip or folder (UCI-HAR layout)")
# Loader options that cut recordings into windows (see `cuts_windows`).
WINDOWING = ("window", "step")
_TABLE_DEFAULTS = {"window": 128, "step": None, "align": "recording", "columns": None}


def _ucihar_sources(path: Path) -> list[Path]:
    if path.is_dir():
        root = _Source(path).dir
        return sorted(p for p in root.rglob("*.txt") if p.is_file())
    return [path]


def _path_loader(path: Path) -> _Loader:
    suffix = path.suffix.lower()
    if path.is_dir() or suffix == ".zip":
        return _Loader("ucihar_layout", lambda o: _ucihar_sources(path),
                       lambda o: convert_ucihar_layout(path), {})
    if suffix == ".npz":
        return _Loader("npz", lambda o: [path], lambda o: convert_npz(path), {}, cached=False)
    if suffix == ".mat":
        return _Loader("skoda", lambda o: [path], lambda o: convert_skoda(path, **o),
                       {"window": 64, "step": 64, "include_null": False, "sample_rate_hz": 98.0,
                        "align": "recording"})
    if suffix == ".ts":
        return _Loader("ts", lambda o: list(pair_of(path)), lambda o: convert_ts(*pair_of(path)), {})
    # Tables are read in well under a second by pyarrow: not worth a cache entry.
    if suffix == ".csv":
        return _Loader("csv", lambda o: [path], lambda o: convert_long(path, **o), _TABLE_DEFAULTS,
                       cached=False)
    if suffix in (".parquet", ".pq"):
        if is_windowed_parquet(path):
            return _Loader("parquet_windows", lambda o: [path], lambda o: convert_windowed(path, **o),
                           {"columns": None}, cached=False)
        return _Loader("parquet", lambda o: [path], lambda o: convert_long(path, **o),
                       _TABLE_DEFAULTS, cached=False)
    raise InputError(f"{path}: unsupported file type {suffix or '(none)'!r}; give a known name "
                     f"({', '.join(KNOWN_DATASETS)}) or a path to a {PATH_KINDS}")


def _resolve(name_or_path) -> tuple[str, _Loader, Path | None]:
    if isinstance(name_or_path, str) and name_or_path.strip().lower() in _NAMED \
            and not os.path.exists(name_or_path):
        name = name_or_path.strip().lower()
        return name, _NAMED[name], None
    if not isinstance(name_or_path, (str, os.PathLike)):
        raise InputError(f"data set must be a name ({', '.join(KNOWN_DATASETS)}) or a path, "
                         f"got {type(name_or_path).__name__}")
    path = Path(name_or_path).expanduser()
    if not path.exists():
        if isinstance(name_or_path, str) and os.sep not in name_or_path and not path.suffix:
            raise InputError(f"unknown data set {name_or_path!r}: known names are "
                             f"{', '.join(KNOWN_DATASETS)}; or give a path to a {PATH_KINDS}")
        raise InputError(f"{path}: no such file or folder")
    return path.stem if path.is_file() else path.name, _path_loader(path), path


def _options(kind: str, loader: _Loader, options: dict) -> dict:
    unknown = sorted(set(options) - set(loader.defaults))
    if unknown and set(unknown) <= set(WINDOWING):
        raise InputError(f"{kind}: already cut into windows: {' and '.join(unknown)} "
                         f"appl{'ies' if len(unknown) == 1 else 'y'} only to data cut from "
                         "recordings (CSV/Parquet long form, .mat, ucihar, hapt, hapt12)")
    if unknown:
        accepted = ", ".join(sorted(loader.defaults)) or "none"
        raise InputError(f"{kind}: unknown option(s) {unknown}; accepted options: {accepted}")
    return {**loader.defaults, **options}


def front_end_options(name_or_path) -> tuple[str, ...]:
    """Which of the front-end options (window, step, rate_hz, sensors) `load_dataset` takes for
    this source (none for windows that come already cut). Reads no data."""
    _, loader, _ = _resolve(name_or_path)
    return tuple(k for k in (*WINDOWING, *_FRONT_END) if k in loader.defaults)


def options_for(name_or_path, front_end: dict | None) -> dict:
    """The `load_dataset` options that cut this source as a recorded front end did
    (`Dataset.front_end`, as result.json keeps it): window and step, the rate where it was
    decimated, the sensors where the source chooses them. Nothing for pre-cut windows."""
    if not front_end:
        return {}
    accepted = front_end_options(name_or_path)
    out = {k: front_end.get(k) for k in WINDOWING if k in accepted and front_end.get(k)}
    if "rate_hz" in accepted and int(front_end.get("decimation") or 1) > 1:
        out["rate_hz"] = float(front_end["sample_rate_hz"])
    if "sensors" in accepted and front_end.get("sensors"):
        out["sensors"] = list(front_end["sensors"])
    return out


def cuts_windows(name_or_path) -> bool:
    """Whether `load_dataset` cuts this source's recordings into windows, so that it takes the
    `window` and `step` options: ucihar, hapt, hapt12, SkodaR .mat, CSV or Parquet long form
    (not: .npz, .ts, windowed Parquet, the UEA sets, a UCI-HAR folder). Reads no data; an
    unknown name or a missing file raises InputError."""
    _, loader, _ = _resolve(name_or_path)
    return set(WINDOWING) <= set(loader.defaults)


def load_dataset(name_or_path, *, seed: int = 0, val_fraction: float = 0.1, test_fraction: float = 0.2,
                 normalize: bool = True, cache_dir=None, cache: bool | str = True,
                 protocol: str = "official", fold: int = 0, folds: int = 5, **options) -> Dataset:
    """Load a known data set by name, or user data by path, as a searchable `Dataset`.

    Names: ucihar (UCI-HAR's 9 channels rebuilt from the HAPT recordings), hapt (6 raw channels;
    option classes=6|12), hapt12 (= hapt with classes=12), basicmotions, japanesevowels (option
    variant="eq"|"pad").
    Paths: .csv / .parquet recordings in long form (a row per sample: subject, optional session,
    time and split, label, channels; options window, step (default window // 2), align, columns)
    or windowed Parquet (a list column per channel; option columns) — see the _tables module;
    .npz windows, SkodaR .mat (options window, step, include_null), a UEA .ts pair, UCI-HAR
    folder or .zip. Sources cut from recordings take window/step/align options (`cuts_windows`).

    Test split: the source's own (official subjects, TEST files, a split column) or carved with
    `test_fraction`; validation: carved from the training data with `val_fraction` (whole subjects
    where there are several, else whole labelled segments, else stratified windows; seeded).
    Protocol: "official" (as above), "subjects" (subject-wise `folds`-fold, test = fold `fold`) or
    "paper-random" (random windows across the splits: leaky, only to compare with published
    figures); recorded as `Dataset.protocol`.
    Normalisation: per-channel z-score fitted on the training split only (`norm_mean`, `norm_std`).
    Conversions are cached as .npz under `cache_dir` (default $MICRONAS_CACHE/data or
    ~/.cache/micronas/data), keyed by the source files' identity and the options;
    `cache="read"` uses an entry that is there but never writes one (a command that only looks).
    """
    if cache not in (True, False, "read"):
        raise InputError(f"cache must be True, False or 'read', got {cache!r}")
    name, loader, path = _resolve(name_or_path)
    params = _options(name if path is None else str(path), loader, options)
    where = name if path is None else str(path)
    raw = None
    status = "off"
    directory = None
    if cache and loader.cached:
        directory = Path(cache_dir).expanduser() if cache_dir is not None else _cache.default_cache_dir()
        try:
            key = _cache.cache_key(loader.kind, _CACHE_VERSION, loader.sources(params), params)
        except OSError as exc:
            raise InputError(f"{where}: cannot read the source ({exc})") from None
        raw = _cache.load(directory, loader.kind, key)
        status = "hit" if raw is not None else "miss"
    if raw is None:
        try:
            raw = check_raw(loader.convert(params), where)
        except (TypeError, MemoryError) as exc:
            raise InputError(f"{where}: cannot convert ({type(exc).__name__}: {exc})") from None
        if status == "miss" and cache == "read":
            status = "miss (not written: read-only)"
        elif status == "miss":
            written = _cache.store(directory, loader.kind, key, raw)
            status = f"miss (written to {written})" if written else "miss (not written)"
    else:
        raw = check_raw(raw, where)
    raw.info["cache"] = status
    return build_dataset(name, raw, seed=seed, val_fraction=val_fraction, test_fraction=test_fraction,
                         normalize=normalize, where=where, protocol=protocol, fold=fold, folds=folds)
