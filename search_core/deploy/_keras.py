"""Architecture → Keras model → full-int8 .tflite, with exactly the ops `Architecture.ops()` prices.

The TFLite converter orders operators that are ready at the same time by layer name, not by the
Keras call order; naming every layer after its op index keeps the exported order (and with it the
liveness, hence the memory the search priced) identical to `Architecture.ops()`.
"""

from __future__ import annotations

import os
import warnings
from typing import Iterable

import numpy as np

from lut_store import TFLITE_MODEL_NAME, InputError

from .._versions import pip_install
from ..architecture import Architecture

_TF_NEEDED = "the deploy stage needs TensorFlow: " + pip_install(
    "tensorflow", "tf-keras", "tensorflow-model-optimization")   # at pyproject.toml's pins


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
        c, name = op.config, op.layer
        args = [tensors[i] for i in op.inputs]
        layer = _op_layer(layers, c, name)
        if c.op == "CONV_2D":
            convs.append((layer, op.name))
        y = layer(args if c.op == "ADD" else args[0])
        if c.op == "CONV_2D" and dropout > 0 and op.name.startswith("tr"):
            y = layers.Dropout(dropout, name=f"{name}_dropout")(y)
        tensors[op.output] = y
    # A fixed name: the converter prefixes every tensor name with it, so an auto-generated one
    # ("model_12" after a dozen models in one process) would change the flatbuffer's size
    # (lut_store's flash price counts these bytes).
    model = keras.Model(inp, tensors[arch.ops()[-1].output], name=TFLITE_MODEL_NAME)
    if network is not None:
        for layer, op_name in convs:
            conv = network.conv(op_name).conv
            w = conv.weight.detach().numpy().transpose(2, 3, 1, 0)  # OIHW -> HWIO
            layer.set_weights([w, conv.bias.detach().numpy()])
    return model


def _op_layer(layers, c, name: str):
    """The Keras layer of one priced op (an `OpConfig`): one place for deployment and profiling."""
    if c.op == "CONV_2D":
        return layers.Conv2D(c.output_shape[-1], c.kernel, strides=c.stride, padding="same",
                             activation="relu" if c.activation == "relu" else None, name=name)
    if c.op == "ADD":
        return layers.Add(name=name)
    if c.op == "MEAN":
        return layers.GlobalAveragePooling2D(name=name)
    if c.op == "SOFTMAX":
        return layers.Softmax(name=name)
    raise InputError(f"{c.op}: not an op of the search space (CONV_2D, ADD, MEAN, SOFTMAX)")


def build_op_keras(config):
    """A single-layer model of one LUT configuration (`lut_store.OpConfig`), built by the layer
    code the deployed graphs use, so its .tflite has exactly that LUT key. ADD adds its one
    input to itself: the runner feeds one input, and the kernel's work is the same."""
    _, keras = _tf()
    in_shape = tuple(int(d) for d in config.input_shape)
    if in_shape[0] != 1:
        raise InputError(f"{config.op} {list(in_shape)}: single-layer models have batch 1")
    inp = keras.Input(shape=in_shape[1:], batch_size=1, name="input")
    layer = _op_layer(keras.layers, config, "op000")
    return keras.Model(inp, layer([inp, inp] if config.op == "ADD" else inp))


def to_int8_tflite(model, representative: Iterable[np.ndarray] | np.ndarray) -> bytes:
    """Full-integer conversion: int8 builtins, int8 input and output, calibrated on
    `representative` windows of shape (T, S) or (T, S, 1). Works for float models (post-training
    quantisation) and for QAT models (the fake-quant ranges are kept)."""
    _tf()
    samples = np.asarray(representative, dtype=np.float32)
    if samples.ndim == 3:
        samples = samples[..., None]
    if samples.ndim != 4 or not len(samples):
        raise InputError("int8 conversion needs representative windows of shape (N, T, S), "
                         f"got an array of shape {samples.shape}")
    return _convert(model, samples)


def _convert(model, samples: np.ndarray) -> bytes:
    tf, _ = _tf()

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


def op_model_tflite(config, seed: int = 0) -> bytes:
    """The full-int8 .tflite of one LUT configuration (what `micronas profile` measures): the
    single-layer model of `build_op_keras`, seeded weights, converted like a deployment, and
    checked to hold exactly one operator whose LUT key is `config`'s."""
    from lut_store import op_configs
    from lut_store.tflite import read_model

    _, keras = _tf()
    keras.utils.set_random_seed(seed)
    model = build_op_keras(config)
    rng = np.random.default_rng(seed)
    samples = rng.normal(size=(16, *config.input_shape[1:])).astype(np.float32)
    with warnings.catch_warnings():
        # "Statistics for quantized inputs were expected": random weights, nothing to calibrate.
        warnings.simplefilter("ignore", UserWarning)
        data = _convert(model, samples)
    got = op_configs(read_model(data, "<single-layer model>"))
    if got != [config]:
        raise InputError(f"{config.op} {config.to_dict()}: the single-layer model converts to "
                         f"{[c.to_dict() for c in got]}, not to exactly this op")
    return data
