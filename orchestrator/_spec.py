"""The sweep spec: a YAML file naming data sets × boards × (Lat_t, Mem_t) grid × seeds, how each
search runs, where results go, and what Optuna tunes. Validated completely before any trial starts:
every problem is one line naming the key.

    name: quickstart
    storage: runs/quickstart/store      # local folder or s3://bucket/prefix
    datasets: [ucihar]
    mcus: [nucleo-l552ze-q, nucleo-f446re]
    budgets: {latency_ms: [25, 50], memory_kb: [64]}   # a grid; or a list of {latency_ms, memory_kb}
                                                       # (+ flash_kb: delivered flash, KB;
                                                       #  power_mw: sensing + inference, mW)
    seeds: [0]
    methods: [micronas, darts, random]                 # optional (default micronas) or `method: X`
    data: {window: 128, step: 64}                      # optional: how recordings are cut
    front_ends:                                        # optional: co-search the sensing front end
      - {}                                             #   the data set's own (the fixed one)
      - {window: 64, step: 32, rate_hz: 25}            #   2.56 s at 25 Hz (anti-aliased)
      - {window: 64, step: 32, rate_hz: 25, sensors: [acc]}   # ... accelerometer only
    energy: boards/my-currents.json                    # optional: supply currents (lut_store.
                                                       #   EnergyModel; default: the packaged file)
    search: {epochs: 6, retrain_epochs: 12}            # SearchConfig fields (see _config_surface)
    deploy: {qat_epochs: 1}                            # DeployConfig fields; `false` skips the stage
    resources: {cpus_per_trial: 1, max_concurrent_trials: 2}
    optuna:                                            # omit for fixed loss weights
      trials_per_point: 2
      space: {latency_over: [1, 16, log], tau_end: [0.05, 0.5, log]}
      storage: sqlite:////shared/optuna.db             # optional: where the studies live (a
                                                       # database URL or a journal file; default:
                                                       # <storage>/optuna/<name>.journal if local)
    sharing: supernet                                  # optional: one supernet for the grid
    retrain: best                                      # optional: retrain each point's best
                                                       #   trial only (default every)
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from lut_store import InputError

from . import _config_surface as surface

# What Optuna may tune, and where each value goes in the search config.
TUNABLE = {
    "latency_over": "hardware-loss weight above the latency budget",
    "latency_under": "hardware-loss weight below the latency budget",
    "memory_over": "hardware-loss weight above the memory budget",
    "memory_under": "hardware-loss weight below the memory budget",
    "tau_end": "final Gumbel-softmax temperature",
    "arch_lr": "architecture learning rate",
}
DEFAULT_SPACE = {"latency_over": (0.5, 16.0, True), "memory_over": (0.5, 16.0, True),
                 "tau_end": (0.05, 0.5, True)}
_TOP = {"name", "storage", "lut", "datasets", "mcus", "budgets", "seeds", "search", "deploy",
        "resources", "optuna", "method", "methods", "max_failures", "description", "protocol",
        "sharing", "dry", "data", "front_ends", "energy", "retrain"}

# The method whose hardware-loss weights Optuna tunes and which searches on a shared supernet;
# a grid point of any other method (the baselines) runs one trial with fixed settings.
DEFAULT_METHOD = "micronas"


@dataclass(frozen=True)
class Point:
    """One grid point: one data set, board, budget, seed and method — one Optuna study (for
    micronas; a baseline's point is one trial)."""

    dataset: str
    mcu: str
    latency_ms: float | None
    memory_kb: float | None
    seed: int
    method: str = DEFAULT_METHOD
    flash_kb: float | None = None      # delivered flash (model + runtime); None: no budget
    front_end: str | None = None       # the spec's `front_ends` entry (its name); None: the data's
    power_mw: float | None = None      # sensing + inference (lut_store.EnergyModel); None: no budget

    @property
    def label(self) -> str:
        """The data set as the results name it: its name, or a file's stem."""
        return Path(self.dataset).stem if "/" in self.dataset else self.dataset

    @property
    def key(self) -> str:
        lat = "none" if self.latency_ms is None else f"{self.latency_ms:g}ms"
        mem = "none" if self.memory_kb is None else f"{self.memory_kb:g}kb"
        # micronas points keep the key they had before sweeps held several methods: the
        # results, Optuna studies and infeasible rows of earlier sweeps are found by it.
        method = "" if self.method == DEFAULT_METHOD else f"-{self.method}"
        # Points without a flash budget keep their key too.
        flash = "" if self.flash_kb is None else f"-{self.flash_kb:g}kbflash"
        front = "" if self.front_end is None else f"-fe-{self.front_end}"
        power = "" if self.power_mw is None else f"-{self.power_mw:g}mw"
        return f"{self.label}{front}-{self.mcu}-{lat}-{mem}{flash}{power}-seed{self.seed}{method}"

    def to_dict(self) -> dict:
        return asdict(self)


# Spec keys added after fingerprints existed, with their defaults (see SweepSpec.fingerprint).
_LATER_KEYS = {"front_ends": (), "window": None, "step": None, "protocol": "official",
               "gpus_per_trial": 0.0, "sharing": "none", "dry": None, "energy": None,
               "retrain": "every"}

# none: every trial trains its own supernet (MicroNAS); supernet: one per data set and seed
# (orchestrator/_shared.py), its weights shared by every grid point, inherited by retraining.
SHARING = ("none", "supernet")

# every: each trial retrains and deploys its network (Optuna ranks retrained networks); best: a
# micronas trial ends after its search, scored by its network's path in the searched supernet
# (rows' proxy_*), and only each point's best trial by that proxy is retrained and deployed
# (Sweep's finishing stage) — retraining is two thirds of a trial (docs/SHARING.md).
RETRAIN = ("every", "best")

# What Optuna maximises, from the float model's validation scores (search_core.metrics). The
# default was chosen by measurement (bench/objective.py, docs/BENCHMARKS.md): accuracy on a few
# validation subjects takes few distinct values, so trials tie and TPE guesses.
OBJECTIVES = ("val_neg_log_loss", "val_accuracy", "val_macro_f1")


@dataclass(frozen=True)
class OptunaSettings:
    trials_per_point: int = 4
    seed: int = 0
    space: dict = field(default_factory=lambda: dict(DEFAULT_SPACE))  # name -> (low, high, log)
    startup_trials: int = 2   # random trials before TPE models anything (small studies)
    objective: str = "val_neg_log_loss"   # see OBJECTIVES
    # Where the studies live (a database URL or a journal file; see orchestrator/_optuna.py).
    # None: a journal file beside a local store, in memory for a remote one (Sweep.optuna_url).
    storage: str | None = None


@dataclass(frozen=True)
class SweepSpec:
    name: str
    storage: str
    lut: str
    datasets: tuple[str, ...]
    mcus: tuple[str, ...]
    budgets: tuple[tuple[float | None, ...], ...]   # (lat, mem) or (lat, mem, flash)
    seeds: tuple[int, ...]
    search: dict
    deploy: dict | None
    cpus_per_trial: float
    max_concurrent_trials: int
    optuna: OptunaSettings | None
    methods: tuple[str, ...] = (DEFAULT_METHOD,)   # `method: X` is the one-element form
    max_failures: int = 1
    protocol: str = "official"   # search_core.data.parse_protocol's names
    gpus_per_trial: float = 0.0  # Ray's GPU share per trial (its search's device: auto)
    sharing: str = "none"        # "supernet": one shared supernet per data set and seed
    dry: str | None = None       # a store URL: trials draw rows from it instead of training
    window: int | None = None    # `data: {window, step}`: how recordings are cut (None: the
    step: int | None = None      # source's own; see search_core.data.cuts_windows)
    # `front_ends`: the sensing front ends every grid point is searched at, {name: load_dataset
    # options (window, step, rate_hz, sensors)}; empty: the data's own (or `data`'s) only.
    front_ends: tuple[tuple[str, tuple], ...] = ()
    # `energy`: the supply-current file (lut_store.EnergyModel) of the energy estimates and power
    # budgets; None: the packaged lut_store/energy/datasheets.json.
    energy: str | None = None
    retrain: str = "every"       # see RETRAIN
    source: str = "<spec>"

    @property
    def objective(self) -> str:
        return self.optuna.objective if self.optuna else OptunaSettings.objective

    def data_options(self, front_end: str | None = None) -> dict:
        """load_dataset's keywords for this sweep's protocol and `data` section (and a point's
        front end: `Point.front_end`)."""
        from search_core.data import parse_protocol
        windowing = {"window": self.window, "step": self.step}
        front = dict(dict(self.front_ends)[front_end]) if front_end is not None else {}
        return {**parse_protocol(self.protocol),
                **{k: v for k, v in windowing.items() if v is not None},
                **{k: list(v) if isinstance(v, tuple) else v for k, v in front.items()}}

    def points(self) -> list[Point]:
        """Every method on the same grid: the same data sets, boards, budgets and seeds (so the
        same splits), method by method; with `front_ends`, every point at every front end."""
        fronts = [name for name, _ in self.front_ends] or [None]
        return [Point(d, m, lat, mem, s, method=method, flash_kb=(rest + [None])[0],
                      front_end=fe, power_mw=(rest + [None, None])[1])
                for method in self.methods for d in self.datasets for fe in fronts
                for m in self.mcus for lat, mem, *rest in self.budgets for s in self.seeds]

    @property
    def trials_per_point(self) -> int:
        """The trials of a tuned (micronas) point; a baseline's point has one (`trials_at`)."""
        return self.optuna.trials_per_point if self.optuna else 1

    def tuned(self, point: Point) -> bool:
        """Whether Optuna tunes this point's hardware-loss weights: only micronas has them."""
        return self.optuna is not None and point.method == DEFAULT_METHOD

    def trials_at(self, point: Point) -> int:
        return self.trials_per_point if self.tuned(point) else 1

    def trial_count(self, points) -> int:
        return sum(self.trials_at(p) for p in points)

    def shares(self, method: str) -> bool:
        """Whether this method's points search on the sweep's shared supernet (`sharing:
        supernet` applies to micronas points; the baselines train their own as without it)."""
        return self.sharing == "supernet" and method == DEFAULT_METHOD

    def retrains_best(self, method: str) -> bool:
        """Whether this method's trials stop after the search, only each point's best by its
        proxy retrained (`retrain: best` applies to micronas points: the baselines have no
        Optuna trials to choose among)."""
        return self.retrain == "best" and method == DEFAULT_METHOD

    def to_dict(self) -> dict:
        d = asdict(self)
        d.pop("source")
        return d

    def energy_model(self):
        """The spec's lut_store.EnergyModel: its `energy` file, else the packaged one."""
        from lut_store import EnergyModel
        return EnergyModel.load(self.energy)

    def fingerprint(self) -> str:
        """What decides which trials a sweep holds: a resumed sweep must have the same one.
        Keys added since sweeps were first fingerprinted count only when set to something else
        than their default, so a sweep started before them still resumes."""
        doc = self.to_dict()
        # One method is fingerprinted as the `method` key it always was; several as `methods`.
        methods = doc.pop("methods")
        doc.update({"method": methods[0]} if len(methods) == 1 else {"methods": list(methods)})
        for key, default in _LATER_KEYS.items():
            if doc.get(key) == default:
                doc.pop(key)
        if doc.get("optuna") and doc["optuna"].get("objective") == OptunaSettings.objective:
            doc["optuna"].pop("objective")
        if doc.get("optuna") and doc["optuna"].get("storage") is None:
            doc["optuna"].pop("storage")
        return hashlib.sha256(json.dumps(doc, sort_keys=True, default=list)
                              .encode()).hexdigest()[:16]


def load_spec(path: str | os.PathLike, overrides: dict | None = None) -> SweepSpec:
    """Read and check a spec file; `overrides` replace top-level keys (a cluster job points
    `storage` at the team's bucket without editing the file)."""
    import yaml

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"{path}: cannot read the sweep spec ({exc.strerror or exc})") from None
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: cannot read the sweep spec (not UTF-8 text at byte "
                         f"{exc.start})") from None
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise InputError(f"{path}: not valid YAML{where}") from None
    except ValueError as exc:   # e.g. an integer beyond Python's conversion limit
        raise InputError(f"{path}: cannot read the sweep spec ({str(exc).split(';')[0]})") from None
    if overrides and isinstance(doc, dict):
        doc = {**doc, **{k: v for k, v in overrides.items() if v is not None}}
    return parse_spec(doc, source=str(path))


