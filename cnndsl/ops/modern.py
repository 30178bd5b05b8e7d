"""Ops of the networks after 2016 that torchvision ships: ShuffleNet's channel shuffle,
EfficientNet's and ConvNeXt's stochastic depth, ConvNeXt's layer scale, channels-last layer
norm and per-position linear layers. Each matches the torchvision/torch layer exactly (the
importer maps those layers here by the rules below, and the round-trip test loads torchvision's
weights)."""

from __future__ import annotations

from math import prod
from typing import Any

from . import reach
from .importing import Called, Mapped, ModuleRule, UnmappedError, arg, import_call_rule, import_rule, on_first
from .layers import FC
from .registry import (
    PER_ELEMENT,
    PER_WEIGHT,
    ArgError,
    Attrs,
    Family,
    Op,
    Param,
    Shape,
    ShapeError,
    boolean,
    choice,
    dims,
    integer,
    number,
    register,
    scale_and_shift,
    spatial,
    weight_and_bias,
)


def _torch_layers():  # noqa: ANN202
    from . import torch_layers  # torch is imported only when a model is built

    return torch_layers


def _shuffle_shape(a: Attrs, s: list[Shape]) -> tuple[Shape, ...]:
    c = spatial("channel_shuffle", s[0])[0]
    if c % a["groups"]:
        raise ShapeError(f"channel_shuffle {a['groups']} needs channels divisible by {a['groups']} (got {c})")
    return (s[0],)


