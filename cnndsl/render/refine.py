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
    rows as that takes, evened out (7 ranks at width 6: rows of 4 and 3, not a lone box on a row of its own)."""
    graph = TopologicalSorter({key: set() for key in pic.boxes})
    for src, dst, _ in pic.edges:
        graph.add(dst, src)
    rank: dict[tuple, int] = {}
    preds: dict[tuple, list] = defaultdict(list)
    for src, dst, _ in pic.edges:
        preds[dst].append(src)
    for key in graph.static_order():
        rank[key] = 1 + max((rank[p] for p in preds[key]), default=-1)
    ranks = max(rank.values(), default=0) + 1
    count = math.ceil(ranks / width)
    out: list[list[tuple]] = [[] for _ in range(count)]
    for key in pic.boxes:  # row i holds the ranks r with r * count // ranks == i: at most `width`, none empty
        out[rank[key] * count // ranks].append(key)
    return out
