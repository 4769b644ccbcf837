"""The Architecture contract and the search space: JSON, validation, the op graph and its shapes,
counting and sampling, and coverage of the spaces by the real board measurements."""

from __future__ import annotations

import dataclasses

import json
import subprocess
import sys

import numpy as np
import pytest

from lut_store import OpConfig, import_records
from lut_store.errors import InputError
from search_core.architecture import Architecture, SfCell, TrCell, macro_structure
from search_core.space import SearchSpace

UCI = (128, 9, 6)
SKODA = (64, 30, 10)
N = (False, False, False)
ALL = (True, True, True)


def conv(inp, out, kernel, stride, activation="relu"):
    return OpConfig("CONV_2D", inp, out, kernel, stride, "same", activation)


def add(shape):
    return OpConfig("ADD", shape, shape)


# --------------------------------------------------------------------------------------------
# JSON
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dims", [UCI, SKODA, (16, 1, 2), (100, 3, 4)])
def test_json_round_trip(dims):
    space = SearchSpace(*dims)
    rng = np.random.default_rng(1)
    archs = [space.smallest(), space.largest()]
    archs += [space.random(rng, per_choice=bool(i % 2)) for i in range(30)]
    for arch in archs:
        text = arch.to_json()
        back = Architecture.from_json(text, "t.json")
        assert back == arch
        assert back.to_json() == text
        assert hash(back) == hash(arch)
        assert back.ops() == arch.ops()


def test_json_is_plain_and_stable():
    arch = SearchSpace(*UCI).largest()
    data = json.loads(arch.to_json())
    assert data["format"] == "micronas-architecture" and data["version"] == 1
    assert data["tr_cells"][0] == {"kernel": 7, "width": 16}
    assert data["sf_cells"][1] == {"reduce": False, "bottleneck": 64, "branches": [True] * 3,
                                   "width": 64, "residual": True, "skip": False}
    # format/version may be left out by hand-written files; key order does not matter.
    del data["format"], data["version"]
    assert Architecture.from_json(json.dumps(data, sort_keys=False)) == arch


def _good() -> dict:
    return json.loads(SearchSpace(*UCI).largest().to_json())


def _mutate(path, value):
    data = _good()
    target = data
    for key in path[:-1]:
        target = target[key]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return json.dumps(data)


@pytest.mark.parametrize("text, pattern", [
    ("{not json", "not valid JSON"),
    ("[]", "must be a JSON object"),
    (_mutate(["version"], 2), "unsupported architecture version"),
    (_mutate(["format"], "keras"), "format must be"),
    (_mutate(["extra"], 1), "unknown field.*'extra'"),
    (_mutate(["n_classes"], KeyError), "lacks 'n_classes'"),
    (_mutate(["input_steps"], 15), "input_steps must be >= 16"),
    (_mutate(["input_steps"], 128.0), "input_steps must be an integer"),
    (_mutate(["input_channels"], 0), "input_channels must be >= 1"),
    (_mutate(["n_classes"], 1), "n_classes must be >= 2"),
    (_mutate(["n_classes"], True), "n_classes must be an integer"),
    (_mutate(["tr_cells"], {}), "tr_cells must be a list"),
    (_mutate(["tr_cells", 0, "kernel"], 4), r"tr_cells\[0\]\.kernel must be one of 3, 5, 7"),
    (_mutate(["tr_cells", 1, "width"], 6), r"tr_cells\[1\]\.width must be one of 4, 8, 12, 16"),
    (_mutate(["tr_cells", 2, "width"], "16"), r"tr_cells\[2\]\.width"),
    (_mutate(["tr_cells", 0, "dilation"], 1), r"tr_cells\[0\] has unknown field"),
    (_mutate(["sf_cells", 0, "bottleneck"], 12), r"sf_cells\[0\]\.bottleneck must be one of 8, 16"),
    (_mutate(["sf_cells", 0, "width"], 72), r"sf_cells\[0\]\.width"),
    (_mutate(["sf_cells", 1, "residual"], 1), r"sf_cells\[1\]\.residual must be true or false"),
    (_mutate(["sf_cells", 1, "branches"], [True, False]), r"sf_cells\[1\]\.branches must be a list"),
    (_mutate(["sf_cells", 1, "branches"], [1, 0, 1]), r"sf_cells\[1\]\.branches\[0\]"),
    (_mutate(["sf_cells", 0, "reduce"], False), r"sf_cells\[0\] must be a reducing cell"),
    (_mutate(["sf_cells", 2, "reduce"], True), r"sf_cells\[2\] must be a normal cell"),
    (_mutate(["sf_cells", 0, "skip"], True), "reducing SF cell cannot be skipped"),
])
def test_json_rejects(text, pattern):
    with pytest.raises(InputError, match=pattern) as info:
        Architecture.from_json(text, "arch.json")
    assert str(info.value).startswith("arch.json")


