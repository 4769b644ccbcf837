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
    "METHODS": "baselines",
    "BudgetPenalty": "loss", "HardwareLoss": "loss",
    "SearchConfig": "_config", "SearchResult": "search", "run_search": "search",
    "plan_budget": "search",
    # the pipeline a sweep trial runs (search_core.stages), its run folder and records
    "SearchRun": "stages", "Stage": "stages", "SearchStage": "stages", "RetrainStage": "stages",
    "DeployStage": "stages", "run_stages": "stages", "cpu_seconds": "stages",
    "RunFolder": "run", "Derivation": "records", "SearchOutcome": "records",
    "DeploymentReport": "records",
    "Dataset": "data", "load_dataset": "data",
    # one supernet for a grid (search_core.shared) and the distillation teacher
    "SharedSupernet": "shared", "train_shared": "shared", "shared_key": "shared",
    "Teacher": "teacher", "teacher_for": "teacher",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'search_core' has no attribute {name!r}")
    return getattr(importlib.import_module(f".{module}", __name__), name)
