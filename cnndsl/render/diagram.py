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
import re

from ..ir import Network
from ..ops import Family, Shape, dims
from . import refine
from .palette import THEMES
from .picture import Box, Picture


def _output_box(i: int, name: str, shape: Shape) -> Box:
    """The marker of the network's output `i`, named as the source names it (`output c`)."""
    text = f"output {name}: {dims(shape)}" if name else f"output {dims(shape)}"
    return Box(("", str(i)), text, Family.IO, output=i)


def layout(net: Network, depth: int | None = 0, names: bool = False) -> Picture:
    """Group the layers into boxes at `depth` (None: every layer; 0 or more) and connect them: an edge per
    use of a tensor (a layer that reads one tensor twice, `concat(x, x)`, gets two; each output of a
    `split` its own), labelled with the tensor's shape per sample, where a folded block call receives
    each tensor from outside it once. Layers that are not drawn (identity) are the edge they pass their
    input along. Each network output gets a marker box. Consecutive identical block calls fold into one
    box with a count (with `names` shown, only calls of one name)."""
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
        key = _folded(layer.path, depth, blocks)
        if key is not None:
            box = boxes.setdefault(key, Box(key, blocks[key].call, Family.BLOCK,
                                            name=_given(key[-1], blocks[key].block)))
        elif not op.drawn or (op.passes_one and len(step.inputs) == 1):  # drawn as the edge it is (an add
            # or mul of one tensor is that tensor: the compiled model passes it on)
            owner[layer.id] = owner[step.inputs[0].layer.id]
            passing.add(layer.id)
            continue
        else:
            key = layer.path
            label = op.glyph or layer.label  # merges show a glyph
            box = boxes.setdefault(key, Box(key, label, op.family, name=_given(layer.name, layer.op),
                                            brief=op.glyph or op.describe(layer.attrs, brief=True)))
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
    return _fold(Picture(boxes, edges), names)


def _folded(path: tuple[str, ...], depth: int | None, blocks: dict) -> tuple[str, ...] | None:
    """The block call at `depth` (None: none) that holds the layer at `path`, counting block calls only: a
    module a dotted name makes (`Block.container`) is opened, since it is no call with one input and one
    output; None where the layer sits at a lesser depth."""
    if depth is None:
        return None
    calls = [path[:k] for k in range(1, len(path)) if not blocks[path[:k]].container]
    return calls[depth] if len(calls) > depth else None


def _given(name: str, kind: str) -> str | None:
    """`name` if the source gave it with `as`: not the `conv3`, `residual2` (or `input`) cnndsl names a
    layer or block instance after its op or block."""
    return None if re.fullmatch(re.escape(kind) + r"\d*", name) else name


def _shape(shape: Shape) -> str:
    return dims(shape).replace("x", "×")


def _fold(pic: Picture, names: bool = False) -> Picture:
    """Fold chains of identical block calls into one box with a count; where `names` are shown, only
    calls of one name (`as stage_1` and `as a-b` stay two boxes: a folded box shows one name)."""
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
        if other.family is Family.BLOCK and other.label == box.label and len(ins.get(target, [])) == 1 \
                and not (names and other.name != box.name):
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


SHAPES = ("all", "changes", "none")  # which edges `to_dot` labels with their tensor's shape
WRAP = 6  # ranks to a row of an LR figure before it wraps
PAD = 0.03  # inches of white around the drawing (Graphviz's pad; the PDF's margin is 0)


