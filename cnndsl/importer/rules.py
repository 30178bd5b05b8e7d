"""Which torch layer or function becomes which cnndsl op, with which values.

A rule returns the op and its *slots*: every argument of the op in the registry's order,
defaults included (the writer leaves out what equals the default), so that two layers that
differ only in values have the same slots. A layer that cannot be expressed exactly (a
padding mode, a count_include_pad=False pool, ...) raises :class:`UnmappedError` with the reason.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F  # noqa: N812

from ..ops import torch_layers

Slots = tuple[tuple[str, Any], ...]


class UnmappedError(Exception):
    """This layer or call has no exact cnndsl op; the message says what does not fit."""


def canon(v: Any) -> Any:
    """One value for one meaning: (3, 3) -> 3, [1, 1] -> 1, tuples stay tuples otherwise."""
    if isinstance(v, (list, tuple)):
        v = tuple(canon(x) for x in v)
        return v[0] if len(v) == 2 and v[0] == v[1] else v
    return v


def _pad(p: Any) -> Any:
    if p == "valid":
        return 0
    return "same" if p == "same" else canon(p)


def _conv(m: nn.Conv2d, shape: tuple) -> list:
    if m.padding_mode != "zeros":
        raise UnmappedError(f"padding_mode={m.padding_mode!r} (cnndsl pads with zeros)")
    return [("conv", (("kernel", canon(m.kernel_size)), ("out", m.out_channels), ("stride", canon(m.stride)),
                      ("pad", _pad(m.padding)), ("dilation", canon(m.dilation)), ("groups", m.groups),
                      ("bias", m.bias is not None)))]


def _bn(m: nn.modules.batchnorm._BatchNorm, shape: tuple) -> list:
    if not m.affine or not m.track_running_stats or m.momentum is None:
        raise UnmappedError("affine=False, track_running_stats=False or momentum=None")
    return [("bn", (("eps", m.eps), ("momentum", m.momentum)))]


def _pool(op: str) -> Callable:
    def rule(m: nn.Module, shape: tuple) -> list:
        return _pool_slots(op, m.kernel_size, m.stride, m.padding, m.ceil_mode, getattr(m, "dilation", 1),
                           getattr(m, "count_include_pad", True), getattr(m, "divisor_override", None))
    return rule


def _pool_slots(op: str, kernel: Any, stride: Any, pad: Any, ceil: bool, dilation: Any = 1,
                count_include_pad: bool = True, divisor: Any = None) -> list:
    if canon(dilation) != 1 or not count_include_pad or divisor is not None:
        raise UnmappedError("dilation, count_include_pad=False or divisor_override")
    stride = kernel if stride is None or stride == [] else stride
    return [(op, (("kernel", canon(kernel)), ("stride", canon(stride)), ("pad", canon(pad)), ("ceil", bool(ceil))))]


def _adaptive(size: Any) -> list:
    size = canon(size)
    if size == 1:
        return [("gap", ())]
    if not isinstance(size, tuple) and not isinstance(size, int) or size is None:
        raise UnmappedError(f"output size {size}")
    return [("adaptive_avgpool", (("size", size),))]


def _linear(m: nn.Linear, shape: tuple) -> list:
    op = "fc" if len(shape) == 1 else "linear"
    return [(op, (("out", m.out_features), ("bias", m.bias is not None)))]


def _layernorm(op: str) -> Callable:
    def rule(m: nn.LayerNorm, shape: tuple) -> list:
        if len(m.normalized_shape) != 1 or not m.elementwise_affine or m.bias is None:
            raise UnmappedError("normalisation over more than one axis, or without weight and bias")
        return [(op, (("eps", m.eps),))]
    return rule


def _gelu(m: nn.GELU, shape: tuple) -> list:
    if m.approximate != "none":
        raise UnmappedError(f"approximate={m.approximate!r}")
    return [("gelu", ())]


def _simple(op: str) -> Callable:
    return lambda m, shape: [(op, ())]


def _stochastic_depth() -> dict:
    from torchvision.ops import StochasticDepth

    return {StochasticDepth: lambda m, s: [("stochastic_depth", (("p", m.p), ("mode", m.mode)))],
            torch_layers.StochasticDepth: lambda m, s: [("stochastic_depth", (("p", m.p), ("mode", m.mode)))]}


def _layernorm2d() -> dict:
    from torchvision.models.convnext import LayerNorm2d

    return {LayerNorm2d: _layernorm("layernorm2d"), torch_layers.LayerNorm2d: _layernorm("layernorm2d")}


def _permute_module() -> dict:
    from torchvision.ops.misc import Permute

    return {Permute: lambda m, s: _permute(m.dims)}


def _permute(dims: Any) -> list:
    dims = list(dims)
    if not dims or dims[0] != 0:
        raise UnmappedError("a permutation that moves the batch axis")
    return [("permute", (("order", tuple(d - 1 for d in dims[1:])),))]


MODULES: dict[type, Callable[[Any, tuple], list]] = {
    nn.Conv2d: _conv, nn.BatchNorm2d: _bn, nn.BatchNorm1d: _bn,
    nn.MaxPool2d: _pool("maxpool"), nn.AvgPool2d: _pool("avgpool"),
    nn.AdaptiveAvgPool2d: lambda m, s: _adaptive(m.output_size),
    nn.Linear: _linear, nn.Flatten: lambda m, s: _flatten(m.start_dim, m.end_dim),
    nn.Dropout: lambda m, s: [("dropout", (("p", m.p),))], nn.Identity: _simple("identity"),
    nn.ReLU: _simple("relu"), nn.ReLU6: _simple("relu6"), nn.SiLU: _simple("silu"), nn.Sigmoid: _simple("sigmoid"),
    nn.Tanh: _simple("tanh"), nn.Hardswish: _simple("hardswish"), nn.Hardsigmoid: _simple("hardsigmoid"),
    nn.GELU: _gelu, nn.LayerNorm: _layernorm("layernorm"), nn.ChannelShuffle: lambda m, s: [
        ("channel_shuffle", (("groups", m.groups),))],
    nn.LocalResponseNorm: lambda m, s: [("lrn", (("size", m.size), ("alpha", m.alpha), ("beta", m.beta), ("k", m.k)))],
    nn.LeakyReLU: lambda m, s: [("leaky_relu", (("slope", m.negative_slope),))],
    nn.Softmax: lambda m, s: [("softmax", ())] if m.dim in (1, -1) and len(s) == 1 else _unmapped(f"dim={m.dim}"),
    **_stochastic_depth(), **_layernorm2d(), **_permute_module(),
}
LEAVES = frozenset(MODULES)


def _unmapped(why: str) -> list:
    raise UnmappedError(why)


def _flatten(start: int, end: int) -> list:
    if start != 1 or end != -1:
        raise UnmappedError(f"flatten({start}, {end}) (cnndsl flattens all but the batch axis)")
    return [("flatten", ())]


def map_module(module: nn.Module, in_shape: tuple) -> list:
    rule = MODULES.get(type(module))
    if rule is None:
        raise UnmappedError("")
    return rule(module, in_shape)


def _arg(args: tuple, kwargs: dict, i: int, name: str, default: Any = None) -> Any:
    return args[i] if len(args) > i else kwargs.get(name, default)


def _mean(args: tuple, kwargs: dict, shape: tuple) -> tuple:
    dims = canon(_arg(args, kwargs, 1, "dim"))
    if len(shape) == 3 and dims in ((2, 3), (-2, -1)) and not _arg(args, kwargs, 2, "keepdim", False):
        return [("gap", ()), ("flatten", ())], [args[0]], 1
    raise UnmappedError(f"mean over {dims}")


def map_function(target: Any, args: tuple, kwargs: dict, shape: tuple) -> tuple:
    """-> ([(op, slots), ...] in order, empty for a pass-through; tensor arguments; number of outputs)."""
    name = getattr(target, "__name__", str(target))
    x = args[0] if args else None
    if target in (operator.add, torch.add, "add") and "alpha" not in kwargs:
        return [("add", ())], list(args[:2]), 1
    if target in (operator.mul, torch.mul, "mul"):
        return [("mul", ())], list(args[:2]), 1
    if target is torch.cat:
        tensors, dim = list(args[0]), _arg(args, kwargs, 1, "dim", 0)
        if dim not in (1, -3):
            raise UnmappedError(f"cat along axis {dim} (cnndsl concatenates channels)")
        return ([] if len(tensors) == 1 else [("concat", ())]), tensors, 1
    if target in (torch.flatten, "flatten"):
        return _one(_flatten(_arg(args, kwargs, 1, "start_dim", 0), _arg(args, kwargs, 2, "end_dim", -1)), x)
    if target in (F.relu, torch.relu, "relu"):
        return [("relu", ())], [x], 1
    if target in (torch.sigmoid, F.sigmoid, "sigmoid"):
        return [("sigmoid", ())], [x], 1
    if target is F.adaptive_avg_pool2d:
        return _one(_adaptive(_arg(args, kwargs, 1, "output_size")), x)
    if target in (F.avg_pool2d, F.max_pool2d):
        op = "avgpool" if target is F.avg_pool2d else "maxpool"
        get = lambda i, k, d: _arg(args, kwargs, i, k, d)  # noqa: E731
        extra = (1, get(5, "count_include_pad", True), get(6, "divisor_override", None)) if op == "avgpool" else (
            get(4, "dilation", 1), True, None)
        ceil = get(5 if op == "maxpool" else 4, "ceil_mode", False)
        return _one(_pool_slots(op, get(1, "kernel_size", None), get(2, "stride", None), get(3, "padding", 0), ceil,
                                *extra), x)
    if target is F.dropout:
        return [("dropout", (("p", _arg(args, kwargs, 1, "p", 0.5)),))], [x], 1
    if target in ("chunk", torch.chunk):
        parts, dim = _arg(args, kwargs, 1, "chunks"), _arg(args, kwargs, 2, "dim", 0)
        if dim not in (1, -len(shape) - 1 if shape else 1) or not shape or shape[0] % parts:
            raise UnmappedError(f"chunk into {parts} along axis {dim}")
        return [("split", (("parts", parts),))], [x], parts
    if target == "mean":
        return _mean(args, kwargs, shape)
    if target == "contiguous":
        return [], [x], 1
    if name == "channel_shuffle":
        return [("channel_shuffle", (("groups", _arg(args, kwargs, 1, "groups")),))], [x], 1
    raise UnmappedError("")


def _one(mapped: list, x: Any) -> tuple:
    return mapped, [x], 1
