"""Architecture → Keras model → full-int8 .tflite, with exactly the ops `Architecture.ops()` prices.

The TFLite converter orders operators that are ready at the same time by layer name, not by the
Keras call order; naming every layer after its op index keeps the exported order (and with it the
liveness, hence the memory the search priced) identical to `Architecture.ops()`.
"""

from __future__ import annotations

import os
from typing import Iterable

import numpy as np

from lut_store import InputError

from ..architecture import Architecture

_TF_NEEDED = ("the deploy stage needs TensorFlow: pip install tensorflow==2.21.0 tf-keras==2.21.0 "
              "tensorflow-model-optimization==0.8.1")


def _tf():
    """(tensorflow, tf_keras), imported on first use; InputError when they are not installed."""
    # QAT needs the legacy Keras; it must be selected before TensorFlow is first imported.
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    try:
        import tensorflow as tf
        import tf_keras
    except ImportError as exc:
        raise InputError(f"{_TF_NEEDED} ({_missing(exc)})") from None
    return tf, tf_keras


def _tfmot():
    _tf()
    try:
        import tensorflow_model_optimization as tfmot
    except ImportError as exc:
        raise InputError(f"{_TF_NEEDED} ({_missing(exc)})") from None
    return tfmot


def _missing(exc: ImportError) -> str:
    return f"cannot import {exc.name}" if exc.name else str(exc).splitlines()[0]


def build_keras(arch: Architecture, network=None, *, batch_size: int | None = 1,
                dropout: float = 0.0):
    """The deployed graph of `arch`; with `network` (a search_core Network) its float weights.

    `batch_size=None` gives a model that trains on batches; `dropout` > 0 adds dropout after the
    Time-Reduce convs (as the float retraining does). Both are for training only: the exported
    model is built with the defaults."""
    _, keras = _tf()
    layers = keras.layers
    inp = keras.Input(shape=(arch.input_steps, arch.input_channels, 1), batch_size=batch_size,
                      name="input")
    tensors = {0: inp}
    convs = []
    for op in arch.ops():
        c, name = op.config, f"op{op.index:03d}_{op.name.replace('.', '_')}"
        args = [tensors[i] for i in op.inputs]
        if c.op == "CONV_2D":
            layer = layers.Conv2D(c.output_shape[-1], c.kernel, strides=c.stride, padding="same",
                                  activation="relu" if c.activation == "relu" else None,
                                  name=name)
            convs.append((layer, op.name))
            y = layer(args[0])
            if dropout > 0 and op.name.startswith("tr"):
                y = layers.Dropout(dropout, name=f"{name}_dropout")(y)
        elif c.op == "ADD":
            y = layers.Add(name=name)(args)
        elif c.op == "MEAN":
            y = layers.GlobalAveragePooling2D(name=name)(args[0])
        elif c.op == "SOFTMAX":
            y = layers.Softmax(name=name)(args[0])
        else:  # pragma: no cover - the space emits no other ops
            raise NotImplementedError(c.op)
        tensors[op.output] = y
    model = keras.Model(inp, tensors[arch.ops()[-1].output])
    if network is not None:
        for layer, op_name in convs:
            conv = network.conv(op_name).conv
            w = conv.weight.detach().numpy().transpose(2, 3, 1, 0)  # OIHW -> HWIO
            layer.set_weights([w, conv.bias.detach().numpy()])
    return model


def to_int8_tflite(model, representative: Iterable[np.ndarray] | np.ndarray) -> bytes:
    """Full-integer conversion: int8 builtins, int8 input and output, calibrated on
    `representative` windows of shape (T, S) or (T, S, 1). Works for float models (post-training
    quantisation) and for QAT models (the fake-quant ranges are kept)."""
    tf, _ = _tf()
    samples = np.asarray(representative, dtype=np.float32)
    if samples.ndim == 3:
        samples = samples[..., None]
    if samples.ndim != 4 or not len(samples):
        raise InputError("int8 conversion needs representative windows of shape (N, T, S), "
                         f"got an array of shape {samples.shape}")

    def gen():
        for s in samples:
            yield [s[None]]

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = gen
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    return bytes(converter.convert())
