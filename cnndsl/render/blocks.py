"""Block figures in the style of CNN papers (PlotNeuralNet, NN-SVG): which boxes and arrows a network
is drawn with (`cnndsl draw --style blocks`); cnndsl.render.placement lays them out (left to right,
wrapped when wide) and cnndsl.render.tikz writes the TikZ picture.

The boxes are the diagram's (`diagram.layout` at the same depth, folded repeats with `×N`), then made
to read as the papers draw them: a light layer (activation, norm, dropout: the families ACT, NORM and
OTHER that keep their input's shape) folds into the box before it, shown as a band at its end; a
reshaping layer (flatten, crop, reshape) is no box but the arrow it sits on. Each box is the tensor it
produces: its face is H×W and its thickness the channels, both on a log scale, with the size under it
(`64@112×112`). Merges are small round nodes; an edge between boxes that are not neighbours is a skip
arrow over the boxes between. Colours are by op family, with lightness steps that stay distinct in grey.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..ir import Layer, Network
from ..ops import Family, Shape
from .diagram import Picture, layout

LIGHT = (Family.ACT, Family.NORM, Family.OTHER)  # shape-keeping layers drawn as a band of the box before them


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
