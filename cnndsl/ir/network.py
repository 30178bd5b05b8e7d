"""The reading side of the IR: `Network` and the frozen views it hands out (`Layer`,
`Ref`, `Block`, `Step`), read from the graph's attribute dicts (the schema is in
cnndsl/ir/__init__.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import networkx as nx

from ..errors import CallChain, Diagnostic, Span
from ..ops import REGISTRY, Op, Shape, dims
from ..ops.inits import LayerInit


@dataclass(frozen=True)
class Layer:
    """A read-only view of one node (the schema is in cnndsl/ir/__init__.py). `shapes` (its outputs) and
    `input_shapes` (what it reads, in input order) are per sample, with no batch axis: C×H×W, or
    (features,) once flat."""

    id: int
    op: str
    name: str
    path: tuple[str, ...]
    attrs: dict
    inputs: tuple[tuple[int, int], ...]
    shapes: tuple[Shape, ...]
    span: Span
    chain: CallChain
    input_shapes: tuple[Shape, ...]  # per sample, in input order
    init: LayerInit | None = None  # its initialisation; None: PyTorch's default

    @property
    def qualname(self) -> str:
        """Its dotted path (`residual3.conv2`): its submodule's name in the compiled model."""
        return ".".join(self.path)

    @property
    def shape(self) -> Shape:
        """The (first) output shape per sample (no batch axis)."""
        return self.shapes[0]

    @property
    def block_path(self) -> tuple[str, ...]:
        """The path of the block instance it sits in; () at the network's top level."""
        return self.path[:-1]

    @property
    def entry(self) -> Op:
        """Its op's registry entry."""
        return REGISTRY[self.op]

    @property
    def label(self) -> str:
        """The layer as the source writes it, every argument included (`conv 3x3 64 pad=1`)."""
        return self.entry.describe(self.attrs)

    @property
    def params(self) -> int:
        """Its number of trainable parameters (a count, by its op's rule: what the torch module holds, e.g.
        conv `out * in/groups * kh * kw` plus `out` with a bias; buffers such as running statistics are not
        parameters)."""
        return self.entry.count_params(self.attrs, self.input_shapes)


@dataclass(frozen=True)
class Ref:
    """One tensor of the graph: output `port` of `layer`."""

    layer: Layer
    port: int = 0

    @property
    def shape(self) -> Shape:
        """The tensor's shape per sample (C×H×W, or (features,) once flat; no batch axis)."""
        return self.layer.shapes[self.port]


@dataclass(frozen=True)
class Block:
    """One block instance: a call of a block, inlined at `path`."""

    path: tuple[str, ...]
    block: str        # the block's name (`residual`)
    call: str         # the call with its values, as diagrams label it (`residual(128, stride=2)`)
    span: Span        # the call in the source
    chain: CallChain  # the block calls it sits in, itself last
    children: tuple[Block, ...] = field(default=(), repr=False)  # the instances called directly in it
    # a module a dotted name makes (`backbone` of `as "backbone.0"`), not a call: no one input and one output
    container: bool = False


@dataclass(frozen=True)
class Step:
    """One layer as `Network.walk` yields it: the view, its op's entry and the tensors it reads."""

    layer: Layer
    entry: Op
    inputs: tuple[Ref, ...]

    @property
    def input_shapes(self) -> tuple[Shape, ...]:
        """The shapes per sample of the tensors the layer reads, in input order."""
        return self.layer.input_shapes

    @property
    def params(self) -> int:
        """The layer's number of trainable parameters (a count; see `Layer.params`)."""
        return self.layer.params


# Filled by cnndsl.render, so that the IR needs no import of the stage that draws it.
_SVG_DRAWER: list[Callable[[Network], str | None]] = []


def set_svg_drawer(draw: Callable[[Network], str | None]) -> None:
    """Install the function Jupyter's `_repr_svg_` uses (cnndsl.render does this)."""
    _SVG_DRAWER[:] = [draw]


