"""Evaluation of `.cnn` expressions: ints, floats, bools, tuples, and a few built-in functions.

The language never evaluates Python: this is a small interpreter over the AST, and every
failure is a CnnError located at the sub-expression that caused it.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from dataclasses import dataclass

from ..errors import CnnError, Span, suggest
from ..ops.inits import CONSTRUCTORS, Init
from . import syntax as ast
from .limits import ITEMS_PER_STEP, MAX_INT_BITS, MAX_SEQUENCE, Meter, check_int, tuple_items


@dataclass(frozen=True)
class TensorRef:
    """A tensor in the graph under construction: output `port` of node `node`."""

    node: int
    port: int = 0


class Scope:
    """Names visible at one point: a dict chained to its enclosing scope. Evaluation in a scope
    with a meter (its own or its parent's) charges the meter a step per expression evaluated
    and per tuple item built."""

    def __init__(self, parent: Scope | None = None, values: dict[str, object] | None = None,
                 meter: Meter | None = None) -> None:
        self.parent = parent
        self.values = dict(values or {})
        self.meter = meter if meter is not None or parent is None else parent.meter

    def lookup(self, name: str) -> object:
        """The value bound to `name` here or in an enclosing scope; KeyError when there is none."""
        scope: Scope | None = self
        while scope is not None:
            if name in scope.values:
                return scope.values[name]
            scope = scope.parent
        raise KeyError(name)

    def has(self, name: str) -> bool:
        """Whether `name` is bound here or in an enclosing scope."""
        try:
            self.lookup(name)
        except KeyError:
            return False
        return True

    def names(self) -> set[str]:
        """Every name visible here (for `did you mean` hints)."""
        out: set[str] = set()
        scope: Scope | None = self
        while scope is not None:
            out |= scope.values.keys()
            scope = scope.parent
        return out

    def child(self) -> Scope:
        """A new scope inside this one (a loop body, a branch), sharing its meter."""
        return Scope(self)


def type_name(value: object) -> str:
    """A value's type as messages name it: int, float, bool, tuple, string, tensor."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, TensorRef):
        return "tensor"
    if callable(value):  # a built-in function written bare: `zeros` (an initialiser), `len`
        return "initialiser" if hasattr(value, "init_name") else "function"
    names = {int: "int", float: "float", tuple: "tuple", str: "string", Init: "initialiser"}
    return names.get(type(value), type(value).__name__)


def show(value: object, width: int = 200) -> str:
    """A value as the language writes it, abbreviated to about `width` characters: a long tuple
    shows its first items and its length, `(0, 0, ... 1000000 items)`, so that a message about
    a huge value stays short."""
    room = [width]

    def text(v: object) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, tuple):
            parts = []
            for item in v:
                if room[0] <= 0:
                    parts.append(f"... {len(v)} items")
                    break
                parts.append(text(item))
                room[0] -= len(parts[-1]) + 2
            return f"({parts[0]},)" if len(v) == 1 and len(parts) == 1 else f"({', '.join(parts)})"
        if isinstance(v, str):
            return repr(v) if len(v) <= width else f"{v[:width]!r}... ({len(v)} characters)"
        if isinstance(v, int) and v.bit_length() > MAX_INT_BITS:
            return f"<an integer of {v.bit_length()} bits>"
        if callable(v):  # a built-in function written bare, shown by the name it is written with
            return next((name for name, fn in BUILTINS.items() if fn is v), "a function")
        return str(v)
    return text(value)


def _check_int(value: object, span: Span) -> object:
    if isinstance(value, int) and not isinstance(value, bool):
        return check_int(value, span)
    if isinstance(value, float) and not math.isfinite(value):
        raise CnnError("arithmetic overflow: the result is not a finite number", span)
    if isinstance(value, complex):  # (-8) ** 0.5
        raise CnnError("the result is not a real number", span)
    return value


def _number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _power(a: object, b: object) -> object:
    if isinstance(b, int) and isinstance(a, int) and abs(a) > 1 and b * max(1, abs(a).bit_length() - 1) > MAX_INT_BITS:
        raise OverflowError
    return a ** b


_ARITH: dict[str, Callable[[object, object], object]] = {
    "+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv,
    "//": operator.floordiv, "%": operator.mod, "**": _power,
}
_COMPARE: dict[str, Callable[[object, object], bool]] = {
    "==": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
}


