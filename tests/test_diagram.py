"""Diagrams: valid SVG, node and edge counts that match the graph at each level, folding of
repeated calls, every layer exactly once in the full view, edges that are the compiled model's
data edges, named outputs, determinism, and clean failures."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

import pytest

import cnndsl
from cnndsl.ops import REGISTRY, Family, dims
from cnndsl.render.diagram import THEMES, layout, to_dot
from cnndsl.render.figure import render
from tests.conftest import ARCH, ROOT, check_body

needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is installed by `make`")
SVG = "{http://www.w3.org/2000/svg}"


def svg_counts(svg: bytes) -> tuple[int, int]:
    root = ET.fromstring(svg)
    groups = [g.get("class") for g in root.iter(f"{SVG}g")]
    return groups.count("node"), groups.count("edge")


def drawn_layers(net) -> list:
    return [layer for layer in net.layers() if REGISTRY[layer.op].drawn]


@needs_dot
@pytest.mark.parametrize("name,file", [("ResNet18", "resnet.cnn"), ("googlenet", "googlenet.cnn"),
                                       ("DenseNet", "densenet.cnn"), ("VGG11", "vgg.cnn")])
def test_svg_counts_match_the_graph_at_every_level(name, file):
    net = cnndsl.check(ARCH / file, net=name)
    for depth in (0, 1, 2, None):
        pic = layout(net, depth)
        nodes, edges = svg_counts(render(to_dot(net, depth), "svg"))
        assert nodes == len(pic.boxes)
        assert edges == len(pic.edges)


def test_full_view_draws_every_layer_exactly_once():
    net = cnndsl.check(ARCH / "densenet.cnn", net="densenet121")
    pic = layout(net, None)
    drawn = sorted(i for box in pic.boxes.values() for i in box.layers)
    assert drawn == sorted(layer.id for layer in drawn_layers(net))
    # an edge per tensor read and per output, identity shortcuts drawn as the edges they are
    assert len(pic.edges) == sum(len(layer.inputs) for layer in drawn_layers(net)) + len(net.outputs)


# ---- edges are data edges: as many as the compiled model's, at every level ----------------

TWICE = "x = conv 1x1 4\nconcat(x, x) -> conv 1x1 2"               # one tensor read twice
SPLIT = "(a, b, c) = split 3\nconcat(a, b) -> conv 1x1 2\noutput c\noutput a"  # several outputs of one layer
# the same with the conv an output too: SPLIT's concat and conv reach no output, and the compiled graph does not
# compute them (docs/language.md, "Unused layers") though diagrams draw every layer written
SPLIT_USED = SPLIT.replace("concat(a, b)", "d = concat(a, b)") + "\noutput d"


def dot_edges(dot: str) -> Counter:
    """(source, target) -> count of the DOT edges; a layer's node is named by its path (the
    tooltip), an output's by its id (`out0`)."""
    names = {m[1]: m[2] or m[3] for m in re.finditer(r'^\t(n\d+) \[label=.*? tooltip=(?:"([^"]*)"|([^ \]]+))',
                                                        dot, re.M)}
    return Counter((names.get(a, a), names.get(b, b)) for a, b in re.findall(r"^\t(\w+) -> (\w+)", dot, re.M))


def fx_edges(net) -> Counter:
    """(source, target) -> count of the data edges of the compiled torch.fx graph: each use of
    a tensor by a layer's node or by the graph's output, in layer paths (`out0` for output 0).
    Nodes that are no layer (a split's getitem) stand for the tensors they read; layers that
    diagrams draw as edges (identity) for the tensor they pass on."""
    from torch import fx

    drawn = {layer.qualname for layer in drawn_layers(net)}
    by_code = {layer.qualname.replace(".", "_"): layer.qualname for layer in net.layers()}
    by_code["x"] = next(layer.qualname for layer in net.layers() if not layer.inputs)

    def layer_of(node: fx.Node) -> str | None:
        name = node.target if node.op == "call_module" else by_code.get(node.name)
        return name if name in drawn else None

    def sources(args: object) -> list[str]:
        nodes: list[fx.Node] = []
        fx.node.map_arg(args, nodes.append)
        return [s for n in nodes if n.op != "get_attr"
                for s in ([layer_of(n)] if layer_of(n) else sources((n.args, n.kwargs)))]

    edges: Counter = Counter()
    for node in cnndsl.compile(net).graph.nodes:
        if node.op == "output":
            outs = node.args[0] if isinstance(node.args[0], tuple) else (node.args[0],)
            edges.update((s, f"out{i}") for i, out in enumerate(outs) for s in sources(out))
        elif node.op != "placeholder" and (target := layer_of(node)):
            edges.update((s, target) for s in sources((node.args, node.kwargs)))
    return edges


