"""Stage tables laid out as the papers' Table 1 (VGG, Simonyan and Zisserman 2015; ResNet, He et al.
2016): one row per item of the network body with its output size and its layers, a block's layers
in brackets with the repeat count (`[1×1, 64; 3×3, 64; 1×1, 256] ×3`), as LaTeX or Markdown.

`depth` says how far blocks are opened: a block nested at depth `depth` or deeper is one bracketed
stack of its main path; the blocks above it are opened into their parts. Batch norm, activations,
reshapes, merges and dropout are left out of the layer lists, as the papers leave them out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..ops import Family
from .costs import Row, Summary
from .units import human

# families the papers do not list (their params and MACs still count in the stage's totals)
SILENT = frozenset({Family.ACT, Family.NORM, Family.RESHAPE, Family.OTHER, Family.MERGE, Family.IO})


@dataclass(frozen=True)
class Stack:
    """A block drawn as the bracketed stack of its main path's layers, repeated `count` times."""

    lines: tuple[str, ...]
    count: int = 1


@dataclass
class Stage:
    """One row of the table: a layer or block call of the network body (the silent layers after it joined
    in), its output shape per sample, its layers (plain lines and stacks), params (a count) and MACs per
    sample."""

    name: str
    shape: tuple
    items: list[str | Stack] = field(default_factory=list)
    params: int = 0
    macs: int = 0


def times(shape: tuple) -> str:
    """A shape or kernel with the multiplication sign: `3×224×224`."""
    return "×".join(str(d) for d in shape)


def layer_text(r: Row, stride: bool = True) -> str | None:
    """A layer as the papers write it: `3×3, 64` for a convolution (`, groups 32` when grouped), `3×3
    maxpool` for a pooling window, `fc 1000`; any other layer as the source writes it. `stride` adds
    `, stride 2` where the layer strides. None for a family the tables leave out (`SILENT`)."""
    if r.family in SILENT:
        return None
    kernel, out = r.attrs.get("kernel"), r.attrs.get("out")
    if r.family is Family.CONV and kernel and out:  # a transposed one as U-Net's paper writes it: up-conv
        word = f" {r.paper_word}" if r.paper_word else ""
        groups = r.attrs.get("groups", 1)
        text = f"{times(kernel)}{word}, {out}" + (f", groups {groups}" if groups > 1 else "")
    elif r.family is Family.POOL and kernel:
        text = f"{times(kernel)} {r.op}"
    elif r.family is Family.FC and out:
        text = f"{r.op} {out}"
    else:
        text = re.sub(r"(?<=\d)x(?=\d)", "×", r.label)
    steps = r.attrs.get("stride")
    if stride and steps and any(s != 1 for s in steps):
        text += f", stride {steps[0] if len(set(steps)) == 1 else times(steps)}"
    return text


def main_path(rows: list[Row]) -> list[Row]:
    """The longest chain of layers through `rows` (a block's layers in topological order) ending at its last
    layer: the path the papers print, without the shortcut branch. Ties go to a merge's first input."""
    longest: dict[str, tuple[int, str | None]] = {}
    for r in rows:
        preds = [i for i in r.inputs if i in longest]
        best = max(preds, key=lambda i: longest[i][0], default=None)
        longest[r.name] = (1 + (longest[best][0] if best else 0), best)
    by_name = {r.name: r for r in rows}
    path, name = [], rows[-1].name
    while name is not None:
        path.append(by_name[name])
        name = longest[name][1]
    return path[::-1]


def _stack(rows: list[Row]) -> Stack:
    return Stack(tuple(t for r in main_path(rows) if (t := layer_text(r, stride=False)) is not None))


def _items(rows: list[Row], depth: int | None) -> list[str | Stack]:
    """A block's layers as lines and stacks: each block nested at `depth` or deeper (relative to the
    network body) is a stack; consecutive equal stacks fold into one with a count."""
    items: list[str | Stack] = []
    groups: dict[tuple[str, ...], list[Row]] = {}
    order: list[tuple[str, ...] | Row] = []
    for r in rows:
        path = tuple(r.name.split("."))
        if depth is None or len(path) - 1 <= depth:
            order.append(r)
            continue
        key = path[:depth + 1]
        if key not in groups:
            order.append(key)
        groups.setdefault(key, []).append(r)
    for entry in order:
        if isinstance(entry, Row):
            text = layer_text(entry)
            if text is not None:
                items.append(text)
            continue
        stack = _stack(groups[entry])
        if items and isinstance(items[-1], Stack) and items[-1].lines == stack.lines:
            items[-1] = Stack(stack.lines, items[-1].count + 1)
        elif stack.lines:
            items.append(stack)
    return items


def _joins(r: Row, rows: list[Row]) -> bool:
    """Whether a silent layer of the body joins the stage before it: it reads that stage's last layer and
    keeps its shape (batch norm, an activation, dropout), or it is a `flatten` (the papers' tables go from
    the last pool straight to the fc rows). A silent layer that changes the shape or reads another branch
    (a concat, pixel_shuffle, center_crop) is a row of its own, so that no row shows another's size."""
    if r.family not in SILENT or not rows or rows[-1].name not in r.inputs:
        return False
    return r.shape == rows[-1].shape or _flattens(r)


