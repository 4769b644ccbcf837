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


def dry_source(url: str, n: int = 5) -> None:
    """`n` finished micronas rows (basicmotions on the L552) for `dry:` trials to draw from."""
    from datetime import UTC, datetime

    from orchestrator import ResultsStore

    store, now = ResultsStore(url), datetime.now(UTC)
    for i in range(n):
        store.write({"trial_key": f"real/{i}", "sweep": "real", "method": "micronas",
                     "status": "ok", "dataset": "basicmotions", "mcu": "nucleo-l552ze-q",
                     "lat_budget_ms": 20.0, "mem_budget_kb": 16.0, "seed": 0,
                     "architecture_json": "{}", "search_latency_ms": 5.0 + i,
                     "search_memory_bytes": 4096.0, "latency_ms": 5.0 + i,
                     "peak_memory_bytes": 4096.0, "fits": True, "val_accuracy": 0.5 + i / 20,
                     "val_neg_log_loss": -1.0 + i / 10, "test_accuracy": 0.6 + i / 20,
                     "int8_accuracy": 0.6 + i / 20, "verified_latency_ms": 5.0 + i,
                     "verified_memory_bytes": 4096.0, "finished_at": now})
