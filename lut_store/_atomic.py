"""All-or-nothing writes of one file or of a set of files in a folder, on a local disk or an
object store (any fsspec URL). Every writer of the project goes through these functions, so the
guarantee is made (and fsync'ed) in one place.

    write_file("runs/x/report.html", html.encode())          # bytes ...
    write_file("cache/a.npz", lambda fh: np.savez(fh, x=x))   # ... or a function that writes them

    write_folder("runs/x", {"architecture.json": arch_bytes, "weights.pt": save_weights},
                 marker="run.json")
    doc = read_folder("runs/x", "run.json")    # None: not committed (yet); InputError: torn

One file: locally a temporary file in the same folder, fsync, `os.replace` over the target, then
fsync of the folder (so the rename itself survives a power cut); on an object store a single PUT,
which the store publishes only once the upload completes. A reader sees the old file or the new
one, never a part of either.

A set of files (a "commit"): the files are first written in full beside the folder's contents
(a hidden temporary folder inside it, fsync'ed); then the marker goes FIRST, then the old versions
of the files (and any `stale` ones); the new files are moved in, and the marker, which lists every
file with its size and SHA-256, is written LAST. So a folder is finished exactly when its marker
exists and the files match it: a writer killed at any point leaves either the old finished folder
(killed before the marker went) or one without a marker, never old files beside new ones. Running
the same write again repairs an interrupted one (and removes what a killed writer left behind).
On an object store the new files are staged in memory instead, then removed and PUT in the same
order. One writer at a time per folder and marker: the commit is not a lock.

A folder replaced as a whole (`replace_folder`), for readers that know no marker (a browser opening
a report): the new folder is written beside the old one and swapped in with one atomic exchange
(Linux renameat2; two renames elsewhere).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import uuid
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import BinaryIO, Union

from .errors import InputError

__all__ = ["Content", "file_digest", "read_folder", "replace_folder", "write_file",
           "write_folder"]

# What to write: the bytes, or a function that writes them into an open binary file (torch.save,
# np.savez, ...: no second copy of a large payload in memory on a local disk).
Content = Union[bytes, bytearray, memoryview, Callable[[BinaryIO], None]]

_TMP = ".tmp"


def _fs(url: str | os.PathLike):
    from ._storage import (  # the one place a URL becomes a filesystem
        filesystem,
        is_local,
    )

    fs, path = filesystem(os.fspath(url))
    return fs, path, is_local(fs)


def _fill(fh: BinaryIO, content: Content) -> None:
    if callable(content):
        content(fh)
    else:
        fh.write(content)


def _as_bytes(content: Content) -> bytes:
    if not callable(content):
        return bytes(content)
    sink = io.BytesIO()
    content(sink)
    return sink.getvalue()


def _fsync_dir(folder: str) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:   # a platform without directory handles: the rename is all we can do
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _write_local(path: str, content: Content, tmp_dir: str | None = None) -> None:
    folder = os.path.dirname(path) or "."
    tmp = os.path.join(tmp_dir or folder, f".{os.path.basename(path)}.{uuid.uuid4().hex}{_TMP}")
    try:
        with open(tmp, "wb") as fh:
            _fill(fh, content)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    _fsync_dir(folder)


def write_file(url: str | os.PathLike, content: Content) -> None:
    """Write one whole file atomically (creating its folder). Storage errors are raised as they
    come (OSError, the store's exceptions): callers that want one clear line wrap them, as
    `lut_store.storage.write_bytes` does, with retries on an object store."""
    fs, path, local = _fs(url)
    if local:
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        _write_local(path, content)
    else:
        fs.pipe_file(path, _as_bytes(content))


def file_digest(data: bytes) -> dict:
    """How a marker lists a file: its size and SHA-256."""
    return {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def _default_marker(files: dict) -> bytes:
    return (json.dumps({"files": files}, indent=2) + "\n").encode()


def write_folder(url: str | os.PathLike, files: Mapping[str, Content], *, marker: str,
                 manifest: Callable[[dict], bytes] | None = None,
                 stale: Iterable[str] = ()) -> dict:
    """Commit `files` (name -> content, written in this order) into the folder `url`, all or
    nothing, with the marker file `marker` last. `manifest(digests)` makes the marker's bytes from
    {name: {"bytes", "sha256"}} (default: the JSON document {"files": digests}); it must keep
    the digests under "files" for `read_folder`. `stale`: files of an earlier commit that this
    one makes wrong (removed with the old versions, before anything new is moved in). Files of
    the folder that are neither listed nor stale are left alone. Returns the digests."""
    fs, folder, local = _fs(url)
    names = list(files)
    if marker in names or any("/" in n or n.startswith(".") or not n for n in names):
        raise ValueError(f"write_folder: bad file names {names} (marker {marker!r})")
    if not local:
        blobs = {name: _as_bytes(content) for name, content in files.items()}
        digests = {name: file_digest(blob) for name, blob in blobs.items()}
        for name in (marker, *stale, *names):
            if fs.exists(f"{folder}/{name}"):
                fs.rm(f"{folder}/{name}")
        for name, blob in blobs.items():
            fs.pipe_file(f"{folder}/{name}", blob)
        fs.pipe_file(f"{folder}/{marker}", (manifest or _default_marker)(digests))
        return digests

    os.makedirs(folder, exist_ok=True)
    prefix = f".{marker}{_TMP}-"
    for entry in os.listdir(folder):   # what a killed writer left behind
        if entry.startswith(prefix):
            shutil.rmtree(os.path.join(folder, entry), ignore_errors=True)
    staging = os.path.join(folder, f"{prefix}{uuid.uuid4().hex}")
    os.mkdir(staging)
    try:
        digests = {}
        for name, content in files.items():
            with open(os.path.join(staging, name), "wb") as fh:
                _fill(fh, content)
                fh.flush()
                os.fsync(fh.fileno())
            digests[name] = _digest_of(os.path.join(staging, name))
        # From here on the folder is not finished: the marker goes first, then everything the
        # new commit replaces, so that no old file can ever be read beside a new one.
        for name in (marker, *stale, *names):
            try:
                os.unlink(os.path.join(folder, name))
            except FileNotFoundError:
                pass
        _fsync_dir(folder)
        for name in names:
            os.replace(os.path.join(staging, name), os.path.join(folder, name))
        _fsync_dir(folder)
        _write_local(os.path.join(folder, marker), (manifest or _default_marker)(digests),
                     tmp_dir=staging)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return digests


def _digest_of(path: str) -> dict:
    h, n = hashlib.sha256(), 0
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
            n += len(block)
    return {"bytes": n, "sha256": h.hexdigest()}


def read_folder(url: str | os.PathLike, marker: str, *, what: str = "folder") -> dict | None:
    """The marker's JSON document of a committed folder; None when there is no marker (never
    committed, or a commit in progress or interrupted); InputError when the marker is unreadable
    or a file it lists is missing or differs (a torn `what`, e.g. copied together by hand)."""
    fs, folder, local = _fs(url)
    where = f"{os.fspath(url)}/{marker}" if not local else str(Path(folder) / marker)
    try:
        raw = fs.cat_file(f"{folder}/{marker}")
    except FileNotFoundError:
        return None
    try:
        doc = json.loads(raw)
        if not isinstance(doc, dict) or not isinstance(doc.get("files", {}), dict):
            raise ValueError("not a JSON object with a 'files' table")
    except (ValueError, RecursionError) as exc:
        raise InputError(f"{where}: unreadable ({str(exc)[:120]})") from None
    for name, info in doc.get("files", {}).items():
        path = f"{folder}/{name}"
        try:
            if local:
                ok = os.path.isfile(path) and _digest_of(path)["sha256"] == info["sha256"]
            else:
                ok = fs.exists(path) and file_digest(fs.cat_file(path))["sha256"] == info["sha256"]
        except (OSError, KeyError, TypeError):
            ok = False
        if not ok:
            raise InputError(f"{os.fspath(url)}: {name} does not match {marker} (a torn {what})")
    return doc


def replace_folder(url: str | os.PathLike, files: Mapping[str, Content], *,
                   what: str = "the folder") -> None:
    """Replace the folder at `url` as a whole by one holding exactly `files` (name -> content),
    for readers that know no marker (a browser opening a report): locally the new folder is
    written beside the old one and swapped in with one atomic exchange, so a crash leaves the old
    folder or the new one; on object storage each file is one atomic PUT, in the given order
    (put the entry point last). A folder that holds other files is refused (one line naming them),
    since replacing it would delete them."""
    fs, path, local = _fs(url)
    if not local:
        for name, content in files.items():
            write_file(f"{str(url).rstrip('/')}/{name}", content)
        return
    _switch_in(os.path.abspath(path), files, what)


def _switch_in(target: str, files: Mapping[str, Content], what: str) -> None:
    if os.path.lexists(target) and not os.path.isdir(target):
        raise InputError(f"{target}: exists and is not a folder ({what} is a folder)")
    if os.path.isdir(target):
        # Switching replaces the folder as a whole: it must hold nothing but such files.
        foreign = sorted(set(os.listdir(target)) - set(files))
        if foreign:
            raise InputError(f"{target}: holds files that are not part of {what} "
                             f"({', '.join(foreign[:5])}{', ...' if len(foreign) > 5 else ''}); "
                             f"give a new or empty folder for --out")
    parent, name = os.path.split(target)
    os.makedirs(parent, exist_ok=True)
    for entry in os.listdir(parent):     # what a killed writer left behind
        if entry.startswith(f".{name}.swap-"):
            shutil.rmtree(os.path.join(parent, entry), ignore_errors=True)
    fresh = os.path.join(parent, f".{name}.swap-{uuid.uuid4().hex}")
    os.mkdir(fresh)
    try:
        for file, content in files.items():
            _write_local(os.path.join(fresh, file), content)
        os.chmod(fresh, 0o777 & ~_umask())   # as a folder made by mkdir would be
        if not os.path.isdir(target):
            os.rename(fresh, target)
        elif not _exchange(fresh, target):
            # No atomic exchange here: two renames; in between, the old report waits under the
            # fresh folder's name and a rerun finds the new one (or none) in place.
            old = fresh + ".old"
            os.rename(target, old)
            os.rename(fresh, target)
            fresh = old
        _fsync_dir(parent)
    finally:
        shutil.rmtree(fresh, ignore_errors=True)   # the old report, or an unfinished new one


def _exchange(a: str, b: str) -> bool:
    """Swap two paths atomically (Linux renameat2 RENAME_EXCHANGE); False where unsupported."""
    import ctypes
    import errno

    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP):
        return False
    raise OSError(code, os.strerror(code), b)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
