"""Optuna behind Ray Tune: one constrained study per grid point, kept in an Optuna storage.

Ray Tune's `OptunaSearch` has no pathway for constraints; `ConstrainedOptunaSearch` adds it: when a
trial completes, every `constraint_<name>` value of its last result is handed to Optuna 5's
`Trial.set_constraint` before the trial is told, so the sampler (TPE) models feasibility and
`study.best_trial` is the best *feasible* trial. `PointSearcher` multiplexes one such study per grid
point (data set × board × budget × seed) into the single search algorithm a Tune run takes, handing
out trials round-robin so that concurrent trials spread over the points and a point's later trials
are sampled after its earlier ones have been told.

The studies live in an Optuna storage (`open_storage`: a journal file, or a database URL), so that
Optuna's own tools open them: `optuna.load_study`, `optuna.visualization`, optuna-dashboard. A
study is named `<sweep>/<point key>` (`study_name`): unique in a storage that many sweeps share.
Only the sweep's driver writes to it (the searcher runs there; trials in Ray's workers report to
Tune, never to Optuna), so a journal file needs no more than the journal's own file lock.
"""

from __future__ import annotations

import math
import os
import pickle
import shlex
from collections.abc import Callable, Collection

from ray.tune.search import Searcher
from ray.tune.search.optuna import OptunaSearch

from ._spec import is_database_url

CONSTRAINT_PREFIX = "constraint_"
# A trial's figures that the dashboard shows beside its value (from the trial's last result).
TRIAL_ATTRS = ("trial_key", "status", "reason", "val_accuracy", "test_accuracy", "int8_accuracy",
               "latency_ms", "peak_memory_bytes", "verified_latency_ms", "verified_memory_bytes",
               "feasible")


def study_name(sweep: str, point_key: str) -> str:
    """A point's study in an Optuna storage (stable across resumes: sweep and point keys are)."""
    return f"{sweep}/{point_key}"


def open_storage(url: str):
    """The Optuna storage of a URL: `RDBStorage` for a database URL, else a `JournalStorage` on
    the journal file at that path (its folder is created). A journal takes Optuna's default
    lock, a symlink beside the file (atomic on local file systems and NFS)."""
    import optuna

    if is_database_url(url):
        return optuna.storages.RDBStorage(url)
    from optuna.storages.journal import JournalFileBackend
    os.makedirs(os.path.dirname(url) or ".", exist_ok=True)
    return optuna.storages.JournalStorage(JournalFileBackend(url))


def dashboard_command(url: str) -> str:
    """The command that opens a storage in optuna-dashboard (a journal file by its path)."""
    return f"optuna-dashboard {shlex.quote(url)}"


def load_study_hint(url: str, name: str) -> str:
    """The Python that opens one study of a storage with Optuna alone."""
    storage = repr(url) if is_database_url(url) else (
        f"optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend({url!r}))")
    return f"optuna.load_study(study_name={name!r}, storage={storage})"


class ConstrainedOptunaSearch(OptunaSearch):
    """`OptunaSearch` that forwards `constraint_*` results to `Trial.set_constraint` and keeps
    the trial's figures (its row's key, status, accuracies, latency, memory) as user attributes,
    so that the dashboard shows which row of the results store a trial is."""

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        # Nothing is pruned (OptunaSearch's pruner is a no-op), and intermediate results of a
        # pipeline stage carry no comparable objective: do not report them to Optuna.
        return

    def suggest(self, trial_id: str):
        params = super().suggest(trial_id)
        self._ot_trials[trial_id].set_user_attr("ray_trial_id", trial_id)
        return params

    def on_trial_complete(self, trial_id: str, result: dict | None = None,
                          error: bool = False) -> None:
        from optuna.exceptions import UpdateFinishedTrialError

        ot_trial = self._ot_trials.get(trial_id)
        if ot_trial is not None and result and trial_id not in self._completed_trials:
            try:
                self._describe(ot_trial, result, error)
            except UpdateFinishedTrialError:
                # Told in the storage after the searcher's last checkpoint, before the driver
                # died: the resumed trial reports its stored outcome again, already there.
                self._completed_trials.add(trial_id)
                return
        super().on_trial_complete(trial_id, result, error)

    @staticmethod
    def _describe(ot_trial, result: dict, error: bool) -> None:
        # User attributes first: on a trial already finished, the first write raises.
        for key in TRIAL_ATTRS:
            value = _plain(result.get(key))
            if value is not None:
                ot_trial.set_user_attr(key, value)
        if not error:
            for key, value in result.items():
                if key.startswith(CONSTRAINT_PREFIX) and value is not None:
                    # optuna-dashboard (0.21) reads only the list format of Optuna 4's
                    # constraints: a user attribute is where it shows Optuna 5's.
                    ot_trial.set_user_attr(key, float(value))
                    ot_trial.set_constraint(key[len(CONSTRAINT_PREFIX):], float(value))

    @property
    def study(self):
        return self._ot_study

    def number(self, trial_id: str) -> int:
        return self._ot_trials[trial_id].number

    def fail_orphans(self) -> int:
        """Mark FAIL the trials still RUNNING in the storage that no Tune trial will finish
        (asked after the searcher's last checkpoint, before the driver died): with
        constant_liar they would otherwise weigh on TPE forever, and show as running."""
        import optuna

        live = {self._ot_trials[t].number for t in self._ot_trials
                if t not in self._completed_trials}
        orphans = [t.number for t in self._ot_study.get_trials(
            deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)) if t.number not in live]
        for number in orphans:
            self._ot_study.tell(number, state=optuna.trial.TrialState.FAIL)
        return len(orphans)


