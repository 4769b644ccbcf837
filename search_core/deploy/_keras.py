"""Architecture → Keras model → full-int8 .tflite, with exactly the ops `Architecture.ops()` prices.

The TFLite converter orders operators that are ready at the same time by layer name, not by the
Keras call order; naming every layer after its op index keeps the exported order (and with it the
liveness, hence the memory the search priced) identical to `Architecture.ops()`.
"""

from __future__ import annotations

import os
from typing import Iterable

import numpy as np

from ..architecture import Architecture


def _tf():
    # QAT needs the legacy Keras; it must be selected before TensorFlow is first imported.
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf
    import tf_keras
    return tf, tf_keras


def build_keras(arch: Architecture, network=None):
    """The deployed graph of `arch`; with `network` (a search_core Network) its float weights."""
    _, keras = _tf()
    layers = keras.layers
    inp = keras.Input(shape=(arch.input_steps, arch.input_channels, 1), batch_size=1, name="input")
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
    `representative` windows of shape (T, S) or (T, S, 1)."""
    tf, _ = _tf()
    samples = np.asarray(representative, dtype=np.float32)
    if samples.ndim == 3:
        samples = samples[..., None]

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
