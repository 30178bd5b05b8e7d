"""Receptive fields element by element, for the layers after a `reshape` of a C×H×W tensor: there an
output pixel's channels come from rows and columns of their own, which the per-axis parts of
cnndsl/analysis/fields.py cannot say. `Boxes` holds, for every element (c, i, j) of a layer's tensor,
the first and last input row and column it reads; a layer's boxes are the hull, per element, of the
boxes of the input elements its op reads, one axis at a time (the hull over a box of indices is the
hull along each of its axes in turn). Exact, at a cost per element: only the layers after such a
reshape use it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..ops.reach import Reads, Span

EMPTY = (2 ** 62, -(2 ** 62))  # reads nothing: the identity of min and max
# [c][i][j]; an axis of length 1 stands for every index (the same box along it): after a convolution
# over every channel each channel reads the same, and is stored once
Grid = list[list[list[int]]]


@dataclass(frozen=True)
class Boxes:
    """Per element of a C×H×W tensor (`shape`): the input rows `r0..r1` and columns `c0..c1` it reads
    (r0 > r1 where it reads nothing)."""

    shape: tuple[int, int, int]
    r0: Grid
    r1: Grid
    c0: Grid
    c1: Grid

    @staticmethod
    def of(shape: tuple[int, int, int], box: Callable[[int, int, int], tuple[Span, Span]],
           channels_alike: bool = False) -> Boxes:
        """`box(c, i, j)`, ((r0, r1), (c0, c1)), at every element of `shape` (once for all channels
        where they are `channels_alike`)."""
        channels = 1 if channels_alike else shape[0]
        grid = [[[box(c, i, j) for j in range(shape[2])] for i in range(shape[1])] for c in range(channels)]
        return Boxes(shape, *([[[b[k][m] for b in row] for row in plane] for plane in grid]
                              for k in (0, 1) for m in (0, 1)))

    def grids(self) -> tuple[Grid, Grid, Grid, Grid]:
        """The four grids: first and last input row, first and last input column, per element."""
        return self.r0, self.r1, self.c0, self.c1

    def pixel(self, i: int, j: int) -> tuple[Span | None, Span | None]:
        """The input rows and columns pixel (i, j) reads over its channels; None for both where none."""
        def at(plane: list[list[int]]) -> int:
            row = plane[i if len(plane) > 1 else 0]
            return row[j if len(row) > 1 else 0]
        rows = min(map(at, self.r0)), max(map(at, self.r1))
        cols = min(map(at, self.c0)), max(map(at, self.c1))
        return (rows, cols) if rows[0] <= rows[1] else (None, None)

    def flat(self, shape: tuple[int, int, int]) -> Boxes:
        """The same elements in C order, as a tensor of `shape` (a reshape)."""
        def regrid(grid: Grid) -> Grid:
            values = [v for plane in _expand(grid, self.shape) for row in plane for v in row]
            _, h, w = shape
            return [[values[(c * h + i) * w:(c * h + i + 1) * w] for i in range(h)] for c in range(shape[0])]
        return Boxes(shape, *map(regrid, self.grids()))

    def through(self, rule: tuple[Reads, ...], shape: tuple[int, int, int]) -> Boxes:
        """The boxes of an op's output (of `shape`) that reads this tensor by `rule` (one Reads per
        output axis)."""
        axes: list[object] = [0, 1, 2]  # which input axis each axis of the grids holds now
        grids = list(self.grids())
        for o, reads in enumerate(rule):
            at = axes.index(reads.axis)
            spans = reads.spans()
            grids = [_reduce(g, at, spans, reads.step, low) for g, low in zip(grids, (True, False, True, False),
                                                                               strict=True)]
            axes[at] = ("out", o)
        order = [axes.index(("out", o)) for o in range(3)]
        return Boxes(shape, *(_transpose(g, order) for g in grids))

    def union(self, other: Boxes) -> Boxes:
        """Element by element, the hull of both (a merge of tensors of one shape)."""
        return Boxes(self.shape, *(_elementwise(_expand(a, self.shape), _expand(b, self.shape), f) for a, b, f in zip(
            self.grids(), other.grids(), (min, max, min, max), strict=True)))


def _reduce(grid: Grid, axis: int, spans: list[Span], step: int, low: bool) -> Grid:
    """Along `axis`, index k of the result is the min (`low`) or max of the grid over `spans[k]`, every
    `step` indices (a grid of one index along it has that one everywhere); one index where all
    spans are equal."""
    pick, none = (min, EMPTY[0]) if low else (max, EMPTY[1])
    if all(span == spans[0] for span in spans):
        spans = spans[:1]

    def along(line: list[int]) -> list[int]:
        if len(line) == 1:
            return [none if a > b else line[0] for a, b in spans]
        return [none if a > b else pick(line[a:b + 1:step]) for a, b in spans]
    if axis == 2:
        return [[along(row) for row in plane] for plane in grid]
    if axis == 1:
        return [[list(row) for row in zip(*(along(list(col)) for col in zip(*plane, strict=True)), strict=True)]
                for plane in grid]
    out = []  # the channels: element by element over the planes each span reads
    for a, b in spans:
        planes = grid if len(grid) == 1 else grid[a:b + 1:step]
        if a > b:
            out.append([[none] * len(row) for row in grid[0]])
        else:
            out.append(planes[0] if len(planes) == 1 else
                       [list(map(pick, *rows)) for rows in zip(*planes, strict=True)])
    return out


def _expand(grid: Grid, shape: tuple[int, int, int]) -> Grid:
    """The grid with every axis of one index repeated to its length in `shape` (read only: shared rows)."""
    c, h, w = shape
    planes = grid if len(grid) == c else grid * c
    return [[row if len(row) == w else row * w for row in (plane if len(plane) == h else plane * h)]
            for plane in planes]


def _transpose(grid: Grid, order: list[int]) -> Grid:
    """The grid with its axis k the input's axis order[k]."""
    if order == [0, 1, 2]:
        return grid
    shape = (len(grid), len(grid[0]), len(grid[0][0]))
    n = [shape[a] for a in order]
    index = [0, 0, 0]
    out = []
    for x in range(n[0]):
        plane = []
        for y in range(n[1]):
            row = []
            for z in range(n[2]):
                index[order[0]], index[order[1]], index[order[2]] = x, y, z
                row.append(grid[index[0]][index[1]][index[2]])
            plane.append(row)
        out.append(plane)
    return out