def parse_spec(doc: Any, source: str = "<spec>") -> SweepSpec:
    """Check the structure and values (not the outside world: see `Sweep.check`)."""
    def fail(msg: str):
        raise InputError(f"{source}: {msg}")

    if not isinstance(doc, dict):
        fail("a sweep spec is a YAML mapping (name, storage, datasets, mcus, budgets, ...)")
    _no_unknown(doc, _TOP, "", fail)
    for key in ("name", "datasets", "mcus", "budgets"):
        if key not in doc:
            fail(f"missing key {key!r}")
    name = doc["name"]
    if not isinstance(name, str) or not name or not all(c.isalnum() or c in "-_." for c in name) \
            or name.startswith("."):
        fail(f"name must be letters, digits, '-', '_' or '.', got {name!r}")
    storage = doc.get("storage", f"runs/sweeps/{name}")
    if not isinstance(storage, str) or not storage.strip():
        fail("storage must be a URL or a folder")
    storage = _absolute(storage)
    lut = doc.get("lut")
    lut = _absolute(lut) if isinstance(lut, str) and lut.strip() else \
        (fail("lut must be a URL or a folder") if lut is not None else storage.rstrip("/") + "/lut")
    datasets = _names(doc["datasets"], "datasets", fail)
    for d in datasets:
        if not _is_known_dataset(d) and not Path(_absolute(d)).exists():
            from search_core.data import KNOWN_DATASETS
            fail(f"datasets: unknown data set {d!r} (known: {', '.join(KNOWN_DATASETS)}; or the "
                 f"path of a data file or folder)")
    datasets = tuple(d if _is_known_dataset(d) else _absolute(d) for d in datasets)
    window, step = _windowing(doc.get("data"), datasets, fail)
    front_ends = _front_ends(doc.get("front_ends"), datasets, fail)
    mcus = _names(doc["mcus"], "mcus", fail)
    budgets = _budgets(doc["budgets"], fail)
    seeds = doc.get("seeds", [0])
    if isinstance(seeds, int) and not isinstance(seeds, bool):
        seeds = [seeds]
    if not isinstance(seeds, list) or not seeds or \
            not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds):
        fail("seeds must be a non-empty list of non-negative integers")
    if len(set(seeds)) != len(seeds):
        fail("seeds: duplicates")
    search_cls, deploy_cls = surface.search_config_class(), surface.deploy_config_class()
    search = _section(doc.get("search"), "search",
                      surface.spec_keys(search_cls, surface.SPEC_SEARCH_DENIED), fail)
    surface.check_spec_values(search, search_cls, surface.SPEC_SEARCH_DENIED, "search", fail)
    deploy_doc = doc.get("deploy", {})
    deploy = None if deploy_doc is False else _section(
        deploy_doc, "deploy", surface.spec_keys(deploy_cls, surface.SPEC_DEPLOY_DENIED), fail)
    if deploy:
        surface.check_spec_values(deploy, deploy_cls, surface.SPEC_DEPLOY_DENIED, "deploy", fail)
    resources = _section(doc.get("resources"), "resources",
                         {"cpus_per_trial", "max_concurrent_trials", "gpus_per_trial"}, fail)
    gpus = resources.get("gpus_per_trial", 0)
    if not isinstance(gpus, (int, float)) or isinstance(gpus, bool) or not 0 <= gpus <= 64:
        fail(f"resources.gpus_per_trial must be a number >= 0 (0.25: four trials share a GPU), "
             f"got {gpus!r}")
    cpus = resources.get("cpus_per_trial", 1)
    if not isinstance(cpus, (int, float)) or isinstance(cpus, bool) or not 0 < cpus <= 256:
        fail(f"resources.cpus_per_trial must be a positive number, got {cpus!r}")
    concurrent = resources.get("max_concurrent_trials", 0)
    if not isinstance(concurrent, int) or isinstance(concurrent, bool) or concurrent < 0:
        fail("resources.max_concurrent_trials must be a non-negative integer (0: as many as fit)")
    methods = _methods(doc, fail)
    max_failures = doc.get("max_failures", 1)
    if not isinstance(max_failures, int) or isinstance(max_failures, bool) or max_failures < 0:
        fail("max_failures must be a non-negative integer")
    optuna = _optuna(doc.get("optuna"), fail)
    from search_core.data import parse_protocol, protocol_name
    try:
        protocol = protocol_name(**parse_protocol(doc.get("protocol", "official")))
    except InputError as exc:
        fail(f"protocol: {exc}")
    sharing = doc.get("sharing", "none")
    if sharing not in SHARING:
        fail(f"sharing must be one of {', '.join(SHARING)}, got {sharing!r}")
    retrain = doc.get("retrain", "every")
    if retrain not in RETRAIN:
        fail(f"retrain must be one of {', '.join(RETRAIN)}, got {retrain!r}")
    dry = doc.get("dry")
    if dry is not None:
        if not isinstance(dry, str) or not dry.strip():
            fail("dry must be the URL of a results store to draw rows from")
        dry = _absolute(dry)
    # Several methods: sharing and Optuna apply to the micronas points (the baselines run one
    # trial per point with their own supernet); a sweep without micronas cannot use either.
    baseline = f"method {methods[0]}" if len(methods) == 1 else f"methods {', '.join(methods)}"
    if sharing == "supernet" and DEFAULT_METHOD not in methods:
        fail(f"{baseline}: no shared supernet to search on (only micronas has one): use "
             f"sharing: none" if len(methods) > 1 else
             f"{baseline} does not search on a shared supernet: use sharing: none")
    if DEFAULT_METHOD not in methods and optuna is not None:
        fail(f"{baseline}: no hardware-loss weights to tune (only micronas has them): remove the "
             f"optuna section" if len(methods) > 1 else
             f"{baseline} has no hardware-loss weights to tune: remove the optuna section")
    if retrain == "best" and DEFAULT_METHOD not in methods:
        fail(f"{baseline}: retrain: best chooses among a micronas point's trials, and there are "
             f"none: use retrain: every")
    if retrain == "best" and dry is not None:
        fail("retrain: best scores real searches, which a dry: sweep does not run: use "
             "retrain: every")
    if sharing == "supernet" and len(methods) > 1 and \
            (doc.get("search") or {}).get("retrain_from") == "inherited":
        fail("search.retrain_from: inherited needs the shared supernet, which only the micronas "
             "points search on: leave retrain_from out, or use methods: [micronas]")
    spec = SweepSpec(name=name, storage=storage, lut=lut, datasets=datasets, mcus=mcus,
                     budgets=budgets, seeds=tuple(seeds), search=search, deploy=deploy,
                     cpus_per_trial=float(cpus), max_concurrent_trials=concurrent, optuna=optuna,
                     gpus_per_trial=float(gpus),
                     methods=methods, max_failures=max_failures, protocol=protocol,
                     sharing=sharing, dry=dry, window=window, step=step, source=source,
                     front_ends=front_ends, energy=_energy_file(doc.get("energy"), fail),
                     retrain=retrain)
    _check_configs(spec, fail)
    return spec


