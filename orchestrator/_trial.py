"""One sweep trial on Ray Tune: search → derive → retrain → QAT → int8 → verify → store.

The trial runs search_core's stages (`search_core.stages`) over a run folder (`search_core.RunFolder`,
laid out like `micronas search --out`), adds its own `store` stage, and hands that folder to Tune
as a checkpoint after every stage. A trial that fails or whose node dies is restarted by Tune from
its last checkpoint: it continues at the next stage instead of searching again.

Everything the trial reports carries `objective` (the spec's `optuna.objective` of the float
model: by default its validation log-likelihood; the worst value until known) and, at the end, the `constraint_*` values Optuna reads (≤ 0 feasible).

Under `retrain: best` a micronas trial ends after its search: its row is `searched`, its objective
the same score of its network's path in the searched supernet (`proxy_*`), and the sweep retrains
and deploys only each point's best trial afterwards (`retrain_best`, a row of its own that names
the trial it `retrained_from`).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from lut_store import InputError, storage

# The stages (and so torch) come with this module, which only a trial's worker and a sweep's
# driver import (orchestrator's __init__ does not).
from search_core import (
    DeployStage,
    RetrainStage,
    RunFolder,
    SearchRun,
    SearchStage,
    Stage,
    run_stages,
)

from ._shared import NetworkStore
from ._spec import DEFAULT_METHOD, Point, SweepSpec, deploy_config, search_config
from ._store import ResultsStore

STAGES = ("search", "retrain", "deploy", "store")
METRIC = "objective"
# Tests make a trial fail once right after a stage ("<stage>:<marker file>") to prove that Tune's
# retry resumes from the checkpoint instead of starting over.
FAULT_ENV = "MICRONAS_TEST_FAIL_AFTER"


def run_trial(config: dict, spec: SweepSpec, provenance: dict, predictor: str | None = None) -> None:
    """Ray Tune function trainable (bound to the spec, the provenance and the driver's latency
    predictor as JSON with `tune.with_parameters`)."""
    import ray
    from ray import tune
    # This trial's thread counts, set (not defaulted): with reuse_actors a worker runs many
    # trials, and each brings its own cpus_per_trial. TensorFlow reads its variables when it
    # starts its runtime (the first deployment in this worker); torch takes the call each time.
    threads = max(1, int(spec.cpus_per_trial))
    os.environ["TF_NUM_INTRAOP_THREADS"] = str(threads)
    os.environ["TF_NUM_INTEROP_THREADS"] = "1"
    import torch
    torch.set_num_threads(threads)

    # A trial of a sweep started before points carried their method runs the sweep's one method.
    point = Point(**{"method": spec.methods[0], **config["point"]})
    ctx = tune.get_context()
    key = f"{spec.name}/{ctx.get_trial_id()}"
    work = Path(tempfile.mkdtemp(prefix="micronas-trial-"))
    try:
        state = _restore(tune.get_checkpoint(), work)
        resumed_from = next((s for s in STAGES if s not in state["done"]), "") if state["done"] else ""
        state.setdefault("started_at", _now())
        trial = _Trial(spec, point, config.get("params", {}), int(config.get("optuna_trial", -1)),
                       key, work, state, provenance, predictor)
        trial.resumed_from = resumed_from
        trial.node_id = ray.get_runtime_context().get_node_id()
        done = trial.store.get(key, point.label, point.mcu)
        if done is not None and done["status"] != "failed":
            # Finished before the sweep's driver died (Tune's own state may be older than the
            # store): report the stored outcome instead of running the trial again.
            done.update(dataset=point.label, mcu=point.mcu)
            tune.report({**trial.metrics(), **trial.final_metrics(done), "stage": "store",
                         METRIC: objective_of(done, trial.objective_column)})
            return

        def checkpoint(stage, metrics: dict) -> None:
            trial.record(stage)
            RunFolder(work).write_state(state)
            tune.report({**trial.metrics(), **metrics, "stage": stage.name},
                        checkpoint=tune.Checkpoint.from_directory(str(work)))
            _injected_fault(stage.name)

        try:
            trial.run_stages(checkpoint, lambda metrics: tune.report({**trial.metrics(), **metrics}))
        except InputError as exc:   # bad input is not retried: record it and end the trial
            row = trial.failed_row(str(exc))
            trial.store.write(row)
            tune.report({**trial.metrics(), **trial.final_metrics(row)})
        except Exception as exc:
            # Record the failure (a retry from the checkpoint replaces this row), then let Tune
            # retry the trial or mark it errored.
            trial.store.write(trial.failed_row(f"{type(exc).__name__}: {exc}"))
            raise
    finally:
        shutil.rmtree(work, ignore_errors=True)


def best_key(spec: SweepSpec, point: Point) -> str:
    """The trial key of the row that retrains a `retrain: best` point's best trial."""
    return f"{spec.name}/best-{point.key}"


