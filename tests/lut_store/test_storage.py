import os

import pytest

from lut_store import InputError, Lut, _storage, import_records

L552, F446 = "nucleo-l552ze-q", "nucleo-f446re"


@pytest.fixture(scope="module")
def both_boards(measurements):
    a, _ = import_records(measurements / L552, L552)
    b, _ = import_records(measurements / F446, F446)
    return a.merge(b)


def test_local_round_trip(both_boards, tmp_path):
    written = both_boards.write(str(tmp_path / "lut"))
    assert sorted(p.rsplit("/", 1)[-1] for p in written) == [f"{F446}.parquet", f"{L552}.parquet"]
    back = Lut.read(str(tmp_path / "lut"))
    assert back.equals(both_boards)
    assert back.content_hash() == both_boards.content_hash()
    assert Lut.read(str(tmp_path / "lut"), F446).equals(both_boards.for_mcu(F446))
    assert not [p for p in os.listdir(tmp_path / "lut") if p.endswith(".tmp")]


@pytest.mark.s3
def test_s3_round_trip_equals_local(both_boards, tmp_path, s3_bucket):
    url = f"s3://{s3_bucket}/luts/v1"
    both_boards.write(url)
    both_boards.write(str(tmp_path / "lut"))
    from_s3, from_disk = Lut.read(url), Lut.read(str(tmp_path / "lut"))
    assert from_s3.equals(from_disk) and from_s3.equals(both_boards)
    assert len(from_s3) == len(both_boards) > 3000
    # Merging the same measurements again into the S3 copy changes nothing.
    assert from_s3.merge(both_boards).equals(from_s3)


@pytest.mark.s3
def test_unreachable_s3_is_one_clear_error(monkeypatch):
    import s3fs
    from _s3 import free_port
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "x")
    monkeypatch.setattr(_storage, "RETRY", _storage.RetryPolicy(attempts=2, base_delay_s=0.01))
    s3fs.S3FileSystem.clear_instance_cache()
    with pytest.raises(InputError, match="s3://nobucket/lut: storage not reachable"):
        Lut.read("s3://nobucket/lut")
    s3fs.S3FileSystem.clear_instance_cache()


def test_corrupt_parquet_is_named(tmp_path):
    folder = tmp_path / "lut"
    folder.mkdir()
    (folder / "x.parquet").write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(InputError, match=r"x\.parquet: not a readable Parquet"):
        Lut.read(str(folder))


def test_foreign_parquet_is_refused(tmp_path):
    import pyarrow as pa
    folder = tmp_path / "lut"
    _storage.write_table(str(folder / "x.parquet"), pa.table({"a": [1]}))
    with pytest.raises(InputError, match="not a MicroNAS LUT"):
        Lut.read(str(folder))


