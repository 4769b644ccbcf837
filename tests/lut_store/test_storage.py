import os

import pytest

from lut_store import InputError, Lut, import_records
from lut_store import _storage

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
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    s3fs.S3FileSystem.clear_instance_cache()
    with pytest.raises(InputError, match="s3://nobucket/lut"):
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
def test_writes_to_s3_survive_an_outage(monkeypatch):
    """Nothing listens when the write starts; the server comes up ~5 s later (between the retries
    at 3.5 s and 7.5 s, so that its bucket exists before the next attempt): the write is
    retried with backoff and lands (what keeps a trial's row when the store hiccups)."""
    import threading
    import time

    import s3fs
    from _s3 import free_port, make_bucket, s3_env, s3_server

    from lut_store import storage

    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    for key, value in s3_env(endpoint).items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    s3fs.S3FileSystem.clear_instance_cache()
    up, stop = threading.Event(), threading.Event()

    def outage_then_server():
        time.sleep(4.5)
        with s3_server(port):
            make_bucket(endpoint, "late-bucket")
            up.set()
            stop.wait(60)

    thread = threading.Thread(target=outage_then_server, daemon=True)
    thread.start()
    try:
        start = time.monotonic()
        storage.write_bytes("s3://late-bucket/rows/one.bin", b"row")
        assert up.is_set() and time.monotonic() - start >= 4.5
        assert storage.read_bytes("s3://late-bucket/rows/one.bin") == b"row"
    finally:
        stop.set()
        thread.join(30)
        s3fs.S3FileSystem.clear_instance_cache()