def retrain_best(spec: SweepSpec, point: dict, source: dict, provenance: dict,
                 predictor: str | None = None) -> dict:
    """`retrain: best`: retrain, deploy and store the searched trial `source` (its row's
    trial_key, artifacts, optuna_trial and tuned params) of `point` as the point's delivered
    row (`best_key`). A Ray task of the sweep's finishing stage, retried like a trial; a retry
    starts over from the stored derivation. Returns the row's final metrics."""
    import torch
    threads = max(1, int(spec.cpus_per_trial))
    os.environ["TF_NUM_INTRAOP_THREADS"] = str(threads)
    os.environ["TF_NUM_INTEROP_THREADS"] = "1"
    torch.set_num_threads(threads)

    point = Point(**point)
    work = Path(tempfile.mkdtemp(prefix="micronas-best-"))
    try:
        (work / RunFolder.DERIVATION).write_bytes(storage.read_bytes(
            storage.join(source["artifacts"], RunFolder.DERIVATION)))
        state = {"done": ["search"], "timings": {}, "started_at": _now()}
        trial = _Trial(spec, point, source["params"], int(source["optuna_trial"]),
                       best_key(spec, point), work, state, provenance, predictor,
                       retrained_from=source["trial_key"])

        def done(stage, metrics: dict) -> None:
            trial.record(stage)
            _injected_fault(stage.name)

        try:
            trial.run_stages(done, lambda metrics: None)
        except InputError as exc:
            row = trial.failed_row(str(exc))
            trial.store.write(row)
            return trial.final_metrics(row)
        except Exception as exc:   # recorded; a retry of the task replaces the row
            trial.store.write(trial.failed_row(f"{type(exc).__name__}: {exc}"))
            raise
        return trial.final_metrics(trial.store.get(trial.key, point.label, point.mcu))
    finally:
        shutil.rmtree(work, ignore_errors=True)


def objective_of(result: dict | None, objective: str) -> float:
    """What Optuna maximises for a trial: the spec's objective from its result or row (a
    trial without one yet reports the worst value, so an unfinished trial never ranks first)."""
    value = (result or {}).get(objective)
    if value is None or value != value:   # missing or NaN (an older row)
        return -1e9 if objective.endswith("val_neg_log_loss") else 0.0
    return float(value)


# The stages whose wall time a row keeps, under these names.
_TIMED = {"search": "search_s", "retrain": "retrain_s", "deploy": "deploy_s"}
# ... and their CPU time (search_core.stages.cpu_seconds).
_CPU = {stage: column.replace("_s", "_cpu_s") for stage, column in _TIMED.items()}


def sensing_columns(front_end: dict | None, mcu_name: str, latency_ms: float | None,
                    energy=None) -> dict:
    """A row's front end and energy (`energy`: a lut_store.EnergyModel, by default the packaged
    data file): the sensors, rate and window the model reads, its int8 input buffer, and the
    estimated energy."""
    if not front_end:
        return {}
    from lut_store import EnergyModel, load_mcu
    from lut_store.memory import input_buffer_bytes
    out = {"sensors": "+".join(front_end["sensors"]), "sample_rate_hz": front_end["sample_rate_hz"],
           "window_s": front_end.get("window_s"),
           "input_buffer_bytes": float(input_buffer_bytes(front_end["window"],
                                                          len(front_end["channels"])))}
    if latency_ms is not None and latency_ms == latency_ms:
        figures = (energy or EnergyModel.load()).estimate(
            load_mcu(mcu_name), front_end["sensors"], front_end["sample_rate_hz"],
            front_end.get("step_s"), float(latency_ms))
        out.update({k: figures[k] for k in ("energy_per_inference_mj", "energy_per_window_mj",
                                            "power_mw")})
    return out


def _injected_fault(stage: str) -> None:
    wanted, _, marker = os.environ.get(FAULT_ENV, "").partition(":")
    if wanted == stage and marker and not os.path.exists(marker):
        Path(marker).write_text(stage)
        raise RuntimeError(f"injected fault after the {stage} stage ({FAULT_ENV})")


