"""Tracing a torch model into cnndsl's import graph (the only part of the importer that
imports torch).

`torch.fx` traces the model with the layers cnndsl knows as leaves; every fx node becomes a
:class:`~cnndsl.importer.graph.Node` carrying the cnndsl op it maps to (by the rules of
cnndsl/ops/, see `rules.py`), its
values, and the module instance it belongs to (its *scope*), from which `graph.py` and
`blocks.py` rebuild the model's structure as blocks.
"""

from __future__ import annotations

import contextlib
import io
import operator
from typing import Any

import torch
from torch import fx, nn
from torch.fx.passes.shape_prop import ShapeProp

from ..errors import CnnError
from ..ops import INPUT, LAYER_SCALE
from ..ops.importing import SizeOf
from .graph import Graph, Node
from .rules import LEAVES, UnmappedError, map_function, map_module


class _Tracer(fx.Tracer):
    """Leaves are the layers with a mapping (and every other torch.nn layer, so that an
    unmappable one is reported by name rather than traced into); the rest is traced through.
    The module being traced is kept, so a failure can say where the trace stopped."""

    def __init__(self, wrapped: tuple) -> None:
        super().__init__(autowrap_functions=wrapped)
        self.where: list[tuple[str, str]] = []

    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        """Whether torch.fx keeps `m` as one call: layers with an import rule and every other torch.nn layer,
        never containers."""
        if isinstance(m, (nn.Sequential, nn.ModuleList, nn.ModuleDict)):
            return False
        return type(m) in LEAVES or type(m).__module__.startswith("torch.nn")

    def call_module(self, m: nn.Module, forward: Any, args: tuple, kwargs: dict) -> Any:
        """Trace a call of `m`, remembering where the trace is for an error message."""
        self.where.append((self.path_of_module(m), type(m).__name__))
        result = super().call_module(m, forward, args, kwargs)
        self.where.pop()
        return result


def _wrapped_functions() -> tuple:
    from torchvision.models import shufflenetv2  # channel_shuffle is one op, not its view/transpose steps

    return (shufflenetv2.channel_shuffle,)


def trace(model: nn.Module, example: torch.Tensor, name: str) -> tuple[fx.GraphModule, Graph]:
    """Trace `model` (in its current train/eval mode) and map it; raises CnnError naming the
    module where tracing or mapping stopped."""
    tracer = _Tracer(_wrapped_functions())
    try:
        fx_graph = tracer.trace(model)
    except Exception as e:  # noqa: BLE001  (torch.fx raises many kinds; all mean "not traceable")
        where = tracer.where[-1] if tracer.where else ("", type(model).__name__)
        place = f"module `{where[0]}` ({where[1]})" if where[0] else f"the top-level module ({where[1]})"
        raise CnnError(f"torch.fx cannot trace {name}: it stopped in {place}: {type(e).__name__}: "
                       f"{str(e).splitlines()[0] if str(e) else ''}".rstrip(": "),
                       hint="only models whose forward torch.fx can trace symbolically can be imported") from None
    gm = fx.GraphModule(model, fx_graph)
    try:  # ShapeProp prints the traceback of a failure itself; the CnnError below says it once
        with torch.no_grad(), contextlib.redirect_stderr(io.StringIO()):
            ShapeProp(gm).propagate(example)
    except Exception as e:  # noqa: BLE001  (a size the model cannot take)
        cause = e.__cause__ or e
        raise CnnError(f"{name} cannot run on the example input {'x'.join(map(str, example.shape[1:]))}: "
                       f"{str(cause).splitlines()[0]}", hint="try a larger input (`--input 3x299x299`)") from None
    return gm, _convert(gm, model, name)


def _shape(node: fx.Node) -> tuple[int, ...]:
    meta = node.meta.get("tensor_meta")
    return tuple(meta.shape[1:]) if meta is not None and hasattr(meta, "shape") else ()


def _scope(node: fx.Node) -> tuple[str, ...]:
    stack = node.meta.get("nn_module_stack") or {}
    paths = [path for path, _ in stack.values()]
    if node.op == "call_module":
        paths = paths[:-1]
    return tuple(paths[-1].split(".")) if paths and paths[-1] else ()