def _no_unknown(doc: dict, known: set, where: str, fail) -> None:
    unknown = sorted(str(k) for k in doc if k not in known)
    if unknown:
        fail(f"unknown key{'s' if len(unknown) > 1 else ''} {', '.join(where + k for k in unknown)} "
             f"(known: {', '.join(sorted(known))})")


def _methods(doc: dict, fail) -> tuple[str, ...]:
    """`methods: [micronas, darts, random]`, or `method: X` (the one-element form)."""
    from search_core import METHODS

    if "method" in doc and "methods" in doc:
        fail("method and methods are both set: list every method under methods")
    if "methods" not in doc:
        method = doc.get("method", DEFAULT_METHOD)
        if method not in METHODS:
            fail(f"method must be one of {', '.join(METHODS)}, got {method!r}")
        return (method,)
    methods = _names(doc["methods"], "methods", fail)
    for m in methods:
        if m not in METHODS:
            fail(f"methods: unknown method {m!r} (known: {', '.join(METHODS)})")
    return methods


def _windowing(value, datasets, fail) -> tuple[int | None, int | None]:
    """`data: {window: N, step: N}`: how the data sets cut from recordings are windowed; each
    data set must be one (a windowed one has nothing to cut)."""
    from search_core.data import MIN_WINDOW, cuts_windows

    section = _section(value, "data", {"window", "step"}, fail)
    out = []
    for key in ("window", "step"):
        v = section.get(key)
        low = MIN_WINDOW if key == "window" else 1
        if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v < low):
            fail(f"data.{key} must be an integer >= {low}"
                 + (" (the search space's shortest window)" if key == "window" else "")
                 + f", got {v!r}")
        out.append(v)
    if section:
        key = "data." + next(k for k in ("window", "step") if k in section)
        for d in datasets:
            try:
                cuts = cuts_windows(d)
            except InputError as exc:
                fail(f"datasets: {exc}")
            if not cuts:
                fail(f"{key}: {d} is already cut into windows; window and step apply to data "
                     "cut from recordings (CSV/Parquet long form, .mat, ucihar, hapt, hapt12)")
    return out[0], out[1]


