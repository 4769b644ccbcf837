"""A finished search folder → `model.tflite` (post-training full-int8 quantisation of the
retrained float weights). Quantisation-aware retraining comes on top of this."""

from __future__ import annotations

import json
from pathlib import Path

from lut_store import InputError

from ..architecture import Architecture
from ._keras import build_keras, to_int8_tflite


def export_run(run_dir: str | Path, representative, out: str | Path | None = None) -> Path:
    """Write the int8 model of the search in `run_dir` (architecture.json + weights.pt)."""
    import torch

    from ..supernet import Network

    run_dir = Path(run_dir)
    arch_file, weights = run_dir / "architecture.json", run_dir / "weights.pt"
    if not arch_file.is_file() or not weights.is_file():
        raise InputError(f"{run_dir}: not a finished search (architecture.json and weights.pt needed)")
    arch = Architecture.from_json(arch_file.read_text(), source=str(arch_file))
    network = Network(arch)
    try:  # weights_only: a state dict of tensors, never arbitrary pickled objects
        network.load_state_dict(torch.load(weights, weights_only=True))
    except Exception as exc:  # noqa: BLE001
        raise InputError(f"{weights}: not the weights of {arch_file.name} ({str(exc)[:120]})") from None
    network.eval()
    data = to_int8_tflite(build_keras(arch, network), representative)
    out = Path(out) if out is not None else run_dir / "model.tflite"
    tmp = out.with_suffix(".tflite.tmp")
    tmp.write_bytes(data)
    tmp.replace(out)
    (run_dir / "export.json").write_text(json.dumps({"model": out.name, "bytes": len(data),
                                                     "quantisation": "post-training int8"}) + "\n")
    return out
