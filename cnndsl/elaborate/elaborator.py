"""Elaboration: a network definition plus argument values -> the shape-checked IR graph.

Blocks are inlined, loops unrolled, conditionals decided, and every layer's output shape is
computed as the layer is added (blocks may read `in_channels`). The AST is never changed.
"""

from __future__ import annotations

from collections.abc import Mapping

from ..errors import CnnError, Diagnostic, Span, suggest
from ..ir import IRBuilder, Network
from ..lang import syntax as ast
from ..lang.gc_pause import gc_paused
from ..lang.limits import check_value
from ..lang.source import Program
from ..lang.values import BUILTINS, Scope, TensorRef, evaluate, show
from ..ops import INPUT, REGISTRY, Shape, ShapeError, dims
from ..ops.inits import LayerInit
from .binding import check_init_fits, init_key, init_value
from .budget import Budget
from .frames import Frame, Limits, Multi
from .items import ItemSteps
from .steps import Flowing, Step, _run


class Elaborator(ItemSteps):
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
        n = self.ir.add_layer(op, (*frame.path, *name.split(".")), attrs, [(t.node, t.port) for t in inputs], shapes,
                              span, frame.chain, init)
        who = ".".join((*frame.path, name))
        for message, drops in [*((m, False) for m in entry.warn(attrs, in_shapes)),
                               *((m, True) for m in entry.drops(attrs, in_shapes))]:
            self.ir.add_warning(Diagnostic(f"{who} ({entry.describe(attrs)}) {message}", span,
                                           chain=frame.chain, severity="warning", drops=drops))
        return n

    def claim(self, frame: Frame, base: str, alias: str | None, span: Span) -> str:
        """The name of a new layer or block call in `frame` (`Frame.claim`). The modules a dotted name
        makes (`backbone` of `as "backbone.0"`) are recorded as block instances the first time, so that
        every layer and call sits inside a known one; they are drawn and summarised as plain containers."""
        known = len(frame.containers)
        name = frame.claim(base, alias, span)
        for prefix in list(frame.containers)[known:]:
            self.ir.add_block((*frame.path, *prefix.split(".")), prefix.rsplit(".", 1)[-1], prefix, span, frame.chain,
                              container=True)
        return name

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
        self.input_node = self.add_node(name, {"shape": shape}, [], frame, self.claim(frame, name, name, stmt.span),
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


def _declared_shape(stmt: ast.Input, scope: Scope) -> tuple[int, ...]:
    """The shape an `input` statement declares: positive integers (`input 784` is (784,))."""
    shape = evaluate(stmt.shape, scope)
    if isinstance(shape, int) and not isinstance(shape, bool):
        shape = (shape,)
    if not (isinstance(shape, tuple) and shape and all(isinstance(d, int) and not isinstance(d, bool)
                                                        and d > 0 for d in shape)):
        raise CnnError(f"input must be a shape like 3x224x224, got {show(shape)}", stmt.shape.span)
    return shape