def _front_ends(value, datasets, fail) -> tuple[tuple[str, tuple], ...]:
    """`front_ends: [{window, step, rate_hz, sensors, name}, ...]`: the front ends every point is
    searched at ({} is the data's own). Names default to what they choose."""
    from search_core.data import MIN_WINDOW, SENSORS, front_end_options

    if value is None:
        return ()
    if not isinstance(value, list) or not value:
        fail("front_ends must be a non-empty list of mappings (window, step, rate_hz, sensors)")
    out = []
    for i, entry in enumerate(value):
        key = f"front_ends[{i}]"
        entry = _section(entry if entry is not None else {}, key,
                         {"window", "step", "rate_hz", "sensors", "name"}, fail)
        for name, low in (("window", MIN_WINDOW), ("step", 1)):
            v = entry.get(name)
            if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v < low):
                fail(f"{key}.{name} must be an integer >= {low}, got {v!r}")
        rate = entry.get("rate_hz")
        if rate is not None and (isinstance(rate, bool) or not isinstance(rate, (int, float))
                                 or not rate > 0):
            fail(f"{key}.rate_hz must be a positive number, got {rate!r}")
        sensors = entry.get("sensors")
        if sensors is not None:
            sensors = [sensors] if isinstance(sensors, str) else sensors
            if not isinstance(sensors, list) or not sensors or \
                    any(s not in SENSORS for s in sensors):
                fail(f"{key}.sensors must be a list of {', '.join(SENSORS)}, got {entry['sensors']!r}")
            entry["sensors"] = tuple(sensors)
        if rate is not None:
            entry["rate_hz"] = float(rate)
        name = entry.pop("name", None) or _front_end_name(entry)
        if not isinstance(name, str) or not name.replace("-", "").replace("+", "").isalnum():
            fail(f"{key}.name must be letters, digits, '-' and '+', got {name!r}")
        if name in dict(out):
            fail(f"{key}: a second front end named {name!r} (give each its own name)")
        out.append((name, tuple(sorted(entry.items()))))
    wanted = {k for _, entry in out for k, _ in entry}
    for d in datasets:
        try:
            missing = sorted(wanted - set(front_end_options(d)))
        except InputError as exc:
            fail(f"datasets: {exc}")
        if missing:
            fail(f"front_ends: {d} does not take {', '.join(missing)} (front ends apply to data "
                 "cut from recordings; rate_hz and sensors to ucihar, hapt and hapt12)")
    return tuple(out)


