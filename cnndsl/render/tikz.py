"""The TikZ side of block figures (`cnndsl draw --style blocks`): the slabs of cnndsl.render.blocks laid
out left to right as oblique 3-D boxes sized on a log scale, with captions, straight and skip arrows and
a legend, in a standalone LaTeX document that needs only TikZ."""

from __future__ import annotations

import math
import re
import textwrap
from dataclasses import dataclass

from ..ir import Network
from ..ops import Family
from .blocks import Arrow, Slab, caption, slabs

# fill colours (HTML) by family, chosen for distinct grey levels (luma 1.0 ... 0.28) and hue
PALETTE = {Family.IO: "FFFFFF", Family.NORM: "FFF3B0", Family.CONV: "FED9A6", Family.RESHAPE: "D9D9D9",
           Family.ACT: "DA8FBC", Family.OTHER: "7FBF7B", Family.FC: "2C7BB6", Family.POOL: "B2182B",
           Family.MERGE: "FFFFFF", Family.BLOCK: "BBBBBB"}
GAP = 0.45       # cm between the outlines of neighbouring boxes
WRAP = 14        # characters a caption line holds before it wraps
BALL = 0.22      # cm, radius of a merge node
REPEAT = 0.2     # cm, how far the box behind a folded run of calls shows


def _log(n: int, base: float, step: float) -> float:
    return base + step * math.log2(max(n, 1))


@dataclass
class Geometry:
    """Where a slab is drawn (cm): x where its thickness w starts on the axis (its front face starts dx/2 to the
    left, as the oblique depth vector (dx, dy) centres the box on the axis), height h."""

    x: float
    w: float
    h: float
    dx: float
    dy: float

    @property
    def top(self) -> float:
        """The y of the slab's highest point, its back top edge (the axis is y = 0): skip arrows pass above it."""
        return self.h / 2 + self.dy / 2

    @property
    def right(self) -> float:
        """The x of the slab's rightmost point (its back right edge)."""
        return self.x + self.w + self.dx / 2


def _geometry(slab: Slab, x: float) -> Geometry:
    shape = slab.shape
    if slab.glyph:  # a round node, or a rounded box as wide as a longer glyph
        return Geometry(x, 2 * BALL if len(slab.glyph) <= 1 else 0.13 * len(slab.glyph) + 0.15, 2 * BALL, 0.0, 0.0)
    if len(shape) == 3:
        w, h, d = _log(shape[0], 0.08, 0.07), _log(shape[1], 0.25, 0.3), _log(shape[2], 0.25, 0.3)
    else:
        w, h, d = 0.18, _log(math.prod(shape), 0.25, 0.25), 0.18
    dx, dy = 0.35 * d, 0.3 * d
    return Geometry(x + dx / 2 + (REPEAT if slab.count > 1 else 0.0), w, h, dx, dy)


def tex_text(text: str) -> str:
    """User text (labels, names) for LaTeX: special characters escaped, `3x3` and `×` as \\times."""
    text = re.sub(r"[\\{}$&#^_%~]", lambda m: {"\\": r"\textbackslash{}", "^": r"\^{}", "~": r"\~{}"}.get(
        m.group(), "\\" + m.group()), text)
    text = re.sub(r"(?<=\d)x(?=\d)", "×", text)
    return text.replace("×", r"$\times$").replace("·", r"$\cdot$")


def to_tikz(net: Network, depth: int | None = 0) -> str:
    """The block figure of `net` at `depth` (None: every layer) as a standalone LaTeX document (the
    standalone class and TikZ, nothing else)."""
    order, arrows = slabs(net, depth)
    geo: dict[tuple[str, ...], Geometry] = {}
    cursor, body = 0.0, []
    for slab in order:
        g = _geometry(slab, cursor)
        extent, column = g.right - cursor, 0.0 if slab.glyph else _text_width(_caption_lines(slab)) + 0.25
        if extent + GAP < column:  # centre a thin slab in a column its caption fits
            g = _geometry(slab, cursor + (column - GAP - extent) / 2)
        g = geo[slab.key] = g
        cursor = max(g.right + GAP, cursor + column)
        body += _ball(slab, g) if slab.glyph else _box(slab, g)
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
    x0, y0 = g.x - g.dx / 2, -g.h / 2 - g.dy / 2
    out = [f"% {tex_text(slab.label)}"]
    if slab.count > 1:
        # the rest of the run: a box behind it, to its left (where it would be occluded)
        out += _prism(x0 - REPEAT, y0, g.w, g.h, g.dx, g.dy, slab.family.value + "!60!white")
    band = min(0.12, g.w / 3) if slab.band else 0.0
    out += _prism(x0, y0, g.w, g.h, g.dx, g.dy, slab.family.value)
    if slab.band:  # on the front and top faces only, so that the box keeps its family's colour
        out += _prism(x0 + g.w - band, y0, band, g.h, g.dx, g.dy, slab.band.value, right=False)
    size, *rest = _caption_lines(slab)
    text = r"\textbf{" + tex_text(size) + "}" + "".join(r"\\ " + tex_text(line) for line in rest)
    out.append(rf"\node[caption] at {_c(g.x + g.w / 2, y0 - 0.08)} {{{text}}};")
    return out


