"""From module instances to blocks with parameters.

Every module instance is written as items (`graph.body`), with repeated items folded into
loops (`loops.compress`). Instances of one class whose items have the same shape are one
block; the numbers that differ between instances become its parameters (a column equal to
another is the same parameter, a column that is k times another is written `c * k`), the
numbers that never differ stay literals. Children are finished before their callers, so a
call passes exactly its block's parameters.
"""

from __future__ import annotations

import keyword
from collections import Counter
from dataclasses import dataclass, field, replace
from graphlib import TopologicalSorter

from ..ops import REGISTRY
from ..values import BUILTINS
from .graph import Graph, Scope, body, normalize
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
    alias_of,
    fill,
    shape_of,
    values_of,
)
from .loops import compress
from .variants import realize, similar, template

REQUIRED = object()
_CONTAINERS = ("Sequential", "ModuleList", "ModuleDict", "Module")
# parameter names for an op's slots, as a person would write them
_HINTS = {"out": "c", "kernel": "k", "start": "start", "stop": "n"}
_RESERVED = set(REGISTRY) | set(BUILTINS) | set(keyword.kwlist) | {
    "block", "network", "input", "output", "repeat", "let", "as", "import", "true", "false", "in_channels",
    "in_shape", "i", "same", "row", "batch", "nearest", "bilinear"}


@dataclass
class Block:
    name: str
    cls: str
    instances: list[tuple[tuple[str, ...], tuple]] = field(default_factory=list)
    params: list[tuple[str, object]] = field(default_factory=list)  # (name, default or REQUIRED)
    positions: list[int] = field(default_factory=list)  # which constants of an instance its callers pass
    body: tuple = ()


@dataclass
class Imported:
    name: str
    input_shape: tuple[int, ...]
    blocks: list[Block]
    body: tuple


def _class_key(g: Graph, path: tuple) -> tuple:
    """Instances of one class may share a block; plain containers only when their names and
    their parents' classes do (`layer1`..`layer4`, not a model's `layers` and a block's)."""
    cls = g.scopes.get(path, "Module")
    return (cls, _base(path[-1]), g.scopes.get(path[:-1])) if cls in _CONTAINERS else (cls,)


def _base(name: str) -> str:
    return "".join(c for c in name if not c.isdigit()).strip("_-")


class _Builder:
    """Groups instances into blocks: an instance's items name its children's blocks, so the
    grouping is repeated until it no longer changes (at most the depth of the module tree)."""

    def __init__(self, g: Graph, name: str) -> None:
        self.g, self.name = g, name
        first: dict[tuple, int] = {}
        for n in g.nodes:
            for k in range(1, len(n.scope) + 1):
                first.setdefault(n.scope[:k], n.id)
        self.paths = sorted(first, key=lambda p: (-len(p), first[p]))
        self.raw = {p: body(Scope(g, p, name), self._placeholder) for p in self.paths}
        self.family = {p: p for p in self.paths}  # instance -> a representative instance of its block
        self.items: dict[tuple, tuple] = {}
        self.templates: dict[tuple, tuple] = {}  # family -> (its shapes, their template)

    @staticmethod
    def _placeholder(path: tuple) -> Call:
        return Call(path, (), alias_of(path[-1]))

    def resolve(self, items: tuple) -> tuple:
        """Placeholder calls -> calls of the child's block, with every constant of the child."""
        def visit(x: object) -> object:
            if isinstance(x, tuple):
                return tuple(visit(v) for v in x)
            if isinstance(x, Call) and isinstance(x.block, tuple):
                child = x.block
                return Call(self.family[child], tuple(Const(v) for v in values_of(self.items[child])), x.alias)
            if isinstance(x, (Merge, Stmt)):
                return replace(x, **{k: visit(v) for k, v in vars(x).items() if isinstance(v, tuple)})
            return x
        return visit(items)

    def residual(self, family: tuple) -> bool:
        return any(isinstance(i, Merge) for i in self.items.get(family, ()))

    def group(self) -> bool:
        """One round: items with the current children's blocks, then families; True if changed.
        A family with several shapes aligns its instances to the last round's template."""
        plain: dict[tuple, tuple] = {}
        for p in self.paths:
            plain[p] = self.items[p] = compress(self.resolve(self.raw[p]), stage=self.residual)
            known = self.templates.get(self.family[p])
            if known is not None and shape_of(plain[p]) in known[0]:
                self.items[p] = realize(known[1], plain[p], frozenset(range(len(known[0]))))
        families: list[tuple[tuple, list[tuple], list]] = []  # class key, shapes, paths
        for p in self.paths:
            key, shape = _class_key(self.g, p), shape_of(plain[p])
            for fam_key, shapes, members in families:
                nested = any(m[:len(p)] == p or p[:len(m)] == m for m in members)
                if fam_key == key and not nested and (shape in shapes or similar(plain[members[0]], plain[p])):
                    shapes.append(shape) if shape not in shapes else None
                    members.append(p)
                    break
            else:
                families.append((key, [shape], [p]))
        new = {p: members[0] for _, _, members in families for p in members}
        templates = {}
        for _, shapes, members in families:
            if len(shapes) > 1:
                reps = {shape_of(plain[m]): plain[m] for m in members}
                templates[members[0]] = (shapes, template([reps[s] for s in shapes]))
        changed = new != self.family or templates.keys() != self.templates.keys() or any(
            templates[k][0] != self.templates[k][0] for k in templates)
        self.family, self.templates = new, templates
        return changed


