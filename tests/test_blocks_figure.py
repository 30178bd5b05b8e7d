"""Block figures (`cnndsl draw --style blocks`): one box per layer or folded block with its size computed
from the network's shapes, skip arrows for merges, `×N` for folded repeats, a standalone document that
pdflatex compiles (when installed), and clean failures."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from itertools import groupby
from pathlib import Path

import pytest

import cnndsl
from cnndsl.ops import Family
from cnndsl.render.latex import draw_blocks
from cnndsl.render.tikz import to_tikz
from tests.conftest import ARCH, ROOT, check_body

needs_latex = pytest.mark.skipif(shutil.which("pdflatex") is None,
                                 reason="needs pdflatex (`make` installs TeX when run as root)")
HEAVY = (Family.IO, Family.CONV, Family.POOL, Family.FC)  # layers that keep their own box; the rest fold or pass


def sizes(shape: tuple[int, ...]) -> str:
    """A tensor's size as the figure captions it, in LaTeX: `64@112$\\times$112`, `4096`."""
    return f"{shape[0]}@{shape[1]}$\\times${shape[2]}" if len(shape) == 3 else str(shape[0])


def captions(tex: str) -> list[str]:
    """The bold first line of each box's caption, in drawing order."""
    return re.findall(r"\\node\[caption\] at \([^)]*\) \{\\textbf\{(.*?)\}", tex)


def test_alexnet_has_a_box_per_heavy_layer_captioned_with_its_output_size():
    net = cnndsl.check(ARCH / "alexnet.cnn", net="AlexNet")
    tex = to_tikz(net)
    heavy = [layer for layer in net.layers() if layer.entry.family in HEAVY]
    assert captions(tex) == [sizes(layer.shape) for layer in heavy]
    assert tex.count(r"\node[caption]") == len(heavy)
    # each convolution's relu is a band of its box, named in the caption
    conv = next(layer for layer in heavy if layer.entry.family is Family.CONV)
    assert re.search(re.escape(conv.label.replace("x", "$\\times$")) + r".*\$\\cdot\$ relu", tex.replace(r"\\ ", " "))
    for family in {*(layer.entry.family for layer in heavy), Family.ACT}:  # the legend names the families drawn
        assert "{" + ("input" if family is Family.IO else family.legend) + "}" in tex
    assert "{" + Family.NORM.legend + "}" not in tex


def test_vgg16_folds_repeated_block_calls_with_a_count():
    net = cnndsl.check(ARCH / "vgg.cnn", net="vgg16")
    top = [block for path, block in net.blocks.items() if len(path) == 1]
    runs = [(call, len(list(group))) for call, group in groupby(block.call for block in top)]
    tex = to_tikz(net)
    last_of_call = {}
    for layer in net.layers():  # the output of each top-level call is the last layer inside it
        if layer.block_path:
            last_of_call[layer.path[0]] = layer.shape
    outputs = [shape for _, shape in last_of_call.items()]
    ends, i = [], 0
    for _, count in runs:
        i += count
        ends.append(outputs[i - 1])
    assert captions(tex) == [sizes(net.input_shape), *(sizes(s) for s in ends)]
    assert any(count > 1 for _, count in runs)
    lines = tex.replace("\\\\ ", " ")  # the captions as one line each
    for call, count in runs:
        assert call.replace("_", "\\_") + (f" $\\times${count}" if count > 1 else "") + "}" in lines


@pytest.mark.parametrize("file,name,depth,merge", [("resnet.cnn", "resnet18", 2, "add"),
                                                    ("unet.cnn", "UNet", 0, "concat")])
def test_every_merge_gets_one_skip_arrow(file, name, depth, merge):
    net = cnndsl.check(ARCH / file, net=name)
    tex = to_tikz(net, depth)
    merges = [layer for layer in net.layers() if layer.op == merge and len(layer.inputs) == 2]
    # ResNet's downsampling shortcut (a 1x1 convolution) is a box after the residual branch: the arrow into it
    # skips the branch, and the branch's arrow skips it
    shortcuts = {layer.block_path for layer in net.layers() if layer.block_path and
                 net.blocks[layer.block_path].block == "shortcut" and layer.entry.family is Family.CONV}
    assert merges and tex.count(r"\draw[skip]") == len(merges) + len(shortcuts)
    assert tex.count(r"\node[merge") == len(merges)
    if merge == "concat":  # U-Net's copy-and-crop is the arrow, labelled with the crop
        assert tex.count("{center\\_crop}") == len(merges)
    # no skip arrows without merges
    assert r"\draw[skip]" not in to_tikz(cnndsl.check(ARCH / "alexnet.cnn", net="AlexNet"))


def test_labels_are_written_for_latex():
    tex = to_tikz(check_body("conv 3x3 8 pad=1, relu\nmaxpool 2x2\nflatten\nfc 10", input="3x8x8"))
    assert captions(tex) == ["3@8$\\times$8", "8@8$\\times$8", "8@4$\\times$4", "10"]  # flatten is an arrow
    assert "conv 3$\\times$3 8 pad=1 $\\cdot$ relu" in tex.replace("\\\\ ", " ")


@needs_latex
@pytest.mark.parametrize("name,file", [("AlexNet", "alexnet.cnn"), ("UNet", "unet.cnn")])
def test_pdf_and_png_compile(tmp_path: Path, name, file):
    net = cnndsl.check(ARCH / file, net=name)
    pdf = draw_blocks(net, tmp_path / "f.pdf")
    assert pdf.read_bytes().startswith(b"%PDF")
    if shutil.which("pdftoppm"):
        assert draw_blocks(net, tmp_path / "f.png").read_bytes().startswith(b"\x89PNG")
    tex = draw_blocks(net, tmp_path / "f.tex", depth=None).read_text()
    assert tex.startswith(r"\documentclass[border=2pt]{standalone}") and r"\usepackage{tikz}" in tex