def _caption_lines(slab: Slab) -> list[str]:
    """The caption under a slab, line by line: its size, its label wrapped (`×N` for a repeat, then the folded
    light layers' op names), and the output it is, when named."""
    label = slab.label + (f" ×{slab.count}" if slab.count > 1 else "")
    label += "".join(" · " + f.split()[0] for f in slab.folded)
    lines = [caption(slab.shape), *textwrap.wrap(label, WRAP, break_long_words=False, break_on_hyphens=False)]
    return lines + ([f"output {slab.output}"] if slab.output else [])


def _text_width(lines: list[str]) -> float:
    """About how wide (cm) the caption's lines are set in \\scriptsize sans serif."""
    return 0.13 * max(len(line) for line in lines)


def _ball(slab: Slab, g: Geometry) -> list[str]:
    """A merge as a round node showing its glyph (`+`, `×`; a longer glyph as a rounded box), with the light
    layers folded into it (ResNet's relu after the add) and the output it is under it."""
    text, style = tex_text(slab.glyph or ""), "circle" if len(slab.glyph or "") <= 1 else "rounded corners=0.2cm"
    out = [rf"\node[merge, {style}, minimum width={g.w:.2f}cm] at {_c(g.x + g.w / 2, 0)} {{{text}}};"]
    under = [f.split()[0] for f in slab.folded] + ([f"output {slab.output}"] if slab.output else [])
    if under:
        out.append(rf"\node[note, below] at {_c(g.x + g.w / 2, -BALL)} {{{tex_text(' · '.join(under))}}};")
    return out


def _arrows(order: list[Slab], arrows: list[Arrow], geo: dict[tuple[str, ...], Geometry]) -> list[str]:
    """Neighbours joined by a straight arrow; others by a skip arrow over the slabs between, shorter spans lower."""
    index = {s.key: i for i, s in enumerate(order)}
    out, placed = [], []  # placed: (first, last, height) of the skip arrows drawn so far
    for a in sorted(arrows, key=lambda a: (index[a.dst] - index[a.src], index[a.src])):
        i, j = index[a.src], index[a.dst]
        src, dst = geo[a.src], geo[a.dst]
        if j == i + 1:
            end = dst.x - dst.dx / 2 - (REPEAT if order[j].count > 1 else 0.0)
            out.append(rf"\draw[flow] {_c(src.x + src.w, 0)} -- {_c(end, 0)};")
            continue
        height = max(geo[s.key].top for s in order[i:j + 1]) + 0.35
        height = max([height, *(h + 0.3 for f, t, h in placed if f <= j and t >= i)])
        placed.append((i, j, height))
        sx, tx = src.x + src.w / 2, dst.x + dst.w / 2
        sy, ty = src.h / 2, dst.h / 2
        via = rf" node[via] {{{tex_text(', '.join(a.via))}}}" if a.via else ""
        out.append(rf"\draw[skip] {_c(sx, sy)} -- {_c(sx, height)} --{via} {_c(tx, height)} -- {_c(tx, ty)};")
    return out


def _legend(families: list[Family]) -> list[str]:
    """A row of swatches naming the families the figure uses, under it."""
    out = [r"\coordinate (legend) at ([yshift=-0.35cm]current bounding box.south west);",
           r"\begin{scope}[shift={(legend)}]"]
    for n, family in enumerate(families):
        x = 2.3 * n
        out.append(rf"\filldraw[fill={family.value}] {_c(x, -0.1)} rectangle {_c(x + 0.3, 0.1)};"
                   rf" \node[anchor=west, font=\scriptsize\sffamily] at {_c(x + 0.35, 0)} {{{family.legend}}};")
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
  skip/.style={-stealth, semithick, rounded corners=3pt},
  note/.style={font=\tiny\sffamily, inner sep=1pt}, via/.style={note, midway, above}]
<body>
\end{tikzpicture}
\end{document}
"""
