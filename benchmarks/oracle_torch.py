"""The torch side of the differential oracle: a program run layer by layer with the registry's
torch builders on real tensors (no cnndsl shape, no fx), and the fx graph's tensors and data
edges (receptive fields are measured in benchmarks/oracle_probe.py).

The reference (`run`) takes each layer's input shapes from the tensors it receives, never from
cnndsl, so it shows whether torch runs a program cnndsl refuses, and where it stops. A layer
runs when torch raises nothing, keeps the batch axis and gives no empty output: the language
refuses an output size below 1 (docs/language.md §7), where some torch ops return empty
tensors.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass, field

import torch
from torch import fx, nn

from benchmarks.oracle_programs import Call, Item, Layer, Program
from cnndsl.ir import Network, Ref
from cnndsl.ops import Op, Shape

BATCH = 3  # not 1 or 2: an unbatched reading of a batch (conv on a 2-axis sample) rarely fits 3


class TorchRefusedError(Exception):
    """Torch did not run `item`."""

    def __init__(self, item: Item, cause: str, shapes: tuple[Shape, ...] = ()) -> None:
        super().__init__(cause)
        self.item, self.cause, self.shapes = item, cause, shapes  # shapes: its inputs', per sample


@dataclass
class Reference:
    """One run of a program in torch: the items it ran and their input shapes per sample."""

    program: Program
    ran: dict[int, tuple[Shape, ...]] = field(default_factory=dict)  # id(item) -> input shapes

    def layer(self, item: Item, op: Op, attrs: dict, inputs: list[object]) -> object:
        several = next((x for x in inputs if isinstance(x, tuple)), None)
        if several is not None:  # a several-output layer (split) ends a branch or feeds a layer
            raise TorchRefusedError(item, f"{len(several)} tensors go where one does")
        shapes = tuple(tuple(t.shape[1:]) for t in inputs)
        try:
            if op.module is not None:
                out = op.module(nn, attrs, list(shapes)).eval()(inputs[0])
            else:
                extra = []
                if op.parameter is not None:
                    shape, value = op.parameter(attrs, list(shapes))
                    extra = [torch.full(shape, float(value))]
                out = op.function(torch, [*inputs, *extra], attrs)
        except Exception as exc:  # noqa: BLE001 (any error is torch refusing)
            raise TorchRefusedError(item, f"{type(exc).__name__}: {exc}", shapes) from None
        outs = out if isinstance(out, tuple) else (out,)
        if len(outs) != op.outputs(attrs) or any(o.dim() < 1 or o.shape[0] != BATCH for o in outs):
            lost = [tuple(o.shape) for o in outs]
            raise TorchRefusedError(item, f"torch gives {lost}: the batch axis is lost", shapes)
        if any(0 in o.shape for o in outs):
            raise TorchRefusedError(item, f"torch gives an empty output {[tuple(o.shape[1:]) for o in outs]}", shapes)
        self.ran[id(item)] = shapes
        return out

    def items(self, items: list[Item], x: object) -> object:
        for item in items:
            if isinstance(item, Layer):
                x = self.layer(item, item.op, item.attrs, [x])
            elif isinstance(item, Call):
                x = self.items(item.block.items, x)
            else:
                ends = [self.items(branch, x) for branch in item.branches]
                x = self.layer(item, item.op, {}, ends)
        return x

    def run(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The program's outputs; TorchRefusedError where torch stops."""
        names: dict[str, torch.Tensor] = {}
        cur: object = x
        with torch.no_grad():
            for line in self.program.lines:
                if isinstance(line.source, str):
                    cur = names[line.source]
                elif line.source is not None:
                    cur = self.layer(line.source, line.source.op, {}, [names[n] for n in line.source.names])
                cur = self.items([line.item], cur)
                if isinstance(line.target, tuple):
                    names.update(zip(line.target, cur, strict=True))
                elif line.target is not None:
                    names[line.target] = cur
        return [names[n] for n in self.program.outputs] or [cur]


