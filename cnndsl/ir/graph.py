"""The writing side of the IR: the schema's lint and the builder the elaborator fills
(the schema is in cnndsl/ir/__init__.py)."""

from __future__ import annotations

import os
from collections.abc import Iterable

import networkx as nx

from ..errors import CallChain, Diagnostic, Span
from ..ops import REGISTRY, Shape
from ..ops.inits import LayerInit
from .dead import dead_warnings
from .network import Network

NODE_KEYS = {"op": str, "name": str, "path": tuple, "attrs": dict, "inputs": tuple, "shapes": tuple,
             "span": Span, "chain": tuple}
GRAPH_KEYS = {"name": str, "params": dict, "outputs": list, "output_names": list, "blocks": dict, "stages": list,
              "warnings": list, "sources": dict}
BLOCK_KEYS = {"block": str, "call": str, "span": Span, "chain": tuple}


class LintError(AssertionError):
    """The IR broke its own schema: a bug in cnndsl, never in the user's text."""


def lint(g: nx.DiGraph) -> None:
    """Check the node and graph schema, edges, ports and topological id order; raise LintError.
    Linear in the size of the graph (CNNDSL_DEBUG=1 runs it after every elaboration)."""
    for key, typ in GRAPH_KEYS.items():
        if not isinstance(g.graph.get(key), typ):
            raise LintError(f"graph attribute {key!r} missing or not {typ.__name__}")
    blocks = g.graph["blocks"]
    for path, info in blocks.items():
        if not (isinstance(path, tuple) and path and isinstance(info, dict)) or path[:-1] and path[:-1] not in blocks:
            raise LintError(f"block {path!r}: not a tuple path inside a known block")
        for key, typ in BLOCK_KEYS.items():
            if not isinstance(info.get(key), typ):
                raise LintError(f"block {'.'.join(path)}: {key!r} missing or not {typ.__name__}")
    seen_paths: set[tuple[str, ...]] = set()
    for n, data in g.nodes(data=True):
        _lint_node(g, n, data, blocks)
        if data["path"] in seen_paths:
            raise LintError(f"node {n}: duplicate path {'.'.join(data['path'])}")
        seen_paths.add(data["path"])
    if len(g.graph["output_names"]) != len(g.graph["outputs"]):
        raise LintError("output_names and outputs differ in length")
    for what in ("outputs", "stages"):
        for src, port in g.graph[what]:
            if src not in g or port >= len(g.nodes[src]["shapes"]):
                raise LintError(f"bad {what[:-1]} ({src}, {port})")


def _lint_node(g: nx.DiGraph, n: int, data: dict, blocks: dict) -> None:
    for key, typ in NODE_KEYS.items():
        if not isinstance(data.get(key), typ):
            raise LintError(f"node {n}: {key!r} missing or not {typ.__name__}")
    if data["op"] not in REGISTRY:
        raise LintError(f"node {n}: unknown op {data['op']!r}")
    path = data["path"]
    if not path or path[-1] != data["name"]:
        raise LintError(f"node {n}: name {data['name']!r} is not the end of its path {path!r}")
    if path[:-1] and path[:-1] not in blocks:
        raise LintError(f"node {n}: {'.'.join(path)} is inside no known block")
    if data["chain"] != (blocks[path[:-1]]["chain"] if path[:-1] else ()):
        raise LintError(f"node {n}: its call chain is not its block's")
    for src, port in data["inputs"]:
        if src >= n or not g.has_edge(src, n) or not 0 <= port < len(g.nodes[src]["shapes"]):
            raise LintError(f"node {n}: bad input ({src}, {port})")
    if {u for u, _ in data["inputs"]} != set(g.pred[n]):
        raise LintError(f"node {n}: edges and inputs disagree")
    if not all(isinstance(s, tuple) and all(isinstance(d, int) and d > 0 for d in s) for s in data["shapes"]):
        raise LintError(f"node {n}: bad shapes {data['shapes']}")


class IRBuilder:
    """Writes one network's graph, layer by layer; the elaborator's only way into the IR.
    `finish` runs the lint when the environment sets CNNDSL_DEBUG."""

    def __init__(self) -> None:
        self._graph = nx.DiGraph(blocks={}, stages=[], warnings=[])

    def __len__(self) -> int:
        return self._graph.number_of_nodes()

    def shape(self, node: int, port: int = 0) -> Shape:
        """The shape of a tensor already in the graph."""
        return self._graph.nodes[node]["shapes"][port]

    def add_layer(self, op: str, path: tuple[str, ...], attrs: dict, inputs: Iterable[tuple[int, int]],
                  shapes: Iterable[Shape], span: Span, chain: CallChain, init: LayerInit | None = None) -> int:
        """Add a layer reading `inputs` (node, port); returns its node id. `init` is its initialisation
        (None: PyTorch's default)."""
        n = self._graph.number_of_nodes()
        inputs = tuple(inputs)
        self._graph.add_node(n, op=op, name=path[-1], path=path, attrs=attrs, inputs=inputs,
                             shapes=tuple(shapes), span=span, chain=chain)
        if init is not None and not init.is_default:
            self._graph.nodes[n]["init"] = init
        self._graph.add_edges_from((u, n) for u, _ in inputs)
        return n

    def add_block(self, path: tuple[str, ...], block: str, call: str, span: Span, chain: CallChain,
                  container: bool = False) -> None:
        """Record a block instance before its layers are added; `container` for a module a dotted name
        makes (`Block.container`)."""
        self._graph.graph["blocks"][path] = {"block": block, "call": call, "span": span, "chain": chain,
                                             **({"container": True} if container else {})}

    def add_stage(self, node: int, port: int) -> None:
        """Record the output of one item of the network body."""
        self._graph.graph["stages"].append((node, port))

    def add_warning(self, warning: Diagnostic) -> None:
        """Record a warning (a Diagnostic of severity `warning`) for `Network.warnings`."""
        self._graph.graph["warnings"].append(warning)

    def finish(self, name: str, params: dict, outputs: Iterable[tuple[int, int]],
               sources: dict[str, str], output_names: Iterable[str] | None = None) -> Network:
        """The finished network (the builder is spent); `output_names` are the outputs' names in
        the source ("" for none, the default). When CNNDSL_DEBUG is set (to 1, as the tests do)
        the graph is linted first: LintError if it breaks the schema. A layer written
        `inplace=true` where it may not overwrite its input (`Network.not_in_place`) is warned about, and so is
        each chain of layers whose result reaches no output (`dead.dead_warnings`)."""
        outputs = list(outputs)
        names = list(output_names) if output_names is not None else [""] * len(outputs)
        self._graph.graph.update(name=name, params=params, outputs=outputs, output_names=names, sources=sources)
        network = Network(self._graph)
        for layer, why in network.refused_inplace():  # honoured only where it is safe (docs/language.md)
            self.add_warning(Diagnostic(f"{layer.qualname} ({layer.label}) is computed out of place, "
                                        f"not as `inplace=true` asks: {why}", layer.span, chain=layer.chain,
                                        severity="warning"))
        for warning in dead_warnings(network):
            self.add_warning(warning)
        if os.environ.get("CNNDSL_DEBUG"):  # debug mode, as for the CLI's tracebacks
            lint(self._graph)
        return network
