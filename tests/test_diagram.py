"""Diagrams: valid SVG, node and edge counts that match the graph at each level, folding of
repeated calls, every layer exactly once in the full view, determinism, and clean failures."""

from __future__ import annotations

import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

import cnndsl
from cnndsl.ops import REGISTRY
from cnndsl.render.diagram import layout, to_dot
from cnndsl.render.figure import render
from tests.conftest import ARCH, ROOT

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
    # an edge per tensor read, identity shortcuts drawn as the edges they are
    assert len(pic.edges) == sum(len(layer.inputs) for layer in drawn_layers(net) if layer.inputs)


def test_default_level_is_one_box_per_top_level_call_and_folds_repeats():
    net = cnndsl.check(ARCH / "resnet.cnn", net="ResNet18")
    labels = [b.text(False) for b in layout(net, 1).boxes.values()]
    assert "residual(64) ×2" in labels and "residual(128)" in labels
    top = [b.text(False) for b in layout(net, 0).boxes.values()]
    assert top[4:9] == ["maxpool 3x3/2", "resnet_block(64, 2, first_block=true)", "resnet_block(128, 2)",
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
    assert "label=concat" in dot and "fillcolor=\"#cfe2f3\"" in dot


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
    assert "#cfe2f3" not in dot and "48.1K params" in dot


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
    assert svg.lstrip().startswith("<?xml") and "conv 5x5, 6" in svg