def run(*args, cwd=ROOT, env=None):
    env = {**(env or os.environ), "PYTHONPATH": str(ROOT)}  # this checkout's cnndsl, from any folder
    return subprocess.run([sys.executable, "-m", "cnndsl.cli", *args], cwd=cwd, capture_output=True, text=True,
                          env=env)


def test_draw_command_writes_tex(tmp_path: Path):
    out = tmp_path / "vgg.tex"
    result = run("draw", "architectures/vgg.cnn", "--net", "vgg16", "--style", "blocks", "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert out.read_text() == to_tikz(cnndsl.check(ARCH / "vgg.cnn", net="vgg16"))


def test_unknown_format_for_blocks_is_refused(tmp_path: Path):
    result = run("draw", str(ARCH / "lenet.cnn"), "--net", "LeNet", "--style", "blocks", "-o", "x.svg", cwd=tmp_path)
    assert result.returncode == 1 and "unknown output format '.svg'" in result.stderr and ".tex" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_missing_pdflatex_is_one_clear_error_and_writes_nothing(tmp_path: Path):
    bare = tmp_path / "bin"  # a PATH with Python but no pdflatex
    bare.mkdir()
    (bare / "python").symlink_to(sys.executable)
    env = {**os.environ, "PATH": str(bare)}
    for fmt in ("pdf", "png"):
        result = run("draw", str(ARCH / "lenet.cnn"), "--net", "LeNet", "--style", "blocks", "-o", f"f.{fmt}",
                     cwd=tmp_path, env=env)
        assert result.returncode == 1 and "`pdflatex` is not installed" in result.stderr
        assert "apt-get install texlive-latex-base" in result.stderr and "Traceback" not in result.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["bin"]


def test_named_outputs_are_captioned_and_full_draws_every_heavy_layer():
    net = check_body("a = conv 3x3 8 pad=1, relu\nb = a -> maxpool 2x2\nc = a -> conv 1x1 4\noutput b\noutput c")
    tex = to_tikz(net, None).replace("\\\\ ", " ")
    assert "output b}" in tex and "output c}" in tex
    heavy = [layer for layer in net.layers() if layer.entry.family in HEAVY]
    assert captions(tex) == [sizes(layer.shape) for layer in heavy]
    # `a` feeds both outputs: its relu still folds into it (the conv feeds only the relu)
    assert tex.count(r"\draw[flow]") + tex.count(r"\draw[skip]") == 3


def test_flat_input_network():
    net = cnndsl.check_text("network M { input 784\n fc 128, relu\n fc 10 }", net="M")
    assert captions(to_tikz(net)) == ["784", "128", "10"]


@needs_latex
def test_a_paper_can_input_the_tex(tmp_path: Path):
    draw_blocks(cnndsl.check(ARCH / "vgg.cnn", net="vgg16"), tmp_path / "fig.tex")
    (tmp_path / "paper.tex").write_text("\\documentclass{article}\n\\usepackage{standalone}\n\\usepackage{tikz}\n"
                                        "\\begin{document}\n\\resizebox{\\textwidth}{!}{\\input{fig.tex}}\n"
                                        "\\end{document}\n")
    result = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "paper.tex"], cwd=tmp_path,
                            capture_output=True, text=True, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stdout[-2000:]
    assert (tmp_path / "paper.pdf").read_bytes().startswith(b"%PDF")


def test_layers_passed_through_label_every_arrow_and_parallel_arrows_stay_apart():
    """Reshaping layers (crops, pixel_shuffle) become labels of the arrows through them, straight arrows
    included, with room for the label; two arrows between the same neighbours run apart; the legend's
    white swatch is the input only (newcomer: unlabelled pixel_shuffle arrow, two crops drawn as one)."""
    net = cnndsl.check_text("network B { input 4x7x7\n a = center_crop 4x4\n b = center_crop 10x9\n"
                            " c = b -> center_crop 4x4\n add(a, c) -> conv 1x1 2\n}", net="B")
    tex = to_tikz(net)
    arrows = re.findall(r"\\draw\[flow\] \(([-\d.]+),([-\d.]+)\) --(?: node\[via\] \{(.*?)\})? \(", tex)
    labelled = sorted(label for *_, label in arrows if label)
    assert labelled == ["center\\_crop", "center\\_crop, center\\_crop, center\\_crop"], arrows
    assert len({(x, y) for x, y, label in arrows if label}) == 2  # not drawn over each other
    assert "{input}" in tex and "input, output" not in tex
    g = to_tikz(cnndsl.check_text("network G { input 100x1x1\n conv 3x3 48 pad=1, pixel_shuffle 4, tanh }"))
    assert re.search(r"\\draw\[flow\] [^;]* node\[via\] \{pixel\\_shuffle\}", g)


@pytest.mark.parametrize(("file", "name"), [("vgg.cnn", "vgg16"), ("resnet.cnn", "resnet18"), ("nin.cnn", "NiN")])
def test_captions_break_between_words_never_inside_a_call(file, name):
    """`vgg_block(1, 16)` stays on one caption line (a newcomer saw `vgg_block(1,` over `16)`)."""
    from cnndsl.render.blocks import slabs
    from cnndsl.render.placement import caption_lines

    order, _ = slabs(cnndsl.check(ARCH / file, net=name))
    calls = [slab for slab in order if "(" in slab.label]
    assert calls
    for slab in calls:
        lines = caption_lines(slab)[1:]
        assert all(line.count("(") == line.count(")") for line in lines), lines
        assert " ".join(lines).startswith(slab.label.split(" ×")[0])
