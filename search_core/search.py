"""One MicroNAS search, start to finish: DNAS → derivation with a hard budget guarantee → float
retraining → scores (→ optionally the deployment stage). `run_search` is the Python API behind
`micronas search`; the stages themselves are in `search_core.stages`, the run folder's layout in
`search_core.run`, the result's records in `search_core.records`."""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lut_store import EnergyModel, InputError, LatencyModel
from lut_store.memory import input_buffer_bytes

from ._config import SearchConfig
from .architecture import Architecture
from .data import Dataset, check_searchable, front_end_of
from .derive import Budget
from .hardware import CostModel
from .space import SearchSpace

__all__ = ["SearchConfig", "SearchResult", "plan_budget", "run_search"]


@dataclass
class SearchResult:
    architecture: Architecture
    result: dict          # result.json
    network: Any          # the retrained float Network
    deployment: Any = None   # search_core.deploy.Deployment, when the deployment stage ran


def plan_budget(data: Dataset, latency: LatencyModel, lat_ms: float | None,
                mem_kb: float | None, flash_kb: float | None = None,
                power_mw: float | None = None,
                energy: EnergyModel | None = None) -> tuple[Budget, CostModel]:
    """Validate the data and the budget; refuse, before any training, a budget that no network of
    the space meets (naming the smallest latency and memory there are). A flash budget (KB of
    delivered flash: model + runtime, capped at the board's flash) is refused below the flash of
    the space's smallest network.

    The memory budget covers the arena and the firmware's sensing ring together
    (`lut_store.memory.input_buffer_bytes`, window x channels int8), so the network gets what is
    left. A power budget (mW of sensing + inference, `lut_store.EnergyModel`'s data file) becomes a
    latency cap for this board and front end; the tighter of it and `lat_ms` is the budget
    (`energy`: the currents, by default the packaged lut_store/energy/datasheets.json)."""
    for name, value in (("latency budget", lat_ms), ("memory budget", mem_kb),
                        ("flash budget", flash_kb), ("power budget", power_mw)):
        if value is not None and (not math.isfinite(value) or value <= 0):
            raise InputError(f"{name} must be a positive number, got {value}")
    check_searchable(data)
    mcu = latency.mcu
    ring = input_buffer_bytes(data.window, data.n_channels)
    ram = mcu.sram_bytes if mem_kb is None else min(mem_kb * 1024, mcu.sram_bytes)
    if power_mw is not None:
        front = front_end_of(data)
        cap = (energy or EnergyModel.load()).latency_cap_ms(
            mcu, front["sensors"], front["sample_rate_hz"], front.get("step_s"), power_mw)
        lat_ms = cap if lat_ms is None else min(lat_ms, cap)
    budget = Budget(lat_ms, ram - ring,
                    None if flash_kb is None else min(flash_kb * 1024, mcu.flash_bytes),
                    input_buffer_bytes=ring)
    space = SearchSpace(data.window, data.n_channels, data.n_classes)
    cost = CostModel(latency)
    if budget.flash_bytes is not None:
        # Every shrink step of the repair ends at (or below) the space's smallest network.
        smallest = cost.flash_bytes(space.smallest())
        if smallest > budget.flash_bytes:
            raise InputError(f"no network of the space fits the flash budget on {mcu.name}: the "
                             f"smallest delivers {smallest / 1024:.2f} KB (model + runtime), "
                             f"budget {budget.flash_bytes / 1024:.2f} KB")
    cheapest = cost.cheapest(space)
    if (lat_ms is not None and cheapest.latency_ms > lat_ms) or \
            cheapest.memory_bytes > budget.memory_bytes:
        lat_text = ("no latency budget" if lat_ms is None else f"budget {lat_ms:.4g} ms"
                    + (f", the cap of {power_mw:g} mW" if power_mw is not None else ""))
        raise InputError(
            f"no network of the space fits on {mcu.name}: the smallest latency is "
            f"{cheapest.latency_ms:.2f} ms ({lat_text}) and the smallest peak memory "
            f"{cheapest.memory_bytes / 1024:.2f} KB + the {ring / 1024:.2f} KB input buffer "
            f"(budget {ram / 1024:.2f} KB)")
    return budget, cost


def run_search(data: Dataset, latency: LatencyModel, *, lat_ms: float | None,
               mem_kb: float | None, flash_kb: float | None = None, power_mw: float | None = None,
               energy: EnergyModel | None = None, config: SearchConfig = SearchConfig(),
               out_dir: str | os.PathLike | None = None, show_progress: bool = False,
               data_source: str | None = None, deploy=None,
               deploy_progress: Callable[[str], None] | None = None) -> SearchResult:
    """Search, derive (with repair), retrain, score and, given a `DeployConfig` as `deploy`,
    run the deployment stage. With `out_dir`, the run folder is written as the stages finish
    (`search_core.run.RunFolder`: the finished search all or nothing, then the bundle)."""
    from ._progress import Progress
    from .run import RunFolder
    from .stages import DeployStage, RetrainStage, SearchRun, SearchStage, run_stages

    from ._device import resolve_device

    resolve_device(config.device)   # an unavailable GPU fails before any work
    budget, cost = plan_budget(data, latency, lat_ms, mem_kb, flash_kb, power_mw, energy)
    folder = None
    if out_dir is not None:
        folder = RunFolder(out_dir)
        folder.check_writable()

    bars = Progress(show_progress, config)
    run = SearchRun(config=config, lat_ms=lat_ms, mem_kb=mem_kb, flash_kb=flash_kb,
                    power_mw=power_mw, energy=energy, data=data, latency=latency,
                    deploy_config=deploy, data_source=data_source, folder=folder,
                    progress={"search": bars.search, "retrain": bars.train,
                              "deploy": deploy_progress}, plan=(budget, cost))
    stages = [SearchStage(), RetrainStage(), *([DeployStage()] if deploy is not None else [])]
    try:
        run_stages(stages, run, on_start=bars.start)
    finally:
        bars.close()
    return SearchResult(run.derivation.architecture, run.result, run.trained.network,
                        run.deployment)
