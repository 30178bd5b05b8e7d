"""Layers without a sliding window: the input, norms, fc, and the shape-only layers, with the
rules that import torch's layers and calls as them."""

from __future__ import annotations

from math import prod
from typing import Any

from . import lowering, reach
from .importing import Called, Mapped, UnmappedError, arg, import_call_rule, import_rule, on_first, unmapped
from .registry import (
    PER_WEIGHT,
    REQUIRED,
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
    positive,
    register,
    scale_and_shift,
    spatial,
    weight_and_bias,
)

# ---- normalisation ------------------------------------------------------------------


def _bn_shape(a: Attrs, s: list[Shape]) -> tuple[Shape, ...]:
    if len(s[0]) not in (1, 3):
        raise ShapeError(f"bn expects a CxHxW or flat input (got {dims(s[0])})")
    return (s[0],)


BN = Op(
    "bn", Family.NORM, "Batch normalisation: `nn.BatchNorm2d` on CxHxW inputs, `nn.BatchNorm1d` on flat ones.",
    params=(Param("eps", number(0.0), 1e-5, in_figures=False),
            Param("momentum", number(0.0, 1.0), 0.1, in_figures=False)),
    infer=_bn_shape, count_params=lambda a, s: 2 * s[0][0],
    count_macs=lambda a, s, o: prod(s[0]), macs="one per element: a scale and shift in eval mode (fvcore counts two)",
    module=lambda nn, a, s: (nn.BatchNorm2d if len(s[0]) == 3 else nn.BatchNorm1d)(
        s[0][0], eps=a["eps"], momentum=a["momentum"]), init_axes=scale_and_shift,
    examples=(("bn eps=0.001", (4, 5, 5)), ("bn momentum=0.2", (6,))),
    inplace_after=True,
)
def _lrn_shape(a: Attrs, s: list[Shape]) -> tuple[Shape, ...]:
    # torch's local_response_norm needs positions besides the channels (a 3-D batch or more)
    if len(s[0]) < 2:
        raise ShapeError(f"lrn normalises across channels at each position: it needs a CxHxW input (got {dims(s[0])})")
    return (s[0],)


