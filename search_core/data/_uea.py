"""UEA/UCR `.ts` text files (the multivariate archive's format), parsed by us.

Layout: `#` comments, `@key value` header lines (`@dimensions`, `@equalLength`, `@seriesLength`,
`@classLabel true a b c`, …), then `@data` and one series per line: the dimensions separated by
`:`, the values of one dimension by `,`, the class label last. `?` is a missing value.
BasicMotions and JapaneseVowels come from the aeon wheel's data folder (files only, aeon is never
imported).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from lut_store.errors import InputError

from .._versions import pin
from ._raw import RawWindows

AEON_PIN = pin("aeon")   # pyproject.toml [tool.micronas] no-deps

# What the archive's descriptions say about these sets.
KNOWN = {
    "basicmotions": {
        "folder": "BasicMotions", "stem": "BasicMotions", "sample_rate_hz": 10.0,
        "channels": ("acc_x", "acc_y", "acc_z", "gyro_x", "gyro_y", "gyro_z"),
    },
    "japanesevowels": {
        "folder": "JapaneseVowels", "stem": "JapaneseVowels", "sample_rate_hz": None,
        "channels": tuple(f"lpc_cepstrum_{i}" for i in range(1, 13)),
    },
}


def aeon_data_dir() -> Path:
    spec = importlib.util.find_spec("aeon")
    if spec is None or not spec.submodule_search_locations:
        raise InputError(f"the UEA example data sets come with aeon: pip install --no-deps {AEON_PIN}")
    return Path(list(spec.submodule_search_locations)[0]) / "datasets" / "data"


def known_files(name: str, variant: str = "eq") -> tuple[Path, Path]:
    """(TRAIN, TEST) files of a named set; JapaneseVowels prefers the equal-length `_eq` files."""
    spec = KNOWN[name]
    folder = aeon_data_dir() / spec["folder"]
    if variant not in ("eq", "pad"):
        raise InputError(f"{name}: variant must be 'eq' (equal-length files) or 'pad' (original "
                         f"files, padded), got {variant!r}")
    stems = [spec["stem"]]
    if variant == "eq":
        stems.insert(0, spec["stem"] + "_eq")
    for stem in stems:
        pair = (folder / f"{stem}_TRAIN.ts", folder / f"{stem}_TEST.ts")
        if all(p.is_file() for p in pair):
            return pair
    raise InputError(f"{folder}: no {spec['stem']}_TRAIN.ts / _TEST.ts (is {AEON_PIN} installed?)")


def pair_of(path: Path) -> tuple[Path, Path]:
    """A user's X_TRAIN.ts / X_TEST.ts pair from either file's path."""
    name = path.name
    for a, b in (("_TRAIN.ts", "_TEST.ts"), ("_TEST.ts", "_TRAIN.ts")):
        if name.upper().endswith(a.upper()):
            other = path.with_name(name[: -len(a)] + b)
            pair = (path, other) if a == "_TRAIN.ts" else (other, path)
            if not other.is_file():
                raise InputError(f"{path}: the matching {other.name} is missing beside it")
            return pair
    raise InputError(f"{path}: a .ts file must be named <name>_TRAIN.ts or <name>_TEST.ts "
                     "(both halves are read)")


def parse_ts(path: Path) -> tuple[list[np.ndarray], list[str], list[str] | None]:
    """(series as float64 (T_i, S), label strings, declared class labels or None)."""
    try:
        text = path.read_text(encoding="utf-8", errors="strict")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: unreadable ({exc})") from None
    declared, has_labels, in_data = None, True, False
    series, labels = [], []
    n_dims = None
    for lineno, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if not in_data:
            if not line.startswith("@"):
                raise InputError(f"{path}:{lineno}: expected a header line (@...) before @data")
            key, _, value = line[1:].partition(" ")
            key, parts = key.lower(), value.split()
            if key == "data":
                in_data = True
            elif key == "classlabel":
                if not parts or parts[0].lower() not in ("true", "false"):
                    raise InputError(f"{path}:{lineno}: @classLabel must be 'true <labels…>' or 'false'")
                has_labels = parts[0].lower() == "true"
                declared = parts[1:] if has_labels else None
            elif key == "dimensions":
                try:
                    n_dims = int(parts[0])
                except (IndexError, ValueError):
                    raise InputError(f"{path}:{lineno}: @dimensions needs an integer") from None
            elif key == "timestamps" and parts and parts[0].lower() == "true":
                raise InputError(f"{path}:{lineno}: time-stamped .ts series are not supported")
            continue
        fields = line.split(":")
        if has_labels:
            if len(fields) < 2:
                raise InputError(f"{path}:{lineno}: expected dimensions separated by ':' and a class label")
            labels.append(fields[-1].strip())
            fields = fields[:-1]
        if n_dims is not None and len(fields) != n_dims:
            raise InputError(f"{path}:{lineno}: {len(fields)} dimensions, the header says {n_dims}")
        try:
            dims = [np.array([np.nan if v.strip() == "?" else float(v) for v in f.split(",")])
                    for f in fields]
        except ValueError as exc:
            raise InputError(f"{path}:{lineno}: not a number ({exc})") from None
        lengths = {len(d) for d in dims}
        if len(lengths) != 1:
            raise InputError(f"{path}:{lineno}: the dimensions of one series differ in length "
                             f"{sorted(lengths)}")
        series.append(np.stack(dims, axis=1))
        if n_dims is None:
            n_dims = len(dims)
        elif series[-1].shape[1] != n_dims:
            raise InputError(f"{path}:{lineno}: {series[-1].shape[1]} dimensions, earlier series "
                             f"have {n_dims}")
    if not in_data:
        raise InputError(f"{path}: no @data line")
    if not series:
        raise InputError(f"{path}: no series after @data")
    if not has_labels:
        raise InputError(f"{path}: series without class labels (@classLabel false) cannot train a classifier")
    return series, labels, declared


def _pad(series: list[np.ndarray], length: int) -> np.ndarray:
    # Repeat the last sample: padding with zeros would inject a fake step into the signal.
    return np.stack([np.pad(s, ((0, length - len(s)), (0, 0)), mode="edge") for s in series])


def convert_ts(train_path: Path, test_path: Path, *, channels=None, sample_rate_hz=None,
               source: str = "") -> RawWindows:
    tr, tr_labels, declared = parse_ts(train_path)
    te, te_labels, declared_te = parse_ts(test_path)
    if tr[0].shape[1] != te[0].shape[1]:
        raise InputError(f"{test_path}: {te[0].shape[1]} dimensions, {train_path.name} has {tr[0].shape[1]}")
    classes = declared or declared_te or sorted(set(tr_labels) | set(te_labels))
    index = {c: i for i, c in enumerate(classes)}
    for path, labels in ((train_path, tr_labels), (test_path, te_labels)):
        unknown = sorted(set(labels) - set(index))
        if unknown:
            raise InputError(f"{path}: class labels {unknown[:5]} not declared in @classLabel {classes}")
    lengths = [len(s) for s in tr + te]
    length = max(lengths)
    padded = min(lengths) != length
    x = _pad(tr + te, length)
    n_dims = x.shape[2]
    y = np.array([index[c] for c in tr_labels + te_labels], np.int64)
    split = np.r_[np.zeros(len(tr), np.int8), np.full(len(te), 2, np.int8)]
    info = {
        "source": source or f"{train_path.name} + {test_path.name}",
        "split_test": f"the archive's TEST file ({test_path.name})",
        "windowing": (f"one window per series; unequal lengths {min(lengths)}..{length} padded to "
                      f"{length} by repeating the last sample" if padded else
                      f"one window per series ({length} steps)"),
    }
    if channels is None or len(channels) != n_dims:
        channels = tuple(f"dim_{i}" for i in range(n_dims))
    return RawWindows(x=x.astype(np.float32), y=y, classes=tuple(classes),
                      channels=tuple(channels), sample_rate_hz=sample_rate_hz, split=split, info=info)


def convert_known(name: str, *, variant: str = "eq") -> RawWindows:
    train, test = known_files(name, variant)
    spec = KNOWN[name]
    return convert_ts(train, test, channels=spec["channels"], sample_rate_hz=spec["sample_rate_hz"],
                      source=f"UEA {spec['stem']} ({train.name} + {test.name} from the {AEON_PIN} wheel)")
