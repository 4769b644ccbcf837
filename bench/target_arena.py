"""The arena on the emulated cores vs. the host interpreter, and the scratch CMSIS-NN really asks for.

For small int8 models covering MicroNAS's ops (CONV_2D with (k,1) and (1,W) kernels, strides (2,1)
and (1,2), 'same' and 'valid', 1- and multi-channel inputs, ADD, MEAN, SOFTMAX) it prints, per
model: the arena head of TFLM's Python interpreter (reference kernels, 64-bit host), the head and
tail measured by the runner firmware on QEMU's Cortex-M4F and Cortex-M33 (CMSIS-NN kernels), the
memory model's predictions (`lut_store.memory.arena_head_bytes` for both kernel sets), and every
scratch request the firmware's kernels made in Prepare (traced through RequestScratchBufferInArena).

    .venv/bin/python bench/target_arena.py [--tflm ../shared/tflm/tree] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _models():
    import tensorflow as tf  # noqa: F401
    import tf_keras as k

    L = k.layers

    def single(shape, layer):
        inp = k.Input(shape=shape)
        return k.Model(inp, layer(inp))

    def add(shape):
        inp = k.Input(shape=shape)
        a = L.Conv2D(8, (3, 1), padding="same", activation="relu")(inp)
        b = L.Conv2D(8, (5, 1), padding="same", activation="relu")(inp)
        return k.Model(inp, L.Add()([a, b]))

    def head(shape):
        inp = k.Input(shape=shape)
        return k.Model(inp, L.Softmax()(L.Dense(6)(L.GlobalAveragePooling2D()(inp))))

    conv = L.Conv2D
    return [
        ("conv k5x1 s2x1 same c1", (64, 9, 1), lambda s: single(s, conv(8, (5, 1), (2, 1), "same"))),
        ("conv k5x1 s2x1 valid c1", (64, 9, 1), lambda s: single(s, conv(8, (5, 1), (2, 1), "valid"))),
        ("conv k1x9 valid c1", (64, 9, 1), lambda s: single(s, conv(16, (1, 9), padding="valid"))),
        ("conv k1x3 s1x2 same c1", (64, 9, 1), lambda s: single(s, conv(8, (1, 3), (1, 2), "same"))),
        ("conv k5x1 s2x1 same c8", (64, 9, 8), lambda s: single(s, conv(8, (5, 1), (2, 1), "same"))),
        ("conv k3x1 s1x2 valid c4", (64, 9, 4), lambda s: single(s, conv(8, (3, 1), (1, 2), "valid"))),
        ("conv k1x9 valid c16", (32, 9, 16), lambda s: single(s, conv(24, (1, 9), padding="valid"))),
        ("conv k9x1 same c32", (32, 1, 32), lambda s: single(s, conv(32, (9, 1), padding="same"))),
        ("conv 1x1 c8", (64, 9, 8), lambda s: single(s, conv(16, (1, 1)))),
        ("add of two convs c1", (64, 9, 1), add),
        ("mean+fc+softmax c16", (16, 1, 16), head),
    ]


def _convert(model, shape) -> bytes:
    from search_core.deploy import to_int8_tflite   # the deployment's own full-int8 conversion

    return to_int8_tflite(model, np.random.default_rng(0).normal(size=(16, *shape)).astype(np.float32))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tflm", default=os.environ.get("MICRONAS_TFLM",
                                                     str(ROOT.parent / "shared/tflm/tree")))
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--extra", nargs="*", default=[], help=".tflite files to add to the survey")
    args = ap.parse_args(argv)

    from lut_store.memory import CMSIS_NN, REFERENCE, arena_head_bytes
    from lut_store.target import run_model
    from lut_store.tflite import read_model
    from lut_store.tflm import tflm_arena

    models = [(name, _convert(build(shape), shape)) for name, shape, build in _models()]
    models += [(Path(p).stem, Path(p).read_bytes()) for p in args.extra]
    rows = []
    for name, data in models:
        host = tflm_arena(data)
        row = {"model": name, "ops": [op.op for op in read_model(data).operators],
               "host_head": host["head"], "host_tail": host["tail"],
               "model_head_reference": arena_head_bytes(data, kernels=REFERENCE),
               "model_head_cmsis_nn": arena_head_bytes(data, kernels=CMSIS_NN)}
        for target in ("qemu-m4", "qemu-m33"):
            run = run_model(data, None, target, tflm=args.tflm, windows=1)
            row[f"{target}_head"] = run.arena["head"]
            row[f"{target}_tail"] = run.arena["tail"]
            row[f"{target}_scratch"] = [(s["node"], s["op"], s["bytes"]) for s in run.scratch]
        rows.append(row)
        if not args.json:
            print(f"{name:26s} host head {row['host_head']:6d} | m4 head {row['qemu-m4_head']:6d} "
                  f"tail {row['qemu-m4_tail']:5d} | m33 head {row['qemu-m33_head']:6d} "
                  f"tail {row['qemu-m33_tail']:5d} | model ref {row['model_head_reference']:6d} "
                  f"cmsis {row['model_head_cmsis_nn']:6d} | scratch m4 {row['qemu-m4_scratch']}"
                  + ("" if row["qemu-m4_scratch"] == row["qemu-m33_scratch"]
                     else f" m33 {row['qemu-m33_scratch']}"), flush=True)
    if args.json:
        print(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
