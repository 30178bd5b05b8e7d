"""Exact receptive fields: for every output pixel of a C×H×W layer, the first and last input row
and column that reach it, composed layer by layer from each op's `reach` rule (cnndsl/ops/reach.py).

A field is a union of parts, one per way the input reaches the layer that has not been merged
with another (the branches of a concat, until a layer mixes their channels). A part is a product
over the input's three axes: for its rows and its columns a `Term` (for each index along one
axis of the layer's tensor, H or W, or C once a `permute` moved it there, the interval of input
rows or columns that index reads), and for the input's channels an `Alive` (the indices along
one tensor axis that the part feeds at all). Output element (c, i, j) reads, from a part, its
rows term at its index times its columns term at its index, where every one of the part's terms
reads something there. An output pixel (i, j) reads the union over channels and parts: the
oracle and the tests raise an input pixel in every channel and watch every output channel.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from ..ir import Step
from ..ops.reach import Reads, Span, elementwise

EMPTY = (2 ** 62, -(2 ** 62))  # an interval that reads nothing: the identity of min and max
Ranges = tuple[tuple[int, int], ...]  # [start, stop) runs of indices


class Term(NamedTuple):
    """Input rows (or columns) per index along tensor axis `source`: `los[k]..his[k]` inclusive,
    EMPTY where index k reads none."""

    source: int
    los: tuple[int, ...]
    his: tuple[int, ...]

    @property
    def full(self) -> bool:
        """Whether every index reads some input pixel."""
        return max(self.los) < EMPTY[0]


class Alive(NamedTuple):
    """The indices along tensor axis `source` a part feeds: `ranges`, or None for all."""

    source: int
    ranges: Ranges | None


class Part(NamedTuple):
    alive: Alive
    rows: Term
    cols: Term


@dataclass(frozen=True)
class Field:
    """The receptive field of a C×H×W layer (`shape`): its `parts`, and `jumps`, the product of the
    strides per tensor axis in input pixels (C's is 1 unless a permute moved H or W there)."""

    shape: tuple[int, int, int]
    parts: tuple[Part, ...]
    jumps: tuple[float, float, float]

    @staticmethod
    def of_input(shape: tuple[int, int, int]) -> Field:
        """The network input: each pixel reads itself."""
        rows, cols = tuple(range(shape[1])), tuple(range(shape[2]))
        return Field(shape, (Part(Alive(0, None), Term(1, rows, rows), Term(2, cols, cols)),), (1.0, 1.0, 1.0))

    def pixel(self, i: int, j: int) -> tuple[Span | None, Span | None]:
        """The input rows and columns (inclusive, lo..hi) output pixel (i, j) reads, over all its
        channels; None for both where it reads no input pixel."""
        rows, cols = EMPTY, EMPTY
        for part in self.parts:
            r, c = _at(part.rows, i, j), _at(part.cols, i, j)
            if r[0] <= r[1] and c[0] <= c[1] and _alive_at(part.alive, i, j):
                rows, cols = (min(rows[0], r[0]), max(rows[1], r[1])), (min(cols[0], c[0]), max(cols[1], c[1]))
        return (rows, cols) if rows[0] <= rows[1] else (None, None)

    @property
    def size(self) -> tuple[int, int]:
        """The largest field over the layer's output pixels, (rows, columns) in input pixels."""
        plain = all(p.rows.source == 1 and p.cols.source == 2 and p.alive.source == 0 and p.rows.full
                    and p.cols.full for p in self.parts)
        if plain:  # rows depend on i alone and columns on j alone
            return tuple(max(hi - lo + 1 for lo, hi in _hull([getattr(p, axis) for p in self.parts]))
                         for axis in ("rows", "cols"))
        _, h, w = self.shape
        spans = [self.pixel(i, j) for i in range(h) for j in range(w)]
        return tuple(max((s[a][1] - s[a][0] + 1 for s in spans if s[a]), default=0) for a in (0, 1))

    @property
    def jump(self) -> tuple[float, float]:
        """Input pixels between neighbouring output pixels along H and W: the product of the strides
        (1/scale for upsampling, in/out for adaptive pooling) along the input axis each reads."""
        return self.jumps[1], self.jumps[2]


def _at(term: Term, i: int, j: int) -> Span:
    if term.source == 0:  # every channel: the hull over them
        return min(term.los), max(term.his)
    k = i if term.source == 1 else j
    return term.los[k], term.his[k]


def _alive_at(alive: Alive, i: int, j: int) -> bool:
    if alive.ranges is None or alive.source == 0:
        return alive.ranges is None or bool(alive.ranges)
    k = i if alive.source == 1 else j
    return any(a <= k < b for a, b in alive.ranges)


def _hull(terms: list[Term]) -> list[Span]:
    """Index by index, the hull of terms along the same axis."""
    return list(zip(map(min, *(t.los for t in terms)), map(max, *(t.his for t in terms)), strict=True)) \
        if len(terms) > 1 else list(zip(terms[0].los, terms[0].his, strict=True))


def _through(term: Term, o: int, reads: Reads) -> Term:
    """Output axis `o`, reading `reads` of the axis `term` indexes: the hull of what each reads."""
    if reads.kind == "same":
        return Term(o, term.los, term.his)
    if reads.kind == "whole":
        n = len(reads.spans())
        return Term(o, (min(term.los),) * n, (max(term.his),) * n)
    los, his, cache = [], [], {}
    for span in reads.spans():
        got = cache.get(span)
        if got is None:
            a, b = span
            got = cache[span] = (min(term.los[a:b + 1]), max(term.his[a:b + 1])) if a <= b else EMPTY
        los.append(got[0])
        his.append(got[1])
    return Term(o, tuple(los), tuple(his))


def _alive_through(alive: Alive, o: int, reads: Reads, n_in: int) -> Alive:
    """The output indices along axis `o` that read an index `alive` feeds."""
    if reads.kind == "same":
        return Alive(o, alive.ranges)
    if reads.kind == "whole":
        return Alive(o, None if alive.ranges is None or alive.ranges else ())
    if reads.kind == "shift":
        runs = ((0, n_in),) if alive.ranges is None else alive.ranges
        return Alive(o, tuple((a + reads.shift, b + reads.shift) for a, b in runs))
    fed = [True] * n_in if alive.ranges is None else [False] * n_in
    for a, b in alive.ranges or ():
        fed[a:b] = [True] * (b - a)
    before = [0]
    for x in fed:
        before.append(before[-1] + x)
    hit = [a <= b and before[b + 1] > before[a] for a, b in reads.spans()]
    if all(hit):
        return Alive(o, None)
    runs, start = [], None
    for k, x in enumerate([*hit, False]):
        if x and start is None:
            start = k
        elif not x and start is not None:
            runs.append((start, k))
            start = None
    return Alive(o, tuple(runs))


def _carry(part: Part, rule: tuple[Reads, ...], in_shape: tuple[int, ...]) -> Part | None:
    """One part through one input's rule (its Reads per output axis, a permutation of the input's
    axes); None where it feeds no output element."""
    reader = {r.axis: o for o, r in enumerate(rule)}
    o = reader[part.alive.source]
    alive = _alive_through(part.alive, o, rule[o], in_shape[part.alive.source])
    if alive.ranges == ():
        return None
    rows, cols = ((reader[t.source], t) for t in (part.rows, part.cols))
    return Part(alive, _through(rows[1], rows[0], rule[rows[0]]), _through(cols[1], cols[0], rule[cols[0]]))


def _merged(parts: list[Part]) -> tuple[Part, ...]:
    """Parts that feed every element and read something everywhere, along the same axes, are one
    part (their hull is exact); so are parts with equal terms (their alive indices joined)."""
    groups: dict[tuple, list[Part]] = {}
    rest: list[Part] = []
    for p in parts:
        if p.alive.ranges is None and p.rows.full and p.cols.full:
            groups.setdefault((p.alive.source, p.rows.source, p.cols.source), []).append(p)
        else:
            rest.append(p)
    out = []
    for ps in groups.values():
        rows, cols = _hull([p.rows for p in ps]), _hull([p.cols for p in ps])
        out.append(Part(ps[0].alive, Term(ps[0].rows.source, *map(tuple, zip(*rows, strict=True))),
                        Term(ps[0].cols.source, *map(tuple, zip(*cols, strict=True)))))
    index = {(q.rows, q.cols, q.alive.source): k for k, q in enumerate(out)}
    for p in rest:
        key = (p.rows, p.cols, p.alive.source)
        if key not in index:
            index[key] = len(out)
            out.append(p)
        elif (known := out[index[key]].alive.ranges) is not None:  # feeds the indices either feeds
            runs = None if p.alive.ranges is None else tuple(sorted((*known, *p.alive.ranges)))
            out[index[key]] = out[index[key]]._replace(alive=Alive(p.alive.source, runs))
    return tuple(out)


def field_of(step: Step, fields: dict[int, Field | None]) -> Field | None:
    """The field of `step`'s layer from those of the layers it reads (`fields`, by layer id); None
    once the tensor is not C×H×W."""
    layer, entry = step.layer, step.entry
    if not step.inputs:
        return Field.of_input(layer.shape) if len(layer.shape) == 3 else None
    ins = [fields[ref.layer.id] for ref in step.inputs]
    if len(layer.shape) != 3 or any(f is None for f in ins):
        return None
    shapes, out = list(step.input_shapes), layer.shape
    rules = entry.reach(layer.attrs, shapes, out) if entry.reach else elementwise(shapes, out)
    parts = [p for field, rule, shape in zip(ins, rules, shapes, strict=True) for part in field.parts
             if (p := _carry(part, rule, shape)) is not None]
    # jump: from the first branch of the output's size along each axis (not a broadcast gate)
    main = next((k for k, s in enumerate(shapes) if s == out), 0)
    jumps = tuple(ins[main].jumps[r.axis] * r.stride for r in rules[main])
    return Field(out, _merged(parts) if len(parts) > 1 else tuple(parts), jumps)
