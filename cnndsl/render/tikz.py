"""The TikZ side of block figures (`cnndsl draw --style blocks`): the slabs of cnndsl.render.blocks, where
cnndsl.render.placement puts them (one row, rows that wrap, or a U), as oblique 3-D boxes sized on a log
scale, with captions, straight, turning and skip arrows and a legend, in a standalone LaTeX document that
needs only TikZ."""

from __future__ import annotations

import re

from ..ir import Network
from ..ops import Family
from .blocks import Arrow, Slab, slabs
from .placement import BALL, LANE, MAX_WIDTH, REPEAT, Geometry, caption_lines, place, skip_heights

# fill colours (HTML) by family, chosen for distinct grey levels (luma 1.0 ... 0.28) and hue
PALETTE = {Family.IO: "FFFFFF", Family.NORM: "FFF3B0", Family.CONV: "FED9A6", Family.RESHAPE: "D9D9D9",
           Family.ACT: "DA8FBC", Family.OTHER: "7FBF7B", Family.FC: "2C7BB6", Family.POOL: "B2182B",
           Family.MERGE: "FFFFFF", Family.BLOCK: "BBBBBB"}
def tex_text(text: str) -> str:
    """User text (labels, names) for LaTeX: special characters escaped, `3x3` and `×` as \\times."""
    text = re.sub(r"[\\{}$&#^_%~]", lambda m: {"\\": r"\textbackslash{}", "^": r"\^{}", "~": r"\~{}"}.get(
        m.group(), "\\" + m.group()), text)
    text = re.sub(r"(?<=\d)x(?=\d)", "×", text)
    return text.replace("×", r"$\times$").replace("·", r"$\cdot$")


def to_tikz(net: Network, depth: int | None = 0, max_width: float = MAX_WIDTH, layout: str = "auto") -> str:
    """The block figure of `net` at `depth` (None: every layer) as a standalone LaTeX document (the
    standalone class and TikZ, nothing else), laid out as cnndsl.render.placement says: one row, or wrapped
    (`layout` rows or u) when wider than `max_width` cm (0: never) or asked. ValueError for an unknown layout."""
    order, arrows = slabs(net, depth)
    geo = place(order, arrows, max_width, layout)
    body = []
    for slab in order:
        body += _ball(slab, geo[slab.key]) if slab.glyph else _box(slab, geo[slab.key])
    body += _arrows(order, arrows, geo)
    families = sorted({f for s in order for f in (s.family, s.band) if f and not s.glyph}, key=list(Family).index)
    body += _legend(families)
    colours = "\n".join(rf"\definecolor{{{f.value}}}{{HTML}}{{{PALETTE[f]}}}" for f in Family)
    return (DOCUMENT.replace("<colours>", colours).replace("<body>", "\n".join(body))
            .replace("<name>", tex_text(net.name)))


def _c(x: float, y: float) -> str:
    return f"({x:.3f},{y:.3f})"


def _prism(x0: float, y0: float, w: float, h: float, dx: float, dy: float, colour: str,
           right: bool = True) -> list[str]:
    """A cuboid seen obliquely: front face at (x0, y0) w×h, top face, and the right face when `right`."""
    faces = [rf"\filldraw[fill={colour}] {_c(x0, y0)} rectangle {_c(x0 + w, y0 + h)};",
             rf"\filldraw[fill={colour}!55!white] {_c(x0, y0 + h)} -- ++({dx:.3f},{dy:.3f}) -- ++({w:.3f},0) "
             rf"-- {_c(x0 + w, y0 + h)} -- cycle;"]
    if right:
        faces.append(rf"\filldraw[fill={colour}!75!black] {_c(x0 + w, y0)} -- ++({dx:.3f},{dy:.3f}) -- ++(0,{h:.3f}) "
                     rf"-- {_c(x0 + w, y0 + h)} -- cycle;")
    return faces


def _box(slab: Slab, g: Geometry) -> list[str]:
    """A slab as a cuboid (a shadow behind for a folded repeat, a band for folded light layers) and its caption."""
    x0, y0 = g.left, g.y - g.h / 2 - g.dy / 2
    out = [f"% {tex_text(slab.label)}"]
    if slab.count > 1:
        # the rest of the run: a box behind it, to its left (where it would be occluded)
        out += _prism(x0 - REPEAT, y0, g.w, g.h, g.dx, g.dy, slab.family.value + "!60!white")
    band = min(0.12, g.w / 3) if slab.band else 0.0
    out += _prism(x0, y0, g.w, g.h, g.dx, g.dy, slab.family.value)
    if slab.band:  # on the front and top faces only, so that the box keeps its family's colour
        out += _prism(x0 + g.w - band, y0, band, g.h, g.dx, g.dy, slab.band.value, right=False)
    size, *rest = caption_lines(slab)
    text = r"\textbf{" + tex_text(size) + "}" + "".join(r"\\ " + tex_text(line) for line in rest)
    out.append(rf"\node[caption] at {_c(g.centre, y0 - 0.08)} {{{text}}};")
    return out


