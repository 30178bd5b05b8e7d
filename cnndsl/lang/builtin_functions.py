"""The built-in functions of the language (`range`, `len`, `min`, `max`, `sum`, `enumerate`, `zip`, `int`,
`round`, `abs`, and the initialisers): each refuses what it cannot take with a TypeError or ValueError,
which `values.call_builtin` reports as a CnnError at the call, and builds nothing past the limits."""

from __future__ import annotations

from collections.abc import Callable

from ..ops.inits import CONSTRUCTORS
from .kinds import _number, name_builtins, type_name
from .limits import MAX_SEQUENCE


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
name_builtins(BUILTINS)  # so that messages show `len` or `zeros` as the source writes them
