"""The abstract syntax tree: frozen dataclasses, each carrying the span of its source text.

The parser builds these from Lark's tree; elaboration reads them and never changes them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
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
    """A name read in an expression (a parameter, a `let`, a loop variable, a tensor)."""

    id: str
    span: Span


@dataclass(frozen=True)
class TupleExpr:
    """`(a, b, ...)`: a tuple built from its items."""

    items: tuple[Expr, ...]
    span: Span


@dataclass(frozen=True)
class Index:
    """`base[index]`: one item of a tuple."""

    base: Expr
    index: Expr
    span: Span


@dataclass(frozen=True)
class Keyword:
    """`name=value`: a keyword argument of a layer or a call."""

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
    """A binary operation, arithmetic, comparison or logical."""

    op: str  # one of + - * / // % ** == != < <= > >= and or
    left: Expr
    right: Expr
    span: Span


@dataclass(frozen=True)
class UnaryOp:
    """`-x`, `+x` or `not x`."""

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
    """One layer in a flow: `op args kwargs [as name]` (`conv 3x3/2 64 pad=1`)."""

    op: str
    args: tuple[Arg, ...]
    kwargs: tuple[Keyword, ...]
    alias: str | None
    span: Span  # the op name


@dataclass(frozen=True)
class CallItem:
    """A block call (or a merge of named tensors) in a flow, with its optional `as` name."""

    call: Call
    alias: str | None
    span: Span


@dataclass(frozen=True)
class Merge:
    """`op { branch | branch ... }`: branches that run on the same input, joined by the op (`add`,
    `concat`, `mul`)."""

    op: str
    branches: tuple[tuple[Stmt, ...], ...]
    span: Span  # the op name


@dataclass(frozen=True)
class If:
    """`if cond { then } else { orelse }` as an item; `orelse` is None without `else`."""

    cond: Expr
    then: tuple[Stmt, ...]
    orelse: tuple[Stmt, ...] | None
    span: Span


@dataclass(frozen=True)
class Repeat:
    """`repeat count { body }`: the body `count` times in sequence."""

    count: Expr
    body: tuple[Stmt, ...]
    span: Span


Target = Union[str, tuple["Target", ...]]  # `i` or `(i, (a, b))`


@dataclass(frozen=True)
class For:
    """`for target in iterable { body }`: the body once per item of a tuple or `range(...)`."""

    target: Target
    iterable: Expr
    body: tuple[Stmt, ...]
    span: Span


Item = Union[Layer, CallItem, Merge, If, Repeat, For]


@dataclass(frozen=True)
class Let:
    """`let name = value`: a value bound in the enclosing scope."""

    name: str
    value: Expr
    span: Span


@dataclass(frozen=True)
class Input:
    """`input shape`: the network's input, its shape per sample (`3x224x224`, no batch axis)."""

    shape: Expr
    span: Span


@dataclass(frozen=True)
class Output:
    """`output name`: the named tensor is an output of the network."""

    name: str
    span: Span


@dataclass(frozen=True)
class InitRule:
    """`key=init` in an `init` statement: the default initialiser of the layers of an op or family."""

    key: str
    value: Expr
    span: Span  # the key


@dataclass(frozen=True)
class InitDefaults:
    """`init conv=xavier_uniform, fc=normal(0, 0.01)`: defaults for the layers after it in its body and
    in the blocks they call."""

    rules: tuple[InitRule, ...]
    span: Span


@dataclass(frozen=True)
class Flow:
    """`[target =] [source ->] item, item, ...`"""

    targets: tuple[str, ...] | None
    unpack: bool  # `(a, b) = ...`
    source: Name | Call | None
    items: tuple[Item, ...]
    span: Span


Stmt = Union[Let, Input, Output, InitDefaults, Flow]

# ---- definitions -------------------------------------------------------------------------


@dataclass(frozen=True)
class Param:
    """A parameter of a block or network, with its default expression (None when required)."""

    name: str
    default: Expr | None
    span: Span


@dataclass(frozen=True)
class BlockDef:
    """`block name(params) { body }`: a reusable piece of network, inlined at each call."""

    name: str
    params: tuple[Param, ...]
    body: tuple[Stmt, ...]
    span: Span


@dataclass(frozen=True)
class NetworkDef:
    """`network name(params) { body }`: a network one can check, compile or draw."""

    name: str
    params: tuple[Param, ...]
    body: tuple[Stmt, ...]
    span: Span


@dataclass(frozen=True)
class Import:
    """`import "path"`: another .cnn file whose definitions this one uses."""

    path: str
    span: Span


@dataclass(frozen=True)
class Module:
    """One parsed file."""

    file: str
    definitions: tuple[BlockDef | NetworkDef | Import, ...]


def names_read(node: object) -> Iterator[Name]:
    """Every `Name` in a piece of syntax (a node, or a tuple of nodes), at any depth."""
    stack = [node]
    while stack:  # the syntax below: dataclasses and tuples of them
        node = stack.pop()
        if isinstance(node, Name):
            yield node
        elif isinstance(node, tuple):
            stack.extend(node)
        elif dataclasses.is_dataclass(node):
            stack.extend(getattr(node, f.name) for f in dataclasses.fields(node))