def _front_end_name(entry: dict) -> str:
    if not entry:
        return "own"
    parts = ["+".join(entry["sensors"])] if "sensors" in entry else []
    if "rate_hz" in entry:
        parts.append(f"{entry['rate_hz']:g}hz".replace(".", "p"))
    if "window" in entry:
        parts.append(f"w{entry['window']}")
    if "step" in entry:
        parts.append(f"s{entry['step']}")
    return "-".join(parts)


def _absolute(url: str) -> str:
    """Trials run in other working folders: a relative local path must not change meaning."""
    url = url.strip()
    if "://" in url:
        return url.rstrip("/")
    return str(Path(url).expanduser().resolve())


def _is_known_dataset(name: str) -> bool:
    from search_core.data import KNOWN_DATASETS
    return name in KNOWN_DATASETS


def _names(value, key: str, fail) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value:
        fail(f"{key} must be a non-empty list")
    if not all(isinstance(v, str) and v.strip() for v in value):
        fail(f"{key}: every entry must be a non-empty string")
    if len(set(value)) != len(value):
        fail(f"{key}: duplicates")
    return tuple(v.strip() for v in value)


def _budget_value(value, what: str, fail) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or \
            not math.isfinite(value) or value <= 0:
        fail(f"budgets: {what} must be a positive number (or null), got {value!r}")
    return float(value)


