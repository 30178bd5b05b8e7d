"""From module instances to blocks with parameters.

Every module instance is written as items (`graph.body`), with repeated items folded into
loops (`loops.compress`). Instances of one class whose items have the same shape, or shapes
close enough to align (`variants.py`), are one block; the numbers that differ between
instances become its parameters (`parameters.py`). Children are finished before their
callers, so a call passes exactly its block's parameters.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from graphlib import TopologicalSorter

from ..ops import REGISTRY
from .graph import Graph, Scope, body, dissolve, normalize
from .items import Call, Const, Merge, alias_of, calls_in, map_calls, shape_of, values_of
from .loops import compress
from .parameters import RESERVED, Block, finish, prune
from .variants import realize, similar, template

_CONTAINERS = ("Sequential", "ModuleList", "ModuleDict", "Module")


@dataclass
class Imported:
    """A model's structure ready to write: the network's name, its input shape per sample, its blocks
    (callees before callers) and its body."""

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
    return "".join(c for c in name if not c.isdigit()).strip("_-.")


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
        def call(x: Call) -> Call:
            if not isinstance(x.block, tuple):
                return x
            values = values_of(self.items[x.block])
            return Call(self.family[x.block], tuple(Const(v) for v in values), x.alias)
        return map_calls(items, call)

    def residual(self, family: tuple) -> bool:
        """Whether the block of `family` joins branches (a merge among its items): calls of it form stages."""
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
    """The blocks and network body of an import graph: module instances of one class (and similar shape)
    grouped into blocks with parameters, repeated items into loops; a module instance that takes or
    gives several tensors is no block, its layers and children named by dotted paths (`graph.dissolve`)."""
    g = dissolve(normalize(g))
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
        blocks[b] = finish(blocks[b], blocks)
    root = compress(builder.resolve(body(Scope(g, (), name), builder._placeholder)))
    root = prune(_rename(root, names), blocks)
    shape = next(n.slots[0][1] for n in g.nodes if REGISTRY[n.op].is_input)
    return Imported(name, shape, [blocks[b] for b in TopologicalSorter(
        {b.name: _callees(b.body) for b in blocks.values()}).static_order()], root)


def _rename(items: tuple, names: dict[tuple, str]) -> tuple:
    return map_calls(items, lambda c: replace(c, block=names[c.block]) if isinstance(c.block, tuple) else c)


def _block_name(cls: str, path: tuple, taken: set[str], parent: str) -> str:
    """The class name (`Bottleneck`); for a plain container its attribute name without digits
    (`layer1` -> `layer`), or the parent's class with it where that is a reserved word
    (MBConv's `block` -> `MBConv_block`), or `stage` for a numbered one (`features.3`)."""
    # a dotted name's last word (`classifier.cbr` -> `cbr`, `convs.0` -> `convs`)
    word = next((w for w in reversed(path[-1].split(".")) if _base(w)), path[-1])
    base = _base(word) if cls in _CONTAINERS else cls.lstrip("_")
    base = "".join(c if c.isalnum() or c == "_" else "_" for c in base) or "stage"
    if not base.isidentifier() or base in RESERVED:
        base = f"{parent.lstrip('_')}_{base}" if base.isidentifier() else "stage"
    name, k = base, 2
    while name in taken:
        name, k = f"{base}_{k}", k + 1
    taken.add(name)
    return name


def _callees(items: object) -> set[str]:
    return {c.block for c in calls_in(items)}
