"""Architecture diagrams: the checked graph drawn at a level of detail, as Graphviz DOT.

At depth D every block call nested deeper than D becomes one node labelled with the call
(`vgg_block(2, 128)`); a chain of identical calls folds into one node with a count
(`residual(512) ×2`); `--full` draws every layer. Edges are data edges, one per use of a tensor,
labelled with its shape; identity branches are drawn as plain edges (the papers' shortcut
arrows), merges as small round nodes, and each network output as a box with its name and
shape. Output is deterministic.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field

from ..analysis.report import human
from ..ir import Network
from ..ops import Family, Shape, dims

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
    """One drawn node: a layer, a block call (possibly several folded together), or an output."""

    key: tuple[str, ...]
    label: str
    family: Family                 # merges are drawn round, the input and outputs without rounded corners
    layers: list[int] = field(default_factory=list)
    count: int = 1
    params: int = 0
    output: int | None = None      # the index of the network output it marks

    def text(self, with_params: bool) -> str:
        """The box's label: the layer as written (or a block call, or an output), `×N` for a folded run of N
        calls, and its parameter count when `with_params`."""
        label = self.label + (f" ×{self.count}" if self.count > 1 else "")
        return label + (f"\n{human(self.params)} params" if with_params and self.params else "")


@dataclass
class Picture:
    """A laid-out diagram: the boxes by key, and the edges (source key, target key, tensor shape per sample
    written `C×H×W`), one per use of a tensor."""

    boxes: dict[tuple[str, ...], Box]
    # source, target, tensor shape: one per tensor a box reads, as often as it reads it
    edges: list[tuple[tuple[str, ...], tuple[str, ...], str]]


def _output_box(i: int, name: str, shape: Shape) -> Box:
    """The marker of the network's output `i`, named as the source names it (`output c`)."""
    text = f"output {name}: {dims(shape)}" if name else f"output {dims(shape)}"
    return Box(("", str(i)), text, Family.IO, output=i)


def layout(net: Network, depth: int | None = 0) -> Picture:
    """Group the layers into boxes at `depth` (None: every layer; 0 or more) and connect them: an edge per
    use of a tensor (a layer that reads one tensor twice, `concat(x, x)`, gets two; each output of a
    `split` its own), labelled with the tensor's shape per sample, where a folded block call receives
    each tensor from outside it once. Layers that are not drawn (identity) are the edge they pass their
    input along. Each network output gets a marker box."""
    boxes: dict[tuple[str, ...], Box] = {}
    owner: dict[int, tuple[str, ...]] = {}
    passing: set[int] = set()  # layers drawn as the edge they are
    same: dict[tuple[int, int], tuple[int, int]] = {}  # a pass-through layer's output -> the tensor it passes on
    blocks = net.blocks
    steps = list(net.walk())
    for step in steps:
        layer, op = step.layer, step.entry
        if not op.drawn:
            first = step.inputs[0]
            same[layer.id, 0] = same.get((first.layer.id, first.port), (first.layer.id, first.port))
        if depth is not None and len(layer.block_path) > depth:
            key = layer.path[:depth + 1]
            box = boxes.setdefault(key, Box(key, blocks[key].call, Family.BLOCK))
        elif not op.drawn or (op.passes_one and len(step.inputs) == 1):  # drawn as the edge it is (an add
            # or mul of one tensor is that tensor: the compiled model passes it on)
            owner[layer.id] = owner[step.inputs[0].layer.id]
            passing.add(layer.id)
            continue
        else:
            key = layer.path
            label = op.glyph or layer.label  # merges show a glyph
            box = boxes.setdefault(key, Box(key, label, op.family))
        box.layers.append(layer.id)
        box.params += step.params
        owner[layer.id] = key
    edges, entered = [], set()
    for step in steps:
        if step.layer.id in passing:  # its readers draw its edge
            continue
        dst = owner[step.layer.id]
        for ref in step.inputs:
            src, tensor = owner[ref.layer.id], (ref.layer.id, ref.port)
            tensor = same.get(tensor, tensor)
            if src == dst or (boxes[dst].family is Family.BLOCK and (tensor, dst) in entered):
                continue
            entered.add((tensor, dst))
            edges.append((src, dst, _shape(ref.shape)))
    for i, (ref, name) in enumerate(zip(net.outputs, net.output_names, strict=True)):
        box = boxes[("", str(i))] = _output_box(i, name, ref.shape)
        edges.append((owner[ref.layer.id], box.key, _shape(ref.shape)))
    return _fold(Picture(boxes, edges))


def _shape(shape: Shape) -> str:
    return dims(shape).replace("x", "×")


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
    """The diagram as DOT source text (the `graphviz` Python package builds it; no `dot` program is
    needed): boxes at `depth` as `layout` groups them, edges labelled with shapes per sample when
    `shapes`, parameter counts when `params`; `theme` is a key of THEMES (KeyError otherwise)."""
    import graphviz

    colours = THEMES[theme]
    pic = layout(net, depth)
    ids = {key: f"n{i}" if box.output is None else f"out{box.output}" for i, (key, box) in enumerate(pic.boxes.items())}
    g = graphviz.Digraph(net.name, graph_attr={
        "rankdir": rankdir, "ordering": "out", "nodesep": "0.25", "ranksep": "0.3", "fontname": "Helvetica",
        "label": _title(net.name, pic, colours), "labelloc": "t", "fontsize": "14", "bgcolor": "white"},
        node_attr={"fontname": "Helvetica", "fontsize": "11", "style": "rounded,filled", "shape": "box",
                   "penwidth": "1", "color": colours["_line"], "fontcolor": colours["_text"], "height": "0.3",
                   "margin": "0.12,0.04"},
        edge_attr={"fontname": "Helvetica", "fontsize": "9", "color": colours["_line"], "arrowsize": "0.6",
                   "fontcolor": "#555555"})
    for key, box in pic.boxes.items():
        attrs = {"fillcolor": colours[box.family], "tooltip": ".".join(key) if box.output is None else box.label}
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