def test_json_rejects_wrong_structure():
    data = _good()
    data["tr_cells"].pop()
    with pytest.raises(InputError, match="has 3 Time-Reduce cell"):
        Architecture.from_dict(data, "a")
    data = _good()
    data["sf_cells"] += data["sf_cells"]
    with pytest.raises(InputError, match="1 Sensor-Fusion group"):
        Architecture.from_dict(data, "a")


def test_cells_without_branch_or_residual():
    data = _good()
    data["sf_cells"][0].update(branches=[False] * 3, residual=False)
    with pytest.raises(InputError, match="reducing SF cell needs a branch or the residual"):
        Architecture.from_dict(data, "a")
    data = _good()
    data["sf_cells"][1].update(branches=[False] * 3, residual=False)
    with pytest.raises(InputError, match="set skip=true"):
        Architecture.from_dict(data, "a")
    data["sf_cells"][1]["skip"] = True
    assert Architecture.from_dict(data, "a").sf_cells[1].skip


def test_constructors_validate():
    with pytest.raises(InputError, match="TrCell.kernel"):
        TrCell(4, 4)
    with pytest.raises(InputError, match="TrCell.width"):
        TrCell(3, True)
    with pytest.raises(InputError, match="cannot be skipped"):
        SfCell(True, 8, ALL, 8, True, skip=True)
    with pytest.raises(InputError, match="needs a branch or the residual"):
        SfCell(True, 8, N, 8, False)
    with pytest.raises(InputError, match="set skip=true"):
        SfCell(False, 8, N, 8, False)
    with pytest.raises(InputError, match="branches"):
        SfCell(False, 8, (True, False), 8, False)
    tr = (TrCell(3, 4),) * 3
    sf = (SfCell(True, 8, ALL, 8, True), SfCell(False, 8, ALL, 8, True),
          SfCell(False, 8, ALL, 8, True))
    Architecture(*UCI, tr, sf)
    with pytest.raises(InputError, match="Time-Reduce"):
        Architecture(*UCI, tr[:2], sf)
    with pytest.raises(InputError, match="must be a normal cell"):
        Architecture(*UCI, tr, (sf[0], sf[0], sf[2]))
    with pytest.raises(InputError, match="input_steps must be >= 16"):
        Architecture(8, 9, 6, (), sf)


@pytest.mark.parametrize("dims, pattern", [
    ((15, 9, 6), "input_steps must be >= 16"), ((128, 0, 6), "input_channels must be >= 1"),
    ((128, 9, 1), "n_classes must be >= 2"), ((128.5, 9, 6), "input_steps must be an integer"),
])
def test_space_rejects_bad_dims(dims, pattern):
    with pytest.raises(InputError, match=pattern):
        SearchSpace(*dims)


def test_canonical_form():
    a = SfCell(False, 48, N, 16, True)
    b = SfCell(False, 8, N, 16, True)
    assert a != b and a.canonical() == b.canonical() == b
    s1 = SfCell(False, 48, ALL, 16, True, skip=True)
    s2 = SfCell(False, 8, N, 8, False, skip=True)
    assert s1.canonical() == s2.canonical() == s2
    space = SearchSpace(*UCI)
    arch = space.largest()
    skipped = Architecture(*UCI, arch.tr_cells, (arch.sf_cells[0], s1, s1))
    assert skipped.ops() == skipped.canonical().ops()


