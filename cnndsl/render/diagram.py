"""Architecture diagrams: the checked graph drawn at a level of detail, as Graphviz DOT.

At depth D every block call nested deeper than D becomes one node labelled with the call
(`vgg_block(2, 128)`); a chain of identical calls folds into one node with a count
(`residual(512) ×2`); `--full` draws every layer. Identity branches are drawn as plain edges
(the papers' shortcut arrows), merges as small round nodes. Output is deterministic.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field

from ..analysis.report import human
from ..ir import Network
from ..ops import Family, dims

# one palette for the op families (and "_line", "_text"); `mono` is the print-friendly theme
THEMES = {
    "color": {Family.CONV: "#cfe2f3", Family.POOL: "#d9ead3", Family.NORM: "#fff2cc", Family.ACT: "#fce5cd",
              Family.FC: "#ead1dc", Family.MERGE: "#ffffff", Family.IO: "#eeeeee", Family.RESHAPE: "#f3f3f3",
              Family.OTHER: "#f3f3f3", Family.BLOCK: "#d0e0e3", "_line": "#444444", "_text": "#000000"},
    "mono": {Family.CONV: "#d9d9d9", Family.POOL: "#ffffff", Family.NORM: "#f0f0f0", Family.ACT: "#ffffff",
             Family.FC: "#bfbfbf", Family.MERGE: "#ffffff", Family.IO: "#ffffff", Family.RESHAPE: "#ffffff",
             Family.OTHER: "#ffffff", Family.BLOCK: "#e6e6e6", "_line": "#000000", "_text": "#000000"},
}


@dataclass
class Box:
    """One drawn node: a layer, or a block call (possibly several folded together)."""

    key: tuple[str, ...]
    label: str
    family: Family                 # merges are drawn round, the input without rounded corners
    layers: list[int] = field(default_factory=list)
    count: int = 1
    params: int = 0

    def text(self, with_params: bool) -> str:
        label = self.label + (f" ×{self.count}" if self.count > 1 else "")
        return label + (f"\n{human(self.params)} params" if with_params and self.params else "")



@dataclass
class Picture:
    boxes: dict[tuple[str, ...], Box]
    edges: list[tuple[tuple[str, ...], tuple[str, ...], str]]  # source, target, tensor shape



def layout(net: Network, depth: int | None = 0) -> Picture:
    """Group the layers into boxes at `depth` (None: every layer) and connect them."""
    boxes: dict[tuple[str, ...], Box] = {}
    owner: dict[int, tuple[str, ...]] = {}
    blocks = net.blocks
    steps = list(net.walk())
    for step in steps:
        layer, op = step.layer, step.entry
        if depth is not None and len(layer.block_path) > depth:
            key = layer.path[:depth + 1]
            box = boxes.setdefault(key, Box(key, blocks[key].call, Family.BLOCK))
        elif not op.drawn:  # drawn as the edge it is
            owner[layer.id] = owner[step.inputs[0].layer.id]
            continue
        else:
            key = layer.path
            label = op.glyph or layer.label  # merges show a glyph
            box = boxes.setdefault(key, Box(key, label, op.family))
        box.layers.append(layer.id)
        box.params += step.params
        owner[layer.id] = key
    edges, seen = [], set()
    for step in steps:
        for ref in step.inputs:
            src, dst = owner[ref.layer.id], owner[step.layer.id]
            if src != dst and (src, dst) not in seen and step.entry.drawn:
                seen.add((src, dst))
                edges.append((src, dst, dims(ref.shape).replace("x", "×")))
    return _fold(Picture(boxes, edges))


def _fold(pic: Picture) -> Picture:
    """Fold chains of identical block calls into one box with a count."""
    outs: dict[tuple, list] = {}
    ins: dict[tuple, list] = {}
    for e in pic.edges:
        outs.setdefault(e[0], []).append(e)
        ins.setdefault(e[1], []).append(e)
    merged: dict[tuple, tuple] = {}
    for key, box in pic.boxes.items():
        nxt = outs.get(key, [])
        if box.family is not Family.BLOCK or len(nxt) != 1:
            continue
        target = nxt[0][1]
        other = pic.boxes[target]
        if other.family is Family.BLOCK and other.label == box.label and len(ins.get(target, [])) == 1:
            merged[target] = merged.get(key, key)
    if not merged:
        return pic
    boxes = {}
    for key, box in pic.boxes.items():
        head = merged.get(key)
        if head is None:
            boxes[key] = box
        else:
            boxes[head].count += 1
            boxes[head].layers += box.layers
            boxes[head].params += box.params
    edges = []
    for src, dst, shape in pic.edges:
        src, dst = merged.get(src, src), merged.get(dst, dst)
        if src != dst:
            edges.append((src, dst, shape))
    return Picture(boxes, edges)


def to_dot(net: Network, depth: int | None = 0, rankdir: str = "TB", shapes: bool = True, params: bool = False,
           theme: str = "color") -> str:
    """The diagram as DOT source text."""
    import graphviz

    colours = THEMES[theme]
    pic = layout(net, depth)
    ids = {key: f"n{i}" for i, key in enumerate(pic.boxes)}
    g = graphviz.Digraph(net.name, graph_attr={
        "rankdir": rankdir, "ordering": "out", "nodesep": "0.25", "ranksep": "0.3", "fontname": "Helvetica",
        "label": _title(net.name, pic, colours), "labelloc": "t", "fontsize": "14", "bgcolor": "white"},
        node_attr={"fontname": "Helvetica", "fontsize": "11", "style": "rounded,filled", "shape": "box",
                   "penwidth": "1", "color": colours["_line"], "fontcolor": colours["_text"], "height": "0.3",
                   "margin": "0.12,0.04"},
        edge_attr={"fontname": "Helvetica", "fontsize": "9", "color": colours["_line"], "arrowsize": "0.6",
                   "fontcolor": "#555555"})
    for key, box in pic.boxes.items():
        attrs = {"fillcolor": colours[box.family], "tooltip": ".".join(key)}
        if box.family is Family.MERGE:
            attrs.update(shape="circle" if len(box.label) <= 2 else "ellipse", style="filled", width="0.3",
                         margin="0.02")
        elif box.family is Family.IO:
            attrs.update(shape="box", style="filled")
        if box.family is Family.BLOCK:
            attrs["penwidth"] = "1.5"
        g.node(ids[key], box.text(params), **attrs)
    for src, dst, shape in pic.edges:
        g.edge(ids[src], ids[dst], label=f" {shape}" if shapes else None)
    return g.source


def _title(name: str, pic: Picture, colours: dict) -> str:
    """The graph's label: the network's name over a legend of the op families it uses, four
    to a row (as a label it takes no rank, so the layers keep their spacing)."""
    families = [f for f in Family if any(b.family is f for b in pic.boxes.values())]
    swatches = [f'<TD BGCOLOR="{colours[f]}" BORDER="1" WIDTH="16" HEIGHT="12"></TD>'
                f'<TD ALIGN="LEFT"><FONT POINT-SIZE="9">{f.legend}</FONT></TD>' for f in families]
    rows = "".join("<TR>" + "".join(swatches[i:i + 4]) + "</TR>" for i in range(0, len(swatches), 4))
    return (f'<<TABLE BORDER="0" CELLSPACING="3" CELLPADDING="1"><TR><TD COLSPAN="8"><FONT POINT-SIZE="14">'
            f'{html.escape(name)}</FONT></TD></TR>{rows}</TABLE>>')
