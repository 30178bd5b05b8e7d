"""Ops that join branches (concat, add, mul) and the op that splits one tensor (split)."""

from __future__ import annotations

import functools
import operator

from .registry import Attrs, Op, Param, Shape, ShapeError, dims, integer, register


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


CONCAT = Op("concat", "merge", "Concatenates its branches along the channel axis (torch.cat(dim=1)).",
            infer=_concat_shape, merge=True, inplace_after=True, diagram="merge", glyph="concat",
            function=lambda torch, xs, a: torch.cat(xs, 1),
            examples=(("concat { identity | conv 1x1 3 }", (4, 5, 5)), ("concat { identity | fc 3 }", (6,))))
ADD = Op("add", "merge", "Adds its branches; their shapes must be equal.", infer=_add_shape, merge=True,
         inplace_after=True, diagram="merge", glyph="+",
         function=lambda torch, xs, a: functools.reduce(operator.add, xs),
         examples=(("add { identity | conv 3x3 4 pad=1 | relu }", (4, 5, 5)),))
MUL = Op("mul", "merge", "Multiplies its branches with broadcasting (squeeze-and-excitation gates).",
         infer=_broadcast, merge=True, diagram="merge", glyph="×",
         function=lambda torch, xs, a: functools.reduce(operator.mul, xs),
         examples=(("mul { identity | gap, conv 1x1 4, sigmoid }", (4, 5, 5)),))


def _split_shape(a: Attrs, shapes: list[Shape]) -> tuple[Shape, ...]:
    c, *rest = shapes[0]
    if c % a["parts"]:
        raise ShapeError(f"split {a['parts']} needs channels divisible by {a['parts']} (got {c})")
    return tuple((c // a["parts"], *rest) for _ in range(a["parts"]))


SPLIT = Op("split", "reshape", "Splits the channels into equal parts: `(a, b) = split 2`.",
           params=(Param("parts", integer(2), 2, positional=True),), infer=_split_shape,
           outputs=lambda a: a["parts"], label=lambda a: f"split {a['parts']}", stores_output=False,
           function=lambda torch, xs, a: torch.tensor_split(xs[0], a["parts"], 1),
           examples=(("(a, b, c) = split 3\noutput c\noutput a", (6, 4, 4)),))

register(CONCAT, ADD, MUL, SPLIT)
