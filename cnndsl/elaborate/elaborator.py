"""Elaboration: a network definition plus argument values -> the shape-checked IR graph.

Blocks are inlined, loops unrolled, conditionals decided, and every layer's output shape is
computed as the layer is added (blocks may read `in_channels`). The AST is never changed.
"""

from __future__ import annotations

from collections.abc import Generator, Mapping
from typing import Any

from ..errors import CnnError, Diagnostic, Span, suggest
from ..ir import IRBuilder, Network
from ..lang import syntax as ast
from ..lang.gc_pause import gc_paused
from ..lang.limits import check_value
from ..lang.source import Program
from ..lang.values import BUILTINS, Scope, TensorRef, evaluate, show, truth
from ..ops import INPUT, REGISTRY, Shape, ShapeError, dims
from ..ops.aliases import meaning_hint
from ..ops.inits import LayerInit
from .binding import bind_block, bind_init, bind_layer, check_init_fits, init_key, init_value, op_named
from .budget import Budget
from .frames import Frame, Limits, Multi, name_of, unpack

Flowing = TensorRef | Multi | None
# One elaboration step: it yields the sub-steps whose results it needs (`cur = yield self.body(...)`)
# and returns its own; `_run` drives them on an explicit stack (see there).
Step = Generator["Step", Any, Any]


