"""The language's semantics: LANGUAGE.md's examples as written, and each construct's meaning."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

import cnndsl
from tests.conftest import ROOT, check_body, error_of

LANGUAGE_MD = ROOT.parent / "shared" / "LANGUAGE.md"


def _fenced_blocks(text: str) -> list[str]:
    return re.findall(r"```\n(.*?)```", text, flags=re.S)


@pytest.mark.skipif(not LANGUAGE_MD.exists(), reason="../shared/LANGUAGE.md is beside checkouts, not packages")
def test_every_example_of_the_language_contract_works_as_written():
    blocks = _fenced_blocks(LANGUAGE_MD.read_text())
    definitions = [b for b in blocks if re.match(r"\s*(#|network|block)", b)]
    fragments = [b for b in blocks if b not in definitions and "->" in b]
    assert len(definitions) >= 3 and fragments
    everything = "\n".join(definitions)
    for name, _params in cnndsl.networks_in_text(everything).items():
        model = cnndsl.compile(cnndsl.check_text(everything, net=name))
        net = cnndsl.check_text(everything, net=name)
        out = model.eval()(torch.zeros(1, *net.input_shape))
        assert tuple(out.shape[1:]) == net.output_shapes[0]
    for fragment in fragments:  # statements: they need a network around them
        net = check_body(fragment, "1x64x64", header=everything)
        assert net.output_shapes == [(2, 64, 64)]
    # and the blocks of §5 are callable as the contract describes
    net = check_body("inception(64, (96, 128), (16, 32), 32)\nresidual(3, use_1x1conv=true, stride=2)\n"
                     "dense_block(2, 10)", "192x28x28", header=everything)
    assert net.stage_shapes == [(256, 28, 28), (3, 14, 14), (23, 14, 14)]


def test_inline_examples_of_the_contract():
    header = """
