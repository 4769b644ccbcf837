"""Progress bars of `run_search` (tqdm, on stderr): one for the search epochs, one for retraining.
Stage events come from the pipeline (`on_start`), epoch rows from the stages' progress callbacks."""

from __future__ import annotations

import sys

from ._config import SearchConfig


class Progress:
    """tqdm bars on stderr: one for the search epochs, one for retraining."""

    def __init__(self, enabled: bool, config: SearchConfig):
        self.enabled = enabled and sys.stderr is not None
        self._search = self._train = None
        self._config = config
        if self.enabled:
            from tqdm import tqdm
            self._tqdm = tqdm

    def start(self, stage) -> None:
        """A stage begins: its bar opens, the previous one closes."""
        if not self.enabled:
            return
        self._close()
        if stage.name == "search":
            self._search = self._tqdm(total=self._config.epochs, desc="search", unit="epoch",
                                      file=sys.stderr)
        elif stage.name == "retrain":
            self._train = self._tqdm(total=self._config.retrain_epochs, desc="retrain",
                                     unit="epoch", file=sys.stderr)

    def search(self, row: dict) -> None:
        if self._search is not None:
            self._search.set_postfix(loss=f"{row['train_loss']:.3f}",
                                     lat=f"{row['expected_latency_ms']:.1f}ms",
                                     mem=f"{row['expected_memory_bytes'] / 1024:.1f}KB",
                                     tau=f"{row['tau']:.2f}")
            self._search.update(1)

    def train(self, row: dict) -> None:
        if self._train is not None:
            self._train.set_postfix(val_acc=f"{row['val_accuracy']:.4f}", best=f"{row['best']:.4f}")
            self._train.update(1)

    def _close(self) -> None:
        for bar in (self._search, self._train):
            if bar is not None:
                bar.close()
        self._search = self._train = None

    def close(self) -> None:
        self._close()