@pytest.mark.parametrize("net", [
    pytest.param(lambda: check_body(TWICE, "3x8x8"), id="tensor-read-twice"),
    pytest.param(lambda: check_body(SPLIT_USED, "6x4x4"), id="split-outputs"),
    pytest.param(lambda: check_body("add { identity | conv 3x3 3 pad=1 | identity }", "3x8x8"), id="identity"),
    pytest.param(lambda: check_body("add { relu }\nmul { conv 1x1 3 }\nconcat { relu }", "3x8x8"), id="one-branch"),
    pytest.param(lambda: cnndsl.check(ARCH / "googlenet.cnn", net="googlenet"), id="googlenet"),
    pytest.param(lambda: cnndsl.check(ARCH / "densenet.cnn", net="DenseNet"), id="densenet"),
])
def test_full_view_edges_are_the_compiled_graphs_data_edges(net):
    net = net()
    assert dot_edges(to_dot(net, None)) == fx_edges(net)


def test_parallel_edges_carry_each_tensors_shape():
    dot = to_dot(check_body(TWICE, "3x8x8"), None)
    assert dot.count('n1 -> n2 [label=" 4×8×8"]') == 2 and 'n2 -> n3 [label=" 8×8×8"]' in dot
    split = dot_edges(to_dot(check_body(SPLIT, "6x4x4"), None))
    assert split["split1", "concat1"] == 2 and split["split1", "out0"] == split["split1", "out1"] == 1


def test_outputs_are_marked_and_named_at_every_level():
    net = check_body(SPLIT, "6x4x4")
    for depth in (0, 1, None):
        outputs = [b for b in layout(net, depth).boxes.values() if b.output is not None]
        assert [b.label for b in outputs] == ["output c: 2x4x4", "output a: 2x4x4"]
    resnet = cnndsl.check(ARCH / "resnet.cnn", net="ResNet18")
    assert [b.label for b in layout(resnet, 0).boxes.values() if b.output is not None] == ["output 10"]


BLOCK = "block twice(c) {\n    x = conv 1x1 c\n    concat(x, x)\n}\n"


def test_folded_blocks_receive_each_tensor_once_and_pass_on_each_use():
    """A block call reading one tensor in two layers gets one edge; a layer reading a block's
    output twice gets two, at the default level and after folding repeated calls."""
    net = check_body("t = twice(2), twice(2)\nconcat(t, t)", "3x8x8", header=BLOCK)
    pic = layout(net, 0)
    boxes = {key: box.text(False) for key, box in pic.boxes.items()}
    edges = Counter((boxes[a], boxes[b]) for a, b, _ in pic.edges)
    assert edges == Counter({("input 3x8x8", "twice(2) ×2"): 1, ("twice(2) ×2", "concat"): 2,
                             ("concat", f"output {dims(net.output_shapes[0])}"): 1})


def test_default_level_is_one_box_per_top_level_call_and_folds_repeats():
    net = cnndsl.check(ARCH / "resnet.cnn", net="ResNet18")
    labels = [b.text(False) for b in layout(net, 1).boxes.values()]
    assert "residual(64) ×2" in labels and "residual(128)" in labels
    top = [b.text(False) for b in layout(net, 0).boxes.values()]
    assert top[4:9] == ["maxpool 3x3/2 pad=1", "resnet_block(64, 2, first_block=true)", "resnet_block(128, 2)",
                        "resnet_block(256, 2)", "resnet_block(512, 2)"]
    vgg = [b.text(False) for b in layout(cnndsl.check(ARCH / "vgg.cnn", net="vgg16"), 0).boxes.values()]
    assert vgg.count("vgg_block(3, 512, false) ×2") == 1


