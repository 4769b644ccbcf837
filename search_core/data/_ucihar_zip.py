"""UCI-HAR in its original layout: a folder or the .zip of it.

    UCI HAR Dataset/{train,test}/Inertial Signals/{total_acc,body_acc,body_gyro}_{x,y,z}_{split}.txt
    UCI HAR Dataset/{train,test}/y_{split}.txt, subject_{split}.txt, activity_labels.txt (optional)

Each Inertial Signals file holds one window (128 samples) per line. The zip may also be the UCI
repository's download, which wraps `UCI HAR Dataset.zip` in another zip.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np

from lut_store.errors import InputError

from ._hapt import ACTIVITIES, RATE_HZ, UCIHAR_CHANNELS
from ._raw import RawWindows

_MARKER = "train/Inertial Signals/total_acc_x_train.txt"


class _Source:
    """Read files by their path relative to the data set root, from a folder or a zip."""

    def __init__(self, path: Path):
        self.path = path
        self.zip: zipfile.ZipFile | None = None
        self.root = ""
        if path.is_dir():
            self.dir = self._find_dir(path)
        else:
            self._open_zip(path)

    def _find_dir(self, path: Path) -> Path:
        for candidate in (path, path / "UCI HAR Dataset", *sorted(p for p in path.iterdir() if p.is_dir())):
            if (candidate / _MARKER).is_file():
                return candidate
        raise InputError(f"{path}: not a UCI-HAR folder (no {_MARKER} in it or in a sub-folder)")

    def _open_zip(self, path: Path):
        try:
            archive = zipfile.ZipFile(path)
            names = [n for n in archive.namelist() if not n.startswith("__MACOSX/")]
            hits = [n for n in names if n.endswith(_MARKER)]
            if not hits:
                nested = [n for n in names if n.lower().endswith(".zip")]
                if len(nested) == 1:
                    archive = zipfile.ZipFile(io.BytesIO(archive.read(nested[0])))
                    names = [n for n in archive.namelist() if not n.startswith("__MACOSX/")]
                    hits = [n for n in names if n.endswith(_MARKER)]
        except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
            raise InputError(f"{path}: not a readable zip archive ({exc})") from None
        if len(hits) != 1:
            raise InputError(f"{path}: expected one UCI HAR Dataset/{_MARKER} in the archive, "
                             f"found {len(hits)}")
        self.zip = archive
        self.root = hits[0][: -len(_MARKER)]

    def exists(self, rel: str) -> bool:
        if self.zip is None:
            return (self.dir / rel).is_file()
        try:
            self.zip.getinfo(self.root + rel)
            return True
        except KeyError:
            return False

    def read(self, rel: str) -> bytes:
        try:
            if self.zip is None:
                return (self.dir / rel).read_bytes()
            return self.zip.read(self.root + rel)
        except KeyError:
            raise InputError(f"{self.path}: {rel} is missing from the archive") from None
        except FileNotFoundError:
            raise InputError(f"{self.path}: {rel} is missing") from None
        except (OSError, zipfile.BadZipFile, EOFError) as exc:
            raise InputError(f"{self.path}: {rel} unreadable ({exc})") from None

    def table(self, rel: str) -> np.ndarray:
        data = self.read(rel)
        try:
            return np.loadtxt(io.BytesIO(data), dtype=np.float64, ndmin=2)
        except ValueError as exc:
            raise InputError(f"{self.path}: {rel} is not a whitespace-separated table of numbers "
                             f"with a fixed number of columns ({exc})") from None


def _class_names(src: _Source) -> tuple[str, ...]:
    if not src.exists("activity_labels.txt"):
        return ACTIVITIES[:6]
    names = {}
    for line in src.read("activity_labels.txt").decode("utf-8", "replace").splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0].isdigit():
            names[int(parts[0])] = parts[1].lower()
    if sorted(names) != list(range(1, len(names) + 1)) or not names:
        raise InputError(f"{src.path}: activity_labels.txt must list 'number name' lines numbered 1..K")
    return tuple(names[k] for k in range(1, len(names) + 1))


def convert_ucihar_layout(path: Path) -> RawWindows:
    src = _Source(path)
    classes = _class_names(src)
    xs, ys, subjects, splits = [], [], [], []
    for code, part in ((0, "train"), (2, "test")):
        columns = []
        for channel in UCIHAR_CHANNELS:
            rel = f"{part}/Inertial Signals/{channel}_{part}.txt"
            table = src.table(rel)
            if columns and table.shape != columns[0].shape:
                first = columns[0].shape
                raise InputError(f"{path}: {rel} is {table.shape[0]} × {table.shape[1]}, "
                                 f"{UCIHAR_CHANNELS[0]}_{part}.txt is {first[0]} × {first[1]}")
            columns.append(table)
        n = columns[0].shape[0]
        if n == 0:
            raise InputError(f"{path}: {part}/Inertial Signals files hold no window")
        y = src.table(f"{part}/y_{part}.txt")
        subject = src.table(f"{part}/subject_{part}.txt")
        for rel, values in ((f"{part}/y_{part}.txt", y), (f"{part}/subject_{part}.txt", subject)):
            if values.shape != (n, 1):
                raise InputError(f"{path}: {rel} has shape {values.shape}, expected one value per "
                                 f"window ({n} lines)")
        y = y[:, 0]
        if not np.array_equal(y, np.round(y)) or y.min() < 1 or y.max() > len(classes):
            raise InputError(f"{path}: {part}/y_{part}.txt must hold integer labels 1..{len(classes)}, "
                             f"got values in {y.min():g}..{y.max():g}")
        xs.append(np.stack(columns, axis=2))
        ys.append(y.astype(np.int64) - 1)
        subjects.append(subject[:, 0].astype(np.int64))
        splits.append(np.full(n, code, np.int8))
    return RawWindows(
        x=np.concatenate(xs), y=np.concatenate(ys), classes=classes, channels=UCIHAR_CHANNELS,
        sample_rate_hz=RATE_HZ, subjects=np.concatenate(subjects), split=np.concatenate(splits),
        info={"source": f"UCI-HAR original layout ({path.name})",
              "split_test": "the data set's test folder (official UCI-HAR test subjects)",
              "windowing": "as published (128 samples, 50 % overlap)"},
    )
