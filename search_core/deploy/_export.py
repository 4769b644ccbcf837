"""A finished search folder → `model.tflite` by post-training full-int8 quantisation of the
retrained float weights: the quick export, without QAT, checks or bundle (see `deploy_run` for
the full stage)."""

from __future__ import annotations

import json
from pathlib import Path

from lut_store.storage import write_file

from ._keras import build_keras, to_int8_tflite


def export_run(run_dir: str | Path, representative, out: str | Path | None = None) -> Path:
    """Write the int8 model of the search in `run_dir` (architecture.json + weights.pt)."""
    from ..run import RunFolder
    from ._bundle import MODEL_FILE

    folder = RunFolder(run_dir)
    arch, network, _ = folder.read(need_result=False)
    data = to_int8_tflite(build_keras(arch, network), representative)
    out = Path(out) if out is not None else folder.path / MODEL_FILE
    write_file(out, data)
    write_file(folder.path / RunFolder.EXPORT, (json.dumps(
        {"model": out.name, "bytes": len(data), "quantisation": "post-training int8"}) + "\n").encode())
    return out
