"""Flash as the third budget: the price of the delivered flash (model + runtime) against real
exported models, its differentiable expectation, the loss term, repair into a flash budget, the
surfaces (CLI, sweep spec), and the acceptance: a flash budget below what the same search delivers
without one is met by the delivered artifact, verified on the artifact."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest
import torch
from _target import TFLM_TREE, missing_target
from test_hardware import _enumerate

from lut_store import (
    InputError,
    LatencyModel,
    Mcu,
    load_mcu,
    model_flash_bytes,
    runtime_flash_bytes,
)
from search_core.architecture import Architecture
from search_core.derive import Budget, fill, repair
from search_core.hardware import CostModel, Relaxation
from search_core.loss import HardwareLoss
from search_core.space import SearchSpace

L552 = "nucleo-l552ze-q"
CALIBRATION = Path(__file__).with_name("fixtures") / "flash_calibration.json"


@pytest.fixture(scope="module")
def cost(l552_lut):
    return CostModel(LatencyModel(load_mcu(L552), l552_lut))


class _BoardOnly:   # flash needs the board, not the LUT
    def __init__(self, mcu):
        self.mcu = load_mcu(mcu)


# --------------------------------------------------------------------------------------------
# pricing
# --------------------------------------------------------------------------------------------
def test_model_price_against_real_exported_models():
    """37 distinct int8 models (9-90 KB) that runs and tests of this project exported (QAT,
    offline plan): the price from the architecture alone is never below the file and at most
    11 bytes above it."""
    models = json.loads(CALIBRATION.read_text())["models"]
    assert len(models) >= 30
    errors = []
    for m in models:
        arch = Architecture.from_dict(m["architecture"])
        errors.append(model_flash_bytes([(op.config, op.layer) for op in arch.ops()])
                      - m["model_bytes"])
    assert 0 <= min(errors) and max(errors) <= 11, sorted(errors)


def test_runtime_is_recorded_per_core_and_kernel_set():
    l552, f446 = load_mcu(L552), load_mcu("nucleo-f446re")
    base, full = {"CONV_2D", "MEAN", "SOFTMAX"}, {"CONV_2D", "MEAN", "SOFTMAX", "ADD"}
    assert runtime_flash_bytes(l552, base) == 82100 and runtime_flash_bytes(l552, full) == 94560
    assert runtime_flash_bytes(f446, base) == 82720          # cortex-m4f -> the cortex-m4 record
    assert runtime_flash_bytes(l552, {"CONV_2D"}) == 82100   # the smallest recorded superset
    with pytest.raises(InputError, match="no runtime code size for core cortex-m7"):
        runtime_flash_bytes(load_mcu("portenta-h7"), base)
    # a board file's own figure wins over its core's
    own = Mcu.from_dict({**load_mcu(L552).to_dict(), "runtime_flash": {"CONV_2D+MEAN+SOFTMAX": 5}})
    assert runtime_flash_bytes(own, base) == 5
    with pytest.raises(InputError, match="runtime_flash"):
        Mcu.from_dict({**load_mcu(L552).to_dict(), "runtime_flash": {"CONV_2D": -1}})


@pytest.mark.parametrize("dims", [(128, 9, 6), (64, 30, 10)])
def test_one_hot_expected_flash_is_the_exact_price(dims):
    model = CostModel(_BoardOnly(L552))
    space = SearchSpace(*dims)
    rng = np.random.default_rng(3)
    archs = [space.smallest(), space.largest()] + [space.random(rng, per_choice=bool(i % 2))
                                                   for i in range(40)]
    for arch in archs:
        exact = model.flash_bytes(arch)
        assert exact == model.model_flash_bytes(arch) + runtime_flash_bytes(
            model.mcu, {op.config.op for op in arch.ops()})
        assert model.expected_flash_bytes(Relaxation.one_hot(arch)).item() == exact


def test_expected_flash_is_the_exact_expectation():
    """Σ_arch P(arch)·flash(arch) over every architecture the relaxation can draw (ADD's operator
    code and kernel included: there when any cell has an ADD)."""
    model = CostModel(_BoardOnly(L552))
    relax = _relaxation()
    total = sum(p * model.flash_bytes(arch) for arch, p in _enumerate(relax))
    assert model.expected_flash_bytes(relax).item() == pytest.approx(total, rel=1e-10)


def _relaxation():
    """The relaxation test_hardware's latency expectation enumerates."""
    from search_core.hardware import SfChoice, TrChoice
    space = SearchSpace(128, 9, 6)
    t = lambda *v: torch.tensor(v, dtype=torch.float64)
    z8 = lambda **kv: torch.tensor([kv.get(str(i), 0.0) for i in range(8)],
                                   dtype=torch.float64)
    return Relaxation(space, [
        TrChoice(t(0.0, 1.0, 0.0), t(0.0, 0.5, 0.0, 0.5)),
        TrChoice(t(0.3, 0.0, 0.7), t(0.0, 0.0, 1.0, 0.0)),
        TrChoice(t(0.0, 0.0, 1.0), t(0.0, 0.0, 0.0, 1.0)),
    ], [
        SfChoice(z8(**{"0": 0.5, "7": 0.5}), t(0.3, 0.6, 0.9), z8(**{"5": 1.0}), t(1.0)),
        SfChoice(z8(**{"2": 1.0}), t(1.0, 0.5, 0.0), z8(**{"0": 0.6, "3": 0.4}), t(0.35), t(0.3)),
        SfChoice(z8(**{"4": 0.5, "6": 0.5}), t(0.0, 0.0, 1.0), z8(**{"7": 1.0}), t(0.5), t(0.6)),
    ])


