"""A search as a pipeline of stages over one run folder: search → retrain → deploy, the same
stages for `run_search` / `micronas search` and for a sweep trial (which adds its own `store`
stage and checkpoints after each one, so that a restarted trial continues at the next stage).

    run = SearchRun(config=cfg, lat_ms=25, mem_kb=64, data=data, latency=latency,
                    folder=RunFolder("runs/x"))
    run_stages([SearchStage(), RetrainStage(), DeployStage()], run)
    run.result["test_accuracy"], run.deployment.report["status"]

A stage says what it is called (`name`, the checkpoint's name), which earlier stages' products it
needs (`needs`: it is skipped when one of them was), what it writes into the run folder
(`checkpoints`), and does its work in `run` (which returns the figures it reports) and `save`
(which writes its checkpoint; only when the run has a folder). On a resumed run the products of
the stages already done are read back from the folder when a later stage first asks for them.
"""

from __future__ import annotations

import abc
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import ClassVar

from lut_store import InputError

from ._config import SearchConfig
from .run import RunFolder

__all__ = ["DeployStage", "RetrainStage", "SearchRun", "SearchStage", "Stage", "run_stages"]


class SearchRun:
    """What the stages of one search share: its inputs (data and latency model, loaded on first
    use when given as loaders: a trial resumed at its last stage needs neither), its budget, its
    folder, and the products of the stages (in memory, or read back from the folder)."""

    def __init__(self, *, config: SearchConfig, lat_ms: float | None, mem_kb: float | None,
                 flash_kb: float | None = None, power_mw: float | None = None, energy=None,
                 data=None, latency=None, load_data: Callable | None = None,
                 open_latency: Callable | None = None, method: str = "micronas",
                 deploy_config=None, data_source: str | None = None,
                 folder: RunFolder | None = None,
                 progress: Mapping[str, Callable] | None = None, plan=None,
                 teachers: str | None = None, shared=None, networks=None):
        self.config, self.lat_ms, self.mem_kb = config, lat_ms, mem_kb
        self.flash_kb, self.power_mw = flash_kb, power_mw
        self.energy = energy       # lut_store.EnergyModel (None: the packaged data file)
        self.method, self.deploy_config, self.data_source = method, deploy_config, data_source
        self.folder = folder
        self.progress = dict(progress or {})   # stage name -> callback (epoch rows / messages)
        self._data, self._latency = data, latency
        self._load_data, self._open_latency = load_data, open_latency
        self._plan = plan          # (Budget, CostModel), if already checked
        self.teachers = teachers   # where distillation teachers are cached (None: user cache)
        # The grid's shared supernet (search_core.shared.SharedSupernet, or a loader of it):
        # the search starts from its weights, an "inherited" retraining too.
        self._shared = shared
        # Where retrained networks are shared (an object with get(key) -> bytes | None and
        # put(key, bytes); None: every run retrains): a trial that derives an architecture
        # another one already retrained with the same data and settings reuses that network.
        self.networks = networks
        self.network = None          # {"key", "reused"} of the retraining, with `networks`
        self._derivation = self._result = None
        self.trained = None        # TrainOutcome (in memory only)
        self.deployment = None     # search_core.deploy.Deployment
        self.skipped: set[str] = set()
        self.seconds: dict[str, float] = {}       # stage -> wall seconds
        self.cpu_seconds: dict[str, float] = {}   # stage -> CPU seconds (cpu_seconds())

    # --- inputs ------------------------------------------------------------------------------
    @property
    def data(self):
        if self._data is None:
            self._data = self._load_data()
        return self._data

    @property
    def latency(self):
        if self._latency is None:
            self._latency = self._open_latency()
        return self._latency

    @property
    def plan(self):
        """(Budget, CostModel), checked once (`plan_budget` prices the cheapest network)."""
        if self._plan is None:
            from .search import plan_budget
            self._plan = plan_budget(self.data, self.latency, self.lat_ms, self.mem_kb,
                                     self.flash_kb, self.power_mw, self.energy)
        return self._plan

    @property
    def shared(self):
        if callable(self._shared):
            self._shared = self._shared()
        return self._shared

    # --- products ----------------------------------------------------------------------------
    @property
    def derivation(self):
        if self._derivation is None and self.folder is not None:
            self._derivation = self.folder.derivation()
        return self._derivation

    @derivation.setter
    def derivation(self, value) -> None:
        self._derivation = value

    @property
    def result(self) -> dict | None:
        """result.json of the retrained network."""
        if self._result is None and self.folder is not None:
            self._result = self.folder.result_document()
        return self._result

    @result.setter
    def result(self, value: dict) -> None:
        self._result = value

    def derivation_fits(self) -> bool:
        budget, cost = self.plan
        arch = self.derivation.architecture
        return budget.violation_of(arch, cost) == 0


