"""`Sweep`: a sweep spec run as Ray Tune trials, every result in the results store.

    sweep = Sweep(load_spec("examples/quickstart.yaml"))
    plan = sweep.check()          # storage, LUTs, data sets, budgets: before any trial
    summary = sweep.run()         # resumes the same sweep (same name) where it stopped

A sweep is resumable by name: its Tune experiment (trial checkpoints and the Optuna studies, which
Tune checkpoints with the search algorithm) lives under `<storage>/tune/<name>`, its spec's
fingerprint under `<storage>/sweeps/<name>/spec.json`. Running a finished sweep again adds nothing.
The Optuna studies also live in an Optuna storage that Optuna's own tools open (`optuna_url`):
`<storage>/optuna/<name>.journal` for a local store, or the spec's `optuna.storage`.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from lut_store import InputError
from lut_store import storage

from ._spec import Point, SweepSpec, is_database_url
from ._store import COMPACT_AT, ResultsStore
from ._sweep_progress import SweepProgress, progress_callback, quiet_tune, use_callbacks

# Keep a local Ray on loopback, quiet and without auth (see STACK.md); a cluster sets its own.
LOCAL_RAY_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_USAGE_STATS_ENABLED": "0",
                 "RAY_AUTH_MODE": "disabled"}
# Stage checkpoints are small and frequent by design; Tune's warning about them is noise.
TUNE_ENV = {"TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S": "0",
            "TF_CPP_MIN_LOG_LEVEL": "3", "TF_USE_LEGACY_KERAS": "1"}

# Ray Tune copies these from the driver's environment into every trial actor's runtime_env, and
# Ray's runtime-env agent logs that runtime_env in clear text (runtime_env_agent.log, every node).
# Nodes get credentials from their own environment (instance profile, Kubernetes secret; a local
# Ray inherits the driver's), so the copy is never needed: it is switched off before any trial.
CREDENTIAL_ENV = frozenset({"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SECURITY_TOKEN",
                            "AWS_SESSION_TOKEN"})


def keep_credentials_out_of_ray() -> None:
    from ray.tune.execution import class_cache
    class_cache.ENV_VARS_TO_PROPAGATE = frozenset(class_cache.ENV_VARS_TO_PROPAGATE) - CREDENTIAL_ENV


@dataclass
class Plan:
    """What `check` found: the points that will run and the ones no network can meet."""

    runnable: list[Point] = field(default_factory=list)
    infeasible: list[tuple[Point, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # The LUT's latency predictor as the driver read or fitted it (JSON): handed to every trial so
    # that a LUT without predictor.json is fitted once per sweep, not once per trial.
    predictor: str | None = None

    @property
    def trials(self) -> int:
        return len(self.runnable)


class Sweep:
    def __init__(self, spec: SweepSpec):
        self.spec = spec
        self.store = ResultsStore(spec.storage)

    # --- before any trial --------------------------------------------------------------------
    def check(self) -> Plan:
        """Reject a bad sweep before any trial starts: storage, credentials, boards, LUTs, data
        sets; and sort out the grid points whose budget no network of the space meets."""
        from lut_store import LatencyModel, load_mcu
        from search_core.data import load_dataset
        from search_core import plan_budget

        spec = self.spec
        check_storage(spec.storage)
        if spec.lut != self.store.lut_url:
            check_storage(spec.lut, write=False)
        self._check_fingerprint()
        if self.optuna_url:
            check_optuna_storage(self.optuna_url)
        if spec.deploy and spec.deploy.get("target"):   # toolchain, QEMU, $MICRONAS_TFLM here
            from search_core.deploy import require_target
            require_target(spec.deploy["target"])
        latency, plan = {}, Plan()
        for name in spec.mcus:
            mcu = load_mcu(name)
            model = LatencyModel.open(spec.lut, mcu)
            if not len(model.lut) and model.predictor is None:
                raise InputError(f"{spec.lut}: no LUT for {mcu.name}: import its measurements with "
                                 f"`micronas lut import --mcu {mcu.name} --records DIR --out {spec.lut}`")
            latency[name] = model
            if model.predictor is not None:
                plan.predictor = model.predictor.to_json()
            if not len(model.lut):
                plan.notes.append(f"{mcu.name} has no measurements in {spec.lut}: every op is "
                                  f"priced by the predictor from {model.predictor.donor(mcu)}")
        data = {(d, fe): load_dataset(d, seed=spec.seeds[0], **spec.data_options(fe))
                for d in spec.datasets for fe in {p.front_end for p in spec.points()}}
        energy = spec.energy_model()
        for point in spec.points():
            try:
                plan_budget(data[point.dataset, point.front_end], latency[point.mcu],
                            point.latency_ms, point.memory_kb, point.flash_kb, point.power_mw,
                            energy)
            except InputError as exc:
                plan.infeasible.append((point, str(exc)))
            else:
                plan.runnable.append(point)
        return plan

    @property
    def _spec_url(self) -> str:
        return storage.join(self.spec.storage, "sweeps", self.spec.name, "spec.json")

    def started(self) -> bool:
        """Whether this sweep (by name) has run in its storage before."""
        return storage.exists(self._spec_url)

    def _check_fingerprint(self) -> None:
        url = self._spec_url
        if storage.exists(url):
            try:
                old = json.loads(storage.read_bytes(url)).get("fingerprint")
            except (ValueError, AttributeError):
                old = None
            if old != self.spec.fingerprint():
                raise InputError(f"sweep {self.spec.name!r} in {self.spec.storage} was started with a "
                                 f"different spec: give this one another name")

    # --- the run -------------------------------------------------------------------------------
    def run(self, plan: Plan | None = None, *, verbose: int = 1,
            say=lambda line: print(line, flush=True), bar: bool = False) -> dict:
        """Run (or resume) every trial; returns the summary (rows and best trial per point).
        `say` gets one line per finished trial; `verbose` 1 adds Tune's status tables, `bar` a
        progress bar (orchestrator/_sweep_progress.py)."""
        plan = plan or self.check()
        spec = self.spec
        storage.write_bytes(self._spec_url,
                            json.dumps({"fingerprint": spec.fingerprint(), "spec": spec.to_dict()},
                                       default=list, indent=2).encode())
        known = self.store.trial_keys() if plan.infeasible else set()
        for point, reason in plan.infeasible:
            if self._infeasible_key(point) not in known:   # a re-run adds nothing
                self._write_infeasible(point, reason)
            say(f"skipped {point.key}: {reason}")
        start = time.perf_counter()
        self.shared = {}
        if plan.runnable:
            self._tune(plan, verbose, say, bar)
            # A row file per trial reads at a request per file: merge the big partitions now.
            merged = self.store.compact(at_least=COMPACT_AT)
            if merged["partitions"]:
                say(f"results: {merged['files_merged']} row files compacted into "
                    f"{merged['partitions']}")
        return self.summary(wall_s=time.perf_counter() - start)

    def _shared_stage(self, plan: Plan, say) -> None:
        """`sharing: supernet`: the shared supernet of every (data set, front end, seed) of the
        runnable points, as Ray tasks (retried like a trial), before the trials that start from it."""
        import ray

        from ._shared import shared_label, shared_task

        spec = self.spec
        wanted = sorted({(p.dataset, p.seed, p.front_end) for p in plan.runnable
                         if spec.shares(p.method)}, key=lambda w: (w[0], w[1], w[2] or ""))
        task = ray.remote(shared_task).options(num_cpus=spec.cpus_per_trial,
                                               num_gpus=spec.gpus_per_trial,
                                               max_retries=spec.max_failures,
                                               retry_exceptions=False)
        names = [shared_label(*w) for w in wanted]
        say(f"shared supernet: {len(wanted)} to train or reuse ({', '.join(names)})")
        refs = [task.remote(spec, dataset, seed, fe) for dataset, seed, fe in wanted]
        for name, info in zip(names, ray.get(refs)):
            self.shared[name] = info
            how = (f"trained in {info['seconds']:.0f} s" if info["trained_here"] else "reused")
            if info["resumed_from_epoch"] is not None:
                how += f" (resumed after epoch {info['resumed_from_epoch']})"
            say(f"shared supernet {info['key']} for {name}: {how}")

    def _retrain_best(self, plan: Plan, say) -> None:
        """`retrain: best`, after the trials: each point's best searched trial by its proxy
        (`best_searched`) retrained and deployed, as Ray tasks retried like a trial. A point
        whose best is already retrained (a resumed sweep) is left as it is."""
        import ray

        from ._trial import best_key, retrain_best

        spec = self.spec
        rows = self.store.read(sweep=spec.name)
        done = set(rows.loc[rows["status"].isin(("ok", "deploy_failed")), "trial_key"])
        # Retried as Tune retries a trial: a dead worker or an error (bad input is not an
        # error here: the task records it as the point's failed row and returns).
        task = ray.remote(retrain_best).options(num_cpus=spec.cpus_per_trial,
                                                num_gpus=spec.gpus_per_trial,
                                                max_retries=spec.max_failures,
                                                retry_exceptions=True)
        provenance, pending = {"git_revision": git_revision()}, {}
        for point in plan.runnable:
            if not spec.retrains_best(point.method) or best_key(spec, point) in done:
                continue
            pick = best_searched(rows[rows["point"] == point.key], spec.objective)
            if pick is None:
                say(f"retrain best {point.key}: no searched trial to retrain")
                continue
            source = {"trial_key": pick["trial_key"], "artifacts": pick["artifacts"],
                      "optuna_trial": int(pick["optuna_trial"]),
                      "params": json.loads(pick["config_json"]).get("tuned") or {}}
            ref = task.remote(spec, point.to_dict(), source, provenance, plan.predictor)
            pending[ref] = (point, pick)
        if pending:
            say(f"retrain best: {len(pending)} point(s), each its best trial by proxy_"
                f"{spec.objective}")
        while pending:
            (ref,), _ = ray.wait(list(pending), num_returns=1)
            point, pick = pending.pop(ref)
            try:
                got = ray.get(ref)
            except Exception as exc:  # noqa: BLE001 - its row says why; the others go on
                say(f"retrain best {point.key}: failed ({str(exc).strip().splitlines()[-1]})")
                continue
            int8 = got.get("int8_accuracy")
            say(f"retrained best of {point.key} (Optuna trial {int(pick['optuna_trial'])}, "
                f"proxy {pick['proxy_' + spec.objective]:.4g}): {got['status']}"
                + ("" if int8 is None or int8 != int8 else f", int8 {100 * int8:.2f} %"))

    def _infeasible_key(self, point: Point) -> str:
        return f"{self.spec.name}/infeasible-{point.key}"

    def _write_infeasible(self, point: Point, reason: str) -> None:
        from datetime import datetime, timezone
        now = datetime.now(timezone.utc)
        self.store.write({
            "trial_key": self._infeasible_key(point), "sweep": self.spec.name,
            "method": point.method, "status": "infeasible", "reason": reason,
            "dataset": point.label,
            "mcu": point.mcu, "lat_budget_ms": point.latency_ms, "mem_budget_kb": point.memory_kb,
            "flash_budget_kb": point.flash_kb, "power_budget_mw": point.power_mw,
            "front_end": point.front_end, "seed": point.seed, "point": point.key, "optuna_trial": -1,
            "started_at": now, "finished_at": now, "git_revision": git_revision()})

    def _tune(self, plan: Plan, verbose: int, say, bar: bool = False) -> None:
        import ray
        from ray import tune

        from ._optuna import PointSearcher, StudyExport, open_storage
        from ._trial import METRIC, run_trial

        spec = self.spec
        keep_credentials_out_of_ray()
        started_here = start_ray()
        quiet = contextlib.ExitStack()   # Tune's and Optuna's own output, unless verbose
        quiet.enter_context(quiet_tune(verbose))
        try:
            if any(spec.shares(p.method) for p in plan.runnable):
                self._shared_stage(plan, say)
            trainable = tune.with_resources(
                tune.with_parameters(run_trial, spec=spec,
                                     provenance={"git_revision": git_revision()},
                                     predictor=plan.predictor),
                {"cpu": spec.cpus_per_trial, "gpu": spec.gpus_per_trial})
            path = storage.join(self.tune_url, spec.name)
            progress = SweepProgress(spec.name, spec.trial_count(plan.runnable), say, bar=bar)
            callbacks = [progress_callback(progress)]
            if _can_restore(path):
                say(f"resuming sweep {spec.name} from {path}")
                tuner = tune.Tuner.restore(path, trainable=trainable, resume_unfinished=True,
                                           resume_errored=True)
                use_callbacks(tuner, callbacks, verbose)
            else:
                points = [{**p.to_dict(), "key": p.key} for p in plan.runnable]
                searcher = PointSearcher(points, spec.trials_per_point, spec.optuna,
                                         metric=METRIC, mode="max",
                                         on_complete=StudyExport(self.studies_url),
                                         tuned={p.key for p in plan.runnable if spec.tuned(p)},
                                         storage=(open_storage(self.optuna_url)
                                                  if self.optuna_url else None),
                                         sweep=spec.name,
                                         attrs={"sweep": spec.name, "results": spec.storage,
                                                "objective": spec.objective})
                tuner = tune.Tuner(
                    trainable,
                    tune_config=tune.TuneConfig(
                        search_alg=searcher, metric=METRIC, mode="max",
                        num_samples=spec.trial_count(plan.runnable),
                        max_concurrent_trials=spec.max_concurrent_trials or None,
                        reuse_actors=True),
                    run_config=tune.RunConfig(
                        name=spec.name, storage_path=self.tune_url, verbose=verbose,
                        callbacks=callbacks,
                        failure_config=tune.FailureConfig(max_failures=spec.max_failures),
                        checkpoint_config=tune.CheckpointConfig(num_to_keep=1)))
            tuner.fit()
            if any(spec.retrains_best(p.method) for p in plan.runnable):
                self._retrain_best(plan, say)
        finally:
            quiet.close()
            if "progress" in locals():
                progress.close()   # an interrupted run leaves no half-drawn bar
            if started_here:
                ray.shutdown()

    @property
    def tune_url(self) -> str:
        return storage.join(self.spec.storage, "tune")

    @property
    def studies_url(self) -> str:
        return storage.join(self.spec.storage, "sweeps", self.spec.name, "optuna")

    @property
    def optuna_url(self) -> str | None:
        """The Optuna storage of this sweep's studies (see orchestrator/_optuna.py): the spec's
        `optuna.storage`, else a journal file beside a local store; None for a remote store
        without `optuna.storage` (the studies live in Tune's checkpoint, their Parquet copies in
        `studies_url`), and for a sweep without Optuna."""
        if self.spec.optuna is None:
            return None
        if self.spec.optuna.storage:
            return self.spec.optuna.storage
        fs, path = storage.filesystem(self.spec.storage)
        return os.path.join(path, "optuna", f"{self.spec.name}.journal") if storage.is_local(fs) \
            else None

    # --- after ---------------------------------------------------------------------------------
    def summary(self, wall_s: float | None = None) -> dict:
        """Rows of this sweep and, per grid point, the best feasible trial."""
        rows = self.store.read(sweep=self.spec.name)
        studies = self.studies()
        best = {}
        for key, frame in rows.groupby("point", sort=True):
            feasible = frame[(frame["status"] == "ok") & (frame["constraint"].fillna(1) <= 0)]
            pick = feasible.sort_values(self.spec.objective, ascending=False).head(1)
            best[key] = None if pick.empty else pick.iloc[0]["trial_key"]
        return {"sweep": self.spec.name, "storage": self.spec.storage, "rows": int(len(rows)),
                "status": rows["status"].value_counts().to_dict(), "best": best,
                "studies": studies, "objective": objective_quality(rows, self.spec.objective),
                "shared": getattr(self, "shared", {}), "wall_s": wall_s,
                **self.optuna_tools()}

    def optuna_tools(self) -> dict:
        """Where Optuna's own tools find this sweep's studies: the storage URL and the command
        that opens it in optuna-dashboard (None while no study lives there: no Optuna, a remote
        store without `optuna.storage`, or a sweep resumed from before studies were stored)."""
        url = self.optuna_url
        if url and not (is_database_url(url) or (os.path.isfile(url) and os.path.getsize(url))):
            url = None
        if url is None:
            return {"optuna_storage": None, "optuna_dashboard": None}
        from ._optuna import dashboard_command
        return {"optuna_storage": url, "optuna_dashboard": dashboard_command(url)}

    def studies(self) -> dict:
        """Per point: Optuna trials, how many were infeasible, and the study's best trial."""
        out = {}
        for url in storage.list_files(self.studies_url, ".parquet"):
            df = storage.read_table(url).to_pandas()
            key = url.rsplit("/", 1)[-1][:-len(".parquet")]
            done = df[df["state"] == "COMPLETE"]
            feasible = done[done["feasible"] == True]  # noqa: E712 - nullable column
            best = feasible.sort_values("value", ascending=False).head(1)
            out[key] = {"trials": int(len(df)), "complete": int(len(done)),
                        "infeasible": int((done["feasible"] == False).sum()),  # noqa: E712
                        "best_number": None if best.empty else int(best.iloc[0]["number"]),
                        "best_value": None if best.empty else float(best.iloc[0]["value"])}
        return out