def _restore(checkpoint, work: Path) -> dict:
    if checkpoint is None:
        return {"done": [], "timings": {}}
    with checkpoint.as_directory() as folder:
        shutil.copytree(folder, work, dirs_exist_ok=True)
    state = RunFolder(work).state()
    if isinstance(state, dict) and isinstance(state.get("done"), list):
        state.setdefault("timings", {})
        return state
    return {"done": [], "timings": {}}   # an unreadable checkpoint: start over


def _now() -> str:
    return datetime.now(UTC).isoformat()


class _Trial:
    """One trial: search_core's stages and the `store` stage over its run folder; `run_stages`
    continues after the stages already done."""

    def __init__(self, spec: SweepSpec, point: Point, params: dict, optuna_trial: int, key: str,
                 work: Path, state: dict, provenance: dict, predictor: str | None = None,
                 retrained_from: str | None = None):
        self.spec, self.point, self.params, self.optuna_trial = spec, point, params, optuna_trial
        self.predictor = predictor
        # `retrain: best`: a trial that only searches, or the retraining of one (`retrained_from`).
        self.retrained_from = retrained_from
        self.searches_only = spec.retrains_best(point.method) and retrained_from is None
        self.key, self.work, self.state, self.provenance = key, work, state, provenance
        self.folder = RunFolder(work)
        self.config = search_config(spec, point.seed, params, point.method)
        self.deploy_config = deploy_config(spec, point.seed)
        self.store = ResultsStore(spec.storage)
        self.resumed_from = ""
        self.node_id = ""
        # Inputs are loaded lazily: a trial resumed at `store` needs neither.
        self.run = SearchRun(config=self.config, lat_ms=point.latency_ms, mem_kb=point.memory_kb,
                             flash_kb=point.flash_kb, power_mw=point.power_mw,
                             energy=spec.energy_model(),
                             load_data=self._load_data, open_latency=self._open_latency,
                             method=point.method, deploy_config=self.deploy_config,
                             data_source=point.dataset, folder=self.folder,
                             # One distillation teacher per data set and split for the whole
                             # store (every sweep, every node), not one per trial.
                             teachers=storage.join(spec.storage, "teachers"),
                             shared=self._shared if spec.shares(point.method) else None,
                             networks=(NetworkStore(spec.storage) if spec.shares(point.method)
                                       else None))

    def _load_data(self):
        from search_core import load_dataset
        return load_dataset(self.point.dataset, seed=self.point.seed,
                            **self.spec.data_options(self.point.front_end))

    def _shared(self):
        """The point's shared supernet: made by the sweep's shared stage before the trials (or,
        should this trial be first, trained here under the same lease)."""
        from ._shared import ensure_shared, load_shared, shared_token
        info = ensure_shared(self.spec.storage, self.run.data, self.config,
                             shared_token(self.spec, self.point.dataset, self.point.seed,
                                          self.point.front_end))
        self.shared_key = info["key"]
        return load_shared(info["url"])

    def _open_latency(self):
        from lut_store import LatencyModel, Lut, Predictor, load_mcu
        if self.predictor is None:
            return LatencyModel.open(self.spec.lut, self.point.mcu)
        mcu = load_mcu(self.point.mcu)   # the sweep driver's predictor: no refit in the trial
        return LatencyModel(mcu, Lut.read(self.spec.lut, mcu.name),
                            Predictor.from_json(self.predictor))

    def record(self, stage) -> None:
        """A stage is done: its name and (for the timed ones) its wall and CPU seconds go into
        the trial's state, which the row reads."""
        self.state["done"].append(stage.name)
        if stage.name in _TIMED:
            self.state["timings"][_TIMED[stage.name]] = self.run.seconds[stage.name]
            self.state["timings"][_CPU[stage.name]] = self.run.cpu_seconds[stage.name]

    @property
    def objective_column(self) -> str:
        """The row column Optuna's value comes from: the objective, or its proxy for a trial
        that only searches."""
        return ("proxy_" if self.searches_only else "") + self.spec.objective

    def metrics(self) -> dict:
        if self.spec.dry:
            result = self.state.get("dry_row")
        elif self.searches_only:   # the derivation's proxy, once the search is done
            done = "search" in self.state["done"]
            result = (self.run.derivation.summary.get("proxy") if done else None)
        else:
            result = self.folder.result_document()
        return {METRIC: objective_of(result, self.spec.objective),
                "trial_key": self.key, "point": self.point.key}

    # --- the stages ------------------------------------------------------------------------
    def run_stages(self, checkpoint, report) -> None:
        def search_progress(row: dict) -> None:
            report({"stage": "search", "epoch": row["epoch"],
                    "expected_latency_ms": row["expected_latency_ms"],
                    "expected_memory_bytes": row["expected_memory_bytes"]})

        def retrain_progress(row: dict) -> None:
            report({"stage": "retrain", "epoch": row["epoch"], "val_accuracy": row["val_accuracy"]})

        def on_start(stage) -> None:
            if stage.name == "deploy" and self.deploy_config is not None:
                report({"stage": "deploy"})

        self.run.progress.update(search=search_progress, retrain=retrain_progress)
        if self.spec.dry:   # the orchestration alone: a drawn row instead of the training
            run_stages([_DryStage(self), _StoreStage(self)], self.run, done=self.state["done"],
                       checkpoint=checkpoint, on_start=on_start)
            return
        if self.searches_only:
            run_stages([SearchStage(), _StoreStage(self)], self.run, done=self.state["done"],
                       checkpoint=checkpoint, on_start=on_start)
            return
        stages = [SearchStage(),
                  # A network over the budget cannot be delivered (only `darts`, which does not
                  # repair, derives one): its row records what it violates; retraining and
                  # deploying it would cost up to 10x a fitting network's time for an artifact
                  # nobody can use.
                  RetrainStage(skip_over_budget=True),
                  _GatedDeploy(self.state),
                  _StoreStage(self)]
        run_stages(stages, self.run, done=self.state["done"], checkpoint=checkpoint,
                   on_start=on_start)

    # --- the row ---------------------------------------------------------------------------
    def _common(self) -> dict:
        """The columns of every row of this trial, finished or failed."""
        p, c = self.point, self.config
        started, now = datetime.fromisoformat(self.state["started_at"]), datetime.now(UTC)
        return {
            "trial_key": self.key, "sweep": self.spec.name, "method": p.method,
            "dataset": p.label, "mcu": p.mcu, "protocol": self.spec.protocol,
            "dry": bool(self.spec.dry),
            "lat_budget_ms": p.latency_ms, "mem_budget_kb": p.memory_kb,
            "flash_budget_kb": p.flash_kb, "power_budget_mw": p.power_mw,
            "front_end": p.front_end, "seed": p.seed,
            "point": p.key, "optuna_trial": self.optuna_trial,
            "latency_over": c.loss.latency.over, "latency_under": c.loss.latency.under,
            "memory_over": c.loss.memory.over, "memory_under": c.loss.memory.under,
            "tau_end": c.tau_end, "epochs": c.epochs, "retrain_epochs": c.retrain_epochs,
            "resumed_from": self.resumed_from, "started_at": started, "finished_at": now,
            "wall_s": (now - started).total_seconds(), "node_id": self.node_id,
            "hostname": socket.gethostname(),
            "git_revision": self.provenance.get("git_revision", ""),
            "artifacts": self.store.artifacts_url(self.key),
        }

    def _timings(self) -> dict:
        t = self.state["timings"]
        return {c: t.get(c) for c in (*_TIMED.values(), *_CPU.values())}

    def row(self) -> dict:
        """The row of a finished trial: its search outcome, then what deployment verified."""
        from search_core import DeploymentReport, SearchOutcome

        result = self.folder.result_document()
        outcome = SearchOutcome.from_result(result)
        deployment = self.folder.deployment()
        if deployment is None and self.state.get("deploy"):   # stopped on bad input
            gate = self.state["deploy"]
            deployment = DeploymentReport(gate["status"], tuple(gate["failures"]))
        network = result.get("network") or {}
        row = {**self._common(), **outcome.to_row(), **self._timings(),
               "network_key": network.get("key"), "network_reused": network.get("reused"),
               "retrained_from": self.retrained_from,
               **(deployment.to_row() if deployment else {}),
               "config_json": json.dumps({"search": outcome.config, "tuned": self.params,
                                          "deploy": deployment.config if deployment else None})}
        row.update(sensing_columns(result.get("front_end"), self.point.mcu,
                                   row.get("verified_latency_ms") or row.get("latency_ms"),
                                   self.run.energy))
        row["lat_effective_ms"] = (result.get("budget") or {}).get("latency_ms_effective",
                                                                  self.point.latency_ms)
        status, reason = "ok", ""
        if deployment is not None and not deployment.passed:
            status, reason = "deploy_failed", "; ".join(deployment.failures)[:2000]
        row["status"], row["reason"] = status, reason
        row["constraint"] = max(self.constraints(row).values())
        return row

    def searched_row(self) -> dict:
        """The row of a `retrain: best` trial: its search, priced, and its proxy scores."""
        return self._unretrained_row("searched", "scored on its supernet only: retrain: best "
                                                 "retrains its point's best trial")

    def over_budget_row(self) -> dict:
        """The row of a derived network over the budget (not retrained)."""
        budget, _ = self.run.plan
        outcome = self._outcome()
        lat, mem = outcome.latency_ms, outcome.peak_memory_bytes
        over = []
        if budget.latency_ms is not None and lat > budget.latency_ms:
            over.append(f"latency {lat:.2f} ms > {budget.latency_ms:g} ms")
        if mem > budget.memory_bytes:
            over.append(f"peak memory {mem / 1024:.2f} KB + the input buffer "
                        f"{budget.input_buffer_bytes / 1024:.2f} KB > "
                        f"{(budget.memory_bytes + budget.input_buffer_bytes) / 1024:g} KB")
        return self._unretrained_row("over_budget", "over the budget: " + ", ".join(over), outcome)

    def _outcome(self):
        from search_core import SearchOutcome
        budget, cost = self.run.plan
        return SearchOutcome.unretrained(self.run.derivation, cost, budget, self.config,
                                         self.run.latency, self.run.data)

    def _unretrained_row(self, status: str, reason: str, outcome=None) -> dict:
        budget, _ = self.run.plan
        outcome = outcome or self._outcome()
        timings = self._timings()
        row = {**self._common(), **outcome.to_row(),
               **{c: timings[c] for c in ("search_s", "search_cpu_s")},
               "lat_effective_ms": budget.latency_ms,
               "input_buffer_bytes": float(budget.input_buffer_bytes),
               "status": status, "reason": reason,
               "config_json": json.dumps({"search": outcome.config, "tuned": self.params})}
        row["constraint"] = max(self.constraints(row).values())
        return row

    def dry_row(self) -> dict:
        row = {**self._common(), **self.state["dry_row"], "status": "ok", "reason": "", "dry": True,
               "search_s": 0.0, "retrain_s": 0.0, "deploy_s": 0.0, "search_cpu_s": 0.0,
               "retrain_cpu_s": 0.0, "deploy_cpu_s": 0.0,
               "config_json": json.dumps({"dry": self.spec.dry, "tuned": self.params})}
        row["constraint"] = max(self.constraints(row).values())
        return row

    def failed_row(self, reason: str) -> dict:
        return {**self._common(), "status": "failed", "constraint": 1.0,
                "reason": reason.splitlines()[0][:2000] if reason else ""}

    def constraints(self, row: dict) -> dict:
        """What Optuna is told: relative overshoot of the budget by the network DNAS itself chose
        (before repair) and by the verified artifact; ≤ 0 is feasible. Repair always makes the
        delivered network fit, so feasibility here says whether the hardware-loss weights made
        DNAS land inside the budget on its own — which is what the weights are tuned for."""
        p = self.point

        def over(values, target):
            vals = [v for v in values if v is not None]
            return max(v / target - 1.0 for v in vals) if target and vals else -1.0
        mem_target = None if p.memory_kb is None else p.memory_kb * 1024
        # The memory budget covers the arena and the sensing ring; a power budget caps latency.
        ring = row.get("input_buffer_bytes") or 0.0
        lat_target = row.get("lat_effective_ms") or p.latency_ms
        out = {
            "latency": over([row["search_latency_ms"], row.get("verified_latency_ms")], lat_target),
            "memory": over([m + ring for m in (row["search_memory_bytes"],
                                               row.get("verified_memory_bytes")) if m is not None],
                           mem_target),
            "deploy": 1.0 if row["status"] == "deploy_failed" else -1.0,
        }
        if p.flash_kb is not None:   # only where the point has one: other studies keep theirs
            out["flash"] = over([row.get("estimated_flash_kb"), row.get("flash_kb")], p.flash_kb)
        return out

    def final_metrics(self, row: dict) -> dict:
        out = ({f"constraint_{k}": v for k, v in self.constraints(row).items()}
               if row["status"] != "failed" else {"constraint_failed": 1.0})
        out.update({k: row.get(k) for k in (
            "status", "reason", "dataset", "mcu", "lat_budget_ms", "mem_budget_kb", "seed",
            "latency_ms", "peak_memory_bytes", "input_buffer_bytes", "search_fits", "val_accuracy",
            "test_accuracy",
            "test_macro_f1",
            "int8_accuracy", "verified_latency_ms", "verified_memory_bytes", "wall_s",
            "proxy_val_accuracy")})
        out["feasible"] = row["constraint"] <= 0
        return out



