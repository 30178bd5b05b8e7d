"""`cnndsl draw` figures ready for print: tight bounding boxes, --compact, --shapes changes, LR rows,
named outputs, --names, source-style block labels, and a palette distinct in grey."""

import itertools
import json
import re
import shutil
import subprocess
import sys

import pytest

import cnndsl
from cnndsl.ops import Family
from cnndsl.render import refine
from cnndsl.render.diagram import PAD, THEMES, layout, to_dot
from cnndsl.render.figure import render
from cnndsl.render.palette import lightness
from tests.conftest import ARCH

needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")

TWO = """block basic(channels, k, pad=0) { conv k channels pad=pad, bn, relu }
network two {
    input 3x32x32
    t = conv 3x3 8 pad=1 as stem, bn, relu
    c = t -> basic(8, 1x7, pad=0x3) as mixer, conv 1x1 4, gap, flatten
    d = t -> maxpool 2x2/2
    output c
    output d
}
"""


def _labels(dot: str) -> dict[str, str]:
    """Node id -> label text in DOT source."""
    return {n: label.strip('"') for n, label in re.findall(r'^\s*(\w+) \[label=("[^"]*"|\S+)', dot, re.M)}


@pytest.mark.parametrize("theme", sorted(THEMES))
def test_palette_lightness_differs_pairwise_so_grey_prints_tell_families_apart(theme):
    fills = {f: THEMES[theme][f] for f in Family}
    levels = {f: lightness(c) for f, c in fills.items()}
    for (a, la), (b, lb) in itertools.combinations(levels.items(), 2):
        assert abs(la - lb) >= 4, (theme, a, b, la, lb)  # CIE L*: about the step a grey print keeps apart
    assert min(levels.values()) >= 50  # light enough for black text
    assert lightness("#000000") == 0 and round(lightness("#ffffff")) == 100


@needs_dot
@pytest.mark.parametrize("name", ["resnet18", "vgg16"])
def test_pdf_and_svg_hug_the_drawing(name):
    net = cnndsl.check(ARCH / ("resnet.cnn" if name.startswith("resnet") else "vgg.cnn"), net=name)
    source = to_dot(net)
    bb = [float(v) for v in json.loads(render(source, "json"))["bb"].split(",")]
    width, height = bb[2] - bb[0], bb[3] - bb[1]
    media = re.search(rb"/MediaBox \[\s*([\d.]+) ([\d.]+) ([\d.]+) ([\d.]+)", render(source, "pdf"))
    box = [float(v) for v in media.groups()]
    margin = 2 * PAD * 72  # points of pad on the two sides
    assert abs(box[2] - box[0] - width - margin) <= 2 and abs(box[3] - box[1] - height - margin) <= 2
    view = re.search(r'viewBox="([\d.]+) ([\d.]+) ([\d.]+) ([\d.]+)"', render(source, "svg").decode())
    assert abs(float(view.group(3)) - width - margin) <= 2 and abs(float(view.group(4)) - height - margin) <= 2


def test_compact_folds_norms_and_activations_into_the_layer_before_them():
    net = cnndsl.check(ARCH / "resnet.cnn", net="resnet18")
    full = layout(net, None)
    pic = refine.compact(layout(net, None))
    assert not [b for b in pic.boxes.values() if b.family is Family.NORM]
    # the activations left are those after a merge (a relu after `add` is not folded into the circle)
    after_merge = sum(1 for s in net.walk() if s.layer.op == "relu" and s.inputs[0].layer.op == "add")
    assert sum(b.family is Family.ACT for b in pic.boxes.values()) == after_merge
    assert len(pic.boxes) == len(full.boxes) - sum(len(b.folded) for b in pic.boxes.values())
    dot = to_dot(net, None, compact=True)
    # labels as papers print them: no bias=false (the bn after it says so), no inplace or eps
    assert "conv 7x7/2 64 pad=3 · bn · relu" in dot and "bias=false" not in dot
    assert "conv 7x7/2 64 pad=3 bias=false" in to_dot(net, None)  # the full graph keeps every argument
    tuned = cnndsl.check_text("network N {\n    input 3x8x8\n    conv 3x3 4 bias=false, bn eps=0.001 momentum=0.5\n"
                              "    relu inplace=true, conv 1x1 2 stride=2\n}\n")
    assert "conv 3x3 4 · bn · relu" in to_dot(tuned, None, compact=True)
    assert "conv 1x1/2 2" in to_dot(tuned, None, compact=True)  # a stride changes the architecture: kept
    assert sum(b.params for b in pic.boxes.values()) == sum(b.params for b in full.boxes.values())


def test_shapes_changes_labels_only_edges_whose_shape_a_layer_changed():
    net = cnndsl.check(ARCH / "resnet.cnn", net="resnet18")
    changed = to_dot(net, None, shapes="changes")
    every = to_dot(net, None, shapes="all")
    by_id = {v: k for k, v in _labels(changed).items()}
    labelled = re.findall(r"(\w+) -> \w+ \[label=", changed)
    assert 0 < len(labelled) < len(re.findall(r"(\w+) -> \w+ \[label=", every))
    # a bn keeps the shape: no edge out of one is labelled; a strided conv changes it: every edge out of one is
    assert not [n for n in labelled if _labels(changed)[n] == "bn"]
    strided = {by_id[label] for label in by_id if re.match(r"conv \d+x\d+/2", label)}
    assert strided and strided <= set(labelled)
    assert "label=" not in to_dot(net, None, shapes="none").split("->", 1)[1]


