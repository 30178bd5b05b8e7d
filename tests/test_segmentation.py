"""Segmentation: `resize_like` (bilinear to another tensor's size) equals `F.interpolate`, dotted
`as` names nest layers in modules no block call makes, and torchvision's segmentation models
(FCN, DeepLabV3, LR-ASPP) import and round-trip: the text checks and compiles, torchvision's
state_dict loads by name (strict), and every named output equals torchvision's."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from torch.nn import functional
from torchvision import models

import cnndsl
from cnndsl.analysis import analyse
from cnndsl.cli import main
from tests.conftest import ARCH, wrap
from tests.test_import import import_and_run

SIZE = 64  # small and fast; the round trip holds at any size


def _compiled(body: str, shape: str) -> tuple[cnndsl.Network, torch.nn.Module]:
    net = cnndsl.check_text(wrap(body, shape))
    return net, cnndsl.compile(net).eval()


@pytest.mark.parametrize("body,shape", [
    ("y = conv 3x3/2 5 pad=1\n    resize_like(y, x)", "3x9x7"),  # up, by ratios that are no integers
    ("y = upsample 3\n    resize_like(y, x)", "3x9x7"),  # down
    ("y = gap\n    resize_like(y, x)", "3x5x6"),  # ASPP's pooling branch
])
def test_resize_like_is_torchs_bilinear_interpolation_to_the_other_size(body, shape):
    net, model = _compiled("x = identity\n    " + body, shape)
    x = torch.randn(2, *net.input_shape)
    with torch.no_grad():
        y = dict(model.named_children())
        first = y[next(iter(y))](x)  # the branch's one layer
        want = functional.interpolate(first, size=x.shape[-2:], mode="bilinear", align_corners=False)
        assert torch.equal(model(x), want)
    assert net.output_shapes == [(want.shape[1], *net.input_shape[1:])]
    row = next(row for row in analyse(net).rows if row.op == "resize_like")
    assert row.macs == 4 * want[0].numel()  # fvcore's count for upsample_bilinear2d


def test_resize_like_of_branches_and_of_one_branch():
    net, model = _compiled("resize_like { conv 3x3/2 4 pad=1 as c | identity }", "3x7x6")
    x = torch.randn(1, 3, 7, 6)
    with torch.no_grad():
        want = functional.interpolate(model.c(x), size=(7, 6), mode="bilinear", align_corners=False)
        assert torch.equal(model(x), want)
    net, model = _compiled("resize_like { conv 1x1 4 as c }", "3x7x6")  # resized to its own size: itself
    with torch.no_grad():
        assert torch.equal(model(x), model.c(x))


@pytest.mark.parametrize("body,message,line", [
    ("resize_like { identity | identity | identity }", "`resize_like` takes two branches", 4),
    ("resize_like { flatten | identity }", "resizes CxHxW tensors", 4),
    ("x = identity\n    y = flatten\n    resize_like(x, y)", "resizes CxHxW tensors", 6),
    ("resize_like 2", "joins branches", 4),
])
def test_resize_like_errors_are_located(body, message, line):
    with pytest.raises(cnndsl.CnnError, match=message) as info:
        cnndsl.check_text(wrap(body, "3x8x8"))
    assert info.value.span is not None and info.value.span.line == line


@pytest.mark.parametrize("fmt", ["onnx", "torchscript", "py"])
def test_resize_like_and_dotted_names_export(tmp_path, fmt):
    """ONNX and TorchScript exports are checked against torch by the exporter (onnxruntime, loading back);
    the Python file is run here."""
    path = tmp_path / "seg.cnn"
    path.write_text(wrap('x0 = identity\n    y = x0 -> conv 3x3/2 8 pad=1 as "backbone.stem", relu\n'
                         '    y2 = y -> conv 3x3/2 4 pad=1 as "head.conv"\n    out = resize_like(y2, x0)\n'
                         '    output out', "3x20x18"))
    assert main(["export", str(path), "--format", fmt, "-o", str(tmp_path / f"seg.{fmt}")]) == 0
    if fmt == "py":
        run = subprocess.run([sys.executable, str(tmp_path / "seg.py")], capture_output=True, text=True, check=True)
        assert run.stdout.split() == ["out", "(2,", "4,", "20,", "18)"]


def test_dotted_names_nest_layers_in_modules():
    net, model = _compiled('conv 3x3 4 as "backbone.0", relu, conv 1x1 2 as "backbone.1"\n'
                           '    conv 1x1 2 as "head.out"', "3x8x8")
    assert sorted(model.state_dict()) == ["backbone.0.bias", "backbone.0.weight", "backbone.1.bias",
                                          "backbone.1.weight", "head.out.bias", "head.out.weight"]
    assert [b.path for b in net.blocks.values() if b.container] == [("backbone",), ("head",)]


@pytest.mark.parametrize("body,message", [
    ('conv 1x1 2 as "a.b", conv 1x1 2 as "a.b"', "already used"),
    ('conv 1x1 2 as a, conv 1x1 2 as "a.b"', "would be inside 'a'"),
    ('conv 1x1 2 as "a.b", conv 1x1 2 as a', "already holds the layers"),
    ('conv 1x1 2 as "a.b", conv 1x1 2 as "a.b.c"', "would be inside 'a.b'"),
    ('conv 1x1 2 as "a..b"', "joined by single dots"),
    ('conv 1x1 2 as ".a"', "joined by single dots"),
])
def test_dotted_names_that_clash_are_errors(body, message):
    with pytest.raises(cnndsl.CnnError, match=message):
        cnndsl.check_text(wrap(body, "3x8x8"))


def test_an_automatic_name_skips_a_module_a_dotted_name_made():
    net = cnndsl.check_text(wrap('conv 1x1 2 as "conv1.x", conv 1x1 2', "3x8x8"))
    assert [layer.qualname for layer in net.layers()][1:] == ["conv1.x", "conv2"]


def _segmentation_model(name: str, **kwargs: object) -> torch.nn.Module:
    torch.manual_seed(0)
    return models.get_model(name, weights=None, weights_backbone=None, **kwargs).eval()


def round_trip(original: torch.nn.Module, name: str, tmp_path) -> str:  # noqa: ANN001
    """Import without the importer's own check, then check here: parameters, strict loading by name,
    each of torchvision's outputs against the network's output of that name; summary and draw run."""
    x = torch.randn(2, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(1))
    text, net, want, got = import_and_run(original, x, name)
    got = dict(zip(net.output_names, got if isinstance(got, tuple) else (got,), strict=True))
    assert list(got) == list(want)  # `out`, and `aux` where the model has an auxiliary classifier
    for key, value in want.items():
        assert value.shape == (2, 21, SIZE, SIZE)
        assert torch.allclose(got[key], value, rtol=1e-5, atol=1e-5 * value.abs().max().item()), key
    path = tmp_path / f"{name}.cnn"
    path.write_text(text)
    assert main(["summary", str(path)]) == 0
    assert main(["draw", str(path), "-o", str(tmp_path / "graph.dot")]) == 0
    assert main(["draw", str(path), "--style", "blocks", "-o", str(tmp_path / "blocks.tex")]) == 0
    return text


def test_fcn_resnet50_round_trips(tmp_path):
    text = round_trip(_segmentation_model("fcn_resnet50"), "fcn_resnet50", tmp_path)
    assert "dilation=pad" in text  # the dilated ResNet (replace_stride_with_dilation)
    assert "out = resize_like(" in text and "output out" in text


def test_deeplabv3_resnet50_round_trips(tmp_path):
    text = round_trip(_segmentation_model("deeplabv3_resnet50"), "deeplabv3_resnet50", tmp_path)
    assert 'ASPPConv(12) as "convs.1"' in text  # ASPP's ModuleList: dotted names in one concat
    assert "resize_like { gap," in text  # ASPP's image pooling, back to the feature size


def test_lraspp_mobilenet_v3_large_round_trips(tmp_path):
    text = round_trip(_segmentation_model("lraspp_mobilenet_v3_large"), "lraspp_mobilenet_v3_large", tmp_path)
    assert 'as "backbone.16"' in text and 'as "classifier.low_classifier"' in text  # two feature maps


def test_auxiliary_classifiers_are_the_output_aux(tmp_path):
    text = round_trip(_segmentation_model("deeplabv3_mobilenet_v3_large", aux_loss=True),
                      "deeplabv3_mobilenet_v3_large", tmp_path)
    assert text.rstrip().endswith("output out\n    output aux\n}")


def test_the_command_line_imports_a_segmentation_model(tmp_path, capsys):
    out = tmp_path / "lraspp.cnn"
    assert main(["import", "torchvision:lraspp_mobilenet_v3_large", "--input", "3x48x48", "-o", str(out)]) == 0
    assert "outputs match" in capsys.readouterr().err
    assert cnndsl.check(out).output_shapes == [(21, 48, 48)]
    assert main(["import", "--list"]) == 0
    assert "fcn_resnet50" in capsys.readouterr().out.split()


@pytest.mark.parametrize("name", ["fcn_resnet50", "deeplabv3_resnet50"])
def test_the_zoos_segmentation_networks_are_torchvisions(name):
    """architectures/segmentation.cnn, written from what `cnndsl import` gives, at another input than
    its own (every resize takes its size from a tensor)."""
    original = _segmentation_model(name)
    net = cnndsl.check(ARCH / "segmentation.cnn", net=name, input=(3, 72, 56))
    model = cnndsl.compile(net).eval()
    model.load_state_dict(original.state_dict(), strict=True)
    x = torch.randn(1, 3, 72, 56, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        want, got = original(x)["out"], model(x)
    assert net.output_names == ["out"] and got.shape == want.shape == (1, 21, 72, 56)
    assert torch.allclose(got, want, rtol=1e-5, atol=1e-5 * want.abs().max().item())
    assert net.warnings == []
