"""The differential oracle's comparisons of what cnndsl draws and writes with torch, one function
per kind: receptive fields (`rf`), `diff` (`diff`), `draw --full` (`diagram`), ONNX export
(`onnx`) and `export --format py` (`python`); `CHECKS` lists every kind, these and those of
benchmarks/oracle_checks.py. How each comparison is made sound:

- rf: the field of every C×H×W layer, for its centre and corner output pixels, against the
  input pixels that change that output pixel when raised (benchmarks/oracle_torch.py `reached`,
  on a float64 copy with positive weights: gates such as squeeze-and-excitation reach the whole
  input). The static field is an interval of width `size` around `start + i * jump`; where it
  has fractional ends (pad=same with an even kernel, adaptive pooling, upsampling, which the
  analysis approximates: docs/analysis.md) either neighbouring pixel counts. An end beyond the
  input is not compared (the windows there read padding, and a field with gaps, as after a
  1x1/3 pool, then ends earlier); an output pixel no input pixel changes (softmax over one
  channel is constant) is not compared; only the first layer that differs is reported (the ones
  after it inherit the difference).
- diff: the program with one argument changed must name the changed layer, and only layers it
  reaches (its descendants) may differ.
- diagram: `draw --full`'s edges (its DOT, boxes by tooltip) equal the fx graph's data edges
  between layers with multiplicity; layers not drawn (identity, stochastic_depth) are the edge
  they pass on, as the diagram draws them. Edges into the graph's output are not compared.
- onnx: every output's declared ONNX shape = onnxruntime's = torch's = cnndsl's, and
  onnxruntime's values equal torch's; python: the exported file's model, given the compiled
  model's state_dict, gives the same outputs.
"""

from __future__ import annotations

import importlib.util
import math
import re
import sys
import tempfile
from collections import Counter
from pathlib import Path

import networkx as nx
import torch

import cnndsl
from benchmarks import oracle_checks
from benchmarks.oracle_checks import FILE, Case, Finding, checked, outputs_of
from benchmarks.oracle_programs import write
from benchmarks.oracle_torch import data_edges, passthroughs, positive, reached
from cnndsl.analysis import analyse
from cnndsl.cli.analysis import diff_text
from cnndsl.errors import CnnError
from cnndsl.ir import Ref

# ---- receptive fields --------------------------------------------------------------------


def _ends(field, index: int, n: int) -> tuple[set[int] | None, set[int] | None]:  # noqa: ANN001 (a costs.Field)
    """The input pixels the static field of output pixel `index` may start and end at (both
    neighbours of a fractional end); None for an end beyond the input (0..n-1), where windows
    may read padding, so the measured field may end anywhere inside."""
    centre = field.start + index * field.jump
    ends = []
    for v in (centre - (field.size - 1) / 2, centre + (field.size - 1) / 2):
        near = {math.floor(v + 1e-9), math.ceil(v - 1e-9)}
        ends.append(near if all(0 <= e <= n - 1 for e in near) else None)
    return ends[0], ends[1]