def cpu_seconds() -> float:
    """CPU time of this process and of its finished child processes (user + system): what a
    stage costs, unlike its wall time, does not grow when other work shares the cores."""
    import resource
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


class Stage(abc.ABC):
    """One step of the pipeline; see the module's docstring."""

    name: ClassVar[str]
    needs: ClassVar[tuple[str, ...]] = ()          # earlier stages whose products it reads
    checkpoints: ClassVar[tuple[str, ...]] = ()    # what it writes into the run folder

    def skip(self, run: SearchRun) -> bool:
        """Whether the stage has nothing to do in this run (it is then recorded as skipped)."""
        return False

    @abc.abstractmethod
    def run(self, run: SearchRun) -> dict:
        """Do the work; returns the figures to report."""

    def save(self, run: SearchRun) -> None:
        """Write the checkpoint into `run.folder` (called only when there is one)."""


def run_stages(stages: Sequence[Stage], run: SearchRun, *, done: Iterable[str] = (),
               checkpoint: Callable[[Stage, dict], None] | None = None,
               on_start: Callable[[Stage], None] | None = None) -> SearchRun:
    """Run the stages after the last one in `done`, in order: each runs, saves its checkpoint
    into the run folder, then `checkpoint(stage, figures)` is called (a trial reports to Tune
    there). A stage is skipped when it says so or when a stage it needs was skipped."""
    done = set(done)
    last = max((i for i, s in enumerate(stages) if s.name in done), default=-1)
    for stage in stages[last + 1:]:
        if any(n in run.skipped for n in stage.needs) or stage.skip(run):
            run.skipped.add(stage.name)
            continue
        if on_start is not None:
            on_start(stage)
        start, cpu = time.perf_counter(), cpu_seconds()
        figures = stage.run(run)
        run.seconds[stage.name] = time.perf_counter() - start
        run.cpu_seconds[stage.name] = cpu_seconds() - cpu
        if run.folder is not None:
            stage.save(run)
        if checkpoint is not None:
            checkpoint(stage, figures)
    return run


class SearchStage(Stage):
    """DNAS (or a baseline method) and the derivation of a network within the budget."""

    name = "search"
    checkpoints = (RunFolder.DERIVATION,)

    def run(self, run: SearchRun) -> dict:
        from .baselines import search_with

        budget, cost = run.plan
        extra = {"shared": run.shared} if run.shared is not None else {}
        if extra and run.method != "micronas":
            raise InputError(f"method {run.method} does not search on a shared supernet")
        run.derivation = search_with(run.method)(run.data, cost, budget, run.config,
                                                 run.progress.get(self.name), **extra)
        return {"search_latency_ms": run.derivation.summary["search_latency_ms"],
                "latency_ms": cost.latency_ms(run.derivation.architecture)}

    def save(self, run: SearchRun) -> None:
        run.folder.write_derivation(run.derivation)