class _GatedDeploy(DeployStage):
    """The deployment stage from the committed run folder (the same whether or not the trial was
    resumed), its outcome kept in the trial's state: bad input here (e.g. an op TFLM cannot run)
    means that the trial failed its gate, not that the sweep is wrong."""

    def __init__(self, state: dict):
        super().__init__(from_folder=True)
        self.state = state

    def run(self, run) -> dict:
        if run.deploy_config is None:
            return {}
        try:
            super().run(run)
            report = run.deployment.report
            self.state["deploy"] = {"status": report["status"], "failures": report["failures"]}
        except InputError as exc:
            self.state["deploy"] = {"status": "failed", "failures": [str(exc)]}
        return {}


class _DryStage(Stage):
    """`dry:` sweeps — the search, retraining and deployment of a trial replaced by one row drawn
    (seeded by the trial) from the real rows of another store: everything around them (Tune,
    Optuna, checkpoints, rows, artifacts) runs as in a real sweep. Its rows are marked `dry` and
    never read as results (`ResultsStore.read` leaves them out unless asked)."""

    name = "search"   # the first stage's checkpoint name, so that a resume continues at `store`
    checkpoints = ("dry.json",)

    def __init__(self, trial: _Trial):
        self.trial = trial

    def run(self, run) -> dict:
        import zlib

        trial = self.trial
        source = _dry_source(trial.spec.dry, trial.point.method)
        pick = zlib.crc32(f"{trial.key}/{trial.optuna_trial}".encode()) % len(source)
        drawn = {k: (None if v != v else v) for k, v in source[pick].items()}   # NaN -> None
        trial.state["dry_row"] = drawn
        return {"search_latency_ms": drawn.get("search_latency_ms")}

    def save(self, run) -> None:
        (self.trial.work / "dry.json").write_text(json.dumps(self.trial.state["dry_row"],
                                                             default=str))


