"""User recordings as tables: CSV / Parquet long form (a row per sample) and windowed Parquet
(a row per window), the `hapt12` name, `cuts_windows` and the read-only cache."""

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from _recordings import hapt_rows, write_csv, write_parquet

from search_core.data import InputError, cuts_windows, load_dataset


def _table(subjects, labels, sessions=None, time=None, split=None, channels=2, seed=0):
    rng = np.random.default_rng(seed)
    n = len(labels)
    cols = {"subject": list(subjects)}
    if sessions is not None:
        cols["session"] = list(sessions)
    if time is not None:
        cols["time"] = list(time)
    if split is not None:
        cols["split"] = list(split)
    for c in range(channels):
        cols[f"ch{c}"] = rng.normal(size=n).round(4).tolist()
    cols["label"] = list(labels)
    return cols


def _marked(cols):
    """ch0 := the row's index, so that every window says which rows it was cut from."""
    cols["ch0"] = [float(i) for i in range(len(cols["label"]))]
    return cols


def _windows_of(ds):
    """Rows each window came from (ch0 de-normalised), over every split."""
    out = []
    for which in ("train", "val", "test"):
        x, y = ds.split(which)
        raw = ds.denormalize(x)[..., 0].round().astype(int)
        out += [(tuple(r), ds.classes[int(k)]) for r, k in zip(raw, y)]
    return sorted(out)


def test_windows_never_cross_a_subject_a_session_or_a_label_change(tmp_path):
    # 6 subjects x 2 sessions x (40 a, 40 b) samples; window 16, step 8.
    subjects, sessions, labels = [], [], []
    for s in range(6):
        for sess in ("am", "pm"):
            subjects += [s] * 80
            sessions += [sess] * 80
            labels += ["a"] * 40 + ["b"] * 40
    cols = _marked(_table(subjects, labels, sessions=sessions))
    ds = load_dataset(write_csv(tmp_path / "r.csv", cols), window=16, step=8, normalize=False)
    windows = _windows_of(ds)
    for rows, label in windows:
        assert rows == tuple(range(rows[0], rows[0] + 16))
        assert len({cols["subject"][i] for i in rows}) == 1
        assert len({cols["session"][i] for i in rows}) == 1
        assert {cols["label"][i] for i in rows} == {label}
    # Per recording of 80: starts 0, 8, ..., 64; the one at 32 straddles a -> b and is dropped.
    assert len(windows) == 12 * 8
    assert ds.classes == ("a", "b") and ds.channels == ("ch0", "ch1")
    assert ds.sample_rate_hz is None


def test_unlabelled_rows_and_a_time_column(tmp_path):
    n = 200
    labels = (["x"] * 50 + [None] * 10 + ["y"] * 50 + [None] * 10 + ["x"] * 40 + ["y"] * 40)
    subjects = [1] * n + [2] * n + [3] * n + [4] * n + [5] * n
    time = [i * 0.02 for i in range(n)] * 5
    cols = _marked(_table(subjects, labels * 5, time=time))
    # Shuffled rows: the time column puts them back in order.
    order = np.random.default_rng(3).permutation(len(subjects))
    shuffled = {k: [v[i] for i in order] for k, v in cols.items()}
    ds = load_dataset(write_csv(tmp_path / "r.csv", shuffled), window=20, step=10, normalize=False)
    assert ds.sample_rate_hz == 50.0
    for rows, label in _windows_of(ds):
        assert all(cols["label"][i] == label for i in rows)      # never unlabelled time
        assert rows == tuple(range(rows[0], rows[0] + 20))
    # A gap in time ends a recording: no window spans it.
    gappy = dict(cols)
    gappy["time"] = [t + (5.0 if i % n >= 25 else 0.0) for i, t in enumerate(cols["time"])]
    ds2 = load_dataset(write_csv(tmp_path / "g.csv", gappy), window=20, step=10, normalize=False)
    assert not any(r[0] % n < 25 <= r[-1] % n for r, _ in _windows_of(ds2))
    assert "1 gap" in ds2.info["time"] or "5 gap" in ds2.info["time"]


def test_subject_names_split_column_and_renamed_columns(tmp_path):
    names = ["ann", "bob", "cid", "dan"]
    subjects = [s for s in names for _ in range(64)]
    labels = (["up"] * 32 + ["down"] * 32) * 4
    split = [("test" if s == "dan" else "train") for s in subjects]
    cols = _table(subjects, labels, split=split)
    cols["who"] = cols.pop("subject")
    cols["activity"] = cols.pop("label")
    path = write_parquet(tmp_path / "r.parquet", cols)
    ds = load_dataset(path, window=16, step=16, columns={"subject": "who", "label": "activity"})
    assert set(ds.subjects_test.tolist()) == {3}                 # dan, numbered in sorted order
    assert "ann=0" in ds.info["subjects"] and ds.info["split_test"] == "given by the source"
    assert ds.channels == ("ch0", "ch1")
    with pytest.raises(InputError, match="no 'subject' column .*needs 'subject' and 'label'"):
        load_dataset(path, window=16)


