"""ONNX export regressions the differential oracle and newcomers found: export's own check by
allclose (outputs near 0, NaN where torch has NaN), a parameter named by a number, adaptive
pooling after lrn, and output names that never read as a layer's. Expected values come from
torch and onnxruntime, run in the test."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

import cnndsl
from cnndsl.pytorch.export import export
from cnndsl.pytorch.onnx_export import ATOL, RTOL
from tests.conftest import ROOT, wrap

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")


def network(body: str, shape: str) -> cnndsl.Network:
    return cnndsl.check_text(wrap(f"    {body}", shape), net="T", file="t.cnn")


def exported(net: cnndsl.Network, path: Path) -> torch.nn.Module:
    """Export to `path`; returns the compiled model with the file's weights (the same seed)."""
    torch.manual_seed(0)
    export(net, "onnx", path)
    torch.manual_seed(0)
    return cnndsl.compile(net).eval()


def run(path: Path, x: torch.Tensor) -> dict[str, torch.Tensor]:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    return {n: torch.from_numpy(v) for n, v in zip(names, session.run(None, {"input": x.numpy()}), strict=True)}


def test_outputs_near_0_agree_within_the_documented_tolerance(tmp_path):
    """layernorm over 3 values then their mean: outputs near 0, where a relative check refused."""
    net = network("layernorm, avgpool 1x3 stride=3", "1x6x3")
    model = exported(net, tmp_path / "m.onnx")
    x = torch.randn(5, 1, 6, 3)
    with torch.no_grad():
        want = model(x)
    got = run(tmp_path / "m.onnx", x)["output"]
    assert (got - want).abs().max().item() <= ATOL + RTOL * want.abs().max().item()
    assert f"{RTOL:g}" in (ROOT / "docs/export.md").read_text() and f"{ATOL:g}" in (ROOT / "docs/export.md").read_text()


def test_nan_where_torch_has_nan_agrees(tmp_path):
    """lrn with k=0 and alpha=0 divides by 0^0.75: NaN for a zero input, as torch computes it."""
    net = network("relu, lrn 1 alpha=0 k=0", "2x3x3")
    model = exported(net, tmp_path / "m.onnx")
    x = torch.randn(3, 2, 3, 3)
    with torch.no_grad():
        want = model(x)
    got = run(tmp_path / "m.onnx", x)["output"]
    assert want.isnan().any() and torch.equal(got.isnan(), want.isnan())
    torch.testing.assert_close(got, want, equal_nan=True)


NUMBERED = """
block B() {
    layer_scale 0.5 as 7
}
network T {
    input 2x3x3
    layer_scale 2 as 3
    B() as b
}
"""


def test_a_parameter_named_by_a_number_exports_as_an_initializer_beside_it(tmp_path):
    net = cnndsl.check_text(NUMBERED, net="T", file="t.cnn")
    model = exported(net, tmp_path / "m.onnx")
    initializers = {i.name: torch.from_numpy(onnx.numpy_helper.to_array(i).copy())
                    for i in onnx.load(tmp_path / "m.onnx").graph.initializer}
    assert set(initializers) >= {"_3"}
    torch.testing.assert_close(initializers["_3"], model.state_dict()["3"])
    x = torch.randn(4, 2, 3, 3)
    with torch.no_grad():
        torch.testing.assert_close(run(tmp_path / "m.onnx", x)["output"], model(x))