def _plain(value):
    """A JSON value for a user attribute (the journal is JSON): numpy scalars to Python, NaN out."""
    if value is None or isinstance(value, (str, bool)):
        return value
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


class PointSearcher(Searcher):
    """Hands out `trials_per_point` trials for every grid point; with Optuna settings, each point's
    trials are sampled from its own constrained study, otherwise they run the spec's fixed
    weights. `tuned` names the points Optuna tunes (default: all); any other point (a baseline
    method's, which has no loss weights) gets one trial with the fixed settings and no study.
    Each suggestion is {"point": {...}, "params": {...}, "optuna_trial": n}.

    `storage` (an Optuna storage, see `open_storage`; None: in memory) keeps the studies, named
    `study_name(sweep, key)` and created with load_if_exists, each with its point and `attrs` as
    user attributes."""

    def __init__(self, points: list[dict], trials_per_point: int, optuna=None,
                 metric: str = "objective", mode: str = "max",
                 on_complete: Callable[[PointSearcher, str], None] | None = None,
                 storage=None, sweep: str = "sweep", attrs: dict | None = None,
                 tuned: Collection[str] | None = None):
        super().__init__(metric=metric, mode=mode)
        self._points = {p["key"]: p for p in points}
        self._n = trials_per_point
        tuned = set(self._points) if tuned is None or optuna is None else set(tuned)
        self._quota = {key: trials_per_point if key in tuned else 1 for key in self._points}
        self._given = {key: 0 for key in self._points}
        self._trial_point: dict[str, str] = {}
        self._studies: dict[str, ConstrainedOptunaSearch] = {}
        self._on_complete = on_complete
        if optuna is not None:
            import optuna as ot

            for i, key in enumerate(k for k in self._points if k in tuned):
                space = {name: ot.distributions.FloatDistribution(lo, hi, log=log)
                         for name, (lo, hi, log) in optuna.space.items()}
                sampler = ot.samplers.TPESampler(seed=optuna.seed + i, constant_liar=True,
                                                 n_startup_trials=optuna.startup_trials)
                search = ConstrainedOptunaSearch(
                    space=space, metric=metric, mode=mode, sampler=sampler,
                    study_name=study_name(sweep, key), storage=storage)
                self._studies[key] = search
                if storage is not None:
                    have = search.study.user_attrs
                    point = {k: v for k, v in self._points[key].items() if k != "key"}
                    for name, value in {**(attrs or {}), "point": key, **point}.items():
                        if name not in have or have[name] != value:
                            search.study.set_user_attr(name, value)

    def set_search_properties(self, metric, mode, config, **spec) -> bool:
        return True   # metric and mode are fixed by the sweep; the config comes from us

    def suggest(self, trial_id: str):
        # Searchers pickled by sweeps from before per-point quotas have none: every point had _n.
        quota = getattr(self, "_quota", {})
        open_points = [k for k, n in self._given.items() if n < quota.get(k, self._n)]
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
    # continues its studies); the state is Ray's own experiment data, never user input. A
    # persistent storage pickles as its location (Optuna re-reads the journal or reconnects), so
    # the restored studies are the storage's, newer than the checkpoint where the driver died.
    def save(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "wb") as fh:
            pickle.dump(self.__dict__, fh)

    def restore(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "rb") as fh:
            self.__dict__.update(pickle.load(fh))
        for search in self._studies.values():
            search.fail_orphans()


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
