"""The elaboration steps of a flow's items: layers, merges, `if`, `repeat`, `for` and block calls."""

from __future__ import annotations

from ..errors import CnnError, suggest
from ..lang import syntax as ast
from ..lang.values import BUILTINS, Scope, TensorRef, evaluate, show, truth
from ..ops import REGISTRY
from ..ops.aliases import meaning_hint
from .binding import bind_block, bind_init, bind_layer, op_named
from .frames import Frame, Multi, name_of, unpack
from .steps import Flowing, Step


class ItemSteps:
    """The steps of items, mixed into `Elaborator`: they use its state (`program`, `limits`, `budget`, `ir`,
    `globals`), its graph construction (`add_node`, `shape`, `flowing`, `tensor`) and its `body`."""

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
        name = self.claim(frame, op.name, name_of(layer.alias, scope, layer.span), layer.span)
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
        name = self.claim(frame, op.name, None, merge.span)
        return TensorRef(self.add_node(op.name, {}, ends, frame, name, merge.span))

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
        name = self.claim(frame, op.name, name_of(alias, scope, call.span), call.span)
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
        name = self.claim(frame, block.name, name_of(alias, scope, call.span), call.span)
        inner = Frame((*frame.path, *name.split(".")), (*frame.chain, (block.name, call.func_span)), False,
                      inits=dict(frame.inits))
        text = f"{block.name}(" + ", ".join([_shown(v) for v in list(args.values())[:len(call.args)]] +
                                            [f"{k.name}={_shown(args[k.name])}" for k in call.kwargs]) + ")"
        self.ir.add_block(inner.path, block.name, text, call.span, inner.chain)
        return self.body(block.body, inner_scope, inner, cur)


def _shown(value: object) -> str:
    """An argument of a block call as the source writes it: a pair or triple of integers as the dims
    literal `1x7` (the same value in the language), anything else as `show` writes it."""
    if (isinstance(value, tuple) and 2 <= len(value) <= 3
            and all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value)):
        return "x".join(str(v) for v in value)
    return show(value)
