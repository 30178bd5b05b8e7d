"""Ops that slide a window over a CxHxW input: conv and the pools, with the rules that import
torch's layers and calls as them."""

from __future__ import annotations

import functools
from math import prod
from typing import Any

from . import lowering, reach
from .importing import Called, Mapped, ModuleRule, UnmappedError, arg, canon, import_call_rule, import_rule, on_first
from .layers import FLATTEN
from .reach import Reads
from .registry import (
    PER_WEIGHT,
    Attrs,
    Family,
    Op,
    Param,
    Shape,
    ShapeError,
    boolean,
    dims,
    integer,
    pad_or_same,
    pair,
    register,
    spatial,
    weight_and_bias,
)
from .sliding import dropped, fitting_sizes, output_length


def _sliding_reach(a: Attrs, shapes: list[Shape], out: Shape, port: int) -> tuple[tuple[Reads, ...], ...]:
    """Each spatial axis a window (torch's `padding="same"` pads (k - 1) d // 2 before); conv's
    channels by group (every input channel of the output channel's group), a pool's one to one."""
    dil = a.get("dilation", (1, 1))
    left = [(k - 1) * d // 2 for k, d in zip(a["kernel"], dil, strict=True)] if a["pad"] == "same" else a["pad"]
    axes = [reach.window(i + 1, shapes[0][i + 1], out[i + 1], a["kernel"][i], a["stride"][i], dil[i], left[i])
            for i in range(2)]
    return ((group_channels(a, shapes[0][0], out[0]), *axes),)


def group_channels(a: Attrs, n_in: int, n_out: int) -> Reads:
    """A convolution's channels: output channel o reads every input channel of its group (a pool's: its own)."""
    if "groups" not in a:
        return reach.same(0, n_out)
    if a["groups"] == 1:
        return reach.whole(0, n_in, n_out)
    per_in, per_out = n_in // a["groups"], n_out // a["groups"]
    return reach.table(0, lambda: [((o // per_out) * per_in, (o // per_out + 1) * per_in - 1) for o in range(n_out)])


def _whole(a: Attrs, shapes: list[Shape], out: Shape, port: int) -> tuple[tuple[Reads, ...], ...]:
    """Global pooling: one window over the whole input."""
    return ((reach.same(0, out[0]), *(reach.whole(i, shapes[0][i], out[i]) for i in (1, 2))),)


def _adaptive(a: Attrs, shapes: list[Shape], out: Shape, port: int) -> tuple[tuple[Reads, ...], ...]:
    return ((reach.same(0, out[0]), *(reach.adaptive(i, shapes[0][i], out[i]) for i in (1, 2))),)


def _window_warnings(a: Attrs, shapes: list[Shape]) -> list[str]:
    """LANGUAGE.md §7: a floor division that drops input rows or columns is a warning."""
    _, h, w = shapes[0]
    pad = a["pad"] if a["pad"] != "same" else (0, 0)
    dil = a.get("dilation", (1, 1))
    lost = [dropped(n, a["kernel"][i], a["stride"][i], pad[i], dil[i]) for i, n in enumerate((h, w))]
    if not any(lost):
        return []
    fits = [fitting_sizes(n, a["kernel"][i], a["stride"][i], pad[i], dil[i]) for i, n in enumerate((h, w))]
    words = zip(lost, ("row", "column"), strict=True)
    what = " and ".join(f"{n} {word}{'s' if n > 1 else ''}" for n, word in words if n)
    return [f"drops the last {what} of its {dims(shapes[0])} input; an input of "
            f"{fits[0][0]}x{fits[1][0]} or {fits[0][1]}x{fits[1][1]} here would fit exactly"]


def _windowed_shape(op: str, a: Attrs, shape: Shape, channels: int, ceil: bool = False) -> Shape:
    """The output of a sliding window (`output_length` per axis); a size under 1, where torch
    refuses the input, is left to the elaborator's check that every output dimension is >= 1."""
    c, h, w = spatial(op, shape)
    if a["pad"] == "same":
        if a["stride"] != (1, 1):
            raise ShapeError(f"pad=same needs stride 1 (got stride {dims(a['stride'])})")
        return channels, h, w
    dil = a.get("dilation", (1, 1))
    return (channels, *(output_length(n, a["kernel"][i], a["stride"][i], a["pad"][i], dil[i], ceil)
                        for i, n in enumerate((h, w))))


# ---- conv ---------------------------------------------------------------------------


def check_groups(a: Attrs, channels: int) -> None:
    """ShapeError unless `groups` divides the input channels and `out` (conv, conv_transpose)."""
    g = a["groups"]
    if channels % g or a["out"] % g:
        raise ShapeError(f"groups={g} must divide both the input channels ({channels}) and the output channels "
                         f"({a['out']})")


def _conv_shape(a: Attrs, shapes: list[Shape]) -> tuple[Shape, ...]:
    check_groups(a, spatial("conv", shapes[0])[0])
    return (_windowed_shape("conv", a, shapes[0], a["out"]),)


def _conv_params(a: Attrs, shapes: list[Shape]) -> int:
    c = shapes[0][0]
    return a["out"] * (c // a["groups"]) * prod(a["kernel"]) + (a["out"] if a["bias"] else 0)


def _conv_macs(a: Attrs, shapes: list[Shape], outs: tuple[Shape, ...]) -> int:
    # one multiply-accumulate per weight per output position; bias not counted (fvcore, torchinfo)
    return prod(outs[0]) * (shapes[0][0] // a["groups"]) * prod(a["kernel"])


def _conv_module(nn, a: Attrs, shapes: list[Shape]):  # noqa: ANN001, ANN202
    return nn.Conv2d(shapes[0][0], a["out"], a["kernel"], a["stride"], a["pad"], a["dilation"],
                     a["groups"], a["bias"])


CONV = Op(
    "conv", Family.CONV, "2-D convolution (`nn.Conv2d`); input channels come from the input shape.",
    params=(Param("kernel", pair(1), positional=True, stride=True),
            Param("out", integer(1), positional=True),
            Param("stride", pair(1), (1, 1)),
            Param("pad", pad_or_same, (0, 0), symbols=("same",), note="int, `HxW` or `same`"),
            Param("dilation", pair(1), (1, 1)), Param("groups", integer(1), 1),
            Param("bias", boolean, True, in_figures=False)),
    infer=_conv_shape, count_params=_conv_params, count_macs=_conv_macs, macs=PER_WEIGHT, module=_conv_module,
    drops=_window_warnings, init_axes=weight_and_bias(4),
    examples=(("conv 3x3/2 8 pad=1 groups=2 bias=false", (4, 9, 9)), ("conv 2x3 6 pad=same dilation=2", (3, 8, 7))),
    inplace_after=True,
    reach=_sliding_reach,
    export_lowering=lowering.same_conv,
)

# ---- pooling ------------------------------------------------------------------------


def _pool_prepare(a: Attrs) -> Attrs:
    return {**a, "stride": a["kernel"] if a["stride"] is None else a["stride"]}


INT32_MAX = 2 ** 31 - 1


def _pool_shape(op: str):  # noqa: ANN202
    def infer(a: Attrs, shapes: list[Shape]) -> tuple[Shape, ...]:
        if a["pad"] != "same" and any(2 * p > k for p, k in zip(a["pad"], a["kernel"], strict=False)):
            raise ShapeError(f"pad={dims(a['pad'])} must be at most half the kernel {dims(a['kernel'])}")
        for key in ("kernel", "stride", "pad"):  # torch's pooling kernels take them as 32-bit ints
            if any(v > INT32_MAX for v in a[key]):
                raise ShapeError(f"{key}={dims(a[key])} is beyond what torch's pooling takes (at most {INT32_MAX})")
        return (_windowed_shape(op, a, shapes[0], spatial(op, shapes[0])[0], a["ceil"]),)
    return infer


def _pool_params(dilated: bool) -> tuple[Param, ...]:
    dilation = (Param("dilation", pair(1), (1, 1)),) if dilated else ()
    return (Param("kernel", pair(1), positional=True, stride=True), Param("stride", pair(1), None, note="= kernel"),
            Param("pad", pair(0), (0, 0)), *dilation, Param("ceil", boolean, False))


def _pool(name: str, torch_class: str, lowering_rule, examples: tuple) -> Op:  # noqa: ANN001 (a lowering)
    """maxpool and avgpool: the same signature (maxpool's with `dilation`, as nn.MaxPool2d; the
    dilated window sizes the output, widens the field and is labelled), shape rule and warnings,
    torch's class by name (from this module's own table, never from user text)."""
    dilated = name == "maxpool"

    def module(nn, a: Attrs, s: list[Shape]):  # noqa: ANN001, ANN202
        extra = {"dilation": a["dilation"]} if dilated else {}
        return getattr(nn, torch_class)(a["kernel"], a["stride"], a["pad"], ceil_mode=a["ceil"], **extra)
    kind = "Max" if dilated else "Average"
    return Op(name, Family.POOL, f"{kind} pooling (`nn.{torch_class}`); the stride defaults to the kernel.",
              params=_pool_params(dilated), prepare=_pool_prepare, infer=_pool_shape(name), module=module,
              drops=lambda a, s: [] if a["ceil"] else _window_warnings(a, s), examples=examples,
              reach=_sliding_reach, export_lowering=lowering_rule)


MAXPOOL = _pool("maxpool", "MaxPool2d", lowering.maxpool,
                (("maxpool 3x3/2 pad=1 ceil=true", (4, 10, 10)), ("maxpool 2", (3, 7, 7)),
                 ("maxpool 3x3/2 dilation=2 ceil=true", (3, 10, 9)), ("maxpool 2x3/1 pad=1 dilation=2x3", (2, 8, 9))))
AVGPOOL = _pool("avgpool", "AvgPool2d", lowering.ceil_avgpool,
                (("avgpool 3/2 ceil=true", (4, 10, 10)), ("avgpool 2x2/1 pad=1", (3, 6, 6))))
# one add per input element, as fvcore counts adaptive_avg_pool2d
PER_INPUT = "one per input element (as fvcore)"

GAP = Op(
    "gap", Family.POOL, "Global average pooling to Cx1x1 (`nn.AdaptiveAvgPool2d(1)`).",
    infer=lambda a, s: ((spatial("gap", s[0])[0], 1, 1),),
    count_macs=lambda a, s, o: prod(s[0]), macs=PER_INPUT,
    module=lambda nn, a, s: nn.AdaptiveAvgPool2d(1),
    examples=(("gap", (4, 5, 5)),),
    reach=_whole,
)


def _adaptive_shape(op: str):  # noqa: ANN202
    def infer(a: Attrs, s: list[Shape]) -> tuple[Shape, ...]:
        return ((spatial(op, s[0])[0], *a["size"]),)
    return infer


ADAPTIVE_AVGPOOL = Op(
    "adaptive_avgpool", Family.POOL, "Adaptive average pooling to C x size (`nn.AdaptiveAvgPool2d`).",
    params=(Param("size", pair(1), positional=True, note="HxW"),), infer=_adaptive_shape("adaptive_avgpool"),
    count_macs=lambda a, s, o: prod(s[0]), macs=PER_INPUT,
    module=lambda nn, a, s: nn.AdaptiveAvgPool2d(a["size"]),
    examples=(("adaptive_avgpool 2x3", (4, 9, 9)),),
    reach=_adaptive,
    export_lowering=lowering.adaptive_avgpool,
)
# no MACs, as maxpool: a max is comparisons (fvcore counts none for either)
ADAPTIVE_MAXPOOL = Op(
    "adaptive_maxpool", Family.POOL, "Adaptive max pooling to C x size (`nn.AdaptiveMaxPool2d`).",
    params=(Param("size", pair(1), positional=True, note="HxW"),), infer=_adaptive_shape("adaptive_maxpool"),
    module=lambda nn, a, s: nn.AdaptiveMaxPool2d(a["size"]),
    examples=(("adaptive_maxpool 2x3", (4, 9, 9)), ("adaptive_maxpool 5x4", (3, 7, 9))),
    reach=_adaptive,
    export_lowering=lowering.adaptive_maxpool,
)

register(CONV, MAXPOOL, AVGPOOL, GAP, ADAPTIVE_AVGPOOL, ADAPTIVE_MAXPOOL)


# ---- import rules -------------------------------------------------------------------


def _pad(p: Any) -> Any:
    if p == "valid":
        return 0
    return "same" if p == "same" else canon(p)


@import_rule("torch.nn.Conv2d")
def _import_conv(m: Any, shape: Shape) -> Mapped:
    if m.padding_mode != "zeros":
        raise UnmappedError(f"padding_mode={m.padding_mode!r} (cnndsl pads with zeros)")
    return [(CONV.name, (("kernel", canon(m.kernel_size)), ("out", m.out_channels), ("stride", canon(m.stride)),
                         ("pad", _pad(m.padding)), ("dilation", canon(m.dilation)), ("groups", m.groups),
                         ("bias", m.bias is not None)))]


def _pool_slots(op: Op, kernel: Any, stride: Any, pad: Any, ceil: bool, dilation: Any = 1,
                count_include_pad: bool = True, divisor: Any = None) -> Mapped:
    if not count_include_pad or divisor is not None:
        raise UnmappedError("count_include_pad=False or divisor_override")
    dilated = op is MAXPOOL
    if canon(dilation) != 1 and not dilated:
        raise UnmappedError("dilation")
    stride = kernel if stride is None or stride == [] else stride
    slots = (("kernel", canon(kernel)), ("stride", canon(stride)), ("pad", canon(pad)))
    return [(op.name, (*slots, *((("dilation", canon(dilation)),) if dilated else ()), ("ceil", bool(ceil))))]


def _import_pool(op: Op) -> ModuleRule:
    def rule(m: Any, shape: Shape) -> Mapped:
        return _pool_slots(op, m.kernel_size, m.stride, m.padding, m.ceil_mode, getattr(m, "dilation", 1),
                           getattr(m, "count_include_pad", True), getattr(m, "divisor_override", None))
    return rule


import_rule("torch.nn.MaxPool2d")(_import_pool(MAXPOOL))
import_rule("torch.nn.AvgPool2d")(_import_pool(AVGPOOL))


@import_call_rule("torch.nn.functional.max_pool2d")
def _max_pool_call(args: tuple, kwargs: dict, shape: Shape) -> Called:
    get = functools.partial(arg, args, kwargs)  # max_pool2d(x, kernel_size, stride, padding, dilation, ceil_mode)
    return on_first(_pool_slots(MAXPOOL, get(1, "kernel_size"), get(2, "stride"), get(3, "padding", 0),
                                get(5, "ceil_mode", False), get(4, "dilation", 1)), args)


@import_call_rule("torch.nn.functional.avg_pool2d")
def _avg_pool_call(args: tuple, kwargs: dict, shape: Shape) -> Called:
    get = functools.partial(arg, args, kwargs)  # avg_pool2d(x, kernel_size, stride, padding, ceil_mode, ...)
    return on_first(_pool_slots(AVGPOOL, get(1, "kernel_size"), get(2, "stride"), get(3, "padding", 0),
                                get(4, "ceil_mode", False), 1, get(5, "count_include_pad", True),
                                get(6, "divisor_override")), args)


def _adaptive_slots(size: Any) -> Mapped:
    size = canon(size)
    if size == 1:
        return [(GAP.name, ())]
    if not isinstance(size, tuple) and not isinstance(size, int) or size is None:
        raise UnmappedError(f"output size {size}")
    return [(ADAPTIVE_AVGPOOL.name, (("size", size),))]


@import_rule("torch.nn.AdaptiveAvgPool2d")
def _import_adaptive(m: Any, shape: Shape) -> Mapped:
    return _adaptive_slots(m.output_size)


@import_call_rule("torch.nn.functional.adaptive_avg_pool2d")
def _adaptive_call(args: tuple, kwargs: dict, shape: Shape) -> Called:
    return on_first(_adaptive_slots(arg(args, kwargs, 1, "output_size")), args)


def _adaptive_max_slots(size: Any, indices: bool) -> Mapped:
    size = canon(size)
    if indices or size is None or isinstance(size, tuple) and None in size:
        raise UnmappedError("return_indices=True or an output size of None")
    return [(ADAPTIVE_MAXPOOL.name, (("size", size),))]


@import_rule("torch.nn.AdaptiveMaxPool2d")
def _import_adaptive_max(m: Any, shape: Shape) -> Mapped:
    return _adaptive_max_slots(m.output_size, m.return_indices)


@import_call_rule("torch.nn.functional.adaptive_max_pool2d")
def _adaptive_max_call(args: tuple, kwargs: dict, shape: Shape) -> Called:
    return on_first(_adaptive_max_slots(arg(args, kwargs, 1, "output_size"), arg(args, kwargs, 2, "return_indices",
                                                                                   False)), args)


@import_call_rule("torch.Tensor.mean")
def _mean_call(args: tuple, kwargs: dict, shape: Shape) -> Called:
    """`x.mean([2, 3])`: global average pooling as torchvision's ShuffleNetV2 and MNASNet write it."""
    axes = canon(arg(args, kwargs, 1, "dim"))
    if len(shape) == 3 and axes in ((2, 3), (-2, -1)) and not arg(args, kwargs, 2, "keepdim", False):
        return [(GAP.name, ()), (FLATTEN.name, ())], [args[0]], 1
    raise UnmappedError(f"mean over {axes}")
