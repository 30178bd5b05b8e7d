"""Where the slabs of a block figure go (cnndsl.render.tikz draws them there). The figure is one row, left to
right, unless it is wider than a page (`max_width`, cm) or a layout is asked for:

- `rows`: the row wraps like text into as few rows within `max_width` as the cuts allow, of about equal
  width, cut only between slabs that no skip arrow spans (a ResNet's or DenseNet's cut falls between
  blocks), each row under the one before, the arrow between rows drawn back along a lane under the captions;
- `u`: an encoder-decoder (U-Net) as its paper draws it: one row per scale, top to bottom as the feature map
  shrinks; a slab that changes the scale is placed straight under (or over) the slab before it, so the
  encoder runs down the left, the decoder up the right, and the skip arrows run across within a row.

`auto` (the default) keeps one row when it fits `max_width`, and otherwise takes `u` when a skip arrow joins
two slabs of one scale with a smaller scale between them, `rows` for anything else; rows whose widest is
still more than WORTH of the one row (skip arrows span every useful cut: ResNet at --depth 2) are not
worth it, and the figure stays one row.
"""

from __future__ import annotations

import math
import textwrap
from collections import defaultdict
from dataclasses import dataclass

from .blocks import Arrow, Slab, caption
from .refine import greedy_rows

LAYOUTS = ("auto", "row", "rows", "u")
MAX_WIDTH = 24.0  # cm: wider one-row figures wrap (a landscape A4 text width; 0 never wraps)
GAP = 0.45        # cm between the outlines of neighbouring boxes
VIA = 0.09        # cm per character of an arrow's label, set \tiny
WRAP = 14         # characters a caption line holds before it wraps
LINE = 0.3        # cm, the height of a caption line (\scriptsize)
BALL = 0.22       # cm, radius of a merge node
REPEAT = 0.2      # cm, how far the box behind a folded run of calls shows
WORTH = 0.75     # rows that wrap are kept when the widest is at most this fraction of the one row
LANE = 0.5        # cm between a row's lowest caption and the next row's highest point (arrows pass there)


@dataclass
class Geometry:
    """Where a slab is drawn (cm): x where its thickness w starts on its row's axis y (its front face starts
    dx/2 to the left, as the oblique depth vector (dx, dy) centres the box on the axis), height h; `row` counts
    the rows from the top, `depth` how far under the axis its caption reaches, `half` half its caption's width."""

    x: float
    w: float
    h: float
    dx: float
    dy: float
    y: float = 0.0
    row: int = 0
    depth: float = 0.0
    half: float = 0.0

    @property
    def top(self) -> float:
        """The y of the slab's highest point, its back top edge, over its axis: skip arrows pass above it."""
        return self.h / 2 + self.dy / 2

    @property
    def right(self) -> float:
        """The x of the slab's rightmost point (its back right edge)."""
        return self.x + self.w + self.dx / 2

    @property
    def reach(self) -> float:
        """The x of the rightmost point of the slab or its caption."""
        return max(self.right, self.centre + self.half)

    @property
    def left(self) -> float:
        """The x of the slab's front face's left edge."""
        return self.x - self.dx / 2

    @property
    def centre(self) -> float:
        """The x of the middle of its thickness: its caption's and vertical arrows' x."""
        return self.x + self.w / 2


def caption_lines(slab: Slab) -> list[str]:
    """The caption under a slab, line by line: its size, its label wrapped (`×N` for a repeat, then the folded
    light layers' op names), and the output it is, when named."""
    label = slab.label + (f" ×{slab.count}" if slab.count > 1 else "")
    label += "".join(" · " + f.split()[0] for f in slab.folded)
    lines = [caption(slab.shape), *_wrapped(label)]
    return lines + ([f"output {slab.output}"] if slab.output else [])


def _wrapped(label: str) -> list[str]:
    """`label` in lines of about WRAP characters, broken at spaces outside parentheses: a call's
    arguments stay together (`vgg_block(1, 16)`, not `vgg_block(1,` over `16)`)."""
    depth, kept = 0, []
    for ch in label:
        depth += (ch == "(") - (ch == ")")
        kept.append("\x00" if ch == " " and depth > 0 else ch)
    lines = textwrap.wrap("".join(kept), WRAP, break_long_words=False, break_on_hyphens=False)
    return [line.replace("\x00", " ") for line in lines]


def text_width(lines: list[str]) -> float:
    """About how wide (cm) the caption's lines are set in \\scriptsize sans serif."""
    return 0.13 * max(len(line) for line in lines)


