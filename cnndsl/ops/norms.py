"""Normalisations whose statistics are each sample's own: group norm (Wu and He 2018) and
instance norm (Ulyanov et al. 2016), as nn.GroupNorm and nn.InstanceNorm2d, with the rules that
import those layers as them.

Their statistics span every position of a channel (or group), so each output pixel depends on
every pixel of its input, in eval mode too (unlike `bn`, whose running statistics make it
element-wise there): each output pixel's receptive field is the whole input plane (`_statistics_reach`).
An instance norm with running statistics uses them in eval mode, and is element-wise there.
"""

from __future__ import annotations

from collections.abc import Callable
from math import prod
from typing import Any

from . import lowering, reach
from .importing import Mapped, UnmappedError, import_rule
from .registry import (
    PER_ELEMENT,
    Attrs,
    Family,
    Op,
    Param,
    Shape,
    ShapeError,
    boolean,
    dims,
    integer,
    number,
    register,
    scale_and_shift,
)
from .registry import spatial as spatial_shape


def _statistics_reach(channels: Callable[[int], reach.Span], shapes: list[Shape], out: Shape,
                      elements: int) -> tuple[tuple[reach.Reads, ...], ...]:
    """A norm whose statistics span the whole plane (in eval mode too): every output pixel reads every input
    pixel of the channels `channels(c)` its statistics cover; nothing where those hold one element
    (`elements`), whose normalised value is a constant (the bias)."""
    if elements == 1:
        return (tuple(reach.Reads(i, lambda n=out[i]: [reach.NOTHING] * n) for i in (0, 1, 2)),)
    return ((reach.table(0, lambda: [channels(c) for c in range(out[0])]),
             *(reach.whole(i, shapes[0][i], out[i]) for i in (1, 2))),)


def _groupnorm_reach(a: Attrs, shapes: list[Shape], out: Shape, port: int) -> tuple[tuple[reach.Reads, ...], ...]:
    per = shapes[0][0] // a["groups"]
    return _statistics_reach(lambda c: (c // per * per, c // per * per + per - 1), shapes, out,
                             per * shapes[0][1] * shapes[0][2])


def _instancenorm_reach(a: Attrs, shapes: list[Shape], out: Shape,
                        port: int) -> tuple[tuple[reach.Reads, ...], ...]:
    if a["track_running_stats"]:  # eval mode normalises with the running statistics: element-wise
        return reach.elementwise(shapes, out)
    return _statistics_reach(lambda c: (c, c), shapes, out, shapes[0][1] * shapes[0][2])

def _groupnorm_shape(a: Attrs, s: list[Shape]) -> tuple[Shape, ...]:
    if not s[0]:
        raise ShapeError("groupnorm needs an input with a channel axis")
    c, g = s[0][0], a["groups"]
    if c % g:
        raise ShapeError(f"groupnorm {g} needs channels divisible by {g} (got {c} channels)")
    return (s[0],)


def _groupnorm_warnings(a: Attrs, s: list[Shape]) -> list[str]:
    values = s[0][0] // a["groups"] * prod(s[0][1:])
    if values > 1:
        return []
    return [f"normalises groups of one value on its {dims(s[0])} input: the output is the bias alone, and "
            "torch refuses a batch of one sample (in eval mode too)"]


GROUPNORM = Op(
    "groupnorm", Family.NORM, "Group normalisation over `groups` groups of channels, each sample's own statistics "
    "(`nn.GroupNorm`); `affine` learns a per-channel scale and shift.",
    params=(Param("groups", integer(1), positional=True), Param("eps", number(0.0), 1e-5, in_figures=False),
            Param("affine", boolean, True)),
    infer=_groupnorm_shape, warn=_groupnorm_warnings,
    count_params=lambda a, s: 2 * s[0][0] if a["affine"] else 0,
    count_macs=lambda a, s, o: prod(s[0]), macs=PER_ELEMENT,
    module=lambda nn, a, s: nn.GroupNorm(a["groups"], s[0][0], a["eps"], a["affine"]), init_axes=scale_and_shift,
    examples=(("groupnorm 2", (6, 4, 4)), ("groupnorm 3 eps=1e-3 affine=false", (6, 5, 3)), ("groupnorm 2", (4,))),
    reach=_groupnorm_reach,
    inplace_after=True,
)


def _instancenorm_shape(a: Attrs, s: list[Shape]) -> tuple[Shape, ...]:
    _, h, w = spatial_shape("instancenorm", s[0])
    if h * w == 1 and not a["track_running_stats"]:
        raise ShapeError(f"instancenorm normalises each channel over its positions: a {dims(s[0])} input has one "
                         "(torch refuses it); use track_running_stats=true or a larger input")
    return (s[0],)


def _instancenorm_warnings(a: Attrs, s: list[Shape]) -> list[str]:
    if prod(s[0][1:]) > 1:
        return []
    return [f"a {dims(s[0])} input has one position per channel: it runs in eval mode on the running statistics, "
            "but torch refuses it while training"]


INSTANCENORM = Op(
    "instancenorm", Family.NORM, "Instance normalisation of each channel of each sample over its positions "
    "(`nn.InstanceNorm2d`; as there, no affine scale and shift and no running statistics by default).",
    params=(Param("eps", number(0.0), 1e-5, in_figures=False),
            Param("momentum", number(0.0, 1.0), 0.1, in_figures=False),
            Param("affine", boolean, False), Param("track_running_stats", boolean, False)),
    infer=_instancenorm_shape, warn=_instancenorm_warnings,
    count_params=lambda a, s: 2 * s[0][0] if a["affine"] else 0,
    count_macs=lambda a, s, o: prod(s[0]), macs=PER_ELEMENT,
    module=lambda nn, a, s: nn.InstanceNorm2d(s[0][0], a["eps"], a["momentum"], a["affine"],
                                              a["track_running_stats"]), init_axes=scale_and_shift,
    examples=(("instancenorm", (3, 4, 5)), ("instancenorm affine=true eps=1e-3", (4, 3, 3)),
              ("instancenorm track_running_stats=true momentum=0.2", (2, 5, 5))),
    reach=_instancenorm_reach,
    export_lowering=lowering.instancenorm,
    inplace_after=True,
)

register(GROUPNORM, INSTANCENORM)


# ---- import rules -------------------------------------------------------------------


@import_rule("torch.nn.GroupNorm")
def _import_groupnorm(m: Any, shape: Shape) -> Mapped:
    return [(GROUPNORM.name, (("groups", m.num_groups), ("eps", float(m.eps)), ("affine", bool(m.affine))))]


@import_rule("torch.nn.InstanceNorm2d")
def _import_instancenorm(m: Any, shape: Shape) -> Mapped:
    if m.momentum is None:
        raise UnmappedError("momentum=None (a cumulative average)")
    return [(INSTANCENORM.name, (("eps", float(m.eps)), ("momentum", float(m.momentum)), ("affine", bool(m.affine)),
                                 ("track_running_stats", bool(m.track_running_stats))))]
