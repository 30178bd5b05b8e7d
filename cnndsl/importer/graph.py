"""The import graph and the passes that read structure out of it.

A traced model is a flat dataflow graph whose nodes remember the module instance they ran in
(their *scope*, `layer1.0`). `normalize` rewrites the graph so that every module instance is
one block call with one input and one output (DenseNet's layers take a list of tensors:
their leading `torch.cat` is hoisted to the caller, and `cat(a, b, c)` becomes
`cat(cat(a, b), c)` where `cat(a, b)` exists). `body` writes one instance as items: a
series-parallel graph as nested merges (`add { ... | identity }`), anything else as named
statements.
"""

from __future__ import annotations

import dataclasses
import keyword
import re
from dataclasses import dataclass, field

import networkx as nx

from ..errors import CnnError
from ..lang.grammar import keywords
from ..ops import CONCAT, IDENTITY, REGISTRY
from .items import Const, Layer, Merge, NamedMerge, Output, Stmt, alias_of

Path = tuple[str, ...]
Ref = tuple[int, int]  # (node id, output port)
MERGES = frozenset(name for name, op in REGISTRY.items() if op.merge)


@dataclass
class Node:
    """One traced operation: the op it maps to with its slots, the tensors it reads (node id, port), its
    module scope, its `as` name (a stateful layer's attribute name), its output shape per sample, its
    number of outputs, and its id."""

    op: str
    slots: tuple
    inputs: list[Ref]
    scope: Path
    alias: str | None
    shape: tuple
    outputs: int = 1
    id: int = -1


@dataclass
class Graph:
    """A traced model: its nodes in execution order, its outputs, and the class name of every module path."""

    nodes: list[Node] = field(default_factory=list)
    outputs: list[Ref] = field(default_factory=list)
    scopes: dict[Path, str] = field(default_factory=dict)  # module path -> class name
    output_names: list[str] = field(default_factory=list)  # a dict's keys, for a model that returns one

    def add(self, node: Node) -> Node:
        """Append `node`, giving it the next id; returns it."""
        node.id = len(self.nodes)
        self.nodes.append(node)
        return node


def _inside(scope: Path, path: Path) -> bool:
    return scope[:len(path)] == path


def normalize(g: Graph) -> Graph:
    """A copy of `g` in which every module instance has one input. A `cat` that reads only tensors from
    outside its module moves to the caller; a `cat` of (a, b, c) reads the `cat` of (a, b) and c where
    that one exists. `g` is not changed."""
    nodes = [dataclasses.replace(n, inputs=list(n.inputs)) for n in g.nodes]
    moved = True
    while moved:  # a cat whose inputs all come from outside its module belongs to the caller
        moved = False
        for n in nodes:
            if n.op == CONCAT.name and n.scope and all(not _inside(nodes[u].scope, n.scope) for u, _ in n.inputs):
                n.scope, moved = n.scope[:-1], True
    seen: dict[tuple, int] = {}
    for n in nodes:  # cat(a, b, c) -> cat(cat(a, b), c) where cat(a, b) exists
        if n.op != CONCAT.name:
            continue
        original = tuple(n.inputs)
        prefix = seen.get(original[:-1])
        if len(original) >= 3 and prefix is not None:
            n.inputs = [(prefix, 0), original[-1]]
        seen[original] = n.id
    return Graph(nodes, list(g.outputs), dict(g.scopes), list(g.output_names))


def dissolve(g: Graph) -> Graph:
    """`g` where no module instance takes or gives more than one tensor: such an instance (a
    ModuleList run in a loop, ASPP's `convs`; a backbone that returns two feature maps; a head
    that takes them) is no block call; its layers and children move into the instance around
    it, named by dotted paths (`convs.0`, `backbone.6`), so that weights still load by name."""
    while True:
        paths = sorted({n.scope[:k] for n in g.nodes for k in range(1, len(n.scope) + 1)}, key=len)
        bad = next((p for p in paths if _io(g, p) != (1, 1)), None)
        if bad is None:
            return g
        g = _flatten(g, bad)


def _io(g: Graph, path: Path) -> tuple[int, int]:
    """How many tensors the instance at `path` takes and how many it gives."""
    inside = {n.id for n in g.nodes if _inside(n.scope, path) and not REGISTRY[n.op].is_input}
    taken = {ref for n in g.nodes if n.id in inside for ref in n.inputs if ref[0] not in inside}
    given = {ref for n in g.nodes if n.id not in inside for ref in n.inputs if ref[0] in inside}
    return len(taken), len(given | {ref for ref in g.outputs if ref[0] in inside})


