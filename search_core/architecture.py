"""The discrete network a search returns: a small, frozen, JSON-serialisable description.

An `Architecture` is what the results store keeps, what deploy builds from and what the cost model
prices. `Architecture.graph()` spells it out as the exact TFLite operators (their LUT keys,
`lut_store.OpConfig`) in execution order, with the int8 activation tensors between them, so that
latency (sum over ops) and peak memory (liveness over tensors) are computed from one description.

Macro structure (MicroNAS) for an input of T time steps × S sensor channels and K classes, NHWC
(1, T, S, 1) — time is the height, sensors the width:

* Time-Reduce cells, as many as halve T while ceil(T/2) >= 16: conv (k, 1), stride (2, 1).
* Sensor-Fusion groups, one per halving of the width while ceil(W/2) >= 5 (at least one group):
  a reducing SF cell (width W -> ceil(W/2)) followed by two normal SF cells.
* Classifier: conv 1×1 to K *without* activation, MEAN over time and sensors to (1, K), SOFTMAX.
  MicroNAS put a ReLU on it too, which clips the logits at 0 and lets a whole network die (all
  logits 0, no gradient) early in a search; the int8 kernel costs the same either way (a fused
  activation only sets the requantisation clamp), so the LUT's "relu" rows price it.

Operator order inside an SF cell: bottleneck, then for each branch that is on, in kernel order
3, 5, 7, its conv followed — from the second branch on — by ADD(running sum, branch); then the
residual conv and ADD(sum, residual). Every conv uses `same` padding and a fused ReLU; ADDs have
no activation. The memory estimate depends on this order, and the TFLite converter does not simply
keep the Keras call order: it orders operators that are ready at the same time by node name. A
Keras model whose layers are created in `ops()` order and named after their op with a zero-padded
index (e.g. `op007_sf0_branch5`) converts to exactly `ops()`, in this order (checked on random
architectures of several spaces with tf_keras 2.21 / TF 2.21).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, Mapping

from lut_store import OpConfig
from lut_store.errors import InputError

__all__ = [
    "ARCHITECTURE_FORMAT", "ARCHITECTURE_VERSION", "Architecture", "BRANCH_KERNELS",
    "MIN_SENSOR_WIDTH", "MIN_STEPS", "MacroStructure", "NetworkGraph", "NetworkOp",
    "SF_BOTTLENECKS", "SF_WIDTHS", "SfCell", "SfCellShape", "TR_KERNELS", "TR_WIDTHS",
    "TensorSpec", "TrCell", "TrCellShape", "cell_graph", "classifier_graph", "conv_config",
    "macro_structure",
]

ARCHITECTURE_FORMAT = "micronas-architecture"
ARCHITECTURE_VERSION = 1

TR_KERNELS = (3, 5, 7)
TR_WIDTHS = (4, 8, 12, 16)
BRANCH_KERNELS = (3, 5, 7)
SF_BOTTLENECKS = tuple(range(8, 65, 8))
SF_WIDTHS = tuple(range(8, 65, 8))
MIN_STEPS = 16            # TR cells halve T while the result stays >= 16
MIN_SENSOR_WIDTH = 5      # SF groups halve the sensor width while the result stays >= 5

PADDING = "same"
RELU = "relu"
CLASSIFIER_ACTIVATION = "none"  # see the module docstring


# --------------------------------------------------------------------------------------------
# validation helpers
# --------------------------------------------------------------------------------------------
def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _choice(value: Any, options: tuple[int, ...], where: str) -> int:
    if not _is_int(value) or value not in options:
        raise InputError(f"{where} must be one of {', '.join(map(str, options))}, got {value!r}")
    return int(value)


def _flag(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise InputError(f"{where} must be true or false, got {value!r}")
    return value


def _check_dims(input_steps: Any, input_channels: Any, n_classes: Any, where: str) -> None:
    for name, value, low in (("input_steps", input_steps, MIN_STEPS),
                             ("input_channels", input_channels, 1), ("n_classes", n_classes, 2)):
        if not _is_int(value):
            raise InputError(f"{where}: {name} must be an integer, got {value!r}")
        if value < low:
            extra = (" (the Time-Reduce cells need at least 16 time steps)"
                     if name == "input_steps" else "")
            raise InputError(f"{where}: {name} must be >= {low}, got {value}{extra}")


def _ceil_half(n: int) -> int:
    return (n + 1) // 2


# --------------------------------------------------------------------------------------------
# macro structure
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TrCellShape:
    steps_in: int
    steps_out: int
    width: int            # sensor width (unchanged by TR cells)


@dataclass(frozen=True)
class SfCellShape:
    reduce: bool
    steps: int            # time steps (fixed after the TR cells)
    width_in: int         # sensor width of the cell input
    width_out: int        # sensor width of the cell output


@dataclass(frozen=True)
class MacroStructure:
    input_steps: int
    input_channels: int
    n_classes: int
    tr: tuple[TrCellShape, ...]
    sf: tuple[SfCellShape, ...]

    @property
    def steps(self) -> int:
        """Time steps after the TR cells."""
        return self.tr[-1].steps_out if self.tr else self.input_steps

    @property
    def final_width(self) -> int:
        return self.sf[-1].width_out


def macro_structure(input_steps: int, input_channels: int, n_classes: int,
                    where: str = "search space") -> MacroStructure:
    """Cell shapes of the MicroNAS space for a T × S input with K classes."""
    _check_dims(input_steps, input_channels, n_classes, where)
    tr = []
    t = input_steps
    while _ceil_half(t) >= MIN_STEPS:
        tr.append(TrCellShape(t, _ceil_half(t), input_channels))
        t = _ceil_half(t)
    sf = []
    w = input_channels
    while True:
        w_out = _ceil_half(w)
        sf.append(SfCellShape(True, t, w, w_out))
        sf.append(SfCellShape(False, t, w_out, w_out))
        sf.append(SfCellShape(False, t, w_out, w_out))
        w = w_out
        if _ceil_half(w) < MIN_SENSOR_WIDTH:
            break
    return MacroStructure(input_steps, input_channels, n_classes, tuple(tr), tuple(sf))


# --------------------------------------------------------------------------------------------
# cells
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TrCell:
    """Time-Reduce cell: one conv (kernel, 1), stride (2, 1), `width` output channels."""

    kernel: int
    width: int

    def __post_init__(self) -> None:
        _choice(self.kernel, TR_KERNELS, "TrCell.kernel")
        _choice(self.width, TR_WIDTHS, "TrCell.width")

    def to_dict(self) -> dict:
        return {"kernel": self.kernel, "width": self.width}

    @classmethod
    def from_dict(cls, data: Any, where: str = "TrCell") -> "TrCell":
        data = _fields(data, ("kernel", "width"), (), where)
        return cls(kernel=_choice(data["kernel"], TR_KERNELS, f"{where}.kernel"),
                   width=_choice(data["width"], TR_WIDTHS, f"{where}.width"))


@dataclass(frozen=True)
class SfCell:
    """Sensor-Fusion cell.

    `branches` switches the temporal convs with kernels (3, 5, 7) on or off; they share `width`
    output channels with the residual conv. With no branch on, the bottleneck is dead and the cell
    is the residual conv alone (its `bottleneck` value is then ignored). `skip` (normal cells
    only) makes the whole cell the identity (its other values are then ignored).
    """

    reduce: bool
    bottleneck: int
    branches: tuple[bool, bool, bool]
    width: int
    residual: bool
    skip: bool = False

    def __post_init__(self) -> None:
        if isinstance(self.branches, list):
            object.__setattr__(self, "branches", tuple(self.branches))
        _validate_sf(self, "SfCell")

    @property
    def has_branches(self) -> bool:
        return any(self.branches)

    @property
    def kernels(self) -> tuple[int, ...]:
        """Kernels of the branches that are on, in execution order."""
        return tuple(k for k, on in zip(BRANCH_KERNELS, self.branches) if on)

    def canonical(self) -> "SfCell":
        """The same network with ignored values set to the smallest options, so that equal
        networks compare equal."""
        if self.skip:
            return SfCell(False, SF_BOTTLENECKS[0], (False, False, False), SF_WIDTHS[0], False, True)
        if not self.has_branches:
            return SfCell(self.reduce, SF_BOTTLENECKS[0], self.branches, self.width, True, False)
        return self

    def to_dict(self) -> dict:
        return {"reduce": self.reduce, "bottleneck": self.bottleneck,
                "branches": list(self.branches), "width": self.width,
                "residual": self.residual, "skip": self.skip}

    @classmethod
    def from_dict(cls, data: Any, where: str = "SfCell") -> "SfCell":
        data = _fields(data, ("reduce", "bottleneck", "branches", "width", "residual"),
                       ("skip",), where)
        branches = data["branches"]
        if not isinstance(branches, list) or len(branches) != 3:
            raise InputError(f"{where}.branches must be a list of three booleans (kernels 3, 5, 7), "
                             f"got {branches!r}")
        cell = dict(
            reduce=_flag(data["reduce"], f"{where}.reduce"),
            bottleneck=_choice(data["bottleneck"], SF_BOTTLENECKS, f"{where}.bottleneck"),
            branches=tuple(_flag(b, f"{where}.branches[{i}]") for i, b in enumerate(branches)),
            width=_choice(data["width"], SF_WIDTHS, f"{where}.width"),
            residual=_flag(data["residual"], f"{where}.residual"),
            skip=_flag(data.get("skip", False), f"{where}.skip"),
        )
        _validate_sf(SimpleNamespace(**cell), where)
        return cls(**cell)


def _validate_sf(cell: Any, where: str) -> None:
    _flag(cell.reduce, f"{where}.reduce")
    _choice(cell.bottleneck, SF_BOTTLENECKS, f"{where}.bottleneck")
    if not isinstance(cell.branches, tuple) or len(cell.branches) != 3:
        raise InputError(f"{where}.branches must be three booleans (kernels 3, 5, 7), "
                         f"got {cell.branches!r}")
    for i, b in enumerate(cell.branches):
        _flag(b, f"{where}.branches[{i}]")
    _choice(cell.width, SF_WIDTHS, f"{where}.width")
    _flag(cell.residual, f"{where}.residual")
    _flag(cell.skip, f"{where}.skip")
    if cell.reduce and cell.skip:
        raise InputError(f"{where}: a reducing SF cell cannot be skipped")
    if not cell.skip and not any(cell.branches) and not cell.residual:
        if cell.reduce:
            raise InputError(f"{where}: a reducing SF cell needs a branch or the residual "
                             "(it has neither)")
        raise InputError(f"{where}: an SF cell with no branch and no residual computes nothing: "
                         "set skip=true")


def _fields(data: Any, required: tuple[str, ...], optional: tuple[str, ...],
            where: str) -> Mapping:
    if not isinstance(data, Mapping):
        raise InputError(f"{where} must be a JSON object, got {type(data).__name__}")
    missing = [k for k in required if k not in data]
    if missing:
        raise InputError(f"{where} lacks {', '.join(repr(k) for k in missing)}")
    unknown = sorted(str(k) for k in data if k not in required + optional)
    if unknown:
        raise InputError(f"{where} has unknown field(s) {', '.join(repr(k) for k in unknown)}")
    return data


# --------------------------------------------------------------------------------------------
# the op graph
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TensorSpec:
    """An int8 activation tensor (1 byte per element)."""

    id: int
    shape: tuple[int, ...]

    @property
    def nbytes(self) -> int:
        return math.prod(self.shape)


@dataclass(frozen=True)
class NetworkOp:
    """One TFLite operator: its LUT key, the activation tensors it reads and the one it writes."""

    index: int
    name: str                  # e.g. "tr1", "sf0.bottleneck", "sf0.branch5", "sf0.add5"
    config: OpConfig
    inputs: tuple[int, ...]    # tensor ids (activations only; weights are constants)
    output: int

    @property
    def layer(self) -> str:
        """Its Keras layer's name in the deployed graph (the exported tensors are named after
        it, so the flash price counts its length): "op004_sf0_branch5"."""
        return f"op{self.index:03d}_{self.name.replace('.', '_')}"


@dataclass(frozen=True)
class NetworkGraph:
    """Operators in execution order over activation tensors. Tensor 0 is the graph input, the
    last operator's output the graph output."""

    tensors: tuple[TensorSpec, ...]
    ops: tuple[NetworkOp, ...]

    @property
    def input(self) -> int:
        return 0

    @property
    def output(self) -> int:
        return self.ops[-1].output if self.ops else 0

    def lifetimes(self) -> dict[int, tuple[int, int]]:
        """Tensor id -> (first op index, last op index) during which it must be held: from its
        producer (the graph input from op 0) to its last reader (the graph output to the end)."""
        first = {self.input: 0}
        last = {self.input: 0}
        for op in self.ops:
            for t in op.inputs:
                last[t] = op.index
            first[op.output] = op.index
            last.setdefault(op.output, op.index)
        end = len(self.ops) - 1
        last[self.output] = max(end, 0)
        return {t: (first[t], last[t]) for t in first}