_BUDGET_KEYS = ("latency_ms", "memory_kb", "flash_kb", "power_mw")


def _budget_point(lat, mem, flash, power) -> tuple:
    # (latency, memory) as budgets always were; a flash budget makes it a triple and a power
    # budget a quadruple, so that specs without them keep their fingerprint.
    if power is not None:
        return (lat, mem, flash, power)
    return (lat, mem) if flash is None else (lat, mem, flash)


def _budgets(value, fail) -> tuple:
    if isinstance(value, dict):
        _no_unknown(value, set(_BUDGET_KEYS), "budgets.", fail)
        axes = []
        for key in _BUDGET_KEYS:
            values = value.get(key, [None])
            axes.append(values if isinstance(values, list) else [values])
        if not all(axes):
            fail("budgets: empty grid (latency_ms, memory_kb, flash_kb and power_mw need at least "
                 "one value each)")
        pairs = [_budget_point(*(_budget_value(v, k, fail) for v, k in zip(combo, _BUDGET_KEYS)))
                 for combo in itertools.product(*axes)]
    elif isinstance(value, list):
        if not value:
            fail("budgets: empty list")
        pairs = []
        for entry in value:
            if not isinstance(entry, dict):
                fail("budgets: each list entry is a mapping {latency_ms, memory_kb, flash_kb, "
                     "power_mw}")
            _no_unknown(entry, set(_BUDGET_KEYS), "budgets[].", fail)
            pairs.append(_budget_point(*(_budget_value(entry.get(k), k, fail)
                                         for k in _BUDGET_KEYS)))
    else:
        fail("budgets must be a grid {latency_ms: [...], memory_kb: [...], flash_kb: [...], "
             "power_mw: [...]} or a list of points")
    if any(all(v is None for v in point) for point in pairs):
        fail("budgets: every point needs a latency or a memory budget (or a flash or power "
             "budget)")
    if len(set(pairs)) != len(pairs):
        fail("budgets: duplicate points")
    return tuple(pairs)