def best_searched(rows, objective: str):
    """Of a point's rows, the `searched` trial that `retrain: best` retrains: feasible ones
    first (DNAS landed inside the budget by itself, as Optuna's constraints say), then the
    highest proxy of the objective, then the earliest trial; None without a searched trial."""
    searched = rows[rows["status"] == "searched"].copy()
    if searched.empty:
        return None
    searched["_feasible"] = searched["constraint"].fillna(1) <= 0
    searched["_proxy"] = searched["proxy_" + objective].fillna(-float("inf"))
    return searched.sort_values(["_feasible", "_proxy", "optuna_trial"],
                                ascending=[False, False, True]).iloc[0]


def objective_quality(rows, objective: str) -> dict:
    """How well the objective Optuna maximised can rank this sweep's trials: per grid point, how
    many trials tie on it (a tie leaves TPE to guess); over the points, Spearman's rho between it
    and the trials' test accuracy (int8 where deployed), within each point then averaged over
    the points with 3+ trials, and over all trials pooled."""
    from scipy.stats import spearmanr

    done = rows[rows["status"].isin(("ok", "deploy_failed")) & rows[objective].notna()]
    test = done["int8_accuracy"].fillna(done["test_accuracy"])
    ties, within = {}, []
    for key, frame in done.groupby("point", sort=True):
        ties[key] = int(len(frame) - frame[objective].nunique())
        if len(frame) >= 3 and frame[objective].nunique() > 1:
            rho = spearmanr(frame[objective], test[frame.index]).statistic
            if rho == rho:
                within.append(float(rho))
    pooled = spearmanr(done[objective], test).statistic if len(done) >= 3 else float("nan")
    return {"name": objective, "ties": ties, "max_ties": max(ties.values(), default=0),
            "spearman_within_points": round(sum(within) / len(within), 3) if within else None,
            "spearman_pooled": None if pooled != pooled else round(float(pooled), 3),
            "trials": int(len(done))}


