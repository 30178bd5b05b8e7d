"""Elaboration: a network definition plus argument values -> the shape-checked IR graph.

Blocks are inlined, loops unrolled, conditionals decided, and every layer's output shape is
computed as the layer is added (blocks may read `in_channels`). The AST is never changed.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator

import networkx as nx

from ..errors import CnnError, Diagnostic, Span, suggest
from ..ir import Network
from ..lang import syntax as ast
from ..lang.limits import check_value
from ..lang.source import Program
from ..lang.values import BUILTINS, Scope, TensorRef, evaluate, show, truth
from ..ops import REGISTRY, Shape, ShapeError
from .binding import bind_block, bind_layer, op_named
from .budget import Budget
from .frames import Frame, Limits, Multi, name_of, unpack

Flowing = TensorRef | Multi | None


class Elaborator:
    def __init__(self, program: Program, limits: Limits) -> None:
        self.program = program
        self.limits = limits
        self.g = nx.DiGraph()
        self.warnings: list[Diagnostic] = []
        self.outputs: list[TensorRef] = []
        self.blocks: dict[tuple[str, ...], dict] = {}
        self.stages: list[tuple[int, int]] = []  # outputs of the network body's own items
        self.budget = Budget(program, limits)
        self.globals = Scope(None, dict(BUILTINS), meter=self.budget.meter)
        self.input_override: tuple | None = None
        self.input_node: int | None = None

    # ---- graph construction
    def add_node(self, op: str, attrs: dict, inputs: list[TensorRef], frame: Frame, name: str,
                 span: Span) -> int:
        if self.g.number_of_nodes() >= self.limits.max_layers:
            raise CnnError(f"the network has more than {self.limits.max_layers} layers (the limit)", span)
        in_shapes = [self.shape(t) for t in inputs]
        entry = REGISTRY[op]
        try:
            shapes = entry.infer(attrs, in_shapes)
        except ShapeError as exc:
            raise CnnError(str(exc), span, chain=frame.chain) from None
        self.budget.tensors(op, shapes, span, frame.chain)
        n = self.g.number_of_nodes()
        self.g.add_node(n, op=op, name=name, path=(*frame.path, name), attrs=attrs,
                        inputs=tuple((t.node, t.port) for t in inputs), shapes=tuple(shapes),
                        span=span, chain=frame.chain)
        for t in inputs:
            self.g.add_edge(t.node, n)
        for message in entry.warn(attrs, in_shapes):
            who = ".".join((*frame.path, name))
            self.warnings.append(Diagnostic(f"{who} ({entry.describe(attrs)}) {message}", span,
                                            chain=frame.chain, severity="warning"))
        return n

    def shape(self, t: TensorRef) -> Shape:
        return self.g.nodes[t.node]["shapes"][t.port]

    def flowing(self, cur: Flowing, span: Span, what: str, frame: Frame) -> TensorRef:
        if cur is None:
            raise CnnError(f"{what} has no input: a network starts with `input CxHxW`", span, chain=frame.chain)
        if isinstance(cur, Multi):
            names = ", ".join("abcdefgh"[i] for i in range(min(cur.count, 8)))
            raise CnnError(f"{what} follows a layer with {cur.count} outputs", span,
                           f"bind them first: ({names}) = ...", frame.chain)
        return cur

    # ---- statements
    def body(self, stmts: tuple[ast.Stmt, ...], scope: Scope, frame: Frame, cur: Flowing) -> Flowing:
        for stmt in stmts:
            cur = self.stmt(stmt, scope, frame, cur)
        return cur

    def stmt(self, stmt: ast.Stmt, scope: Scope, frame: Frame, cur: Flowing) -> Flowing:
        try:
            self.budget.meter.charge(1, stmt.span)
            match stmt:
                case ast.Let(name=name, value=value):
                    scope.values[name] = evaluate(value, scope)
                    return cur
                case ast.Input():
                    return self.input(stmt, scope, frame, cur)
                case ast.Output(name=name, span=span):
                    if not frame.is_network:
                        raise CnnError("`output` belongs in a network, not in a block", span)
                    self.outputs.append(self.tensor(ast.Name(name, span), scope, frame))
                    return cur
                case ast.Flow():
                    return self.flow(stmt, scope, frame, cur)
        except CnnError as exc:
            raise exc.with_chain(frame.chain) from None
        raise AssertionError(stmt)

    def input(self, stmt: ast.Input, scope: Scope, frame: Frame, cur: Flowing) -> TensorRef:
        if not frame.is_network:
            raise CnnError("`input` belongs in a network, not in a block", stmt.span)
        if self.input_node is not None:
            raise CnnError("a network has one `input`", stmt.span)
        shape = self.input_override or evaluate(stmt.shape, scope)
        if isinstance(shape, int) and not isinstance(shape, bool):
            shape = (shape,)
        if not (isinstance(shape, tuple) and shape and all(isinstance(d, int) and not isinstance(d, bool)
                                                            and d > 0 for d in shape)):
            raise CnnError(f"input must be a shape like 3x224x224, got {show(shape)}", stmt.shape.span)
        self.input_node = self.add_node("input", {"shape": shape}, [], frame, frame.claim("input", "input", stmt.span),
                                        stmt.span)
        return TensorRef(self.input_node)

    def tensor(self, name: ast.Name, scope: Scope, frame: Frame) -> TensorRef:
        value = evaluate(name, scope)
        if not isinstance(value, TensorRef):
            raise CnnError(f"'{name.id}' is a value, not a tensor", name.span)
        return value

    def flow(self, stmt: ast.Flow, scope: Scope, frame: Frame, cur: Flowing) -> Flowing:
        if isinstance(stmt.source, ast.Name):
            cur = self.tensor(stmt.source, scope, frame)
        elif isinstance(stmt.source, ast.Call):
            op = REGISTRY.get(stmt.source.func)
            if op is None or not op.merge:
                raise CnnError(f"`{stmt.source.func}(...)` cannot come before '->'", stmt.source.func_span,
                               "a statement starts from a tensor name (`e1 -> ...`) or a merge of named tensors "
                               "(`concat(e1, e2) -> ...`); use ',' to continue the flow")
            cur = self.named_merge(stmt.source, None, scope, frame)
        for item in stmt.items:
            cur = self.item(item, scope, frame, cur)
        if stmt.targets is not None:
            self.bind_targets(stmt, scope, frame, cur)
        return cur

    def bind_targets(self, stmt: ast.Flow, scope: Scope, frame: Frame, cur: Flowing) -> None:
        if not stmt.unpack:
            scope.values[stmt.targets[0]] = self.flowing(cur, stmt.span, f"'{stmt.targets[0]}'", frame)
            return
        if not isinstance(cur, Multi) or cur.count != len(stmt.targets):
            got = cur.count if isinstance(cur, Multi) else 1
            raise CnnError(f"{len(stmt.targets)} names for {got} output{'s' if got != 1 else ''}", stmt.span)
        for port, name in enumerate(stmt.targets):
            scope.values[name] = TensorRef(cur.node, port)

    # ---- items
    def item(self, item: ast.Item, scope: Scope, frame: Frame, cur: Flowing) -> Flowing:
        cur = self.item_output(item, scope, frame, cur)
        if frame.is_network and isinstance(cur, TensorRef) and isinstance(item, (ast.Layer, ast.CallItem, ast.Merge)):
            self.stages.append((cur.node, cur.port))
        return cur

    def item_output(self, item: ast.Item, scope: Scope, frame: Frame, cur: Flowing) -> Flowing:
        match item:
            case ast.Layer():
                return self.layer(item, scope, frame, cur)
            case ast.CallItem(call=call, alias=alias):
                return self.call(call, alias, scope, frame, cur)
            case ast.Merge():
                return self.merge(item, scope, frame, cur)
            case ast.If(cond=cond, then=then, orelse=orelse):
                chosen = then if truth(evaluate(cond, scope), cond.span) else orelse
                return self.body(chosen or (), scope.child(), frame, cur)
            case ast.Repeat(count=count):
                n = evaluate(count, scope)
                if not isinstance(n, int) or isinstance(n, bool) or n < 0:
                    raise CnnError(f"repeat needs a non-negative integer, got {show(n)}", count.span)
                for _ in range(n):
                    self.budget.meter.charge(1, count.span)
                    cur = self.body(item.body, scope.child(), frame, cur)
                return cur
            case ast.For():
                return self.loop(item, scope, frame, cur)
        raise AssertionError(item)

    def loop(self, item: ast.For, scope: Scope, frame: Frame, cur: Flowing) -> Flowing:
        sequence = evaluate(item.iterable, scope)
        if not isinstance(sequence, tuple):
            raise CnnError(f"for needs a tuple or range(...), got {show(sequence)}", item.iterable.span)
        for value in sequence:
            self.budget.meter.charge(1, item.iterable.span)
            inner = scope.child()
            unpack(item.target, value, inner, item.iterable.span)
            cur = self.body(item.body, inner, frame, cur)
        return cur

    def layer(self, layer: ast.Layer, scope: Scope, frame: Frame, cur: Flowing) -> Flowing:
        if layer.op in self.program.blocks:
            raise CnnError(f"'{layer.op}' is a block: call it with parentheses, {layer.op}(...)", layer.span)
        op = op_named(layer.op, layer.span, set(self.program.blocks))
        if op.merge:
            raise CnnError(f"`{op.name}` joins branches: {op.name} {{ a | b }} or {op.name}(x, y)", layer.span)
        attrs = bind_layer(op, layer, scope)
        source = self.flowing(cur, layer.span, f"`{layer.op}`", frame)
        name = frame.claim(op.name, name_of(layer.alias, scope, layer.span), layer.span)
        n = self.add_node(op.name, attrs, [source], frame, name, layer.span)
        count = op.outputs(attrs)
        return Multi(n, count) if count > 1 else TensorRef(n)

    def merge(self, merge: ast.Merge, scope: Scope, frame: Frame, cur: Flowing) -> TensorRef:
        op = op_named(merge.op, merge.span, set(self.program.blocks))
        if not op.merge:
            raise CnnError(f"`{op.name}` does not take branches", merge.span,
                           "branches { a | b } belong to concat, add or mul")
        start = self.flowing(cur, merge.span, f"`{merge.op}`", frame)
        ends = [self.flowing(self.body(branch, scope.child(), frame, start), merge.span, "a branch", frame)
                for branch in merge.branches]
        return TensorRef(self.add_node(op.name, {}, ends, frame, frame.claim(op.name, None, merge.span), merge.span))

    def named_merge(self, call: ast.Call, alias: str | None, scope: Scope, frame: Frame) -> TensorRef:
        op = REGISTRY[call.func]
        if call.kwargs:
            raise CnnError(f"{call.func}(...) takes tensor names only", call.kwargs[0].span)
        if not call.args:
            raise CnnError(f"{call.func}(...) needs the tensors to join", call.span)
        ends = []
        for arg in call.args:
            if not isinstance(arg, ast.Name):
                raise CnnError(f"{call.func}(...) takes tensor names", arg.span)
            ends.append(self.tensor(arg, scope, frame))
        name = frame.claim(op.name, name_of(alias, scope, call.span), call.span)
        return TensorRef(self.add_node(op.name, {}, ends, frame, name, call.span))

    # ---- calls
    def call(self, call: ast.Call, alias: str | None, scope: Scope, frame: Frame, cur: Flowing) -> Flowing:
        block = self.program.blocks.get(call.func)
        if block is not None:
            return self.block(block, call, alias, scope, frame, cur)
        op = REGISTRY.get(call.func)
        if op is not None and op.merge:
            return self.named_merge(call, alias, scope, frame)
        if op is not None:
            raise CnnError(f"`{op.name}` is an op: write its arguments without parentheses, `{op.name} ...`",
                           call.func_span, "put a space before '(' for a parenthesised argument")
        if call.func in BUILTINS:
            raise CnnError(f"{call.func}(...) is a value, not a layer", call.func_span)
        raise CnnError(f"unknown block '{call.func}'", call.func_span,
                       suggest(call.func, set(self.program.blocks) | set(REGISTRY))
                       or f"define it with `block {call.func}(...) {{ ... }}` or import the file that does")

    def block(self, block: ast.BlockDef, call: ast.Call, alias: str | None, scope: Scope, frame: Frame,
              cur: Flowing) -> Flowing:
        if len(frame.chain) >= self.limits.max_depth:
            raise CnnError(f"block calls nest deeper than {self.limits.max_depth} (is '{block.name}' recursive?)",
                           call.func_span)
        args = bind_block(block, call, scope, self.globals)
        self.budget.block(block, args, self.shape(cur) if isinstance(cur, TensorRef) else None, len(frame.chain),
                          self.g.number_of_nodes(), call.func_span)
        inner_scope = Scope(self.globals, args)
        if isinstance(cur, TensorRef):
            inner_scope.values["in_shape"] = self.shape(cur)
            inner_scope.values["in_channels"] = self.shape(cur)[0]
        name = frame.claim(block.name, name_of(alias, scope, call.span), call.span)
        inner = Frame((*frame.path, name), (*frame.chain, (block.name, call.func_span)), False)
        text = f"{block.name}(" + ", ".join([show(v) for v in list(args.values())[:len(call.args)]] +
                                            [f"{k.name}={show(args[k.name])}" for k in call.kwargs]) + ")"
        self.blocks[inner.path] = {"block": block.name, "call": text, "span": call.span, "chain": inner.chain}
        return self.body(block.body, inner_scope, inner, cur)

    # ---- the network
    def network(self, net: ast.NetworkDef, args: dict[str, object], input_shape: tuple | None) -> Network:
        self.input_override = input_shape
        scope = Scope(self.globals, args)
        frame = Frame((), (), True)
        self.budget.network(net.body, scope)
        cur = self.body(net.body, scope, frame, None)
        if self.input_node is None:
            raise CnnError(f"network '{net.name}' has no `input` statement", net.span)
        if not self.outputs:
            self.outputs = [self.flowing(cur, net.span, f"network '{net.name}'", frame)]
        self.g.graph.update(name=net.name, params=args, outputs=[(t.node, t.port) for t in self.outputs],
                            blocks=self.blocks, stages=self.stages, warnings=self.warnings,
                            sources=self.program.sources)
        return Network(self.g)


def network_args(net: ast.NetworkDef, overrides: dict[str, object], span: Span | None = None) -> dict[str, object]:
    """The network's parameters: defaults, overridden by `--set` / keyword values."""
    names = [p.name for p in net.params]
    for key in overrides:
        if key not in names:
            raise CnnError(f"network '{net.name}' has no parameter '{key}'", span,
                           suggest(key, names) or f"its parameters: {', '.join(names) or 'none'}")
    scope = Scope(Scope(None, dict(BUILTINS)))
    for p in net.params:
        if p.name in overrides:
            try:  # a Python value may be anything: hold it to the language's own limits
                check_value(overrides[p.name], span)
            except CnnError as exc:
                raise CnnError(f"parameter '{p.name}': {exc.message}", span) from None
            scope.values[p.name] = overrides[p.name]
        elif p.default is None:
            raise CnnError(f"network '{net.name}' needs a value for '{p.name}'", p.span,
                           f"give it with --set {p.name}=... or {p.name}=...")
        else:
            scope.values[p.name] = evaluate(p.default, scope)
    return dict(scope.values)


def elaborate(program: Program, name: str, overrides: dict[str, object] | None = None,
              input_shape: tuple | None = None, limits: Limits | None = None) -> Network:
    """Elaborate network `name` of `program` into a shape-checked graph."""
    net = program.networks[name]
    args = network_args(net, overrides or {})
    with _deep_recursion():
        return Elaborator(program, limits or Limits()).network(net, args, input_shape)


@contextlib.contextmanager
def _deep_recursion(frames: int = 20_000) -> Iterator[None]:
    """Nested block calls (up to Limits.max_depth) and merges recurse several frames per level;
    make room for them. Python 3.11+ keeps such calls off the C stack."""
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(max(old, frames))
    try:
        yield
    finally:
        sys.setrecursionlimit(old)
