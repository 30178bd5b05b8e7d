"""The differential oracle's comparisons of what cnndsl reports and draws with torch, one
function per kind: receptive fields (`rf`), `cnndsl diff` (`diff`) and `draw --full`
(`diagram`). How each comparison is made sound:

- rf: the field of every output pixel of every C×H×W layer (its first and last input row and
  column, `Field.pixel`) equals the input pixels that change that output pixel when raised
  (benchmarks/oracle_probe.py `reached`, on a float64 copy with positive weights and norms made
  free of cancellations: the fields are structural; gates such as squeeze-and-excitation reach
  the whole input), exactly, and none where no input pixel changes the output pixel (softmax
  over one channel is constant, a dilated window over the empty rows of a strided transposed
  convolution reads nothing); only the first layer that differs is reported (the ones after it
  inherit the difference).
- diff: the program with one argument changed must name the changed layer, and only layers it
  reaches (its descendants) may differ.
- diagram: `draw --full`'s edges (its DOT, boxes by tooltip) equal the fx graph's data edges
  between layers with multiplicity; layers not drawn (identity, stochastic_depth) are the edge
  they pass on, as the diagram draws them. Edges into the graph's output are not compared.
"""

from __future__ import annotations

import re
from collections import Counter

import networkx as nx

import cnndsl
from benchmarks.oracle_checks import FILE, Case, checked
from benchmarks.oracle_known import Finding
from benchmarks.oracle_probe import positive, reached
from benchmarks.oracle_programs import write
from benchmarks.oracle_torch import data_edges, passthroughs
from cnndsl.analysis import analyse
from cnndsl.analysis.compare import compare
from cnndsl.cli.analysis import diff_text
from cnndsl.ir import Network, Ref

# ---- receptive fields --------------------------------------------------------------------


def rf(case: Case) -> list[Finding]:
    """Every C×H×W layer's receptive field equals the input pixels that reach it."""
    return field_differences(case.net) if case.runs else []


def field_differences(net: Network) -> list[Finding]:
    """The first pixel of the first C×H×W layer of `net` (a network torch runs) whose receptive
    field differs from the input pixels that reach it in the probe; none where all agree."""
    if len(net.input_shape) != 3:
        return []
    rows = {r.name: r for r in analyse(net).rows}
    layers = [layer for layer in net.layers() if len(layer.shape) == 3 and rows[layer.qualname].field is not None
              and layer.inputs]
    if not layers:
        return []
    hits = reached(positive(cnndsl.compile(net.with_outputs([Ref(layer) for layer in layers]))), net.input_shape)
    for layer, hit in zip(layers, hits, strict=True):
        field = rows[layer.qualname].field
        _, h, w = layer.shape
        for i in range(h):
            for j in range(w):
                seen = hit[:, :, i, j]
                got = tuple((along.min().item(), along.max().item()) if len(along) else None for along in
                            (seen.any(dim=1 - axis).nonzero().flatten() for axis in (0, 1)))
                want = field.pixel(i, j)
                if want != got:
                    cnndsl_rows, cnndsl_cols, torch_rows, torch_cols = (
                        "none" if s is None else f"{s[0]}..{s[1]}" for s in (*want, *got))
                    return [Finding("rf", f"{layer.qualname} ({layer.label}) pixel ({i}, {j}): cnndsl rows, "
                                    f"columns {cnndsl_rows}, {cnndsl_cols}, torch {torch_rows}, {torch_cols}")]
    return []


# ---- diff --------------------------------------------------------------------------------


def _listed(text: str) -> list[str]:
    """The layers a diff names (its rows between the header and the totals)."""
    return [line.split()[0] for line in text.splitlines()[2:] if line.startswith("  ") and
            not line.strip().startswith(("total", "activation memory", "(no layer differs)"))]


def diff(case: Case) -> list[Finding]:
    """`diff` against the program with one argument changed names that layer, and no layer
    the change cannot reach."""
    if case.net is None or case.program.change is None:
        return []
    item, name, value = case.program.change
    other, _, _ = checked(write(case.program, changed=True).source)
    if other is None:
        return []
    line, col = case.text.where(item)
    layer = next(ll for ll in case.net.layers() if (ll.span.line, ll.span.col) == (line, col) and ll.span.file == FILE)
    names = _listed(diff_text(compare(case.net, other, depth=1_000)))
    found = []
    if layer.qualname not in names:
        changed = other.layer(layer.qualname)
        same = (layer.shapes, layer.params, layer.label) == (changed.shapes, changed.params, changed.label)
        found.append(Finding("diff_attrs" if same else "diff",
                             f"{name}={value!r} at {line}:{col}: diff does not name {layer.qualname} "
                             f"({layer.label} -> {changed.label})"))
    reach = nx.descendants(case.net.graph, layer.id) | {layer.id}
    unreached = [n for n in names if n in {ll.qualname for ll in case.net.layers() if ll.id not in reach}]
    if unreached:
        found.append(Finding("diff", f"{name}={value!r} at {line}:{col} changes {layer.qualname}; diff also names "
                                     f"{', '.join(unreached)}, which it does not reach"))
    return found


# ---- diagram -----------------------------------------------------------------------------

NODE = re.compile(r'^\s*(n\d+) \[.*\btooltip=(?:"([^"]*)"|([^\s\]]+))')
EDGE = re.compile(r"^\s*(n\d+) -> (n\d+)")


def drawn_edges(dot: str) -> Counter:
    """The edges of a DOT diagram between boxes, named by their tooltips (layer names)."""
    boxes = {m[1]: m[2] or m[3] for line in dot.splitlines() if (m := NODE.match(line))}
    return Counter((boxes[m[1]], boxes[m[2]]) for line in dot.splitlines() if (m := EDGE.match(line))
                   and m[1] in boxes and m[2] in boxes)


def diagram(case: Case) -> list[Finding]:
    """`draw --full`'s edges equal the fx graph's data edges, with multiplicity."""
    if case.net is None:
        return []
    from cnndsl.render.diagram import to_dot

    drawn = drawn_edges(to_dot(case.net, depth=None))
    traced = Counter(data_edges(case.net, case.tensors_model))
    if drawn == traced:
        return []
    missing, extra = traced - drawn, drawn - traced
    passed = passed_through(drawn, passthroughs(case.net, case.tensors_model))
    kind = ("diagram_multiedges" if set(drawn) == set(traced) or set(passed) == set(traced) and passed != traced
            else "diagram_one_input_merge" if passed == traced else "diagram")
    return [Finding(kind, f"draw --full lacks {dict(missing)} and adds {dict(extra)}")]


def passed_through(edges: Counter, one: set[str]) -> Counter:
    """The edges with the boxes of layers that compute nothing in the compiled graph (`one`:
    an add or mul of one tensor) made the edge they pass on."""
    into = {b: a for a, b in edges if b in one}

    def source(box: str) -> str:
        return source(into[box]) if box in into else box
    passed: Counter = Counter()
    for (a, b), n in edges.items():
        if b not in one:
            passed[source(a), b] += n
    return passed
