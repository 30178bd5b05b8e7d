"""The intermediate representation: a `networkx.DiGraph` of layers, and its lint.

Node schema (every node; `lint` checks it):

=========  =====================================================================
key        value
=========  =====================================================================
op         str: a key of the op registry (`input` for the network input)
name       str: the layer's own name (`conv2`, or its `as` name)
path       tuple[str, ...]: module path, block instances first (`("residual3", "conv2")`)
attrs      dict: the op's bound attributes (`kernel`, `stride`, `out`, ...)
inputs     tuple[(node, port), ...]: the tensors it reads, in branch order
shapes     tuple[Shape, ...]: its output shapes per sample (one, or several for `split`)
span       Span: the source text that created it
chain      CallChain: the block calls it sits in, outermost first
=========  =====================================================================

Edges `u -> v` exist for every `u` in `v`'s inputs (graph algorithms use them; `inputs`
keeps the order and ports). Node ids are ints in creation order, which is a topological
order. Graph attributes: `name`, `params`, `outputs` (list of (node, port)), `blocks`
(path -> {"block", "call", "span", "chain"}), `stages` (list of (node, port): the output
of each layer, block call or merge written directly in the network body), `warnings` (list of Diagnostic), `sources`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import networkx as nx

from .errors import Diagnostic, Span
from .ops import REGISTRY, Shape, dims

NODE_KEYS = {"op": str, "name": str, "path": tuple, "attrs": dict, "inputs": tuple, "shapes": tuple,
             "span": Span, "chain": tuple}


class LintError(AssertionError):
    """The IR broke its own schema: a bug in cnndsl, never in the user's text."""


def lint(g: nx.DiGraph) -> None:
    """Check the node schema, edges, ports and topological id order; raise LintError."""
    seen_paths: set[tuple[str, ...]] = set()
    for n, data in g.nodes(data=True):
        for key, typ in NODE_KEYS.items():
            if not isinstance(data.get(key), typ):
                raise LintError(f"node {n}: {key!r} missing or not {typ.__name__}")
        if data["op"] not in REGISTRY:
            raise LintError(f"node {n}: unknown op {data['op']!r}")
        if data["path"] in seen_paths:
            raise LintError(f"node {n}: duplicate path {'.'.join(data['path'])}")
        seen_paths.add(data["path"])
        for src, port in data["inputs"]:
            if src >= n or not g.has_edge(src, n) or port >= len(g.nodes[src]["shapes"]):
                raise LintError(f"node {n}: bad input ({src}, {port})")
        if {u for u, _ in data["inputs"]} != set(g.predecessors(n)):
            raise LintError(f"node {n}: edges and inputs disagree")
        if not all(isinstance(s, tuple) and all(isinstance(d, int) and d > 0 for d in s) for s in data["shapes"]):
            raise LintError(f"node {n}: bad shapes {data['shapes']}")
    for src, port in g.graph.get("outputs", ()):
        if src not in g or port >= len(g.nodes[src]["shapes"]):
            raise LintError(f"bad output ({src}, {port})")


@dataclass(frozen=True)
class Layer:
    """A read-only view of one node, for users and backends."""

    id: int
    op: str
    name: str
    path: tuple[str, ...]
    attrs: dict
    inputs: tuple[tuple[int, int], ...]
    shapes: tuple[Shape, ...]
    span: Span
    chain: tuple

    @property
    def qualname(self) -> str:
        return ".".join(self.path)

    @property
    def shape(self) -> Shape:
        return self.shapes[0]

    @property
    def label(self) -> str:
        return REGISTRY[self.op].describe(self.attrs)


# Filled by cnndsl.render, so that the IR needs no import of the stage that draws it.
_SVG_DRAWER: list[Callable[[Network], str | None]] = []


def set_svg_drawer(draw: Callable[[Network], str | None]) -> None:
    """Install the function Jupyter's `_repr_svg_` uses (cnndsl.render does this)."""
    _SVG_DRAWER[:] = [draw]


class Network:
    """A shape-checked network: the IR graph plus its warnings. Returned by `cnndsl.check`."""

    def __init__(self, graph: nx.DiGraph) -> None:
        self.graph = graph

    @property
    def name(self) -> str:
        return self.graph.graph["name"]

    @property
    def params(self) -> dict:
        return dict(self.graph.graph["params"])

    @property
    def warnings(self) -> list[Diagnostic]:
        return list(self.graph.graph["warnings"])

    def layers(self) -> Iterator[Layer]:
        for n in sorted(self.graph.nodes):
            yield Layer(n, **self.graph.nodes[n])

    def layer(self, qualname: str) -> Layer:
        for layer in self.layers():
            if layer.qualname == qualname:
                return layer
        raise KeyError(qualname)

    @property
    def input_shape(self) -> Shape:
        return next(layer.shape for layer in self.layers() if not layer.inputs)

    @property
    def output_shapes(self) -> list[Shape]:
        return [self.graph.nodes[n]["shapes"][p] for n, p in self.graph.graph["outputs"]]

    @property
    def stage_shapes(self) -> list[Shape]:
        """Output shape after each item of the network body (what d2l prints layer by layer)."""
        return [self.graph.nodes[n]["shapes"][p] for n, p in self.graph.graph["stages"]]

    def input_shapes(self, layer: Layer) -> list[Shape]:
        """The shapes a layer reads, in input order."""
        return [self.graph.nodes[u]["shapes"][p] for u, p in layer.inputs]

    def params_of(self, layer: Layer) -> int:
        return REGISTRY[layer.op].count_params(layer.attrs, self.input_shapes(layer))

    def count_params(self) -> int:
        return sum(self.params_of(layer) for layer in self.layers())

    def _repr_svg_(self) -> str | None:
        """Jupyter shows a checked network as its diagram (default level), when the render
        stage has installed its drawer (importing cnndsl does) and Graphviz is there."""
        return _SVG_DRAWER[0](self) if _SVG_DRAWER else None

    def __len__(self) -> int:
        return self.graph.number_of_nodes()

    def __repr__(self) -> str:
        outs = ", ".join(dims(s) for s in self.output_shapes)
        return f"<Network {self.name}: {len(self)} layers, {dims(self.input_shape)} -> {outs}>"
