"""Exact receptive fields: for every output pixel of a C×H×W layer, the first and last input row
and column that reach it, composed layer by layer from each op's `reach` rule (cnndsl/ops/reach.py).
Fields are structural: the pixels each op's data flow reads, whatever the weights and values, so a
dependence that algebra cancels (layernorm after groupnorm, whose per-row scale and shift it
removes) still counts (docs/analysis.md).

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

import functools
from dataclasses import dataclass
from typing import NamedTuple

from ..ir import Step
from ..ops.reach import Reads, Span, elementwise, from_window
from .boxes import Boxes, of_parts

EMPTY = (2 ** 62, -(2 ** 62))  # an interval that reads nothing: the identity of min and max
Ranges = tuple[tuple[int, int], ...]  # [start, stop) runs of indices


class Term(NamedTuple):
    """Input rows (or columns) per index along tensor axis `source`: `los[k]..his[k]` inclusive,
    EMPTY where index k reads none."""

    source: int
    los: tuple[int, ...]
    his: tuple[int, ...]
    full: bool  # every index reads some input pixel


class Alive(NamedTuple):
    """The indices along tensor axis `source` a part feeds: `ranges`, or None for all."""

    source: int
    ranges: Ranges | None


class Part(NamedTuple):
    """One way the input reaches the layer: element (c, i, j) reads `rows` at its index times `cols`
    at its index, where `alive` holds its index and both read something."""

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
    boxes: Boxes | None = None  # element by element instead of parts, after a reshape (boxes.py)

    @staticmethod
    def of_input(shape: tuple[int, int, int]) -> Field:
        """The network input: each pixel reads itself."""
        rows, cols = tuple(range(shape[1])), tuple(range(shape[2]))
        part = Part(Alive(0, None), Term(1, rows, rows, True), Term(2, cols, cols, True))
        return Field(shape, (part,), (1, 1, 1))

    def pixel(self, i: int, j: int) -> tuple[Span | None, Span | None]:
        """The input rows and columns (inclusive, lo..hi) output pixel (i, j) reads, over all its
        channels; None for both where it reads no input pixel."""
        if self.boxes is not None:
            return self.boxes.pixel(i, j)
        rows, cols = EMPTY, EMPTY
        for part in self.parts:
            r, c = _at(part.rows, i, j), _at(part.cols, i, j)
            if r[0] <= r[1] and c[0] <= c[1] and _alive_at(part.alive, i, j):
                rows, cols = (min(rows[0], r[0]), max(rows[1], r[1])), (min(cols[0], c[0]), max(cols[1], c[1]))
        return (rows, cols) if rows[0] <= rows[1] else (None, None)

    @property
    def size(self) -> tuple[int, int]:
        """The largest field over the layer's output pixels, (rows, columns) in input pixels."""
        if not self.parts and self.boxes is None:
            return 0, 0
        # the usual case: every part reads everywhere and feeds every pixel, its rows indexed by one
        # tensor axis and its columns by another, the same for all parts: each axis on its own
        plain = len({(p.rows.source, p.cols.source) for p in self.parts}) == 1 and all(
            p.rows.full and p.cols.full and (p.alive.ranges is None or p.alive.source == 0) for p in self.parts)
        if plain:
            return tuple(_widest([getattr(p, axis) for p in self.parts]) for axis in ("rows", "cols"))
        _, h, w = self.shape
        spans = [self.pixel(i, j) for i in range(h) for j in range(w)]
        return tuple(max((s[a][1] - s[a][0] + 1 for s in spans if s[a]), default=0) for a in (0, 1))

    @property
    def jump(self) -> tuple[float, float]:
        """Input pixels between neighbouring output pixels along H and W: the product of the strides
        (1/scale for upsampling, in/out for adaptive pooling) along the input axis each reads."""
        return self.jumps[1], self.jumps[2]


