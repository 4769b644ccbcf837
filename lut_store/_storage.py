"""One code path for every storage URL: a local folder by default, `s3://bucket/prefix` via s3fs.

Object stores publish an object only when its upload completes, so a single put is atomic there;
on a local disk we write a temporary file beside the target and rename it over the target.
Either way no reader ever sees a half-written file.
"""

from __future__ import annotations

import errno
import io
import os
import uuid

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq

from .errors import InputError


def filesystem(url: str) -> tuple[fsspec.AbstractFileSystem, str]:
    """The filesystem and the path inside it for a URL or local path."""
    if not isinstance(url, str) or not url.strip():
        raise InputError(f"storage URL must be a non-empty string, got {url!r}")
    try:
        fs, path = fsspec.core.url_to_fs(os.path.expanduser(url))
    except (ImportError, ValueError) as exc:
        raise InputError(f"{url}: unsupported storage URL ({exc})") from None
    return fs, path.rstrip("/") or path


def is_local(fs: fsspec.AbstractFileSystem) -> bool:
    return "file" in (fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,))


def join(url: str, *parts: str) -> str:
    return "/".join([url.rstrip("/"), *parts])


def _storage_error(url: str, exc: Exception) -> InputError:
    if isinstance(exc, PermissionError):
        return InputError(f"{url}: permission denied")
    if isinstance(exc, FileNotFoundError):
        return InputError(f"{url}: not found")
    if getattr(exc, "errno", None) in (errno.ENOSPC, errno.EDQUOT):
        return InputError(f"{url}: no space left on the device (nothing was written)")
    if getattr(exc, "errno", None) == errno.EROFS:
        return InputError(f"{url}: read-only file system")
    reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return InputError(f"{url}: storage not reachable or not writable ({reason[:200]})")


# An object store that hiccups (a restart, a throttled burst) must not cost a finished trial's row:
# transient failures are retried with exponential backoff for about half a minute. Refusals
# (permission, missing bucket) are not transient and fail at once.
RETRY_DELAYS_S = (0.5, 1.0, 2.0, 4.0, 8.0, 16.0)


def _with_retries(op):
    import time
    for delay in (*RETRY_DELAYS_S, None):
        try:
            return op()
        except (PermissionError, FileNotFoundError):
            raise
        except Exception:  # noqa: BLE001 - connection resets, timeouts, 5xx
            if delay is None:
                raise
            time.sleep(delay)


def write_bytes(url: str, data: bytes, *, retry: bool = True) -> None:
    """Write a whole file atomically (on an object store: retried while the failure looks
    transient, unless `retry` is False — a reachability probe wants the answer now)."""
    fs, path = filesystem(url)
    try:
        if is_local(fs):
            folder = os.path.dirname(path) or "."
            os.makedirs(folder, exist_ok=True)
            tmp = os.path.join(folder, f".{os.path.basename(path)}.{uuid.uuid4().hex}.tmp")
            try:
                with open(tmp, "wb") as fh:
                    fh.write(data)
                    fh.flush()
                    os.fsync(fh.fileno())
                os.replace(tmp, path)
            finally:
                if os.path.exists(tmp):
                    os.unlink(tmp)
        else:
            put = lambda: fs.pipe_file(path, data)  # noqa: E731
            _with_retries(put) if retry else put()
    except InputError:
        raise
    except Exception as exc:  # noqa: BLE001 - every storage failure becomes one clear line
        raise _storage_error(url, exc) from None


def read_bytes(url: str) -> bytes:
    fs, path = filesystem(url)
    try:
        return fs.cat_file(path)
    except Exception as exc:  # noqa: BLE001
        raise _storage_error(url, exc) from None


def exists(url: str) -> bool:
    fs, path = filesystem(url)
    try:
        return fs.exists(path)
    except Exception as exc:  # noqa: BLE001
        raise _storage_error(url, exc) from None


def list_files(url: str, suffix: str) -> list[str]:
    """URLs of the files directly in a folder whose names end with `suffix` (empty if none)."""
    fs, path = filesystem(url)
    try:
        if not fs.exists(path):
            return []
        entries = fs.ls(path, detail=False, refresh=True) if not is_local(fs) else fs.ls(path, detail=False)
    except Exception as exc:  # noqa: BLE001
        raise _storage_error(url, exc) from None
    names = sorted(e.rstrip("/").rsplit("/", 1)[-1] for e in entries)
    return [join(url, n) for n in names if n.endswith(suffix) and not n.startswith(".")]


def find_files(url: str, suffix: str) -> list[str]:
    """URLs of every file below a folder (recursively) whose name ends with `suffix`."""
    fs, path = filesystem(url)
    try:
        if not fs.exists(path):
            return []
        if not is_local(fs):
            fs.invalidate_cache(path)
        found = fs.find(path)
    except Exception as exc:  # noqa: BLE001
        raise _storage_error(url, exc) from None
    out = []
    for entry in sorted(found):
        rel = entry[len(path):].lstrip("/")
        if rel.endswith(suffix) and not any(part.startswith(".") for part in rel.split("/")):
            out.append(join(url, rel))
    return out


def write_table(url: str, table: pa.Table) -> None:
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd")
    write_bytes(url, sink.getvalue())


def read_table(url: str) -> pa.Table:
    data = read_bytes(url)
    try:
        return pq.read_table(io.BytesIO(data))
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputError(f"{url}: not a readable Parquet file ({str(exc).splitlines()[0][:200]})") from None