def _flatten(g: Graph, path: Path) -> Graph:
    """`g` with the instance at `path` merged into its parent (see `dissolve`)."""
    def moved(scope: Path) -> Path:
        return path[:-1] + (f"{path[-1]}.{scope[len(path)]}",) + scope[len(path) + 1:]
    nodes = []
    for n in g.nodes:
        if not _inside(n.scope, path):
            nodes.append(n)
        elif len(n.scope) > len(path):
            nodes.append(dataclasses.replace(n, scope=moved(n.scope)))
        else:
            nodes.append(dataclasses.replace(n, scope=path[:-1], alias=n.alias and f"{path[-1]}.{n.alias}"))
    scopes = {moved(p) if _inside(p, path) else p: cls for p, cls in g.scopes.items() if p != path}
    return Graph(nodes, list(g.outputs), scopes, list(g.output_names))


class Scope:
    """One module instance: its elements (nodes directly in it, and child instances),
    the edges between them, its input and its output."""

    def __init__(self, g: Graph, path: Path, name: str) -> None:
        self.g, self.path, self.name = g, path, name
        members = [n for n in g.nodes if _inside(n.scope, path) and not REGISTRY[n.op].is_input]
        self.element = {n.id: self._element(n) for n in members}
        self.inputs: dict[object, list[tuple[object, int]]] = {}
        external: set[Ref] = set()
        for n in members:
            e = self.element[n.id]
            for u, p in n.inputs:
                if u in self.element and self.element[u] == e:
                    continue  # inside one child instance
                src = (self.element[u], p if isinstance(self.element[u], int) else 0) if u in self.element \
                    else ("IN", 0)
                if src[0] == "IN":
                    external.add((u, p))
                if isinstance(e, int) or src not in self.inputs.setdefault(e, []):
                    self.inputs.setdefault(e, []).append(src)
        if path and len(external) != 1:
            raise CnnError(f"cannot import {name}: module `{'.'.join(path)}` ({g.scopes.get(path)}) takes "
                           f"{len(external)} tensors; a cnndsl block takes one")
        self.outputs = self._outputs(members)

    def _element(self, n: Node) -> object:
        return n.id if n.scope == self.path else self.path + (n.scope[len(self.path)],)

    def _outputs(self, members: list[Node]) -> list[tuple[object, int]]:
        if not self.path:
            return [(self.element.get(u, "IN"), p) for u, p in self.g.outputs]
        used = {(u, p) for n in self.g.nodes if n.id not in self.element for u, p in n.inputs if u in self.element}
        used |= {(u, p) for u, p in self.g.outputs if u in self.element}
        if len(used) != 1:
            raise CnnError(f"cannot import {self.name}: module `{'.'.join(self.path)}` gives {len(used)} tensors "
                           "to the rest of the model; a cnndsl block gives one")
        u, p = used.pop()
        return [(self.element[u], p)]


def body(scope: Scope, call: dict) -> tuple:
    """The items of one instance. `call(path)` gives the Call item for a child instance. A network whose
    outputs have names (a dict's keys) is written as statements that end in `output NAME`."""
    if not scope.path and output_names(scope.g):
        return _statements(scope, call)
    try:
        return _series_parallel(scope, call)
    except _NotSeriesParallelError:
        return _statements(scope, call)


def output_names(g: Graph) -> list[str]:
    """The names of the model's outputs where they can name tensors of the text (plain words, not the
    `x1` the importer gives other tensors, one per output), else []."""
    names = g.output_names
    good = all(n.isidentifier() and not keyword.iskeyword(n) and n not in keywords() and not re.fullmatch(r"x\d+", n)
               for n in names)
    return names if good and len(set(names)) == len(names) == len(set(g.outputs)) else []


class _NotSeriesParallelError(Exception):
    pass


def _item(scope: Scope, e: object, call: dict) -> object:
    if not isinstance(e, int):
        return call(e)
    n = scope.g.nodes[e]
    return Layer(n.op, tuple((k, Const(v)) for k, v in n.slots), alias_of(n.alias) if n.alias else None)