def reference(program: Program, shape: Shape | None = None) -> tuple[Reference, list[torch.Tensor] | TorchRefusedError]:
    """Run `program` on a random batch of `shape` (its declared input by default)."""
    ref = Reference(program)
    x = torch.randn(BATCH, *(shape or program.input_shape), generator=torch.Generator().manual_seed(0))
    try:
        return ref, ref.run(x)
    except TorchRefusedError as refused:
        return ref, refused


# ---- the compiled model's graph --------------------------------------------------------


def every_tensor(net: Network) -> list[Ref]:
    """Every output of every layer, in layer order: compiled as outputs, fx names each one."""
    return [Ref(layer, port) for layer in net.layers() for port in range(len(layer.shapes))]


def output_nodes(model: fx.GraphModule) -> list[fx.Node]:
    out = next(n for n in model.graph.nodes if n.op == "output").args[0]
    return list(out) if isinstance(out, (tuple, list)) else [out]


def owners(net: Network, model: fx.GraphModule) -> dict[fx.Node, str]:
    """Which layer each fx node computes, for a model compiled with `every_tensor` as its
    outputs: a layer that is an edge in diagrams (not `drawn`, or an add or mul of one tensor,
    which the compiled model passes on) belongs to the box of its first input, as the diagram
    draws it; a node no layer names (a step inside channel_shuffle) to the layer its user
    belongs to."""
    owner: dict[fx.Node, str] = {}
    layers = {layer.id: layer for layer in net.layers()}

    def box(layer_id: int) -> str:
        layer = layers[layer_id]
        edge = not layer.entry.drawn or layer.entry.passes_one and len(layer.inputs) == 1
        return box(layer.inputs[0][0]) if edge and layer.inputs else layer.qualname
    for ref, node in zip(every_tensor(net), output_nodes(model), strict=True):
        owner.setdefault(node, box(ref.layer.id))
    for node in reversed(list(model.graph.nodes)):
        if node not in owner and node.op in ("call_function", "call_method", "call_module"):
            users = {owner[u] for u in node.users if u in owner}
            if node.target is operator.getitem:
                continue
            if len(users) == 1:
                owner[node] = users.pop()
    return owner


def passthroughs(net: Network, model: fx.GraphModule) -> set[str]:
    """Drawn layers whose output is, in the compiled graph, the very node of their input (a
    merge of one tensor): they compute nothing there."""
    node = {(ref.layer.id, ref.port): n for ref, n in zip(every_tensor(net), output_nodes(model), strict=True)}
    return {layer.qualname for layer in net.layers()
            if layer.inputs and layer.entry.drawn and node[layer.id, 0] is node[layer.inputs[0]]}


def data_edges(net: Network, model: fx.GraphModule) -> list[tuple[str, str]]:
    """The fx graph's data edges between layers' boxes, one per tensor argument (so `x + x` is
    two); parameters (get_attr) and the graph's output are not data edges between layers."""
    owner = owners(net, model)
    edges = []
    for node in model.graph.nodes:
        if node not in owner or node.op == "placeholder":
            continue
        args: list[fx.Node] = []
        fx.node.map_arg((node.args, node.kwargs), args.append)
        args = [_tensor_of(a, owner) for a in args]
        edges += [(owner[a], owner[node]) for a in args
                  if a.op != "get_attr" and a in owner and owner[a] != owner[node]]
    return edges


def _tensor_of(node: fx.Node, owner: dict[fx.Node, str]) -> fx.Node:
    """The tensor a node no layer owns reads its size of (`ref.shape[2:]`, resize_like's size
    reference): a size read is a data edge from that tensor's layer, as diagrams draw it."""
    while node not in owner and (node.target in (getattr, operator.getitem) or node.target == "size") and node.args \
            and isinstance(node.args[0], fx.Node):
        node = node.args[0]
    return node
