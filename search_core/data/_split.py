"""Train / validation / test splits and train-only z-scoring.

Order of preference for carving a split out of the training pool: whole subjects (windows of one
person never straddle two splits), then whole segments (one labelled run of a recording: the
instance of a gesture, so overlapping or adjacent windows of the same instance never straddle two
splits), then stratified random windows. Every decision is written into `Dataset.info`.
"""

from __future__ import annotations

import numpy as np

from lut_store.errors import InputError

from ._dataset import MIN_PER_CLASS, Dataset, check_searchable
from ._raw import RawWindows

_SUBJECT_TRIES = 200


def _round(v: float) -> int:
    return int(np.floor(v + 0.5))


def _covers(y_rest: np.ndarray, classes_needed: np.ndarray) -> bool:
    counts = np.bincount(y_rest, minlength=int(classes_needed.max()) + 1 if classes_needed.size else 0)
    return bool((counts[classes_needed] >= MIN_PER_CLASS).all())


def _by_subject(pool, fraction, raw, rng):
    subjects = np.unique(raw.subjects[pool])
    if len(subjects) < 2:
        return None
    take = min(max(_round(fraction * len(subjects)), 1), len(subjects) - 1)
    needed = np.unique(raw.y[pool])
    for _ in range(_SUBJECT_TRIES):
        chosen = rng.permutation(subjects)[:take]
        mask = np.isin(raw.subjects[pool], chosen)
        if _covers(raw.y[pool][~mask], needed):
            ids = ", ".join(str(int(s)) for s in sorted(chosen))
            return pool[~mask], pool[mask], f"{take} whole subject(s) [{ids}]"
    return None


def _by_group(pool, fraction, raw, rng):
    y, groups = raw.y[pool], raw.groups[pool]
    carved = []
    for c in np.unique(y):
        in_class = np.flatnonzero(y == c)
        class_groups = np.unique(groups[in_class])
        if len(class_groups) < 2:
            return None
        # At least one segment per class, so that every class is seen in the carved split.
        target = min(max(_round(fraction * len(in_class)), 1), len(in_class) - MIN_PER_CLASS)
        taken = 0
        for g in rng.permutation(class_groups):
            if taken >= target:
                break
            members = in_class[groups[in_class] == g]
            if taken + len(members) > len(in_class) - MIN_PER_CLASS:
                continue
            carved.append(members)
            taken += len(members)
    if not carved:
        return None
    mask = np.zeros(len(pool), bool)
    mask[np.concatenate(carved)] = True
    n_groups = len(np.unique(groups[mask]))
    return pool[~mask], pool[mask], f"{n_groups} whole labelled segments, stratified by class"


def _by_window(pool, fraction, raw, rng):
    y = raw.y[pool]
    mask = np.zeros(len(pool), bool)
    for c in np.unique(y):
        in_class = np.flatnonzero(y == c)
        take = min(max(_round(fraction * len(in_class)), 1), max(len(in_class) - MIN_PER_CLASS, 0))
        mask[rng.permutation(in_class)[:take]] = True
    if not mask.any():
        counts = np.bincount(y)
        largest = int(np.argmax(counts))
        if counts[largest] > MIN_PER_CLASS:
            mask[rng.choice(np.flatnonzero(y == largest))] = True
    return pool[~mask], pool[mask], "stratified random windows"


def _carve(pool, fraction, raw, rng):
    """(rest, carved, how) — first method that works, in order of preference."""
    notes = []
    if raw.subjects is not None:
        got = _by_subject(pool, fraction, raw, rng)
        if got:
            return got
        notes.append("fewer than 2 subjects, or no subject choice keeps every class in training")
    if raw.groups is not None:
        got = _by_group(pool, fraction, raw, rng)
        if got:
            return got
        notes.append("a class has fewer than 2 labelled segments, or too few windows for whole segments")
    rest, carved, how = _by_window(pool, fraction, raw, rng)
    if notes:
        how += f" (subject/segment split impossible: {'; '.join(notes)})"
    return rest, carved, how


def _check_fraction(value, what):
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 < value < 1:
        raise InputError(f"{what} must be a number strictly between 0 and 1, got {value!r}")
    return float(value)


