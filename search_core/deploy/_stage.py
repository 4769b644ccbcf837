"""The deployment stage: float network → QAT → full-int8 model → checks in LiteRT-reference and
TFLite-Micro → offline memory plan → budget check on the real artifact → firmware bundle.

A model that misses a gate (parity, accuracy drop, memory plan, budget) is *marked* failed with
its reasons in model.json; only bad input (a wrong file, a missing install, an arena that cannot
hold the model) raises InputError, and then before anything is written.
"""

from __future__ import annotations

import importlib.util
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from lut_store import InputError, LatencyModel, Mcu, load_mcu, price_model, runtime_flash_bytes
from lut_store.tflite import read_model

from .._versions import versions
from ..architecture import Architecture
from ..data import front_end_of
from ._bundle import BUNDLE_FORMAT, BUNDLE_VERSION, write_bundle
from ._config import DeployConfig
from ._checks import (int8_scores, memory_figures, model_summary, parity, plan_check, run_both)
from ._keras import _TF_NEEDED, _tf, _tfmot
from lut_store.memory import with_offline_plan
from ._config import QAT
from ._quantise import quantise
from ._runtime import _RUNTIMES_NEEDED, io_spec, require_runtimes, windows_for
from ._target import pick_windows, require_target, target_check

REBUILD_TOLERANCE = 1e-3   # softmax outputs of the Keras rebuild vs PyTorch


@dataclass
class Deployment:
    """The int8 model with its offline plan (what the bundle ships) and everything measured."""

    model: bytes
    report: dict
    bundle: Path | None = None
    outputs: dict = field(default_factory=dict, repr=False)   # int8 outputs per runtime

    @property
    def passed(self) -> bool:
        return self.report["status"] == "passed"

    @property
    def failures(self) -> list[str]:
        return list(self.report["failures"])


def _check_data(arch: Architecture, data, where: str) -> None:
    got = (data.window, data.n_channels, data.n_classes)
    want = (arch.input_steps, arch.input_channels, arch.n_classes)
    if got != want:
        raise InputError(f"{where}: the data ({got[0]} steps x {got[1]} channels, {got[2]} classes) "
                         f"is not what the architecture takes ({want[0]} x {want[1]}, {want[2]} classes)")
    if not len(data.y_test) or not len(data.y_train):
        raise InputError(f"{where}: the data set needs training and test windows")


def require_deploy_stack(config: DeployConfig, *, import_now: bool = True) -> None:
    """InputError now (before any training or writing) if TensorFlow, tfmot or a runtime is
    missing. `import_now=False` only looks the packages up (no multi-second TensorFlow import)."""
    require_target(config.target)   # the toolchain, QEMU and $MICRONAS_TFLM: one line each
    if import_now:
        _tf()
        if config.quantisation == QAT:
            _tfmot()
        require_runtimes()
        return
    needed = [("tensorflow", _TF_NEEDED), ("tf_keras", _TF_NEEDED)]
    if config.quantisation == QAT:
        needed.append(("tensorflow_model_optimization", _TF_NEEDED))
    needed += [("ai_edge_litert", f"LiteRT is not installed: {_RUNTIMES_NEEDED}"),
               ("tflite_micro", f"TFLite-Micro is not installed: {_RUNTIMES_NEEDED}")]
    for module, message in needed:
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):   # e.g. a None entry in sys.modules
            found = False
        if not found:
            raise InputError(f"{message} (cannot import {module})")