# --------------------------------------------------------------------------------------------
# macro structure and shapes
# --------------------------------------------------------------------------------------------
def test_macro_structure():
    m = macro_structure(*UCI)
    assert [(s.steps_in, s.steps_out) for s in m.tr] == [(128, 64), (64, 32), (32, 16)]
    assert [(s.reduce, s.steps, s.width_in, s.width_out) for s in m.sf] == [
        (True, 16, 9, 5), (False, 16, 5, 5), (False, 16, 5, 5)]
    m = macro_structure(*SKODA)
    assert [(s.steps_in, s.steps_out) for s in m.tr] == [(64, 32), (32, 16)]
    assert [(s.reduce, s.width_in, s.width_out) for s in m.sf] == [
        (True, 30, 15), (False, 15, 15), (False, 15, 15),
        (True, 15, 8), (False, 8, 8), (False, 8, 8)]
    # Small inputs: no TR cell at 16..30 steps (ceil(31/2) = 16), always one SF group.
    m = macro_structure(16, 1, 2)
    assert m.tr == () and [(s.width_in, s.width_out) for s in m.sf[:1]] == [(1, 1)]
    assert len(macro_structure(30, 4, 3).tr) == 0 and len(macro_structure(31, 4, 3).tr) == 1
    assert len(macro_structure(128, 10, 3).sf) == 3 and len(macro_structure(128, 20, 3).sf) == 6


def test_ops_uci_largest():
    arch = SearchSpace(*UCI).largest()
    ops = arch.ops()
    names = [op.name for op in ops]
    cell = ["bottleneck", "branch3", "branch5", "add5", "branch7", "add7", "residual",
            "add_residual"]
    assert names == (["tr0", "tr1", "tr2"] + [f"sf{j}.{n}" for j in range(3) for n in cell]
                     + ["classifier", "mean", "softmax"])
    c = {op.name: op.config for op in ops}
    assert c["tr0"] == conv((1, 128, 9, 1), (1, 64, 9, 16), (7, 1), (2, 1))
    assert c["tr1"] == conv((1, 64, 9, 16), (1, 32, 9, 16), (7, 1), (2, 1))
    assert c["tr2"] == conv((1, 32, 9, 16), (1, 16, 9, 16), (7, 1), (2, 1))
    assert c["sf0.bottleneck"] == conv((1, 16, 9, 16), (1, 16, 5, 64), (1, 9), (1, 2))
    assert c["sf0.branch5"] == conv((1, 16, 5, 64), (1, 16, 5, 64), (5, 1), (1, 1))
    assert c["sf0.residual"] == conv((1, 16, 9, 16), (1, 16, 5, 64), (1, 2), (1, 2))
    assert c["sf0.add5"] == c["sf0.add_residual"] == add((1, 16, 5, 64))
    assert c["sf1.bottleneck"] == conv((1, 16, 5, 64), (1, 16, 5, 64), (1, 5), (1, 1))
    assert c["sf2.residual"] == conv((1, 16, 5, 64), (1, 16, 5, 64), (1, 1), (1, 1))
    assert c["classifier"] == conv((1, 16, 5, 64), (1, 16, 5, 6), (1, 1), (1, 1), "none")
    assert c["mean"] == OpConfig("MEAN", (1, 16, 5, 6), (1, 6))
    assert c["softmax"] == OpConfig("SOFTMAX", (1, 6), (1, 6))