CHANNEL_SHUFFLE = Op(
    "channel_shuffle", Family.RESHAPE,
    "Interleaves the channels of `groups` groups (ShuffleNet, Zhang et al. 2018), as torchvision's "
    "`channel_shuffle` (a view, transpose and view).",
    params=(Param("groups", integer(1), positional=True),), infer=_shuffle_shape,
    # as torchvision's channel_shuffle (view, transpose, view): unlike nn.ChannelShuffle it exports to ONNX
    function=lambda torch, xs, a: xs[0].unflatten(1, (a["groups"], -1)).transpose(1, 2).flatten(1, 2),
    reach=lambda a, s, o, port: (reach.replace_axis(reach.elementwise(s, o)[0], 0, reach.table(0, lambda: [
        ((c % a["groups"]) * (o[0] // a["groups"]) + c // a["groups"],) * 2 for c in range(o[0])])),),
    examples=(("channel_shuffle 2", (4, 3, 3)),),
)

STOCHASTIC_DEPTH = Op(
    "stochastic_depth", Family.OTHER,
    "Drops a residual branch per sample (`row`) or per batch with probability p while training, "
    "scaling by 1/(1-p) (Huang et al. 2016; `torchvision.ops.StochasticDepth`); identity in eval mode.",
    params=(Param("p", number(0.0, 1.0), positional=True),
            Param("mode", choice("row", "batch"), "row", symbols=("row", "batch"))),
    infer=lambda a, s: (s[0],),
    module=lambda nn, a, s: _torch_layers().StochasticDepth(a["p"], a["mode"]),
    examples=(("stochastic_depth 0.2", (4, 3, 3)), ("stochastic_depth 0.1 mode=batch", (5,))),
    drawn=False,
)

LAYER_SCALE = Op(
    "layer_scale", Family.OTHER,
    "Multiplies each channel by a learned factor, initialised to `init`, a number or an initialiser (ConvNeXt, "
    "Liu et al. 2022; CaiT's LayerScale). The parameter is the layer itself: its state_dict key is the layer's name.",
    params=(Param("init", number(), 1e-6, positional=True),),
    infer=lambda a, s: (spatial("layer_scale", s[0]) and s[0],), count_params=lambda a, s: s[0][0],
    count_macs=lambda a, s, o: prod(s[0]), macs=PER_ELEMENT,
    parameter=lambda a, s: ((s[0][0], 1, 1), a["init"]), init_axes=lambda a: (3, 0),
    function=lambda torch, xs, a: xs[1] * xs[0],
    examples=(("layer_scale 0.5", (4, 3, 3)),),
)


def _order(v: object) -> tuple[int, ...]:
    if not isinstance(v, tuple) or sorted(v) != list(range(len(v))):
        raise ArgError("a permutation of the sample axes such as (1, 2, 0)")
    return v


def _permute_shape(a: Attrs, s: list[Shape]) -> tuple[Shape, ...]:
    if len(a["order"]) != len(s[0]):
        raise ShapeError(f"permute {a['order']} needs a {len(a['order'])}-axis input (got {dims(s[0])})")
    return (tuple(s[0][i] for i in a["order"]),)


PERMUTE = Op(
    "permute", Family.RESHAPE,
    "Reorders the sample's axes (the batch stays first): `permute (1, 2, 0)` makes CxHxW channels-last.",
    params=(Param("order", _order, positional=True, note="e.g. `(1, 2, 0)`"),), infer=_permute_shape,
    function=lambda torch, xs, a: xs[0].permute(0, *(i + 1 for i in a["order"])),
    reach=lambda a, s, o, port: (tuple(reach.same(a["order"][i], o[i]) for i in range(len(o))),),
    stores_output=False,
    examples=(("permute (1, 2, 0)", (4, 3, 5)),),
)


def _last_axis(op: str, s: Shape) -> int:
    if not s:
        raise ShapeError(f"{op} needs an input with at least one axis")
    return s[-1]


def _along_last(s: list[Shape], o: Shape, norm: bool = False) -> tuple[tuple[reach.Reads, ...], ...]:
    """layernorm (`norm`) and linear act along the last axis: each output element reads all of it."""
    last = len(o) - 1
    along = reach.normalised(last, o[-1]) if norm else reach.whole(last, s[0][-1], o[-1])
    return (reach.replace_axis(reach.elementwise(s, o)[0], last, along),)


LAYERNORM = Op(
    "layernorm", Family.NORM,
    "Layer normalisation over the last axis (`nn.LayerNorm`); with `permute` for channels-last.",
    params=(Param("eps", number(0.0), 1e-5, in_figures=False),),
    infer=lambda a, s: (_last_axis("layernorm", s[0]) and s[0],),
    count_params=lambda a, s: 2 * s[0][-1], count_macs=lambda a, s, o: prod(s[0]), macs=PER_ELEMENT,
    module=lambda nn, a, s: nn.LayerNorm(s[0][-1], eps=a["eps"]), init_axes=scale_and_shift,
    reach=lambda a, s, o, port: _along_last(s, o, norm=True),
    examples=(("layernorm eps=1e-6", (4, 3, 5)), ("layernorm", (6,))),
)
LAYERNORM2D = Op(
    "layernorm2d", Family.NORM, "Layer normalisation over the channels of a CxHxW input at each position "
    "(ConvNeXt's `LayerNorm2d`).",
    params=(Param("eps", number(0.0), 1e-5, in_figures=False),), infer=lambda a, s: (spatial("layernorm2d", s[0]),),
    count_params=lambda a, s: 2 * s[0][0], count_macs=lambda a, s, o: prod(s[0]), macs=PER_ELEMENT,
    module=lambda nn, a, s: _torch_layers().LayerNorm2d(s[0][0], eps=a["eps"]), init_axes=scale_and_shift,
    reach=lambda a, s, o, port: (reach.replace_axis(reach.elementwise(s, o)[0], 0, reach.normalised(0, o[0])),),
    examples=(("layernorm2d eps=1e-6", (4, 3, 5)),),
)
LINEAR = Op(
    "linear", Family.FC, "`nn.Linear` applied along the last axis of any input (a 1x1 convolution on "
    "channels-last tensors); `fc` is the same on flat inputs.",
    params=(Param("out", integer(1), positional=True), Param("bias", boolean, True, in_figures=False)),
    infer=lambda a, s: ((*s[0][:-1], a["out"]) if _last_axis("linear", s[0]) else s[0],),
    count_params=lambda a, s: s[0][-1] * a["out"] + (a["out"] if a["bias"] else 0),
    count_macs=lambda a, s, o: prod(s[0]) * a["out"], macs=PER_WEIGHT,
    module=lambda nn, a, s: nn.Linear(s[0][-1], a["out"], a["bias"]), init_axes=weight_and_bias(2),
    reach=lambda a, s, o, port: _along_last(s, o),
    examples=(("permute (1, 2, 0), linear 6", (4, 3, 5)), ("linear 3 bias=false", (5,))),
    inplace_after=True,
)

register(CHANNEL_SHUFFLE, STOCHASTIC_DEPTH, LAYER_SCALE, PERMUTE, LAYERNORM, LAYERNORM2D, LINEAR)


# ---- import rules -------------------------------------------------------------------


@import_rule("torch.nn.ChannelShuffle")
def _import_shuffle(m: Any, shape: Shape) -> Mapped:
    return [(CHANNEL_SHUFFLE.name, (("groups", m.groups),))]


@import_call_rule("torchvision.models.shufflenetv2.channel_shuffle", "torch.nn.functional.channel_shuffle")
def _shuffle_call(args: tuple, kwargs: dict, shape: Shape) -> Called:
    return on_first([(CHANNEL_SHUFFLE.name, (("groups", arg(args, kwargs, 1, "groups")),))], args)


@import_rule("torchvision.ops.StochasticDepth", "cnndsl.ops.torch_layers.StochasticDepth")
def _import_stochastic_depth(m: Any, shape: Shape) -> Mapped:
    return [(STOCHASTIC_DEPTH.name, (("p", m.p), ("mode", m.mode)))]


@import_rule("torchvision.ops.misc.Permute")
def _import_permute(m: Any, shape: Shape) -> Mapped:
    order = list(m.dims)
    if not order or order[0] != 0:
        raise UnmappedError("a permutation that moves the batch axis")
    return [(PERMUTE.name, (("order", tuple(d - 1 for d in order[1:])),))]


def _import_layernorm(op: Op) -> ModuleRule:
    def rule(m: Any, shape: Shape) -> Mapped:
        if len(m.normalized_shape) != 1 or not m.elementwise_affine or m.bias is None:
            raise UnmappedError("normalisation over more than one axis, or without weight and bias")
        return [(op.name, (("eps", m.eps),))]
    return rule


import_rule("torch.nn.LayerNorm")(_import_layernorm(LAYERNORM))
import_rule("torchvision.models.convnext.LayerNorm2d", "cnndsl.ops.torch_layers.LayerNorm2d")(
    _import_layernorm(LAYERNORM2D))


@import_rule("torch.nn.Linear")
def _import_linear(m: Any, shape: Shape) -> Mapped:
    """`fc` on a flat input, `linear` along the last axis of any other."""
    op = FC if len(shape) == 1 else LINEAR
    return [(op.name, (("out", m.out_features), ("bias", m.bias is not None)))]