def _arith(op: str, a: object, b: object, span: Span) -> object:
    ok = (_number(a) and _number(b)) or (op == "+" and isinstance(a, tuple) and isinstance(b, tuple)) \
        or (op == "*" and isinstance(a, tuple) and isinstance(b, int) and not isinstance(b, bool))
    if not ok:
        raise CnnError(f"cannot apply '{op}' to {type_name(a)} and {type_name(b)}", span)
    if isinstance(a, tuple):  # the size of the result from its operands', before building it
        items = tuple_items(a, span) * max(b, 0) if op == "*" else tuple_items(a, span) + tuple_items(b, span)
        if items > MAX_SEQUENCE:
            raise CnnError(f"tuple too large: {items} items, counting those of nested tuples; "
                           f"the limit is {MAX_SEQUENCE}", span)
    try:
        return _check_int(_ARITH[op](a, b), span)
    except ZeroDivisionError:
        raise CnnError("division by zero", span) from None
    except (OverflowError, ValueError):
        raise CnnError(f"arithmetic overflow in '{op}'", span) from None


def _compare(op: str, a: object, b: object, span: Span) -> bool:
    if op in ("==", "!="):
        return _COMPARE[op](a, b)
    if not ((_number(a) and _number(b)) or (isinstance(a, tuple) and isinstance(b, tuple))):
        raise CnnError(f"cannot compare {type_name(a)} and {type_name(b)} with '{op}'", span)
    try:
        return _COMPARE[op](a, b)
    except TypeError:
        raise CnnError(f"cannot compare {show(a)} and {show(b)}", span) from None


def truth(value: object, span: Span) -> bool:
    """Conditions must be booleans: `if 1 {` is a mistake, not a convention."""
    if not isinstance(value, bool):
        raise CnnError(f"a condition must be true or false, got {type_name(value)} {show(value)}", span)
    return value


def evaluate(expr: ast.Expr, scope: Scope) -> object:
    """The value of an expression in a scope; CnnError at the offending sub-expression.
    Each evaluation is a step of the scope's meter; a new tuple is checked against the limits
    and its items charged as steps too."""
    meter = scope.meter
    if meter is not None:
        meter.used += 1  # meter.charge(1, ...) inlined: this runs for every node of every expression
        if meter.used > meter.limit:
            meter.charge(0, expr.span)
    match expr:
        case ast.Const(value=value):
            return value
        case ast.Name(id=name, span=span):
            try:
                return scope.lookup(name)
            except KeyError:
                raise CnnError(f"undefined name '{name}'", span,
                               suggest(name, {*scope.names(), "true", "false"})) from None
        case ast.TupleExpr(items=items, span=span):
            return _fresh(tuple(evaluate(i, scope) for i in items), span, meter)
        case ast.Index(base=base, index=index, span=span):
            return _index(evaluate(base, scope), evaluate(index, scope), span)
        case ast.BinOp(op="and", left=left, right=right):
            return truth(evaluate(left, scope), left.span) and truth(evaluate(right, scope), right.span)
        case ast.BinOp(op="or", left=left, right=right):
            return truth(evaluate(left, scope), left.span) or truth(evaluate(right, scope), right.span)
        case ast.BinOp(op=op, left=left, right=right, span=span) if op in _COMPARE:
            return _compare(op, evaluate(left, scope), evaluate(right, scope), span)
        case ast.BinOp(op=op, left=left, right=right, span=span):
            value = _arith(op, evaluate(left, scope), evaluate(right, scope), span)
            return _fresh(value, span, meter) if type(value) is tuple else value
        case ast.UnaryOp(op="not", operand=operand):
            return not truth(evaluate(operand, scope), operand.span)
        case ast.UnaryOp(op=op, operand=operand, span=span):
            value = evaluate(operand, scope)
            if not _number(value):
                raise CnnError(f"cannot apply unary '{op}' to {type_name(value)}", span)
            return -value if op == "-" else value
        case ast.Cond(then=then, cond=cond, orelse=orelse):
            return evaluate(then if truth(evaluate(cond, scope), cond.span) else orelse, scope)
        case ast.Call(span=span):
            value = call_builtin(expr, scope)
            return _fresh(value, span, meter) if type(value) is tuple else value
    raise CnnError(f"cannot evaluate {type(expr).__name__}", getattr(expr, "span", None))


