"""One search, start to finish: data, search space, hardware cost model, DNAS, derivation,
retraining and int8 deployment.

`import search_core` pulls in neither torch, TensorFlow nor Ray: names are resolved on first use.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "Architecture": "architecture", "TrCell": "architecture", "SfCell": "architecture",
    "SearchSpace": "space",
    "CostModel": "hardware", "Relaxation": "hardware", "MemoryEstimate": "hardware",
    "Budget": "derive", "repair": "derive",
    "BudgetPenalty": "loss", "HardwareLoss": "loss",
    "SearchConfig": "search", "SearchResult": "search", "run_search": "search",
    "Dataset": "data", "load_dataset": "data",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'search_core' has no attribute {name!r}")
    return getattr(importlib.import_module(f".{module}", __name__), name)