def test_unwritable_destination_is_clear_and_leaves_nothing(both_boards, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("I am a file, not a folder")
    with pytest.raises(InputError, match=str(blocker)):
        both_boards.write(str(blocker / "lut"))
    assert blocker.read_text() == "I am a file, not a folder"


def test_atomic_write_keeps_old_file_when_writing_fails(tmp_path, monkeypatch):
    target = str(tmp_path / "t.bin")
    _storage.write_bytes(target, b"old")

    def boom(*_a, **_k):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(InputError, match="no space left on the device"):
        _storage.write_bytes(target, b"new")
    assert open(target, "rb").read() == b"old"
    assert os.listdir(tmp_path) == ["t.bin"]


@pytest.mark.s3
def test_reads_and_writes_to_s3_survive_an_outage(monkeypatch):
    """The store drops every connection and resets each new one (a proxy in front of a real S3
    server) when the write starts, and comes back ~4.5 s later; then again for a read: both are
    retried with backoff and succeed (what keeps a trial's row, and its inputs, when the store
    hiccups)."""
    import threading
    import time

    import s3fs
    from _s3 import Outage, make_bucket, s3_env, s3_server

    from lut_store import storage

    with s3_server() as direct:
        make_bucket(direct, "late-bucket")
        proxy = Outage(direct)
        for key, value in s3_env(proxy.endpoint).items():
            monkeypatch.setenv(key, value)
        s3fs.S3FileSystem.clear_instance_cache()
        try:
            for action in ("write", "read"):
                proxy.down()
                threading.Timer(4.5, proxy.up).start()
                start = time.monotonic()
                if action == "write":
                    storage.write_bytes("s3://late-bucket/rows/one.bin", b"row")
                else:
                    assert storage.read_bytes("s3://late-bucket/rows/one.bin") == b"row"
                assert time.monotonic() - start >= 4.5 and proxy.refused > 0, action
                refused, proxy.refused = proxy.refused, 0
                assert 2 <= refused <= _storage.RETRY.attempts, (action, refused)
        finally:
            proxy.close()
            s3fs.S3FileSystem.clear_instance_cache()


@pytest.mark.s3
def test_a_missing_bucket_is_not_retried(s3_bucket, monkeypatch):
    waits = []
    monkeypatch.setattr(_storage.time, "sleep", waits.append)
    with pytest.raises(InputError, match="s3://no-such-bucket-here/x.bin: not found"):
        _storage.read_bytes("s3://no-such-bucket-here/x.bin")
    with pytest.raises(InputError, match="not found"):
        _storage.read_bytes(f"s3://{s3_bucket}/no-such-key.bin")
    assert waits == []


def test_s3_filesystems_retry_only_through_our_policy():
    import fsspec
    fs, path = _storage.filesystem("s3://some-bucket/some/key")
    assert path == "some-bucket/some/key"
    assert fs.retries == 1 and fs.config_kwargs["retries"]["total_max_attempts"] == 1
    assert _storage.filesystem("s3://some-bucket/other")[0] is fs      # one cached instance
    assert fsspec.filesystem("s3").retries == 5      # other users' filesystems are left alone


def test_retry_policy_is_exponential_with_jitter():
    policy = _storage.RetryPolicy()
    runs = [policy.delays() for _ in range(20)]
    assert all(len(r) == policy.attempts - 1 for r in runs)
    for i, cap in enumerate((0.5, 1.0, 2.0, 4.0, 8.0, 16.0)):
        column = [r[i] for r in runs]
        assert all(cap * (1 - policy.jitter) <= d <= cap for d in column)
        assert len(set(column)) > 1                   # jittered, not lock step
    assert 15 < min(sum(r) for r in runs) and max(sum(r) for r in runs) <= 31.5


def _client_error(code: str, status: int):
    from botocore.exceptions import ClientError
    return ClientError({"Error": {"Code": code, "Message": code},
                        "ResponseMetadata": {"HTTPStatusCode": status}}, "GetObject")


def _translated(code: str, status: int) -> Exception:
    """What s3fs raises for a service error: a Python exception caused by the botocore one."""
    from s3fs.errors import translate_boto_error
    return translate_boto_error(_client_error(code, status))


@pytest.mark.parametrize("make, transient", [
    (lambda: ConnectionResetError(104, "Connection reset by peer"), True),
    (lambda: ConnectionRefusedError(111, "Connection refused"), True),
    (lambda: TimeoutError("timed out"), True),
    (lambda: __import__("botocore.exceptions").exceptions.EndpointConnectionError(
        endpoint_url="http://127.0.0.1:9"), True),
    (lambda: __import__("botocore.exceptions").exceptions.ReadTimeoutError(
        endpoint_url="http://127.0.0.1:9"), True),
    (lambda: _client_error("SlowDown", 503), True),
    (lambda: _translated("SlowDown", 503), True),
    (lambda: _translated("InternalError", 500), True),
    (lambda: _translated("ThrottlingException", 400), True),
    (lambda: _translated("SomethingNew", 502), True),          # by status
    (lambda: PermissionError("nope"), False),
    (lambda: FileNotFoundError("gone"), False),
    (lambda: _translated("AccessDenied", 403), False),
    (lambda: _translated("NoSuchBucket", 404), False),
    (lambda: _translated("InvalidArgument", 400), False),
    (lambda: _client_error("AccessDenied", 403), False),
    (lambda: OSError(28, "No space left on device"), False),
    (lambda: ValueError("bad"), False),
])
def test_transient_errors_are_told_from_refusals(make, transient):
    assert _storage.is_transient(make()) is transient


class _FlakyFs:
    """A filesystem whose reads fail with the given errors first."""

    protocol = ("s3",)

    def __init__(self, errors):
        self.errors, self.calls = list(errors), 0

    def cat_file(self, path):
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return b"data"


@pytest.mark.parametrize("error", [ConnectionResetError(104, "reset"), "slowdown"])
def test_a_transient_read_failure_is_retried(monkeypatch, error):
    error = _translated("SlowDown", 503) if error == "slowdown" else error
    fs = _FlakyFs([error, error])
    monkeypatch.setattr(_storage, "filesystem", lambda url: (fs, "b/k"))
    waits = []
    monkeypatch.setattr(_storage.time, "sleep", waits.append)
    assert _storage.read_bytes("s3://b/k") == b"data"
    assert fs.calls == 3 and len(waits) == 2 and waits[0] <= 0.5 < waits[1] * 2


@pytest.mark.parametrize("error, message", [
    (PermissionError("denied"), "permission denied"), ("access-denied", "permission denied"),
    ("no-such-bucket", "not found")])
def test_a_refused_read_is_not_retried(monkeypatch, error, message):
    error = {"access-denied": lambda: _translated("AccessDenied", 403),
             "no-such-bucket": lambda: _translated("NoSuchBucket", 404)}.get(error, lambda: error)()
    fs = _FlakyFs([error])
    monkeypatch.setattr(_storage, "filesystem", lambda url: (fs, "b/k"))
    waits = []
    monkeypatch.setattr(_storage.time, "sleep", waits.append)
    with pytest.raises(InputError, match=f"s3://b/k: {message}"):
        _storage.read_bytes("s3://b/k")
    assert fs.calls == 1 and waits == []


def test_a_failure_that_outlasts_the_policy_is_one_clear_line(monkeypatch):
    fs = _FlakyFs([ConnectionResetError(104, "reset")] * 10)
    monkeypatch.setattr(_storage, "filesystem", lambda url: (fs, "b/k"))
    monkeypatch.setattr(_storage.time, "sleep", lambda s: None)
    with pytest.raises(InputError, match=r"^s3://b/k: storage not reachable .*reset\)$"):
        _storage.read_bytes("s3://b/k")
    assert fs.calls == _storage.RETRY.attempts


@pytest.mark.parametrize("where", ["local", "s3"])
def test_create_exclusive_has_one_winner(where, tmp_path, request):
    from lut_store import storage
    base = str(tmp_path) if where == "local" else f"s3://{request.getfixturevalue('s3_bucket')}"
    url = f"{base}/locks/lease.json"
    assert storage.create_exclusive(url, b"first") is True
    assert storage.create_exclusive(url, b"second") is False
    assert storage.read_bytes(url) == b"first"
    storage.remove(url)
    storage.remove(url)   # already gone: nothing to do
    assert not storage.exists(url) and storage.create_exclusive(url, b"third")


def test_a_file_another_process_wrote_is_found_and_read(s3_bucket):
    """A sub-folder this process listed before (opening a file lists it) must not hide a file
    that another writer added since: s3fs's own invalidation forgets only the parents."""
    import s3fs

    from lut_store import storage
    root = f"s3://{s3_bucket}/results"
    storage.write_bytes(f"{root}/part=a/one.bin", b"1")
    assert storage.find_files(root, ".bin") == [f"{root}/part=a/one.bin"]
    assert storage.read_bytes(f"{root}/part=a/one.bin") == b"1"
    fs, _ = storage.filesystem(root)
    fs.ls(f"{s3_bucket}/results/part=a")                  # this process's cached listing
    other = s3fs.S3FileSystem(skip_instance_cache=True, client_kwargs=fs.client_kwargs,
                              key=fs.key, secret=fs.secret, endpoint_url=fs.endpoint_url)
    other.pipe_file(f"{s3_bucket}/results/part=a/two.bin", b"2")   # "another process"
    found = storage.find_files(root, ".bin")
    assert found == [f"{root}/part=a/one.bin", f"{root}/part=a/two.bin"]
    assert fs.info(f"{s3_bucket}/results/part=a/two.bin")["size"] == 1
