"""What the on-target path costs: the TFLM + CMSIS-NN library built once (cold, into a temporary
cache), then one run of 256 windows per emulated core (runner build + QEMU), and a second run with
everything cached.

    .venv/bin/python bench/target.py [--tflm ../shared/tflm/tree] [--model FILE] [--windows 256]
                                     [--cores qemu-m4 qemu-m33] [--jobs 2]

Without --model it converts a small MicroNAS-style int8 model (tests/lut_store/_tf_models.py,
"linear": 4 CONV_2D, MEAN, FULLY_CONNECTED, SOFTMAX on 128 x 9 windows; needs TensorFlow).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _default_model() -> bytes:
    sys.path.insert(0, str(ROOT / "tests" / "lut_store"))
    import _tf_models

    spec = next(s for s in _tf_models.MODEL_SPECS if s.name == "linear")
    return _tf_models.build_tflite(spec)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tflm", default=os.environ.get("MICRONAS_TFLM",
                                                     str(ROOT.parent / "shared/tflm/tree")))
    ap.add_argument("--model", type=Path)
    ap.add_argument("--windows", type=int, default=256)
    ap.add_argument("--cores", nargs="+", default=["qemu-m4", "qemu-m33"])
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args(argv)

    from lut_store.target import random_windows, run_model

    data = args.model.read_bytes() if args.model else _default_model()
    windows = random_windows(data, args.windows, seed=0)
    print(f"model: {len(data)} bytes, {args.windows} windows, jobs={args.jobs}", flush=True)
    with tempfile.TemporaryDirectory(prefix="micronas-bench-cache-") as cache:
        for core in args.cores:
            t0 = time.monotonic()
            cold = run_model(data, windows, core, tflm=args.tflm, cache=cache, jobs=args.jobs)
            total_cold = time.monotonic() - t0
            t0 = time.monotonic()
            warm = run_model(data, windows, core, tflm=args.tflm, cache=cache, jobs=args.jobs)
            total_warm = time.monotonic() - t0
            ticks = warm.emulator_ticks
            print(f"{core}: library build (cold) {cold.library_seconds:6.1f} s | first run "
                  f"{total_cold - cold.library_seconds:5.1f} s (runner build {cold.build_seconds:.1f}"
                  f" s, QEMU {cold.run_seconds:.1f} s) | cached run {total_warm:5.1f} s (runner "
                  f"build {warm.build_seconds:.1f} s, QEMU {warm.run_seconds:.1f} s for "
                  f"{len(ticks)} windows)", flush=True)
            print(f"    arena head {warm.arena['head']} B, tail {warm.arena['tail']} B, total "
                  f"{warm.arena['total']} B; flash {warm.flash['total']} B (model "
                  f"{warm.flash['model']}, windows {warm.flash['windows']}, runtime "
                  f"{warm.flash['runtime']}); emulator ticks per invoke: median "
                  f"{int(sorted(ticks)[len(ticks) // 2])} ({warm.timer})", flush=True)
            assert (cold.outputs == warm.outputs).all() and (cold.emulator_ticks == ticks).all()
    return 0


if __name__ == "__main__":
    sys.exit(main())
