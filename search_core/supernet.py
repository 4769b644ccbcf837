"""The relaxed MicroNAS supernet and the discrete network, in PyTorch, built from one set of parts.

Both use TensorFlow's `same` padding (asymmetric for even kernels and strided convs) so that the
PyTorch model, the Keras rebuild and the int8 TFLite model agree sample for sample; every conv is
followed by ReLU, as in the deployed graph. The supernet computes each searchable conv at its widest
and multiplies the output by a soft channel mask: channel c is weighted by P(width > c).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from lut_store import same_padding

from .architecture import (BRANCH_KERNELS, SF_BOTTLENECKS, SF_WIDTHS, TR_KERNELS, TR_WIDTHS,
                           Architecture, SfCell, TrCell)
from .hardware import Relaxation, SfChoice, TrChoice
from .space import SearchSpace

TR_MAX, SF_MAX = max(TR_WIDTHS), max(SF_WIDTHS)


class SameConv(nn.Module):
    """Conv2d + ReLU with TF `same` padding on NCHW tensors (H = time, W = sensors).

    With `batch_norm`, a BatchNorm2d sits between the conv and the ReLU for training;
    `fold_batch_norm` merges it into the conv's weights and bias (exact in eval mode), which leaves
    the plain conv + ReLU that is priced and deployed."""

    def __init__(self, c_in: int, c_out: int, kernel: tuple[int, int], stride: tuple[int, int],
                 relu: bool = True, batch_norm: bool = False):
        super().__init__()
        self.kernel, self.stride, self.relu = kernel, stride, relu
        self.conv = nn.Conv2d(c_in, c_out, kernel, stride)
        self.bn = nn.BatchNorm2d(c_out) if batch_norm else None

    def _pad(self, x: torch.Tensor) -> torch.Tensor:
        top, bottom = same_padding(x.shape[2], self.kernel[0], self.stride[0])
        left, right = same_padding(x.shape[3], self.kernel[1], self.stride[1])
        return F.pad(x, (left, right, top, bottom)) if top or bottom or left or right else x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(self._pad(x))
        if self.bn is not None:
            y = self.bn(y)
        return F.relu(y) if self.relu else y

    def narrow(self, x: torch.Tensor, c_out: int) -> torch.Tensor:
        """The conv restricted to its first `c_out` filters and to x's (leading) input channels:
        what the full conv computes on those channels when the others are masked to zero, at a
        fraction of the cost."""
        y = F.conv2d(self._pad(x), self.conv.weight[:c_out, :x.shape[1]], self.conv.bias[:c_out],
                     self.stride)
        return F.relu(y) if self.relu else y

    @torch.no_grad()
    def fold_batch_norm(self) -> None:
        """conv → BN (running statistics) becomes one conv; the BN module is dropped."""
        if self.bn is None:
            return
        bn = self.bn
        scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
        self.conv.weight.mul_(scale.view(-1, 1, 1, 1))
        self.conv.bias.copy_((self.conv.bias - bn.running_mean) * scale + bn.bias)
        self.bn = None


class Dropout(nn.Module):
    """Inverted dropout, as `nn.Dropout`, with the mask drawn by `rand_like`: PyTorch's CPU
    `bernoulli_` takes 3x as long, which made dropout 15 % of a search step."""

    def __init__(self, p: float):
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return x
        return x * (torch.rand_like(x) >= self.p).to(x.dtype) * (1 / (1 - self.p))


_STEPS: dict[tuple, torch.Tensor] = {}


def width_mask(probs: torch.Tensor, options: tuple[int, ...], channels: int) -> torch.Tensor:
    """Soft channel mask (channels,): Σ_i p_i · 1[c < options[i]] = P(width > c)."""
    key = (options, channels, probs.dtype)
    steps = _STEPS.get(key)
    if steps is None:  # a constant per (options, channels): built once, never mutated
        steps = _STEPS[key] = (torch.arange(channels)[None, :]
                               < torch.tensor(options)[:, None]).to(probs.dtype)
    return probs @ steps


def _masked(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return x * mask.view(1, -1, 1, 1)


def _pad_channels(x: torch.Tensor, channels: int) -> torch.Tensor:
    return x if x.shape[1] == channels else F.pad(x, (0, 0, 0, 0, 0, channels - x.shape[1]))


class Supernet(nn.Module):
    """Every candidate of the space at once; `forward(x, relaxation)` mixes them."""

    def __init__(self, space: SearchSpace, dropout: float = 0.3):
        super().__init__()
        self.space = space
        self.dropout = Dropout(dropout)
        self.tr = nn.ModuleList()
        c_in = 1
        for _ in space.tr_shapes:
            self.tr.append(nn.ModuleList(SameConv(c_in, TR_MAX, (k, 1), (2, 1)) for k in TR_KERNELS))
            c_in = TR_MAX
        self.sf = nn.ModuleList()
        for shape in space.sf_shapes:
            stride = (1, 2) if shape.reduce else (1, 1)
            self.sf.append(nn.ModuleDict({
                "bottleneck": SameConv(c_in, max(SF_BOTTLENECKS), (1, shape.width_in), stride),
                "branches": nn.ModuleList(SameConv(max(SF_BOTTLENECKS), SF_MAX, (k, 1), (1, 1))
                                          for k in BRANCH_KERNELS),
                "residual": SameConv(c_in, SF_MAX, (1, 2) if shape.reduce else (1, 1), stride),
            }))
            c_in = SF_MAX
        self.classifier = SameConv(c_in, space.n_classes, (1, 1), (1, 1), relu=False)

    def forward(self, x: torch.Tensor, r: Relaxation) -> torch.Tensor:
        """x: (B, T, S) windows → class logits (B, K) (log-softmax is taken by the loss)."""
        x = x.unsqueeze(1)
        for convs, choice in zip(self.tr, r.tr):
            y = sum(p * conv(x) for p, conv in zip(choice.kernel, convs))
            x = self.dropout(_masked(y, width_mask(choice.width, TR_WIDTHS, TR_MAX)))
        for cell, shape, choice in zip(self.sf, self.space.sf_shapes, r.sf):
            mask = width_mask(choice.width, SF_WIDTHS, SF_MAX)
            bott = _masked(cell["bottleneck"](x),
                           width_mask(choice.bottleneck, SF_BOTTLENECKS, max(SF_BOTTLENECKS)))
            block = sum(p * conv(bott) for p, conv in zip(choice.branches, cell["branches"]))
            y = _masked(block + choice.residual * cell["residual"](x), mask)
            if choice.skip is not None:
                y = choice.skip * _pad_channels(x, SF_MAX) + (1 - choice.skip) * y
            x = y
        return self.classifier(x).mean(dim=(2, 3))

    def forward_path(self, x: torch.Tensor, r: Relaxation) -> torch.Tensor:
        """The same function as `forward` for a one-hot `r` (a hard sample), computing only the
        sampled network: the chosen kernel, the first `width` filters, the branches that are on.
        Weight steps need nothing else (every other candidate is multiplied by zero), so they
        cost one small network instead of the whole supernet; unused weights get no gradient."""
        x = x.unsqueeze(1)
        for convs, choice in zip(self.tr, r.tr):
            conv = convs[int(choice.kernel.argmax())]
            x = self.dropout(conv.narrow(x, TR_WIDTHS[int(choice.width.argmax())]))
        for cell, choice in zip(self.sf, r.sf):
            if choice.skip is not None and float(choice.skip) > 0.5:
                continue  # identity: the supernet passes x (zero-padded channels) through
            width = SF_WIDTHS[int(choice.width.argmax())]
            on = [i for i, p in enumerate(choice.branches) if float(p) > 0.5]
            residual = float(choice.residual) > 0.5
            parts = [cell["residual"].narrow(x, width)] if residual else []
            if on:
                bott = cell["bottleneck"].narrow(x, SF_BOTTLENECKS[int(choice.bottleneck.argmax())])
                parts += [cell["branches"][i].narrow(bott, width) for i in on]
            # An invalid sample (nothing on) computes zeros, as the supernet does.
            x = sum(parts) if parts else torch.zeros_like(cell["residual"].narrow(x, width))
        return self.classifier.narrow(x, self.space.n_classes).mean(dim=(2, 3))


def _module_key(op_name: str) -> str:
    return op_name.replace(".", "__")  # ModuleDict keys may not contain dots


class Network(nn.Module):
    """One discrete architecture: an interpreter of `arch.ops()`, the very graph that is priced
    and deployed (no masks, no mixing; a skipped cell has no ops, so it is the identity)."""

    def __init__(self, arch: Architecture, dropout: float = 0.3, batch_norm: bool = False):
        super().__init__()
        self.arch = arch
        self.ops = arch.ops()
        self.dropout = Dropout(dropout)
        self.convs = nn.ModuleDict()
        for op in self.ops:
            c = op.config
            if c.op == "CONV_2D":
                # BN (training only, folded afterwards) on every conv but the classifier's.
                self.convs[_module_key(op.name)] = SameConv(
                    c.input_shape[-1], c.output_shape[-1], c.kernel, c.stride,
                    c.activation == "relu", batch_norm and op.name != "classifier")

    def fold_batch_norm(self) -> "Network":
        """Merge every BatchNorm into its conv: the result has exactly the deployed graph's
        parameters (and state_dict keys) and computes what the BN network computes in eval mode."""
        for conv in self.convs.values():
            conv.fold_batch_norm()
        return self

    def conv(self, op_name: str) -> SameConv:
        return self.convs[_module_key(op_name)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, T, S) → class logits (B, K) (the SOFTMAX op is left to the loss)."""
        tensors = {0: x.unsqueeze(1)}
        for op in self.ops:
            kind, args = op.config.op, [tensors[i] for i in op.inputs]
            if kind == "CONV_2D":
                y = self.conv(op.name)(args[0])
                if op.name.startswith("tr"):  # MicroNAS: dropout after the Time-Reduce cells
                    y = self.dropout(y)
            elif kind == "ADD":
                y = args[0] + args[1]
            elif kind == "MEAN":
                y = args[0].mean(dim=(2, 3))
            elif kind == "SOFTMAX":
                return args[0]
            else:  # pragma: no cover - the space emits no other ops
                raise NotImplementedError(kind)
            tensors[op.output] = y
        return tensors[self.ops[-1].output]


