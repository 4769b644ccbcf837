"""Small separable synthetic windows for tests of mechanics (never for a figure): the class is
the channel that carries an offset."""

import numpy as np

from search_core.data import Dataset, check_searchable


def tiny_dataset(seed: int = 0, n: int = 64, t: int = 32, k: int = 3,
                 channels: tuple[str, ...] = tuple(f"c{i}" for i in range(6))) -> Dataset:
    rng = np.random.default_rng(seed)
    s = len(channels)

    def part(m):
        y = rng.integers(0, k, m)
        x = rng.normal(0, 0.3, (m, t, s)).astype(np.float32)
        x[np.arange(m), :, y] += 1.0
        return x, y.astype(np.int64)

    (xt, yt), (xv, yv), (xs, ys) = part(n), part(n // 2), part(n // 2)
    return check_searchable(Dataset("tiny", xt, yt, xv, yv, xs, ys, tuple("abcdefgh"[:k]),
                                    tuple(channels), 50.0, np.zeros(s, np.float32),
                                    np.ones(s, np.float32)))