def check_optuna_storage(url: str) -> None:
    """Before any trial: a database answers (its driver installed), a journal's folder can be
    written. Nothing is created here (a new SQLite file is checked as a journal is)."""
    if is_database_url(url):
        import sqlalchemy
        sqlite = sqlalchemy.engine.make_url(url)
        if sqlite.get_backend_name() == "sqlite" and sqlite.database \
                and not os.path.exists(sqlite.database):
            return _check_new_file(url, sqlite.database)
        try:
            with sqlalchemy.create_engine(url).connect():
                pass
        except Exception as exc:  # noqa: BLE001 - driver missing, refused, unknown database
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise InputError(f"optuna.storage: cannot open {url} ({reason})") from None
        return
    _check_new_file(url, url)


def _check_new_file(url: str, path: str) -> None:
    folder = Path(path).parent
    while not folder.exists():
        folder = folder.parent
    if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
        raise InputError(f"optuna.storage: cannot write {url} ({folder} is not a writable "
                         f"folder)")


def check_storage(url: str, write: bool = True) -> None:
    """Credentials first (so that the message says so), then a real round trip."""
    fs, _ = storage.filesystem(url)
    if not storage.is_local(fs):
        protocols = fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,)
        if "s3" in protocols or "s3a" in protocols:
            import botocore.session
            if botocore.session.get_session().get_credentials() is None:
                raise InputError(f"{url}: no S3 credentials (set AWS_ACCESS_KEY_ID and "
                                 f"AWS_SECRET_ACCESS_KEY, or AWS_PROFILE; never in the spec)")
    if write:
        probe = storage.join(url, f".micronas-probe-{uuid.uuid4().hex}")
        storage.write_bytes(probe, b"probe", retry=False)
        try:
            fs.rm(storage.filesystem(probe)[1])
        except Exception:  # noqa: BLE001 - a leftover probe is harmless
            pass
    else:
        storage.exists(url, retry=False)


