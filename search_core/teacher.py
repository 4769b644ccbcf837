"""The distillation teacher of a data set and split: the widest network of the search space
(no budget), trained once with the retraining recipe, its soft labels on the training windows
cached by the data's content hash — every search of a sweep on the same data reuses them.

    teacher = teacher_for(data, config)            # trains on a miss (minutes), else reads
    teacher.logits, teacher.test_accuracy, teacher.seconds

The cache entry is one .npz (logits, and the teacher's figures as JSON text): read with
`allow_pickle=False`, so a cache folder shared with others can never run code. It lives under
`url` (a sweep passes its store's `teachers/` folder, local or s3://), else the user's cache
(`lut_store.cache_dir("teachers")`).
"""

from __future__ import annotations

import hashlib
import io
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from lut_store import InputError, cache_dir, storage

from ._config import SearchConfig
from .architecture import (BRANCH_KERNELS, SF_BOTTLENECKS, SF_WIDTHS, TR_KERNELS, TR_WIDTHS,
                           Architecture, SfCell, TrCell, macro_structure)
from .data import Dataset

__all__ = ["Teacher", "teacher_architecture", "teacher_for"]

# Bump when the teacher's network or recipe changes: older cache entries are then not read.
_VERSION = 1
# The teacher's own recipe: the student's levers (augmentation, smoothing, averaging), no
# distillation of its own, and a fixed seed (one teacher per data set and split, whatever the run).
_RECIPE = {"augment": True, "label_smoothing": 0.1, "ema_decay": 0.999, "distill": 0.0,
           "seed": 0, "retrain_select": "last"}
_SF_BOTTLENECK = SF_BOTTLENECKS[3]   # 32: the widest bottleneck costs 2x and taught no better


@dataclass(frozen=True)
class Teacher:
    logits: np.ndarray          # (N_train, K) float32, in the order of data.x_train
    test_accuracy: float
    val_accuracy: float
    seconds: float              # its training time (amortised over every search on the data)
    architecture: dict
    url: str
    cached: bool                # read from the cache (True) or trained now


def teacher_architecture(data: Dataset) -> Architecture:
    """The widest network of the space for `data`: every cell at its widest, every branch on."""
    macro = macro_structure(data.window, data.n_channels, data.n_classes)
    tr = [TrCell(max(TR_KERNELS), max(TR_WIDTHS)) for _ in macro.tr]
    sf = [SfCell(shape.reduce, _SF_BOTTLENECK, (True,) * len(BRANCH_KERNELS), max(SF_WIDTHS), True)
          for shape in macro.sf]
    return Architecture(data.window, data.n_channels, data.n_classes, tr, sf)


def _key(data: Dataset, config: SearchConfig) -> str:
    recipe = {"version": _VERSION, "data": data.content_hash(), "epochs": config.retrain_epochs,
              "lr": config.retrain_lr, "batch_size": config.batch_size, **_RECIPE}
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:20]


def teacher_for(data: Dataset, config: SearchConfig, url: str | None = None,
                progress: Callable[[dict], None] | None = None) -> Teacher:
    """The cached teacher of `data` (trained with `config`'s epochs and learning rate on a miss)."""
    folder = url if url is not None else str(cache_dir("teachers"))
    where = storage.join(folder, f"{data.name}-{_key(data, config)}.npz")
    if storage.exists(where):
        try:
            with np.load(io.BytesIO(storage.read_bytes(where)), allow_pickle=False) as z:
                meta = json.loads(str(z["meta"]))
                logits = z["logits"].astype(np.float32)
        except (OSError, ValueError, KeyError) as exc:
            raise InputError(f"{where}: unreadable teacher cache entry ({exc}); delete it") from None
        if logits.shape != (len(data.y_train), data.n_classes):
            raise InputError(f"{where}: teacher logits of shape {logits.shape} do not fit the "
                             f"data ({len(data.y_train)} windows, {data.n_classes} classes)")
        return Teacher(logits, meta["test_accuracy"], meta["val_accuracy"], meta["seconds"],
                       meta["architecture"], where, True)
    return _train(data, config, where, progress)


def _train(data: Dataset, config: SearchConfig, where: str, progress) -> Teacher:
    import torch

    from ._retrain import retrain
    from .metrics import predict

    start = time.perf_counter()
    arch = teacher_architecture(data)
    trained = retrain(arch, data, replace(config, **_RECIPE), progress)
    net = trained.network.eval()
    with torch.no_grad():
        logits = np.concatenate([net(torch.from_numpy(data.x_train[i:i + 512])).numpy()
                                 for i in range(0, len(data.x_train), 512)]).astype(np.float32)
    test = float((predict(net, data.x_test) == data.y_test).mean())
    meta = {"test_accuracy": test, "val_accuracy": trained.val_accuracy,
            "seconds": time.perf_counter() - start, "architecture": arch.to_dict(),
            "data_hash": data.content_hash(), "version": _VERSION}
    buffer = io.BytesIO()
    np.savez(buffer, logits=logits, meta=np.array(json.dumps(meta)))
    storage.write_file(where, buffer.getvalue())
    return Teacher(logits, test, trained.val_accuracy, meta["seconds"], meta["architecture"],
                   where, False)