def _energy_file(value, fail) -> str | None:
    """`energy:` is a local file of supply currents, read now so that a bad one fails here."""
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        fail("energy must be the path of a micronas-energy file")
    from lut_store import EnergyModel
    path = _absolute(value)
    try:
        EnergyModel.load(path)
    except InputError as exc:
        fail(f"energy: {exc}")
    return path


def _section(value, key: str, known: set, fail) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        fail(f"{key} must be a mapping")
    _no_unknown(value, known, f"{key}.", fail)
    return dict(value)


def _optuna(value, fail) -> OptunaSettings | None:
    if value is None or value is False:
        return None
    if not isinstance(value, dict):
        fail("optuna must be a mapping (trials_per_point, seed, space, startup_trials)")
    _no_unknown(value, {"trials_per_point", "seed", "space", "startup_trials", "objective",
                        "storage"}, "optuna.", fail)
    storage = _optuna_storage(value.get("storage"), fail)
    objective = value.get("objective", OptunaSettings.objective)
    if objective not in OBJECTIVES:
        fail(f"optuna.objective must be one of {', '.join(OBJECTIVES)}, got {objective!r}")
    n = value.get("trials_per_point", 4)
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        fail("optuna.trials_per_point must be a positive integer")
    seed = value.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool):
        fail("optuna.seed must be an integer")
    startup = value.get("startup_trials", 2)
    if not isinstance(startup, int) or isinstance(startup, bool) or startup < 0:
        fail("optuna.startup_trials must be a non-negative integer")
    raw = value.get("space")
    if raw is None:
        space = dict(DEFAULT_SPACE)
    else:
        if not isinstance(raw, dict) or not raw:
            fail("optuna.space must be a non-empty mapping name: [low, high] or [low, high, log]")
        _no_unknown(raw, set(TUNABLE), "optuna.space.", fail)
        space = {}
        for name, rng in raw.items():
            ok = isinstance(rng, list) and len(rng) in (2, 3) and all(
                isinstance(v, (int, float)) and not isinstance(v, bool) for v in rng[:2])
            log = ok and len(rng) == 3
            if log and rng[2] != "log":
                ok = False
            if not ok or not (math.isfinite(rng[0]) and math.isfinite(rng[1])) or \
                    not rng[0] < rng[1] or (log and rng[0] <= 0) or rng[0] < 0:
                fail(f"optuna.space.{name} must be [low, high] or [low, high, log] with "
                     f"0 <= low < high (low > 0 for log), got {rng!r}")
            space[name] = (float(rng[0]), float(rng[1]), log)
    return OptunaSettings(trials_per_point=n, seed=seed, space=space, startup_trials=startup,
                          objective=objective, storage=storage)