def _elementwise(a: Grid, b: Grid, f: Callable[[int, int], int]) -> Grid:
    return [[list(map(f, ra, rb)) for ra, rb in zip(pa, pb, strict=True)] for pa, pb in zip(a, b, strict=True)]


def of_parts(parts: Sequence, shape: tuple[int, int, int]) -> Boxes:
    """The boxes of a field given as parts (cnndsl/analysis/fields.py `Part`): element (c, i, j) reads the
    hull, over the parts that feed it, of their rows and columns terms at its indices."""
    def box(*index: int) -> tuple[Span, Span]:
        rows, cols = EMPTY, EMPTY
        for p in parts:
            k = index[p.alive.source]
            if p.alive.ranges is not None and not any(a <= k < b for a, b in p.alive.ranges):
                continue
            r, c = index[p.rows.source], index[p.cols.source]
            if p.rows.los[r] <= p.rows.his[r] and p.cols.los[c] <= p.cols.his[c]:
                rows = min(rows[0], p.rows.los[r]), max(rows[1], p.rows.his[r])
                cols = min(cols[0], p.cols.los[c]), max(cols[1], p.cols.his[c])
        return rows, cols
    alike = all(p.rows.source and p.cols.source and (p.alive.ranges is None or p.alive.source) for p in parts)
    return Boxes.of(shape, box, channels_alike=alike)