class ArchitectureParameters(nn.Module):
    """The logits of every choice. `sample` draws a Gumbel-softmax relaxation, `probabilities`
    gives the current distribution, `argmax` the most probable architecture."""

    def __init__(self, space: SearchSpace):
        super().__init__()
        self.space = space
        z = lambda *shape: nn.Parameter(torch.zeros(*shape))  # noqa: E731 - uniform start
        self.tr_kernel = nn.ParameterList(z(len(TR_KERNELS)) for _ in space.tr_shapes)
        self.tr_width = nn.ParameterList(z(len(TR_WIDTHS)) for _ in space.tr_shapes)
        self.sf_bottleneck = nn.ParameterList(z(len(SF_BOTTLENECKS)) for _ in space.sf_shapes)
        self.sf_branches = nn.ParameterList(z(len(BRANCH_KERNELS), 2) for _ in space.sf_shapes)
        self.sf_width = nn.ParameterList(z(len(SF_WIDTHS)) for _ in space.sf_shapes)
        self.sf_residual = nn.ParameterList(z(2) for _ in space.sf_shapes)
        # Reducing cells cannot be skipped; their entry is unused (kept for simple indexing).
        self.sf_skip = nn.ParameterList(z(2) for _ in space.sf_shapes)

    def _relax(self, f) -> Relaxation:
        """Apply `f` (logits → probabilities along the last axis) to every choice."""
        tr = [TrChoice(f(k), f(w)) for k, w in zip(self.tr_kernel, self.tr_width)]
        sf = []
        for j, shape in enumerate(self.space.sf_shapes):
            on = f(self.sf_branches[j])[..., 1]
            sf.append(SfChoice(f(self.sf_bottleneck[j]), on, f(self.sf_width[j]),
                               f(self.sf_residual[j])[1],
                               None if shape.reduce else f(self.sf_skip[j])[1]))
        return Relaxation(self.space, tr, sf)

    def sample(self, tau: float, generator: torch.Generator | None = None,
               hard: bool = False) -> Relaxation:
        """A Gumbel-softmax sample of every choice. With `hard`, the forward values are one-hot
        (a discrete architecture, priced exactly by the cost model) while gradients are those of
        the soft sample (straight-through), so the supernet trains the networks it would deploy."""
        def gumbel_softmax(logits: torch.Tensor) -> torch.Tensor:
            u = torch.rand(logits.shape, generator=generator).clamp_(1e-10, 1 - 1e-10)
            soft = torch.softmax((logits - torch.log(-torch.log(u))) / tau, dim=-1)
            if not hard:
                return soft
            one_hot = F.one_hot(soft.argmax(-1), soft.shape[-1]).to(soft.dtype)
            return one_hot - soft.detach() + soft
        return self._relax(gumbel_softmax)

    def probabilities(self) -> Relaxation:
        return self._relax(lambda logits: torch.softmax(logits, dim=-1))

    @torch.no_grad()
    def argmax(self) -> Architecture:
        """The most probable architecture, made valid with the most probable fix."""
        p = self.probabilities()
        tr = [TrCell(TR_KERNELS[int(c.kernel.argmax())], TR_WIDTHS[int(c.width.argmax())])
              for c in p.tr]
        sf = []
        for shape, c in zip(self.space.sf_shapes, p.sf):
            on = [bool(v > 0.5) for v in c.branches]
            residual = bool(c.residual > 0.5)
            skip = bool(c.skip > 0.5) if c.skip is not None else False
            if not any(on) and not residual and not skip:
                if shape.reduce:  # a reducing cell must compute something: its likeliest part
                    best = int(c.branches.argmax())
                    if float(c.branches[best]) >= float(c.residual):
                        on[best] = True
                    else:
                        residual = True
                else:
                    skip = True
            sf.append(SfCell(shape.reduce, SF_BOTTLENECKS[int(c.bottleneck.argmax())], tuple(on),
                             SF_WIDTHS[int(c.width.argmax())], residual, skip))
        return Architecture(self.space.input_steps, self.space.input_channels,
                            self.space.n_classes, tuple(tr), tuple(sf)).canonical()

    @torch.no_grad()
    def log_prob(self, arch: Architecture) -> float:
        """log P(arch) under the current distribution (choices a cell ignores do not count)."""
        p = self.probabilities()
        total = 0.0
        for c, cell in zip(p.tr, arch.tr_cells):
            total += math.log(float(c.kernel[TR_KERNELS.index(cell.kernel)]) + 1e-12)
            total += math.log(float(c.width[TR_WIDTHS.index(cell.width)]) + 1e-12)
        for c, cell in zip(p.sf, arch.sf_cells):
            if c.skip is not None:
                total += math.log((float(c.skip) if cell.skip else 1 - float(c.skip)) + 1e-12)
                if cell.skip:
                    continue
            for on, prob in zip(cell.branches, c.branches):
                total += math.log((float(prob) if on else 1 - float(prob)) + 1e-12)
            total += math.log((float(c.residual) if cell.residual else 1 - float(c.residual)) + 1e-12)
            if cell.has_branches:
                total += math.log(float(c.bottleneck[SF_BOTTLENECKS.index(cell.bottleneck)]) + 1e-12)
            total += math.log(float(c.width[SF_WIDTHS.index(cell.width)]) + 1e-12)
        return total


def inherit_weights(network: Network, supernet: Supernet) -> Network:
    """Give `network` the weights its ops have inside `supernet`: the chosen kernel's conv, its
    first filters and first input channels — what `Supernet.forward_path` computes for the
    network's one-hot relaxation (a BatchNorm of `network` starts as the identity)."""
    arch = network.arch
    with torch.no_grad():
        for op in network.ops:
            if op.config.op != "CONV_2D":
                continue
            cell, _, part = op.name.partition(".")
            if cell.startswith("tr"):
                i = int(cell[2:])
                source = supernet.tr[i][TR_KERNELS.index(arch.tr_cells[i].kernel)]
            elif cell.startswith("sf"):
                block = supernet.sf[int(cell[2:])]
                source = (block["branches"][BRANCH_KERNELS.index(int(part[len("branch"):]))]
                          if part.startswith("branch") else block[part])
            else:
                source = supernet.classifier
            target = network.conv(op.name).conv
            c_out, c_in = target.weight.shape[:2]
            target.weight.copy_(source.conv.weight[:c_out, :c_in])
            target.bias.copy_(source.conv.bias[:c_out])
    return network
