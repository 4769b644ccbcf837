"""One code path for every storage URL: a local folder by default, `s3://bucket/prefix` via s3fs.

Object stores publish an object only when its upload completes, so a single put is atomic there;
on a local disk we write a temporary file beside the target and rename it over the target.
Either way no reader ever sees a half-written file.
"""

from __future__ import annotations

import errno
import io
import os
import random
import sys
import time
from dataclasses import dataclass

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq

from ._atomic import write_file
from .errors import InputError


def filesystem(url: str) -> tuple[fsspec.AbstractFileSystem, str]:
    """The filesystem and the path inside it for a URL or local path."""
    if not isinstance(url, str) or not url.strip():
        raise InputError(f"storage URL must be a non-empty string, got {url!r}")
    url = os.path.expanduser(url)
    remote = fsspec.core.split_protocol(url)[0] in _S3_PROTOCOLS
    try:
        fs, path = fsspec.core.url_to_fs(url, **(_s3_options() if remote else {}))
    except (ImportError, ValueError) as exc:
        raise InputError(f"{url}: unsupported storage URL ({exc})") from None
    if remote:
        # s3fs retries some errors itself (5 tries, no jitter): RETRY is the only retry layer.
        # An instance attribute, on the instance fsspec caches for exactly these options.
        fs.retries = 1
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