def _ball(slab: Slab, g: Geometry) -> list[str]:
    """A merge as a round node showing its glyph (`+`, `×`; a longer glyph as a rounded box), with the light
    layers folded into it (ResNet's relu after the add) and the output it is under it."""
    text, style = tex_text(slab.glyph or ""), "circle" if len(slab.glyph or "") <= 1 else "rounded corners=0.2cm"
    out = [rf"\node[merge, {style}, minimum width={g.w:.2f}cm] at {_c(g.centre, g.y)} {{{text}}};"]
    under = [f.split()[0] for f in slab.folded] + ([f"output {slab.output}"] if slab.output else [])
    if under:
        out.append(rf"\node[note, below] at {_c(g.centre, g.y - BALL)} {{{tex_text(' · '.join(under))}}};")
    return out


PARALLEL = 0.3  # cm between arrows that join the same two neighbours


def _arrows(order: list[Slab], arrows: list[Arrow], geo: dict[tuple[str, ...], Geometry]) -> list[str]:
    """Neighbours joined by a straight arrow (across rows: see _turn); others by a skip arrow over the slabs
    between on the source's row (cnndsl.render.placement.skip_heights)."""
    index = {s.key: i for i, s in enumerate(order)}
    heights = skip_heights(order, arrows, geo)
    out = []
    seen: dict[tuple, int] = {}  # neighbours joined more than once (two crops of one tensor into an add)
    for n, a in enumerate(arrows):
        src, dst = geo[a.src], geo[a.dst]
        via = rf" node[via] {{{tex_text(', '.join(a.via))}}}" if a.via else ""
        if n not in heights:
            end = dst.left - (REPEAT if order[index[a.dst]].count > 1 else 0.0)
            k = seen[a.src, a.dst] = seen.get((a.src, a.dst), -1) + 1
            shift = -PARALLEL * k  # each further arrow between the same two slabs runs below the first
            out.append(rf"\draw[flow] {_c(src.x + src.w, src.y + shift)} --{via} {_c(end, dst.y + shift)};"
                       if src.row == dst.row else _turn(src, dst, end, geo))
            continue
        height = src.y + heights[n]
        out.append(rf"\draw[skip] {_c(src.centre, src.y + src.h / 2)} -- {_c(src.centre, height)} --{via} "
                   rf"{_c(dst.centre, height)} -- {_c(dst.centre, dst.y + dst.h / 2)};")
    return out


def _turn(src: Geometry, dst: Geometry, end: float, geo: dict[tuple[str, ...], Geometry]) -> str:
    """The arrow between neighbours on different rows: straight down from under the source's caption onto
    the target's top (or up from the source's top to under the target's caption) when one is over the
    other (the U layout); to a row above, up from the source's top and across into the target; to a row
    below and to the right, across and down onto its top; else (rows that wrap) down a lane under the
    source's row, back along it and into the next row's first slab."""
    if abs(src.centre - dst.centre) < 0.01:
        down = dst.y < src.y
        start = src.y - src.depth if down else src.y + src.h / 2
        stop = dst.y + dst.h / 2 if down else dst.y - dst.depth
        return rf"\draw[flow] {_c(src.centre, start)} -- {_c(dst.centre, stop)};"
    if dst.y > src.y:
        return rf"\draw[turn] {_c(src.centre, src.y + src.h / 2)} |- {_c(end, dst.y)};"
    if dst.left > src.right:
        return rf"\draw[turn] {_c(src.x + src.w, src.y)} -| {_c(dst.centre, dst.y + dst.h / 2)};"
    lane = src.y - max(g.depth for g in geo.values() if g.row == src.row) - LANE / 2
    turn, back = src.reach + 0.3, min(end, 0.0) - 0.3  # right of the source's caption, left of the row
    points = [(src.x + src.w, src.y), (turn, src.y), (turn, lane), (back, lane), (back, dst.y), (end, dst.y)]
    return r"\draw[turn] " + " -- ".join(_c(*p) for p in points) + ";"


def _legend(families: list[Family]) -> list[str]:
    """A row of swatches naming the families the figure uses, under it. White is only the input here: an
    output is its layer's box, named under it."""
    out = [r"\coordinate (legend) at ([yshift=-0.35cm]current bounding box.south west);",
           r"\begin{scope}[shift={(legend)}]"]
    for n, family in enumerate(families):
        x, name = 2.3 * n, "input" if family is Family.IO else family.legend
        out.append(rf"\filldraw[fill={family.value}] {_c(x, -0.1)} rectangle {_c(x + 0.3, 0.1)};"
                   rf" \node[anchor=west, font=\scriptsize\sffamily] at {_c(x + 0.35, 0)} {{{name}}};")
    return [*out, r"\end{scope}"]


DOCUMENT = r"""\documentclass[border=2pt]{standalone}
% <name>: drawn by cnndsl (`cnndsl draw --style blocks`); needs only TikZ
\usepackage{tikz}
\begin{document}
% the colours in the body, so that a paper can \input this file with the standalone package
<colours>
\begin{tikzpicture}[font=\sffamily, line join=round, thin,
  caption/.style={anchor=north, align=center, font=\scriptsize\sffamily, inner sep=1pt},
  merge/.style={draw, fill=white, inner sep=0.5pt, minimum height=0.44cm, font=\scriptsize\sffamily},
  flow/.style={-stealth, semithick},
  skip/.style={-stealth, semithick, rounded corners=3pt}, turn/.style={skip},
  note/.style={font=\tiny\sffamily, inner sep=1pt}, via/.style={note, midway, above}]
<body>
\end{tikzpicture}
\end{document}
"""