class Network:
    """A shape-checked network: the IR graph plus its warnings. Returned by `cnndsl.check`.

    Every shape it gives is per sample, with no batch axis (C×H×W, or (features,) once flat). `graph` is
    the storage (a networkx DiGraph, for graph algorithms); read the network through the methods and
    properties here, which never expose its attribute dicts.
    """

    def __init__(self, graph: nx.DiGraph) -> None:
        self.graph = graph

    @property
    def name(self) -> str:
        """The network's name as its definition writes it (`network resnet50(...)`)."""
        return self.graph.graph["name"]

    @property
    def params(self) -> dict:
        """The network's parameter values (defaults, overridden by the caller's)."""
        return dict(self.graph.graph["params"])

    @property
    def warnings(self) -> list[Diagnostic]:
        """What elaboration warned about (layers that drop pixels, ...), in order."""
        return list(self.graph.graph["warnings"])

    @property
    def drops(self) -> list[Diagnostic]:
        """The warnings that a layer leaves input rows or columns out (`Op.drops`), in order."""
        return [w for w in self.graph.graph["warnings"] if w.drops]

    @property
    def sources(self) -> dict[str, str]:
        """file -> text of every source file, for rendering diagnostics."""
        return self.graph.graph["sources"]

    def _layer(self, n: int) -> Layer:
        nodes = self.graph.nodes
        data = nodes[n]
        return Layer(n, **data, input_shapes=tuple(nodes[u]["shapes"][p] for u, p in data["inputs"]))

    def walk(self) -> Iterator[Step]:
        """Every layer in topological (creation) order, with what a pass needs about it."""
        views: dict[int, Layer] = {}
        for n in sorted(self.graph.nodes):
            layer = views[n] = self._layer(n)
            yield Step(layer, layer.entry, tuple(Ref(views[u], p) for u, p in layer.inputs))

    def layers(self) -> Iterator[Layer]:
        """Every layer in topological (creation) order."""
        return (self._layer(n) for n in sorted(self.graph.nodes))

    def not_in_place(self, layer: Layer) -> str | None:
        """Why `layer` may not overwrite the tensor it reads, or None where it may: that tensor must be
        a fresh output of an op whose backward does not need it (`Op.inplace_after`: conv, bn, fc, add,
        concat, ...) that nothing else reads, neither another layer nor a network output. An alias
        (identity, dropout, flatten) is a reader, so a shortcut through one counts. The torch backend
        computes an activation in place exactly where this gives None, whatever `inplace` says."""
        if len(layer.inputs) != 1:
            return "it reads several tensors"
        node, port = layer.inputs[0]
        producer = self._layer(node)
        if producer.entry.passes_one and len(producer.inputs) == 1:  # `add { identity }`: no new tensor
            return (f"its input, the output of '{producer.qualname}' ({producer.label}) of one branch, is that "
                    "branch's own tensor")
        if not producer.entry.inplace_after:
            if producer.entry.is_input:
                return "its input is the network input, the caller's tensor"
            return (f"its input, the output of '{producer.qualname}' ({producer.label}), may be a view of "
                    "another tensor or needed by that layer's backward")
        readers = sum(self.graph.nodes[v]["inputs"].count((node, port)) for v in self.graph.successors(node))
        readers += list(self.graph.graph["outputs"]).count((node, port))
        if readers > 1:
            return f"its input, the output of '{producer.qualname}', is also read elsewhere ({readers} readers)"
        return None

    def refused_inplace(self) -> list[tuple[Layer, str]]:
        """Each layer written `inplace=true` that may not overwrite its input, with why (`not_in_place`)."""
        found = []
        for n, data in self.graph.nodes(data=True):
            if data["attrs"].get("inplace") is True:
                layer = self._layer(n)
                why = self.not_in_place(layer)
                if why:
                    found.append((layer, why))
        return found

    def layer(self, qualname: str) -> Layer:
        """The layer at a dotted path (`residual3.conv2`); KeyError if there is none."""
        for layer in self.layers():
            if layer.qualname == qualname:
                return layer
        raise KeyError(qualname)

    def _refs(self, key: str) -> list[Ref]:
        return [Ref(self._layer(n), p) for n, p in self.graph.graph[key]]

    @property
    def outputs(self) -> list[Ref]:
        """The network's outputs: its `output` statements, else the end of its body."""
        return self._refs("outputs")

    @property
    def output_names(self) -> list[str]:
        """Each output's name in the source (`output c`), "" for the end of the network body."""
        return list(self.graph.graph["output_names"])

    @property
    def stages(self) -> list[Ref]:
        """The output of each layer, block call or merge written directly in the network body."""
        return self._refs("stages")

    @property
    def blocks(self) -> dict[tuple[str, ...], Block]:
        """Every block instance by path, in call order, each with the instances it calls."""
        children: dict[tuple[str, ...], list[Block]] = {}
        built: dict[tuple[str, ...], Block] = {}
        for path, info in reversed(self.graph.graph["blocks"].items()):  # children before parents
            built[path] = Block(path, info["block"], info["call"], info["span"], info["chain"],
                                tuple(reversed(children.pop(path, []))), info.get("container", False))
            children.setdefault(path[:-1], []).append(built[path])
        return dict(reversed(built.items()))

    @property
    def input_shape(self) -> Shape:
        """The input shape per sample: C×H×W, or (features,) for a flat input; no batch axis."""
        return next(layer.shape for layer in self.layers() if not layer.inputs)

    @property
    def output_shapes(self) -> list[Shape]:
        """The shape per sample of each output, in the order of `outputs`."""
        return [ref.shape for ref in self.outputs]

    @property
    def stage_shapes(self) -> list[Shape]:
        """Output shape after each item of the network body (what d2l prints layer by layer)."""
        return [ref.shape for ref in self.stages]

    def with_outputs(self, outputs: Iterable[Ref]) -> Network:
        """A copy of the network whose outputs are `outputs` (to cut it after a layer)."""
        graph = self.graph.copy()
        graph.graph["outputs"] = [(ref.layer.id, ref.port) for ref in outputs]
        graph.graph["output_names"] = [""] * len(graph.graph["outputs"])
        return Network(graph)

    def count_params(self) -> int:
        """Trainable parameters of the whole network, a count: what `sum(p.numel() for p in
        model.parameters())` gives for the compiled model."""
        return sum(layer.params for layer in self.layers())

    def _repr_svg_(self) -> str | None:
        """Jupyter shows a checked network as its diagram (default level), when the render
        stage has installed its drawer (importing cnndsl does) and Graphviz is there."""
        return _SVG_DRAWER[0](self) if _SVG_DRAWER else None

    def __len__(self) -> int:
        return self.graph.number_of_nodes()

    def __repr__(self) -> str:
        outs = ", ".join(dims(s) for s in self.output_shapes)
        return f"<Network {self.name}: {len(self)} layers, {dims(self.input_shape)} -> {outs}>"