def to_dot(net: Network, depth: int | None = 0, rankdir: str = "TB", shapes: bool | str = True,
           params: bool = False, theme: str = "color", compact: bool = False, names: bool = False,
           wrap: int = WRAP) -> str:
    """The diagram as DOT source text (the `graphviz` Python package builds it; no `dot` program is
    needed): boxes at `depth` as `layout` groups them; edges labelled with shapes per sample: on every
    edge (`shapes` "all" or True), only where a layer changes the shape ("changes") or nowhere ("none" or
    False); parameter counts when `params`; `theme` a key of THEMES (KeyError otherwise); norms and
    activations folded into the layer before them when `compact`; `as` names shown when `names`. An LR
    figure wraps into rows of `wrap` ranks (0: never). The bounding box is tight: PAD inches around the
    drawing, no page margin."""
    import graphviz

    shapes = {True: "all", False: "none"}.get(shapes, shapes)
    if shapes not in SHAPES:
        raise ValueError(f"shapes must be one of {SHAPES}, got {shapes!r}")
    colours = THEMES[theme]
    pic = layout(net, depth, names)
    if compact:
        pic = refine.compact(pic)
    ids = {key: f"n{i}" if box.output is None else f"out{box.output}" for i, (key, box) in enumerate(pic.boxes.items())}
    lines = refine.rows(pic, wrap) if rankdir == "LR" and wrap > 0 else [list(pic.boxes)]
    g = graphviz.Digraph(net.name, graph_attr={
        "rankdir": "TB" if len(lines) > 1 else rankdir, "ordering": "out", "nodesep": "0.25",
        "ranksep": "0.5" if len(lines) > 1 else "0.3",
        "fontname": "Helvetica", "label": _title(net.name, pic, colours), "labelloc": "t", "fontsize": "14",
        "bgcolor": "white", "pad": str(PAD), "margin": "0"},
        node_attr={"fontname": "Helvetica", "fontsize": "11", "style": "rounded,filled", "shape": "box",
                   "penwidth": "1", "color": colours["_line"], "fontcolor": colours["_text"], "height": "0.3",
                   "margin": "0.12,0.04"},
        edge_attr={"fontname": "Helvetica", "fontsize": "9", "color": colours["_line"], "arrowsize": "0.6",
                   "fontcolor": "#333333"})
    for key, box in pic.boxes.items():
        g.node(ids[key], box.text(params, names), **_node_attrs(key, box, colours))
    row_of = {key: i for i, row in enumerate(lines) for key in row}
    if len(lines) > 1:  # each row one rank, its boxes left to right; each row starts under the one before
        for row in lines:
            g.body.append("{rank=same; " + " ".join(ids[k] for k in row) + "}\n")
        for above, below in zip(lines, lines[1:], strict=False):
            g.edge(ids[above[0]], ids[below[0]], style="invis", weight="10")
    labelled = range(len(pic.edges)) if shapes == "all" else refine.changed_shapes(pic) if shapes == "changes" else ()
    for i, (src, dst, shape) in enumerate(pic.edges):
        crossing = {"constraint": "false"} if row_of.get(src, 0) != row_of.get(dst, 0) else {}
        g.edge(ids[src], ids[dst], label=f" {shape}" if i in labelled else None, **crossing)
    return g.source


def _node_attrs(key: tuple[str, ...], box: Box, colours: dict) -> dict[str, str]:
    """A box's Graphviz attributes: its family's fill, merges round, the input and outputs square-cornered,
    outputs with a double border, blocks with a heavier one."""
    attrs = {"fillcolor": colours[box.family], "tooltip": ".".join(key) if box.output is None else box.label}
    if box.family is Family.MERGE:
        attrs.update(shape="circle" if len(box.label) <= 2 else "ellipse", style="filled", width="0.3",
                     margin="0.02")
    elif box.family is Family.IO:
        attrs.update(shape="box", style="filled")
        if box.output is not None:
            attrs["peripheries"] = "2"
    if box.family is Family.BLOCK:
        attrs["penwidth"] = "1.5"
    return attrs


def _title(name: str, pic: Picture, colours: dict) -> str:
    """The graph's label: the network's name over a legend of the op families it uses, four
    to a row (as a label it takes no rank, so the layers keep their spacing)."""
    families = [f for f in Family if any(b.family is f for b in pic.boxes.values())]
    swatches = [f'<TD BGCOLOR="{colours[f]}" BORDER="1" WIDTH="16" HEIGHT="12"></TD>'
                f'<TD ALIGN="LEFT"><FONT POINT-SIZE="9">{f.legend}</FONT></TD>' for f in families]
    rows = "".join("<TR>" + "".join(swatches[i:i + 4]) + "</TR>" for i in range(0, len(swatches), 4))
    return (f'<<TABLE BORDER="0" CELLSPACING="3" CELLPADDING="1"><TR><TD COLSPAN="8"><FONT POINT-SIZE="14">'
            f'{html.escape(name)}</FONT></TD></TR>{rows}</TABLE>>')
