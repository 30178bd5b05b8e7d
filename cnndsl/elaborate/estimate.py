"""How much an expansion will make, known before it is expanded.

`repeat 10 ** 12 { relu }`, a block that calls itself twice forty levels deep, or a merge of a
hundred thousand branches would each be refused by the limits only after minutes of work and
gigabytes of graph. The elaborator asks this module first: it walks the syntax, not the graph,
multiplies a `repeat` body's size by its count instead of unrolling it, and remembers the size
of each block call by its arguments, so `b(n) { b(n - 1), b(n - 1) }` costs a step per level.

A size is a pair of bounds. What cannot be known before elaboration (a block's input shape, an
expression that fails) is unknown: an `if` on an unknown condition counts its smaller side in
the lower bound and its larger in the upper, an unknown count counts nothing and everything.
The lower bound refuses (a refusal is always right); the upper bound lets the elaborator skip
estimating again what cannot pass a limit. What the bounds miss the limits still catch as the
graph grows.
"""

from __future__ import annotations

from collections.abc import Callable

from ..errors import CnnError
from ..lang import syntax as ast
from ..lang.limits import Meter, tuple_items
from ..lang.source import Program
from ..lang.values import BUILTINS, Scope, evaluate
from ..ops import REGISTRY
from .binding import bind_block
from .frames import Limits, unpack
from .sizes import CALL, LAYER, STEP, UNBOUNDED, Size


class UnknownValueError(Exception):
    """A comparison with a value known only during elaboration."""


class Unknown:
    """A value known only during elaboration (a block's `in_channels`, a bound tensor)."""

    def __eq__(self, other: object) -> bool:
        raise UnknownValueError

    __ne__ = __eq__
    __hash__ = object.__hash__

    def __repr__(self) -> str:
        return "?"


UNKNOWN = Unknown()
_KEY = object()  # UNKNOWN in a memo key, which must compare without raising
_SCALARS = {int, float, bool, str}


class _SpentError(Exception):
    """The estimator's own step budget is used up."""


# block calls inside one another the estimate follows: it recurses (the elaborator does not), and
# a deeper estimate only makes the size unknown, never refuses a network the elaborator would build
MAX_ESTIMATE_DEPTH = 100
FAILURE = 50  # steps an expression that fails costs the estimator: a message and its hint are built