@needs_dot
def test_lr_layouts_wrap_into_rows():
    net = cnndsl.check(ARCH / "lenet.cnn", net="LeNet")

    def aspect(wrap: int) -> float:
        svg = render(to_dot(net, None, "LR", wrap=wrap), "svg").decode()
        w, h = (float(v) for v in re.search(r'viewBox="[\d.]+ [\d.]+ ([\d.]+) ([\d.]+)"', svg).groups())
        return w / h

    strip, wrapped = aspect(0), aspect(6)
    assert strip > 8 and wrapped < strip / 2, (strip, wrapped)


def test_lr_rows_are_evened_out_not_a_lone_box_on_the_last_row():
    from cnndsl.render.diagram import layout
    from cnndsl.render.refine import rows

    pic = layout(cnndsl.check(ARCH / "vgg.cnn", net="vgg16"), 0)  # input, 5 boxes, output: 7 ranks in a chain
    assert len(pic.boxes) == 7
    assert [len(row) for row in rows(pic, 6)] == [4, 3]
    assert [len(row) for row in rows(pic, 7)] == [7] and [len(row) for row in rows(pic, 3)] == [3, 2, 2]


def test_outputs_are_marked_and_named_and_names_shown_on_request():
    net = cnndsl.check_text(TWO)
    plain, named = to_dot(net), to_dot(net, compact=True, names=True)
    outs = re.findall(r'(out\d) \[label="([^"]*)"[^\]]*peripheries=2', plain)
    assert [label.split(":")[0] for _, label in outs] == ["output c", "output d"]
    assert " as stem" not in plain and " as mixer" not in plain
    labels = set(_labels(named).values())
    assert "conv 3x3 8 pad=1 as stem · bn · relu" in labels and "basic(8, 1x7, pad=0x3) as mixer" in labels
    assert not [label for label in labels if " as input" in label or re.search(r" as (conv|gap|flatten)\d", label)]


def test_block_labels_are_written_as_the_source_writes_them():
    assert "basic(8, 1x7, pad=0x3)" in to_dot(cnndsl.check_text(TWO))
    assert "(1, 7)" not in to_dot(cnndsl.check_text(TWO))


def test_cli_draw_print_options(tmp_path):
    out = tmp_path / "two.dot"
    src = tmp_path / "two.cnn"
    src.write_text(TWO)
    cmd = [sys.executable, "-m", "cnndsl.cli", "draw", str(src)]
    result = subprocess.run([*cmd, "-o", str(out), "--compact", "--names", "--shapes", "changes", "--rankdir", "LR",
                             "--wrap", "3"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "as stem · bn · relu" in out.read_text() and "rank=same" in out.read_text()
    bad = subprocess.run([*cmd, "-o", str(out), "--wrap", "-1"], capture_output=True, text=True)
    assert bad.returncode == 1 and "--wrap must be 0 (never) or more" in bad.stderr and "Traceback" not in bad.stderr
    no = subprocess.run([*cmd, "-o", str(out), "--no-shapes"], capture_output=True, text=True)
    assert no.returncode == 0 and "×" not in out.read_text().split("->", 1)[1]


@pytest.mark.parametrize("style", ["graph", "blocks"])
def test_a_folder_given_as_the_output_is_refused_with_a_file_name_to_use(style, tmp_path, capsys):
    from cnndsl.cli.main import main

    code = main(["draw", str(ARCH / "lenet.cnn"), "--net", "LeNet", "-o", str(tmp_path), "--style", style])
    err = capsys.readouterr().err
    assert code == 1 and f"'{tmp_path}' is a folder: -o takes the figure's file name" in err, err
    assert list(tmp_path.iterdir()) == []


def test_an_output_without_extension_says_so(tmp_path, capsys):
    from cnndsl.cli.main import main

    code = main(["draw", str(ARCH / "lenet.cnn"), "--net", "LeNet", "-o", str(tmp_path / "v")])
    err = capsys.readouterr().err
    assert code == 1 and "has no extension: it names the figure's format" in err and not (tmp_path / "v").exists()


def test_names_keep_differently_named_calls_apart():
    """A folded box shows one name: `as stage_1` and `as a-b` (a newcomer's report) are two boxes with
    --names, one `×2` box without."""
    net = cnndsl.check_text('block my_blk(c) { conv 3x3 c pad=1, relu }\nnetwork N {\n    input 3x8x8\n'
                            '    my_blk(8) as "stage_1"\n    my_blk(8) as "a-b"\n}\n')
    named = to_dot(net, names=True)
    assert "my_blk(8) as stage_1" in named and "my_blk(8) as a-b" in named and "×2" not in named
    assert "my_blk(8) ×2" in to_dot(net)


def test_lr_rows_keep_a_residual_block_on_one_row():
    """A cut is made only where no skip spans it: both ends of every edge that skips ranks sit on one
    row, and a row runs past --wrap where a block is longer (a newcomer's tangled LR residual net)."""
    from cnndsl.render.diagram import layout
    from cnndsl.render.refine import rows

    net = cnndsl.check_text("block res(c) {\n    add { conv 3x3 c pad=1, bn, relu, conv 3x3 c pad=1, bn | identity }\n"
                            "    relu\n}\nnetwork MiniRes {\n    input 3x32x32\n    conv 3x3 16 pad=1, bn, relu\n"
                            "    res(16)\n    conv 3x3/2 32 pad=1, bn, relu\n    res(32)\n    gap, flatten, fc 10\n}\n")
    pic = layout(net, None)
    lines = rows(pic, 6)
    row_of = {key: i for i, line in enumerate(lines) for key in line}
    merges = [key for key, box in pic.boxes.items() if box.family is Family.MERGE]
    assert len(merges) == 2 and len(lines) > 1
    for merge in merges:  # the skip into each add comes from its own row
        assert all(row_of[src] == row_of[merge] for src, dst, _ in pic.edges if dst == merge)
