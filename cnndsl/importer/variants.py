"""Two shapes of one module class as one block with an `if`.

torchvision's Bottleneck has a `downsample` branch in the first block of a stage and none in
the others; Conv2dNormActivation has an activation or not. `align` finds the one place where
two bodies differ (descending into the one merge branch that differs) and returns both
bodies rewritten with `Cond(flag, this, that)` there: each instance takes its own side, and
the constants of the side it does not take are WILD (any value fits them).
"""

from __future__ import annotations

from dataclasses import replace

from .items import Cond, Const, Merge, shape_of, wild


def _common(a: tuple, b: tuple) -> tuple[int, int]:
    p = 0
    while p < min(len(a), len(b)) and shape_of((a[p],)) == shape_of((b[p],)):
        p += 1
    q = 0
    while q < min(len(a), len(b)) - p and shape_of((a[-1 - q],)) == shape_of((b[-1 - q],)):
        q += 1
    return p, q


def align(a: tuple, b: tuple, top: bool = True) -> tuple[tuple, tuple] | None:
    """(a', b') with equal shapes and one Cond, or None when they differ in more than one place
    (or when one is empty: a block that is sometimes nothing is not one block)."""
    if shape_of(a) == shape_of(b):
        return a, b
    p, q = _common(a, b)
    ma, mb = a[p:len(a) - q], b[p:len(b) - q]
    head, tail_a, tail_b = a[:p], a[len(a) - q:], b[len(b) - q:]
    if (len(ma) == len(mb) == 1 and isinstance(ma[0], Merge) and isinstance(mb[0], Merge)
            and ma[0].op == mb[0].op and len(ma[0].branches) == len(mb[0].branches)):
        differ = [k for k, (x, y) in enumerate(zip(ma[0].branches, mb[0].branches, strict=True))
                  if shape_of(x) != shape_of(y)]
        if len(differ) == 1:
            k = differ[0]
            inner = align(ma[0].branches[k], mb[0].branches[k], top=False)
            if inner is None:
                return None
            ba, bb = list(ma[0].branches), list(mb[0].branches)
            ba[k], bb[k] = inner
            return head + (replace(ma[0], branches=tuple(ba)),) + tail_a, head + (
                replace(mb[0], branches=tuple(bb)),) + tail_b
    if (top and not (head or tail_a)) or _has_cond(ma) or _has_cond(mb):
        return None
    if not ma:  # the side with items is the `if`: `if with_downsample { ... }`
        return (head + (Cond(Const(False), wild(mb), ma),) + tail_a,
                head + (Cond(Const(True), mb, wild(ma)),) + tail_b)
    return (head + (Cond(Const(True), ma, wild(mb)),) + tail_a,
            head + (Cond(Const(False), wild(ma), mb),) + tail_b)


def _has_cond(items: tuple) -> bool:
    return "Cond(" in repr(items)
