"""What a search produces, as records: the `Derivation` the search stage hands to retraining,
`result.json` (`describe`: budgets, exact and expected costs, metrics, timings, provenance) and the
typed views a results row is built from, `SearchOutcome` (a search's result) and `DeploymentReport`
(a deployment's model.json). Each view has ONE `to_row()`: the results store's columns of that
part of a trial."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from lut_store import EnergyModel, InputError

from ._config import SearchConfig
from ._versions import versions
from .architecture import Architecture
from .data import front_end_of
from .metrics import predict, scores

__all__ = ["DeploymentReport", "Derivation", "PROXY_SCORES", "SearchOutcome", "describe",
           "provenance"]

# The scores of a derivation's proxy (Derivation.summary["proxy"]), as rows name them with
# "proxy_" in front.
PROXY_SCORES = ("val_accuracy", "val_macro_f1", "val_neg_log_loss")


@dataclass
class Derivation:
    """What the search stage hands to retraining: the architecture that fits, how it was reached
    (DNAS argmax, repair and fill steps) and what the search estimated. JSON-able, so a sweep can
    checkpoint between the stages."""

    architecture: Architecture
    summary: dict

    def to_json(self) -> str:
        return json.dumps({"architecture": json.loads(self.architecture.to_json()),
                           "summary": self.summary}, default=jsonable)

    @classmethod
    def from_json(cls, text: str) -> Derivation:
        doc = json.loads(text)
        return cls(Architecture.from_json(json.dumps(doc["architecture"])), doc["summary"])


def provenance(data) -> dict:
    """What a result was computed with: every package's version and the data's SHA-256."""
    return {**versions(), "data_sha256": data.content_hash()}


def _flash_or_none(cost, arch) -> int | None:
    """A board without a recorded runtime size has no delivered-flash price (only a flash budget
    needs one: it is refused before the search)."""
    try:
        return cost.flash_bytes(arch)
    except InputError:
        return None


def describe(data, latency, cost, budget, lat_ms: float | None, mem_kb: float | None,
             config: SearchConfig, derivation: Derivation, trained,
             data_source: str | None = None, flash_kb: float | None = None,
             power_mw: float | None = None, energy: EnergyModel | None = None) -> dict:
    """result.json: budgets, exact and expected costs, metrics, timings, provenance."""
    arch, s = derivation.architecture, derivation.summary
    mcu = latency.mcu
    test = scores(data.y_test, predict(trained.network, data.x_test), data.n_classes)
    mem = cost.memory(arch)
    return {
        "dataset": data.name, "data_source": data_source or data.name,
        "protocol": data.protocol, "front_end": front_end_of(data),
        "mcu": mcu.name, "clock_hz": mcu.clock_hz,
        # The user's budgets, and what the network itself had to meet (`plan_budget`): the
        # arena's share of the memory (the input buffer taken out) and the latency (a power
        # budget's cap included).
        "budget": {"latency_ms": lat_ms, "memory_kb": mem_kb, "power_mw": power_mw,
                   "latency_ms_effective": budget.latency_ms,
                   "memory_bytes_effective": budget.memory_bytes,
                   "input_buffer_bytes": budget.input_buffer_bytes,
                   "flash_kb": flash_kb, "flash_bytes_effective": budget.flash_bytes},
        "architecture": json.loads(arch.to_json()),
        "derived": s["derived"], "repairs": s["repairs"], "fills": s["fills"],
        "search_latency_ms": s["search_latency_ms"], "search_memory_bytes": s["search_memory_bytes"],
        "search_fits": s["search_fits"], "shared": s.get("shared"), "proxy": s.get("proxy"),
        "latency_ms": cost.latency_ms(arch), "latency_cycles": cost.latency_cycles(arch),
        "latency_predicted_share": cost.predicted_share(arch),
        "energy": _energy(energy or EnergyModel.load(), mcu, data, cost.latency_ms(arch)),
        "peak_memory_bytes": mem.peak_bytes, "activation_bytes": mem.activation_bytes,
        "scratch_bytes": mem.scratch_bytes,
        # Delivered flash (model + runtime), priced before export; the deployment measures it.
        "flash_bytes": _flash_or_none(cost, arch),
        "model_flash_bytes": cost.model_flash_bytes(arch),
        "expected_latency_ms": s["expected_latency_ms"],
        "expected_memory_bytes": s["expected_memory_bytes"],
        "fits": bool(budget.violation_of(arch, cost) == 0),
        "val_accuracy": trained.val_accuracy,
        **{f"val_{k}": v for k, v in (trained.val_scores or {}).items() if k != "accuracy"},
        "test_accuracy": test["accuracy"], "test_macro_f1": test["macro_f1"],
        "test_confusion": test["confusion"],
        "parameters": sum(p.numel() for p in trained.network.parameters()),
        # Where it trained: a GPU run is seeded like a CPU run but not bit-identical to it.
        "device": {"search": s.get("device", "cpu"), "retrain": getattr(trained, "device", "cpu")},
        "timings": {"search_s": s["search_s"], "retrain_s": trained.seconds,
                    "retrain_epochs": trained.epochs},
        "search_history": s["search_history"],
        "config": config.to_json_dict(),
        "seed": config.seed, "lut_hash": latency.lut.content_hash(),
        "predictor": getattr(latency.predictor, "version", None),
        "versions": provenance(data), "data": data.summary(),
    }


def _energy(model: EnergyModel, mcu, data, latency_ms: float) -> dict:
    """The estimated energy of the network with its front end (None figures where the data file
    lacks a current, with a note saying which)."""
    front = front_end_of(data)
    return model.estimate(mcu, front["sensors"], front["sample_rate_hz"], front.get("step_s"),
                          latency_ms)


@dataclass(frozen=True)
class SearchOutcome:
    """A search's outcome as the results store keeps it: the network, what the search estimated,
    its exact costs and, once retrained, its scores. Read from result.json (`from_result`) or,
    for a derived network that is not retrained (over the budget), priced from its derivation
    (`unretrained`)."""

    architecture: dict                 # Architecture JSON
    search_latency_ms: float           # of the network DNAS itself chose (before repair)
    search_memory_bytes: int
    search_fits: bool
    repairs: tuple[str, ...]
    expected_latency_ms: float
    expected_memory_bytes: float
    latency_ms: float                  # of the delivered network, exact
    peak_memory_bytes: int
    fits: bool
    lut_hash: str
    versions: dict
    config: dict                       # SearchConfig.to_json_dict()
    val_accuracy: float | None = None
    test_accuracy: float | None = None
    test_macro_f1: float | None = None
    parameters: int | None = None
    protocol: str = "official"         # how the data were split (search_core.data)
    shared: str | None = None          # the shared supernet's key the search started from
    device: str = "cpu"                # where the network was retrained
    val_macro_f1: float | None = None
    val_neg_log_loss: float | None = None
    flash_bytes: int | None = None     # delivered flash (model + runtime), priced exactly
    latency_predicted_share: float | None = None   # of the latency priced by the predictor
    # The delivered network's validation scores on the searched supernet's weights
    # (search_core._dnas.path_scores; None: a search without a supernet, or an older result).
    proxy: dict | None = None

    @classmethod
    def from_result(cls, result: dict) -> SearchOutcome:
        return cls(architecture=result["architecture"],
                   search_latency_ms=result["search_latency_ms"],
                   search_memory_bytes=result["search_memory_bytes"],
                   search_fits=result["search_fits"], repairs=tuple(result["repairs"]),
                   expected_latency_ms=result["expected_latency_ms"],
                   expected_memory_bytes=result["expected_memory_bytes"],
                   latency_ms=result["latency_ms"], peak_memory_bytes=result["peak_memory_bytes"],
                   fits=result["fits"], lut_hash=result["lut_hash"], versions=result["versions"],
                   config=result["config"], val_accuracy=result["val_accuracy"],
                   test_accuracy=result["test_accuracy"], test_macro_f1=result["test_macro_f1"],
                   parameters=result["parameters"],
                   protocol=result.get("protocol", "official"), shared=result.get("shared"),
                   device=(result.get("device") or {}).get("retrain", "cpu"),
                   val_macro_f1=result.get("val_macro_f1"),
                   val_neg_log_loss=result.get("val_neg_log_loss"),
                   flash_bytes=result.get("flash_bytes"),
                   latency_predicted_share=result.get("latency_predicted_share"),
                   proxy=result.get("proxy"))

    @classmethod
    def unretrained(cls, derivation: Derivation, cost, budget, config: SearchConfig, latency,
                    data) -> SearchOutcome:
        arch, s = derivation.architecture, derivation.summary
        lat, mem = cost.latency_ms(arch), cost.memory(arch).peak_bytes
        return cls(architecture=json.loads(arch.to_json()),
                   search_latency_ms=s["search_latency_ms"],
                   search_memory_bytes=s["search_memory_bytes"], search_fits=s["search_fits"],
                   repairs=tuple(s["repairs"]), expected_latency_ms=s["expected_latency_ms"],
                   expected_memory_bytes=s["expected_memory_bytes"], latency_ms=lat,
                   peak_memory_bytes=mem, fits=bool(budget.violation_of(arch, cost) == 0),
                   lut_hash=latency.lut.content_hash(), versions=provenance(data),
                   config=config.to_json_dict(), protocol=data.protocol, shared=s.get("shared"),
                   flash_bytes=_flash_or_none(cost, arch),
                   latency_predicted_share=cost.predicted_share(arch), proxy=s.get("proxy"))

    def to_row(self) -> dict:
        """The results-store columns of the search (None: not retrained)."""
        return {
            "architecture_json": json.dumps(self.architecture),
            "search_latency_ms": self.search_latency_ms,
            "search_memory_bytes": self.search_memory_bytes, "search_fits": self.search_fits,
            "repairs": len(self.repairs),
            "expected_latency_ms": self.expected_latency_ms,
            "expected_memory_bytes": self.expected_memory_bytes,
            "latency_ms": self.latency_ms, "peak_memory_bytes": self.peak_memory_bytes,
            "latency_predicted_share": self.latency_predicted_share,
            "fits": self.fits, "protocol": self.protocol, "shared_key": self.shared,
            "estimated_flash_kb": None if self.flash_bytes is None else self.flash_bytes / 1024,
            "device": self.device,
            "val_accuracy": self.val_accuracy,
            "val_macro_f1": self.val_macro_f1, "val_neg_log_loss": self.val_neg_log_loss,
            "test_accuracy": self.test_accuracy, "test_macro_f1": self.test_macro_f1,
            "parameters": self.parameters,
            **{f"proxy_{k}": (self.proxy or {}).get(k) for k in PROXY_SCORES},
            "lut_hash": self.lut_hash, "versions_json": json.dumps(self.versions),
        }


@dataclass(frozen=True)
class DeploymentReport:
    """A deployment's outcome as the results store keeps it: passed or failed (with the reasons)
    and, when the stage got as far as an int8 model, what was verified on it (from model.json,
    `from_report`). A stage that stopped on bad input has a status and reasons only."""

    status: str                        # "passed" | "failed"
    failures: tuple[str, ...] = ()
    figures: dict | None = field(default=None, repr=False)   # model.json, when there is one

    @classmethod
    def from_report(cls, report: dict) -> DeploymentReport:
        return cls(report["status"], tuple(report["failures"]), report)

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    @property
    def config(self) -> dict | None:
        return self.figures["config"] if self.figures else None

    def to_row(self) -> dict:
        """The results-store columns of the verified artifact (none without an int8 model)."""
        if self.figures is None:
            return {}
        dep = self.figures
        a, m, lat = dep["accuracy"], dep["memory"], dep["latency"]
        return {
            "int8_accuracy": a["int8_tflm"]["accuracy"], "int8_macro_f1": a["int8_tflm"]["macro_f1"],
            "max_lsb": dep["parity"]["max_lsb"],
            "verified_latency_ms": lat.get("lut_ms"),
            "verified_memory_bytes": m["board_arena_head_bytes"],
            "greedy_memory_bytes": m["greedy_arena_head_bytes"],
            "flash_bytes": dep["flash"]["model_bytes"],
            # The artifact's delivered flash: its bytes + the runtime's code (None: no record).
            "flash_kb": (None if dep["flash"].get("delivered_bytes") is None
                         else dep["flash"]["delivered_bytes"] / 1024),
            "verified_fits": dep["status"] == "passed",
            **_target_row(dep.get("target")),
        }


def _target_row(t: dict | None) -> dict:
    """The target step's columns (null without one; name only when the target could not run)."""
    if not t:
        return {}
    row = {"target": t["name"]}
    if "parity" in t:
        row.update({
            "target_arena_head_bytes": t["arena"]["head_bytes"],
            "target_bit_identical_share": t["parity"]["bit_identical_share"],
            "target_max_lsb": t["parity"]["max_lsb"],
            "target_flash_bytes": t["flash"]["image_without_windows_bytes"],
            "target_emulator_ticks_per_invoke": t["emulator_ticks"]["per_invoke_emulator_median"],
        })
    return row


def jsonable(value: Any):
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
