"""Ops that join branches (concat, add, mul) and the op that splits one tensor (split), with
the rules that import torch's calls as them."""

from __future__ import annotations

import functools
import operator

from . import reach
from .importing import Called, UnmappedError, arg, import_call_rule
from .registry import Attrs, Family, Op, Param, Shape, ShapeError, dims, integer, register


def _same_rank(op: str, shapes: list[Shape]) -> None:
    if len({len(s) for s in shapes}) > 1:
        raise ShapeError(f"`{op}` branches disagree: " + " vs ".join(dims(s) for s in shapes))


def _concat_shape(a: Attrs, shapes: list[Shape]) -> tuple[Shape, ...]:
    _same_rank("concat", shapes)
    if len({s[1:] for s in shapes}) > 1:
        raise ShapeError("`concat` branches disagree in size: " + " vs ".join(dims(s) for s in shapes)
                         + " (all but the channels must match)")
    return ((sum(s[0] for s in shapes), *shapes[0][1:]),)


def _add_shape(a: Attrs, shapes: list[Shape]) -> tuple[Shape, ...]:
    if len(set(shapes)) > 1:
        raise ShapeError("`add` branches disagree: " + " vs ".join(dims(s) for s in shapes))
    return (shapes[0],)


def _broadcast(a: Attrs, shapes: list[Shape]) -> tuple[Shape, ...]:
    _same_rank("mul", shapes)
    out = []
    for sizes in zip(*shapes, strict=False):
        big = set(sizes) - {1}
        if len(big) > 1:
            raise ShapeError("`mul` branches do not broadcast: " + " vs ".join(dims(s) for s in shapes))
        out.append(big.pop() if big else 1)
    return (tuple(out),)


def _concat_reach(a: Attrs, shapes: list[Shape], out: Shape, port: int) -> tuple[tuple[reach.Reads, ...], ...]:
    """Each branch gives its own channels of the output and nothing to the others."""
    offsets = [sum(s[0] for s in shapes[:b]) for b in range(len(shapes))]

    return tuple(reach.replace_axis(rule, 0, reach.shifted(0, shapes[b][0], out[0], offsets[b]))
                 for b, rule in enumerate(reach.elementwise(shapes, out)))


CONCAT = Op("concat", Family.MERGE, "Concatenates its branches along the channel axis (`torch.cat(dim=1)`).",
            infer=_concat_shape, merge=True, inplace_after=True, glyph="concat",
            function=lambda torch, xs, a: torch.cat(xs, 1), reach=_concat_reach,
            examples=(("concat { identity | conv 1x1 3 }", (4, 5, 5)), ("concat { identity | fc 3 }", (6,))))
ADD = Op("add", Family.MERGE, "Adds its branches (`+`); their shapes must be equal.", infer=_add_shape, merge=True,
         inplace_after=True, glyph="+", passes_one=True,
         function=lambda torch, xs, a: functools.reduce(operator.add, xs),
         examples=(("add { identity | conv 3x3 4 pad=1 | relu }", (4, 5, 5)),))
MUL = Op("mul", Family.MERGE, "Multiplies its branches with broadcasting (`*`; squeeze-and-excitation gates).",
         infer=_broadcast, merge=True, glyph="×", passes_one=True,
         function=lambda torch, xs, a: functools.reduce(operator.mul, xs),
         examples=(("mul { identity | gap, conv 1x1 4, sigmoid }", (4, 5, 5)),))


def _split_shape(a: Attrs, shapes: list[Shape]) -> tuple[Shape, ...]:
    c, *rest = shapes[0]
    if c % a["parts"]:
        raise ShapeError(f"split {a['parts']} needs channels divisible by {a['parts']} (got {c})")
    return tuple((c // a["parts"], *rest) for _ in range(a["parts"]))


SPLIT = Op("split", Family.RESHAPE, "Splits the channels into equal parts, several outputs: `(a, b) = split 2` "
           "(`torch.tensor_split(dim=1)`).",
           params=(Param("parts", integer(2), 2, positional=True),), infer=_split_shape,
           outputs=lambda a: a["parts"], stores_output=False,
           # output `port` holds input channels port * n .. (port + 1) * n - 1
           reach=lambda a, s, o, port: (reach.replace_axis(reach.elementwise(s, o)[0], 0, reach.shifted(
               0, s[0][0], o[0], -port * o[0])),),
           function=lambda torch, xs, a: torch.tensor_split(xs[0], a["parts"], 1),
           examples=(("(a, b, c) = split 3\noutput c\noutput a", (6, 4, 4)),))

register(CONCAT, ADD, MUL, SPLIT)


# ---- import rules -------------------------------------------------------------------


@import_call_rule("torch.cat")
def _cat_call(args: tuple, kwargs: dict, shape: Shape) -> Called:
    tensors, dim = list(args[0]), arg(args, kwargs, 1, "dim", 0)
    if dim not in (1, -3):
        raise UnmappedError(f"cat along axis {dim} (cnndsl concatenates channels)")
    return ([] if len(tensors) == 1 else [(CONCAT.name, ())]), tensors, 1


@import_call_rule("operator.add", "torch.add", "torch.Tensor.add")
def _add_call(args: tuple, kwargs: dict, shape: Shape) -> Called:
    if "alpha" in kwargs:
        raise UnmappedError("")  # x + alpha * y: no op
    return [(ADD.name, ())], list(args[:2]), 1


@import_call_rule("operator.mul", "torch.mul", "torch.Tensor.mul")
def _mul_call(args: tuple, kwargs: dict, shape: Shape) -> Called:
    return [(MUL.name, ())], list(args[:2]), 1


@import_call_rule("torch.chunk", "torch.Tensor.chunk")
def _chunk_call(args: tuple, kwargs: dict, shape: Shape) -> Called:
    parts, dim = arg(args, kwargs, 1, "chunks"), arg(args, kwargs, 2, "dim", 0)
    if dim not in (1, -len(shape) - 1 if shape else 1) or not shape or shape[0] % parts:
        raise UnmappedError(f"chunk into {parts} along axis {dim}")
    return [(SPLIT.name, (("parts", parts),))], [args[0] if args else None], parts