def deploy(arch: Architecture, network, data, *, latency: LatencyModel | None = None,
           search: dict | None = None, config: DeployConfig = DeployConfig(),
           mcu: Mcu | None = None, progress: Callable[[str], None] | None = None) -> Deployment:
    """Run the stage on the float `network` of `arch`, trained on `data`. `latency` prices the
    exported graph; `search` (a search's result.json) supplies the budget and the estimates the
    artifact is compared with."""
    from ..metrics import predict, scores

    start = time.perf_counter()
    say = progress or (lambda _msg: None)
    _check_data(arch, data, data.name)
    require_deploy_stack(config)
    mcu = latency.mcu if latency is not None else mcu
    if latency is not None:   # before any training: every op must be priceable
        unpriceable = [c for c in arch.op_configs() if not latency.can_price(c)]
        if unpriceable:
            c = unpriceable[0]
            raise InputError(f"{c.op} {list(c.input_shape)}->{list(c.output_shape)} is neither "
                             f"measured in the LUT nor predictable on {latency.mcu.name}")
    search = search or {}
    failures: list[str] = []
    disagreements: list[str] = []

    float_scores = scores(data.y_test, predict(network, data.x_test), data.n_classes)
    say(f"float test accuracy {100 * float_scores['accuracy']:.2f} %; quantising ({config.quantisation})")
    q = quantise(arch, network, data, config, say)
    if q.graph_mismatch:
        failures.append(f"the int8 graph is not the architecture's: {q.graph_mismatch}")
    if q.rebuild_max_abs_diff > REBUILD_TOLERANCE:
        failures.append(f"the Keras rebuild differs from the PyTorch network by up to "
                        f"{q.rebuild_max_abs_diff:.2g} in softmax output")
    quantised_s = time.perf_counter() - start

    source = f"{arch.input_steps}x{arch.input_channels} {data.name} model"
    plain = q.data
    planned = with_offline_plan(plain, source)
    io = io_spec(planned, source)
    say("measuring the TFLM arena and running LiteRT-reference and TFLM on the test split")
    memory = memory_figures(plain, planned, source, config.arena_size)
    inputs = windows_for(io, data.x_test, data.name)
    outputs = run_both(plain, planned, inputs, memory, source, config.arena_size)
    failures += plan_check(memory, outputs)

    par = parity(outputs["tflm"], outputs["litert"], config.max_lsb)
    if par["max_lsb"] > config.max_lsb:
        failures.append(f"TFLM and LiteRT-reference differ by {par['max_lsb']} LSB (limit "
                        f"{config.max_lsb}) on {par['windows_over_limit']} test windows")
    tflm_scores = int8_scores(outputs["tflm"], data.y_test, data.n_classes)
    litert_scores = int8_scores(outputs["litert"], data.y_test, data.n_classes)
    drop = 100 * (float_scores["accuracy"] - tflm_scores["accuracy"])
    if drop > config.max_accuracy_drop + 1e-9:
        failures.append(f"int8 accuracy {100 * tflm_scores['accuracy']:.2f} % is {drop:.2f} points "
                        f"below float {100 * float_scores['accuracy']:.2f} % (limit "
                        f"{config.max_accuracy_drop} points)")
    accuracy = {"split": "test", "windows": int(len(data.y_test)), "float": float_scores,
                "int8_tflm": tflm_scores, "int8_litert": litert_scores, "drop_points": drop,
                "limit_points": config.max_accuracy_drop}

    target = _on_target(planned, inputs, data, search, memory, config, source, failures, say)
    latency_report = _latency(planned, latency, search, config, source, disagreements)
    flash = _flash(planned, mcu, target, search, source)
    budget = _budget(search, memory, latency_report, flash, mcu, failures)
    _compare_with_search(search, memory, float_scores, disagreements)

    report = {
        "format": BUNDLE_FORMAT, "version": BUNDLE_VERSION,
        "status": "failed" if failures else "passed", "failures": failures,
        "disagreements": disagreements,
        "mcu": mcu.name if mcu else search.get("mcu"),
        "dataset": data.name, "data_source": search.get("data_source", data.name),
        "architecture": arch.to_dict(),
        "input": {"shape": list(io.input_shape), "layout": "NHWC",
                  "axes": ["batch", "time", "sensor", "channel"], "dtype": "int8",
                  "scale": io.input_scale, "zero_point": io.input_zero_point,
                  "sample_rate_hz": data.sample_rate_hz,
                  "quantisation": "x = (raw - mean[s]) / std[s]; q = clamp(round_half_away_from_zero"
                                  "(x / scale) + zero_point, -128, 127)"},
        "output": {"shape": list(io.output_shape), "dtype": "int8", "scale": io.output_scale,
                   "zero_point": io.output_zero_point,
                   "meaning": "softmax class probabilities: p = (q - zero_point) * scale"},
        "normalisation": {"mean": [float(v) for v in np.ravel(data.norm_mean)],
                          "std": [float(v) for v in np.ravel(data.norm_std)]},
        "channels": list(data.channels), "classes": list(data.classes),
        # What the firmware must feed the model: sensors, rate, window, step, anti-alias filter.
        "front_end": front_end_of(data),
        "quantisation": {"method": q.method, "requested": q.requested,
                         "fallback_reason": q.fallback_reason,
                         "qat_epochs_run": sum(1 for row in q.history if row["epoch"] > 0),
                         "qat_best_epoch": next((row["epoch"] for row in q.history if row.get("best")),
                                                None),
                         "qat_history": q.history,
                         "calibration_windows": min(config.calibration_windows, len(data.x_train)),
                         "rebuild_max_abs_diff": q.rebuild_max_abs_diff},
        "graph": {"matches_architecture": q.graph_mismatch is None, "mismatch": q.graph_mismatch,
                  **model_summary(planned, source)},
        "accuracy": accuracy, "parity": par, "memory": memory, "latency": latency_report,
        "flash": flash, "budget": budget, "target": target,
        "search": {k: search.get(k) for k in ("latency_ms", "peak_memory_bytes", "activation_bytes",
                                              "scratch_bytes", "flash_bytes", "test_accuracy",
                                              "seed", "lut_hash")},
        "config": asdict(config),
        "timings": {"quantise_s": quantised_s, "total_s": time.perf_counter() - start},
        "versions": versions(),
    }
    say(f"{report['status']}: int8 accuracy {100 * tflm_scores['accuracy']:.2f} %, "
        f"parity {par['max_lsb']} LSB, arena head {memory['tflm_arena_head_bytes']} B "
        f"(greedy {memory['greedy_arena_head_bytes']} B)")
    return Deployment(planned, report, outputs=outputs)


