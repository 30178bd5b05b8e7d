"""The abstract syntax tree: frozen dataclasses, each carrying the span of its source text.

The parser builds these from Lark's tree; elaboration reads them and never changes them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

from ..errors import Span

# ---- expressions -------------------------------------------------------------------------


@dataclass(frozen=True)
class Const:
    """A literal: int, float, bool, str, or a dims literal as a tuple of ints."""

    value: object
    span: Span


@dataclass(frozen=True)
class Name:
    id: str
    span: Span


@dataclass(frozen=True)
class TupleExpr:
    items: tuple[Expr, ...]
    span: Span


@dataclass(frozen=True)
class Index:
    base: Expr
    index: Expr
    span: Span


@dataclass(frozen=True)
class Keyword:
    name: str
    value: Expr
    span: Span


@dataclass(frozen=True)
class Call:
    """`name(args...)`: a block call, a merge over named tensors, or a built-in function."""

    func: str
    args: tuple[Expr, ...]
    kwargs: tuple[Keyword, ...]
    span: Span
    func_span: Span


@dataclass(frozen=True)
class BinOp:
    op: str  # one of + - * / // % ** == != < <= > >= and or
    left: Expr
    right: Expr
    span: Span


@dataclass(frozen=True)
class UnaryOp:
    op: str  # one of - + not
    operand: Expr
    span: Span


@dataclass(frozen=True)
class Cond:
    """`then if cond else orelse`"""

    then: Expr
    cond: Expr
    orelse: Expr
    span: Span


Expr = Union[Const, Name, TupleExpr, Index, Call, BinOp, UnaryOp, Cond]

# ---- layers, items, statements -----------------------------------------------------------


@dataclass(frozen=True)
class Arg:
    """A positional layer argument; `stride` is the `/S` suffix of a kernel."""

    value: Expr
    stride: Expr | None
    span: Span


@dataclass(frozen=True)
class Layer:
    op: str
    args: tuple[Arg, ...]
    kwargs: tuple[Keyword, ...]
    alias: str | None
    span: Span  # the op name


@dataclass(frozen=True)
class CallItem:
    call: Call
    alias: str | None
    span: Span


@dataclass(frozen=True)
class Merge:
    op: str
    branches: tuple[tuple[Stmt, ...], ...]
    span: Span  # the op name


@dataclass(frozen=True)
class If:
    cond: Expr
    then: tuple[Stmt, ...]
    orelse: tuple[Stmt, ...] | None
    span: Span


@dataclass(frozen=True)
class Repeat:
    count: Expr
    body: tuple[Stmt, ...]
    span: Span


Target = Union[str, tuple["Target", ...]]  # `i` or `(i, (a, b))`


@dataclass(frozen=True)
class For:
    target: Target
    iterable: Expr
    body: tuple[Stmt, ...]
    span: Span


Item = Union[Layer, CallItem, Merge, If, Repeat, For]


@dataclass(frozen=True)
class Let:
    name: str
    value: Expr
    span: Span


@dataclass(frozen=True)
class Input:
    shape: Expr
    span: Span


@dataclass(frozen=True)
class Output:
    name: str
    span: Span


@dataclass(frozen=True)
class Flow:
    """`[target =] [source ->] item, item, ...`"""

    targets: tuple[str, ...] | None
    unpack: bool  # `(a, b) = ...`
    source: Name | Call | None
    items: tuple[Item, ...]
    span: Span


Stmt = Union[Let, Input, Output, Flow]

# ---- definitions -------------------------------------------------------------------------


@dataclass(frozen=True)
class Param:
    name: str
    default: Expr | None
    span: Span


@dataclass(frozen=True)
class BlockDef:
    name: str
    params: tuple[Param, ...]
    body: tuple[Stmt, ...]
    span: Span


@dataclass(frozen=True)
class NetworkDef:
    name: str
    params: tuple[Param, ...]
    body: tuple[Stmt, ...]
    span: Span


@dataclass(frozen=True)
class Import:
    path: str
    span: Span


@dataclass(frozen=True)
class Module:
    """One parsed file."""

    file: str
    definitions: tuple[BlockDef | NetworkDef | Import, ...]