def start_ray() -> bool:
    """Connect to the Ray the environment names (a cluster, a `ray job submit` job) or start a
    local one on loopback. True when this call started it (and so must stop it)."""
    import ray

    for key, value in TUNE_ENV.items():
        os.environ.setdefault(key, value)
    if ray.is_initialized():
        return False
    if os.environ.get("RAY_ADDRESS"):
        ray.init()
        return True
    for key, value in LOCAL_RAY_ENV.items():
        os.environ.setdefault(key, value)
    # Trial output (TensorFlow's converter chatter, per-epoch logs) stays in Ray's session logs;
    # the driver shows Ray's status tables and one line per finished trial.
    ray.init(include_dashboard=False, logging_level="WARNING", log_to_driver=False,
             _node_ip_address="127.0.0.1")
    return True


def _can_restore(path: str) -> bool:
    from ray import tune
    try:
        return tune.Tuner.can_restore(path)
    except Exception:  # noqa: BLE001 - unreachable state counts as "nothing to resume"
        return False


_GIT = None


def git_revision() -> str:
    global _GIT  # a cache of a fact about this checkout, not configuration
    if _GIT is None:
        try:
            _GIT = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], capture_output=True,
                                  text=True, timeout=5, cwd=Path(__file__).resolve().parent,
                                  check=True).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            _GIT = ""
    return _GIT
