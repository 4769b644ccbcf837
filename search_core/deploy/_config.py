"""`DeployConfig`: how the deployment stage quantises and what it demands of the result. Its fields
are the one source of the spec's `deploy:` keys and of the deployment flags of the CLI."""

from __future__ import annotations

import math
from dataclasses import dataclass

from lut_store import InputError

__all__ = ["DeployConfig", "PTQ", "QAT"]

QAT, PTQ = "qat", "ptq"      # quantisation-aware training; post-training quantisation


@dataclass(frozen=True)
class DeployConfig:
    """How the stage quantises and what it demands of the result."""

    quantisation: str = QAT          # "qat" (falls back to "ptq" if its graph is not the priced one)
    qat_epochs: int = 4              # fine-tuning from the float weights: a few epochs suffice
    qat_patience: int = 2            # early stop: epochs without a better validation accuracy
    qat_lr: float = 1e-4
    batch_size: int = 32
    dropout: float = 0.3
    calibration_windows: int = 256   # training windows for the converter's representative data
    max_lsb: int = 1                 # parity gate: TFLM vs LiteRT-reference, in output LSB
    max_accuracy_drop: float = 1.5   # percentage points, int8 (TFLM) below float (PyTorch)
    latency_tolerance_ms: float = 0.1
    arena_size: int | None = None    # check in an arena of exactly this size (default: measured)
    seed: int = 0

    def __post_init__(self):
        if self.quantisation not in (QAT, PTQ):
            raise InputError(f"deploy config: quantisation must be 'qat' or 'ptq', got {self.quantisation!r}")
        for name in ("qat_epochs", "max_lsb"):
            if getattr(self, name) < 0:
                raise InputError(f"deploy config: {name} must be >= 0, got {getattr(self, name)}")
        for name in ("qat_patience", "batch_size", "calibration_windows"):
            if getattr(self, name) < 1:
                raise InputError(f"deploy config: {name} must be >= 1, got {getattr(self, name)}")
        for name in ("qat_lr", "max_accuracy_drop", "latency_tolerance_ms"):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0 or (name == "qat_lr" and value == 0):
                raise InputError(f"deploy config: {name} must be a positive number, got {value}")
        if not 0 <= self.dropout < 1:
            raise InputError(f"deploy config: dropout must be in [0, 1), got {self.dropout}")
        if self.arena_size is not None and self.arena_size < 1:
            raise InputError(f"deploy config: arena_size must be positive, got {self.arena_size}")