def test_expected_flash_has_gradients_toward_smaller_networks():
    model = CostModel(_BoardOnly(L552))
    space = SearchSpace(128, 9, 6)
    relax = Relaxation.uniform(space)
    for t in relax.tensors():
        t.requires_grad_(True)
    flash = model.expected_flash_bytes(relax)
    widths = relax.tr[2].width
    (g,) = torch.autograd.grad(flash, [widths])
    assert g[-1] > g[0]          # a wider last TR cell costs more flash
    assert model.flash_bytes(space.smallest()) < flash.item() < model.flash_bytes(space.largest())


# --------------------------------------------------------------------------------------------
# the loss term, repair, the plan
# --------------------------------------------------------------------------------------------
def test_flash_penalty_in_the_loss():
    loss = HardwareLoss()
    ce, lat, mem = torch.tensor(1.0), torch.tensor(10.0), torch.tensor(1000.0)
    base = loss(ce, lat, mem, 20.0, 2000.0)
    assert loss(ce, lat, mem, 20.0, 2000.0, torch.tensor(1e5), None) == base   # no budget
    over = loss(ce, lat, mem, 20.0, 2000.0, torch.tensor(2e5, requires_grad=True), 1e5)
    assert over.item() == pytest.approx(base.item() + 4.0 * np.log(2.0))
    under = loss(ce, lat, mem, 20.0, 2000.0, torch.tensor(5e4), 1e5)
    assert under.item() == pytest.approx(base.item() + 0.002 * np.log(0.5))
    assert HardwareLoss.none()(ce, lat, mem, 20.0, 2000.0, torch.tensor(2e5), 1e5) == ce
    assert HardwareLoss().to_dict()["flash"] == {"over": 4.0, "under": 0.002}


@pytest.mark.parametrize("flash_kb", [100, 120, 160])
def test_repair_meets_a_flash_budget(cost, flash_kb):
    space = SearchSpace(128, 9, 6)
    budget = Budget(None, None, flash_kb * 1024)
    rng = random.Random(11)
    for arch in [space.largest()] + [space.random(rng) for _ in range(4)]:
        fixed, steps = repair(arch, cost, budget)
        assert cost.flash_bytes(fixed) <= flash_kb * 1024
        if cost.flash_bytes(arch) <= flash_kb * 1024:
            assert steps == [] and fixed == arch
        else:
            assert steps
        grown, _ = fill(fixed, cost, budget, lambda a: 0.0)
        assert cost.flash_bytes(grown) <= flash_kb * 1024


def test_all_three_budgets_hold_together(cost):
    space = SearchSpace(128, 9, 6)
    budget = Budget(25.0, 16 * 1024, 110 * 1024)
    fixed, _ = repair(space.largest(), cost, budget)
    assert cost.fits(fixed, 25.0, 16 * 1024, 110 * 1024)
    assert budget.violation_of(fixed, cost) == 0


def test_plan_refuses_a_flash_budget_no_network_meets(l552_latency):
    from search_core import load_dataset, plan_budget
    data = load_dataset("basicmotions", seed=0)
    with pytest.raises(InputError, match="flash budget"):
        plan_budget(data, l552_latency, None, None, 50.0)    # below the runtime alone
    with pytest.raises(InputError, match="flash budget must be a positive number"):
        plan_budget(data, l552_latency, None, None, -1.0)
    budget, _ = plan_budget(data, l552_latency, None, None, 1e6)
    assert budget.flash_bytes == load_mcu(L552).flash_bytes   # capped at the board's flash


# --------------------------------------------------------------------------------------------
# surfaces
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("args, message", [
    (["--flash-kb", "-3"], "expected a positive number"),
    (["--flash-kb", "abc"], "expected a positive number"),
    (["--flash-kb", "40"], "no network of the space fits the flash budget"),
])
def test_search_cli_bad_flash_budget(capsys, tmp_path, lut_folder, args, message):
    from orchestrator.cli import main
    out = tmp_path / "run"
    code = main(["search", "--dataset", "basicmotions", "--mcu", L552, "--lut", lut_folder,
                 "--out", str(out), "--no-progress", "--skip-deploy", *args])
    err = capsys.readouterr().err
    assert code == 2 and message in err and err.count("\n") == 1
    assert not out.exists()


