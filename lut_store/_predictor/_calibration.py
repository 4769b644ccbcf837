"""Which few op configurations to measure on a new board so that its own fitted predictor can
price all the others: a calibration set that covers every code path the predictor models.

The predictor has one count model per (op, CMSIS-NN code path): `arm_convolve_s8` (im2col) and
`arm_convolve_1x1_s8_fast` for CONV_2D, a line in the element count for ADD, MEAN, SOFTMAX. A board
fits its own model of a path from 2 x (its feature count) rows (fewer: from as many rows as
features when no other board can lend one). So the set is built per path:

1. quotas: every path the configurations reach gets at least one row; the conv paths are filled
   up to their feature count, then to twice it, then in proportion to how many configurations
   they have; the element-count paths get two rows (a line);
2. within a path, a greedy design in the log of the path's count features (those are the fit's
   columns): first rows that raise the rank of the chosen feature matrix (so every coefficient is
   identified), then farthest-point picks (so the extremes and the leftover branches — odd channel
   counts, padded taps — are in). Deterministic: same configurations, same set.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import numpy as np

from .._lut import OpConfig
from ..errors import InputError
from ._features import CONV_PATHS, FEATURES, conv_matrix, route

__all__ = ["calibration_set", "code_path"]


def code_path(config: OpConfig) -> str:
    """The predictor model an op configuration is priced by: "<op>/<path or feature family>"."""
    key, _ = route(config)
    return f"{config.op}/{key}"


def _features(key: str, sources: list) -> np.ndarray:
    if key in CONV_PATHS:
        x = conv_matrix(key, np.array(sources, dtype=object), None)[:, :-1]   # no cache column
    else:
        x = np.array([s[:len(FEATURES[key])] for s in sources], dtype=float)
    return x


def _quotas(sizes: dict[str, int], need: dict[str, tuple[int, ...]], n: int) -> dict[str, int]:
    quota = {p: 0 for p in sizes}
    budget = n
    for level in range(max(len(v) for v in need.values())):
        for p in sorted(sizes):                      # one row per path first, then each target
            want = min(need[p][min(level, len(need[p]) - 1)], sizes[p])
            take = min(max(want - quota[p], 0), budget)
            quota[p] += take
            budget -= take
    while budget > 0:                                # the rest in proportion to what is left
        room = {p: sizes[p] - quota[p] for p in sizes if sizes[p] > quota[p]}
        if not room:
            break
        p = max(sorted(room), key=lambda q: room[q] / (quota[q] + 1))
        quota[p] += 1
        budget -= 1
    return quota


def _pick(x: np.ndarray, k: int) -> list[int]:
    z = np.log1p(np.maximum(x, 0.0))
    spread = z.std(axis=0)
    z = (z - z.mean(axis=0)) / np.where(spread > 0, spread, 1.0)
    first = int(np.argmax(np.linalg.norm(z, axis=1)))
    chosen = [first]
    dist = np.linalg.norm(z - z[first], axis=1)
    full_rank = np.linalg.matrix_rank(x)
    order = np.argsort(-np.linalg.norm(z, axis=1), kind="stable")
    # Rank first: a coefficient no chosen row moves cannot be fitted.
    for i in order:
        if len(chosen) >= min(k, full_rank) or np.linalg.matrix_rank(x[chosen]) >= full_rank:
            break
        if i not in chosen and np.linalg.matrix_rank(x[chosen + [int(i)]]) > \
                np.linalg.matrix_rank(x[chosen]):
            chosen.append(int(i))
            dist = np.minimum(dist, np.linalg.norm(z - z[i], axis=1))
    while len(chosen) < k:
        dist[chosen] = -1.0
        i = int(np.argmax(dist))
        chosen.append(i)
        dist = np.minimum(dist, np.linalg.norm(z - z[i], axis=1))
    return chosen


def calibration_set(configs: Sequence[OpConfig], n: int) -> list[OpConfig]:
    """About `n` of `configs` (all of them when there are no more) covering every code path the
    predictor models, in the order of `configs`. Fewer than `n` only when `configs` has fewer."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise InputError(f"a calibration set needs a positive size, got {n!r}")
    configs = list(dict.fromkeys(configs))
    groups: dict[str, list[int]] = defaultdict(list)
    sources: dict[str, list] = defaultdict(list)
    for i, cfg in enumerate(configs):
        key, src = route(cfg)
        if src is None:
            raise InputError(f"{cfg.op} {cfg.to_dict()}: not a configuration the predictor models")
        groups[f"{cfg.op}/{key}"].append(i)
        sources[f"{cfg.op}/{key}"].append(src)
    if n >= len(configs):
        return configs
    need = {}
    for p in groups:
        width = len(FEATURES[p.split("/", 1)[1]])
        need[p] = (1, width, 2 * width) if p.split("/", 1)[1] in CONV_PATHS else (1, 2)
    quota = _quotas({p: len(v) for p, v in groups.items()}, need, n)
    picked: set[int] = set()
    for p, members in groups.items():
        if quota[p]:
            x = _features(p.split("/", 1)[1], sources[p])
            picked.update(members[j] for j in _pick(x, quota[p]))
    return [configs[i] for i in sorted(picked)]