class RetrainStage(Stage):
    """Float retraining of the derived network and its scores: the finished search.
    `skip_over_budget`: a derived network over the budget (only a method that does not repair
    derives one) is not retrained (a sweep records what it violates instead)."""

    name = "retrain"
    needs = ("search",)
    checkpoints = RunFolder.RUN_FILES + (RunFolder.MARKER,)

    def __init__(self, *, skip_over_budget: bool = False):
        self.skip_over_budget = skip_over_budget

    def skip(self, run: SearchRun) -> bool:
        return self.skip_over_budget and not run.derivation_fits()

    def run(self, run: SearchRun) -> dict:
        from ._retrain import retrain
        from .records import describe

        budget, cost = run.plan
        derivation = run.derivation
        teacher = None
        if run.config.distill > 0:
            from .teacher import teacher_for
            teacher = teacher_for(run.data, run.config, run.teachers)
        inherited = run.config.retrain_from == "inherited"
        if inherited and run.shared is None:
            raise InputError("retrain_from: inherited needs a shared supernet (a sweep's "
                             "sharing: supernet)")
        run.trained = self._reused(run)
        if run.trained is None:
            run.trained = retrain(derivation.architecture, run.data, run.config,
                                  run.progress.get(self.name),
                                  teacher_logits=None if teacher is None else teacher.logits,
                                  supernet=run.shared.supernet(run.data) if inherited else None)
            if run.networks is not None:
                run.networks.put(run.network["key"], run.trained.to_bytes())
        run.result = describe(run.data, run.latency, cost, budget, run.lat_ms, run.mem_kb,
                              run.config, derivation, run.trained, run.data_source,
                              flash_kb=run.flash_kb, power_mw=run.power_mw, energy=run.energy)
        if run.network is not None:   # which shared network it is, and whether it was reused
            run.result["network"] = run.network
        if teacher is not None:   # its cost is the data set's, not this search's: kept apart
            run.result["teacher"] = {"test_accuracy": teacher.test_accuracy,
                                     "val_accuracy": teacher.val_accuracy,
                                     "seconds": teacher.seconds, "cached": teacher.cached,
                                     "url": teacher.url}
        return {"val_accuracy": run.result["val_accuracy"],
                "test_accuracy": run.result["test_accuracy"]}

    @staticmethod
    def _reused(run: SearchRun):
        """The network another run retrained for this architecture and these settings, if the
        run shares networks and one is there (a damaged file is retrained and replaced)."""
        if run.networks is None:
            return None
        from ._retrain import TrainOutcome, retrain_key
        shared = run.shared.key if run.config.retrain_from == "inherited" else None
        key = retrain_key(run.derivation.architecture, run.data, run.config, shared)
        run.network = {"key": key, "reused": False}
        data = run.networks.get(key)
        if data is None:
            return None
        try:
            trained = TrainOutcome.from_bytes(data, f"trained network {key}")
        except InputError:
            return None
        if trained.network.arch.to_json() != run.derivation.architecture.to_json():
            return None   # a key collision cannot hand over another network
        run.network["reused"] = True
        return trained

    def save(self, run: SearchRun) -> None:
        run.folder.write(run.derivation.architecture, run.trained.network, run.result)


class DeployStage(Stage):
    """QAT, int8 export, TFLM checks and the firmware bundle (nothing without a deploy config).
    `from_folder`: deploy the finished search as committed in the run folder (what a resumed
    trial does too) instead of the network in memory."""

    name = "deploy"
    needs = ("retrain",)

    @property
    def checkpoints(self) -> tuple[str, ...]:   # type: ignore[override]
        from .deploy import BUNDLE_FILES
        return BUNDLE_FILES

    def __init__(self, *, from_folder: bool = False):
        self.from_folder = from_folder

    def run(self, run: SearchRun) -> dict:
        if run.deploy_config is None:
            return {}
        say = run.progress.get(self.name)
        if self.from_folder:
            from .deploy import deploy_run
            run.deployment = deploy_run(run.folder.path, latency=run.latency, data=run.data,
                                        config=run.deploy_config, progress=say)
        else:
            from .deploy import deploy
            run.deployment = deploy(run.derivation.architecture, run.trained.network, run.data,
                                    latency=run.latency, search=run.result,
                                    config=run.deploy_config, progress=say)
        return {}

    def save(self, run: SearchRun) -> None:
        if run.deployment is not None and run.deployment.bundle is None:
            from .deploy import write_bundle
            run.deployment.bundle = write_bundle(run.folder.path, run.deployment.model,
                                                 run.deployment.report)