def stages(s: Summary, depth: int | None = 1) -> list[Stage]:
    """The network body as table rows: each layer or block call written in the body is a stage (the silent
    layers after a layer join it, see `_joins`); a block call's layers at `depth` (None: every layer a line).
    A stage's output size is its last layer's, before a joined `flatten`."""
    groups: list[tuple[str, bool, list[Row]]] = []
    for r in s.rows:
        path = r.name.split(".")
        if len(path) > 1:  # inside a block called in the body
            if not groups or groups[-1][0] != path[0]:
                groups.append((path[0], True, []))
        elif r.family is Family.IO and not r.inputs:
            continue
        elif not groups or not _joins(r, groups[-1][2]):
            groups.append((r.name, False, []))
        groups[-1][2].append(r)
    out: list[Stage] = []
    for name, is_block, rows in groups:
        if is_block:
            items = _items(rows, depth)
        else:
            items = [t for r in rows if (t := layer_text(r)) is not None] or [_source_text(rows[0])]
        shown = [r for r in rows if not _flattens(r)] or rows
        out.append(Stage(name, shown[-1].shape, items, sum(r.params for r in rows), sum(r.macs for r in rows)))
    return out


def _flattens(r: Row) -> bool:
    """A reshape to flat features (`flatten`): the tables go from the last pool straight to the fc rows."""
    return r.family is Family.RESHAPE and len(r.shape) == 1


def _source_text(r: Row) -> str:
    """A silent layer on a row of its own, as the source writes it (`pixel_shuffle 4`, `concat`)."""
    return re.sub(r"(?<=\d)x(?=\d)", "×", r.label)


SPACE = r"\addlinespace[3pt]"  # booktabs' space between rows, around a bracketed stack


def _tex(text: str) -> str:
    """Text for a LaTeX text-mode cell: special characters escaped, × as `$\\times$`."""
    for a, b in (("\\", r"\textbackslash{}"), ("&", r"\&"), ("%", r"\%"), ("_", r"\_"), ("#", r"\#"),
                 ("{", r"\{"), ("}", r"\}"), ("~", r"\textasciitilde{}"), ("^", r"\^{}"), ("$", r"\$")):
        text = text.replace(a, b)
    return text.replace("×", r"$\times$")


def _tex_item(item: str | Stack) -> str:
    if isinstance(item, str):
        return _tex(item)
    lines = r"\\ ".join(rf"\mbox{{{_tex(line)}}}" for line in item.lines)
    count = rf"\times{item.count}" if item.count > 1 else ""
    return rf"$\left[\begin{{array}}{{@{{}}l@{{}}}}{lines}\end{{array}}\right]{count}$"


def latex(s: Summary, depth: int | None = 1) -> str:
    """A booktabs table laid out as the VGG and ResNet papers' Table 1 (see `stages`): per stage its output
    size per sample, its layers (blocks as bracketed stacks with `$\\times$N`), params and MACs per sample
    (K/M/G = 10^3/10^6/10^9). Needs `\\usepackage{booktabs}`; nothing else."""
    body = []
    for st in stages(s, depth):
        cells = [_tex_item(i) for i in st.items] or [""]
        layers = cells[0] if len(cells) == 1 else r"\begin{tabular}[c]{@{}l@{}}" + r"\\ ".join(cells) + r"\end{tabular}"
        tall = any(isinstance(i, Stack) for i in st.items) or len(cells) > 1
        if tall and body and body[-1] != SPACE:  # room between a bracket and the rows around it
            body.append(SPACE)
        body.append(rf"{_tex(st.name)} & {_tex(times(st.shape))} & {layers} & {human(st.params)} & "
                    rf"{human(st.macs)} \\")
        if tall:
            body.append(SPACE)
    if body and body[-1] == SPACE:
        body.pop()
    return "\n".join([
        r"% cnndsl summary --format latex; needs \usepackage{booktabs}",
        r"\begin{table}[t]", r"\centering", r"\begin{tabular}{lllrr}", r"\toprule",
        r"stage & output size & layers & params & MACs \\", r"\midrule", *body, r"\midrule",
        rf"total & & & {human(s.params)} & {human(s.macs)} \\", r"\bottomrule", r"\end{tabular}",
        rf"\caption{{{_tex(s.network)}: input {_tex(times(s.input_shape))}; MACs per sample.}}",
        r"\end{table}", ""])


def _md_item(item: str | Stack) -> str:
    if isinstance(item, str):
        return item
    return "[" + "; ".join(item.lines) + "]" + (f" ×{item.count}" if item.count > 1 else "")


def markdown(s: Summary, depth: int | None = 1) -> str:
    """The `latex` table as Markdown: stacks written `[1×1, 64; 3×3, 64; 1×1, 256] ×3`, several items of a
    stage separated by `<br>`."""
    lines = ["| stage | output size | layers | params | MACs |", "|---|---|---|---:|---:|"]
    for st in stages(s, depth):
        layers = "<br>".join(_md_item(i) for i in st.items).replace("|", "\\|")
        lines.append(f"| {st.name} | {times(st.shape)} | {layers} | {human(st.params)} | {human(st.macs)} |")
    lines.append(f"| **total** | | | **{human(s.params)}** | **{human(s.macs)}** |")
    return "\n".join(lines) + f"\n\n{s.network}: input {times(s.input_shape)}; MACs per sample.\n"
