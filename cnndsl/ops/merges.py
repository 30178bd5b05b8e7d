"""Ops that join branches (concat, add, mul) and the op that splits one tensor (split), with
the rules that import torch's calls as them."""

from __future__ import annotations

import functools
import operator
from math import prod

from . import reach
from .importing import Called, SizeOf, UnmappedError, arg, import_call_rule
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



def _resize_like_shape(a: Attrs, shapes: list[Shape]) -> tuple[Shape, ...]:
    if len(shapes) > 2:
        raise ShapeError(f"`resize_like` takes two branches, the tensor to resize and the one whose size it takes "
                         f"(got {len(shapes)})")
    if len(shapes) == 1:  # passed on, as a merge of one branch is
        return (shapes[0],)
    for s in shapes:
        if len(s) != 3:
            raise ShapeError(f"`resize_like` resizes CxHxW tensors to a CxHxW tensor's size (got {dims(s)})")
    return ((shapes[0][0], *shapes[-1][1:]),)


def _resize_like(torch: object, xs: list, a: Attrs) -> object:
    """x resized to ref's height and width; torch refuses what the shape rule refuses (a third tensor,
    a reference of another rank: `shape[2:]` is then not two sizes)."""
    if len(xs) == 1:  # one branch: resized to its own size, itself
        return xs[0]
    if len(xs) > 2:
        raise ValueError(f"resize_like takes two tensors, got {len(xs)}")
    return torch.nn.functional.interpolate(xs[0], size=xs[1].shape[2:], mode="bilinear", align_corners=False)


def _resize_like_reach(a: Attrs, shapes: list[Shape], out: Shape, port: int) -> tuple[tuple[reach.Reads, ...], ...]:
    """The first branch is read bilinearly (PyTorch's step for a size); of the second only the size is read."""
    resized = (reach.same(0, out[0]), *(reach.bilinear_to_size(i, shapes[0][i], out[i]) for i in (1, 2)))
    return (resized, *((reach.nothing(0, out[0]), reach.nothing(1, out[1]), reach.nothing(2, out[2])),)
            * (len(shapes) - 1))


RESIZE_LIKE = Op(
    "resize_like", Family.MERGE, "Resizes its first branch bilinearly to the height and width of its second "
    "(`F.interpolate(x, size=y.shape[-2:], mode=\"bilinear\", align_corners=False)`), as segmentation heads "
    "return to the input's size.",
    infer=_resize_like_shape, merge=True, passes_one=True, glyph="resize", function=_resize_like,
    reach=_resize_like_reach,
    count_macs=lambda a, s, o: prod(o[0]) * 4 if len(s) > 1 else 0,
    macs="one per output element, four for bilinear (as fvcore)",
    examples=(("resize_like { conv 3x3/2 5 pad=1 | identity }", (3, 7, 6)),
              ("x = identity\ny = x -> conv 3x3/2 5, upsample 3\nresize_like(y, x)", (3, 9, 8)),
              ("resize_like { gap | identity }", (4, 5, 3))),
)

register(CONCAT, ADD, MUL, SPLIT, RESIZE_LIKE)


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


@import_call_rule("torch.nn.functional.interpolate")
def _interpolate_call(args: tuple, kwargs: dict, shape: Shape) -> Called:
    size, mode = arg(args, kwargs, 1, "size"), arg(args, kwargs, 3, "mode", "nearest")
    corners, antialias = arg(args, kwargs, 4, "align_corners"), arg(args, kwargs, 6, "antialias", False)
    if not isinstance(size, SizeOf) or mode != "bilinear" or corners or antialias or len(shape) != 3:
        raise UnmappedError("only `F.interpolate(x, size=y.shape[-2:], mode=\"bilinear\", align_corners=False)` "
                            "has an op (`resize_like`)")
    return [(RESIZE_LIKE.name, ())], [args[0], size.tensor], 1