# The figures a dry trial takes from its drawn row (the rest are its own: point, budget, times).
DRY_FIGURES = ("architecture_json", "search_latency_ms", "search_memory_bytes", "search_fits",
               "repairs", "expected_latency_ms", "expected_memory_bytes", "latency_ms",
               "peak_memory_bytes", "fits", "val_accuracy", "val_macro_f1", "val_neg_log_loss",
               "test_accuracy", "test_macro_f1", "int8_accuracy", "int8_macro_f1", "max_lsb",
               "verified_latency_ms", "verified_memory_bytes", "greedy_memory_bytes",
               "flash_bytes", "verified_fits", "parameters")
_DRY_SOURCES: dict = {}


def _dry_source(url: str, method: str) -> list[dict]:
    """The finished rows of `method` in the source store (read once per worker process): a
    baseline's dry trial draws a baseline's figures, not MicroNAS's."""
    if (url, method) not in _DRY_SOURCES:
        rows = ResultsStore(url).read()
        # Rows from before the method column count as micronas (as the report reads them).
        of = rows["method"].fillna("").replace("", DEFAULT_METHOD)
        rows = rows[(rows["status"] == "ok") & (of == method)]
        if rows.empty:
            raise InputError(f"dry: {url} holds no finished {method} trial to draw from")
        _DRY_SOURCES[url, method] = rows[list(DRY_FIGURES)].to_dict("records")
    return _DRY_SOURCES[url, method]


class _StoreStage(Stage):
    """The trial's row, its artifacts first (a row always has its artifacts). A trial whose
    network was over the budget (retraining skipped) stores what it violates."""

    name = "store"

    def __init__(self, trial: _Trial):
        self.trial = trial

    def run(self, run) -> dict:
        trial = self.trial
        if trial.spec.dry:
            row = trial.dry_row()
        elif trial.searches_only:
            row = trial.searched_row()
        else:
            row = trial.over_budget_row() if "retrain" in run.skipped else trial.row()
        trial.store.write_artifacts(trial.key, trial.work, skip=trial.folder.INTERNAL)
        trial.store.write(row)
        return trial.final_metrics(row)
