"""Block parameters: which numbers differ between a block's instances, what each is called,
which a caller passes, and the block's body with parameters in place of those numbers.

A column (one constant across all instances) that never differs stays a literal; one equal
to an earlier column is the same parameter; one that is 2, 3, 4, 6 or 8 times another is
written `c * 4` (or `c // 4`), one that is `(k - 1) // 2` of a kernel parameter is written so.
WILD entries (the side of an `if` an instance does not take) match anything.
"""

from __future__ import annotations

import keyword
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from ..lang.values import BUILTINS
from ..ops import REGISTRY
from .items import (
    WILD,
    Bin,
    Call,
    Cond,
    Const,
    Layer,
    Loop,
    Merge,
    Stmt,
    Value,
    Var,
    fill,
    map_calls,
    map_consts,
    values_of,
)

REQUIRED = object()
# parameter names for an op's slots, as a person would write them
_HINTS = {"out": "c", "kernel": "k", "start": "start", "stop": "n"}
RESERVED = set(REGISTRY) | set(BUILTINS) | set(keyword.kwlist) | {
    "block", "network", "input", "output", "repeat", "let", "init", "as", "import", "true", "false", "in_channels",
    "in_shape", "i", "same", "row", "batch", "nearest", "bilinear"}


@dataclass
class Block:
    """One block being formed: its name, the module class it comes from, its instances (path, items); once
    finished, its parameters (name, default or REQUIRED), which constants of an instance its callers
    pass (`positions`) and its body."""

    name: str
    cls: str
    instances: list[tuple[tuple[str, ...], tuple]] = field(default_factory=list)
    params: list[tuple[str, object]] = field(default_factory=list)  # (name, default or REQUIRED)
    positions: list[int] = field(default_factory=list)  # which constants of an instance its callers pass
    body: tuple = ()


def prune(items: tuple, blocks: Mapping[str, Block]) -> tuple:
    """Calls pass their block's parameters only (they were built with every constant)."""
    return map_calls(items, lambda c: replace(c, args=tuple(c.args[j] for j in blocks[c.block].positions)))


def _describe(items: tuple) -> str:
    """What a conditional part holds, for its flag's name: `downsample`, `relu`."""
    first = items[0]
    if getattr(first, "alias", None) and isinstance(first.alias[0], str) and first.alias[0].isidentifier():
        return first.alias[0]
    return first.block if isinstance(first, Call) else getattr(first, "op", "part")


def hints_of(items: tuple, blocks: Mapping[str, Block]) -> list[str]:
    """A name for every constant, in `values_of` order: the slot or parameter it fills."""
    out: list[str] = []

    def value(v: object, hint: str) -> None:
        if isinstance(v, Const):
            out.append(hint)
        elif isinstance(v, Bin):
            value(v.left, hint)
            value(v.right, hint + "_step" if v.op == "*" else hint)

    def alias(parts: tuple | None) -> None:
        for p in parts or ():
            if not isinstance(p, str):
                value(p, "idx")

    def visit(x: object) -> None:
        if isinstance(x, tuple):
            for v in x:
                visit(v)
        elif isinstance(x, Layer):
            for k, v in x.slots:
                value(v, _HINTS.get(k, k))
            alias(x.alias)
        elif isinstance(x, Call):
            for (k, _), v in zip(blocks[x.block].params, x.args, strict=True):
                value(v, k)
            alias(x.alias)
        elif isinstance(x, Loop):
            value(x.start, "start")
            value(x.stop, "n")
            visit(x.body)
        elif isinstance(x, Cond):
            value(x.flag, "with_" + _describe(x.then) if x.then else "without_" + _describe(x.orelse))
            visit(x.then)
            visit(x.orelse)
        elif isinstance(x, Merge):
            visit(x.branches)
        elif isinstance(x, Stmt):
            visit(x.items)
    visit(items)
    return out