def rf(case: Case) -> list[Finding]:
    """Every C×H×W layer's receptive field equals the input pixels that reach it."""
    net = case.net
    if not case.runs or len(net.input_shape) != 3:
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
        for i, j in sorted({(h // 2, w // 2), (0, 0), (h - 1, w - 1)}):
            seen = hit[:, :, i, j]
            if not seen.any():
                continue
            for axis, index in enumerate((i, j)):
                along = seen.any(dim=1 - axis).nonzero().flatten()
                lows, highs = _ends(field[axis], index, net.input_shape[1 + axis])
                got = (along.min().item(), along.max().item())
                if lows is not None and got[0] not in lows or highs is not None and got[1] not in highs:
                    want = "..".join("/".join(map(str, sorted(e))) if e else "edge" for e in (lows, highs))
                    return [Finding(rf_kind(net, layer), f"{layer.qualname} ({layer.label}) pixel ({i}, {j}), "
                                          f"{'HW'[axis]} axis: cnndsl rows {want}, torch {got[0]}..{got[1]}")]
    return []


def rf_kind(net, layer) -> str:  # noqa: ANN001 (a Network and a Layer)
    """Which of the receptive-field differences this oracle found (and reported) explains a
    finding at `layer`, from it and the layers before it; `rf` for none of them."""
    ids = nx.ancestors(net.graph, layer.id) | {layer.id}
    seen = [ll for ll in net.layers() if ll.id in ids]
    if any(ll.attrs.get("mode") == "bilinear" for ll in seen):
        return "rf_bilinear"
    if any(ll.op == "permute" for ll in seen):
        return "rf_permute"
    if any(ll.op in ("linear", "layernorm") and len(ll.input_shapes[0]) == 3 for ll in seen):
        return "rf_last_axis"
    if any(ll.entry.merge and len({s[1:] for s in ll.input_shapes}) > 1 for ll in seen):
        return "rf_broadcast_merge"
    return "rf"


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
    names = _listed(diff_text(analyse(case.net), analyse(other), depth=1_000))
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


# ---- exported files ------------------------------------------------------------------------


def _close(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a.shape == b.shape and torch.allclose(a.double(), b.double(), rtol=1e-4, atol=1e-5, equal_nan=True)


def onnx(case: Case) -> list[Finding]:
    """Every output: ONNX's declared shape = onnxruntime's = torch's = cnndsl's; values equal."""
    if not case.runs:
        return []
    import onnx as onnx_lib
    import onnxruntime

    from cnndsl.pytorch.export import export

    net = case.net
    lowering = any(layer.attrs.get("pad") == "same" and layer.attrs.get("dilation", (1, 1)) != (1, 1) or
                   isinstance(layer.attrs.get("size"), tuple) and len(layer.input_shapes[0]) == 3 and
                   any(n % o for n, o in zip(layer.input_shapes[0][1:], layer.attrs["size"], strict=True))
                   for layer in net.layers())
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "net.onnx"
        torch.manual_seed(0)  # the export compiles its own model: the same seed gives it our weights
        try:
            export(net, "onnx", path)
            refused = None
        except CnnError as exc:  # its own check of onnxruntime against torch; compared again below
            refused = exc
            torch.manual_seed(0)
            export(net, "onnx", path, check_onnx=False)
        except Exception as exc:  # noqa: BLE001 (torch cannot export it)
            kind = "onnx_lowering" if lowering else "explicit_inplace" if shared_inplace(net) else "onnx"
            return [Finding(kind, f"export fails: {type(exc).__name__}: {exc}")]
        declared = [tuple(d.dim_value if d.HasField("dim_value") else d.dim_param for d in
                          o.type.tensor_type.shape.dim)[1:] for o in onnx_lib.load(str(path)).graph.output]
        x = case.example()
        ran = onnxruntime.InferenceSession(str(path)).run(None, {"x": x.numpy()})
    torch.manual_seed(0)
    ours = outputs_of(cnndsl.compile(net).eval(), x)
    if not len(declared) == len(ran) == len(ours) == len(net.outputs):
        return [Finding("onnx_outputs", f"{len(net.outputs)} outputs; ONNX declares {len(declared)}, "
                                        f"onnxruntime gives {len(ran)}")]
    found = []
    same = all(_close(torch.from_numpy(got), mine) for got, mine in zip(ran, ours, strict=True))
    if refused is not None and same and not found:
        found.append(Finding("onnx_check", f"export refuses ({refused.message}) though onnxruntime's outputs "
                                           "equal torch's within 1e-4 relative, 1e-5 absolute"))
    for k, (want, shape, got, mine) in enumerate(zip(net.output_shapes, declared, ran, ours, strict=True)):
        if tuple(got.shape[1:]) != want or tuple(mine.shape[1:]) != want:
            found.append(Finding("onnx_lowering" if lowering else "onnx", f"output {k}: cnndsl {want}, "
                                 f"onnxruntime {tuple(got.shape[1:])}, torch {tuple(mine.shape[1:])}"))
        elif shape != want:
            found.append(Finding("onnx_shape", f"output {k}: ONNX declares {shape}, torch and cnndsl {want}"))
        elif not _close(torch.from_numpy(got), mine):
            kind = "onnx_lowering" if lowering else "explicit_inplace" if shared_inplace(net) else "onnx"
            found.append(Finding(kind, f"output {k}: onnxruntime's values differ from torch's by "
                                       f"{(torch.from_numpy(got) - mine).abs().max().item():.2g}"))
    return found


def shared_inplace(net) -> list[str]:  # noqa: ANN001 (a Network)
    """Layers written `inplace=true` whose input another layer (or the network's output) also
    reads: torch overwrites the tensor the other reader gets, ONNX does not."""
    readers = Counter((n, p) for layer in net.layers() for n, p in layer.inputs)
    readers.update((ref.layer.id, ref.port) for ref in net.outputs)
    return [layer.qualname for layer in net.layers() if layer.attrs.get("inplace") is True
            and layer.inputs and (readers[layer.inputs[0]] > 1 or not layer.inputs[0][0])]


def python(case: Case) -> list[Finding]:
    """`export --format py` gives a model that, with the compiled state_dict, computes the same."""
    if not case.runs:
        return []
    from cnndsl.pytorch.export import export

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "exported_net.py"
        try:
            export(case.net, "py", path)
            spec = importlib.util.spec_from_file_location("exported_net", path)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            exported = getattr(module, type(case.model).__name__)().eval()
            exported.load_state_dict(case.model.state_dict())
            x = case.example()
            theirs = outputs_of(exported, x)
        except Exception as exc:  # noqa: BLE001
            kind = ("python_parameter" if "Unexpected key" in str(exc) else
                    "python_constructor" if isinstance(exc, (NameError, SyntaxError)) else "python")
            return [Finding(kind, f"the exported file fails: {type(exc).__name__}: {str(exc)[:300]}")]
        finally:
            sys.modules.pop("exported_net", None)
    ours = outputs_of(case.model, x)
    if len(theirs) == len(ours) and all(_close(a, b) for a, b in zip(theirs, ours, strict=True)):
        return []
    lost = constructor_differences(case.model, exported)
    if lost:
        return [Finding("python_constructor", "the exported file builds its layers differently: " + "; ".join(lost))]
    kind = "explicit_inplace" if shared_inplace(case.net) else "python"
    return [Finding(kind, "the exported model's outputs differ from the compiled model's")]


def constructor_differences(model: torch.nn.Module, exported: torch.nn.Module) -> list[str]:
    """Module settings (not tensors) that differ between two models with the same module tree."""
    found = []
    for name, module in model.named_modules():
        other = exported.get_submodule(name)
        mine, theirs = ({k: v for k, v in vars(m).items() if not k.startswith("_") and not torch.is_tensor(v)}
                        for m in (module, other))
        found += [f"{name}.{k}: {mine.get(k)!r} -> {theirs.get(k)!r}" for k in sorted(set(mine) | set(theirs))
                  if mine.get(k) != theirs.get(k)]
    return found


CHECKS = {"accept": oracle_checks.accept, "inputs": oracle_checks.inputs, "shape": oracle_checks.shape,
          "params": oracle_checks.params, "macs": oracle_checks.macs, "rf": rf, "diff": diff,
          "diagram": diagram, "onnx": onnx, "python": python}
