"""Compaction: a partition's row files merged into one file read exactly as before, a trial's
row still found and still replaceable, a file rewritten while compaction ran kept, two
compactions at once losing nothing — locally and on a real S3 server."""

import threading
from datetime import datetime, timedelta, timezone

import pandas as pd
import pytest

from lut_store import storage
from orchestrator._store import COMPACTED_PREFIX, ResultsStore

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
BOARDS = ("nucleo-l552ze-q", "nucleo-f446re")


def _row(i: int, **extra) -> dict:
    return {"trial_key": f"s/t{i:04d}", "sweep": "s", "dataset": "ucihar", "mcu": BOARDS[i % 2],
            "status": "ok", "method": "micronas", "test_accuracy": 0.5 + i / 1000,
            "finished_at": T0 + timedelta(minutes=i), **extra}


def _filled(url: str, n: int = 40) -> ResultsStore:
    store = ResultsStore(url)
    for i in range(n):
        store.write(_row(i))
    return store


def _names(store: ResultsStore) -> list[str]:
    return [f.rsplit("/", 1)[1] for f in storage.find_files(store.results_url, ".parquet")]


def _compaction_round_trip(url: str) -> None:
    store = _filled(url)
    before = store.read()
    done = store.compact()
    assert done == {"partitions": 2, "files_merged": 40, "rows": 40, "files_kept": 0}
    names = _names(store)
    assert len(names) == 2 and all(n.startswith(COMPACTED_PREFIX) for n in names)
    pd.testing.assert_frame_equal(store.read(), before)
    assert store.get("s/t0007", "ucihar", BOARDS[1])["test_accuracy"] == pytest.approx(0.507)
    assert store.get("s/t9999", "ucihar", BOARDS[1]) is None
    # A re-run after compaction replaces the row: the newest row per key wins, in read and get.
    store.write(_row(7, status="failed", finished_at=T0 + timedelta(days=1)))
    rows = store.read().set_index("trial_key")
    assert len(rows) == 40 and rows.loc["s/t0007", "status"] == "failed"
    assert store.get("s/t0007", "ucihar", BOARDS[1])["status"] == "failed"
    # Compacting again merges the loose row into a new compacted file, and nothing else changes.
    assert store.compact(at_least=1)["files_merged"] == 2
    assert len(_names(store)) == 2
    assert store.read().set_index("trial_key").loc["s/t0007", "status"] == "failed"


def test_compaction_round_trip_locally(tmp_path):
    _compaction_round_trip(str(tmp_path / "store"))


@pytest.mark.s3
def test_compaction_round_trip_on_s3(s3_bucket):
    _compaction_round_trip(f"s3://{s3_bucket}/compaction")


def test_small_partitions_are_left_alone(tmp_path):
    store = _filled(str(tmp_path / "store"), n=6)
    assert store.compact(at_least=4)["partitions"] == 0
    assert store.loose_files() == {storage.join(store.results_url, "dataset=ucihar", f"mcu={b}"): 3
                                   for b in BOARDS}


def test_a_row_rewritten_during_compaction_is_kept(tmp_path, monkeypatch):
    store = _filled(str(tmp_path / "store"))
    scan = ResultsStore._scan

    def scan_then_rewrite(self, files, sweep):
        table = scan(self, files, sweep)
        # A trial re-runs between compaction's read and its deletes.
        ResultsStore(self.url).write(_row(3, status="failed", finished_at=T0 + timedelta(days=1)))
        return table

    monkeypatch.setattr(ResultsStore, "_scan", scan_then_rewrite)
    done = store.compact()
    monkeypatch.undo()
    assert done["files_kept"] == 1 and done["files_merged"] == 39
    rows = store.read().set_index("trial_key")
    assert len(rows) == 40 and rows.loc["s/t0003", "status"] == "failed"


def test_two_compactions_at_once_lose_nothing(tmp_path):
    store = _filled(str(tmp_path / "store"), n=60)
    before = store.read()
    errors: list[BaseException] = []

    def compact():
        try:
            ResultsStore(store.url).compact()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=compact) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    pd.testing.assert_frame_equal(store.read(), before)
    assert all(n.startswith(COMPACTED_PREFIX) for n in _names(store))


def test_results_compact_on_the_cli(tmp_path, capsys):
    from orchestrator.cli import main

    store = _filled(str(tmp_path / "store"), n=10)
    before = store.read()
    assert main(["results", "--storage", store.url, "--compact", "--json"]) in (0, None)
    import json
    assert json.loads(capsys.readouterr().out)["files_merged"] == 10
    pd.testing.assert_frame_equal(store.read(), before)
