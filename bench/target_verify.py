"""The on-target acceptance run: random architectures of the UCI-HAR space (128 x 9, 6 classes),
converted to int8 as deployment does (random weights, random calibration data, the offline memory
plan embedded), plus any bundles found under a folder, on both emulated cores:

- the share of bit-identical outputs and the max LSB vs the host reference (TFLM's Python
  interpreter, reference kernels) on N windows;
- the arena head on the 32-bit target vs the search's peak memory
  (`search_core.hardware.estimate_memory(arch).peak_bytes`; a bundle: its model.json's, else the
  memory model's board head);
- the arena total and the linked flash (without the test windows) vs the L552's and F446's SRAM
  and flash;
- the time of one `verify --target` of 256 windows once the TFLM library is cached.

    .venv/bin/python bench/target_verify.py [--models 20] [--windows 64] [--bundles DIR]
        [--max-bundles 4] [--tflm ../shared/tflm/tree] [--cores qemu-m4 qemu-m33]

Emulator ticks are QEMU instruction counts (virtual clock under -icount), not board cycles.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
BOARDS = ("nucleo-l552ze-q", "nucleo-f446re")


def _features(arch) -> str:
    """w<widths> b<branches per SF cell> s<skipped cells> r<residual cells>: what the draw covers."""
    widths = "/".join(str(c.width) for c in arch.tr_cells)
    live = [c for c in arch.sf_cells if not c.skip]
    branches = "".join(str(sum(c.branches)) for c in live)
    skips = sum(c.skip for c in arch.sf_cells)
    residual = sum(c.residual for c in live)
    return f"tr{widths} sf{'/'.join(str(c.width) for c in live)} b{branches} s{skips} r{residual}"


def _spread_logits(keras_model, calib: np.ndarray) -> None:
    """Rescale and centre the classifier conv (linear, followed by MEAN) so that the logits vary
    with std 2 around 0 over the calibration windows: a randomly initialised network's softmax
    is otherwise nearly uniform, its int8 outputs almost constant, and bit-identity trivial."""
    from search_core.deploy._keras import _tf

    _, keras = _tf()
    cls = next(layer for layer in keras_model.layers if layer.name.endswith("_classifier"))
    mean = next(layer for layer in keras_model.layers if layer.name.endswith("_mean"))
    logits = keras.Model(keras_model.input, mean.output).predict(calib[..., None], verbose=0)
    logits = logits.reshape(len(calib), -1)
    scale = 2.0 / max(float(logits.std(axis=0).mean()), 1e-12)
    kernel, bias = cls.get_weights()
    cls.set_weights([kernel * scale, (bias - logits.mean(axis=0)) * scale])


def random_models(n: int, calibration: int, windows: int, seed: int):
    """(name, planned int8 model, int8 windows, search peak bytes, features) of n random UCI-HAR
    architectures: `SearchSpace(128, 9, 6).random(i)`, odd i with `per_choice` (skips); random
    weights with spread logits, random normal calibration and test windows (quantised as
    firmware does)."""
    from lut_store.memory import with_offline_plan
    from search_core.deploy import build_keras, quantize_input, to_int8_tflite
    from search_core.hardware import estimate_memory
    from search_core.space import SearchSpace

    space = SearchSpace(128, 9, 6)
    rng = np.random.default_rng(seed)
    for i in range(n):
        # Odd draws choose every option on its own (as a uniform relaxation's argmax does): about
        # half their normal cells are skipped, which the uniform draw over networks rarely does.
        arch = space.random(i, per_choice=bool(i % 2))
        calib = rng.normal(size=(calibration, 128, 9)).astype(np.float32)
        net = build_keras(arch)
        _spread_logits(net, calib)
        model = with_offline_plan(to_int8_tflite(net, calib), f"arch{i}")
        _, q = _io(model)
        x = quantize_input(rng.normal(size=(windows, 128, 9)), *q)[:, None, :, :, None]
        yield (f"arch{i:02d}", model, x, estimate_memory(arch).peak_bytes, _features(arch))


def _io(model: bytes):
    from search_core.deploy._runtime import io_spec
    io = io_spec(model)
    return io, (io.input_scale, io.input_zero_point)


def bundles(folder: Path, limit: int, windows: int, seed: int):
    """(name, model, seeded random int8 windows, the search's peak or None, "bundle")."""
    from lut_store import InputError
    from lut_store.target import random_windows
    from lut_store.tflite import int8_io, read_model

    found = 0
    for path in sorted(folder.rglob("model.tflite")):
        if found == limit:
            return
        try:
            int8_io(read_model(path.read_bytes(), str(path)), str(path))
        except InputError as exc:
            print(f"skipped: {exc}", flush=True)
            continue
        found += 1
        manifest = path.with_name("model.json")
        peak = None
        if manifest.is_file():
            peak = json.loads(manifest.read_text()).get("search", {}).get("peak_memory_bytes")
        model = path.read_bytes()
        yield (str(path.relative_to(folder).parent), model,
               random_windows(model, windows, seed=seed), peak, "bundle")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", type=int, default=20)
    ap.add_argument("--windows", type=int, default=64, help="windows per model and core")
    ap.add_argument("--bundles", type=Path, help="a folder to search for bundles' model.tflite")
    ap.add_argument("--max-bundles", type=int, default=4)
    ap.add_argument("--calibration", type=int, default=64)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--tflm", default=os.environ.get("MICRONAS_TFLM",
                                                     str(ROOT.parent / "shared/tflm/tree")))
    ap.add_argument("--cores", nargs="+", default=["qemu-m4", "qemu-m33"])
    args = ap.parse_args(argv)

    from lut_store import load_mcu
    from search_core.deploy import require_target, target_check, verify_on_target

    for core in args.cores:
        require_target(core, args.tflm)
    boards = [load_mcu(b) for b in BOARDS]
    models = list(random_models(args.models, args.calibration, args.windows, args.seed))
    if args.bundles is not None:
        models += list(bundles(args.bundles, args.max_bundles, args.windows, args.seed))
    head = (f"{'model':<20} {'core':<8} {'win':>4} {'dist':>4} {'bitid%':>6} {'maxLSB':>6} {'head':>7} "
            f"{'peak':>7} {'h=p':>3} {'total':>7} {'flash':>7} "
            + " ".join(f"{b.name.split('-')[1][:4]:>9}" for b in boards)
            + f" {'emu-ticks':>9}  features")
    print(f"{len(models)} models x {len(args.cores)} cores, {args.windows} random windows each; "
          f"distinct = distinct output vectors (the comparison is not trivial); fits = SRAM/flash "
          f"(arena total / linked image without the windows); emu-ticks = emulator ticks per "
          f"invoke (QEMU instruction counts, not board cycles)")
    print(head)
    failures = 0
    t_start = time.monotonic()
    for name, model, inputs, peak, features in models:
        for core in args.cores:
            t = target_check(model, inputs, core, tflm=args.tflm, expected_head=peak,
                             expected_head_what="the search's peak memory" if peak is not None
                             else "", source=name)
            p, a, f = t["parity"], t["arena"], t["flash"]
            fits = " ".join(
                f"{'ok' if a['total_bytes'] <= b.sram_bytes else 'NO':>4}/"
                f"{'ok' if f['image_without_windows_bytes'] <= b.flash_bytes else 'NO':<4}"
                for b in boards)
            failures += bool(t["failures"])
            print(f"{name[:20]:<20} {core:<8} {t['windows']:>4} {p['distinct_outputs']:>4} "
                  f"{100 * p['bit_identical_share']:>6.1f} {p['max_lsb']:>6} {a['head_bytes']:>7} "
                  f"{a['expected_head_bytes']:>7} {'==' if a['head_equals_expected'] else '!=':>3} "
                  f"{a['total_bytes']:>7} {f['image_without_windows_bytes']:>7} {fits} "
                  f"{t['emulator_ticks']['per_invoke_emulator_median']:>9.0f}  {features}",
                  flush=True)
    print(f"{failures} of {len(models) * len(args.cores)} runs missed the gate "
          f"(max LSB <= 1 vs the host reference, head == the search's peak memory); "
          f"{time.monotonic() - t_start:.0f} s")
    name, model = models[0][:2]
    for core in args.cores:
        verify_on_target(model, core, tflm=args.tflm, windows=8)      # the runner objects cached
        t0 = time.monotonic()
        r = verify_on_target(model, core, tflm=args.tflm, windows=256, source=name)
        print(f"one verify of 256 windows on {core} ({name}, library cached): "
              f"{time.monotonic() - t0:.1f} s (runner build {r['seconds']['build']:.1f} s, "
              f"QEMU {r['seconds']['run']:.1f} s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
