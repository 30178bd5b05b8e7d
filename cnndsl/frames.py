"""Elaboration state: limits, the block instance being filled in (its names and call
chain), and the several outputs of one layer waiting to be bound."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from .errors import CallChain, CnnError, Span


@dataclass(frozen=True)
class Limits:
    """Resource limits; docs/language.md lists them. None of them rejects a zoo network."""

    max_layers: int = 1_000_000
    max_depth: int = 100  # nested block calls


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

    def claim(self, base: str, alias: str | None, span: Span) -> str:
        """`as` names are taken as given; others are `op1, op2, ...` per block instance."""
        if alias is not None:
            if alias in self.names:
                raise CnnError(f"the name '{alias}' is already used at {self.names[alias]}", span)
            self.names[alias] = span
            return alias
        while True:
            self.counters[base] += 1
            name = f"{base}{self.counters[base]}"
            if name not in self.names:
                self.names[name] = span
                return name