def _fresh(value: tuple, span: Span, meter: Meter | None) -> tuple:
    """A tuple just built, checked against the limits and charged to the meter: a step per
    ITEMS_PER_STEP items, about what a step of any other kind costs."""
    items = tuple_items(value, span)
    if meter is not None:
        meter.charge(1 + items // ITEMS_PER_STEP, span)
    return value


def _index(base: object, index: object, span: Span) -> object:
    if not isinstance(base, tuple):
        raise CnnError(f"cannot index a {type_name(base)}", span)
    if not isinstance(index, int) or isinstance(index, bool):
        raise CnnError(f"a tuple index must be an int, got {type_name(index)}", span)
    if not -len(base) <= index < len(base):
        raise CnnError(f"index {index} out of range for a tuple of {len(base)}", span)
    return base[index]


def _ints(args: tuple, name: str) -> tuple[int, ...]:
    for a in args:
        if not isinstance(a, int) or isinstance(a, bool):
            raise TypeError(f"{name}() takes integers, got {type_name(a)}")
    return args


def _range(*args: object) -> tuple:
    if not 1 <= len(args) <= 3:
        raise TypeError("range() takes 1 to 3 integers")
    r = range(*_ints(args, "range"))
    if len(r) > MAX_SEQUENCE:
        raise ValueError(f"range() too long ({len(r)} items; the limit is {MAX_SEQUENCE})")
    return tuple(r)


def _seq(value: object, name: str) -> tuple:
    if not isinstance(value, tuple):
        raise TypeError(f"{name}() takes a tuple, got {type_name(value)}")
    return value


def _pairs(count: int, width: int, name: str) -> None:
    """`enumerate` and `zip` build `count` tuples of `width` items: refuse too many before."""
    if count * (width + 1) > MAX_SEQUENCE:
        raise ValueError(f"{name}() too long ({count * (width + 1)} items; the limit is {MAX_SEQUENCE})")


def _enumerate(*args: object) -> tuple:
    if len(args) != 1:
        _arity("enumerate", 1)
    _pairs(len(_seq(args[0], "enumerate")), 2, "enumerate")
    return tuple(enumerate(args[0]))


def _zip(*args: object) -> tuple:
    seqs = [_seq(x, "zip") for x in args]
    _pairs(min(map(len, seqs), default=0), len(seqs), "zip")
    return tuple(zip(*seqs, strict=False))


def _minmax(fn: Callable, name: str) -> Callable:
    def apply(*args: object) -> object:
        items = _seq(args[0], name) if len(args) == 1 else args
        if not items:
            raise ValueError(f"{name}() of an empty tuple")
        if not all(_number(i) for i in items):
            raise TypeError(f"{name}() takes numbers")
        return fn(items)
    return apply


def _one_number(fn: Callable, name: str) -> Callable:
    def apply(*args: object) -> object:
        if len(args) != 1 or not _number(args[0]):
            raise TypeError(f"{name}() takes one number")
        return fn(args[0])
    return apply


BUILTINS: dict[str, Callable[..., object]] = {
    "range": _range,
    "len": lambda *a: len(_seq(a[0], "len")) if len(a) == 1 else _arity("len", 1),
    "min": _minmax(min, "min"),
    "max": _minmax(max, "max"),
    "sum": lambda *a: sum(_ints(_seq(a[0], "sum"), "sum")) if len(a) == 1 else _arity("sum", 1),
    "enumerate": _enumerate,
    "zip": _zip,
    "int": _one_number(int, "int"),
    "round": _one_number(round, "round"),
    "abs": _one_number(abs, "abs"),
    **CONSTRUCTORS,  # initialisers: `xavier_uniform`, `normal(0, 0.01)`, ... (cnndsl/ops/inits.py)
}


def _arity(name: str, n: int) -> object:
    raise TypeError(f"{name}() takes {n} argument{'s' if n != 1 else ''}")


def call_builtin(call: ast.Call, scope: Scope) -> object:
    """The value of a call of a built-in function (`range`, `len`, `min`, `max`, `sum`, `enumerate`, `zip`,
    `int`, `round`, `abs`, and the initialisers such as `kaiming_normal(mode=fan_out)`); CnnError at the
    call for an unknown function, a keyword argument where it takes none, or arguments it refuses. An
    initialiser takes keywords, and the bare words of its `mode` and `nonlinearity` where they are unbound."""
    fn = BUILTINS.get(call.func)
    if fn is None:
        raise CnnError(f"unknown function '{call.func}'", call.func_span, suggest(call.func, BUILTINS))
    symbols: tuple[str, ...] = getattr(fn, "symbols", ())
    if call.kwargs and not symbols:
        raise CnnError(f"{call.func}() takes no keyword arguments", call.kwargs[0].span)

    words: tuple[str, ...] = getattr(fn, "words", ())  # its keywords that take words: any bare one is a word

    def value(expr: ast.Expr, keyword: str | None = None) -> object:
        if isinstance(expr, ast.Name) and (expr.id in symbols or keyword in words) and not scope.has(expr.id):
            return expr.id
        return evaluate(expr, scope)
    args = tuple(value(a) for a in call.args)
    kwargs: dict[str, object] = {}
    for k in call.kwargs:
        if k.name in kwargs:
            raise CnnError(f"{call.func}() {k.name} is given twice", k.span)
        kwargs[k.name] = value(k.value, k.name)
    try:
        return _check_int(fn(*args, **kwargs), call.span)
    except (TypeError, ValueError, OverflowError) as exc:
        raise CnnError(str(exc), call.span) from None
