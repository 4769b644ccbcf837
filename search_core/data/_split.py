"""Train / validation / test splits and train-only z-scoring.

Protocols (a named choice, recorded in `Dataset.protocol`, in every result row and in the report):
- `official` (the default): the source's own test split (official test subjects, TEST files, a
  split column), else one carved as below;
- `subjects`: subject-wise k-fold — the subjects (else labelled segments) are dealt into `folds`
  groups in a fixed order, group `fold` is the test split; the source's split is ignored;
- `paper-random`: windows split at random (stratified) across train / validation / test, ignoring
  subjects and the source's split. With overlapping windows this puts halves of the same
  movement on both sides: the figures are LEAKY, kept only to compare with published numbers.

Order of preference for carving a split out of the training pool: whole subjects (windows of one
person never straddle two splits), then whole segments (one labelled run of a recording: the
instance of a gesture, so overlapping or adjacent windows of the same instance never straddle two
splits), then stratified random windows. Every decision is written into `Dataset.info`.
"""

from __future__ import annotations

from dataclasses import replace as _replace

import numpy as np

from lut_store.errors import InputError

from ._dataset import MIN_PER_CLASS, Dataset, check_searchable
from ._raw import RawWindows

_SUBJECT_TRIES = 200
PROTOCOLS = ("official", "subjects", "paper-random")
LEAKY = "paper-random"
# Validation on fewer subjects ranks nothing: on UCI-HAR's two carved subjects most quickstart
# trials tied at one validation accuracy. Carve at least this many where the pool allows.
MIN_VAL_SUBJECTS = 4


def _round(v: float) -> int:
    return int(np.floor(v + 0.5))


def _covers(y_rest: np.ndarray, classes_needed: np.ndarray) -> bool:
    counts = np.bincount(y_rest, minlength=int(classes_needed.max()) + 1 if classes_needed.size else 0)
    return bool((counts[classes_needed] >= MIN_PER_CLASS).all())


def _by_subject(pool, fraction, raw, rng):
    subjects = np.unique(raw.subjects[pool])
    if len(subjects) < 2:
        return None
    take = min(max(_round(fraction * len(subjects)), 1, min(MIN_VAL_SUBJECTS, len(subjects) // 4)),
               len(subjects) - 1)
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


def protocol_name(protocol: str, fold: int = 0, folds: int = 5) -> str:
    """The name a protocol is recorded under (the inverse of `parse_protocol`)."""
    return f"subjects-{fold}of{folds}" if protocol == "subjects" else protocol


def parse_protocol(text) -> dict:
    """A protocol as named in a row, a spec or on the command line ("official", "paper-random",
    "subjects" or "subjects-<fold>of<folds>", folds counted from 0) -> load_dataset's keywords."""
    if not isinstance(text, str):
        raise InputError(f"protocol must be a string, got {type(text).__name__}")
    name = text.strip().lower()
    if name in ("official", LEAKY):
        return {"protocol": name}
    if name == "subjects":
        return {"protocol": "subjects", "fold": 0, "folds": 5}
    head, _, rest = name.partition("-")
    fold, _, folds = rest.partition("of")
    if head == "subjects" and fold.isdigit() and folds.isdigit():
        return {"protocol": "subjects", "fold": int(fold), "folds": int(folds)}
    raise InputError(f"unknown protocol {text!r}; choose official, paper-random (leaky) or "
                     "subjects-<fold>of<folds> (e.g. subjects-0of5)")


def _fold_split(raw: RawWindows, fold: int, folds: int) -> np.ndarray:
    """Split codes of the `subjects` protocol: fold `fold` of `folds` is the test split."""
    if not isinstance(folds, int) or isinstance(folds, bool) or folds < 2:
        raise InputError(f"protocol subjects: folds must be an integer >= 2, got {folds!r}")
    if not isinstance(fold, int) or isinstance(fold, bool) or not 0 <= fold < folds:
        raise InputError(f"protocol subjects: fold must be in 0..{folds - 1}, got {fold!r}")
    ids = raw.subjects if raw.subjects is not None else raw.groups
    if ids is None:
        raise InputError("protocol subjects needs subject ids (or labelled segments) in the data; "
                         "use protocol official")
    units = np.unique(ids)
    if len(units) < folds:
        raise InputError(f"protocol subjects: {len(units)} subjects for {folds} folds")
    # A fixed deal (not the run's seed): seeds vary the run, not which subjects are tested.
    order = np.random.default_rng(0).permutation(units)
    return np.where(np.isin(ids, order[fold::folds]), 2, 0).astype(np.int8)


def build_dataset(name: str, raw: RawWindows, *, seed: int, val_fraction: float,
                  test_fraction: float, normalize: bool, where: str | None = None,
                  protocol: str = "official", fold: int = 0, folds: int = 5) -> Dataset:
    """Split `raw` three ways by `protocol` (see the module), z-score with train statistics, check.

    `where` (the source file) prefixes every error so the message names the file.
    """
    try:
        if protocol not in PROTOCOLS:
            raise InputError(f"unknown protocol {protocol!r}; choose one of {', '.join(PROTOCOLS)}")
        info = dict(raw.info)
        if protocol == "subjects":
            raw = _replace(raw, split=_fold_split(raw, fold, folds))
            by = "subjects" if raw.subjects is not None else "labelled segments"
            info["split_test"] = f"fold {fold} of {folds} by {by}"
            info.pop("split_val", None)
        elif protocol == LEAKY:
            raw = _replace(raw, subjects=None, groups=None, split=None)
            info.pop("split_test", None)
            info.pop("split_val", None)
        raw = _replace(raw, info=info)
        dataset = _build(name, raw, seed=seed, val_fraction=val_fraction,
                         test_fraction=test_fraction, normalize=normalize)
        note = {"official": "official: the source's own test split",
                "subjects": f"subjects: subject-wise {folds}-fold, fold {fold}",
                LEAKY: "paper-random (LEAKY): overlapping windows split at random, only to compare "
                       "with published figures"}[protocol]
        return _replace(dataset, protocol=protocol_name(protocol, fold, folds),
                        info={**dataset.info, "protocol": note})
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
        front_end=raw.front_end,
    )
    return check_searchable(dataset)