def _latency(planned: bytes, latency: LatencyModel | None, search: dict, config: DeployConfig,
             source: str, disagreements: list[str]) -> dict:
    if latency is None:
        return {"checked": False, "reason": "no LUT given"}
    priced = price_model(planned, latency, source, use_tflm=False)
    out = {"checked": True, "lut_ms": priced["latency_ms"], "kernel_cycles": priced["kernel_cycles"],
           "overhead_cycles": priced["overhead_cycles"], "unmeasured_ops": priced["unmeasured_ops"],
           "search_estimate_ms": search.get("latency_ms"), "difference_ms": None,
           "lut_hash": latency.lut.content_hash()}
    if search.get("latency_ms") is not None:
        out["difference_ms"] = priced["latency_ms"] - float(search["latency_ms"])
        if abs(out["difference_ms"]) > config.latency_tolerance_ms:
            disagreements.append(f"LUT latency of the exported graph {priced['latency_ms']:.3f} ms vs "
                                 f"the search's estimate {float(search['latency_ms']):.3f} ms")
        if search.get("lut_hash") and search["lut_hash"] != out["lut_hash"]:
            disagreements.append("the LUT differs from the one the search used (content hash)")
    return out


def _flash(planned: bytes, mcu: Mcu | None, target: dict | None, search: dict,
           source: str) -> dict:
    """The artifact's flash: its bytes + the runtime's code for its kernels (measured in the
    linked image when the target step ran, else the board's recorded figure)."""
    out = {"model_bytes": len(planned), "mcu_flash_bytes": mcu.flash_bytes if mcu else None,
           "runtime_bytes": None, "runtime_source": None, "delivered_bytes": None,
           "search_estimate_bytes": search.get("flash_bytes"),
           "note": "delivered = the model's flatbuffer + the TFLM + CMSIS-NN runtime's code"}
    measured = ((target or {}).get("flash") or {}).get("runtime_bytes")
    if measured is not None:
        out["runtime_bytes"], out["runtime_source"] = int(measured), "target image"
    elif mcu is not None:
        try:
            ops = {op.op for op in read_model(planned, source).operators}
            out["runtime_bytes"] = runtime_flash_bytes(mcu, ops)
            out["runtime_source"] = "recorded for the board's core"
        except InputError:   # no record for this core: the model part is all that is known
            pass
    if out["runtime_bytes"] is not None:
        out["delivered_bytes"] = out["model_bytes"] + out["runtime_bytes"]
    return out


