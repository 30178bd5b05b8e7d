"""Repeated items become loops: `layer1.1`, `layer1.2`, ... calls that differ only in their
number are `for i in range(1, n) { Bottleneck(...) as "{i}" }`.

A run of items with the same shape becomes one loop when every number in it is constant,
counts up with the loop (the `as` numbers, anything that steps by one), or, in a run of
three or more or a stage, is an arithmetic progression of floats (EfficientNet's stochastic
depth rates, which torchvision computes as `rate * k / blocks`; they are written as
`first + step * (i - start)` and equal torchvision's to 1e-9 relative).
"""

from __future__ import annotations

from collections.abc import Callable

from .items import LOOP_VAR, WILD, Bin, Call, Const, Loop, Merge, Value, Var, fill, shape_of, uses_loop_var, values_of

FLOAT_TOLERANCE = 1e-9


def _progression(values: list, start: int) -> Value | None:
    """An expression in the loop variable giving `values` for i = start, start+1, ..."""
    first = values[0]
    if all(v == first for v in values) and (type(first) is not float):
        return Const(first)
    if all(type(v) is int for v in values):
        if all(b - a == 1 for a, b in zip(values, values[1:], strict=False)):
            return Var(LOOP_VAR) if first == start else Bin("+", Var(LOOP_VAR), Const(first - start))
        return None
    if all(type(v) in (int, float) and not isinstance(v, bool) for v in values):
        # 12 significant digits: torchvision's `rate * k / blocks` steps then agree across stages
        step = _round((values[-1] - first) / (len(values) - 1)) if len(values) > 1 else WILD  # one value: any step
        first = _round(first)
        if all(abs(first + (0 if step is WILD else step) * k - v) <= FLOAT_TOLERANCE * max(abs(v), 1e-300)
               for k, v in enumerate(values)):
            offset = Bin("-", Var(LOOP_VAR), Const(start)) if start else Var(LOOP_VAR)
            return Bin("+", Const(first), Bin("*", Const(step), offset))
    return None


def _round(x: float) -> float:
    return float(f"{x:.12g}")


def _loop(run: list, index: list[bool], stage: bool) -> Loop | None:
    columns = list(zip(*[values_of((item,)) for item in run], strict=True))
    starts = [col[0] for col, is_index in zip(columns, index, strict=True)
              if is_index and all(type(v) is int for v in col)
              and all(b - a == 1 for a, b in zip(col, col[1:], strict=False))]
    start = starts[0] if starts else 0
    exprs = []
    for col, is_index in zip(columns, index, strict=True):
        if is_index and col[0] == start and len(set(col)) == len(col):
            exprs.append(Var(LOOP_VAR))
            continue
        floats = type(col[0]) is float
        if len(set(col)) == 1 and not (stage and floats):
            exprs.append(Const(col[0]))
            continue
        if not (stage or len(run) >= 3 or not floats):
            return None
        expr = _progression(list(col), start)
        if expr is None or (isinstance(expr, Bin) and not floats and not is_index and len(run) < 3 and not stage):
            return None
        exprs.append(expr)
    # a block's parameter is the count of what it repeats: a stage's blocks, its first one included
    # (`range(1, n)` of resnet50's layer(64, 3)), else the loop's own (DenseBlock(6): `range(1, n + 1)`)
    stop = Const(start + len(run)) if stage or not start else Bin("+", Const(len(run)), Const(start))
    return Loop(Const(start), stop, fill((run[0],), exprs))


def _index_holes(item: object) -> list[bool]:
    """Which constants of an item are numbers in `as` names."""
    marked = values_of((_mark(item),))
    return [v == "INDEX" for v in marked]


def _mark(x: object) -> object:
    from dataclasses import fields, is_dataclass, replace

    if isinstance(x, tuple):
        return tuple(_mark(v) for v in x)
    if is_dataclass(x) and not isinstance(x, (Const, Var, Bin)):
        changes = {f.name: _mark(getattr(x, f.name)) for f in fields(x)}
        if getattr(x, "alias", None):
            changes["alias"] = tuple(Const("INDEX") if isinstance(p, Const) else p for p in x.alias)
        return replace(x, **changes)
    return x


def compress(items: tuple, stage: Callable[[object], bool] | None = None) -> tuple:
    """Runs of two or more items as loops; in a stage (calls of residual blocks, `stage(block)`
    says which, whose first may differ from the rest as torchvision's `_make_layer` builds
    them) all calls after the first, so that stages of any length have one shape. Merge
    branches are compressed too."""
    items = tuple(Merge(i.op, tuple(compress(b) for b in i.branches)) if isinstance(i, Merge) else i for i in items)
    if stage and len(items) >= 2 and all(isinstance(i, Call) and i.block == items[1].block for i in items[1:]) \
            and isinstance(items[0], Call) and stage(items[1].block):
        loop = _loop(list(items[1:]), _index_holes(items[1]), True)
        if loop is not None:
            return (items[0], loop)
    shapes = [shape_of((item,)) for item in items]
    looped = [uses_loop_var(item) for item in items]
    out: list = []
    i = 0
    while i < len(items):
        end = i + 1
        while end < len(items) and shapes[end] == shapes[i]:
            end += 1
        for j in range(end, i + 1, -1):
            loop = None if looped[i] else _loop(list(items[i:j]), _index_holes(items[i]), False)
            if loop is not None and _safe_names(loop):
                out.append(loop)
                i = j
                break
        else:
            out.append(items[i])
            i += 1
    return tuple(out)


def _safe_names(loop: Loop) -> bool:
    """A loop may not give the same `as` name twice: every constant alias must use `i`."""
    body = loop.body[0]
    aliases = _aliases(body)
    return all(any(isinstance(p, Var) for p in a) and not any(isinstance(p, Bin) for p in a) for a in aliases)


def _aliases(x: object) -> list:
    from dataclasses import fields, is_dataclass

    out = []
    if isinstance(x, tuple):
        for v in x:
            out += _aliases(v)
    elif is_dataclass(x) and not isinstance(x, (Const, Var, Bin)):
        if getattr(x, "alias", None):
            out.append(x.alias)
        if not isinstance(x, Call):
            for f in fields(x):
                if f.name != "alias":
                    out += _aliases(getattr(x, f.name))
    return out