def _widest(terms: list[Term]) -> int:
    """The widest hull of the terms at one index (over all indices when they index the channels)."""
    spans = _hull(terms)
    if terms[0].source == 0:
        return max(hi for _, hi in spans) - min(lo for lo, _ in spans) + 1
    return max(hi - lo + 1 for lo, hi in spans)


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
        return term if term.source == o else Term(o, term.los, term.his, term.full)
    if reads.kind == "whole":
        n = len(reads.spans())
        lo = min(term.los)
        return Term(o, (lo,) * n, (max(term.his),) * n, lo < EMPTY[0])
    los, his, cache = [], [], {}
    for span in reads.spans():
        got = cache.get(span)
        if got is None:
            a, b = span
            got = cache[span] = (min(term.los[a:b + 1:reads.step]), max(term.his[a:b + 1:reads.step])) \
                if a <= b else EMPTY
        los.append(got[0])
        his.append(got[1])
    return Term(o, tuple(los), tuple(his), max(los) < EMPTY[0])


def _alive_through(alive: Alive, o: int, reads: Reads, n_in: int, n_out: int) -> Alive:
    """The output indices along axis `o` that read an index `alive` feeds."""
    if reads.kind == "same":
        return alive if alive.source == o else Alive(o, alive.ranges)
    if reads.kind == "whole":
        return Alive(o, None if alive.ranges is None or alive.ranges else ())
    if reads.kind == "shift":
        runs = ((0, n_in),) if alive.ranges is None else alive.ranges
        runs = ((max(a + reads.shift, 0), min(b + reads.shift, n_out)) for a, b in runs)
        return Alive(o, tuple((a, b) for a, b in runs if a < b))
    fed = [True] * n_in if alive.ranges is None else [False] * n_in
    for a, b in alive.ranges or ():
        fed[a:b] = [True] * (b - a)
    before = [0]
    for x in fed:
        before.append(before[-1] + x)
    hit = [a <= b and (before[b + 1] > before[a] if reads.step == 1 else any(fed[a:b + 1:reads.step]))
           for a, b in reads.spans()]
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


def _carry(parts: tuple[Part, ...], rule: tuple[Reads, ...], in_shape: tuple[int, ...],
           out_shape: tuple[int, ...]) -> list[Part]:
    """The parts of one input through its rule (its Reads per output axis, a permutation of the
    input's axes), less those that feed no output element."""
    reader = {r.axis: o for o, r in enumerate(rule)}  # input axis -> the output axis reading it
    out = []
    for part in parts:
        o = reader[part.alive.source]
        alive = _alive_through(part.alive, o, rule[o], in_shape[part.alive.source], out_shape[o])
        if alive.ranges != ():
            r, c = reader[part.rows.source], reader[part.cols.source]
            rows, cols = _through(part.rows, r, rule[r]), _through(part.cols, c, rule[c])
            if min(rows.los) < EMPTY[0] and min(cols.los) < EMPTY[0]:  # else it reaches no output pixel
                out.append(Part(alive, rows, cols))
    return out


def _key(p: Part) -> tuple[int, ...]:
    """The identity of a part's terms (the tuples are alive while the parts are)."""
    return p.alive.source, p.rows.source, p.cols.source, id(p.rows.los), id(p.rows.his), id(p.cols.los), \
        id(p.cols.his)


def _merged(parts: list[Part], channels_apart: bool) -> tuple[Part, ...]:
    """Parts that read something at every index, along the same axes, are one part (their hull is
    exact) when they feed every element, or feed some and no later layer `channels_apart`; so are
    parts with equal terms (their alive indices joined)."""
    groups: dict[tuple, list[Part]] = {}
    rest: list[Part] = []
    for p in parts:
        if (p.alive.ranges is None or not channels_apart) and p.rows.full and p.cols.full:
            groups.setdefault((p.alive.source, p.rows.source, p.cols.source), []).append(p)
        else:
            rest.append(p)
    out = []
    for ps in groups.values():
        rows, cols = _hull([p.rows for p in ps]), _hull([p.cols for p in ps])
        alive = Alive(ps[0].alive.source, None) if len(ps) > 1 or not channels_apart else ps[0].alive
        out.append(Part(alive, Term(ps[0].rows.source, *map(tuple, zip(*rows, strict=True)), True),
                        Term(ps[0].cols.source, *map(tuple, zip(*cols, strict=True)), True)) if len(ps) > 1 else
                   ps[0]._replace(alive=alive))
    # parts carried unchanged from one tensor share their terms' tuples: those are the same part
    index = {_key(q): k for k, q in enumerate(out)}
    for p in rest:
        key = _key(p)
        if key not in index:
            index[key] = len(out)
            out.append(p)
        elif (known := out[index[key]].alive.ranges) is not None:  # feeds the indices either feeds
            runs = None if p.alive.ranges is None else tuple(sorted((*known, *p.alive.ranges)))
            out[index[key]] = out[index[key]]._replace(alive=Alive(p.alive.source, runs))
    return tuple(out)