LRN = Op(
    "lrn", Family.NORM, "Local response normalisation across channels (`nn.LocalResponseNorm`).",
    params=(Param("size", integer(1), positional=True), Param("alpha", number(0.0), 1e-4),
            Param("beta", number(0.0), 0.75), Param("k", number(0.0), 1.0)),
    infer=_lrn_shape, module=lambda nn, a, s: nn.LocalResponseNorm(a["size"], a["alpha"], a["beta"], a["k"]),
    # each channel's sum of squares over channels c - size // 2 .. c + (size - 1) // 2 (torch's padding)
    reach=lambda a, s, o, port: reach.elementwise(s, o) if len(o) != 3 else (reach.replace_axis(
        reach.elementwise(s, o)[0], 0, reach.window(0, o[0], o[0], a["size"], 1, 1, a["size"] // 2)),),
    examples=(("lrn 3 k=2", (6, 5, 5)),),
    export_lowering=lowering.lrn,
)

# ---- fully connected and shape-only layers ---------------------------------------------


def _fc_shape(a: Attrs, s: list[Shape]) -> tuple[Shape, ...]:
    if len(s[0]) != 1:
        raise ShapeError(f"fc expects a flat input (got {dims(s[0])}); add 'flatten' before it")
    return ((a["out"],),)


FC = Op(
    "fc", Family.FC, "Fully-connected layer (`nn.Linear`); input features come from the input shape.",
    params=(Param("out", integer(1), positional=True), Param("bias", boolean, True, in_figures=False)),
    infer=_fc_shape, count_params=lambda a, s: s[0][0] * a["out"] + (a["out"] if a["bias"] else 0),
    count_macs=lambda a, s, o: s[0][0] * a["out"], macs=PER_WEIGHT,
    module=lambda nn, a, s: nn.Linear(s[0][0], a["out"], a["bias"]), init_axes=weight_and_bias(2),
    examples=(("fc 7", (12,)), ("fc 3 bias=false", (5,))),
    inplace_after=True,
)
FLATTEN = Op(
    "flatten", Family.RESHAPE, "Flattens CxHxW to C*H*W features (`nn.Flatten`).",
    infer=lambda a, s: ((prod(s[0]),),), module=lambda nn, a, s: nn.Flatten(),
    examples=(("flatten", (4, 3, 3)),),
    stores_output=False,
)
DROPOUT = Op(
    "dropout", Family.OTHER, "Dropout with probability p (`nn.Dropout`).",
    params=(Param("p", number(0.0, 1.0), 0.5, positional=True),),
    infer=lambda a, s: (s[0],), module=lambda nn, a, s: nn.Dropout(a["p"]),
    examples=(("dropout 0.3", (4, 3, 3)),),
)
DROPOUT2D = Op(
    "dropout2d", Family.OTHER, "Drops whole channels with probability p while training (`nn.Dropout2d`).",
    params=(Param("p", number(0.0, 1.0), 0.5, positional=True),),
    # torch reads any other rank as something else (a flat batch as one sample's channels)
    infer=lambda a, s: (spatial("dropout2d", s[0]),), module=lambda nn, a, s: nn.Dropout2d(a["p"]),
    examples=(("dropout2d 0.3", (4, 3, 3)), ("dropout2d", (2, 5, 4))),
)
SOFTMAX = Op(
    "softmax", Family.ACT, "Softmax over channels (`nn.Softmax(dim=1)`).",
    infer=lambda a, s: (s[0],), module=lambda nn, a, s: nn.Softmax(dim=1),
    reach=lambda a, s, o, port: (reach.replace_axis(reach.elementwise(s, o)[0], 0, reach.normalised(0, o[0])),),
    examples=(("softmax", (5,)),),
)
IDENTITY = Op(
    "identity", Family.OTHER, "Passes its input on (no module); the empty branch of a merge.",
    infer=lambda a, s: (s[0],), function=lambda torch, xs, a: xs[0],
    stores_output=False,
    drawn=False,
)


def _upsample_shape(a: Attrs, s: list[Shape]) -> tuple[Shape, ...]:
    c, h, w = spatial("upsample", s[0])
    return ((c, int(h * a["scale"]), int(w * a["scale"])),)


UPSAMPLE = Op(
    "upsample", Family.OTHER, "Upsampling by a scale factor (`nn.Upsample`).",
    params=(Param("scale", positive, REQUIRED, positional=True),
            Param("mode", choice("nearest", "bilinear"), "nearest", symbols=("nearest", "bilinear"))),
    infer=_upsample_shape,
    module=lambda nn, a, s: nn.Upsample(scale_factor=a["scale"], mode=a["mode"],
                                        **({"align_corners": False} if a["mode"] == "bilinear" else {})),
    examples=(("upsample 2", (3, 4, 4)), ("upsample 2 mode=bilinear", (3, 4, 5))),
    reach=lambda a, s, o, port: ((reach.same(0, o[0]), *((reach.bilinear if a["mode"] == "bilinear" else reach.nearest)(
        i, s[0][i], o[i], a["scale"]) for i in (1, 2))),),
    count_macs=lambda a, s, o: prod(o[0]) * (4 if a['mode'] == 'bilinear' else 1),
    macs="one per output element, four for bilinear (as fvcore)",
)

INPUT = Op(
    "input", Family.IO, "The network input, per sample (`input 3x224x224`); the compiled model's argument.",
    infer=lambda a, s: (a["shape"],), label=lambda a: f"input {dims(a['shape'])}",
    examples=(("identity", (3, 4, 4)),),  # the input is a placeholder; it has no module
)

register(INPUT, BN, LRN, FC, FLATTEN, DROPOUT, DROPOUT2D, SOFTMAX, IDENTITY, UPSAMPLE)


# ---- import rules -------------------------------------------------------------------


@import_rule("torch.nn.BatchNorm2d", "torch.nn.BatchNorm1d")
def _import_bn(m: Any, shape: Shape) -> Mapped:
    if not m.affine or not m.track_running_stats or m.momentum is None:
        raise UnmappedError("affine=False, track_running_stats=False or momentum=None")
    return [(BN.name, (("eps", m.eps), ("momentum", m.momentum)))]


@import_rule("torch.nn.LocalResponseNorm")
def _import_lrn(m: Any, shape: Shape) -> Mapped:
    return [(LRN.name, (("size", m.size), ("alpha", m.alpha), ("beta", m.beta), ("k", m.k)))]


def _flatten_slots(start: int, end: int) -> Mapped:
    if start != 1 or end != -1:
        raise UnmappedError(f"flatten({start}, {end}) (cnndsl flattens all but the batch axis)")
    return [(FLATTEN.name, ())]


@import_rule("torch.nn.Flatten")
def _import_flatten(m: Any, shape: Shape) -> Mapped:
    return _flatten_slots(m.start_dim, m.end_dim)


@import_call_rule("torch.flatten", "torch.Tensor.flatten")
def _flatten_call(args: tuple, kwargs: dict, shape: Shape) -> Called:
    return on_first(_flatten_slots(arg(args, kwargs, 1, "start_dim", 0), arg(args, kwargs, 2, "end_dim", -1)), args)


@import_rule("torch.nn.Dropout")
def _import_dropout(m: Any, shape: Shape) -> Mapped:
    return [(DROPOUT.name, (("p", m.p),))]


@import_call_rule("torch.nn.functional.dropout")
def _dropout_call(args: tuple, kwargs: dict, shape: Shape) -> Called:
    return on_first([(DROPOUT.name, (("p", arg(args, kwargs, 1, "p", 0.5)),))], args)


@import_rule("torch.nn.Dropout2d")
def _import_dropout2d(m: Any, shape: Shape) -> Mapped:
    return [(DROPOUT2D.name, (("p", m.p),))]


@import_rule("torch.nn.Identity")
def _import_identity(m: Any, shape: Shape) -> Mapped:
    return [(IDENTITY.name, ())]


@import_rule("torch.nn.Softmax")
def _import_softmax(m: Any, shape: Shape) -> Mapped:
    return [(SOFTMAX.name, ())] if m.dim in (1, -1) and len(shape) == 1 else unmapped(f"dim={m.dim}")