def finish(block: Block, blocks: Mapping[str, Block]) -> Block:
    """`block` with parameters for the columns that differ, its template body, and which
    constants of an instance its callers pass (`positions`); `blocks` holds the finished
    blocks it calls. Neither argument is changed."""
    pruned = [prune(items, blocks) for _, items in block.instances]
    counter = iter(range(10**9))
    keep = values_of(prune(map_consts(block.instances[0][1], lambda c: Const(next(counter))), blocks))
    rows = [values_of(items) for items in pruned]
    hints = hints_of(pruned[0], blocks)
    exprs: dict[int, Value] = {}
    params: list[tuple[str, list, int]] = []  # name, column, hole index
    used: set[str] = set()
    columns = [[row[h] for row in rows] for h in range(len(hints))]
    # columns every instance has first, so that a column of an `if` can reuse their parameter
    for h in sorted(range(len(hints)), key=lambda h: sum(v is WILD for v in columns[h])):
        hint, col = hints[h], columns[h]
        expr = _known(col, params, alias=hint == "idx")
        if expr is None:
            pname, k = hint, 2
            while pname in used or pname in RESERVED:
                pname, k = f"{hint}{k}", k + 1
            used.add(pname)
            params.append((pname, col, h))
            expr = Var(pname)
        exprs[h] = expr
    signature = []
    for pname, col, h in params:
        known = [v for v in col if v is not WILD]
        value, count = Counter(map(repr, known)).most_common(1)[0]
        default = next(v for v in known if repr(v) == value)
        usual = (count >= 2 and 2 * count > len(known)) or len(known) < len(col)
        signature.append((pname, default if usual else REQUIRED, h))
    signature.sort(key=lambda p: (p[1] is not REQUIRED, p[2]))  # required first, then as written
    return replace(block, params=[(n, d) for n, d, _ in signature], positions=[keep[h] for _, _, h in signature],
                   body=_simplify(fill(pruned[0], [exprs[h] for h in range(len(hints))])))


def _same(param: list, col: list) -> bool:
    """Whether `param` gives every value `col` needs (WILD in `col` needs none)."""
    return all(y is WILD or (x is not WILD and x == y and type(x) is type(y)) for x, y in zip(param, col, strict=True))


def _known(col: list, params: list, alias: bool) -> Value | None:
    known = [v for v in col if v is not WILD]
    if not known:  # an argument for the side of an `if` that no instance here takes
        return Const(WILD)
    if all(repr(v) == repr(known[0]) for v in known):
        return Const(known[0])
    for pname, pcol, _ in params:
        if _same(pcol, col):
            return Var(pname)
    if alias or not all(type(v) is int for v in known):
        return None
    for pname, pcol, _ in params:
        pairs = [(v, p) for v, p in zip(col, pcol, strict=True) if v is not WILD]
        if all(p is not WILD for _, p in pairs) and all(type(p) is int and p > 0 for _, p in pairs):
            for k in (2, 3, 4, 6, 8):
                if all(v == p * k for v, p in pairs):
                    return Bin("*", Var(pname), Const(k))
                if all(p % k == 0 and v == p // k for v, p in pairs):
                    return Bin("//", Var(pname), Const(k))
            if pname.startswith("k") and all(v == (p - 1) // 2 for v, p in pairs):  # the padding that keeps size
                return Bin("//", Bin("-", Var(pname), Const(1)), Const(2))
    return None


def _simplify(x: object) -> object:
    """`first + 0.0 * (i - 1)` is `first`: a float progression that never moved."""
    if isinstance(x, tuple):
        return tuple(_simplify(v) for v in x)
    if isinstance(x, Bin):
        left, right = _simplify(x.left), _simplify(x.right)
        if x.op == "*" and any(v in (Const(0.0), Const(WILD)) for v in (left, right)):
            return Const(0.0)  # a step of zero, or of a loop that runs once (any step fits it)
        if x.op == "+" and right == Const(0.0):
            return left
        return Bin(x.op, left, right)
    if isinstance(x, (Layer, Call, Merge, Loop, Cond, Stmt)):
        return replace(x, **{k: _simplify(v) for k, v in vars(x).items()})
    return x
