"""Static analysis against the reference tools, computed in the test itself: parameters
against torchvision, MACs against fvcore, per-layer shapes and parameters against
torchinfo, receptive fields against the gradient of the compiled model."""

from __future__ import annotations

import json

import pytest
import torch
import torchvision

import cnndsl
from benchmarks.oracle_probe import positive
from cnndsl.analysis import analyse
from cnndsl.ir import Ref
from cnndsl.pytorch.fx_backend import compile_network
from tests.conftest import ARCH, check_body
from tests.test_zoo_torchvision import BUILD_ARGS, CASES, reference

ZOO = [(f, name) for f in sorted(ARCH.glob("*.cnn")) for name in cnndsl.networks(f)]


@pytest.mark.slow
@pytest.mark.parametrize("file,name", CASES, ids=[c[1] for c in CASES])
def test_params_macs_and_layers_equal_the_reference_tools(file, name):
    fvcore = pytest.importorskip("fvcore.nn")
    torchinfo = pytest.importorskip("torchinfo")
    s = analyse(cnndsl.check(ARCH / file, net=name))
    ref = reference(name)
    assert s.params == sum(p.numel() for p in ref.parameters())

    x = torch.zeros(1, 3, 224, 224)
    flops = fvcore.FlopCountAnalysis(ref, x)
    flops.unsupported_ops_warnings(False)
    flops.uncalled_modules_warnings(False)
    total, by_op = flops.total(), flops.by_operator()
    assert abs(s.macs - total) <= 0.01 * total
    # the one difference left: fvcore counts batch norm as 2 per element (scale, shift), we as
    # one multiply-add; everything else is equal to the unit
    assert s.macs == total - by_op.get("batch_norm", 0) // 2

    info = torchinfo.summary(ref, input_data=x, verbose=0, depth=10)
    theirs = [(tuple(layer.output_size[1:]), layer.num_params) for layer in info.summary_list
              if layer.is_leaf_layer and layer.num_params > 0]
    ours = [(r.shape, r.params) for r in s.rows if r.params > 0]
    assert ours == theirs


def test_the_lectures_worked_example():
    """AlexNet's first layer on 3x227x227: 64 filters 11x11, stride 4, pad 2 (the lecture)."""
    s = analyse(check_body("conv 11x11/4 64 pad=2", "3x227x227"))
    conv = s.rows[1]
    assert conv.shape == (64, 56, 56)
    assert conv.params == 11 * 11 * 3 * 64 + 64 == 23_296
    assert conv.macs == 56 * 56 * 64 * (11 * 11 * 3) == 72_855_552
    assert conv.memory == 64 * 56 * 56 * 4 == 784 * 1024


def test_conv_holds_the_compute_fc_the_parameters():
    split = analyse(cnndsl.check(ARCH / "alexnet.cnn", net="alexnet")).split()
    assert split["conv"]["macs_pct"] > 90 and split["fc"]["params_pct"] > 90
    assert sum(v["params_pct"] for v in split.values()) == pytest.approx(100)


def _conv_stage_end(net):
    end = None
    for layer in net.layers():
        if layer.op in ("gap", "adaptive_avgpool", "flatten") or len(layer.shape) != 3:
            break
        end = layer
    return end


@pytest.mark.slow
@pytest.mark.parametrize("file,name", ZOO, ids=[n for _, n in ZOO])
def test_receptive_field_matches_the_gradient(file, name):
    net = cnndsl.check(file, net=name)
    if len(net.input_shape) != 3:
        pytest.skip("a flat input (a generator's noise vector) has no pixels to reach")
    end = _conv_stage_end(net)
    rows = {r.name: r for r in analyse(net).rows}
    model = positive(compile_network(net.with_outputs([Ref(end)])))
    x = (torch.rand(1, *net.input_shape, dtype=torch.float64) + 0.5).requires_grad_()
    out = model(x)
    _, h, w = end.shape
    out[0, 0, h // 2, w // 2].backward()
    nonzero = x.grad[0].abs().sum(0) > 0
    spans = rows[end.qualname].field.pixel(h // 2, w // 2)
    for axis in (0, 1):
        hit = nonzero.any(dim=1 - axis).nonzero().flatten()
        assert (hit.min().item(), hit.max().item()) == spans[axis], (name, axis, spans)


def test_depth_folds_blocks_and_keeps_totals():
    s = analyse(cnndsl.check(ARCH / "resnet.cnn", net="resnet50"))
    folded = s.at_depth(0)
    assert [r.name for r in folded if r.op == "block"] == [f"resnet_stage{i}" for i in range(1, 5)]
    assert sum(r.params for r in folded) == s.params and sum(r.macs for r in folded) == s.macs
    assert folded[5].label == "resnet_stage(3, 64, 1, deep=true, zero_init=false)" and folded[5].shape == (256, 56, 56)


def test_batch_dtype_and_training_memory():
    net = cnndsl.check(ARCH / "lenet.cnn", net="LeNet")
    one, many = analyse(net), analyse(net, batch=32, dtype="float16")
    assert many.memory == one.memory * 32 // 2
    adam, sgd = one.training_memory("adam"), one.training_memory("sgd-momentum")
    assert adam["weights"] == one.params * 4 and adam["optimizer"] == 2 * sgd["optimizer"]
    assert adam["total"] == 2 * adam["weights"] + adam["optimizer"] + adam["activations"]
    flatten = next(r for r in one.rows if r.op == "flatten")
    assert flatten.kept == 0 and adam["activations"] == sum(r.memory for r in one.rows) - flatten.memory


def test_json_format_is_the_documented_one():
    from cnndsl.analysis import report

    doc = json.loads(report.to_json(analyse(cnndsl.check(ARCH / "lenet.cnn", net="LeNet"))))
    documented = (ARCH.parent / "docs" / "summary-json.md").read_text()
    for key in [*doc, *doc["layers"][0], *doc["totals"], *doc["training_memory"]["adam"]]:
        assert f"`{key}`" in documented, f"{key} is not documented"
    assert doc["format"] == "cnndsl-summary" and doc["version"] == 2
    assert doc["totals"]["params"] == sum(layer["params"] for layer in doc["layers"]) == 61_706


def test_a_network_too_large_to_build_is_still_summarised():
    s = analyse(check_body("flatten\nfc 1000000\nfc 1000000", "512x7x7"))
    assert s.params == 25088 * 10**6 + 10**6 + 10**12 + 10**6


def test_torchvision_models_have_no_analysis_only_difference():
    """The analysis needs no torch: the Summary of a spec equals torchvision's count."""
    ref = torchvision.models.googlenet(weights=None, **BUILD_ARGS["googlenet"])
    assert analyse(cnndsl.check(ARCH / "googlenet.cnn", net="googlenet")).params == \
        sum(p.numel() for p in ref.parameters())