class Elaborator:
    """Builds one network's IR graph from its definition (`elaborate` makes one per network). Its methods
    are the elaboration steps; those that elaborate a body are generators driven by `_run`, so that
    nesting costs no Python stack. Every error is a located CnnError."""

    def __init__(self, program: Program, limits: Limits, input_shape: tuple[int, ...] | None = None) -> None:
        self.program = program
        self.limits = limits
        self.input_shape = input_shape  # the caller's override of `input`, validated where it was given
        self.ir = IRBuilder()
        self.outputs: list[TensorRef] = []
        self.output_names: list[str] = []  # as the `output` statements name them
        self.budget = Budget(program, limits)
        self.globals = Scope(None, dict(BUILTINS), meter=self.budget.meter)
        self.input_node: int | None = None

    # ---- graph construction
    def add_node(self, op: str, attrs: dict, inputs: list[TensorRef], frame: Frame, name: str,
                 span: Span, init: LayerInit | None = None) -> int:
        """Add a layer of op `op` reading `inputs`; returns its node id. Its output shapes (per sample) come
        from the op's shape rule and its warnings are recorded. Raises CnnError for a shape rule's error, an
        output dimension below 1, a tensor past the limits, more than `max_layers` layers, or an init
        that torch would refuse on the layer's tensors (xavier on a bias)."""
        if len(self.ir) >= self.limits.max_layers:
            raise CnnError(f"the network has more than {self.limits.max_layers} layers (the limit)", span)
        in_shapes = [self.shape(t) for t in inputs]
        entry = REGISTRY[op]
        try:
            shapes = entry.infer(attrs, in_shapes)
        except ShapeError as exc:
            raise CnnError(str(exc), span, chain=frame.chain) from None
        if any(d < 1 for s in shapes for d in s):  # the one check of every op's rule, at the op that empties it
            raise CnnError(f"`{entry.describe(attrs)}` leaves no output on a {' and '.join(map(dims, in_shapes))} "
                           f"input ({', '.join(map(dims, shapes))})", span, chain=frame.chain)
        self.budget.tensors(op, shapes, span, frame.chain)
        if init is None and entry.initialisable:  # the `init` statements' default: the op's, else its family's
            init = frame.inits.get(op) or frame.inits.get(entry.family.value)
        if init is not None:  # torch would refuse xavier on a bias when the model is built: say so now
            check_init_fits(entry, attrs, init, span, f"{'.'.join((*frame.path, name))} ({entry.describe(attrs)})")
        n = self.ir.add_layer(op, (*frame.path, name), attrs, [(t.node, t.port) for t in inputs], shapes, span,
                              frame.chain, init)
        for message in entry.warn(attrs, in_shapes):
            who = ".".join((*frame.path, name))
            self.ir.add_warning(Diagnostic(f"{who} ({entry.describe(attrs)}) {message}", span,
                                           chain=frame.chain, severity="warning"))
        return n

    def shape(self, t: TensorRef) -> Shape:
        """The shape per sample of a tensor already in the graph."""
        return self.ir.shape(t.node, t.port)

    def flowing(self, cur: Flowing, span: Span, what: str, frame: Frame) -> TensorRef:
        """The tensor flowing into an item, described as `what` in messages; CnnError when there is none
        (nothing before it) or when it is the several outputs of a `split` not yet bound to names."""
        if cur is None:
            raise CnnError(f"{what} has no input: a network starts with `input CxHxW`", span, chain=frame.chain)
        if isinstance(cur, Multi):
            names = ", ".join("abcdefgh"[i] for i in range(min(cur.count, 8)))
            raise CnnError(f"{what} follows a layer with {cur.count} outputs", span,
                           f"bind them first: ({names}) = ...", frame.chain)
        return cur

    # ---- statements
    def body(self, stmts: tuple[ast.Stmt, ...], scope: Scope, frame: Frame, cur: Flowing) -> Step:
        """Statements in order: each layer is added at once (most items are layers); an item
        with a body of its own (a block call, branches, `if`, a loop) is a sub-step."""
        for stmt in stmts:
            try:
                if not isinstance(stmt, ast.Flow):
                    cur = self.stmt(stmt, scope, frame, cur)
                    continue
                cur = self.source(stmt, scope, frame, cur)
                for item in stmt.items:
                    if isinstance(item, ast.Layer):
                        cur = self.layer(item, scope, frame, cur)
                    else:
                        cur = yield self.item_output(item, scope, frame, cur)
                    self.stage(item, frame, cur)
                if stmt.targets is not None:
                    self.bind_targets(stmt, scope, frame, cur)
            except CnnError as exc:
                raise exc.with_chain(frame.chain) from None
        return cur

    def stmt(self, stmt: ast.Stmt, scope: Scope, frame: Frame, cur: Flowing) -> Flowing:
        """`let`, `input` and `output` (`body` does flows)."""
        self.budget.meter.charge(1, stmt.span)
        match stmt:
            case ast.Let(name=name, value=value):
                scope.values[name] = evaluate(value, scope)
                return cur
            case ast.Input():
                return self.input(stmt, scope, frame, cur)
            case ast.InitDefaults(rules=rules):
                for rule in rules:
                    key = init_key(rule.key, rule.span)
                    frame.inits[key] = init_value(rule.value, rule.value.span, scope, f"init {key}")
                return cur
            case ast.Output(name=name, span=span):
                if not frame.is_network:
                    raise CnnError("`output` belongs in a network, not in a block", span)
                self.outputs.append(self.tensor(ast.Name(name, span), scope, frame))
                self.output_names.append(name)
                return cur
        raise AssertionError(stmt)

    def input(self, stmt: ast.Input, scope: Scope, frame: Frame, cur: Flowing) -> TensorRef:
        """The `input` statement: the input layer, its shape the caller's override or the declared one (per
        sample). CnnError for an `input` in a block, a second one, or a shape that is not positive ints."""
        if not frame.is_network:
            raise CnnError("`input` belongs in a network, not in a block", stmt.span)
        if self.input_node is not None:
            raise CnnError("a network has one `input`", stmt.span)
        shape = self.input_shape or _declared_shape(stmt, scope)
        name = INPUT.name  # the input layer is named after its op
        self.input_node = self.add_node(name, {"shape": shape}, [], frame, frame.claim(name, name, stmt.span),
                                        stmt.span)
        return TensorRef(self.input_node)

    def tensor(self, name: ast.Name, scope: Scope, frame: Frame) -> TensorRef:
        """The tensor a name is bound to; CnnError when the name is unbound or holds a value."""
        value = evaluate(name, scope)
        if not isinstance(value, TensorRef):
            raise CnnError(f"'{name.id}' is a value, not a tensor", name.span)
        return value

    def source(self, stmt: ast.Flow, scope: Scope, frame: Frame, cur: Flowing) -> Flowing:
        """Where a flow starts: a named tensor, a merge of named ones, or the current tensor."""
        if isinstance(stmt.source, ast.Name):
            cur = self.tensor(stmt.source, scope, frame)
        elif isinstance(stmt.source, ast.Call):
            op = REGISTRY.get(stmt.source.func)
            if op is None or not op.merge:
                raise CnnError(f"`{stmt.source.func}(...)` cannot come before '->'", stmt.source.func_span,
                               "a statement starts from a tensor name (`e1 -> ...`) or a merge of named tensors "
                               "(`concat(e1, e2) -> ...`); use ',' to continue the flow")
            cur = self.named_merge(stmt.source, None, scope, frame)
        return cur

    def bind_targets(self, stmt: ast.Flow, scope: Scope, frame: Frame, cur: Flowing) -> None:
        """Bind `name = ...` to the flowing tensor, or `(a, b) = ...` to a layer's outputs (CnnError when
        counts differ)."""
        if not stmt.unpack:
            scope.values[stmt.targets[0]] = self.flowing(cur, stmt.span, f"'{stmt.targets[0]}'", frame)
            return
        if not isinstance(cur, Multi) or cur.count != len(stmt.targets):
            got = cur.count if isinstance(cur, Multi) else 1
            raise CnnError(f"{len(stmt.targets)} names for {got} output{'s' if got != 1 else ''}", stmt.span)
        for port, name in enumerate(stmt.targets):
            scope.values[name] = TensorRef(cur.node, port)

    # ---- items
    def stage(self, item: ast.Item, frame: Frame, cur: Flowing) -> None:
        """Record the output of one of the network body's own layers, calls and merges."""
        if frame.is_network and isinstance(cur, TensorRef) and isinstance(item, (ast.Layer, ast.CallItem, ast.Merge)):
            self.ir.add_stage(cur.node, cur.port)

    def item_output(self, item: ast.Item, scope: Scope, frame: Frame, cur: Flowing) -> Step:
        """The step that elaborates an item with a body of its own (a call, a merge, `if`, `repeat`, `for`)."""
        match item:
            case ast.CallItem(call=call, alias=alias):
                return (yield self.call(call, alias, scope, frame, cur))
            case ast.Merge():
                return (yield self.merge(item, scope, frame, cur))
            case ast.If(cond=cond, then=then, orelse=orelse):
                chosen = then if truth(evaluate(cond, scope), cond.span) else orelse
                return (yield self.body(chosen or (), scope.child(), frame, cur))
            case ast.Repeat(count=count):
                n = evaluate(count, scope)
                if not isinstance(n, int) or isinstance(n, bool) or n < 0:
                    raise CnnError(f"repeat needs a non-negative integer, got {show(n)}", count.span)
                for _ in range(n):
                    self.budget.meter.charge(1, count.span)
                    cur = yield self.body(item.body, scope.child(), frame, cur)
                return cur
            case ast.For():
                return (yield self.loop(item, scope, frame, cur))
        raise AssertionError(item)

    def loop(self, item: ast.For, scope: Scope, frame: Frame, cur: Flowing) -> Step:
        """The step that unrolls a `for` loop over a tuple (CnnError for anything else)."""
        sequence = evaluate(item.iterable, scope)
        if not isinstance(sequence, tuple):
            raise CnnError(f"for needs a tuple or range(...), got {show(sequence)}", item.iterable.span)
        for value in sequence:
            self.budget.meter.charge(1, item.iterable.span)
            inner = scope.child()
            unpack(item.target, value, inner, item.iterable.span)
            cur = yield self.body(item.body, inner, frame, cur)
        return cur

    def layer(self, layer: ast.Layer, scope: Scope, frame: Frame, cur: Flowing) -> Flowing:
        """Add one layer item; returns its output (a TensorRef, or a Multi for several outputs). CnnError for a
        block written without parentheses, an unknown op, a merge without branches, or a bad argument."""
        if layer.op in self.program.blocks:
            raise CnnError(f"'{layer.op}' is a block: call it with parentheses, {layer.op}(...)", layer.span)
        op = op_named(layer.op, layer.span, set(self.program.blocks))
        if op.merge:
            raise CnnError(f"`{op.name}` joins branches: {op.name} {{ a | b }} or {op.name}(x, y)", layer.span)
        attrs = bind_layer(op, layer, scope)
        init = bind_init(op, layer, scope)
        source = self.flowing(cur, layer.span, f"`{layer.op}`", frame)
        name = frame.claim(op.name, name_of(layer.alias, scope, layer.span), layer.span)
        n = self.add_node(op.name, attrs, [source], frame, name, layer.span, init)
        count = op.outputs(attrs)
        return Multi(n, count) if count > 1 else TensorRef(n)

    def merge(self, merge: ast.Merge, scope: Scope, frame: Frame, cur: Flowing) -> Step:
        """The step that elaborates each branch from the same input and joins them by the merge op."""
        op = op_named(merge.op, merge.span, set(self.program.blocks))
        if not op.merge:
            raise CnnError(f"`{op.name}` does not take branches", merge.span,
                           "branches { a | b } belong to concat, add or mul")
        start = self.flowing(cur, merge.span, f"`{merge.op}`", frame)
        ends = []
        for branch in merge.branches:
            end = yield self.body(branch, scope.child(), frame, start)
            ends.append(self.flowing(end, merge.span, "a branch", frame))
        return TensorRef(self.add_node(op.name, {}, ends, frame, frame.claim(op.name, None, merge.span), merge.span))

    def named_merge(self, call: ast.Call, alias: str | None, scope: Scope, frame: Frame) -> TensorRef:
        """A merge of named tensors, `concat(a, b)`; CnnError for keywords, no tensors, or a name that is not a
        tensor."""
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
    def call(self, call: ast.Call, alias: str | None, scope: Scope, frame: Frame, cur: Flowing) -> Step:
        """The step for `name(...)` in a flow: a block call, or a merge of named tensors. CnnError for an op or
        a built-in written as a call, or an unknown name."""
        block = self.program.blocks.get(call.func)
        if block is not None:
            return (yield self.block(block, call, alias, scope, frame, cur))
        op = REGISTRY.get(call.func)
        if op is not None and op.merge:
            return self.named_merge(call, alias, scope, frame)
        if op is not None:
            raise CnnError(f"`{op.name}` is an op: write its arguments without parentheses, `{op.name} ...`",
                           call.func_span, "put a space before '(' for a parenthesised argument")
        if call.func in BUILTINS:
            raise CnnError(f"{call.func}(...) is a value, not a layer", call.func_span)
        raise CnnError(f"unknown block '{call.func}'", call.func_span, meaning_hint(call.func, REGISTRY)
                       or suggest(call.func, set(self.program.blocks) | set(REGISTRY))
                       or f"define it with `block {call.func}(...) {{ ... }}` or import the file that does")

    def block(self, block: ast.BlockDef, call: ast.Call, alias: str | None, scope: Scope, frame: Frame,
              cur: Flowing) -> Step:
        """Bind a block call's arguments and name its instance; the step that elaborates its body."""
        if len(frame.chain) >= self.limits.max_depth:
            raise CnnError(f"block calls nest deeper than {self.limits.max_depth} (is '{block.name}' recursive?)",
                           call.func_span)
        args = bind_block(block, call, scope, self.globals)
        self.budget.block(block, args, self.shape(cur) if isinstance(cur, TensorRef) else None, len(frame.chain),
                          len(self.ir), call.func_span)
        inner_scope = Scope(self.globals, args)
        if isinstance(cur, TensorRef):
            inner_scope.values["in_shape"] = self.shape(cur)
            inner_scope.values["in_channels"] = self.shape(cur)[0]
        name = frame.claim(block.name, name_of(alias, scope, call.span), call.span)
        inner = Frame((*frame.path, name), (*frame.chain, (block.name, call.func_span)), False,
                      inits=dict(frame.inits))
        text = f"{block.name}(" + ", ".join([_shown(v) for v in list(args.values())[:len(call.args)]] +
                                            [f"{k.name}={_shown(args[k.name])}" for k in call.kwargs]) + ")"
        self.ir.add_block(inner.path, block.name, text, call.span, inner.chain)
        return self.body(block.body, inner_scope, inner, cur)

    # ---- the network
    def network(self, net: ast.NetworkDef, args: dict[str, object]) -> Network:
        """Elaborate the whole network body and finish the graph; its outputs are the `output` statements, else
        the end of the body. CnnError for a network without `input`, or one without `output` whose body ends
        in no single tensor."""
        scope = Scope(self.globals, args)
        frame = Frame((), (), True)
        self.budget.network(net.body, scope)
        cur = _run(self.body(net.body, scope, frame, None))
        if self.input_node is None:
            raise CnnError(f"network '{net.name}' has no `input` statement", net.span)
        if not self.outputs:
            self.outputs = [self.flowing(cur, net.span, f"network '{net.name}'", frame)]
            self.output_names = [""]
        return self.ir.finish(net.name, args, [(t.node, t.port) for t in self.outputs], self.program.sources,
                              self.output_names)