class _Builder:
    def __init__(self, input_shape: tuple[int, ...]):
        self.tensors: list[TensorSpec] = [TensorSpec(0, tuple(input_shape))]
        self.ops: list[NetworkOp] = []

    def shape(self, t: int) -> tuple[int, ...]:
        return self.tensors[t].shape

    def _emit(self, name: str, config: OpConfig, inputs: tuple[int, ...]) -> int:
        out = len(self.tensors)
        self.tensors.append(TensorSpec(out, config.output_shape))
        self.ops.append(NetworkOp(len(self.ops), name, config, inputs, out))
        return out

    def conv(self, name: str, x: int, channels: int, kernel: tuple[int, int],
             stride: tuple[int, int], activation: str = RELU) -> int:
        config = conv_config(self.shape(x), channels, kernel, stride, activation)
        return self._emit(name, config, (x,))

    def add(self, name: str, a: int, b: int) -> int:
        shape = self.shape(a)
        if shape != self.shape(b):   # a bug in the builder, never user input
            raise AssertionError(f"ADD of {shape} and {self.shape(b)}")
        return self._emit(name, OpConfig("ADD", shape, shape), (a, b))

    def unary(self, name: str, op: str, x: int, out_shape: tuple[int, ...]) -> int:
        return self._emit(name, OpConfig(op, self.shape(x), tuple(out_shape)), (x,))

    def graph(self) -> NetworkGraph:
        return NetworkGraph(tuple(self.tensors), tuple(self.ops))