block mbconv(stride, c, expand=6) {
    let hidden = in_channels * expand
    conv 1x1 hidden, relu6
    conv 3x3/stride hidden pad=1 groups=hidden, relu6
    conv 1x1 c
}
block bottleneck_shortcut(c, stride=1) {
    if stride != 1 or in_channels != c * 4 { conv 1x1/stride (c * 4), bn } else { identity }
}
block dw(stride) { conv 3x3/stride (in_channels * 6) groups=in_channels pad=1 }
"""
    body = """
    conv 7x7/2 64 pad=3 as stem
    mbconv(2, 32)
    let k = 1
    conv (k * 2 + 1) 64 pad=1
    let stride = 2
    conv 3/stride 16
    bottleneck_shortcut(16, stride=2)
    dw(1)
    """
    net = check_body(body, "3x64x64", header)
    assert net.layer("stem").shape == (64, 32, 32)
    assert net.layer("mbconv1.conv2").attrs["groups"] == 64 * 6
    assert net.stage_shapes == [(64, 32, 32), (32, 16, 16), (64, 16, 16), (16, 7, 7), (64, 4, 4), (384, 4, 4)]


def test_comma_items_and_lines_are_the_same_flow_but_bind_differently():
    net = check_body("e1 = conv 3x3 8 pad=1, relu\nconv 1x1 4\nconcat(e1, e1)", "3x8x8")
    relu = net.layer("relu1")
    concat = net.layer("concat1")
    assert concat.inputs == ((relu.id, 0), (relu.id, 0))
    assert net.output_shapes == [(16, 8, 8)]


def test_named_statements_and_several_outputs():
    body = """
    e1 = conv 3x3 32 pad=1, relu
    e2 = maxpool 2x2/2, conv 3x3 64 pad=1, relu
    d1 = e2 -> upsample 2, conv 3x3 32 pad=1
    concat(e1, d1) -> conv 1x1 2 as head
    (a, b) = split 2
    output b
    output e2
    """
    net = check_body(body, "1x64x64")
    assert net.output_shapes == [(1, 64, 64), (64, 32, 32)]
    model = cnndsl.compile(net)
    b, e2 = model(torch.randn(2, 1, 64, 64))
    assert b.shape == (2, 1, 64, 64) and e2.shape == (2, 64, 32, 32)


def test_blocks_defaults_keywords_and_lexical_scope():
    header = "block b(c, mid=c // 2, act=true) {\n conv 1x1 mid\n if act { relu }\n conv 1x1 c\n}"
    net = check_body("b(8)\nb(6, act=false)\nb(4, 3)", "3x4x4", header)
    assert [layer.qualname for layer in net.layers()] == [
        "input", "b1.conv1", "b1.relu1", "b1.conv2", "b2.conv1", "b2.conv2", "b3.conv1", "b3.relu1", "b3.conv2"]
    assert net.layer("b1.conv1").shape == (4, 4, 4) and net.layer("b3.conv1").shape == (3, 4, 4)
    # a block does not see the caller's names
    exc = error_of("block b() { fc width }\nnetwork N(width=3) {\n input 5\n b()\n}\n")
    assert "undefined name 'width'" in exc.message


def test_values_and_builtins():
    body = """
    let t = ((1, 2), (3, 4))
    let total = sum((len(t), max(3, 7), min((5, 6)), abs(-2), int(2.7), round(2.5)))
    for (i, (a, b)) in enumerate(t) { fc (a * b + i) }
    for (x, y) in zip((1, 2), (10, 20)) { fc (x + y) }
    fc (total if not (1 > 2 or false) and 3 % 2 == 1 else 0)
    fc (2 ** 3 + 7 // 2 - int(6 / 3))
    """
    net = check_body(body, "5")
    total = sum((2, max(3, 7), min((5, 6)), abs(-2), int(2.7), round(2.5)))  # Python's meaning
    assert [s[0] for s in net.stage_shapes] == [1 * 2 + 0, 3 * 4 + 1, 11, 22, total, 2**3 + 7 // 2 - 2]


def test_repeat_if_else_chains():
    body = """
    repeat 3 { fc 4 }
    for i in range(3) {
        if i == 0 { relu }
        else if i == 1 { tanh }
        else { sigmoid }
    }
    repeat 0 { fc 100 }
    """
    net = check_body(body, "5")
    assert [layer.op for layer in net.layers()] == ["input", "fc", "fc", "fc", "relu", "tanh", "sigmoid"]


def test_parameters_input_override_and_net_selection(tmp_path: Path):
    path = tmp_path / "two.cnn"
    path.write_text("network A(c=4) {\n input 3x8x8\n conv 3x3 c\n}\nnetwork B {\n input 2\n fc 1\n}\n")
    assert cnndsl.check(path, net="A", c=6).output_shapes == [(6, 6, 6)]
    assert cnndsl.check(path, net="A", input="3x10x10").output_shapes == [(4, 8, 8)]
    assert cnndsl.networks(path) == {"A": {"c": "4"}, "B": {}}
    with pytest.raises(cnndsl.CnnError, match="several networks"):
        cnndsl.check(path)
    with pytest.raises(cnndsl.CnnError, match="no network 'C'"):
        cnndsl.check(path, net="C")


def test_imports_relative_library_diamond_and_cycles(tmp_path: Path):
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "common.cnn").write_text("block unit(c) { conv 3x3 c pad=1, relu }\n")
    (tmp_path / "a.cnn").write_text('import "lib/common.cnn"\nblock two(c) { unit(c), unit(c) }\n')
    (tmp_path / "main.cnn").write_text('import "a.cnn"\nimport "lib/common.cnn"\nimport "vgg.cnn"\n'
                                       "network M {\n input 3x16x16\n two(8)\n vgg_block(1, 4)\n}\n")
    net = cnndsl.check(tmp_path / "main.cnn")
    assert net.output_shapes == [(4, 8, 8)]
    assert cnndsl.networks(tmp_path / "main.cnn") == {"M": {}}  # imported networks are not its own
    (tmp_path / "x.cnn").write_text('import "y.cnn"\n')
    (tmp_path / "y.cnn").write_text('\n\nimport "x.cnn"\n')
    with pytest.raises(cnndsl.CnnError, match=r"import cycle: x.cnn -> y.cnn -> x.cnn") as info:
        cnndsl.check(tmp_path / "x.cnn")
    assert info.value.span.line == 3


def test_imports_refuse_special_files(tmp_path: Path):
    (tmp_path / "dev.cnn").symlink_to("/dev/zero")
    (tmp_path / "m.cnn").write_text('import "dev.cnn"\n')
    with pytest.raises(cnndsl.CnnError, match="leaves the directory|not a regular file"):
        cnndsl.check(tmp_path / "m.cnn")


def test_automatic_names_are_stable_and_skip_as_names():
    net = check_body("conv 1x1 4 as conv2\nconv 1x1 4\nconv 1x1 4", "3x4x4")
    assert [layer.name for layer in net.layers()][1:] == ["conv2", "conv1", "conv3"]
    model = cnndsl.compile(net)
    assert list(dict(model.named_children())) == ["conv2", "conv1", "conv3"]


def test_text_conveniences_crlf_tabs_bom_unicode_comments():
    text = "\ufeff# réseau — ü\r\nnetwork A {\r\n\tinput 3x8x8  # entrée\r\n\tconv 3x3 4\r\n}\r\n"
    assert cnndsl.check_text(text).output_shapes == [(4, 6, 6)]


def test_bn_picks_1d_or_2d_from_the_shape():
    model = cnndsl.compile(check_body("bn\nflatten\nbn", "3x2x2"))
    kinds = [type(m).__name__ for m in model.children()]
    assert kinds == ["BatchNorm2d", "Flatten", "BatchNorm1d"]
    assert model.bn2.num_features == 12