@pytest.mark.parametrize("tail", ["adaptive_avgpool 2x2", "adaptive_avgpool 3x2", "gap"])
def test_adaptive_pooling_after_lrn_exports_from_the_command(tmp_path, tail):
    """torch.onnx keeps no sizes after LocalResponseNorm; the lowering needs none."""
    (tmp_path / "t.cnn").write_text(wrap(f"    lrn 2\n    {tail}", "2x5x4"))
    result = subprocess.run([sys.executable, "-m", "cnndsl.cli", "export", str(tmp_path / "t.cnn"), "--format",
                             "onnx", "-o", str(tmp_path / "m.onnx")], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0 and "onnxruntime agrees with torch" in result.stderr, result.stderr
    net = network(f"lrn 2\n    {tail}", "2x5x4")
    x = torch.randn(3, 2, 5, 4)
    with torch.no_grad():
        want = cnndsl.compile(net).eval()(x)
    torch.testing.assert_close(run(tmp_path / "m.onnx", x)["output"], want)


def test_lrn_takes_any_batch(tmp_path):
    """The oracle's program: torch's LocalResponseNorm reshaped by the traced batch (2), so
    onnxruntime refused the check's batch of 3; the lowering has no batch in it."""
    net = cnndsl.check_text("network T {\n    input 1x1x1\n    t1 = conv 1 1\n    t6 = lrn 1 alpha=0 as 5\n"
                            "    output t1\n    output t6\n}\n", net="T", file="t.cnn")
    model = exported(net, tmp_path / "m.onnx")
    for batch in (1, 5):
        x = torch.randn(batch, 1, 1, 1)
        with torch.no_grad():
            want = model(x)
        got = run(tmp_path / "m.onnx", x)
        for name, w in zip(["t1", "t6"], want, strict=True):
            torch.testing.assert_close(got[name], w)


@pytest.mark.parametrize("body,shape", [
    # the oracle's: zeros appended for the ceil windows, after layers that leave torch.onnx no sizes
    ("layernorm, linear 2, channel_shuffle 2, avgpool 2x3/5x5 ceil=true", "2x3x6"),
    ("conv_transpose 3x3/2 2 dilation=3 output_pad=2", "2x3x4"),  # zero rows for an output_pad >= stride
])
def test_lowerings_that_append_zeros_take_any_batch(tmp_path, body, shape):
    """torch.onnx folded `zeros_like` into a constant of the traced batch size, so these files
    refused any other batch; the zeros now come from the input itself."""
    model = exported(network(body, shape), tmp_path / "m.onnx")
    for batch in (1, 3):
        x = torch.randn(batch, *map(int, shape.split("x")))
        with torch.no_grad():
            want = model(x)
        torch.testing.assert_close(run(tmp_path / "m.onnx", x)["output"], want, rtol=RTOL, atol=ATOL)


COLLIDING = """
network T {
    input 3x4x4
    layer_scale as e1_1
    e1 = conv 1x1 2
    output e1
    output e1
}
"""


def test_output_names_follow_the_spec_and_never_read_as_a_layer(tmp_path):
    net = cnndsl.check_text(COLLIDING, net="T", file="t.cnn")
    model = exported(net, tmp_path / "m.onnx")
    proto = onnx.load(tmp_path / "m.onnx")
    names = [o.name for o in proto.graph.output]
    assert names == ["e1", "e1_2"]  # e1_1 is the layer_scale's name
    assert {"e1_1", "conv1.weight"} <= {i.name for i in proto.graph.initializer}  # torch renamed it when taken
    x = torch.randn(2, 3, 4, 4)
    with torch.no_grad():
        want = model(x)
    got = run(tmp_path / "m.onnx", x)
    for name, w in zip(names, want, strict=True):
        torch.testing.assert_close(got[name], w)


def test_unnamed_outputs_avoid_a_layer_named_like_them(tmp_path):
    """A network cut after two layers (`Network.with_outputs`) has unnamed outputs: `output`,
    then `output_2`, as a layer is named `output_1`."""
    net = network("relu as output_1, conv 1x1 2", "2x3x3")
    cut = net.with_outputs([net.stages[0], net.stages[1]])
    model = exported(cut, tmp_path / "m.onnx")
    names = [o.name for o in onnx.load(tmp_path / "m.onnx").graph.output]
    assert names == ["output", "output_2"]
    x = torch.randn(2, 2, 3, 3)
    with torch.no_grad():
        want = model(x)
    got = run(tmp_path / "m.onnx", x)
    for name, w in zip(names, want, strict=True):
        torch.testing.assert_close(got[name], w)


@pytest.mark.parametrize("affine", ["false", "true"])
def test_instancenorm_with_running_statistics_exports_after_layers_that_lose_the_channels(tmp_path, affine):
    """The oracle's program: after center_crop and lrn, torch.onnx knew no channel count and
    refused to make batch_norm's weight itself ("unknown channel size"); the lowering gives it."""
    net = network(f"t0 = center_crop 9\n    lrn 2 k=2\n    instancenorm track_running_stats=true affine={affine}",
                  "4x6x9")
    torch.manual_seed(0)
    model = cnndsl.compile(net).eval()
    norm = model.get_submodule("instancenorm1")
    norm.running_mean.copy_(torch.randn(4))  # statistics other than the initial 0 and 1
    norm.running_var.copy_(torch.rand(4) + 0.5)
    export(net, "onnx", tmp_path / "m.onnx", model=model)
    x = torch.randn(5, 4, 6, 9)
    with torch.no_grad():
        want = model(x)
    torch.testing.assert_close(run(tmp_path / "m.onnx", x)["output"], want, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize(("body", "shape"), [("maxpool 1x2 pad=0x1 dilation=3x2", "2x1x1"),
                                             ("maxpool 1x2/1x2 pad=0x1 dilation=1x3 ceil=true", "2x3x2")])
def test_max_pool_windows_wholly_in_the_padding_are_minus_infinity(tmp_path, body, shape):
    """A dilated window whose taps all fall in the padding: torch's max is -inf, onnxruntime's
    the lowest float, which export's check refused (difference inf); the lowering masks them."""
    net = network(body, shape)
    model = exported(net, tmp_path / "m.onnx")
    x = torch.randn(4, *map(int, shape.split("x")))
    with torch.no_grad():
        want = model(x)
    assert want.isneginf().any()
    torch.testing.assert_close(run(tmp_path / "m.onnx", x)["output"], want)
