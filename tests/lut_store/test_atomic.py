"""lut_store.storage.write_file / write_folder / read_folder: one file or a set of files, all or
nothing, locally and on a real S3 server."""

import json
import os

import pytest

from lut_store import InputError, _atomic, storage


def test_write_file_bytes_or_writer_and_no_temp_left(tmp_path):
    target = tmp_path / "sub" / "a.bin"
    storage.write_file(target, b"one")
    storage.write_file(str(target), lambda fh: fh.write(b"two"))
    assert target.read_bytes() == b"two"
    assert sorted(p.name for p in target.parent.iterdir()) == ["a.bin"]


def test_write_file_that_fails_keeps_the_old_file(tmp_path):
    target = tmp_path / "a.bin"
    storage.write_file(target, b"old")

    def broken(fh):
        fh.write(b"half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        storage.write_file(target, broken)
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.bin"]


def test_folder_commit_lists_every_file_and_leaves_others(tmp_path):
    (tmp_path / "mine.txt").write_text("keep")
    digests = storage.write_folder(tmp_path, {"a": b"1", "b": lambda fh: fh.write(b"22")},
                                   marker="done.json")
    assert digests["b"]["bytes"] == 2
    doc = storage.read_folder(tmp_path, "done.json")
    assert doc == {"files": digests}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b", "done.json", "mine.txt"]


def test_folder_without_marker_is_not_finished_and_a_torn_one_is_refused(tmp_path):
    assert storage.read_folder(tmp_path, "done.json") is None
    storage.write_folder(tmp_path, {"a": b"1", "b": b"2"}, marker="done.json")
    (tmp_path / "b").write_bytes(b"3")      # e.g. copied together from two runs
    with pytest.raises(InputError, match="b does not match done.json"):
        storage.read_folder(tmp_path, "done.json", what="thing")
    (tmp_path / "done.json").write_text("{not json")
    with pytest.raises(InputError, match="unreadable"):
        storage.read_folder(tmp_path, "done.json")


@pytest.mark.parametrize("crash_at", [1, 2, 3])
def test_interrupted_overwrite_never_mixes_and_a_rerun_repairs(tmp_path, monkeypatch, crash_at):
    storage.write_folder(tmp_path, {"a": b"old-a", "b": b"old-b"}, marker="done.json",
                         manifest=lambda d: json.dumps({"files": d, "run": "old"}).encode())
    real, calls = os.replace, []

    def crash(src, dst):
        calls.append(dst)
        if len(calls) == crash_at:
            raise OSError("crash")
        return real(src, dst)

    monkeypatch.setattr(_atomic.os, "replace", crash)
    with pytest.raises(OSError):
        storage.write_folder(tmp_path, {"a": b"new-a", "b": b"new-b"}, marker="done.json",
                             stale=("old-bundle",))
    monkeypatch.setattr(_atomic.os, "replace", real)
    assert storage.read_folder(tmp_path, "done.json") is None     # not finished
    present = {p.name: p.read_bytes() for p in tmp_path.iterdir() if not p.name.startswith(".")}
    assert not any(v.startswith(b"old") for v in present.values())   # never old beside new
    storage.write_folder(tmp_path, {"a": b"new-a", "b": b"new-b"}, marker="done.json")
    assert set(storage.read_folder(tmp_path, "done.json")["files"]) == {"a", "b"}
    assert (tmp_path / "b").read_bytes() == b"new-b"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b", "done.json"]


def test_stale_files_and_what_a_killed_writer_left_are_removed(tmp_path):
    (tmp_path / "old-bundle").write_text("from the last run")
    left = tmp_path / ".done.json.tmp-deadbeef"
    left.mkdir()
    (left / "a").write_bytes(b"half")
    storage.write_folder(tmp_path, {"a": b"1"}, marker="done.json", stale=("old-bundle",))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "done.json"]


def test_bad_names_are_refused(tmp_path):
    for files in ({"done.json": b""}, {"../x": b""}, {".hidden": b""}):
        with pytest.raises(ValueError):
            storage.write_folder(tmp_path, files, marker="done.json")


@pytest.mark.s3
def test_folder_commit_on_s3(s3_bucket):
    url = f"s3://{s3_bucket}/runs/x"
    storage.write_file(f"{url}/single.txt", b"hello")
    assert storage.read_bytes(f"{url}/single.txt") == b"hello"
    storage.write_folder(url, {"a": b"1", "b": b"2"}, marker="done.json")
    assert set(storage.read_folder(url, "done.json")["files"]) == {"a", "b"}
    storage.write_folder(url, {"a": b"3"}, marker="done.json", stale=("b",))
    assert storage.read_bytes(f"{url}/a") == b"3" and not storage.exists(f"{url}/b")
    storage.write_file(f"{url}/a", b"4")
    with pytest.raises(InputError, match="a does not match done.json"):
        storage.read_folder(url, "done.json")
