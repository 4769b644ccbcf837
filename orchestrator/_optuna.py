"""Optuna behind Ray Tune: one constrained study per grid point.

Ray Tune's `OptunaSearch` has no pathway for constraints; `ConstrainedOptunaSearch` adds it: when a
trial completes, every `constraint_<name>` value of its last result is handed to Optuna 5's
`Trial.set_constraint` before the trial is told, so the sampler (TPE) models feasibility and
`study.best_trial` is the best *feasible* trial. `PointSearcher` multiplexes one such study per grid
point (data set × board × budget × seed) into the single search algorithm a Tune run takes, handing
out trials round-robin so that concurrent trials spread over the points and a point's later trials
are sampled after its earlier ones have been told.
"""

from __future__ import annotations

import pickle
from typing import Callable

from ray.tune.search import Searcher
from ray.tune.search.optuna import OptunaSearch

CONSTRAINT_PREFIX = "constraint_"


class ConstrainedOptunaSearch(OptunaSearch):
    """`OptunaSearch` that forwards `constraint_*` results to `Trial.set_constraint`."""

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        # Nothing is pruned (OptunaSearch's pruner is a no-op), and intermediate results of a
        # pipeline stage carry no comparable objective: do not report them to Optuna.
        return

    def on_trial_complete(self, trial_id: str, result: dict | None = None,
                          error: bool = False) -> None:
        ot_trial = self._ot_trials.get(trial_id)
        if ot_trial is not None and result and not error and trial_id not in self._completed_trials:
            for key, value in result.items():
                if key.startswith(CONSTRAINT_PREFIX) and value is not None:
                    ot_trial.set_constraint(key[len(CONSTRAINT_PREFIX):], float(value))
        super().on_trial_complete(trial_id, result, error)

    @property
    def study(self):
        return self._ot_study

    def number(self, trial_id: str) -> int:
        return self._ot_trials[trial_id].number


class PointSearcher(Searcher):
    """Hands out `trials_per_point` trials for every grid point; with Optuna settings, each point's
    trials are sampled from its own constrained study, otherwise they run the spec's fixed
    weights. Each suggestion is {"point": {...}, "params": {...}, "optuna_trial": n}."""

    def __init__(self, points: list[dict], trials_per_point: int, optuna=None,
                 metric: str = "objective", mode: str = "max",
                 on_complete: Callable[["PointSearcher", str], None] | None = None):
        super().__init__(metric=metric, mode=mode)
        self._points = {p["key"]: p for p in points}
        self._n = trials_per_point
        self._given = {key: 0 for key in self._points}
        self._trial_point: dict[str, str] = {}
        self._studies: dict[str, ConstrainedOptunaSearch] = {}
        self._on_complete = on_complete
        if optuna is not None:
            import optuna as ot

            for i, key in enumerate(self._points):
                space = {name: ot.distributions.FloatDistribution(lo, hi, log=log)
                         for name, (lo, hi, log) in optuna.space.items()}
                sampler = ot.samplers.TPESampler(seed=optuna.seed + i, constant_liar=True,
                                                 n_startup_trials=optuna.startup_trials)
                self._studies[key] = ConstrainedOptunaSearch(
                    space=space, metric=metric, mode=mode, sampler=sampler,
                    study_name=key)

    def set_search_properties(self, metric, mode, config, **spec) -> bool:
        return True   # metric and mode are fixed by the sweep; the config comes from us

    def suggest(self, trial_id: str):
        open_points = [k for k, n in self._given.items() if n < self._n]
        if not open_points:
            return Searcher.FINISHED
        key = min(open_points, key=lambda k: self._given[k])
        params, number = {}, -1
        study = self._studies.get(key)
        if study is not None:
            params = study.suggest(trial_id)
            number = study.number(trial_id)
        self._given[key] += 1
        self._trial_point[trial_id] = key
        point = {k: v for k, v in self._points[key].items() if k != "key"}
        return {"point": point, "params": params, "optuna_trial": number}

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        return

    def on_trial_complete(self, trial_id: str, result: dict | None = None,
                          error: bool = False) -> None:
        key = self._trial_point.get(trial_id)
        if key is None:
            return
        study = self._studies.get(key)
        if study is not None:
            study.on_trial_complete(trial_id, result, error)
        if self._on_complete is not None:
            self._on_complete(self, key)

    def studies(self) -> dict:
        """Point key -> optuna.Study (empty without Optuna)."""
        return {key: s.study for key, s in self._studies.items()}

    # Ray Tune checkpoints the search algorithm with the experiment (this is how a resumed sweep
    # continues its studies); the state is Ray's own experiment data, never user input.
    def save(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "wb") as fh:
            pickle.dump(self.__dict__, fh)

    def restore(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "rb") as fh:
            self.__dict__.update(pickle.load(fh))


class StudyExport:
    """Writes a point's study as a Parquet table (one row per Optuna trial, with its constraints
    and feasibility) into the store after each of its trials: the team can query the tuning
    without Ray. Picklable, because Tune pickles the search algorithm with the experiment."""

    def __init__(self, url: str):
        self.url = url

    def __call__(self, searcher: PointSearcher, key: str) -> None:
        import pandas as pd
        import pyarrow as pa

        from lut_store import storage

        study = searcher.studies().get(key)
        if study is None:
            return
        rows = []
        for t in study.get_trials(deepcopy=False):
            cons = t.constraints
            rows.append({"point": key, "number": t.number, "state": t.state.name,
                         "value": t.value, "feasible": (all(v <= 0 for v in cons.values())
                                                        if cons else None),
                         **{f"param_{k}": v for k, v in t.params.items()},
                         **{f"constraint_{k}": v for k, v in cons.items()}})
        table = pa.Table.from_pandas(pd.DataFrame(rows), preserve_index=False)
        storage.write_table(storage.join(self.url, f"{key}.parquet"), table)