def test_real_recordings_csv_parquet_and_windowed_parquet_agree(tmp_path):
    cols = hapt_rows(users=(1, 2, 3, 4, 5), samples=3000)
    from_csv = load_dataset(write_csv(tmp_path / "hapt.csv", cols), window=32)
    from_parquet = load_dataset(write_parquet(tmp_path / "hapt.parquet", cols), window=32)
    assert from_csv.content_hash() == from_parquet.content_hash()
    assert from_csv.window == 32 and "step 16" in from_csv.info["windowing"]
    assert from_csv.sample_rate_hz == 25.0
    # The same windows written one row per window (a list column per channel) read back alike.
    raw = load_dataset(tmp_path / "hapt.csv", window=32, normalize=False)
    rows = {"subject": [], "label": [], "split": []}
    chans = {c: [] for c in raw.channels}
    for code, which in enumerate(("train", "val", "test")):
        x, y = raw.split(which)
        rows["subject"] += getattr(raw, f"subjects_{which}").tolist()
        rows["label"] += [raw.classes[k] for k in y]
        rows["split"] += [which] * len(y)
        for i, c in enumerate(raw.channels):
            chans[c] += x[:, :, i].tolist()
    table = pa.table({"subject": rows["subject"], **chans, "label": rows["label"],
                      "split": rows["split"]})
    pq.write_table(table, tmp_path / "windows.parquet")
    windowed = load_dataset(tmp_path / "windows.parquet")
    assert windowed.channels == raw.channels and windowed.classes == raw.classes
    for which in ("train", "val", "test"):
        assert len(windowed.split(which)[1]) == len(raw.split(which)[1])
        np.testing.assert_array_equal(windowed.split(which)[1], raw.split(which)[1])
    assert not cuts_windows(tmp_path / "windows.parquet")
    with pytest.raises(InputError, match="already cut into windows"):
        load_dataset(tmp_path / "windows.parquet", window=32)


def test_cuts_windows_names_the_recording_sources(tmp_path):
    assert cuts_windows("ucihar") and cuts_windows("hapt12") and cuts_windows("hapt")
    assert not cuts_windows("basicmotions")
    write_csv(tmp_path / "r.csv", _table([0] * 40, ["a"] * 40))
    assert cuts_windows(tmp_path / "r.csv")
    with pytest.raises(InputError, match="unknown data set"):
        cuts_windows("nope")


def test_hapt12_is_hapt_with_twelve_classes(tmp_path):
    twelve = load_dataset("hapt12", cache_dir=tmp_path)
    assert twelve.name == "hapt12" and twelve.n_classes == 12
    assert twelve.content_hash() == load_dataset("hapt", classes=12, cache_dir=tmp_path).content_hash()
    with pytest.raises(InputError, match="unknown option"):
        load_dataset("hapt12", classes=6, cache_dir=tmp_path)


def test_read_only_cache_writes_nothing(tmp_path):
    cache = tmp_path / "cache"
    ds = load_dataset("basicmotions", cache_dir=cache, cache="read")
    assert ds.info["cache"].startswith("miss (not written") and not cache.exists()
    load_dataset("basicmotions", cache_dir=cache)
    assert load_dataset("basicmotions", cache_dir=cache, cache="read").info["cache"] == "hit"
    with pytest.raises(InputError, match="cache must be"):
        load_dataset("basicmotions", cache="sometimes")