def _log(n: int, base: float, step: float) -> float:
    return base + step * math.log2(max(n, 1))


def geometry(slab: Slab, x: float) -> Geometry:
    """The box of `slab` with its thickness starting at `x`: face H×W and thickness C on a log scale."""
    shape = slab.shape
    if slab.glyph:  # a round node, or a rounded box as wide as a longer glyph
        w = 2 * BALL if len(slab.glyph) <= 1 else 0.13 * len(slab.glyph) + 0.15
        return Geometry(x, w, 2 * BALL, 0.0, 0.0, depth=BALL + (0.3 if slab.folded or slab.output else 0.0))
    if len(shape) == 3:
        w, h, d = _log(shape[0], 0.08, 0.07), _log(shape[1], 0.25, 0.3), _log(shape[2], 0.25, 0.3)
    else:
        w, h, d = 0.18, _log(math.prod(shape), 0.25, 0.25), 0.18
    dx, dy = 0.35 * d, 0.3 * d
    lines = caption_lines(slab)
    depth = h / 2 + dy / 2 + 0.08 + LINE * len(lines)
    return Geometry(x + dx / 2 + (REPEAT if slab.count > 1 else 0.0), w, h, dx, dy, depth=depth,
                    half=text_width(lines) / 2)


def _column(slab: Slab, start: float) -> tuple[Geometry, float]:
    """The slab placed in a column starting at `start` that holds its box and its caption (a thin slab
    centred in it), and where the next column starts."""
    g = geometry(slab, start)
    extent, column = g.right - start, 0.0 if slab.glyph else text_width(caption_lines(slab)) + 0.25
    if extent + GAP < column:
        g = geometry(slab, start + (column - GAP - extent) / 2)
    return g, max(g.right + GAP, start + column)


def _one_row(order: list[Slab], arrows: list[Arrow] = ()) -> dict[tuple[str, ...], Geometry]:
    """The slabs left to right; the gap after a slab is wide enough for the labels (`center_crop`,
    `pixel_shuffle`) of the arrows into its neighbour."""
    geo, cursor = {}, 0.0
    for n, slab in enumerate(order):
        geo[slab.key], cursor = _column(slab, cursor)
        after = order[n + 1].key if n + 1 < len(order) else None
        labels = [", ".join(a.via) for a in arrows if a.src == slab.key and a.dst == after and a.via]
        if labels:
            cursor = max(cursor, geo[slab.key].right + VIA * max(map(len, labels)) + 2 * GAP)
    return geo


def place(order: list[Slab], arrows: list[Arrow], max_width: float = MAX_WIDTH,
          layout: str = "auto") -> dict[tuple[str, ...], Geometry]:
    """Each slab's geometry in the `layout` (a key of LAYOUTS; ValueError for another); `auto` wraps a figure
    wider than `max_width` cm (0: never)."""
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}")
    geo = _one_row(order, arrows)
    width = max((g.right for g in geo.values()), default=0.0)
    if layout == "row" or (layout == "auto" and (max_width <= 0 or width <= max_width)):
        return geo
    levels = scale_levels(order)
    if layout == "u" or (layout == "auto" and _encoder_decoder(order, arrows, levels)):
        geo = _u(order, levels)
    else:
        rows = _rows(order, arrows, geo, max_width if max_width > 0 else width / 2)
        widest = max(max(g.right for g in rows.values() if g.row == r) for r in {g.row for g in rows.values()})
        if widest > WORTH * width:  # skip arrows span every cut that would help: wrapping gains nothing
            return geo
        geo = rows
    _stack(order, arrows, geo)
    return geo


def scale_levels(order: list[Slab]) -> list[int]:
    """Each slab's scale: 0 for the first, one more each time the feature map's height halves (rounded on a
    log scale, so that U-Net's unpadded 568→284 steps once) and one less each time it doubles; a flat slab
    keeps the scale before it."""
    levels, height = [], None
    for slab in order:
        now = slab.shape[1] if len(slab.shape) == 3 else None
        step = round(math.log2(height / now)) if height and now else 0
        levels.append((levels[-1] if levels else 0) + step)
        height = now or height
    low = min(levels, default=0)
    return [level - low for level in levels]


def _encoder_decoder(order: list[Slab], arrows: list[Arrow], levels: list[int]) -> bool:
    """Whether a skip arrow joins two slabs of one scale with a smaller scale between them (U-Net's)."""
    index = {s.key: i for i, s in enumerate(order)}
    spans = [(index[a.src], index[a.dst]) for a in arrows if index[a.dst] > index[a.src] + 1]
    return any(levels[i] == levels[j] and max(levels[i:j + 1]) > levels[i] for i, j in spans)


