"""The deployment stage on a real data set (BasicMotions: 40 + 40 recordings of 100 x 6).

One tiny network whose architecture emits every op the space can (CONV_2D with (k, 1), (1, W),
(1, 2) and (1, 1) kernels at strides (2, 1), (1, 2) and (1, 1), ADD, MEAN, SOFTMAX) is trained in
PyTorch, written as a finished search folder and deployed once (module fixture); the tests read
what that produced and re-measure it independently.
"""

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from lut_store import InputError
from search_core.architecture import Architecture, SfCell, TrCell

L552 = "nucleo-l552ze-q"

# Branchy enough that TFLM's default greedy planner fragments the arena (1200 B above the bound).
FULL = Architecture(100, 6, 4, (TrCell(3, 16), TrCell(7, 4)), (
    SfCell(True, 16, (True, True, True), 8, True),       # (1,6) s(1,2) bottleneck, (3|5|7,1) branches, (1,2) s(1,2) residual
    SfCell(False, 32, (True, True, False), 16, True),    # (1,3) bottleneck, 2 branches, (1,1) residual
    SfCell(False, 32, (False, False, False), 16, True),  # the residual alone
))


@pytest.fixture(scope="module")
def basicmotions(tmp_path_factory):
    from search_core.data import load_dataset
    return load_dataset("basicmotions", cache_dir=tmp_path_factory.mktemp("cache"))


