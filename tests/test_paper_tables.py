"""`summary --format latex|markdown`: stage tables laid out as the VGG and ResNet papers' Table 1,
checked against the zoo's networks (stage rows and repeat counts computed from the network here),
and compiled with pdflatex where it is installed."""

import shutil
import subprocess
import sys

import pytest

import cnndsl
from cnndsl.analysis import paper
from cnndsl.analysis.costs import analyse


def _net(name: str, file: str):
    return cnndsl.check(f"architectures/{file}.cnn", net=name)


def _conv_lines(net, path: tuple[str, ...]) -> list[str]:
    """The convolutions written directly in the block instance at `path` (nested blocks such as a
    shortcut left out), as the papers write them."""
    return [f"{layer.attrs['kernel'][0]}×{layer.attrs['kernel'][1]}, {layer.attrs['out']}"
            for layer in (s.layer for s in net.walk()) if layer.block_path == path and layer.op == "conv"]


def _top_blocks(net):
    return [b for path, b in net.blocks.items() if len(path) == 1]


def _last_shape(net, prefix: str) -> str:
    shapes = [s.layer.shape for s in net.walk() if s.layer.qualname.startswith(prefix + ".")]
    return "×".join(map(str, shapes[-1]))


@pytest.mark.parametrize("name", ["resnet18", "resnet50"])
def test_resnet_stages_are_bracketed_block_stacks_with_their_repeat_count(name):
    net = _net(name, "resnet")
    md = paper.markdown(analyse(net), depth=1)
    stages = _top_blocks(net)
    assert len(stages) == 4
    for stage in stages:
        count = len(stage.children)  # the residual blocks the stage calls
        lines = _conv_lines(net, stage.children[-1].path)  # the last block has no projection shortcut
        row = (f"| {stage.path[0]} | {_last_shape(net, stage.path[0])} | [{'; '.join(lines)}] ×{count} |")
        assert row in md, (row, md)
    assert "(" not in md  # no Python tuples, no block calls: the layers themselves


def test_depth_selects_how_far_blocks_are_opened():
    s = analyse(_net("resnet50", "resnet"))
    zero, one, every = (paper.stages(s, d) for d in (0, 1, None))
    assert [st.name for st in zero] == [st.name for st in one] == [st.name for st in every]
    first = next(i for i, st in enumerate(zero) if st.name == "resnet_stage1")
    # depth 0: the whole stage one stack of its main path (three bottlenecks, three convolutions each)
    assert len(zero[first].items) == 1 and len(zero[first].items[0].lines) == 9
    # depth 1: one stack of one bottleneck, three times
    assert one[first].items == [paper.Stack(one[first].items[0].lines, 3)]
    # every layer: plain lines, the projection shortcut's convolution included
    assert all(isinstance(i, str) for i in every[first].items) and len(every[first].items) == 10
    assert paper.latex(s, 0) != paper.latex(s, 1)


def test_vgg16_at_depth_0_is_the_papers_column():
    net = _net("vgg16", "vgg")
    md = paper.markdown(analyse(net), depth=0)
    blocks = [b for b in _top_blocks(net) if b.block == "vgg_block"]
    assert len(blocks) == 5
    for b in blocks:
        lines = [*_conv_lines(net, b.path), "2×2 maxpool"]
        assert f"| {b.path[0]} | {_last_shape(net, b.path[0])} | [{'; '.join(lines)}] |" in md


def test_latex_uses_times_everywhere():
    tex = paper.latex(analyse(_net("resnet50", "resnet")), 1)
    body = tex.split(r"\midrule")[1]
    assert r"\times3" in body and r"1$\times$1, 64" in body and r"7$\times$7, 64, stride 2" in body
    assert "x" not in body.replace(r"\mbox", "").replace("maxpool", "").replace("box", "")


def test_block_calls_write_pairs_as_the_source_does():
    net = cnndsl.check_text("block basic(channels, k, pad=0) { conv k channels pad=pad, relu }\n"
                            "network n { input 3x32x32\n basic(8, 1x7, pad=0x3) }")
    assert net.blocks[("basic1",)].call == "basic(8, 1x7, pad=0x3)"


def test_cli_markdown_is_the_stage_table_and_markdown_layers_the_old_one():
    def run(*args):
        return subprocess.run([sys.executable, "-m", "cnndsl.cli", "summary", "architectures/resnet.cnn", "--net",
                               "resnet50", *args], capture_output=True, text=True, check=True).stdout
    assert "[1×1, 64; 3×3, 64; 1×1, 256] ×3" in run("--format", "markdown")
    assert "| resnet_stage1.bottleneck1 |" in run("--format", "markdown-layers", "--depth", "1")


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex is not installed")
@pytest.mark.parametrize(("name", "file", "depth"), [("resnet18", "resnet", 1), ("resnet50", "resnet", 0),
                                                      ("resnet50", "resnet", 1), ("vgg16", "vgg", 1)])
def test_the_latex_table_compiles(tmp_path, name, file, depth):
    table = paper.latex(analyse(_net(name, file)), depth)
    (tmp_path / "t.tex").write_text("\\documentclass{article}\n\\usepackage{booktabs}\n\\begin{document}\n"
                                    f"{table}\n\\end{{document}}\n")
    result = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "t.tex"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-3000:]
    assert (tmp_path / "t.pdf").stat().st_size > 1000
    assert "Overfull" not in result.stdout or depth == 0  # depth 1 fits the page


GENERATOR = """network G {
    input 100x1x1
    conv_transpose 4x4 256, bn, relu
    conv 3x3 48 pad=1, pixel_shuffle 4, tanh
}
network Two {
    input 3x16x16
    a = conv 3x3 4 pad=1, relu
    b = a -> conv 1x1 4, sigmoid
    c = a -> center_crop 8x8
    output b
    output c
}
"""


@pytest.mark.parametrize("name", ["G", "Two"])
def test_a_stage_shows_its_own_output_size_and_shape_changes_get_rows(name, tmp_path):
    """A silent layer joins the row before it only when it reads that row's layer and keeps its shape;
    pixel_shuffle, center_crop of another branch and concat are rows of their own (newcomer: the
    U-Net's conv_transpose row showed the concat's 1024 channels, a conv row a crop's size)."""
    spec = tmp_path / "g.cnn"
    spec.write_text(GENERATOR, encoding="utf-8")
    net = cnndsl.check(str(spec), net=name)
    shapes = {s.layer.qualname: "×".join(map(str, s.layer.shape)) for s in net.walk()}
    for stage in paper.stages(analyse(net)):
        assert "×".join(map(str, stage.shape)) == shapes[stage.name], (stage, shapes)
    rows = {stage.name: stage for stage in paper.stages(analyse(net))}
    if name == "G":
        assert rows["pixel_shuffle1"].items == ["pixel_shuffle 4"]
    else:
        assert rows["center_crop1"].items == ["center_crop 8×8"] and "conv2" in rows


def test_the_unets_up_convolution_rows_show_their_own_channels():
    net = _net("UNet", "unet")
    ups = [s.layer for s in net.walk() if s.layer.op == "conv_transpose"]
    rows = {stage.name: stage for stage in paper.stages(analyse(net))}
    assert ups and all(rows[u.qualname].shape == u.shape for u in ups)
    assert any(stage.items == ["concat"] for stage in rows.values())
    assert all(f"2×2 up-conv, {u.attrs['out']}, stride 2" in rows[u.qualname].items for u in ups)