def _series_parallel(scope: Scope, call: dict) -> tuple:
    nodes = scope.g.nodes
    if len(scope.outputs) != 1 or any(isinstance(e, int) and nodes[e].outputs > 1 for e in scope.element.values()):
        raise _NotSeriesParallelError
    graph = nx.DiGraph()
    graph.add_node("IN")
    for e, ins in scope.inputs.items():
        for src, _ in ins:
            graph.add_edge(src, e)
    end = scope.outputs[0][0]
    if end == "IN":
        return ()
    idom = nx.immediate_dominators(graph, "IN")
    done: list[object] = []

    def chain(start: object, stop: object) -> tuple:
        items, cur = [], stop
        while cur != start:
            if cur == "IN" or cur in done:
                raise _NotSeriesParallelError
            done.append(cur)
            ins = [src for src, _ in scope.inputs.get(cur, [])]
            is_merge = isinstance(cur, int) and scope.g.nodes[cur].op in MERGES
            if is_merge:
                fork = idom[cur]
                items.append(Merge(scope.g.nodes[cur].op, tuple(chain(fork, i) for i in ins)))
                cur = fork
            elif len(ins) == 1:
                items.append(_item(scope, cur, call))
                cur = ins[0]
            else:
                raise _NotSeriesParallelError
        return tuple(reversed(items))
    items = chain("IN", end)
    if len(done) != len(set(scope.element.values())):
        raise _NotSeriesParallelError
    return items


def _dataflow(scope: Scope) -> tuple[list, dict[tuple, list]]:
    """The scope's elements in dataflow order (ties broken by name, so the text is stable), and the
    readers of each value (`(element, port)`): the elements that read it, and "OUT" for an output."""
    graph = nx.DiGraph()
    for e, ins in scope.inputs.items():
        graph.add_node(e)
        for src, _ in ins:
            graph.add_edge(src, e)
    order = [e for e in nx.lexicographical_topological_sort(graph, key=str) if e != "IN"]
    readers: dict[tuple, list] = {}
    for e in order:
        for src in scope.inputs.get(e, []):
            readers.setdefault(src, []).append(e)
    for src in scope.outputs:
        readers.setdefault(src, []).append("OUT")
    return order, readers


def _statements(scope: Scope, call: dict) -> tuple:
    """Named statements in dataflow order: a value gets a name when it is read by more than
    the next element, or is an output."""
    order, readers = _dataflow(scope)
    names: dict[tuple, str] = {}
    named = dict(zip(scope.outputs, output_names(scope.g), strict=False)) if not scope.path else {}

    def multi(e: object) -> int:
        return scope.g.nodes[e].outputs if isinstance(e, int) else 1

    def merge(e: object) -> bool:
        return isinstance(e, int) and scope.g.nodes[e].op in MERGES

    def needs_name(src: tuple, nxt: object) -> bool:  # a merge names what it joins: `concat(x1, x2)`
        got = readers.get(src, [])
        several = not scope.path and (len(scope.outputs) > 1 or named) and "OUT" in got  # `output x3` needs a name
        return multi(src[0]) > 1 or got not in ([nxt], []) or any(merge(r) for r in got) or several

    stmts: list = []
    items: list = []
    source: str | None = None
    flowing: tuple | None = ("IN", 0)
    if needs_name(("IN", 0), order[0] if order else None):
        stmts.append(Stmt(("x0",), None, (Layer(IDENTITY.name, ()),)))
        names[("IN", 0)] = "x0"
    for k, e in enumerate(order):
        ins = scope.inputs.get(e, [])
        joins = merge(e)
        if joins or ins[0] != flowing or ins[0] in names:
            if items:
                stmts.append(Stmt((), source, tuple(items)))
            items, source = [], None
            if joins:
                items.append(NamedMerge(scope.g.nodes[e].op, tuple(names[s] for s in ins)))
            else:
                source = names[ins[0]]
        if not joins:
            items.append(_item(scope, e, call))
        nxt = order[k + 1] if k + 1 < len(order) else "OUT"
        outs = [(e, p) for p in range(multi(e))]
        if any(needs_name(o, nxt) for o in outs):
            for o in outs:
                names[o] = named.get(o) or f"x{len(names) + 1}"
            stmts.append(Stmt(tuple(names[o] for o in outs), source, tuple(items)))
            items, source, flowing = [], None, None
        else:
            flowing = outs[0]
    if items:
        stmts.append(Stmt((), source, tuple(items)))
    if not scope.path:
        stmts += [Output(names[o]) for o in scope.outputs] if len(scope.outputs) > 1 or named else []
    elif scope.outputs[0] != flowing:
        stmts.append(Stmt((), names[scope.outputs[0]], (Layer(IDENTITY.name, ()),)))
    return tuple(stmts)
