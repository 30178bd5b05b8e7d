"""Comparing two networks layer by layer (`cnndsl diff`): which layers, or block instances at a
depth, differ in output shape, parameters, MACs, memory or module, matched by their path.

A block instance folded into one row differs when anything inside it differs, at any depth: a
layer added or removed, or one whose op, arguments, init, inputs, output shapes, parameters,
MACs or memory differ, or the layers' order; so no change is invisible at a shallower depth.

A layer differs in its module when its op or any bound argument differs (`conv 3x3 8 pad=1`
against `conv 3x3 8 pad=2 dilation=2`), even where shapes and counts agree; the difference
names it with both labels, which write every argument (`Op.describe`)."""

from __future__ import annotations

from dataclasses import dataclass
from difflib import SequenceMatcher

from ..ir import Layer, Network
from ..ops import Shape
from .costs import Row, Summary, analyse


@dataclass(frozen=True)
class Changed:
    """One layer inside a row whose module differs, or that only one network has: its path and both
    labels, None on the side that lacks the layer."""

    name: str
    label_a: str | None
    label_b: str | None


@dataclass(frozen=True)
class Difference:
    """One row (a layer, or a block instance folded at the depth compared) that differs; a
    side is None where the row exists only in the other network."""

    name: str
    a: Row | None
    b: Row | None
    changed: tuple[Changed, ...]  # the layers in it whose module differs or that one side lacks, in order

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


def _row_key(path: tuple[str, ...], depth: int) -> str:
    """The name of the row a layer at `path` falls in at `depth` (as `Summary.at_depth` folds)."""
    return ".".join(path if len(path) - 1 <= depth else path[:depth + 1])


def _contents(net: Network, summary: Summary, depth: int) -> dict[str, list[tuple]]:
    """Each row's layers at `depth`, in order, each as its full signature: path, op, arguments, init,
    the tensors it reads (by path and port), output shapes, parameters, MACs and memory; and the calls
    of the block instances folded into it (a call that differs is a row of its own deeper)."""
    names = {layer.id: layer.qualname for layer in net.layers()}
    numbers = {r.name: (r.params, r.macs, r.memory) for r in summary.rows}
    contents: dict[str, list[tuple]] = {}
    for path, block in net.blocks.items():
        if len(path) > depth:  # folded into the row of its instance at `depth`, or that row itself
            contents.setdefault(".".join(path[:depth + 1]), []).append((".".join(path), block.call))
    for layer in net.layers():
        reads = tuple((names[node], port) for node, port in layer.inputs)
        signature = (layer.qualname, layer.op, layer.attrs, layer.init, reads, layer.shapes, numbers[layer.qualname])
        contents.setdefault(_row_key(layer.path, depth), []).append(signature)
    return contents


def _changed_layers(net_a: Network, net_b: Network) -> list[Changed]:
    """The layers whose module differs (`_same_module`), then those only one network has, in order."""
    layers_a = {layer.qualname: layer for layer in net_a.layers()}
    layers_b = {layer.qualname: layer for layer in net_b.layers()}
    changed = [Changed(name, x.label, y.label if y else None) for name, x in layers_a.items()
               if (y := layers_b.get(name)) is None or not _same_module(x, y)]
    return changed + [Changed(name, None, y.label) for name, y in layers_b.items() if name not in layers_a]


def _merged(names_a: list[str], names_b: list[str]) -> list[str]:
    """Both lists of row names in one order that keeps each list's own (difflib's alignment: where the
    lists differ, `names_a`'s rows, then `names_b`'s); a name both have appears once, where first met."""
    order: list[str] = []
    for tag, i1, i2, j1, j2 in SequenceMatcher(None, names_a, names_b, autojunk=False).get_opcodes():
        order += names_a[i1:i2] if tag == "equal" else [*names_a[i1:i2], *names_b[j1:j2]]
    return list(dict.fromkeys(order))


def _same_module(x: Layer, y: Layer) -> bool:
    return x.op == y.op and x.attrs == y.attrs


def _inside(name: str, row: str) -> bool:
    return name == row or name.startswith(row + ".")


def compare(net_a: Network, net_b: Network, depth: int = 0) -> Comparison:
    """The rows of `net_a` and `net_b` at `depth` (block calls deeper are folded into one row per instance)
    that differ, in the order of both networks (`_merged`: a row only `net_b` has stands where `net_b` has
    it). Rows are matched by path; they
    differ in output shape (per sample), parameters, MACs (per sample), memory, label, or in anything
    about the layers inside (`_contents`: a layer added, removed, moved, rewired or changed, at any
    depth). Raises no CnnError (both networks are checked)."""
    a, b = analyse(net_a), analyse(net_b)
    rows_a = {r.name: r for r in a.at_depth(depth)}
    rows_b = {r.name: r for r in b.at_depth(depth)}
    inside_a, inside_b = _contents(net_a, a, depth), _contents(net_b, b, depth)
    changed = _changed_layers(net_a, net_b)
    differences = []
    for name in _merged(list(rows_a), list(rows_b)):
        ra, rb = rows_a.get(name), rows_b.get(name)
        inner = tuple(c for c in changed if _inside(c.name, name))
        numbers = [(r.shape, r.params, r.macs, r.memory, r.label) if r else None for r in (ra, rb)]
        if inner or numbers[0] != numbers[1] or inside_a.get(name) != inside_b.get(name):
            differences.append(Difference(name, ra, rb, inner))
    return Comparison(a, b, differences)