def conv_config(input_shape: tuple[int, ...], channels: int, kernel: tuple[int, int],
                stride: tuple[int, int], activation: str = RELU) -> OpConfig:
    """The LUT key of a MicroNAS conv: `same` padding, fused ReLU unless told otherwise."""
    n, h, w, _ = input_shape
    out = (n, -(-h // stride[0]), -(-w // stride[1]), channels)
    return OpConfig("CONV_2D", tuple(input_shape), out, tuple(kernel), tuple(stride), PADDING,
                    activation)


def _tr_ops(b: _Builder, x: int, cell: TrCell, name: str) -> int:
    return b.conv(name, x, cell.width, (cell.kernel, 1), (2, 1))


def _sf_ops(b: _Builder, x: int, cell: SfCell, name: str) -> int:
    if cell.skip:
        return x
    width_in = b.shape(x)[2]
    stride = (1, 2) if cell.reduce else (1, 1)
    total = None
    if cell.has_branches:
        bott = b.conv(f"{name}.bottleneck", x, cell.bottleneck, (1, width_in), stride)
        for k in cell.kernels:
            branch = b.conv(f"{name}.branch{k}", bott, cell.width, (k, 1), (1, 1))
            total = branch if total is None else b.add(f"{name}.add{k}", total, branch)
    if cell.residual:
        kernel = (1, 2) if cell.reduce else (1, 1)
        res = b.conv(f"{name}.residual", x, cell.width, kernel, stride)
        total = res if total is None else b.add(f"{name}.add_residual", total, res)
    return total


def _classifier_ops(b: _Builder, x: int, n_classes: int) -> int:
    logits = b.conv("classifier", x, n_classes, (1, 1), (1, 1), activation=CLASSIFIER_ACTIVATION)
    pooled = b.unary("mean", "MEAN", logits, (1, n_classes))
    return b.unary("softmax", "SOFTMAX", pooled, (1, n_classes))


def cell_graph(input_shape: tuple[int, ...], cell: TrCell | SfCell, name: str = "cell") -> NetworkGraph:
    """The operators of one cell on an input of `input_shape` (tensor 0); for cost tables."""
    b = _Builder(input_shape)
    if isinstance(cell, TrCell):
        _tr_ops(b, 0, cell, name)
    else:
        _sf_ops(b, 0, cell, name)
    return b.graph()


def classifier_graph(input_shape: tuple[int, ...], n_classes: int) -> NetworkGraph:
    b = _Builder(input_shape)
    _classifier_ops(b, 0, n_classes)
    return b.graph()


# --------------------------------------------------------------------------------------------
# the architecture
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Architecture:
    """A discrete MicroNAS network for a T × S input and K classes."""

    input_steps: int
    input_channels: int
    n_classes: int
    tr_cells: tuple[TrCell, ...]
    sf_cells: tuple[SfCell, ...]
    _graph: Any = field(default=None, init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "tr_cells", tuple(self.tr_cells))
        object.__setattr__(self, "sf_cells", tuple(self.sf_cells))
        self._validate("Architecture")

    def _validate(self, where: str) -> None:
        macro = macro_structure(self.input_steps, self.input_channels, self.n_classes, where)
        if len(self.tr_cells) != len(macro.tr):
            raise InputError(f"{where}: a {self.input_steps}-step input has {len(macro.tr)} "
                             f"Time-Reduce cell(s), got {len(self.tr_cells)}")
        if len(self.sf_cells) != len(macro.sf):
            raise InputError(f"{where}: a {self.input_channels}-channel input has "
                             f"{len(macro.sf) // 3} Sensor-Fusion group(s) = {len(macro.sf)} SF "
                             f"cells, got {len(self.sf_cells)}")
        for i, cell in enumerate(self.tr_cells):
            if not isinstance(cell, TrCell):
                raise InputError(f"{where}: tr_cells[{i}] is not a TrCell")
        for i, (cell, shape) in enumerate(zip(self.sf_cells, macro.sf)):
            if not isinstance(cell, SfCell):
                raise InputError(f"{where}: sf_cells[{i}] is not an SfCell")
            if cell.reduce != shape.reduce:
                kind = "reducing" if shape.reduce else "normal"
                raise InputError(f"{where}: sf_cells[{i}] must be a {kind} cell "
                                 f"(reduce={str(shape.reduce).lower()}): each group is one "
                                 "reducing cell then two normal ones")

    # -- structure ------------------------------------------------------------------------------
    @property
    def macro(self) -> MacroStructure:
        return macro_structure(self.input_steps, self.input_channels, self.n_classes)

    @property
    def input_shape(self) -> tuple[int, int, int, int]:
        return (1, self.input_steps, self.input_channels, 1)

    def canonical(self) -> "Architecture":
        """The same network with every ignored value normalised (see `SfCell.canonical`)."""
        return Architecture(self.input_steps, self.input_channels, self.n_classes,
                            self.tr_cells, tuple(c.canonical() for c in self.sf_cells))

    def graph(self) -> NetworkGraph:
        if self._graph is None:
            b = _Builder(self.input_shape)
            x = 0
            for i, cell in enumerate(self.tr_cells):
                x = _tr_ops(b, x, cell, f"tr{i}")
            for i, cell in enumerate(self.sf_cells):
                x = _sf_ops(b, x, cell, f"sf{i}")
            _classifier_ops(b, x, self.n_classes)
            object.__setattr__(self, "_graph", b.graph())
        return self._graph

    def ops(self) -> list[NetworkOp]:
        """The TFLite operators in execution order, each with its LUT key and tensor ids."""
        return list(self.graph().ops)

    def op_configs(self) -> list[OpConfig]:
        return [op.config for op in self.graph().ops]

    # -- JSON -----------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        return {
            "format": ARCHITECTURE_FORMAT, "version": ARCHITECTURE_VERSION,
            "input_steps": self.input_steps, "input_channels": self.input_channels,
            "n_classes": self.n_classes,
            "tr_cells": [c.to_dict() for c in self.tr_cells],
            "sf_cells": [c.to_dict() for c in self.sf_cells],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: Any, source: str = "<architecture>") -> "Architecture":
        data = _fields(data, ("input_steps", "input_channels", "n_classes", "tr_cells", "sf_cells"),
                       ("format", "version"), source)
        if "format" in data and data["format"] != ARCHITECTURE_FORMAT:
            raise InputError(f"{source}: format must be {ARCHITECTURE_FORMAT!r}, "
                             f"got {data['format']!r}")
        if "version" in data and (not _is_int(data["version"])
                                  or data["version"] != ARCHITECTURE_VERSION):
            raise InputError(f"{source}: unsupported architecture version {data['version']!r} "
                             f"(this code reads version {ARCHITECTURE_VERSION})")
        _check_dims(data["input_steps"], data["input_channels"], data["n_classes"], source)
        for key in ("tr_cells", "sf_cells"):
            if not isinstance(data[key], list):
                raise InputError(f"{source}: {key} must be a list, got {type(data[key]).__name__}")
        tr = tuple(TrCell.from_dict(c, f"{source}: tr_cells[{i}]")
                   for i, c in enumerate(data["tr_cells"]))
        sf = tuple(SfCell.from_dict(c, f"{source}: sf_cells[{i}]")
                   for i, c in enumerate(data["sf_cells"]))
        arch = object.__new__(cls)
        for name, value in (("input_steps", data["input_steps"]),
                            ("input_channels", data["input_channels"]),
                            ("n_classes", data["n_classes"]), ("tr_cells", tr), ("sf_cells", sf),
                            ("_graph", None)):
            object.__setattr__(arch, name, value)
        arch._validate(source)
        return arch

    @classmethod
    def from_json(cls, text: str | bytes, source: str = "<architecture>") -> "Architecture":
        try:
            data = json.loads(text)
        except (ValueError, RecursionError) as exc:  # also > 4300-digit numbers, deep nesting
            reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc).split(";")[0]
            raise InputError(f"{source}: not valid JSON ({reason})") from None
        return cls.from_dict(data, source)

    # -- display --------------------------------------------------------------------------------
    def describe(self) -> str:
        """One line per cell, for logs and reports."""
        lines = [f"input {self.input_steps}x{self.input_channels}, {self.n_classes} classes"]
        for i, c in enumerate(self.tr_cells):
            lines.append(f"tr{i}: k={c.kernel} width={c.width}")
        for i, c in enumerate(self.sf_cells):
            kind = "reduce" if c.reduce else "normal"
            if c.skip:
                lines.append(f"sf{i} ({kind}): skipped")
                continue
            branches = ",".join(map(str, c.kernels)) or "-"
            bott = f" bottleneck={c.bottleneck}" if c.has_branches else ""
            lines.append(f"sf{i} ({kind}):{bott} branches={branches} width={c.width} "
                         f"residual={'yes' if c.residual else 'no'}")
        return "\n".join(lines)