def _budget(search: dict, memory: dict, latency: dict, flash: dict, mcu: Mcu | None,
            failures: list[str]) -> dict:
    b = search.get("budget") or {}
    # What the network itself had to meet (result.json's budget; runs from before the input
    # buffer and power budgets were counted have only the user's latency budget).
    lat_budget = b.get("latency_ms_effective", b.get("latency_ms"))
    mem_budget = b.get("memory_bytes_effective")
    flash_budget = b.get("flash_bytes_effective")
    out = {"latency_ms": lat_budget, "memory_bytes": mem_budget,
           "fits_latency": None, "fits_memory": None, "fits_sram": None, "fits_flash": None,
           "flash_bytes": flash_budget, "fits_flash_budget": None,
           "memory_checked": "board_arena_head_bytes (activations with the offline plan + "
                             "CMSIS-NN scratch); the tail is checked against the SRAM"}
    if lat_budget is not None and latency.get("checked"):
        out["fits_latency"] = latency["lut_ms"] <= lat_budget
        if not out["fits_latency"]:
            failures.append(f"latency {latency['lut_ms']:.2f} ms exceeds the budget {lat_budget} ms")
    if mem_budget is not None:
        out["fits_memory"] = memory["board_arena_head_bytes"] <= mem_budget
        if not out["fits_memory"]:
            failures.append(f"arena head {memory['board_arena_head_bytes']} bytes exceeds the memory "
                            f"budget's {mem_budget:.0f} bytes for the arena (its "
                            f"{b.get('input_buffer_bytes') or 0} bytes of input buffer taken out)")
    if flash_budget is not None:
        delivered = flash["delivered_bytes"]
        out["fits_flash_budget"] = delivered is not None and delivered <= flash_budget
        if not out["fits_flash_budget"]:
            failures.append(f"delivered flash {delivered} bytes (model {flash['model_bytes']} + "
                            f"runtime {flash['runtime_bytes']}) exceeds the flash budget "
                            f"{flash_budget:.0f} bytes")
    if mcu is not None:
        out["fits_sram"] = (memory["arena_size_bytes"] + (b.get("input_buffer_bytes") or 0)
                            <= mcu.sram_bytes)
        # The board holds the model and the runtime (the model alone where no runtime is known).
        needed = flash["delivered_bytes"] or flash["model_bytes"]
        out["fits_flash"] = needed <= mcu.flash_bytes
        if not out["fits_sram"]:
            failures.append(f"arena of {memory['arena_size_bytes']} bytes exceeds {mcu.name}'s SRAM")
        if not out["fits_flash"]:
            failures.append(f"model + runtime of {needed} bytes exceed {mcu.name}'s flash")
    return out