def build_dataset(name: str, raw: RawWindows, *, seed: int, val_fraction: float,
                  test_fraction: float, normalize: bool, where: str | None = None) -> Dataset:
    """Split `raw` three ways (respecting a given split), z-score with train statistics, check.

    `where` (the source file) prefixes every error so the message names the file.
    """
    try:
        return _build(name, raw, seed=seed, val_fraction=val_fraction, test_fraction=test_fraction,
                      normalize=normalize)
    except InputError as exc:
        if where and where != name and not str(exc).startswith(where):
            raise InputError(f"{where}: {exc}") from None
        raise


def _build(name, raw, *, seed, val_fraction, test_fraction, normalize) -> Dataset:
    val_fraction = _check_fraction(val_fraction, "val_fraction")
    test_fraction = _check_fraction(test_fraction, "test_fraction")
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
        raise InputError(f"seed must be an integer, got {seed!r}")
    rng = np.random.default_rng(int(seed))
    n = len(raw.y)
    absent = [raw.classes[k] for k in np.flatnonzero(np.bincount(raw.y, minlength=len(raw.classes)) == 0)]
    if absent:
        raise InputError(f"{name}: class(es) {absent} have no window at all (too short for the window "
                         "length, or not in the labels)")
    split = raw.split if raw.split is not None else np.zeros(n, np.int8)
    pool = np.flatnonzero(split == 0)
    test = np.flatnonzero(split == 2)
    val = np.flatnonzero(split == 1)
    info = dict(raw.info)
    if test.size:
        info.setdefault("split_test", "given by the source")
    else:
        if pool.size < 3:
            raise InputError(f"{name}: too few windows ({pool.size}) to carve a test split")
        pool, test, how = _carve(pool, test_fraction, raw, rng)
        info["split_test"] = f"{how}, carved from the data (test_fraction={test_fraction}, seed={seed})"
    if val.size:
        info.setdefault("split_val", "given by the source")
    else:
        if pool.size < 3:
            raise InputError(f"{name}: too few training windows ({pool.size}) to carve a validation split")
        pool, val, how = _carve(pool, val_fraction, raw, rng)
        info["split_val"] = f"{how}, carved from the training data (val_fraction={val_fraction}, seed={seed})"
    train = np.sort(pool)
    val, test = np.sort(val), np.sort(test)

    x_train = raw.x[train]
    s = raw.x.shape[2]
    if normalize and len(train):   # (an empty training split is reported by check_searchable)
        flat = x_train.reshape(-1, s).astype(np.float64)
        mean = flat.mean(axis=0)
        std = flat.std(axis=0)
        # A constant channel carries no information; dividing by ~0 would only amplify noise.
        std = np.where(std > 1e-8 * np.maximum(np.abs(mean), 1.0), std, 1.0)
        info["normalization"] = "per-channel z-score fitted on the training split only"
    else:
        mean, std = np.zeros(s), np.ones(s)
        info["normalization"] = "none (norm_mean = 0, norm_std = 1)"
    mean32, std32 = mean.astype(np.float32), std.astype(np.float32)
    if not (np.isfinite(mean32).all() and np.isfinite(std32).all()):
        raise InputError(f"{name}: windows too large to normalise (values near the float32 limit)")

    def scaled(idx):
        with np.errstate(over="ignore", invalid="ignore"):
            out = ((raw.x[idx] - mean32) / std32).astype(np.float32)
        if not np.isfinite(out).all():
            raise InputError(f"{name}: windows too large to normalise (values near the float32 limit)")
        return out

    def part(values, idx):
        return None if values is None else values[idx].copy()

    dataset = Dataset(
        name=name,
        x_train=scaled(train), y_train=raw.y[train].copy(),
        x_val=scaled(val), y_val=raw.y[val].copy(),
        x_test=scaled(test), y_test=raw.y[test].copy(),
        classes=tuple(raw.classes), channels=tuple(raw.channels),
        sample_rate_hz=None if raw.sample_rate_hz is None else float(raw.sample_rate_hz),
        norm_mean=mean32, norm_std=std32,
        subjects_train=part(raw.subjects, train), subjects_val=part(raw.subjects, val),
        subjects_test=part(raw.subjects, test),
        info={k: str(v) for k, v in info.items()},
    )
    return check_searchable(dataset)