@pytest.mark.parametrize("name, body, message", [
    ("e.csv", b"", "empty file"),
    ("h.csv", b"subject,a,label\n", "no rows"),
    ("nl.csv", b"subject,a\n1,2\n", "no 'label' column"),
    ("ns.csv", b"a,label\n1,x\n", "no 'subject' column"),
    ("nc.csv", b"subject,label\n1,x\n", "no sensor channel column"),
    ("txt.csv", b"subject,a,label\n1,2,x\n1,oops,y\n", "channel 'a' is not numeric (e.g. 'oops' at line 3)"),
    ("nan.csv", b"subject,a,label\n1,2,x\n1,,y\n", "channel 'a' has an empty or NaN cell at line 3"),
    ("sub.csv", b"subject,a,label\n1,2,x\n,3,y\n", "subject column 'subject' has an empty cell at line 3"),
    ("ragged.csv", b"subject,a,label\n1,2,x\n1,3\n", "not a readable CSV file"),
    ("split.csv", b"subject,split,a,label\n1,later,2,x\n", "split column 'split' holds 'later'"),
    ("fake.parquet", b"PAR1 not really", "not a readable Parquet file"),
])
def test_malformed_tables_are_one_clear_line(tmp_path, name, body, message):
    path = tmp_path / name
    path.write_bytes(body)
    with pytest.raises(InputError, match=None) as info:
        load_dataset(path, window=16)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_window_longer_than_every_recording(tmp_path):
    path = write_csv(tmp_path / "short.csv", _table([0] * 30 + [1] * 30, ["a"] * 60))
    with pytest.raises(InputError, match=r"window \(64 samples\) is longer than every recording "
                                         r"\(the longest has 30 samples\)"):
        load_dataset(path, window=64)
    mixed = write_csv(tmp_path / "mixed.csv", _table([0] * 60, ["a", "b"] * 30))
    with pytest.raises(InputError, match="no window of 16 samples has a single label"):
        load_dataset(mixed, window=16)


def test_windowed_parquet_problems(tmp_path):
    def write(name, **cols):
        pq.write_table(pa.table(cols), tmp_path / name)
        return tmp_path / name
    ragged = write("ragged.parquet", a=[[1.0] * 20, [1.0] * 19], label=["x", "y"])
    with pytest.raises(InputError, match="channel 'a' has 19 samples at row 2"):
        load_dataset(ragged)
    extra = write("extra.parquet", a=[[1.0] * 20], note=["hi"], label=["x"])
    with pytest.raises(InputError, match="column 'note' .* is neither a channel"):
        load_dataset(extra)
    text = write("text.parquet", a=[["1"] * 20], label=["x"])
    with pytest.raises(InputError, match="channel 'a' holds string, not numbers"):
        load_dataset(text)


def test_tables_written_by_pandas(tmp_path):
    import pandas as pd
    cols = _table([s for s in range(5) for _ in range(40)], (["a"] * 20 + ["b"] * 20) * 5)
    df = pd.DataFrame(cols).iloc[::-1]            # a non-default index: pandas stores it
    df["label"] = df["label"].astype("category")  # written as a dictionary column
    df.iloc[::-1].to_parquet(tmp_path / "r.parquet")
    ds = load_dataset(tmp_path / "r.parquet", window=16)
    assert ds.channels == ("ch0", "ch1") and ds.classes == ("a", "b")
    df.to_csv(tmp_path / "r.csv")                 # index=True: an unnamed first column
    with pytest.raises(InputError, match="a column without a name .*index=False"):
        load_dataset(tmp_path / "r.csv", window=16)


def _mutants(base: bytes, seed: int, count: int):
    import random
    rng = random.Random(seed)
    for _ in range(count):
        data = bytearray(base)
        for _ in range(rng.randint(1, 12)):
            i = rng.randrange(len(data))
            op = rng.random()
            if op < 0.5:
                data[i] = rng.randrange(256)
            elif op < 0.75:
                del data[i:i + rng.randint(1, 30)]
            else:
                data[i:i] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 5)))
        yield bytes(data)


def _only_one_line_errors(path, mutants, **options):
    for data in mutants:
        path.write_bytes(data)
        try:
            load_dataset(path, **options)
        except InputError as exc:
            assert "\n" not in str(exc), str(exc)


def test_damaged_tables_fail_with_one_line(tmp_path):
    """Random byte edits of a good CSV, a long-form and a windowed Parquet: a clean load or one
    InputError line, never another exception."""
    import io
    n = 320
    cols = _table([i // 80 for i in range(n)], ["xy"[i // 20 % 2] for i in range(n)],
                  time=[i / 50 for i in range(n)])
    write_csv(tmp_path / "good.csv", cols)
    _only_one_line_errors(tmp_path / "m.csv", _mutants((tmp_path / "good.csv").read_bytes(), 0, 80),
                          window=16)
    for seed, table, options in (
            (1, pa.table(cols), {"window": 16}),
            (2, pa.table({"subject": [i % 4 for i in range(40)],
                          "a": [[float(j) for j in range(20)] for _ in range(40)],
                          "label": ["xy"[i % 2] for i in range(40)]}), {})):
        buf = io.BytesIO()
        pq.write_table(table, buf)
        _only_one_line_errors(tmp_path / "m.parquet", _mutants(buf.getvalue(), seed, 80), **options)