def _rules(step: Step) -> list[tuple[tuple[Reads, ...], ...]] | None:
    """Each output port's rule (per input, its Reads per output axis); None unless the layer reads
    and writes C×H×W tensors."""
    layer, entry = step.layer, step.entry
    shapes = list(step.input_shapes)
    if not shapes or any(len(s) != 3 for s in (*shapes, *layer.shapes)):
        return None
    if entry.reach is None and entry.window is not None:  # a plugin's rule in the older form
        windows = entry.window(layer.attrs, shapes[0])
        return [from_window(windows, shapes, out) for out in layer.shapes]
    return [entry.reach(layer.attrs, shapes, out, port) if entry.reach else elementwise(shapes, out)
            for port, out in enumerate(layer.shapes)]


def _apart(step: Step, rules: list[tuple[tuple[Reads, ...], ...]]) -> bool:
    """Whether a layer can tell its input's channels apart, so that a part feeding some channels differs
    from one feeding others, even over all channels: it moves the channel axis (permute), or some
    channel is read by no output of the layer (split)."""
    for rule, shape in ((r, s) for port in rules for r, s in zip(port, step.input_shapes, strict=True)):
        if rule[0].kind == "flat" or rule[0].axis != 0 or any(r.axis == 0 for r in rule[1:]):
            return True
        if rule[0].kind in ("same", "whole") or rule[0].kind == "shift" and rule[0].shift >= 0:
            continue
        read = [False] * shape[0]
        for a, b in rule[0].spans():
            for k in range(a, b + 1, rule[0].step):
                read[k] = True
        if not all(read):
            return True
    return False


def fields(steps: list[Step]) -> dict[int, Field | None]:
    """The field of each layer (its first output), by layer id, from the network's steps in
    topological order; None where the tensor is not C×H×W."""
    rules = {step.layer.id: _rules(step) for step in steps}
    channels_apart = any(_apart(step, r) for step in steps if (r := rules[step.layer.id]) is not None)
    done: dict[tuple[int, int], Field | None] = {}
    for step in steps:
        layer = step.layer
        for port, out in enumerate(layer.shapes):
            done[layer.id, port] = _field(step, rules[layer.id], port, out, done, channels_apart)
    return {step.layer.id: done[step.layer.id, 0] for step in steps}


def _field(step: Step, rules: list | None, port: int, out: tuple[int, ...],
           done: dict[tuple[int, int], Field | None], channels_apart: bool) -> Field | None:
    """The field of output `port` of `step`'s layer from those of the tensors it reads (`done`)."""
    if not step.inputs:
        return Field.of_input(out) if len(out) == 3 else None
    ins = [done[ref.layer.id, ref.port] for ref in step.inputs]
    if rules is None or any(f is None for f in ins):
        return None
    shapes, rule = list(step.input_shapes), rules[port]
    # jump: from the first branch of the output's size along each axis (not a broadcast gate)
    main = next((k for k, s in enumerate(shapes) if s == out), 0)
    jumps = tuple(ins[main].jumps[r.axis] * r.stride for r in rule[main])
    if rule[0][0].kind == "flat" or any(f.boxes is not None for f in ins):  # element by element
        each = [(f.boxes or of_parts(f.parts, f.shape)) for f in ins]
        each = [b.flat(out) if r[0].kind == "flat" else b.through(r, out) for b, r in zip(each, rule, strict=True)]
        return Field(out, (), jumps, functools.reduce(Boxes.union, each))
    if len(ins) == 1 and all(r.kind == "same" and r.axis == o for o, r in enumerate(rule[0])):
        return Field(out, ins[0].parts, jumps)  # element-wise: the field passes on (bn, relu)
    parts = [p for field, r, shape in zip(ins, rule, shapes, strict=True) for p in _carry(field.parts, r, shape, out)]
    return Field(out, _merged(parts, channels_apart), jumps)