def _u(order: list[Slab], levels: list[int]) -> dict[tuple[str, ...], Geometry]:
    """One row per scale; a slab that changes the scale goes straight under or over the slab before it."""
    geo: dict[tuple[str, ...], Geometry] = {}
    cursor: dict[int, float] = {}  # where each row's next column may start
    for i, slab in enumerate(order):
        level = levels[i]
        start = cursor.get(level, 0.0)
        if i and levels[i - 1] != level:  # centred under (over) the slab before, if its row leaves room
            probe, before = _column(slab, 0.0), geo[order[i - 1].key]
            centred = before.centre - probe[0].centre
            beside = max(start, before.right + 0.3 - probe[0].left)  # wholly to its right: the arrow turns in
            start = centred if level not in cursor or centred >= start else beside
        g, cursor[level] = _column(slab, start)
        g.row = level
        geo[slab.key] = g
    return geo


def _cuts(order: list[Slab], arrows: list[Arrow]) -> list[int]:
    """The indices a row may start at: no arrow but the one from the slab before crosses the cut."""
    index = {s.key: i for i, s in enumerate(order)}
    spans = [(index[a.src], index[a.dst]) for a in arrows]
    return [c for c in range(1, len(order)) if not any(i < c <= j and (i, j) != (c - 1, c) for i, j in spans)]


def _rows(order: list[Slab], arrows: list[Arrow], row: dict[tuple[str, ...], Geometry],
          max_width: float) -> dict[tuple[str, ...], Geometry]:
    """The one row cut into rows at most `max_width` wide where the cuts allow, as few as that takes and of
    about equal width, each from x = 0; a last row under a quarter of `max_width` joins the one before."""
    pos = [row[s.key].left for s in order] + [max(g.right for g in row.values())]
    ends = [*_cuts(order, arrows), len(order)]
    starts = greedy_rows(pos, ends, max_width)
    limit = pos[-1] / len(starts)
    while len(balanced := greedy_rows(pos, ends, limit)) > len(starts):  # the same rows, widths evened out
        limit *= 1.02
    starts = balanced
    if len(starts) > 1 and pos[-1] - pos[starts[-1]] < max_width / 4:
        starts.pop()
    geo = {}
    for r, (first, end) in enumerate(zip(starts, [*starts[1:], len(order)], strict=True)):
        for key, g in _one_row(order[first:end], arrows).items():
            g.row = r
            geo[key] = g
    return geo


def skip_heights(order: list[Slab], arrows: list[Arrow], geo: dict[tuple[str, ...], Geometry]) -> dict[int, float]:
    """For each skip arrow (by its index in `arrows`), how high over its source's axis it runs: above every
    slab between on the source's row, shorter spans lower, one that spans another above it."""
    index = {s.key: i for i, s in enumerate(order)}
    heights, placed = {}, []  # placed: (row, first, last, height)
    for n in sorted(range(len(arrows)), key=lambda n: (index[arrows[n].dst] - index[arrows[n].src],
                                                        index[arrows[n].src])):
        a = arrows[n]
        i, j = index[a.src], index[a.dst]
        src = geo[a.src]
        if j == i + 1:  # a straight arrow
            continue
        between = [geo[s.key].top for s in order[i:j + 1] if geo[s.key].row == src.row]
        height = max([max(between) + 0.35, *(h + 0.3 for r, f, t, h in placed if r == src.row and f <= j and t >= i)])
        placed.append((src.row, i, j, height))
        heights[n] = height
    return heights


def _stack(order: list[Slab], arrows: list[Arrow], geo: dict[tuple[str, ...], Geometry]) -> None:
    """Set each row's axis y: under the row before, with a lane between its captions and the next row's
    highest point (a box or a skip arrow with its label)."""
    tops, depths = defaultdict(float), defaultdict(float)
    for g in geo.values():
        tops[g.row], depths[g.row] = max(tops[g.row], g.top), max(depths[g.row], g.depth)
    for n, height in skip_heights(order, arrows, geo).items():
        row = geo[arrows[n].src].row
        tops[row] = max(tops[row], height + (0.3 if arrows[n].via else 0.0))
    y = {0: 0.0}
    for row in range(1, max(tops) + 1):
        y[row] = y[row - 1] - depths[row - 1] - LANE - tops[row]
    for g in geo.values():
        g.y = y[g.row]
