"""`DeployConfig`: how the deployment stage quantises and what it demands of the result. Its fields
are the one source of the spec's `deploy:` keys and of the deployment flags of the CLI; the help
text of each lives with the field (`metadata["help"]`)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from lut_store import InputError

__all__ = ["DeployConfig", "PTQ", "QAT"]

QAT, PTQ = "qat", "ptq"      # quantisation-aware training; post-training quantisation
# The emulated targets the stage can run on (lut_store.target.TARGETS' QEMU machines).
TARGET_CHOICES = ("qemu-m4", "qemu-m33")


def _help(default, text: str):
    return field(default=default, metadata={"help": text})


@dataclass(frozen=True)
class DeployConfig:
    """How the stage quantises and what it demands of the result."""

    # "qat" falls back to "ptq" (recorded) if its graph is not the priced one.
    quantisation: str = field(default=QAT, metadata={
        "help": "quantisation-aware training or post-training quantisation",
        "choices": (QAT, PTQ)})
    # Fine-tuning from the float weights: a few epochs suffice.
    qat_epochs: int = _help(4, "quantisation-aware fine-tuning epochs (early-stopped)")
    qat_patience: int = _help(2, "QAT early stop: epochs without a better validation accuracy")
    qat_lr: float = _help(1e-4, "QAT learning rate")
    qat_min_gain: float = _help(0.25, "points of validation accuracy a fine-tuned QAT epoch must "
                                      "gain over the calibrated model to be kept")
    batch_size: int = _help(32, "QAT batch size")
    # The retraining's dropout (SearchConfig.retrain_dropout): fine-tuning a network trained
    # with 0.1 at 0.3 cost 1-3 points of validation accuracy per QAT epoch on UCI-HAR (e.g.
    # 95.38 -> 92.07 %); at 0.1 the same epochs gained 0.3-0.6 points.
    dropout: float = _help(0.1, "dropout of the Keras model while fine-tuning")
    qat_augment: bool = _help(False, "fine-tune on augmented training windows (the retraining's "
                                     "augmentation, a new draw every epoch)")
    calibration_windows: int = _help(256, "training windows for the int8 calibration (the "
                                          "converter's representative data)")
    max_lsb: int = _help(1, "parity gate: TFLM vs LiteRT-reference outputs, in output LSB")
    max_accuracy_drop: float = _help(1.5, "accuracy gate: int8 (TFLM) at most this many "
                                          "percentage points below float (PyTorch)")
    latency_tolerance_ms: float = _help(0.1, "ms by which the exported graph's LUT latency may "
                                             "differ from the search's before it is reported")
    arena_size: int | None = _help(None, "check the model in a TFLM arena of exactly this size "
                                         "in bytes (none: the size it measures)")
    seed: int = _help(0, "seed of calibration and fine-tuning")
    # Where the TFLM tree is (--tflm / $MICRONAS_TFLM) is a fact of the machine, not of the
    # model: it is not a field, so a sweep's spec and config_json stay the same on every worker.
    target: str | None = field(default=None, metadata={
        "help": "also build the int8 model into TFLite-Micro + CMSIS-NN firmware and run it on "
                "an emulated Cortex-M (QEMU; needs the Arm toolchain and a TFLM tree: --tflm "
                "DIR or $MICRONAS_TFLM)",
        "choices": TARGET_CHOICES})
    target_windows: int = _help(256, "test windows run on the target (the first ones)")

    def __post_init__(self):
        if self.quantisation not in (QAT, PTQ):
            raise InputError(f"deploy config: quantisation must be 'qat' or 'ptq', got {self.quantisation!r}")
        for name in ("qat_epochs", "max_lsb"):
            if getattr(self, name) < 0:
                raise InputError(f"deploy config: {name} must be >= 0, got {getattr(self, name)}")
        for name in ("qat_patience", "batch_size", "calibration_windows", "target_windows"):
            if getattr(self, name) < 1:
                raise InputError(f"deploy config: {name} must be >= 1, got {getattr(self, name)}")
        for name in ("qat_lr", "qat_min_gain", "max_accuracy_drop", "latency_tolerance_ms"):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0 or (name == "qat_lr" and value == 0):
                raise InputError(f"deploy config: {name} must be a positive number, got {value}")
        if not 0 <= self.dropout < 1:
            raise InputError(f"deploy config: dropout must be in [0, 1), got {self.dropout}")
        if self.target is not None and self.target not in TARGET_CHOICES:
            raise InputError(f"deploy config: target must be 'qemu-m4' or 'qemu-m33' (or none), "
                             f"got {self.target!r}")
        if self.arena_size is not None and self.arena_size < 1:
            raise InputError(f"deploy config: arena_size must be positive, got {self.arena_size}")
