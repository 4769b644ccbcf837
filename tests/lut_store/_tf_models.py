"""Small MicroNAS-style Keras models converted to full-int8 .tflite bytes, for the memory tests.

TensorFlow is imported lazily inside the functions, so importing this module is cheap; the legacy
Keras (tf_keras) is selected before TF is first imported because that is what the project's QAT path
uses (see STACK.md).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import numpy as np

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@dataclass(frozen=True)
class ModelSpec:
    """A named recipe: `build()` returns an uncompiled tf_keras model."""

    name: str
    input_shape: tuple[int, int, int]
    build: Callable[[], object]
    int8_io: bool = True        # False: float input/output (QUANTIZE/DEQUANTIZE at the ends)


def _keras():
    import tensorflow as tf  # noqa: F401  (TF_USE_LEGACY_KERAS must be set before this import)
    import tf_keras

    return tf_keras


def _time_reduce(x, filters: int, kernel: int):
    """MicroNAS Time-Reduce cell: (k,1) conv, stride 2 in time, ReLU."""
    layers = _keras().layers
    return layers.Conv2D(filters, (kernel, 1), strides=(2, 1), padding="same",
                         activation="relu")(x)


def _sensor_fusion(x, bottleneck: int, branches: list[tuple[int, int]], residual: bool):
    """MicroNAS Sensor-Fusion cell: a (1, W) bottleneck over all sensor channels, then parallel
    (k,1) branches summed with ADD, optionally plus a 1x1 residual conv of the bottleneck."""
    layers = _keras().layers
    width = x.shape[2]
    b = layers.Conv2D(bottleneck, (1, width), padding="valid", activation="relu")(x)
    outs = [layers.Conv2D(f, (k, 1), padding="same", activation="relu")(b) for k, f in branches]
    if residual:
        outs.append(layers.Conv2D(branches[0][1], (1, 1), padding="same")(b))
    return outs[0] if len(outs) == 1 else layers.Add()(outs)


def _head(x, classes: int):
    layers = _keras().layers
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dense(classes)(x)
    return layers.Softmax()(x)


def _linear(input_shape=(128, 9, 1)):
    k = _keras()
    inp = k.Input(shape=input_shape)
    x = _time_reduce(inp, 8, 5)
    x = _time_reduce(x, 16, 5)
    x = _time_reduce(x, 16, 3)
    x = k.layers.Conv2D(24, (1, input_shape[1]), padding="valid", activation="relu")(x)
    return k.Model(inp, _head(x, 6))


def _two_branches(input_shape=(128, 9, 1)):
    k = _keras()
    inp = k.Input(shape=input_shape)
    x = _time_reduce(inp, 8, 5)
    x = _time_reduce(x, 8, 5)
    x = _sensor_fusion(x, 16, [(3, 24), (7, 24)], residual=False)
    return k.Model(inp, _head(x, 6))


def _three_branches_residual(input_shape=(128, 9, 1)):
    k = _keras()
    inp = k.Input(shape=input_shape)
    x = _time_reduce(inp, 8, 5)
    x = _time_reduce(x, 16, 3)
    x = _sensor_fusion(x, 16, [(3, 32), (5, 32), (9, 32)], residual=True)
    return k.Model(inp, _head(x, 6))


def _small_input(input_shape=(32, 6, 1)):
    k = _keras()
    inp = k.Input(shape=input_shape)
    x = _time_reduce(inp, 12, 3)
    x = _sensor_fusion(x, 8, [(3, 16), (5, 16)], residual=True)
    return k.Model(inp, _head(x, 4))


def _random_variant(seed: int):
    """A reproducible random architecture from the MicroNAS space: input length and sensor count,
    0-2 Time-Reduce cells, 1-2 Sensor-Fusion cells (bottleneck, 2-3 branches of one width,
    optional 1x1 residual), each optionally followed by a Time-Reduce cell."""
    rng = np.random.default_rng(seed)
    k = _keras()
    layers = k.layers
    inp = k.Input(shape=(int(rng.choice([32, 64, 128])), int(rng.choice([3, 6, 9])), 1))
    x = inp
    for _ in range(int(rng.integers(0, 3))):
        x = _time_reduce(x, int(rng.choice([4, 8, 16])), int(rng.choice([3, 5])))
    for _ in range(int(rng.integers(1, 3))):
        if x.shape[2] > 1:
            x = layers.Conv2D(int(rng.choice([8, 16, 32])), (1, x.shape[2]), padding="valid",
                              activation="relu")(x)
        width = int(rng.choice([8, 16, 32, 48, 64]))
        outs = [layers.Conv2D(width, (int(rng.choice([3, 5, 7, 9])), 1), padding="same",
                              activation="relu")(x) for _ in range(int(rng.integers(2, 4)))]
        if rng.integers(0, 2):
            outs.append(layers.Conv2D(width, (1, 1))(x))
        x = layers.Add()(outs)
        if rng.integers(0, 2):
            x = _time_reduce(x, int(rng.choice([8, 16, 32])), 3)
    return k.Model(inp, _head(x, 5))


def _equal_width_fusion(input_shape=(64, 9, 1)):
    """Bottleneck and both branches share one size: TFLM's greedy planner places equal-sized
    buffers latest-first and leaves a hole (head 4096 B vs. 3072 B live at most)."""
    k = _keras()
    inp = k.Input(shape=input_shape)
    x = _time_reduce(inp, 4, 3)
    x = _sensor_fusion(x, 32, [(9, 32), (3, 32)], residual=False)
    return k.Model(inp, _head(x, 5))


def _fusion_then_reduce(input_shape=(32, 9, 1)):
    """Wide branches followed by a Time-Reduce cell: fragments too (2816 B vs. 2304 B)."""
    k = _keras()
    inp = k.Input(shape=input_shape)
    x = _time_reduce(inp, 8, 3)
    x = _sensor_fusion(x, 32, [(5, 48), (9, 48)], residual=False)
    x = _time_reduce(x, 32, 3)
    return k.Model(inp, _head(x, 5))


def _two_cells(input_shape=(128, 9, 1)):
    """Two stacked fusion cells: repeated branch/merge patterns."""
    k = _keras()
    inp = k.Input(shape=input_shape)
    x = _time_reduce(inp, 8, 5)
    x = _sensor_fusion(x, 16, [(3, 16), (5, 16), (7, 16)], residual=True)
    x = _time_reduce(x, 24, 3)
    branches = [k.layers.Conv2D(24, (kk, 1), padding="same", activation="relu")(x) for kk in (3, 5)]
    x = k.layers.Add()(branches + [x])
    return k.Model(inp, _head(x, 6))


def _tiny(input_shape=(4, 2, 1)):
    """So small that the MEAN's scratch buffers (accumulators, index and axis arrays) decide the
    arena head."""
    k = _keras()
    inp = k.Input(shape=input_shape)
    x = k.layers.Conv2D(2, (3, 1), padding="same", activation="relu")(inp)
    return k.Model(inp, _head(x, 2))


def _ops_coverage(input_shape=(32, 6, 1)):
    """Other builtins a MicroNAS-like export can contain: pooling, depthwise conv, concatenation,
    max-reduction; converted with float input/output (QUANTIZE / DEQUANTIZE)."""
    k = _keras()
    layers = k.layers
    inp = k.Input(shape=input_shape)
    x = _time_reduce(inp, 8, 3)
    a = layers.AveragePooling2D((2, 1))(x)
    b = layers.MaxPooling2D((2, 1))(x)
    x = layers.Concatenate()([a, b])
    x = layers.DepthwiseConv2D((3, 1), padding="same", activation="relu")(x)
    x = layers.Conv2D(16, (1, input_shape[1]), padding="valid", activation="relu")(x)
    x = layers.Add()([layers.GlobalAveragePooling2D()(x), layers.GlobalMaxPooling2D()(x)])
    return k.Model(inp, layers.Softmax()(layers.Dense(4)(x)))


MODEL_SPECS: tuple[ModelSpec, ...] = (
    ModelSpec("linear", (128, 9, 1), _linear),
    ModelSpec("two_branches", (128, 9, 1), _two_branches),
    ModelSpec("three_branches_residual", (128, 9, 1), _three_branches_residual),
    ModelSpec("small_input", (32, 6, 1), _small_input),
    ModelSpec("two_cells", (128, 9, 1), _two_cells),
    ModelSpec("equal_width_fusion", (64, 9, 1), _equal_width_fusion),
    ModelSpec("fusion_then_reduce", (32, 9, 1), _fusion_then_reduce),
    ModelSpec("tiny", (4, 2, 1), _tiny),
    ModelSpec("ops_coverage", (32, 6, 1), _ops_coverage, int8_io=False),
    # Seeds chosen from a scan of 150: 31 and 138 fragment, 3 and 10 do not.
    *(ModelSpec(f"random_{seed}", shape, partial(_random_variant, seed))
      for seed, shape in ((3, (128, 3, 1)), (10, (128, 9, 1)), (31, (64, 9, 1)),
                          (138, (64, 6, 1)))),
)


def convert_int8(model, input_shape: tuple[int, int, int], seed: int = 0,
                 int8_io: bool = True) -> bytes:
    """Full-integer conversion as the deploy path does it: int8 builtins, int8 input and output
    (float input and output with `int8_io=False`)."""
    import warnings

    import tensorflow as tf

    rng = np.random.default_rng(seed)

    def representative():
        for _ in range(16):
            yield [rng.normal(size=(1, *input_shape)).astype(np.float32)]

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    if int8_io:
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    with warnings.catch_warnings():
        # "Statistics for quantized inputs were expected": irrelevant for random test models.
        warnings.simplefilter("ignore", UserWarning)
        return bytes(converter.convert())


def build_tflite(spec: ModelSpec) -> bytes:
    """Build the spec's model with fixed weights and convert it to int8 .tflite bytes."""
    model = spec.build()
    if tuple(model.input_shape[1:]) != spec.input_shape:
        raise ValueError(f"{spec.name}: built input {model.input_shape}, "
                         f"spec says {spec.input_shape}")
    _keras().utils.set_random_seed(0)
    return convert_int8(model, spec.input_shape, int8_io=spec.int8_io)


def random_input(m, rng: np.random.Generator) -> np.ndarray:
    """A random input for the model's first input tensor (int8 or float)."""
    t = m.tensors[m.inputs[0]]
    if t.dtype == "int8":
        return rng.integers(-128, 128, size=t.shape, dtype=np.int8)
    return rng.normal(size=t.shape).astype(np.float32)


def run_tflm(runtime, data: bytes, x: np.ndarray) -> np.ndarray:
    """The model's first output in the host TFLM interpreter."""
    interpreter = runtime.Interpreter.from_bytes(data, arena_size=1 << 20)
    interpreter.set_input(x, 0)
    interpreter.invoke()
    return interpreter.get_output(0)
