"""Elaboration state: limits, the block instance being filled in (its names and call
chain), and the several outputs of one layer waiting to be bound."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field, fields

from ..errors import CallChain, CnnError, Span
from ..lang import syntax as ast
from ..lang.values import Scope, show
from ..ops.inits import LayerInit

_FIELD = re.compile(r"\{([^{}]*)\}")


_NAME = re.compile(r"[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*", re.ASCII)


def name_of(alias: str | None, scope: Scope, span: Span) -> str | None:
    """The name an `as` gives: a word, a position (`as 0`, as nn.Sequential numbers its
    layers), or a quoted template whose `{NAME}` fields are filled from the scope
    (`as "denselayer{i}"`, `as "{i}"`). A name may not be empty or hold braces; dots
    separate the steps of a module path (`as "backbone.0"`: layer `0` inside a module
    `backbone` that no block call makes, as torchvision's models nest their layers)."""
    if alias is None:
        return None

    def fill(m: re.Match) -> str:
        key = m.group(1)
        if not scope.has(key):
            raise CnnError(f"unknown name '{key}' in the name template \"{alias}\"", span)
        value = scope.lookup(key)
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            raise CnnError(f"'{key}' in a name template must be an integer, got {show(value)}", span)
        return str(value)
    name = _FIELD.sub(fill, alias)
    # ASCII only: Python reads a non-ASCII name in generated code through NFKC (`ℌ` is `H`), so it
    # could name another layer; a backslash would be an escape in the generated strings
    if not _NAME.fullmatch(name):
        raise CnnError(f"{show(name, 40)} cannot name a layer: a name is a module path, steps of ASCII letters, "
                       "digits, '_' and '-' joined by single dots", span)
    return name


@dataclass(frozen=True)
class Limits:
    """Resource limits of one elaboration; docs/errors.md, "Limits", lists them with the others.
    None of them rejects a zoo network. Each is checked before the expansion that would pass it
    (cnndsl.elaborate.estimate), and again as the graph grows."""

    max_layers: int = 100_000  # a hundred times the largest network of the zoo; about 2 s to build
    max_depth: int = 100  # nested block calls
    max_blocks: int = 10_000  # block calls elaborated, each a module of the network
    # statements run, loop iterations, block calls, expressions evaluated, tuple items built (8 a step)
    max_steps: int = 2_000_000
    # elements of one tensor per sample (C*H*W): every size and count stays far inside int64
    max_elements: int = 2 ** 40
    max_rank: int = 8  # dimensions of one tensor per sample (3 for CxHxW): a shape is printed per layer

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise CnnError(f"Limits({f.name}=...) must be a positive integer, got {show(value, 40)}")


@dataclass(frozen=True)
class Multi:
    """The several outputs of one layer (`split`), waiting for `(a, b) = ...`."""

    node: int
    count: int


@dataclass
class Frame:
    """One network body or block instance: its module path, call chain and layer names."""

    path: tuple[str, ...]
    chain: CallChain
    is_network: bool
    counters: Counter = field(default_factory=Counter)
    names: dict[str, Span] = field(default_factory=dict)
    # the `init` statements' defaults in force: an op or family name -> its layers' init; a block
    # instance starts with a copy of its caller's
    inits: dict[str, LayerInit] = field(default_factory=dict)
    # the modules that dotted names make (`backbone` of `as "backbone.0"`), where first named
    containers: dict[str, Span] = field(default_factory=dict)

    def claim(self, base: str, alias: str | None, span: Span) -> str:
        """`as` names are taken as given; others are `op1, op2, ...` per block instance. A dotted name
        (`backbone.0`) puts the layer into modules named by its first steps: CnnError where a name is
        taken, where such a module would be a named layer, or a named layer such a module."""
        if alias is not None:
            steps = alias.split(".")
            outer = next((p for p in (".".join(steps[:k]) for k in range(1, len(steps))) if p in self.names), None)
            if alias in self.names:
                raise CnnError(f"the name '{alias}' is already used at {self.names[alias]}", span)
            if alias in self.containers:
                raise CnnError(f"'{alias}' already holds the layers named '{alias}.…' (first at "
                               f"{self.containers[alias]})", span)
            if outer is not None:
                raise CnnError(f"'{alias}' would be inside '{outer}', a layer named at {self.names[outer]}", span)
            self.names[alias] = span
            for k in range(1, len(steps)):
                self.containers.setdefault(".".join(steps[:k]), span)
            return alias
        while True:
            self.counters[base] += 1
            name = f"{base}{self.counters[base]}"
            if name not in self.names and name not in self.containers:
                self.names[name] = span
                return name


def unpack(target: ast.Target, value: object, scope: Scope, span: Span) -> None:
    """Bind a `for` target (`i`, `(i, (a, b))`) to one item of the sequence."""
    if isinstance(target, str):
        scope.values[target] = value
        return
    if not isinstance(value, tuple) or len(value) != len(target):
        raise CnnError(f"cannot unpack {show(value)} into {len(target)} names", span)
    for t, v in zip(target, value, strict=False):
        unpack(t, v, scope, span)