def test_resnet152_default_level_fits_a_page():
    pic = layout(cnndsl.check(ARCH / "resnet.cnn", net="resnet152"), 0)
    assert len(pic.boxes) <= 16


def test_branches_keep_their_order_and_shapes_label_edges():
    net = cnndsl.check(ARCH / "googlenet.cnn", net="GoogLeNet")
    dot = to_dot(net, None)
    assert "ordering=out" in dot and "label=\" 192×12×12\"" in dot
    assert "label=concat" in dot and f"fillcolor=\"{THEMES['color'][Family.CONV]}\"" in dot


@needs_dot
def test_output_is_deterministic(tmp_path: Path):
    outs = []
    for i in range(2):
        for ext in ("dot", "svg"):
            out = tmp_path / f"{i}.{ext}"
            cnndsl.draw(ARCH / "googlenet.cnn", out, net="googlenet", depth=1)
            outs.append(out.read_bytes())
    assert outs[0] == outs[2] and outs[1] == outs[3]


@needs_dot
def test_pdf_is_vector_with_text(tmp_path: Path):
    out = cnndsl.draw(ARCH / "lenet.cnn", tmp_path / "lenet.pdf", net="LeNet", full=True)
    data = Path(out).read_bytes()
    assert data.startswith(b"%PDF") and b"/Font" in data and b"/Image" not in data


def test_mono_theme_and_params():
    dot = to_dot(cnndsl.check(ARCH / "lenet.cnn", net="LeNet"), None, params=True, theme="mono")
    assert THEMES["color"][Family.CONV] not in dot and "48.1K params" in dot


def run(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "cnndsl.cli", *args], cwd=cwd, capture_output=True, text=True)


@needs_dot
def test_draw_command(tmp_path: Path):
    out = tmp_path / "r.svg"
    result = run("draw", "architectures/resnet.cnn", "--net", "resnet50", "-o", str(out), "--depth", "1",
                 "--rankdir", "LR", "--no-shapes", "--params")
    assert result.returncode == 0, result.stderr
    assert svg_counts(out.read_bytes())[0] > 10


@pytest.mark.parametrize("args,message", [
    (["-o", "missing/dir/x.svg"], "the directory 'missing/dir' does not exist"),
    (["-o", "x.gif"], "unknown output format '.gif'"),
    (["-o", "x.svg", "--theme", "neon"], "unknown theme 'neon'"),
    (["-o", "x.svg", "--depth", "-1"], "--depth must be 0 or more"),
])
def test_bad_draw_requests_leave_nothing_behind(tmp_path: Path, args, message):
    result = run("draw", str(ARCH / "lenet.cnn"), "--net", "LeNet", *args, cwd=tmp_path)
    assert result.returncode == 1 and message in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_unwritable_output_is_one_clear_line():
    result = run("draw", str(ARCH / "lenet.cnn"), "--net", "LeNet", "-o", "/proc/lenet.svg")
    assert result.returncode == 1 and "cannot write '/proc/lenet.svg'" in result.stderr


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path: Path, monkeypatch):
    import cnndsl.render.figure as figure

    out = tmp_path / "keep.dot"
    out.write_text("old")

    def fail(*_):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(figure.os, "replace", fail)
    with pytest.raises(cnndsl.CnnError, match="cannot write .*: no space left on device"):
        cnndsl.draw(ARCH / "lenet.cnn", out, net="LeNet")
    assert out.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["keep.dot"]


def test_errors_in_the_file_are_reported_as_by_check(tmp_path: Path):
    bad = tmp_path / "bad.cnn"
    bad.write_text("network A {\n    input 3x8x8\n    fc 3\n}\n")
    result = run("draw", str(bad), "-o", str(tmp_path / "a.svg"))
    assert result.returncode == 1 and f"{bad}:3:5: error: fc expects a flat input" in result.stderr
    assert not (tmp_path / "a.svg").exists()


@needs_dot
def test_jupyter_shows_the_diagram():
    svg = cnndsl.check(ARCH / "lenet.cnn", net="LeNet")._repr_svg_()
    assert svg.lstrip().startswith("<?xml") and "conv 5x5 6 pad=2" in svg
