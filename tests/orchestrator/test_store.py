"""The results store read as one `pyarrow.dataset`: names come back exactly as written (spaces,
odd characters), a re-write replaces its row, a hand-made copy does not double-count, older rows
still read, newer ones are refused with one line — locally and on a real S3 server."""

import shutil
from datetime import datetime, timedelta, timezone

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lut_store import InputError
from orchestrator._store import COLUMNS, SCHEMA_VERSION, ResultsStore

ODD = [("UCI HAR Dataset", "nucleo-l552ze-q"), ("a%b #é+=?&", "my board (v2)"), ("ucihar", "m+1")]
T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


def _row(i: int, dataset: str, mcu: str, **extra) -> dict:
    return {"trial_key": f"s/t{i}", "sweep": "s", "dataset": dataset, "mcu": mcu, "status": "ok",
            "method": "micronas", "test_accuracy": 0.5 + i / 100,
            "finished_at": T0 + timedelta(minutes=i), **extra}


def _roundtrip(url: str) -> None:
    store = ResultsStore(url)
    for i, (dataset, mcu) in enumerate(ODD):
        store.write(_row(i, dataset, mcu))
    rows = store.read()
    assert sorted(zip(rows["dataset"], rows["mcu"])) == sorted(ODD)
    for dataset, mcu in ODD:
        one = store.read(dataset=dataset, mcu=mcu)
        assert list(one["dataset"]) == [dataset] and list(one["mcu"]) == [mcu]
        assert list(store.read(mcu=mcu)["mcu"]) == [mcu]
    assert store.get("s/t0", *ODD[0])["dataset"] == "UCI HAR Dataset"
    # A re-write replaces the row (same file): still one row for the key, the new figures.
    store.write(_row(0, *ODD[0], status="failed", finished_at=T0 + timedelta(hours=1)))
    rows = store.read(sweep="s")
    assert len(rows) == 3 and rows.set_index("trial_key").loc["s/t0", "status"] == "failed"
    assert set(rows["schema_version"]) == {SCHEMA_VERSION}
    assert list(rows.columns) == list(COLUMNS)
    assert store.read(sweep="other").empty


def test_odd_names_round_trip_locally(tmp_path):
    _roundtrip(str(tmp_path / "store"))
    # Every Arrow-based reader decodes the partition folders the same way.
    table = pd.read_parquet(tmp_path / "store" / "results")
    assert sorted(zip(table["dataset"].astype(str), table["mcu"].astype(str))) == sorted(ODD)


@pytest.mark.s3
def test_odd_names_round_trip_on_s3(s3_bucket, s3_endpoint):
    url = f"s3://{s3_bucket}/store"
    _roundtrip(url)
    table = pd.read_parquet(f"{url}/results",
                            storage_options={"client_kwargs": {"endpoint_url": s3_endpoint}})
    assert sorted(zip(table["dataset"].astype(str), table["mcu"].astype(str))) == sorted(ODD)


def test_a_copy_made_by_hand_does_not_double_count(tmp_path):
    store = ResultsStore(str(tmp_path))
    url = store.write(_row(1, "ucihar", "nucleo-l552ze-q"))
    shutil.copy(url, url.replace(".parquet", "-copy.parquet"))
    rows = store.read()
    assert len(rows) == 1 and rows["trial_key"][0] == "s/t1"


def test_version_1_rows_still_read(tmp_path):
    """Version 1 kept dataset and mcu only in the folder names (sanitised)."""
    store = ResultsStore(str(tmp_path))
    folder = tmp_path / "results" / "dataset=UCI_HAR_Dataset" / "mcu=nucleo-f446re"
    folder.mkdir(parents=True)
    old = [(k, v) for k, v in COLUMNS.items() if k not in ("dataset", "mcu", "artifacts")]
    pq.write_table(pa.Table.from_pylist([{"schema_version": 1, "trial_key": "old/t", "sweep": "old",
                                          "status": "ok"}], schema=pa.schema(old)),
                   folder / "old--t.parquet")
    store.write(_row(2, "UCI HAR Dataset", "nucleo-f446re"))
    rows = store.read().set_index("trial_key")
    assert rows.loc["old/t", "dataset"] == "UCI_HAR_Dataset" and rows.loc["s/t2", "dataset"] == \
        "UCI HAR Dataset"
    assert pd.isna(rows.loc["old/t", "artifacts"])       # a column the old file lacks: null


def test_newer_schema_is_refused_naming_the_file(tmp_path):
    store = ResultsStore(str(tmp_path))
    url = store.write(_row(1, "ucihar", "nucleo-l552ze-q", schema_version=SCHEMA_VERSION + 1))
    table = pq.read_table(url)
    table = table.set_column(0, "schema_version", pa.array([SCHEMA_VERSION + 1], pa.int32()))
    pq.write_table(table, url)
    with pytest.raises(InputError, match="is newer than this micronas") as info:
        store.read()
    assert url in str(info.value) and "\n" not in str(info.value)


def test_a_corrupt_row_file_is_one_line(tmp_path):
    store = ResultsStore(str(tmp_path))
    url = store.write(_row(1, "ucihar", "nucleo-l552ze-q"))
    with open(url, "wb") as fh:
        fh.write(b"PAR1 not parquet PAR1")
    with pytest.raises(InputError, match="cannot read the results") as info:
        store.read()
    assert "\n" not in str(info.value)


def test_a_name_that_cannot_be_a_folder_is_refused(tmp_path):
    with pytest.raises(ValueError, match="cannot name a partition folder"):
        ResultsStore(str(tmp_path)).write(_row(1, "x" * 300, "m"))