def test_ops_tensor_graph():
    tr = (TrCell(3, 4), TrCell(5, 8), TrCell(7, 12))
    sf = (SfCell(True, 16, (False, True, True), 24, True),
          SfCell(False, 8, N, 8, False, skip=True),
          SfCell(False, 32, (True, False, False), 40, False))
    arch = Architecture(*UCI, tr, sf)
    g = arch.graph()
    by = {op.name: op for op in g.ops}
    assert [op.index for op in g.ops] == list(range(len(g.ops)))
    assert g.tensors[0].shape == (1, 128, 9, 1) and g.input == 0
    assert by["tr0"].inputs == (0,)
    x = by["tr2"].output
    assert g.tensors[x].shape == (1, 16, 9, 12) and g.tensors[x].nbytes == 16 * 9 * 12
    assert by["sf0.bottleneck"].inputs == (x,) and by["sf0.residual"].inputs == (x,)
    bott = by["sf0.bottleneck"].output
    assert by["sf0.branch5"].inputs == by["sf0.branch7"].inputs == (bott,)
    assert by["sf0.add7"].inputs == (by["sf0.branch5"].output, by["sf0.branch7"].output)
    assert by["sf0.add_residual"].inputs == (by["sf0.add7"].output, by["sf0.residual"].output)
    # sf1 is skipped: sf2 reads sf0's output.
    assert not any(n.startswith("sf1") for n in by)
    assert by["sf2.bottleneck"].inputs == (by["sf0.add_residual"].output,)
    assert by["sf2.bottleneck"].config.input_shape == (1, 16, 5, 24)
    assert [n for n in by if n.startswith("sf2")] == ["sf2.bottleneck", "sf2.branch3"]
    assert by["classifier"].inputs == (by["sf2.branch3"].output,)
    assert g.output == by["softmax"].output
    for op in g.ops:
        assert g.tensors[op.output].shape == op.config.output_shape
        assert g.tensors[op.inputs[0]].shape == op.config.input_shape
    spans = g.lifetimes()
    assert spans[0] == (0, 0)
    assert spans[x] == (by["tr2"].index, by["sf0.residual"].index)
    assert spans[bott] == (by["sf0.bottleneck"].index, by["sf0.branch7"].index)
    assert spans[g.output] == (len(g.ops) - 1, len(g.ops) - 1)


def test_ops_residual_only():
    arch = SearchSpace(*UCI).smallest()
    assert [op.name for op in arch.ops()] == ["tr0", "tr1", "tr2", "sf0.residual", "classifier",
                                              "mean", "softmax"]
    assert arch.ops()[3].config == conv((1, 16, 9, 4), (1, 16, 5, 8), (1, 2), (1, 2))


def test_ops_skoda_shapes():
    arch = SearchSpace(*SKODA).largest()
    c = {op.name: op.config for op in arch.ops()}
    assert [n for n in c if n.startswith("tr")] == ["tr0", "tr1"]
    assert c["tr0"] == conv((1, 64, 30, 1), (1, 32, 30, 16), (7, 1), (2, 1))
    assert c["tr1"].output_shape == (1, 16, 30, 16)
    assert c["sf0.bottleneck"] == conv((1, 16, 30, 16), (1, 16, 15, 64), (1, 30), (1, 2))
    assert c["sf0.residual"] == conv((1, 16, 30, 16), (1, 16, 15, 64), (1, 2), (1, 2))
    for j in (1, 2):
        assert c[f"sf{j}.bottleneck"] == conv((1, 16, 15, 64), (1, 16, 15, 64), (1, 15), (1, 1))
    assert c["sf3.bottleneck"] == conv((1, 16, 15, 64), (1, 16, 8, 64), (1, 15), (1, 2))
    assert c["sf3.residual"] == conv((1, 16, 15, 64), (1, 16, 8, 64), (1, 2), (1, 2))
    for j in (4, 5):
        assert c[f"sf{j}.bottleneck"] == conv((1, 16, 8, 64), (1, 16, 8, 64), (1, 8), (1, 1))
        assert c[f"sf{j}.branch7"] == conv((1, 16, 8, 64), (1, 16, 8, 64), (7, 1), (1, 1))
    assert c["classifier"] == conv((1, 16, 8, 64), (1, 16, 8, 10), (1, 1), (1, 1), "none")
    assert c["mean"] == OpConfig("MEAN", (1, 16, 8, 10), (1, 10))