def is_database_url(url: str) -> bool:
    """Whether an `optuna.storage` value (as parsed) is a database URL (sqlite:///...,
    postgresql://...); anything else is a journal file's path."""
    return "://" in url


def _optuna_storage(value, fail) -> str | None:
    """`optuna.storage`: a SQLAlchemy database URL (sqlite:///..., postgresql://...) or the path of
    a journal file; relative paths made absolute. The spec is saved with the sweep: no password."""
    if value is None:
        return None
    what = ("optuna.storage must be a database URL (sqlite:///studies.db, postgresql://host/db) "
            "or the path of a journal file")
    if not isinstance(value, str) or not value.strip():
        fail(f"{what}, got {value!r}")
    value = value.strip().removeprefix("file://")
    if "://" not in value:
        if value.endswith("/") or Path(_absolute(value)).is_dir():
            fail(f"optuna.storage: {value} is a folder: name the journal file (e.g. "
                 f"{value.rstrip('/')}/studies.journal)")
        return _absolute(value)
    scheme = value.split("://", 1)[0].lower()
    if scheme in ("s3", "s3a", "gs", "gcs", "az", "abfs", "http", "https"):
        fail(f"optuna.storage: {scheme}:// holds no Optuna storage (a journal needs a file "
             f"system with file locks): use a database URL (postgresql://host/db) or a shared "
             f"folder's journal file")
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError
    try:
        url = make_url(value)
        url.get_dialect()   # the dialect is known (its driver is checked by Sweep.check)
    except (ArgumentError, NoSuchModuleError, ValueError):
        fail(f"{what}, got {value!r}")
    if url.password:
        fail("optuna.storage: no password in the spec (it is saved with the sweep): give it to "
             "the database driver (e.g. PGPASSWORD or ~/.pgpass for PostgreSQL)")
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:" \
            and not Path(url.database).is_absolute():
        url = url.set(database=_absolute(url.database))
    return url.render_as_string(hide_password=False)


def _check_configs(spec: SweepSpec, fail) -> None:
    """Build the search and deploy configs once so that bad values fail here, not in a trial."""
    try:
        search_config(spec, 0, {name: lo for name, (lo, _, _) in
                                (spec.optuna.space.items() if spec.optuna else ())})
        deploy_config(spec, 0)
    except InputError as exc:
        fail(str(exc))
    except (TypeError, ValueError) as exc:
        fail(f"bad search or deploy setting ({exc})")


def search_config(spec: SweepSpec, seed: int, params: dict, method: str = DEFAULT_METHOD):
    """The SearchConfig of one trial of `method`: the spec's `search` section, then the tuned
    values."""
    from search_core import BudgetPenalty, HardwareLoss, SearchConfig

    # Under sharing too, a network retrains from fresh weights unless the spec says
    # `retrain_from: inherited`: measured on UCI-HAR (docs/SHARING.md), the shared weights
    # are a worse start than fresh ones (40 epochs: 94.3 % inherited vs 97.3 % fresh).
    values = {**spec.search, **params}
    weights = {"latency": {}, "memory": {}}
    for name, (which, side) in surface.LOSS_KEYS.items():
        if name in values:
            weights[which][side] = float(values.pop(name))
    loss = HardwareLoss(BudgetPenalty(**weights["latency"]), BudgetPenalty(**weights["memory"]))
    return SearchConfig(seed=seed, loss=loss, **values)


def deploy_config(spec: SweepSpec, seed: int):
    """The DeployConfig of one trial, or None when the spec skips the stage."""
    if spec.deploy is None:
        return None
    from search_core.deploy import DeployConfig
    return DeployConfig(seed=seed, **spec.deploy)