class Estimator:
    """Sizes of expansions for one elaboration. Its own work (statements, iterations, expressions)
    is bounded by a meter of a quarter of `limits.max_steps`, after which every size is unbounded:
    the estimate then neither refuses nor spares the elaboration any check."""

    def __init__(self, program: Program, limits: Limits) -> None:
        self.blocks = program.blocks
        self.limits = limits
        self.meter = Meter(limits.max_steps // 4)
        self.globals = Scope(None, dict(BUILTINS), meter=self.meter)
        self.sizes: dict[tuple, Size] = {}  # block calls by (name, arguments), their input unknown
        self.open: set[tuple] = set()  # calls being estimated: a recursive one is unbounded
        self.reads: dict[int, bool] = {}  # whether a loop's body reads its variables, by id of the loop
        self.spent = False

    def scope(self, parent: Scope) -> Scope:
        """A scope for estimating: it sees `parent`'s names but charges the estimator's meter."""
        return Scope(parent, meter=self.meter)

    def statement(self, stmt: ast.Stmt, scope: Scope) -> Size:
        """The size of one statement of the network's body; `scope` from `self.scope`."""
        return self._guarded(lambda: self.stmt(stmt, scope, 0))

    def call_size(self, block: ast.BlockDef, args: dict[str, object], depth: int) -> Size:
        """The size of a block instance called with `args` from `depth` calls deep, its input unknown."""
        return self._guarded(lambda: self.instance(block, args, depth))

    def block_body(self, block: ast.BlockDef, args: dict[str, object], in_shape: tuple | None, depth: int) -> Size:
        """The size of a block instance's body, its input shape known (or None)."""
        inner = Scope(self.globals, args)
        inner.values["in_shape"] = UNKNOWN if in_shape is None else in_shape
        inner.values["in_channels"] = UNKNOWN if in_shape is None else in_shape[0]
        return self._guarded(lambda: self.body(block.body, inner, depth))

    def _guarded(self, estimate: Callable[[], Size]) -> Size:
        if self.spent:
            return UNBOUNDED
        try:
            return estimate()
        except _SpentError:
            self.spent = True
            return UNBOUNDED
        except RecursionError:  # deeper than a walk can follow (see MAX_ESTIMATE_DEPTH): unknown
            return UNBOUNDED

    # ---- the walk
    def value(self, expr: ast.Expr, scope: Scope) -> object:
        """The value of an expression, or UNKNOWN when it fails or reads a value known only during elaboration."""
        try:
            return evaluate(expr, scope)
        except (CnnError, UnknownValueError):
            self._charge(FAILURE)
            return UNKNOWN

    def _charge(self, steps: int) -> None:
        self.meter.used += steps
        if self.meter.used > self.meter.limit:
            raise _SpentError

    def body(self, stmts: tuple[ast.Stmt, ...], scope: Scope, depth: int) -> Size:
        """The size of a sequence of statements; stops adding once the lower bound passes a limit."""
        total = Size()
        for stmt in stmts:
            total += self.stmt(stmt, scope, depth)
            if total.beyond(self.limits):
                break
        return total

    def stmt(self, stmt: ast.Stmt, scope: Scope, depth: int) -> Size:
        """The size of one statement; a `let` binds its value (or UNKNOWN) in `scope`, a flow's targets
        UNKNOWN."""
        self._charge(1)
        size = STEP
        match stmt:
            case ast.Let(name=name, value=value):
                scope.values[name] = self.value(value, scope)
            case ast.Input():
                size = LAYER + STEP
            case ast.Flow(source=source, items=items, targets=targets):
                if isinstance(source, ast.Call):
                    size += LAYER
                for item in items:
                    size += self.item(item, scope, depth)
                    if size.beyond(self.limits):
                        break
                for name in targets or ():
                    scope.values[name] = UNKNOWN
        return size

    def item(self, item: ast.Item, scope: Scope, depth: int) -> Size:
        """The size of one item: a layer is one, a call or merge its body, an `if` on an unknown condition
        either side, a `repeat` its body times its count (unbounded for an unknown count)."""
        self._charge(1)
        match item:
            case ast.Layer():
                return LAYER
            case ast.CallItem(call=call):
                return self.call(call, scope, depth)
            case ast.Merge(branches=branches):
                total = LAYER
                for branch in branches:
                    total += self.body(branch, scope.child(), depth)
                    if total.beyond(self.limits):
                        break
                return total
            case ast.If(cond=cond, then=then, orelse=orelse):
                known = self.value(cond, scope)
                if isinstance(known, bool):
                    return self.body((then if known else orelse) or (), scope.child(), depth)
                return self.body(then, scope.child(), depth).either(self.body(orelse or (), scope.child(), depth))
            case ast.Repeat(count=count, body=body):
                n = self.value(count, scope)
                if not isinstance(n, int) or isinstance(n, bool) or n < 0:
                    return UNBOUNDED
                return Size.of(steps=n) + self.body(body, scope.child(), depth).times(n)
            case ast.For():
                return self.loop(item, scope, depth)
        return UNBOUNDED

    def loop(self, item: ast.For, scope: Scope, depth: int) -> Size:
        """The size of a `for` loop: per-iteration bounds with the variables unknown, iterating only where that
        could refuse."""
        sequence = self.value(item.iterable, scope)
        if not isinstance(sequence, tuple):
            return UNBOUNDED
        # first with the loop variables unknown: bounds for every iteration, found in one walk;
        # iterating with their values can only raise the lower bound: worth it only if that could
        # refuse, and if the body reads them at all
        guess = scope.child()
        _unknown(item.target, guess)
        bound = Size.of(steps=len(sequence)) + self.body(item.body, guess, depth).times(len(sequence))
        if bound.beyond(self.limits) or bound.fits(self.limits, (0, 0, 0)) or not self._reads_target(item):
            return bound
        total = Size.of(steps=len(sequence))
        for value in sequence:
            self._charge(1)
            inner = scope.child()
            try:
                unpack(item.target, value, inner, item.iterable.span)
            except CnnError:
                return total.unbounded()
            total += self.body(item.body, inner, depth)
            if total.beyond(self.limits):
                break
        return total

    def _reads_target(self, item: ast.For) -> bool:
        if id(item) not in self.reads:
            names = set(_names(item.target))
            self.reads[id(item)] = any(name.id in names for name in ast.names_read(item.body))
        return self.reads[id(item)]

    def call(self, call: ast.Call, scope: Scope, depth: int) -> Size:
        """The size of a call item: a block call's instance, a merge of named tensors one layer, anything else
        nothing."""
        block = self.blocks.get(call.func)
        if block is None:
            op = REGISTRY.get(call.func)
            return LAYER if op is not None and op.merge else Size()
        if depth >= min(self.limits.max_depth, MAX_ESTIMATE_DEPTH):
            # the elaborator refuses such a call (here; maybe not elsewhere), or the estimate stops
            # following calls: an unknown size refuses nothing, the graph's growth is still checked
            return CALL.unbounded()
        try:
            args = bind_block(block, call, scope, self.globals)
        except (CnnError, UnknownValueError):
            self._charge(FAILURE)
            return CALL.unbounded()
        return self.instance(block, args, depth)

    def instance(self, block: ast.BlockDef, args: dict[str, object], depth: int) -> Size:
        """The size of a block instance with `args`, remembered by block and arguments; a call of itself that
        is being estimated is unbounded."""
        own, values = CALL, tuple(args.values())
        if not all(type(v) in _SCALARS for v in values):
            # the key costs a walk of the arguments: charge it, as evaluation charges what it builds
            self._charge(sum(tuple_items(v, None) for v in values))
        key = (block.name, _frozen(values))
        if key in self.sizes:
            return own + self.sizes[key]
        if key in self.open:
            return own.unbounded()
        self.open.add(key)
        inner = Scope(self.globals, args)
        inner.values["in_shape"] = inner.values["in_channels"] = UNKNOWN
        try:
            size = self.body(block.body, inner, depth + 1)
        finally:
            self.open.discard(key)
        self.sizes[key] = size
        return own + size


def _names(target: ast.Target) -> list[str]:
    return [target] if isinstance(target, str) else [n for t in target for n in _names(t)]


def _unknown(target: ast.Target, scope: Scope) -> None:
    for name in _names(target):
        scope.values[name] = UNKNOWN


def _frozen(value: object) -> object:
    """A memo key for a value: typed (1, 1.0 and true are equal in Python, not here)."""
    if isinstance(value, Unknown):
        return _KEY
    if isinstance(value, tuple):
        return tuple(_frozen(v) for v in value)
    return type(value), value
