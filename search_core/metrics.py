"""How well a network classifies: accuracy, macro-F1 and the confusion matrix of its predictions
(the figures every result, deployment report and results row carries)."""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["predict", "scores", "validation_scores"]


def scores(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> dict:
    """Accuracy, macro-F1 and the confusion matrix (rows: true class)."""
    cm = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(cm, (y_true, y_pred), 1)
    tp = np.diag(cm).astype(float)
    precision = np.divide(tp, cm.sum(0), out=np.zeros_like(tp), where=cm.sum(0) > 0)
    recall = np.divide(tp, cm.sum(1), out=np.zeros_like(tp), where=cm.sum(1) > 0)
    f1 = np.divide(2 * precision * recall, precision + recall, out=np.zeros_like(tp),
                   where=(precision + recall) > 0)
    present = cm.sum(1) > 0
    return {"accuracy": float(tp.sum() / max(cm.sum(), 1)),
            "macro_f1": float(f1[present].mean()) if present.any() else 0.0,
            "confusion": cm.tolist()}


def _device_of(model: torch.nn.Module) -> torch.device:
    return next(model.parameters(), torch.zeros(())).device


@torch.no_grad()
def predict(model: torch.nn.Module, x: np.ndarray, batch: int = 512) -> np.ndarray:
    model.eval()
    dev = _device_of(model)
    out = [model(torch.from_numpy(x[i:i + batch]).to(dev)).argmax(1).cpu().numpy()
           for i in range(0, len(x), batch)]
    return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)


@torch.no_grad()
def validation_scores(model: torch.nn.Module, data, batch: int = 512) -> dict:
    """The candidate objectives of a trained network on the validation split: accuracy,
    macro-F1 and the negative log-loss (mean log-likelihood of the true class). Accuracy on a
    few hundred windows of a few subjects takes few distinct values, so trials tie on it; the
    log-loss is continuous (docs/BENCHMARKS.md compares how well each ranks the trials)."""
    x, y = data.x_val, data.y_val
    if len(y) == 0:
        return {"accuracy": 0.0, "macro_f1": 0.0, "neg_log_loss": 0.0}
    model.eval()
    dev = _device_of(model)
    logits = torch.cat([model(torch.from_numpy(x[i:i + batch]).to(dev)).cpu()
                        for i in range(0, len(x), batch)])
    log_p = torch.log_softmax(logits.double(), 1)
    nll = float(-log_p[torch.arange(len(y)), torch.from_numpy(y)].mean())
    got = scores(y, logits.argmax(1).numpy(), logits.shape[1])
    return {"accuracy": got["accuracy"], "macro_f1": got["macro_f1"], "neg_log_loss": -nll}