def _spec(tmp_path, budgets) -> Path:
    import yaml
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump({
        "name": "flash", "storage": str(tmp_path / "store"), "lut": str(tmp_path / "lut"),
        "datasets": ["basicmotions"], "mcus": [L552], "budgets": budgets, "seeds": [0]}))
    return path


def test_sweep_spec_flash_budgets(tmp_path):
    from orchestrator import load_spec
    grid = load_spec(_spec(tmp_path, {"latency_ms": [25], "flash_kb": [100, 120]}))
    assert grid.budgets == ((25.0, None, 100.0), (25.0, None, 120.0))
    points = grid.points()
    assert [p.flash_kb for p in points] == [100.0, 120.0]
    assert points[0].key == "basicmotions-nucleo-l552ze-q-25ms-none-100kbflash-seed0"
    listed = load_spec(_spec(tmp_path, [{"flash_kb": 100}, {"latency_ms": 25, "memory_kb": 64}]))
    assert listed.budgets == ((None, None, 100.0), (25.0, 64.0))
    assert [p.flash_kb for p in listed.points()] == [100.0, None]
    # no flash budget: the points, their keys and the fingerprint are what they always were
    plain = load_spec(_spec(tmp_path, {"latency_ms": [25], "memory_kb": [64]}))
    assert plain.budgets == ((25.0, 64.0),)
    assert plain.points()[0].key == "basicmotions-nucleo-l552ze-q-25ms-64kb-seed0"
    assert plain.fingerprint() != grid.fingerprint()


@pytest.mark.parametrize("budgets, message", [
    ({"flash_kb": [-1]}, "flash_kb must be a positive number"),
    ({"flash_kb": []}, "empty grid"),
    ([{"flash_kb": "big"}], "flash_kb must be a positive number"),
    ({"flash_mb": [1]}, "flash_mb"),
])
def test_sweep_spec_bad_flash_budgets(tmp_path, budgets, message):
    from orchestrator import load_spec
    with pytest.raises(InputError, match=message) as info:
        load_spec(_spec(tmp_path, budgets))
    assert "\n" not in str(info.value)


# --------------------------------------------------------------------------------------------
# acceptance: the delivered artifact meets a flash budget below the unconstrained flash
# --------------------------------------------------------------------------------------------
_FAST = ["--epochs", "2", "--retrain-epochs", "2", "--batch-size", "8", "--no-progress", "--json"]


def test_flash_budget_is_met_by_the_delivered_artifact(capsys, tmp_path, lut_folder):
    from lut_store.tflite import read_model
    from orchestrator.cli import main

    common = ["search", "--dataset", "basicmotions", "--mcu", L552, "--lut", lut_folder, *_FAST]
    main([*common, "--lat-ms", "1000", "--out", str(tmp_path / "free")])
    free = json.loads(capsys.readouterr().out)
    unconstrained = free["deploy"]["flash_bytes"]   # the artifact's model + runtime
    budget_kb = round(0.9 * unconstrained / 1024, 1)
    assert budget_kb * 1024 < unconstrained

    out = tmp_path / "flash"
    main([*common, "--lat-ms", "1000", "--flash-kb", str(budget_kb), "--out", str(out)])
    r = json.loads(capsys.readouterr().out)
    assert r["budget"]["flash_kb"] == budget_kb and r["fits"]
    assert r["flash_bytes"] <= budget_kb * 1024
    # verified on the artifact: its bytes + the runtime's code for its kernels
    model = (out / "model.tflite").read_bytes()
    report = json.loads((out / "model.json").read_text())
    ops = {op.op for op in read_model(model).operators}
    delivered = len(model) + runtime_flash_bytes(load_mcu(L552), ops)
    assert report["flash"]["delivered_bytes"] == delivered == r["deploy"]["flash_bytes"]
    assert delivered <= budget_kb * 1024 < unconstrained
    assert report["budget"]["fits_flash_budget"] is True
    assert not any("flash" in f for f in report["failures"])
    # and the price from the architecture was the artifact's size, within a few bytes (on a
    # network outside the calibration set the alignment may differ by a few more)
    assert abs(r["model_flash_bytes"] - len(model)) <= 16
    # where the cross toolchain is here: the recorded runtime is what the linked image holds
    if missing_target() is None:
        from lut_store.target import run_model
        run = run_model(model, None, "qemu-m33", tflm=TFLM_TREE, windows=1)
        assert run.flash["model"] == len(model)
        # the record is an upper bound within 8 bytes (the model's 16-byte alignment in the image)
        assert 0 <= runtime_flash_bytes(load_mcu(L552), ops) - run.flash["runtime"] <= 8
    print(f"FLASH budget {budget_kb * 1024:.0f} B, unconstrained {unconstrained} B, "
          f"delivered {delivered} B")
