"""Print options of a laid-out diagram (`cnndsl draw --compact`, `--shapes changes`, and the rows an LR
layout wraps into), applied to a `Picture` before it becomes DOT."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from graphlib import TopologicalSorter

from ..ops import Family
from .picture import Picture

# families that fold into the box of the layer before them under --compact (`conv 3x3 64 · bn · relu`)
FOLDED = frozenset({Family.NORM, Family.ACT})
# families a folded layer never joins: merges stay round, blocks and the input stay what they are
HOSTLESS = frozenset({Family.IO, Family.MERGE, Family.BLOCK})


def compact(pic: Picture) -> Picture:
    """Fold every norm and activation box into the box of the layer before it, where that layer feeds it
    alone: its label joins the host's after a `·`, its parameters add to the host's. Labels are brief, as
    papers print them (`Box.brief`: no `bias=false`, `inplace=true` or `eps`). Changes `pic`'s boxes in
    place and returns the picture without the folded boxes."""
    for box in pic.boxes.values():
        box.label = box.brief or box.label
    outs = Counter(src for src, _, _ in pic.edges)
    ins: dict[tuple, list] = defaultdict(list)
    for edge in pic.edges:
        ins[edge[1]].append(edge)
    into: dict[tuple, tuple] = {}

    def host_of(key: tuple) -> tuple:
        while key in into:
            key = into[key]
        return key

    for key, box in pic.boxes.items():
        if box.family not in FOLDED or box.count != 1 or len(ins[key]) != 1:
            continue
        before = ins[key][0][0]
        host = pic.boxes[host_of(before)]
        if host.family in HOSTLESS or host.count != 1 or outs[before] != 1:
            continue
        host.folded.append(box.text(False))
        host.layers += box.layers
        host.params += box.params
        into[key] = host.key
    boxes = {k: b for k, b in pic.boxes.items() if k not in into}
    edges = [(host_of(s), host_of(d), shape) for s, d, shape in pic.edges if host_of(s) != host_of(d)]
    return Picture(boxes, edges)


def changed_shapes(pic: Picture) -> set[int]:
    """The indices of the edges whose shape differs from every shape entering their source box: where a
    layer changes the tensor's size (an edge out of a box nothing enters, the input's, counts as a
    change)."""
    entering: dict[tuple, set[str]] = defaultdict(set)
    for _, dst, shape in pic.edges:
        entering[dst].add(shape)
    return {i for i, (src, _, shape) in enumerate(pic.edges) if shape not in entering[src]}


def rows(pic: Picture, width: int) -> list[list[tuple]]:
    """The boxes in rows of at most `width` ranks (a box's rank: the longest path to it from the input), for
    an LR figure that wraps like text instead of running off as one strip. One row when it fits; else as few
    rows as that takes, evened out (7 ranks at width 6: rows of 4 and 3, not a lone box on a row of its own),
    cut only where no skip spans the cut (a residual block stays on one row; a row runs past `width` where
    a block is longer)."""
    rank = _ranks(pic)
    ranks = max(rank.values(), default=0) + 1
    spans = [(rank[src], rank[dst]) for src, dst, _ in pic.edges]
    ends = [r for r in range(1, ranks) if all(b - a == 1 for a, b in spans if a < r <= b)] + [ranks]
    starts = greedy_rows(list(range(ranks + 1)), ends, width)  # a rank is one unit wide
    even = _evened(starts, ends, ranks)
    bounds = [*even[1:], ranks]
    out: list[list[tuple]] = [[] for _ in even]
    for key in pic.boxes:
        out[next(i for i, end in enumerate(bounds) if rank[key] < end)].append(key)
    return out


def _ranks(pic: Picture) -> dict[tuple, int]:
    """Each box's rank: the longest path to it from a box nothing enters."""
    graph = TopologicalSorter({key: set() for key in pic.boxes})
    preds: dict[tuple, list] = defaultdict(list)
    for src, dst, _ in pic.edges:
        graph.add(dst, src)
        preds[dst].append(src)
    rank: dict[tuple, int] = {}
    for key in graph.static_order():
        rank[key] = 1 + max((rank[p] for p in preds[key]), default=-1)
    return rank


def _evened(starts: list[int], ends: list[int], ranks: int) -> list[int]:
    """As many rows as `starts` has, cut at the allowed ends nearest the even split (row i from rank
    ceil(i x ranks / rows)); `starts` itself where that would make the longest row longer."""
    n, even = len(starts), [0]
    for i in range(1, n):
        later = [e for e in ends[:-1] if e > even[-1]]
        if not later:
            return starts
        target = math.ceil(i * ranks / n)
        even.append(min(later, key=lambda e: (abs(e - target), -e)))

    def longest(cuts: list[int]) -> int:
        return max(b - a for a, b in zip(cuts, [*cuts[1:], ranks], strict=True))
    return even if longest(even) <= longest(starts) else starts


def greedy_rows(pos: list[float], ends: list[int], limit: float) -> list[int]:
    """Where rows start when each runs to the furthest allowed end (`ends`, ascending, the last one the end of
    the figure) that keeps it within `limit` of `pos` (cm across a block figure, ranks across a graph), or to
    the first when none does."""
    starts = [0]
    while True:
        later = [c for c in ends if c > starts[-1]]
        fitting = [c for c in later if pos[c] - pos[starts[-1]] <= limit]
        end = fitting[-1] if fitting else later[0]
        if end == ends[-1]:
            return starts
        starts.append(end)