def structure(g: Graph, name: str) -> Imported:
    g = normalize(g)
    builder = _Builder(g, name)
    for _ in range(len(builder.paths) + 2):
        if not builder.group():
            break
    builder.group()  # items and aligned constants for the final families
    taken: set[str] = set()
    blocks: dict[str, Block] = {}
    names: dict[tuple, str] = {}
    for p in builder.paths:
        rep = builder.family[p]
        if rep not in names:
            names[rep] = _block_name(g.scopes.get(rep, "Module"), rep, taken, g.scopes.get(rep[:-1], "Module"))
            blocks[names[rep]] = Block(names[rep], g.scopes.get(rep, "Module"))
        blocks[names[rep]].instances.append((p, _rename(builder.items[p], names)))
    order = TopologicalSorter({b.name: _callees(b.instances[0][1]) for b in blocks.values()}).static_order()
    for b in order:
        _finish(blocks[b], blocks)
    root = compress(builder.resolve(body(Scope(g, (), name), builder._placeholder)))
    root = _prune(_rename(root, names), blocks)
    shape = next(n.slots[0][1] for n in g.nodes if n.op == "input")
    return Imported(name, shape, [blocks[b] for b in TopologicalSorter(
        {b.name: _callees(b.body) for b in blocks.values()}).static_order()], root)


def _rename(items: tuple, names: dict[tuple, str]) -> tuple:
    def visit(x: object) -> object:
        if isinstance(x, tuple):
            return tuple(visit(v) for v in x)
        if isinstance(x, Call) and isinstance(x.block, tuple):
            return replace(x, block=names[x.block])
        if isinstance(x, (Merge, Loop, Cond, Stmt)):
            return replace(x, **{k: visit(v) for k, v in vars(x).items() if isinstance(v, tuple)})
        return x
    return visit(items)


def _block_name(cls: str, path: tuple, taken: set[str], parent: str) -> str:
    """The class name (`Bottleneck`); for a plain container its attribute name without digits
    (`layer1` -> `layer`), or the parent's class with it where that is a reserved word
    (MBConv's `block` -> `MBConv_block`), or `stage` for a numbered one (`features.3`)."""
    base = _base(path[-1]) if cls in _CONTAINERS else cls.lstrip("_")
    base = "".join(c if c.isalnum() or c == "_" else "_" for c in base) or "stage"
    if not base.isidentifier() or base in _RESERVED:
        base = f"{parent.lstrip('_')}_{base}" if base.isidentifier() else "stage"
    name, k = base, 2
    while name in taken:
        name, k = f"{base}_{k}", k + 1
    taken.add(name)
    return name


def _callees(items: object) -> set[str]:
    out: set[str] = set()

    def visit(x: object) -> None:
        if isinstance(x, Call):
            out.add(x.block)
        if isinstance(x, tuple):
            for v in x:
                visit(v)
        elif isinstance(x, (Merge, Loop, Cond, Stmt)):
            for v in vars(x).values():
                visit(v)
    visit(items)
    return out


def _prune(items: tuple, blocks: dict[str, Block]) -> tuple:
    """Calls pass their block's parameters only (they were built with every constant)."""
    def visit(x: object) -> object:
        if isinstance(x, tuple):
            return tuple(visit(v) for v in x)
        if isinstance(x, Call):
            return replace(x, args=tuple(x.args[j] for j in blocks[x.block].positions))
        if isinstance(x, (Merge, Loop, Cond, Stmt)):
            return replace(x, **{k: visit(v) for k, v in vars(x).items() if isinstance(v, tuple)})
        return x
    return visit(items)


def _describe(items: tuple) -> str:
    """What a conditional part holds, for its flag's name: `downsample`, `relu`."""
    first = items[0]
    if getattr(first, "alias", None) and isinstance(first.alias[0], str) and first.alias[0].isidentifier():
        return first.alias[0]
    return first.block if isinstance(first, Call) else getattr(first, "op", "part")


def hints_of(items: tuple, blocks: dict[str, Block]) -> list[str]:
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


def _finish(block: Block, blocks: dict[str, Block]) -> None:
    """Parameters for the columns that differ; the template body; which constants of an
    instance its callers pass (`positions`)."""
    pruned = [_prune(items, blocks) for _, items in block.instances]
    counter = iter(range(10**9))
    keep = values_of(_prune(_walk_consts(block.instances[0][1], lambda c: Const(next(counter))), blocks))
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
            while pname in used or pname in _RESERVED:
                pname, k = f"{hint}{k}", k + 1
            used.add(pname)
            params.append((pname, col, h))
            expr = Var(pname)
        exprs[h] = expr
    block.body = _simplify(fill(pruned[0], [exprs[h] for h in range(len(hints))]))
    signature = []
    for pname, col, h in params:
        known = [v for v in col if v is not WILD]
        value, count = Counter(map(repr, known)).most_common(1)[0]
        default = next(v for v in known if repr(v) == value)
        usual = (count >= 2 and 2 * count > len(known)) or len(known) < len(col)
        signature.append((pname, default if usual else REQUIRED, h))
    signature.sort(key=lambda p: (p[1] is not REQUIRED, p[2]))  # required first, then as written
    block.params = [(n, d) for n, d, _ in signature]
    block.positions = [keep[h] for _, _, h in signature]


def _walk_consts(items: tuple, visit: object) -> tuple:
    from .items import _walk

    return _walk(items, visit)


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
