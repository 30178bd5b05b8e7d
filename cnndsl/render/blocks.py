"""Block figures in the style of CNN papers (PlotNeuralNet, NN-SVG): one 3-D box per layer or block call,
laid out left to right, as a standalone TikZ picture (`cnndsl draw --style blocks`).

The boxes are the diagram's (`diagram.layout` at the same depth, folded repeats with `×N`), then made
to read as the papers draw them: a light layer (activation, norm, dropout: the families ACT, NORM and
OTHER that keep their input's shape) folds into the box before it, shown as a band at its end; a
reshaping layer (flatten, crop, reshape) is no box but the arrow it sits on. Each box is the tensor it
produces: its face is H×W and its thickness the channels, both on a log scale, with the size under it
(`64@112×112`). Merges are small round nodes; an edge between boxes that are not neighbours is a skip
arrow over the boxes between. Colours are by op family, with lightness steps that stay distinct in grey.
"""

from __future__ import annotations

import math
import re
import textwrap
from dataclasses import dataclass, field

from ..ir import Layer, Network
from ..ops import Family, Shape
from .diagram import Picture, layout

# fill colours (HTML) by family, chosen for distinct grey levels (luma 1.0 ... 0.28) and hue
PALETTE = {Family.IO: "FFFFFF", Family.NORM: "FFF3B0", Family.CONV: "FED9A6", Family.RESHAPE: "D9D9D9",
           Family.ACT: "DA8FBC", Family.OTHER: "7FBF7B", Family.FC: "2C7BB6", Family.POOL: "B2182B",
           Family.MERGE: "FFFFFF", Family.BLOCK: "BBBBBB"}
LIGHT = (Family.ACT, Family.NORM, Family.OTHER)  # shape-keeping layers drawn as a band of the box before them
GAP = 0.45       # cm between the outlines of neighbouring boxes
WRAP = 14        # characters a caption line holds before it wraps
BALL = 0.22      # cm, radius of a merge node
REPEAT = 0.2     # cm, how far the box behind a folded run of calls shows


@dataclass
class Slab:
    """One drawn box: the layers it stands for (in order), what it is called and the tensor it produces."""

    key: tuple[str, ...]
    label: str
    family: Family
    shape: Shape
    count: int = 1
    glyph: str | None = None       # a merge: drawn as a round node showing it
    band: Family | None = None     # the family of the light layers folded in at its end
    folded: list[str] = field(default_factory=list)  # the folded layers' labels
    output: str | None = None      # the name of the network output it produces ("" for the body's end)


@dataclass
class Arrow:
    """A data edge between two slabs; `via` names the reshaping layers it passes through."""

    src: tuple[str, ...]
    dst: tuple[str, ...]
    via: list[str] = field(default_factory=list)


def slabs(net: Network, depth: int | None = 0) -> tuple[list[Slab], list[Arrow]]:
    """The slabs of `net` at `depth` (None: every layer) in drawing order, and the arrows between them."""
    pic = layout(net, depth)
    layers = {layer.id: layer for layer in net.layers()}
    order: list[Slab] = []
    by_key: dict[tuple[str, ...], Slab] = {}
    for key, box in pic.boxes.items():
        if box.output is not None:
            continue
        members = [layers[i] for i in box.layers]
        last = members[-1]
        if box.family is Family.BLOCK:
            heavy = max(members, key=lambda m: (m.params, -m.id))
            slab = Slab(key, box.label, heavy.entry.family if heavy.params else members[0].entry.family,
                        last.shape, box.count)
            tail = last.entry.family
            slab.band = tail if tail is not slab.family and tail in (Family.POOL, *LIGHT) else None
        else:
            label = last.entry.name if box.family is Family.IO else last.label  # the input: its size is the caption
            slab = Slab(key, label, box.family, last.shape, glyph=last.entry.glyph)
        order.append(slab)
        by_key[key] = slab
    arrows = [Arrow(src, dst) for src, dst, _ in pic.edges if src in by_key and dst in by_key]
    for src, dst, _ in pic.edges:  # the edge into output marker i comes from the box producing output i
        if pic.boxes[dst].output is not None:
            by_key[src].output = net.output_names[pic.boxes[dst].output]
    _pass_reshapes(order, arrows, layers, pic)
    _fold_light(order, arrows, layers, pic)
    return order, arrows


def _single(key: tuple[str, ...], pic: Picture, layers: dict[int, Layer]) -> Layer | None:
    """The layer a box stands for when it is one layer (not a block call), else None."""
    box = pic.boxes[key]
    return layers[box.layers[0]] if box.family is not Family.BLOCK and len(box.layers) == 1 else None


def _pass_reshapes(order: list[Slab], arrows: list[Arrow], layers: dict[int, Layer], pic: Picture) -> None:
    """Drop each reshaping layer with one input (flatten, crop, reshape) and let its arrows run through it."""
    for slab in list(order):
        layer = _single(slab.key, pic, layers)
        ins = [a for a in arrows if a.dst == slab.key]
        members = [layers[i] for i in pic.boxes[slab.key].layers]
        reshape = layer is not None and layer.entry.family is Family.RESHAPE
        if not (reshape or all(not m.entry.drawn for m in members)) or len(ins) != 1 or slab.output is not None:
            continue  # an identity shortcut block is the arrow it is, too
        src = ins[0]
        arrows.remove(src)
        for a in arrows:
            if a.src == slab.key:
                a.src, a.via = src.src, [*src.via, *([layer.entry.name] if reshape else []), *a.via]
        order.remove(slab)


def _fold_light(order: list[Slab], arrows: list[Arrow], layers: dict[int, Layer], pic: Picture) -> None:
    """Fold each light layer into the box before it, when that box feeds only it."""
    keys = {s.key: s for s in order}
    for slab in list(order):
        layer = _single(slab.key, pic, layers)
        ins = [a for a in arrows if a.dst == slab.key]
        if layer is None or layer.entry.family not in LIGHT or len(ins) != 1 or ins[0].via:
            continue
        host = keys[ins[0].src]
        if host.family is Family.IO or sum(a.src == host.key for a in arrows) != 1 or layer.shape != host.shape:
            continue
        arrows.remove(ins[0])
        for a in arrows:
            if a.src == slab.key:
                a.src = host.key
        if host.band is None or layer.entry.family is not Family.OTHER:
            host.band = layer.entry.family
        host.folded.append(layer.label)
        host.output = slab.output if slab.output is not None else host.output
        order.remove(slab)
        keys[slab.key] = host


def caption(shape: Shape) -> str:
    """A tensor's size as the papers caption it: `64@112×112` for C×H×W, `4096` for features."""
    if len(shape) == 3:
        return f"{shape[0]}@{shape[1]}×{shape[2]}"
    return "×".join(str(d) for d in shape)


def _log(n: int, base: float, step: float) -> float:
    return base + step * math.log2(max(n, 1))


@dataclass
class Geometry:
    """Where a slab is drawn (cm): x of its front face's left edge, thickness w, height h, depth vector."""

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