def _train(arch, data, epochs=30, lr=3e-3, batch=8):
    """A few seconds of Adam on the training split (one thread: quick on a busy machine)."""
    import torch
    import torch.nn.functional as F

    from search_core.supernet import Network

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        torch.manual_seed(0)
        gen = torch.Generator().manual_seed(0)
        net = Network(arch, dropout=0.0)  # 40 test windows: keep the fixture free of luck
        opt = torch.optim.Adam(net.parameters(), lr=lr)
        x, y = torch.from_numpy(data.x_train), torch.from_numpy(data.y_train)
        net.train()
        for _ in range(epochs):
            for idx in torch.randperm(len(x), generator=gen).split(batch):
                loss = F.cross_entropy(net(x[idx]), y[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
    finally:
        torch.set_num_threads(threads)
    return net.eval()


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory, basicmotions, l552_latency):
    """A finished search folder (architecture.json, weights.pt, result.json) of FULL, trained."""
    import torch

    from search_core.hardware import CostModel
    from search_core.metrics import predict, scores

    network = _train(FULL, basicmotions)
    cost = CostModel(l552_latency)
    mem = cost.memory(FULL)
    test = scores(basicmotions.y_test, predict(network, basicmotions.x_test), 4)
    lat = cost.latency_ms(FULL)
    result = {
        "dataset": "basicmotions", "data_source": "basicmotions", "mcu": L552, "seed": 0,
        "budget": {"latency_ms": lat + 5, "memory_kb": 64, "memory_bytes_effective": 64 * 1024},
        "latency_ms": lat, "peak_memory_bytes": mem.peak_bytes,
        "activation_bytes": mem.activation_bytes, "scratch_bytes": mem.scratch_bytes,
        "test_accuracy": test["accuracy"], "lut_hash": l552_latency.lut.content_hash(),
    }
    run = tmp_path_factory.mktemp("run")
    (run / "architecture.json").write_text(FULL.to_json() + "\n")
    torch.save(network.state_dict(), run / "weights.pt")
    (run / "result.json").write_text(json.dumps(result))
    return run


@pytest.fixture(scope="module")
def deployed(trained_run, basicmotions, l552_latency):
    from search_core.deploy import DeployConfig, deploy_run
    return deploy_run(trained_run, latency=l552_latency, data=basicmotions,
                      config=DeployConfig(qat_epochs=3))


def _copy_run(src, dst):
    dst.mkdir()
    for name in ("architecture.json", "weights.pt", "result.json"):
        shutil.copy(src / name, dst / name)
    return dst


def _no_bundle(folder):
    names = {p.name for p in folder.iterdir()} if folder.exists() else set()
    return not names & {"model.tflite", "model_data.c", "model_data.h", "model.json"} \
        and not any(n.startswith(".bundle.") for n in names)


# --------------------------------------------------------------------------------------------
# the graph
# --------------------------------------------------------------------------------------------
def test_qat_conversion_keeps_the_priced_graph_and_every_op_kind(deployed):
    from lut_store import op_configs
    from lut_store.tflite import read_model
    from search_core.deploy import graph_mismatch

    r = deployed.report
    assert r["quantisation"]["method"] == "qat" and r["quantisation"]["fallback_reason"] is None
    assert r["quantisation"]["qat_epochs_run"] >= 1
    assert graph_mismatch(deployed.model, FULL) is None and r["graph"]["matches_architecture"]
    model = read_model(deployed.model)
    assert op_configs(model) == FULL.op_configs()   # same ops, order, shapes, fused ReLUs
    convs = [c for c in op_configs(model) if c.op == "CONV_2D"]
    kernels = {c.kernel for c in convs}
    assert {(3, 1), (5, 1), (7, 1), (1, 6), (1, 3), (1, 2), (1, 1)} <= kernels
    assert {c.stride for c in convs} == {(2, 1), (1, 2), (1, 1)}
    assert {c.activation for c in convs} == {"relu", "none"}   # the classifier has none
    assert {op.op for op in model.operators} == {"CONV_2D", "ADD", "MEAN", "SOFTMAX"}
    inp, out = model.tensors[model.inputs[0]], model.tensors[model.outputs[0]]
    assert inp.dtype == out.dtype == "int8" and inp.shape == (1, 100, 6, 1)


def test_a_fine_tuned_qat_epoch_is_kept_only_for_a_real_validation_gain(deployed, trained_run,
                                                                         basicmotions,
                                                                         l552_latency, tmp_path):
    from search_core.deploy import DeployConfig, deploy_run

    def pick(report):
        q = report["quantisation"]
        history = {row["epoch"]: row for row in q["qat_history"]}
        return q["qat_best_epoch"], history

    best, history = pick(deployed.report)
    gain = 100 * (history[best]["val_accuracy"] - history[0]["val_accuracy"])
    assert best == 0 or gain >= DeployConfig().qat_min_gain
    # No epoch can gain 101 points: the calibrated model (epoch 0) is kept, and exported.
    # (A copy of the run: the module's bundle is what the other tests check.)
    strict = deploy_run(_copy_run(trained_run, tmp_path / "run"), latency=l552_latency,
                        data=basicmotions, config=DeployConfig(qat_epochs=2, qat_min_gain=101))
    assert pick(strict.report)[0] == 0 and len(pick(strict.report)[1]) >= 2
    assert [r["best"] for r in strict.report["quantisation"]["qat_history"]].count(True) == 1


def test_rebuild_computes_what_pytorch_trained(deployed):
    assert deployed.report["quantisation"]["rebuild_max_abs_diff"] < 1e-4


# --------------------------------------------------------------------------------------------
# evaluation and the parity gate
# --------------------------------------------------------------------------------------------
def test_tflm_agrees_with_litert_reference_within_one_lsb(deployed, basicmotions):
    from search_core.deploy._runtime import io_spec, run_litert, run_tflm, windows_for

    r = deployed.report
    p = r["parity"]
    assert p["windows"] == len(basicmotions.y_test) == 40
    assert p["max_lsb"] <= 1 and p["windows_over_limit"] == 0
    # Independently: both runtimes on the shipped file, inputs quantised from the float windows.
    io = io_spec(deployed.model)
    assert (io.input_scale, io.input_zero_point) == (r["input"]["scale"], r["input"]["zero_point"])
    inputs = windows_for(io, basicmotions.x_test)
    tflm = run_tflm(deployed.model, inputs, r["memory"]["arena_size_bytes"])
    lite = run_litert(deployed.model, inputs)
    assert np.abs(tflm.astype(int) - lite.astype(int)).max() == p["max_lsb"]
    assert np.array_equal(tflm, deployed.outputs["tflm"])
    acc = float((tflm.reshape(40, -1).argmax(1) == basicmotions.y_test).mean())
    assert acc == r["accuracy"]["int8_tflm"]["accuracy"]


def test_scores_and_the_accuracy_gate(deployed):
    a = deployed.report["accuracy"]
    for key in ("float", "int8_tflm", "int8_litert"):
        assert 0 <= a[key]["accuracy"] <= 1 and 0 <= a[key]["macro_f1"] <= 1
        assert np.array(a[key]["confusion"]).shape == (4, 4) and np.sum(a[key]["confusion"]) == 40
    assert a["float"]["accuracy"] >= 0.8   # the tiny network did learn BasicMotions
    assert a["drop_points"] == pytest.approx(100 * (a["float"]["accuracy"] - a["int8_tflm"]["accuracy"]))
    gate_failed = any("below float" in f for f in deployed.report["failures"])
    assert gate_failed == (a["drop_points"] > 1.5)
    # Everything else about this model holds; only the accuracy gate may trip on 40 windows.
    assert all("below float" in f for f in deployed.report["failures"])


def test_input_quantisation_rounds_half_away_and_clips():
    from search_core.deploy import quantize_input
    x = np.array([0.25, -0.25, 0.24, 0.76, -0.76, 1000.0, -1000.0, 63.6])
    q = quantize_input(x, 0.5, 1)
    assert q.dtype == np.int8
    assert q.tolist() == [2, 0, 1, 3, -1, 127, -128, 127]


# --------------------------------------------------------------------------------------------
# memory: the offline plan
# --------------------------------------------------------------------------------------------
def test_offline_plan_reaches_the_peak_with_bit_identical_outputs(deployed):
    from lut_store.memory import (CMSIS_NN, OFFLINE_PLAN_METADATA, arena_head_bytes,
                                  peak_activation_bytes)
    from lut_store.tflite import read_model
    from lut_store.tflm import tflm_arena

    m = deployed.report["memory"]
    assert OFFLINE_PLAN_METADATA in read_model(deployed.model).metadata
    # The memory model's planner reproduces the host interpreter's head, plan and all ...
    head = tflm_arena(deployed.model)["head"]
    assert head == m["tflm_arena_head_bytes"] == arena_head_bytes(deployed.model)
    assert m["planner_model_matches_host"]
    # ... and on the board, around the CMSIS-NN scratch, the plan reaches the lower bound.
    board = m["board_arena_head_bytes"]
    assert board == m["board_lower_bound_bytes"] == peak_activation_bytes(
        deployed.model, include_scratch=True, kernels=CMSIS_NN)
    assert m["board_head_equals_lower_bound"]
    assert m["outputs_bit_identical"] and m["windows_compared"] == 40
    assert np.array_equal(deployed.outputs["tflm"], deployed.outputs["tflm_greedy"])
    assert m["ram_saved_bytes"] == m["greedy_board_arena_head_bytes"] - board == 560   # 8 %
    assert head < tflm_arena(_without_plan(deployed.model))["head"]   # the host gains too
    assert m["arena_size_bytes"] >= board + m["tflm_arena_tail_bytes"]


def _without_plan(model):
    from lut_store.memory import without_offline_plan
    return without_offline_plan(model)


def test_budget_check_on_the_real_artifact(deployed, trained_run):
    r = deployed.report
    search = json.loads((trained_run / "result.json").read_text())
    assert r["latency"]["checked"]
    assert abs(r["latency"]["lut_ms"] - search["latency_ms"]) < 0.1
    assert r["memory"]["peak_activation_bytes"] == search["activation_bytes"]
    assert r["budget"]["fits_latency"] and r["budget"]["fits_memory"]
    assert r["budget"]["fits_sram"] and r["budget"]["fits_flash"]
    assert r["flash"]["model_bytes"] == len(deployed.model)
    # One truth for memory: the board's arena head is the search's peak memory, byte for byte.
    assert r["memory"]["board_arena_head_bytes"] == search["peak_memory_bytes"]
    assert r["memory"]["board_head_equals_lower_bound"] and r["memory"]["planner_model_matches_host"]
    assert not any("CMSIS-NN" in d for d in r["disagreements"])


# --------------------------------------------------------------------------------------------
# the bundle
# --------------------------------------------------------------------------------------------
def test_bundle_files_and_manifest(deployed, trained_run, basicmotions):
    from search_core.deploy import check_bundle

    assert deployed.bundle == trained_run / "model.json"
    manifest = check_bundle(trained_run)
    assert (trained_run / "model.tflite").read_bytes() == deployed.model
    assert manifest["input"]["shape"] == [1, 100, 6, 1] and manifest["input"]["layout"] == "NHWC"
    assert manifest["normalisation"]["mean"] == pytest.approx(basicmotions.norm_mean.tolist())
    assert manifest["normalisation"]["std"] == pytest.approx(basicmotions.norm_std.tolist())
    assert manifest["classes"] == list(basicmotions.classes)
    assert manifest["channels"] == list(basicmotions.channels)
    assert manifest["status"] in ("passed", "failed") and "parity" in manifest
    header = (trained_run / "model_data.h").read_text()
    assert f"#define MICRONAS_MODEL_ARENA_SIZE {manifest['memory']['arena_size_bytes']}u" in header
    assert not any(p.name.startswith(".bundle.") for p in trained_run.iterdir())


def test_c_bundle_compiles_as_c_and_cpp_and_holds_the_model_bytes(deployed, trained_run, tmp_path):
    cc, cxx = shutil.which("cc"), shutil.which("c++")
    if not cc or not cxx:
        pytest.skip("no host C/C++ compiler")
    src = trained_run / "model_data.c"
    for compiler, args in ((cc, ["-std=c99"]), (cc, ["-std=c11"]), (cxx, ["-x", "c++", "-std=c++11"]),
                           (cxx, ["-x", "c++", "-std=c++17"])):
        subprocess.run([compiler, *args, "-Wall", "-Wextra", "-Werror", "-c", str(src), "-o",
                        str(tmp_path / "model_data.o")], check=True, capture_output=True)
    main = tmp_path / "dump.c"
    main.write_text(
        '#include <stdio.h>\n#include <stdint.h>\n#include "model_data.h"\n'
        "int main(void) {\n"
        "  if (((uintptr_t)micronas_model_data) % 16) return 3;\n"
        "  fwrite(micronas_model_data, 1, micronas_model_data_len, stdout);\n"
        "  return 0;\n}\n")
    exe = tmp_path / "dump"
    subprocess.run([cc, "-I", str(trained_run), str(main), str(src), "-o", str(exe)], check=True,
                   capture_output=True)
    dumped = subprocess.run([str(exe)], check=True, capture_output=True).stdout
    assert dumped == (trained_run / "model.tflite").read_bytes() == deployed.model


def test_bundle_is_written_all_or_nothing(tmp_path, monkeypatch, deployed):
    from search_core.deploy import _bundle, check_bundle, write_bundle

    write_bundle(tmp_path, deployed.model, deployed.report)
    assert check_bundle(tmp_path)["status"] == deployed.report["status"]
    real = _bundle.os.replace

    def crash(src, dst):
        if str(dst).endswith("model_data.c"):
            raise OSError("disk full")
        return real(src, dst)

    monkeypatch.setattr(_bundle.os, "replace", crash)
    with pytest.raises(OSError):
        write_bundle(tmp_path, deployed.model + b"", {**deployed.report, "status": "other"})
    # No manifest, so no bundle that looks complete; no temporary folder left behind.
    with pytest.raises(InputError, match="no complete deployment bundle"):
        check_bundle(tmp_path)
    assert not any(p.name.startswith(".bundle.") for p in tmp_path.iterdir())


# --------------------------------------------------------------------------------------------
# fallback to post-training quantisation
# --------------------------------------------------------------------------------------------
def test_qat_graph_that_is_not_the_priced_one_falls_back_to_ptq(monkeypatch, trained_run,
                                                                basicmotions):
    from search_core.deploy import DeployConfig, build_keras, deploy, load_run
    from search_core.deploy import _quantise

    other = Architecture(100, 6, 4, (TrCell(5, 8), TrCell(5, 8)), FULL.sf_cells)
    # A QAT step whose model is not the architecture's graph (as a tfmot change could produce).
    monkeypatch.setattr(_quantise, "_qat", lambda *a, **k: (build_keras(other), []))
    arch, network, result = load_run(trained_run)
    dep = deploy(arch, network, basicmotions, search=result, config=DeployConfig(qat_epochs=1))
    q = dep.report["quantisation"]
    assert q["method"] == "ptq" and q["requested"] == "qat"
    assert "not the priced one" in q["fallback_reason"] and "operator 0" in q["fallback_reason"]
    assert dep.report["graph"]["matches_architecture"]
    assert dep.report["parity"]["max_lsb"] <= 1
    assert dep.report["latency"] == {"checked": False, "reason": "no LUT given"}


# --------------------------------------------------------------------------------------------
# bad input: one clear line, no bundle
# --------------------------------------------------------------------------------------------
def test_architecture_of_another_version_is_refused(trained_run, tmp_path):
    from search_core.deploy import deploy_run

    run = _copy_run(trained_run, tmp_path / "run")
    data = json.loads((run / "architecture.json").read_text())
    (run / "architecture.json").write_text(json.dumps({**data, "version": 99}))
    with pytest.raises(InputError, match="unsupported architecture version 99"):
        deploy_run(run)
    assert _no_bundle(run)


def test_folder_without_a_finished_search_is_refused(trained_run, tmp_path):
    from search_core.deploy import deploy_run

    with pytest.raises(InputError, match="not a finished search"):
        deploy_run(tmp_path)
    run = _copy_run(trained_run, tmp_path / "run")
    (run / "result.json").unlink()
    with pytest.raises(InputError, match=r"not a finished search \(result.json missing"):
        deploy_run(run)
    assert _no_bundle(run) and _no_bundle(tmp_path)


def test_too_small_arena_is_refused(trained_run, tmp_path, basicmotions, deployed, l552_latency):
    from search_core.deploy import DeployConfig, deploy_run, verify_model

    run = _copy_run(trained_run, tmp_path / "run")
    with pytest.raises(InputError, match=r"arena of 1024 bytes is too small: TFLite-Micro needs \d+"):
        deploy_run(run, data=basicmotions, config=DeployConfig(quantisation="ptq", arena_size=1024))
    assert _no_bundle(run)
    needed = deployed.report["memory"]["tflm_arena_total_bytes"]
    with pytest.raises(InputError, match="too small"):
        verify_model(deployed.model, l552_latency, arena_size=needed - 16)


@pytest.mark.parametrize("module", ["tensorflow", "tensorflow_model_optimization", "tflite_micro",
                                    "ai_edge_litert"])
def test_missing_install_is_a_clear_error(trained_run, tmp_path, monkeypatch, module):
    from search_core.deploy import deploy_run

    run = _copy_run(trained_run, tmp_path / "run")
    monkeypatch.setitem(sys.modules, module, None)   # `import module` now raises ImportError
    if module == "tensorflow":
        monkeypatch.setitem(sys.modules, "tf_keras", None)
    with pytest.raises(InputError, match=r"(needs TensorFlow|is not installed).*pip install"):
        deploy_run(run)
    assert _no_bundle(run)


def test_cli_errors_are_one_line_with_exit_code_2(capsys, tmp_path, deployed, lut_folder):
    from orchestrator.cli import main

    assert main(["export", "--run", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "not a finished search" in err and err.count("\n") == 1
    model = tmp_path / "model.tflite"
    model.write_bytes(deployed.model)
    assert main(["verify", "--model", str(model), "--mcu", L552, "--lut", lut_folder,
                 "--arena-bytes", "2000"]) == 2
    err = capsys.readouterr().err
    assert "arena of 2000 bytes is too small" in err and err.count("\n") == 1
    (tmp_path / "float.tflite").write_bytes(b"not a flatbuffer at all")
    assert main(["verify", "--model", str(tmp_path / "float.tflite"), "--mcu", L552, "--lut",
                 lut_folder]) == 2
    assert capsys.readouterr().err.count("\n") == 1


# --------------------------------------------------------------------------------------------
# the command line
# --------------------------------------------------------------------------------------------
def test_cli_verify_rechecks_the_bundled_model(capsys, deployed, trained_run, lut_folder):
    from orchestrator.cli import main

    code = main(["verify", "--model", str(trained_run / "model.tflite"), "--mcu", L552,
                 "--lut", lut_folder, "--dataset", "basicmotions", "--json"])
    r = json.loads(capsys.readouterr().out)
    assert code == (0 if r["status"] == "passed" else 1)
    assert r["memory"]["offline_plan"] and r["memory"]["outputs_bit_identical"]
    assert r["memory"]["tflm_arena_head_bytes"] == deployed.report["memory"]["tflm_arena_head_bytes"]
    assert r["parity"]["max_lsb"] <= 1 and r["parity"]["windows"] == 40
    assert abs(r["latency"]["lut_ms"] - deployed.report["latency"]["lut_ms"]) < 1e-9


def test_cli_export_runs_the_stage_and_replaces_the_bundle(capsys, trained_run, tmp_path,
                                                          lut_folder):
    from orchestrator.cli import main
    from search_core.deploy import check_bundle

    run = _copy_run(trained_run, tmp_path / "run")
    for _ in range(2):   # the second run replaces the first bundle
        code = main(["export", "--run", str(run), "--lut", lut_folder, "--ptq", "--no-progress",
                     "--json"])
        r = json.loads(capsys.readouterr().out)
        assert code == (0 if r["status"] == "passed" else 1)
    assert r["quantisation"]["method"] == "ptq" and r["latency"]["checked"]
    assert check_bundle(run)["status"] == r["status"]
    assert sorted(p.name for p in run.iterdir()) == sorted(
        ["architecture.json", "weights.pt", "result.json", "model.tflite", "model_data.c",
         "model_data.h", "model.json"])


def test_verify_a_model_without_offline_plan_states_what_a_plan_saves(deployed, l552_latency,
                                                                     basicmotions):
    from search_core.deploy import verify_model
    from lut_store.memory import without_offline_plan

    plain = without_offline_plan(deployed.model)   # every tensor planned by TFLM's greedy planner
    r = verify_model(plain, l552_latency, data=basicmotions, source="plain.tflite")
    m = r["memory"]
    assert not m["offline_plan"]
    assert (m["greedy_arena_head_bytes"], m["tflm_arena_head_bytes"]) == (6608, 6048)   # host
    saved = deployed.report["memory"]["ram_saved_bytes"]
    assert m["ram_saved_bytes"] == saved > 0
    assert any(f"would bring the arena head on the board from {m['greedy_board_arena_head_bytes']} "
               f"to {m['board_arena_head_bytes']} bytes" in n for n in r["notes"])
    assert m["board_arena_head_bytes"] == deployed.report["memory"]["board_arena_head_bytes"]
    assert r["parity"]["max_lsb"] <= 1 and r["status"] == "passed"
    assert r["accuracy"]["int8_tflm"]["accuracy"] == deployed.report["accuracy"]["int8_tflm"]["accuracy"]


def test_cli_search_deploys_unless_told_not_to(capsys, tmp_path, lut_folder):
    from orchestrator.cli import main
    from search_core.deploy import check_bundle

    common = ["search", "--dataset", "basicmotions", "--mcu", L552, "--lat-ms", "15", "--mem-kb", "8",
              "--lut", lut_folder, "--epochs", "0", "--retrain-epochs", "2", "--batch-size", "8",
              "--qat-epochs", "1", "--no-progress", "--json"]
    code = main([*common, "--out", str(tmp_path / "a")])
    r = json.loads(capsys.readouterr().out)
    assert code == (0 if r["deploy"]["status"] == "passed" else 1)   # 1: a gate failed
    manifest = check_bundle(tmp_path / "a")
    assert r["deploy"]["status"] == manifest["status"] and r["deploy"]["max_lsb"] <= 1
    assert manifest["memory"]["tflm_arena_head_bytes"] == manifest["memory"]["lower_bound_bytes"]
    assert abs(manifest["latency"]["lut_ms"] - r["latency_ms"]) < 0.1
    assert main([*common, "--out", str(tmp_path / "b"), "--skip-deploy"]) == 0
    assert "deploy" not in json.loads(capsys.readouterr().out)
    assert _no_bundle(tmp_path / "b") and (tmp_path / "b" / "result.json").is_file()


# --------------------------------------------------------------------------------------------
# on target (QEMU): `verify --target` on the exported model, the stage's optional target step
# --------------------------------------------------------------------------------------------
def _target_missing():
    from _target import missing_target
    return missing_target()


@pytest.mark.parametrize("target", ["qemu-m4", "qemu-m33"])
def test_cli_verify_target_on_the_exported_model(capsys, deployed, trained_run, lut_folder, target):
    if _target_missing():
        pytest.skip(_target_missing())
    from orchestrator.cli import main
    from _target import TFLM_TREE

    code = main(["verify", "--model", str(trained_run / "model.tflite"), "--mcu", L552,
                 "--lut", lut_folder, "--dataset", "basicmotions", "--target", target,
                 "--tflm", str(TFLM_TREE), "--all", "--json"])
    r = json.loads(capsys.readouterr().out)
    t = r["target"]
    assert code == (0 if r["status"] == "passed" else 1) and t["status"] == "passed"
    assert t["windows"] == 40 and t["parity"]["max_lsb"] <= 1 and "accuracy" in t
    # The arena on the 32-bit target is what the memory model priced (the search's peak memory).
    assert t["arena"]["head_bytes"] == deployed.report["memory"]["board_arena_head_bytes"]
    assert t["arena"]["head_bytes"] == deployed.report["search"]["peak_memory_bytes"]
    assert t["flash"]["model_bytes"] == len(deployed.model)


def test_export_with_a_target_records_it_in_model_json_and_the_row(capsys, trained_run, tmp_path,
                                                                   lut_folder, monkeypatch):
    if _target_missing():
        pytest.skip(_target_missing())
    from orchestrator.cli import main
    from search_core import DeploymentReport
    from _target import TFLM_TREE

    monkeypatch.delenv("MICRONAS_TFLM", raising=False)
    run = _copy_run(trained_run, tmp_path / "run")
    assert main(["export", "--run", str(run), "--ptq", "--target", "qemu-m33",
                 "--no-progress"]) == 2          # no tree: one line, before any quantisation
    assert "no TFLite-Micro tree given" in capsys.readouterr().err and _no_bundle(run)
    code = main(["export", "--run", str(run), "--lut", lut_folder, "--ptq", "--target", "qemu-m33",
                 "--tflm", str(TFLM_TREE), "--target-windows", "16", "--no-progress", "--json"])
    r = json.loads(capsys.readouterr().out)
    assert code == (0 if r["status"] == "passed" else 1)
    t = json.loads((run / "model.json").read_text())["target"]
    assert t["name"] == "qemu-m33" and t["windows"] == 16 and t["status"] == "passed"
    assert t["arena"]["expected_head"] == "the search's peak memory"
    row = DeploymentReport.from_report(r).to_row()
    assert row["target"] == "qemu-m33" and row["target_max_lsb"] <= 1
    assert row["target_arena_head_bytes"] == r["memory"]["board_arena_head_bytes"]
    assert row["target_emulator_ticks_per_invoke"] > 0 and row["target_flash_bytes"] > len(
        (run / "model.tflite").read_bytes())


# --------------------------------------------------------------------------------------------
# a tiny network: TFLM plans with scratch borrowed from the free arena
# --------------------------------------------------------------------------------------------
def test_a_tiny_network_gets_the_arena_tflm_needs_to_plan_it():
    """The smallest network of a small space: its head is smaller than TFLM's planner scratch,
    so an arena of exactly the bytes TFLM reports used fails ("Too many buffers"; seen on a
    64 x 6 UCI-HAR front end). The deployment runs TFLM in, and firmware reserves, the least
    arena it allocates in."""
    import torch
    from _synthetic import tiny_dataset
    from lut_store.tflm import tflm_arena
    from search_core import SearchSpace
    from search_core.deploy import DeployConfig, deploy
    from search_core.supernet import Network
    from tflite_micro import runtime

    data = tiny_dataset()
    arch = SearchSpace(data.window, data.n_channels, data.n_classes).smallest()
    torch.manual_seed(0)
    dep = deploy(arch, Network(arch, batch_norm=False).eval(), data,
                 config=DeployConfig(qat_epochs=0, calibration_windows=16, max_accuracy_drop=100))
    memory = dep.report["memory"]
    found = tflm_arena(dep.model)
    assert found["needed"] > found["total"] == memory["tflm_arena_total_bytes"]
    with pytest.raises(Exception):
        runtime.Interpreter.from_bytes(dep.model, arena_size=found["total"])
    assert memory["tflm_arena_needed_bytes"] == found["needed"]
    assert memory["arena_size_bytes"] >= found["needed"] and dep.report["status"] == "passed"
