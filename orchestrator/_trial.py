"""One sweep trial on Ray Tune: search → derive → retrain → QAT → int8 → verify → store.

The trial works in a run folder laid out like `micronas search --out` (derivation.json, then
architecture.json / weights.pt / result.json, then the bundle) and hands that folder to Tune as a
checkpoint after every stage. A trial that fails or whose node dies is restarted by Tune from its
last checkpoint: it continues at the next stage instead of searching again.

Everything the trial reports carries `objective` (validation accuracy of the float model, 0 until
known) and, at the end, the `constraint_*` values Optuna reads (≤ 0 feasible).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from lut_store import InputError

from ._spec import Point, SweepSpec, deploy_config, search_config
from ._store import ResultsStore

STAGES = ("search", "retrain", "deploy", "store")
STATE = "state.json"
DERIVATION = "derivation.json"
METRIC = "objective"
# Tests make a trial fail once right after a stage ("<stage>:<marker file>") to prove that Tune's
# retry resumes from the checkpoint instead of starting over.
FAULT_ENV = "MICRONAS_TEST_FAIL_AFTER"
INTERNAL = {STATE}   # run-folder files that are bookkeeping, not artifacts


def run_trial(config: dict, spec: SweepSpec, provenance: dict) -> None:
    """Ray Tune function trainable (bound to the spec with `tune.with_parameters`)."""
    import ray
    from ray import tune

    threads = max(1, int(spec.cpus_per_trial))
    os.environ.setdefault("TF_NUM_INTRAOP_THREADS", str(threads))
    os.environ.setdefault("TF_NUM_INTEROP_THREADS", "1")
    import torch
    torch.set_num_threads(threads)

    point = Point(**config["point"])
    ctx = tune.get_context()
    key = f"{spec.name}/{ctx.get_trial_id()}"
    work = Path(tempfile.mkdtemp(prefix="micronas-trial-"))
    try:
        state = _restore(tune.get_checkpoint(), work)
        resumed_from = next((s for s in STAGES if s not in state["done"]), "") if state["done"] else ""
        state.setdefault("started_at", _now())
        trial = _Trial(spec, point, config.get("params", {}), int(config.get("optuna_trial", -1)),
                       key, work, state, provenance)
        trial.resumed_from = resumed_from
        trial.node_id = ray.get_runtime_context().get_node_id()
        done = trial.store.get(key, point.label, point.mcu)
        if done is not None and done["status"] != "failed":
            # Finished before the sweep's driver died (Tune's own state may be older than the
            # store): report the stored outcome instead of running the trial again.
            done.update(dataset=point.label, mcu=point.mcu)
            tune.report({**trial.metrics(), **trial.final_metrics(done), "stage": "store",
                         METRIC: float(done.get("val_accuracy") or 0.0)})
            return

        def checkpoint(stage: str, metrics: dict) -> None:
            state["done"].append(stage)
            (work / STATE).write_text(json.dumps(state))
            tune.report({**trial.metrics(), **metrics, "stage": stage},
                        checkpoint=tune.Checkpoint.from_directory(str(work)))
            _injected_fault(stage)

        try:
            trial.run(checkpoint, lambda metrics: tune.report({**trial.metrics(), **metrics}))
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
    try:
        state = json.loads((work / STATE).read_text())
        if isinstance(state.get("done"), list):
            state.setdefault("timings", {})
            return state
    except (OSError, ValueError):
        pass
    return {"done": [], "timings": {}}   # an unreadable checkpoint: start over


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()


class _Trial:
    """The stages of one trial over its run folder; `run` skips the stages already done."""

    def __init__(self, spec: SweepSpec, point: Point, params: dict, optuna_trial: int, key: str,
                 work: Path, state: dict, provenance: dict):
        self.spec, self.point, self.params, self.optuna_trial = spec, point, params, optuna_trial
        self.key, self.work, self.state, self.provenance = key, work, state, provenance
        self.config = search_config(spec, point.seed, params)
        self.deploy_config = deploy_config(spec, point.seed)
        self.store = ResultsStore(spec.storage)
        self.resumed_from = ""
        self.node_id = ""
        self._data = self._latency = self._plan = None

    # --- lazily loaded inputs (a trial resumed at `store` needs neither) -----------------------
    @property
    def data(self):
        if self._data is None:
            from search_core.data import load_dataset
            self._data = load_dataset(self.point.dataset, seed=self.point.seed)
        return self._data

    @property
    def latency(self):
        if self._latency is None:
            from lut_store import LatencyModel
            self._latency = LatencyModel.open(self.spec.lut, self.point.mcu)
        return self._latency

    @property
    def plan(self):
        """(Budget, CostModel) of the point, checked once (it prices the cheapest network)."""
        if self._plan is None:
            from search_core.search import plan_budget
            self._plan = plan_budget(self.data, self.latency, self.point.latency_ms,
                                     self.point.memory_kb)
        return self._plan

    def metrics(self) -> dict:
        result = self._result()
        return {METRIC: float(result.get("val_accuracy", 0.0)) if result else 0.0,
                "trial_key": self.key, "point": self.point.key}

    def _result(self) -> dict | None:
        path = self.work / "result.json"
        return json.loads(path.read_text()) if path.is_file() else None

    # --- the stages ------------------------------------------------------------------------
    def run(self, checkpoint, report) -> None:
        done = self.state["done"]
        timings = self.state["timings"]
        if "search" not in done:
            budget, cost = self.plan
            start = time.perf_counter()
            derivation = self._search(budget, cost, report)
            timings["search_s"] = time.perf_counter() - start
            (self.work / DERIVATION).write_text(derivation.to_json())
            checkpoint("search", {"search_latency_ms": derivation.summary["search_latency_ms"],
                                  "latency_ms": cost.latency_ms(derivation.architecture)})
        if "retrain" not in done and "store" not in done:
            # A network over the budget cannot be delivered (only `darts`, which does not repair,
            # derives one): its row records what it violates; retraining and deploying it would
            # cost up to 10x a fitting network's time for an artifact nobody can use.
            row = self.over_budget_row()
            if row is not None:
                self.store.write_artifacts(self.key, self.work, skip=INTERNAL)
                self.store.write(row)
                checkpoint("store", self.final_metrics(row))
                return
        if "retrain" not in done:
            start = time.perf_counter()
            result = self._retrain(report)
            timings["retrain_s"] = time.perf_counter() - start
            checkpoint("retrain", {"val_accuracy": result["val_accuracy"],
                                   "test_accuracy": result["test_accuracy"]})
        if "deploy" not in done:
            start = time.perf_counter()
            self._deploy(report)
            timings["deploy_s"] = time.perf_counter() - start
            checkpoint("deploy", {})
        if "store" not in done:
            row = self.row()
            self.store.write_artifacts(self.key, self.work, skip=INTERNAL)
            self.store.write(row)   # the row last: a row always has its artifacts
            checkpoint("store", self.final_metrics(row))

    def _search(self, budget, cost, report):
        from search_core.baselines import search_with

        def progress(row: dict) -> None:
            report({"stage": "search", "epoch": row["epoch"],
                    "expected_latency_ms": row["expected_latency_ms"],
                    "expected_memory_bytes": row["expected_memory_bytes"]})
        return search_with(self.spec.method)(self.data, cost, budget, self.config, progress)

    def _retrain(self, report) -> dict:
        from search_core.search import Derivation, describe, retrain, write_run

        derivation = Derivation.from_json((self.work / DERIVATION).read_text())
        budget, cost = self.plan

        def progress(row: dict) -> None:
            report({"stage": "retrain", "epoch": row["epoch"], "val_accuracy": row["val_accuracy"]})
        trained = retrain(derivation.architecture, self.data, self.config, progress)
        result = describe(self.data, self.latency, cost, budget, self.point.latency_ms,
                          self.point.memory_kb, self.config, derivation, trained,
                          self.point.dataset)
        write_run(self.work, derivation.architecture, result, trained.network)
        return result

    def _deploy(self, report) -> None:
        if self.deploy_config is None:
            return
        from search_core.deploy import deploy_run

        report({"stage": "deploy"})
        try:
            dep = deploy_run(self.work, latency=self.latency, data=self.data,
                             config=self.deploy_config)
            self.state["deploy"] = {"status": dep.report["status"],
                                    "failures": dep.report["failures"]}
        except InputError as exc:   # e.g. an op TFLM cannot run: the trial failed its gate
            self.state["deploy"] = {"status": "failed", "failures": [str(exc)]}

    # --- the row ---------------------------------------------------------------------------
    def _common(self) -> dict:
        """The columns of every row of this trial, finished or failed."""
        p, c = self.point, self.config
        started, now = datetime.fromisoformat(self.state["started_at"]), datetime.now(timezone.utc)
        return {
            "trial_key": self.key, "sweep": self.spec.name, "method": self.spec.method,
            "dataset": p.label, "mcu": p.mcu,
            "lat_budget_ms": p.latency_ms, "mem_budget_kb": p.memory_kb, "seed": p.seed,
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

    def row(self) -> dict:
        r = self._result()
        manifest = self.work / "model.json"
        dep = json.loads(manifest.read_text()) if manifest.is_file() else None
        deploy_state = self.state.get("deploy")
        timings = self.state["timings"]
        row = {
            **self._common(),
            "config_json": json.dumps({"search": r["config"], "tuned": self.params,
                                       "deploy": dep["config"] if dep else None}),
            "architecture_json": json.dumps(r["architecture"]),
            "search_latency_ms": r["search_latency_ms"],
            "search_memory_bytes": r["search_memory_bytes"], "search_fits": r["search_fits"],
            "repairs": len(r["repairs"]),
            "expected_latency_ms": r["expected_latency_ms"],
            "expected_memory_bytes": r["expected_memory_bytes"],
            "latency_ms": r["latency_ms"], "peak_memory_bytes": r["peak_memory_bytes"],
            "fits": r["fits"], "val_accuracy": r["val_accuracy"],
            "test_accuracy": r["test_accuracy"], "test_macro_f1": r["test_macro_f1"],
            "parameters": r["parameters"],
            "search_s": timings.get("search_s"), "retrain_s": timings.get("retrain_s"),
            "deploy_s": timings.get("deploy_s"),
            "lut_hash": r["lut_hash"], "versions_json": json.dumps(r["versions"]),
        }
        status, reason = "ok", ""
        if dep is not None:
            a, m, lat = dep["accuracy"], dep["memory"], dep["latency"]
            row.update({
                "int8_accuracy": a["int8_tflm"]["accuracy"], "int8_macro_f1": a["int8_tflm"]["macro_f1"],
                "max_lsb": dep["parity"]["max_lsb"],
                "verified_latency_ms": lat.get("lut_ms"),
                "verified_memory_bytes": m["board_arena_head_bytes"],
                "greedy_memory_bytes": m["greedy_arena_head_bytes"],
                "flash_bytes": dep["flash"]["model_bytes"],
                "verified_fits": dep["status"] == "passed",
            })
        if deploy_state and deploy_state["status"] != "passed":
            status, reason = "deploy_failed", "; ".join(deploy_state["failures"])[:2000]
        row["status"], row["reason"] = status, reason
        row["constraint"] = max(self.constraints(row).values())
        return row

    def over_budget_row(self) -> dict | None:
        """The row of a derived network over the budget, or None when it fits."""
        from search_core.search import Derivation, provenance
        derivation = Derivation.from_json((self.work / DERIVATION).read_text())
        budget, cost = self.plan
        arch, s = derivation.architecture, derivation.summary
        lat, mem = cost.latency_ms(arch), cost.memory(arch).peak_bytes
        if budget.violation(lat, mem) == 0:
            return None
        over = []
        if budget.latency_ms is not None and lat > budget.latency_ms:
            over.append(f"latency {lat:.2f} ms > {budget.latency_ms:g} ms")
        if mem > budget.memory_bytes:
            over.append(f"peak memory {mem / 1024:.2f} KB > {budget.memory_bytes / 1024:g} KB")
        row = {**self._common(), "status": "over_budget",
               "reason": "over the budget: " + ", ".join(over),
               "config_json": json.dumps({"search": self.config.to_json_dict(),
                                          "tuned": self.params}),
               "architecture_json": arch.to_json(),
               "search_latency_ms": s["search_latency_ms"],
               "search_memory_bytes": s["search_memory_bytes"], "search_fits": s["search_fits"],
               "repairs": len(s["repairs"]), "expected_latency_ms": s["expected_latency_ms"],
               "expected_memory_bytes": s["expected_memory_bytes"],
               "latency_ms": lat, "peak_memory_bytes": mem, "fits": False,
               "search_s": self.state["timings"].get("search_s"),
               "lut_hash": self.latency.lut.content_hash(),
               "versions_json": json.dumps(provenance(self.data))}
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
        return {
            "latency": over([row["search_latency_ms"], row.get("verified_latency_ms")], p.latency_ms),
            "memory": over([row["search_memory_bytes"], row.get("verified_memory_bytes")], mem_target),
            "deploy": 1.0 if row["status"] == "deploy_failed" else -1.0,
        }

    def final_metrics(self, row: dict) -> dict:
        out = ({f"constraint_{k}": v for k, v in self.constraints(row).items()}
               if row["status"] != "failed" else {"constraint_failed": 1.0})
        out.update({k: row.get(k) for k in (
            "status", "reason", "dataset", "mcu", "lat_budget_ms", "mem_budget_kb", "seed",
            "latency_ms", "peak_memory_bytes", "search_fits", "test_accuracy", "test_macro_f1",
            "int8_accuracy", "verified_latency_ms", "verified_memory_bytes", "wall_s")})
        out["feasible"] = row["constraint"] <= 0
        return out