# -- retries --------------------------------------------------------------------------------
#
# An object store that hiccups (a restart, a throttled burst) must not cost a finished trial's row
# or a trial's input: every storage call (read, write, listing) retries a transient failure with
# exponential backoff and jitter (so that the trials of a sweep, all hit by the same outage, do not
# come back in lock step). Refusals (permission, missing bucket or key, bad request) are not
# transient and fail at once. The policy is ours alone: botocore's and s3fs's own retries are
# switched off where the filesystem is made (`_s3_options`, `fs.retries`), so they do not stack.


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long apart a transient storage failure is tried again."""

    attempts: int = 7            # the first try and 6 retries
    base_delay_s: float = 0.5    # before the first retry; doubling after each
    max_delay_s: float = 16.0
    jitter: float = 0.5          # each delay is drawn from [(1 - jitter) * d, d]

    def delays(self) -> list[float]:
        """The waits before each retry: about 16-32 s in all with the defaults."""
        return [min(self.max_delay_s, self.base_delay_s * 2 ** i)
                * (1.0 - self.jitter * random.random()) for i in range(self.attempts - 1)]


RETRY = RetryPolicy()

_S3_PROTOCOLS = ("s3", "s3a")


# A request that never answers (a connection stalled mid-upload when a server or proxy died) must
# not hang a trial forever: fsspec's sync gives up after this many seconds with FSTimeoutError, a
# TimeoutError, which is retried like any transient failure. Generous: a shared supernet's
# checkpoint of tens of MB uploads well within it.
REQUEST_TIMEOUT_S = 120


def _t(fs) -> dict:
    """The per-request deadline, for the file systems whose calls take one (the async ones: S3)."""
    return {"timeout": REQUEST_TIMEOUT_S} if getattr(fs, "async_impl", False) else {}


def _s3_options() -> dict:
    # botocore: one try. A new dict each time: botocore writes its defaults into the one it gets.
    return {"config_kwargs": {"retries": {"total_max_attempts": 1}}}


# Service error codes and HTTP statuses worth another try: botocore's standard retry mode
# (botocore/retries/standard.py: transient and throttling codes) plus S3's own names for 500/503.
_TRANSIENT_CODES = frozenset({
    "RequestTimeout", "RequestTimeoutException", "PriorRequestNotComplete", "InternalError",
    "ServiceUnavailable", "SlowDown", "Throttling", "ThrottlingException", "ThrottledException",
    "RequestThrottledException", "TooManyRequestsException", "RequestThrottled",
    "ProvisionedThroughputExceededException", "RequestLimitExceeded", "BandwidthLimitExceeded",
    "LimitExceededException", "EC2ThrottledException", "TransactionInProgressException",
})
_TRANSIENT_STATUS = frozenset({429, 500, 502, 503, 504})
# What a refusal looks like once s3fs has translated it (AccessDenied, NoSuchBucket, NoSuchKey...).
_REFUSALS = (PermissionError, FileNotFoundError, FileExistsError, IsADirectoryError,
             NotADirectoryError)


def _transient_types() -> tuple[type, ...]:
    """Connection resets/refusals and timeouts, as Python, botocore and aiohttp raise them. The
    client libraries are only looked up, never imported: if one is not loaded, none of its
    exceptions can have been raised."""
    types: list[type] = [ConnectionError, TimeoutError]      # TimeoutError: socket, asyncio, fsspec
    boto = sys.modules.get("botocore.exceptions")
    if boto is not None:
        types += [boto.ConnectionError, boto.HTTPClientError, boto.IncompleteReadError]
    aiohttp = sys.modules.get("aiohttp")
    if aiohttp is not None:
        types += [aiohttp.ClientConnectionError, aiohttp.ClientPayloadError]
    return tuple(types)


def is_transient(exc: BaseException) -> bool:
    """Whether a storage failure is worth another try. s3fs turns a service error into a Python
    one (AccessDenied -> PermissionError, SlowDown -> OSError(EBUSY)) with the botocore error as
    its cause, so the chain of causes is read: a refusal anywhere in it is final."""
    boto = sys.modules.get("botocore.exceptions")
    transient = _transient_types()
    seen: set[int] = set()
    link: BaseException | None = exc
    while link is not None and id(link) not in seen:
        seen.add(id(link))
        if isinstance(link, _REFUSALS):
            return False
        if isinstance(link, transient):
            return True
        if boto is not None and isinstance(link, boto.ClientError):
            response = link.response or {}
            code = response.get("Error", {}).get("Code")
            status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            return code in _TRANSIENT_CODES or status in _TRANSIENT_STATUS
        link = link.__cause__
    return False


def _with_retries(op, retry: bool = True):
    """`op()`, retried by RETRY while it fails transiently (not at all if `retry` is False)."""
    delays = RETRY.delays() if retry else []
    for attempt in range(len(delays) + 1):
        try:
            return op()
        except Exception as exc:  # noqa: BLE001 - classified below
            if attempt == len(delays) or not is_transient(exc):
                raise
            time.sleep(delays[attempt])


def write_bytes(url: str, data: bytes, *, retry: bool = True) -> None:
    """Write a whole file atomically (retried while the failure looks transient, unless `retry`
    is False — a reachability probe wants the answer now)."""
    fs, path = filesystem(url)
    try:
        if is_local(fs):
            write_file(path, data)   # temp file + fsync + rename + fsync of the folder
        else:
            _with_retries(lambda: fs.pipe_file(path, data, **_t(fs)), retry)
    except InputError:
        raise
    except Exception as exc:  # noqa: BLE001 - every storage failure becomes one clear line
        raise _storage_error(url, exc) from None


def create_exclusive(url: str, data: bytes) -> bool:
    """Create a whole file only if there is none: True if this call created it, False if it was
    there. Two writers racing on one URL: exactly one gets True (a local folder: O_EXCL and a
    rename-free write; S3: PutObject with If-None-Match: *). This is how a store arbitrates who
    does a piece of work that must be done once (a shared supernet's lease)."""
    fs, path = filesystem(url)
    try:
        if is_local(fs):
            os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                return False
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            return True
        try:
            _with_retries(lambda: fs.pipe_file(path, data, mode="create", **_t(fs)))
        except FileExistsError:
            return False
        return True
    except Exception as exc:  # noqa: BLE001
        raise _storage_error(url, exc) from None


def remove(url: str) -> None:
    """Delete a file if it is there."""
    fs, path = filesystem(url)
    try:
        if _with_retries(lambda: fs.exists(path, **_t(fs))):
            _with_retries(lambda: fs.rm(path, **_t(fs)))
    except FileNotFoundError:
        pass
    except Exception as exc:  # noqa: BLE001
        raise _storage_error(url, exc) from None


def stamp(url: str) -> tuple | None:
    """What identifies one version of a file (size, modification time, ETag where the store has
    one), or None if it is not there: a caller that read a file can tell whether it has been
    replaced since, before it deletes it."""
    fs, path = filesystem(url)
    try:
        info = _with_retries(lambda: fs.info(path, **_t(fs)))
    except FileNotFoundError:
        return None
    except Exception as exc:  # noqa: BLE001
        raise _storage_error(url, exc) from None
    return (info.get("size"), str(info.get("mtime", info.get("LastModified"))), info.get("ETag"))


def read_bytes(url: str) -> bytes:
    fs, path = filesystem(url)
    try:
        return _with_retries(lambda: fs.cat_file(path, **_t(fs)))
    except Exception as exc:  # noqa: BLE001
        raise _storage_error(url, exc) from None


def exists(url: str, *, retry: bool = True) -> bool:
    """Whether a file or folder is there (`retry` as for `write_bytes`)."""
    fs, path = filesystem(url)
    try:
        return _with_retries(lambda: fs.exists(path, **_t(fs)), retry)
    except Exception as exc:  # noqa: BLE001
        raise _storage_error(url, exc) from None


def list_files(url: str, suffix: str) -> list[str]:
    """URLs of the files directly in a folder whose names end with `suffix` (empty if none)."""
    fs, path = filesystem(url)

    def listing() -> list[str]:
        if not fs.exists(path, **_t(fs)):
            return []
        return fs.ls(path, detail=False, refresh=True, **_t(fs)) if not is_local(fs) else fs.ls(path, detail=False)
    try:
        entries = _with_retries(listing)
    except Exception as exc:  # noqa: BLE001
        raise _storage_error(url, exc) from None
    names = sorted(e.rstrip("/").rsplit("/", 1)[-1] for e in entries)
    return [join(url, n) for n in names if n.endswith(suffix) and not n.startswith(".")]


def _forget_listings(fs, path: str) -> None:
    """Drop every cached listing at or below `path`. s3fs's `invalidate_cache(path)` drops the
    path and its parents only: a sub-folder listed earlier (opening a file lists its folder)
    would still answer from the old listing, and a file written since by another process
    would be "not found" although `find` had just returned it."""
    fs.invalidate_cache(path)
    prefix = path.rstrip("/") + "/"
    for key in [k for k in list(getattr(fs, "dircache", {})) if k.startswith(prefix)]:
        fs.dircache.pop(key, None)


def find_files(url: str, suffix: str) -> list[str]:
    """URLs of every file below a folder (recursively) whose name ends with `suffix`."""
    fs, path = filesystem(url)

    def listing() -> list[str]:
        if not fs.exists(path, **_t(fs)):
            return []
        if not is_local(fs):
            _forget_listings(fs, path)
        return fs.find(path, **_t(fs))
    try:
        found = _with_retries(listing)
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