# --------------------------------------------------------------------------------------------
# the space: counting, sampling, enumeration
# --------------------------------------------------------------------------------------------
def test_space_size():
    space = SearchSpace(*UCI)
    # Per choice: TR 3·4; SF 8 bottlenecks · 2^3 branch masks · 8 widths · 2 residual (· 2 skip).
    assert space.choice_combinations() == 12 ** 3 * 1024 * 2048 ** 2
    assert 7.0e12 < space.choice_combinations() < 7.5e12          # MicroNAS: ≈ 7·10^12
    # Distinct valid networks: 7 masks·8·8·2 + 8 residual-only (+1 skipped for normal cells).
    assert space.size() == 12 ** 3 * 904 * 905 ** 2
    assert len(space.sf_cell_options(True)) == 904
    assert len(set(space.sf_cell_options(False))) == 905
    assert SearchSpace(*SKODA).size() == 12 ** 2 * 904 ** 2 * 905 ** 4


def test_space_op_configs_match_micronas_lut_sizes():
    # MicroNAS: "The UCI-HAR space needs 510 entries, SkodaR 918".
    assert len(SearchSpace(*UCI).op_configs()) == 510
    assert len(SearchSpace(*SKODA).op_configs()) == 918


@pytest.mark.parametrize("dims", [UCI, SKODA, (40, 3, 2)])
def test_random_architectures_use_only_space_ops(dims):
    space = SearchSpace(*dims)
    configs = set(space.op_configs())
    rng = np.random.default_rng(7)
    for i in range(60):
        arch = space.random(rng, per_choice=bool(i % 2))
        assert space.contains(arch)
        assert set(arch.op_configs()) <= configs
    assert set(space.largest().op_configs()) <= configs
    assert set(space.smallest().op_configs()) <= configs


def test_random_sampling():
    space = SearchSpace(*UCI)
    assert space.random(3) == space.random(3)
    assert space.random(np.random.default_rng(5)) == space.random(np.random.default_rng(5))
    rng = np.random.default_rng(0)
    archs = [space.random(rng) for _ in range(300)]
    assert len(set(archs)) == 300
    assert all(a == a.canonical() for a in archs)                 # uniform over distinct networks
    per_choice = [space.random(rng, per_choice=True) for _ in range(300)]
    skipped = sum(c.skip for a in per_choice for c in a.sf_cells[1:])
    assert 200 < skipped < 400                                     # about half of 600 normal cells
    with pytest.raises(InputError, match="rng must be"):
        space.random("seed")


def test_smallest_and_largest():
    space = SearchSpace(*SKODA)
    small = space.smallest()
    assert all(c == TrCell(3, 4) for c in small.tr_cells)
    assert [c.skip for c in small.sf_cells] == [False, True, True] * 2
    assert len(small.ops()) == 2 + 2 + 3
    assert len(space.largest().ops()) == 2 + 6 * 8 + 3