class _Converter:
    """fx nodes -> import graph nodes; fx refs are resolved to (node id, port)."""

    def __init__(self, gm: fx.GraphModule, name: str) -> None:
        self.gm, self.name = gm, name
        self.modules = dict(gm.named_modules())
        self.graph = Graph()
        self.refs: dict[fx.Node, tuple[int, int]] = {}
        self.params: dict[fx.Node, str] = {}
        self.called: set[str] = set()
        self.tuples: dict[fx.Node, list] = {}
        self.shapes: dict[fx.Node, fx.Node] = {}  # `x.shape` -> x
        self.sizes: dict[fx.Node, SizeOf] = {}  # `x.shape[-2:]` -> the height and width of x

    def ref(self, arg: object, where: str) -> tuple[int, int]:
        """The (node id, port) of an fx value; CnnError (naming `where`) when it is not a tensor the import
        follows."""
        if isinstance(arg, fx.Node) and arg in self.refs:
            return self.refs[arg]
        raise CnnError(f"cannot import {self.name}: {where} takes {arg!r}, which is not a tensor cnndsl can follow")

    def add(self, n: fx.Node, op: str, slots: tuple, inputs: list, scope: tuple, alias: str | None,
            outputs: int = 1) -> None:
        """Append a node for fx node `n` and remember it as `n`'s value."""
        node = self.graph.add(Node(op, slots, inputs, scope, alias, _shape(n), outputs))
        self.refs[n] = (node.id, 0)

    def module(self, n: fx.Node) -> None:
        """A call of a leaf layer, as the ops of its rule. CnnError for a layer no rule maps exactly, and for
        one with weights that is called twice (shared weights)."""
        module = self.modules[n.target]
        path = tuple(n.target.split("."))
        try:
            mapped = map_module(module, _shape(n.args[0]) if isinstance(n.args[0], fx.Node) else ())
        except UnmappedError as e:
            raise CnnError(f"cannot import {self.name}: no mapping for {type(module).__name__} at "
                           f"`{n.target}`{': ' + str(e) if str(e) else ''}", hint="nothing was written") from None
        stateful = any(True for _ in module.parameters()) or any(True for _ in module.buffers())
        if stateful and n.target in self.called:
            raise CnnError(f"cannot import {self.name}: `{n.target}` is called twice (shared weights); "
                           "each cnndsl layer has weights of its own")
        self.called.add(n.target)
        source = self.ref(n.args[0], f"`{n.target}`")
        for i, (op, slots) in enumerate(mapped):
            last = i == len(mapped) - 1
            self.add(n, op, slots, [source], path[:-1], path[-1] if stateful and last else None)
            source = self.refs[n]

    def function(self, n: fx.Node) -> None:
        """A function or method call: a tuple of outputs, an item of a `split`, a layer scale (a parameter
        times a tensor), else the ops of its rule; CnnError when it has none."""
        target = n.target
        if isinstance(target, type) and issubclass(target, tuple):  # GoogLeNetOutputs(logits, aux2, aux1)
            self.tuples[n] = list(n.args) + list(n.kwargs.values())
            return
        if self._size(n):
            return
        if target is operator.getitem and n.args[0] in self.refs:
            node, _ = self.refs[n.args[0]]
            if self.graph.nodes[node].outputs > 1 and isinstance(n.args[1], int):
                self.refs[n] = (node, n.args[1])
                return
        if target is operator.mul and any(a in self.params for a in n.args):
            param = next(a for a in n.args if a in self.params)
            other = next(a for a in n.args if a is not param)
            path = tuple(self.params[param].split("."))
            value = self.gm.get_parameter(self.params[param]).detach().flatten()[0].item()
            self.add(n, LAYER_SCALE.name, (("init", float(f"{value:.7g}")),), [self.ref(other, "layer scale")],
                     path[:-1], path[-1])
            return
        args = tuple(self.sizes.get(a, a) if isinstance(a, fx.Node) else a for a in n.args)
        kwargs = {k: self.sizes.get(v, v) if isinstance(v, fx.Node) else v for k, v in n.kwargs.items()}
        try:
            mapped, tensors, outputs = map_function(target, args, kwargs, _shape(n.args[0])
                                                       if n.args and isinstance(n.args[0], fx.Node) else ())
        except UnmappedError as e:
            scope = ".".join(_scope(n))
            what = getattr(target, "__name__", str(target))
            raise CnnError(f"cannot import {self.name}: no mapping for {n.op} `{what}` in "
                           f"`{scope or 'the top level of ' + self.name}`{': ' + str(e) if str(e) else ''}",
                           hint="nothing was written") from None
        if not mapped:  # cat of one tensor, contiguous(): the value passes through
            self.refs[n] = self.ref(tensors[0], what_of(n))
            return
        inputs = [self.ref(t, what_of(n)) for t in tensors]
        for op, slots in mapped:  # `x.mean([2, 3])` is gap, flatten
            self.add(n, op, slots, inputs, _scope(n), None, outputs)
            inputs = [self.refs[n]]

    def _size(self, n: fx.Node) -> bool:
        """Whether `n` is `x.shape` or its height and width, `x.shape[-2:]` (remembered for a call that
        takes a size, `F.interpolate`): the importer follows the tensor whose size is read."""
        if n.target is getattr and n.args[1:] == ("shape",) and n.args[0] in self.refs:
            self.shapes[n] = n.args[0]
            return True
        if n.target is operator.getitem and n.args[0] in self.shapes and isinstance(n.args[1], slice):
            tensor = self.shapes[n.args[0]]
            axes = range(len(_shape(tensor)) + 1)[n.args[1]]  # the batch axis counts in `x.shape`
            if list(axes) == [len(_shape(tensor)) - 1, len(_shape(tensor))] and len(_shape(tensor)) == 3:
                self.sizes[n] = SizeOf(tensor)
                return True
        return False

    def output(self, n: fx.Node) -> None:
        """The model's outputs: a tuple such as GoogLeNet's outputs unpacked, or a dict of named outputs
        (the segmentation models' `{"out": ..., "aux": ...}`), whose names are kept."""
        result = n.args[0]
        result = self.tuples.get(result, result) if isinstance(result, fx.Node) else result
        if isinstance(result, dict):
            self.graph.output_names = [str(k) for k in result]
            result = list(result.values())
        values = list(result) if isinstance(result, (tuple, list)) else [result]
        self.graph.outputs = [self.ref(v, "the output") for v in values]


def what_of(n: fx.Node) -> str:
    """What fx node `n` calls, in backticks, for messages (`cat`)."""
    return f"`{getattr(n.target, '__name__', n.target)}`"


def _convert(gm: fx.GraphModule, model: nn.Module, name: str) -> Graph:
    conv = _Converter(gm, name)
    for n in gm.graph.nodes:
        if n.op == "placeholder":
            conv.add(n, INPUT.name, (("shape", _shape(n)),), [], (), None)
        elif n.op == "call_module":
            conv.module(n)
        elif n.op in ("call_function", "call_method"):
            conv.function(n)
        elif n.op == "get_attr":
            conv.params[n] = n.target
        elif n.op == "output":
            conv.output(n)
    for path, module in model.named_modules():
        conv.graph.scopes[tuple(path.split(".")) if path else ()] = type(module).__name__
    conv.graph.scopes[()] = type(model).__name__
    return conv.graph