def network_args(net: ast.NetworkDef, overrides: Mapping[str, object], span: Span | None = None) -> dict[str, object]:
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


def elaborate(program: Program, name: str, overrides: Mapping[str, object] | None = None,
              input_shape: tuple[int, ...] | None = None, limits: Limits | None = None) -> Network:
    """Elaborate network `name` of `program` into a shape-checked graph. `overrides` are parameter values
    and `input_shape` replaces the declared input (per sample, no batch axis); both are taken as given
    (cnndsl.request.Request checks them once, where they are written) and neither is changed. Raises
    CnnError, located, for any error in the network's text with these values, and when a limit of
    `limits` is passed; LintError only under CNNDSL_DEBUG (a bug)."""
    net = program.networks[name]
    args = network_args(net, overrides or {})
    with gc_paused():  # a big network: the collector would rescan it (lang.gc_pause)
        return Elaborator(program, limits or Limits(), input_shape).network(net, args)


def _run(step: Step) -> Any:
    """Run an elaboration step to its result with an explicit stack instead of Python's: a step
    yields the sub-step whose result it needs and is resumed with that result, or with its error
    thrown in at that `yield` (so `except` in a step sees errors from below it as before). Nested
    block calls, branches and loops then cost heap, not Python frames: nesting up to the limits
    ends in their located errors, never a RecursionError, and the process-wide recursion limit
    is left alone."""
    stack = [step]
    result: Any = None
    error: BaseException | None = None
    while stack:
        try:
            sub = stack[-1].send(result) if error is None else stack[-1].throw(error)
        except StopIteration as done:
            stack.pop()
            result, error = done.value, None
        except BaseException as exc:  # handed to the step that waits for this one
            stack.pop()
            if not stack:
                raise
            result, error = None, exc
        else:
            stack.append(sub)
            result, error = None, None
    return result


def _declared_shape(stmt: ast.Input, scope: Scope) -> tuple[int, ...]:
    """The shape an `input` statement declares: positive integers (`input 784` is (784,))."""
    shape = evaluate(stmt.shape, scope)
    if isinstance(shape, int) and not isinstance(shape, bool):
        shape = (shape,)
    if not (isinstance(shape, tuple) and shape and all(isinstance(d, int) and not isinstance(d, bool)
                                                        and d > 0 for d in shape)):
        raise CnnError(f"input must be a shape like 3x224x224, got {show(shape)}", stmt.shape.span)
    return shape


def _shown(value: object) -> str:
    """An argument of a block call as the source writes it: a pair or triple of integers as the dims
    literal `1x7` (the same value in the language), anything else as `show` writes it."""
    if (isinstance(value, tuple) and 2 <= len(value) <= 3
            and all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value)):
        return "x".join(str(v) for v in value)
    return show(value)