def test_import_does_not_pull_torch():
    code = ("import sys, search_core, search_core.architecture, search_core.space, "
            "search_core.hardware; "
            "bad = [m for m in ('torch', 'tensorflow', 'ray') if m in sys.modules]; "
            "print(bad); sys.exit(1 if bad else 0)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


# --------------------------------------------------------------------------------------------
# coverage of the spaces by the real measurements
# --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def luts(measurements):
    return {mcu: import_records(measurements / mcu, mcu)[0]
            for mcu in ("nucleo-l552ze-q", "nucleo-f446re")}


# The measurement records whose run failed (FLASHERROR): the only gaps of the two spaces.
FAILED = {
    ("nucleo-l552ze-q", SKODA): {
        conv((1, 16, 15, 8), (1, 16, 15, 40), (5, 1), (1, 1)),
        conv((1, 16, 15, 56), (1, 16, 15, 32), (5, 1), (1, 1)),
        conv((1, 16, 8, 48), (1, 16, 8, 8), (5, 1), (1, 1)),
        conv((1, 16, 8, 56), (1, 16, 8, 8), (5, 1), (1, 1)),
    },
    ("nucleo-f446re", UCI): {conv((1, 128, 9, 1), (1, 64, 9, 4), (3, 1), (2, 1))},
}


@pytest.mark.parametrize("mcu", ["nucleo-l552ze-q", "nucleo-f446re"])
@pytest.mark.parametrize("dims", [UCI, SKODA])
def test_measurements_cover_the_spaces(luts, mcu, dims):
    lut = luts[mcu]
    space = SearchSpace(*dims)

    def measured(c):  # the classifier (no activation) is priced by its measured ReLU row
        return (lut.lookup(mcu, c) or lut.lookup(mcu, dataclasses.replace(c, activation="relu")))

    missing = {c for c in space.op_configs() if measured(c) is None}
    assert missing == FAILED.get((mcu, dims), set())
    rng = np.random.default_rng(11)
    for i in range(50):
        arch = space.random(rng, per_choice=bool(i % 2))
        for config in arch.op_configs():
            assert measured(config) is not None or config in missing, config


# --------------------------------------------------------------------------------------------
# the exported model has exactly these ops (needs TensorFlow; ~3 s per model)
# --------------------------------------------------------------------------------------------
def _keras_model(arch: Architecture):
    """A Keras model with `arch`'s layers, each named after its op (`op007_sf0.branch5` style):
    the converter orders ready operators by name, so zero-padded op indices make the .tflite
    operator order equal `arch.ops()`."""
    import os
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    import tensorflow as tf  # noqa: F401
    import tf_keras
    layers = tf_keras.layers
    ops = iter(arch.ops())

    def named():
        op = next(ops)
        return f"op{op.index:03d}_{op.name.replace('.', '_')}"

    def conv2d(x, filters, kernel, strides=(1, 1)):
        return layers.Conv2D(filters, kernel, strides=strides, padding="same",
                             activation="relu", name=named())(x)

    inp = tf_keras.Input((arch.input_steps, arch.input_channels, 1), batch_size=1)
    x = inp
    for c in arch.tr_cells:
        x = conv2d(x, c.width, (c.kernel, 1), (2, 1))
    for c in arch.sf_cells:
        if c.skip:
            continue
        stride = (1, 2) if c.reduce else (1, 1)
        total = None
        if c.has_branches:
            bott = conv2d(x, c.bottleneck, (1, x.shape[2]), stride)
            for k in c.kernels:
                branch = conv2d(bott, c.width, (k, 1))
                total = branch if total is None else layers.Add(name=named())([total, branch])
        if c.residual:
            res = conv2d(x, c.width, (1, 2) if c.reduce else (1, 1), stride)
            total = res if total is None else layers.Add(name=named())([total, res])
        x = total
    x = conv2d(x, arch.n_classes, (1, 1))
    x = layers.GlobalAveragePooling2D(name=named())(x)
    return tf_keras.Model(inp, layers.Softmax(name=named())(x))


def _int8_tflite(model, shape) -> bytes:
    import tensorflow as tf
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    rng = np.random.default_rng(0)
    converter.representative_dataset = lambda: (
        [rng.standard_normal((1, *shape)).astype(np.float32)] for _ in range(4))
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    return converter.convert()


@pytest.mark.slow
@pytest.mark.parametrize("dims", [UCI, SKODA])
def test_ops_equal_the_converted_models_ops(dims):
    from lut_store import op_configs
    from lut_store.memory import peak_activation_bytes
    from lut_store.tflite import read_model
    from search_core.hardware import estimate_memory

    space = SearchSpace(*dims)
    rng = np.random.default_rng(3)
    for arch in [space.largest()] + [space.random(rng, per_choice=True) for _ in range(2)]:
        model = read_model(_int8_tflite(_keras_model(arch), (dims[0], dims[1], 1)))
        assert op_configs(model) == arch.op_configs()
        assert peak_activation_bytes(model) == estimate_memory(arch).activation_bytes
