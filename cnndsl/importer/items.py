"""The imported text before it is text: statements and values as frozen dataclasses.

A module instance's body is a tuple of items whose numbers are all :class:`Const`. Bodies of
instances of one block have the same *shape* (`shape_of`: the items with every constant
blanked out); `values_of` lists their constants in a fixed order and `fill` puts
expressions back in that order, which is how `blocks.py` turns differing numbers into block
parameters and repeated items into loops.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Const:
    """A constant of the imported text: a layer's slot value, a call argument, a number in an `as` name."""

    value: Any


@dataclass(frozen=True)
class Var:
    """A block parameter or the loop variable, by name."""

    name: str


@dataclass(frozen=True)
class Bin:
    """`left op right`: a value derived from a parameter (`c * 4`) or a loop progression."""

    op: str  # + - * //
    left: Value
    right: Value


Value = Const | Var | Bin
# `as` names: text and numbers, `block1-0` is ("block", Const(1), "-", Const(0))
Alias = tuple[str | Value, ...]


@dataclass(frozen=True)
class Layer:
    """One layer: its op, its slots (every argument in the registry's order, defaults included) and its
    `as` name parts."""

    op: str
    slots: tuple[tuple[str, Value], ...]
    alias: Alias | None = None


@dataclass(frozen=True)
class Call:
    """A block call: the block (a module path while blocks are formed, then the block's name), its
    arguments and its `as` name parts."""

    block: str
    args: tuple[Value, ...]
    alias: Alias | None = None


@dataclass(frozen=True)
class Merge:
    """`op { branch | ... }`; an empty branch is the identity."""

    op: str
    branches: tuple[tuple[Any, ...], ...]  # () is the identity branch


@dataclass(frozen=True)
class Loop:
    """`for i in range(start, stop) { body }` (`repeat` when the body does not use `i`)."""

    start: Value
    stop: Value
    body: tuple[Any, ...]


@dataclass(frozen=True)
class Cond:
    """`if flag { then } else { orelse }`: where instances of one block differ in structure."""

    flag: Value
    then: tuple[Any, ...]
    orelse: tuple[Any, ...] = ()


@dataclass(frozen=True)
class Stmt:
    """A statement of a body that is not a simple chain: `x3 = x1 -> items`, `concat(x2, x3)`."""

    targets: tuple[str, ...]
    source: str | None
    items: tuple[Any, ...]


@dataclass(frozen=True)
class NamedMerge:
    """`op(x1, x2)`: a merge of named tensors in a statement."""

    op: str
    names: tuple[str, ...]


@dataclass(frozen=True)
class Output:
    """`output name`: an output of a network with several."""

    name: str


LOOP_VAR = "i"


def alias_of(name: str) -> Alias:
    """Digit runs become numbers (`denselayer12` -> ("denselayer", Const(12))), so a run of
    numbered calls can be written as a loop and a stage number can become a parameter."""
    parts: list[str | Value] = []
    i = 0
    while i < len(name):
        j = i
        digits = name[i].isdigit()
        while j < len(name) and name[j].isdigit() == digits:
            j += 1
        run = name[i:j]
        parts.append(Const(int(run)) if digits and (run == "0" or run[0] != "0") else run)
        i = j
    return tuple(parts)


def map_consts(x: Any, visit: Any) -> Any:
    """Rebuild `x` with every Const replaced by visit(const) (a pre-order walk)."""
    if isinstance(x, Const):
        return visit(x)
    if isinstance(x, (Var, str)) or x is None or isinstance(x, (int, float, bool)):
        return x
    if isinstance(x, tuple):
        return tuple(map_consts(v, visit) for v in x)
    if dataclasses.is_dataclass(x):
        return dataclasses.replace(x, **{f.name: map_consts(getattr(x, f.name), visit) for f in dataclasses.fields(x)})
    raise TypeError(type(x))


BLANK = Const(None)


class _Wild:
    """A constant of the branch an instance does not take: any value will do."""

    def __repr__(self) -> str:
        return "WILD"


WILD = _Wild()


def wild(x: Any) -> Any:
    """`x` with every constant WILD (the constants of a template slot an instance lacks)."""
    return map_consts(x, lambda c: Const(WILD))


def shape_of(body: tuple) -> tuple:
    """`body` with every constant blanked out: equal for bodies that differ only in numbers."""
    return map_consts(body, lambda c: BLANK)


def values_of(body: tuple) -> list[Any]:
    """The constants of `body` in a fixed (pre-order) order, the order `fill` takes them back in."""
    out: list[Any] = []
    map_consts(body, lambda c: out.append(c.value) or c)
    return out


def fill(body: tuple, values: list[Value]) -> tuple:
    """`body` with its constants replaced, in `values_of` order, by `values`."""
    it = iter(values)
    return map_consts(body, lambda c: next(it))


def map_calls(items: Any, visit: Any) -> Any:
    """Rebuild `items` with every Call, at any depth (merges, loops, ifs, statements), replaced
    by visit(call)."""
    if isinstance(items, tuple):
        return tuple(map_calls(v, visit) for v in items)
    if isinstance(items, Call):
        return visit(items)
    if isinstance(items, (Merge, Loop, Cond, Stmt)):
        return dataclasses.replace(items, **{k: map_calls(v, visit) for k, v in vars(items).items()
                                             if isinstance(v, tuple)})
    return items


def calls_in(items: Any) -> list[Call]:
    """Every Call in `items`, at any depth, in order."""
    found: list[Call] = []
    map_calls(items, lambda c: found.append(c) or c)
    return found


def uses_loop_var(x: Any) -> bool:
    """Whether `x` reads the loop variable anywhere."""
    if isinstance(x, Var):
        return x.name == LOOP_VAR
    if isinstance(x, tuple):
        return any(uses_loop_var(v) for v in x)
    if dataclasses.is_dataclass(x):
        return any(uses_loop_var(getattr(x, f.name)) for f in dataclasses.fields(x))
    return False
