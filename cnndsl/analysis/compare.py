"""Comparing two networks layer by layer (`cnndsl diff`): which layers, or block instances at a
depth, differ in output shape, parameters, MACs or module, matched by their path.

A layer differs in its module when its op or any bound argument differs (`conv 3x3 8 pad=1`
against `conv 3x3 8 pad=2 dilation=2`), even where shapes and counts agree; the difference
names it with both labels, which write every argument (`Op.describe`)."""

from __future__ import annotations

from dataclasses import dataclass

from ..ir import Layer, Network
from ..ops import Shape
from .costs import Row, Summary, analyse


@dataclass(frozen=True)
class Changed:
    """One layer present in both networks whose module differs: its path and both labels."""

    name: str
    label_a: str
    label_b: str


@dataclass(frozen=True)
class Difference:
    """One row (a layer, or a block instance folded at the depth compared) that differs; a
    side is None where the row exists only in the other network."""

    name: str
    a: Row | None
    b: Row | None
    changed: tuple[Changed, ...]  # the layers in it whose module differs, in order

    @property
    def shapes(self) -> tuple[Shape | None, Shape | None]:
        """The row's output shape per sample on each side; None on the side that lacks the row."""
        return (self.a.shape if self.a else None, self.b.shape if self.b else None)

    @property
    def labels(self) -> tuple[str | None, str | None]:
        """The row's labels: the layer as written, or the block call."""
        return (self.a.label if self.a else None, self.b.label if self.b else None)


@dataclass(frozen=True)
class Comparison:
    """What `compare` finds: both networks' summaries (as `analyse` gives them) and the rows that differ."""

    a: Summary
    b: Summary
    differences: list[Difference]


def _same_module(x: Layer, y: Layer) -> bool:
    return x.op == y.op and x.attrs == y.attrs


def _inside(name: str, row: str) -> bool:
    return name == row or name.startswith(row + ".")


def compare(net_a: Network, net_b: Network, depth: int = 0) -> Comparison:
    """The rows of `net_a` and `net_b` at `depth` (block calls deeper are folded into one row per instance)
    that differ, in the order of `net_a` then the rows only `net_b` has. Rows are matched by path; they
    differ in output shape (per sample), parameters, MACs (per sample), label, or a layer inside whose
    op or arguments differ. Raises no CnnError (both networks are checked)."""
    a, b = analyse(net_a), analyse(net_b)
    rows_a = {r.name: r for r in a.at_depth(depth)}
    rows_b = {r.name: r for r in b.at_depth(depth)}
    layers_b = {layer.qualname: layer for layer in net_b.layers()}
    changed = [Changed(x.qualname, x.label, y.label) for x in net_a.layers()
               if (y := layers_b.get(x.qualname)) is not None and not _same_module(x, y)]
    differences = []
    for name in [*rows_a, *(n for n in rows_b if n not in rows_a)]:
        ra, rb = rows_a.get(name), rows_b.get(name)
        inner = tuple(c for c in changed if _inside(c.name, name))
        numbers = [(r.shape, r.params, r.macs, r.label) if r else None for r in (ra, rb)]
        if inner or numbers[0] != numbers[1]:
            differences.append(Difference(name, ra, rb, inner))
    return Comparison(a, b, differences)