def _compare_with_search(search: dict, memory: dict, float_scores: dict,
                         disagreements: list[str]) -> None:
    if search.get("activation_bytes") is not None and \
            search["activation_bytes"] != memory["peak_activation_bytes"]:
        disagreements.append(f"peak activation memory of the exported graph "
                             f"{memory['peak_activation_bytes']} B vs the search's "
                             f"{search['activation_bytes']} B")
    if search.get("peak_memory_bytes") is not None and \
            search["peak_memory_bytes"] != memory["board_arena_head_bytes"]:
        disagreements.append(f"arena head on the board (with CMSIS-NN scratch) "
                             f"{memory['board_arena_head_bytes']} B vs the search's peak memory "
                             f"{search['peak_memory_bytes']} B")
    if search.get("test_accuracy") is not None and \
            abs(search["test_accuracy"] - float_scores["accuracy"]) > 1e-9:
        disagreements.append(f"float test accuracy {float_scores['accuracy']:.4f} vs the search's "
                             f"{search['test_accuracy']:.4f} (different data?)")


def _on_target(planned: bytes, inputs, data, search: dict, memory: dict, config: DeployConfig,
               source: str, failures: list[str], say) -> dict | None:
    """The optional target step (config.target): the shipped model (with its offline plan) on
    the emulated core. Its gate: outputs within max_lsb of the host reference on every window,
    arena head == the search's peak memory. A model the target cannot hold or run is a recorded
    failure; a missing toolchain or tree was refused before any training (require_deploy_stack)."""
    if config.target is None:
        return None
    windows, labels = pick_windows(inputs, data.y_test, config.target_windows)
    peak = search.get("peak_memory_bytes")
    expected, what = ((int(peak), "the search's peak memory") if peak is not None
                      else (memory["board_arena_head_bytes"], "the memory model's board head"))
    say(f"building the firmware and running {len(windows)} test windows on {config.target}")
    try:
        section = target_check(planned, windows, config.target, labels=labels,
                               n_classes=data.n_classes, max_lsb=config.max_lsb,
                               expected_head=expected, expected_head_what=what, source=source)
    except InputError as exc:   # e.g. "the model does not fit qemu-m4's RAM"
        failures.append(f"target {config.target}: {exc}")
        return {"name": config.target, "status": "failed", "failures": [str(exc)]}
    failures += section["failures"]
    return section


# --------------------------------------------------------------------------------------------
# a finished search folder
# --------------------------------------------------------------------------------------------
def load_run(run_dir: str | Path, *, need_result: bool = True):
    """(architecture, float network, result.json or None) of a finished search folder (see
    `search_core.run.RunFolder.read`)."""
    from ..run import RunFolder
    return RunFolder(run_dir).read(need_result=need_result)


def deploy_run(run_dir: str | Path, *, latency: LatencyModel | str | None = None, data=None,
               config: DeployConfig = DeployConfig(), out: str | Path | None = None,
               mcu: str | Mcu | None = None,
               progress: Callable[[str], None] | None = None) -> Deployment:
    """The stage on a finished search folder; the bundle goes to `out` (default: the folder).
    `latency` is a LatencyModel or a LUT URL (priced for the search's board, or `mcu`)."""
    from ..data import load_dataset, options_for, parse_protocol
    from ..run import RunFolder

    start = time.perf_counter()
    run_dir = Path(run_dir)
    arch, network, result = RunFolder(run_dir).read()
    require_deploy_stack(config)
    board = mcu if mcu is not None else result["mcu"]
    if isinstance(latency, str):
        latency = LatencyModel.open(latency, board)
    board_mcu = latency.mcu if latency is not None else load_mcu(board)
    if data is None:
        try:
            seed = int(result["seed"])
        except (TypeError, ValueError):
            raise InputError(f"{run_dir / RunFolder.RESULT}: seed must be an integer") from None
        # Cut as the run's data were: its protocol and its front end (window, rate, sensors).
        data = load_dataset(result["data_source"], seed=seed,
                            **parse_protocol(result.get("protocol", "official")),
                            **options_for(result["data_source"], result.get("front_end")))
    dep = deploy(arch, network, data, latency=latency, search=result, config=config,
                 mcu=board_mcu, progress=progress)
    # With TensorFlow's import and the data set's loading (what `micronas export` takes).
    dep.report["timings"]["stage_s"] = time.perf_counter() - start
    dep.bundle = write_bundle(out if out is not None else run_dir, dep.model, dep.report)
    return dep
