"""ONNX exports never lie and never crash: the file declares the shapes it computes (cnndsl's =
torch's), every output is named after the spec and compared, layers ONNX cannot take as built
are exported as exact equivalents, and a failed export is a located error that writes nothing.
Every expected number here comes from torch and onnxruntime, run in the test."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import cnndsl
from cnndsl.cli import main
from cnndsl.ops import REGISTRY
from cnndsl.pytorch.export import export
from cnndsl.pytorch.onnx_export import OPSET, lowered_for_export
from tests.conftest import ARCH, ROOT, wrap

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

# (input, body): each was wrong or crashed before, or takes another branch of a lowering
CASES = [
    ("3x2x2", "avgpool 3x3/3 pad=1 ceil=true"),      # declared 2x2, computed 1x1
    ("3x12x12", "maxpool 1x1/2 ceil=true"),          # declared 7x7, computed 6x6
    ("3x9x9", "maxpool 3x3/2 pad=1 ceil=true"),      # an extra window: the input is extended
    ("3x8x7", "avgpool 3x3/2 pad=1 ceil=true"),      # an extra window with a smaller divisor
    ("3x12x12", "adaptive_avgpool 7x7"),             # windows of two sizes: torch.onnx refused it
    ("256x7x7", "adaptive_avgpool 6x6"),             # alexnet at 256x256: windows 2x2/1
    ("4x9x9", "adaptive_avgpool 2x3"),
    ("3x16x16", "conv 3x3 8 pad=same dilation=2"),   # onnxruntime refused SAME_UPPER with dilation
    ("3x8x7", "conv 2x3 6 pad=same dilation=2"),     # odd padding total on one axis
    ("3x9x9", "conv 4x4 4 pad=same groups=1"),       # odd totals on both axes, no dilation
    ("3x12x12", "adaptive_maxpool 7x7"),             # windows of two sizes: torch.onnx refuses it
    ("3x10x9", "maxpool 3x3/2 dilation=2 ceil=true"),  # the last window skips the last row: -inf added
    ("3x11x11", "maxpool 2x2/3 pad=1 dilation=3 ceil=true"),
    ("3x6x6", "softplus beta=2 threshold=1"),        # ONNX's Softplus has no threshold
    ("3x5x5", "instancenorm track_running_stats=true affine=true"),  # torch.onnx refused the running statistics
    ("4x7x9", "lrn 3, instancenorm"),                # torch.onnx lost the channel count it makes a weight from
]


def network(body: str, shape: str) -> cnndsl.Network:
    return cnndsl.check_text(wrap(f"    {body}", shape), net="T", file="t.cnn")


def exported(net: cnndsl.Network, path: Path) -> torch.nn.Module:
    """Export to `path`; returns the compiled model with the same weights as the file's."""
    torch.manual_seed(0)
    export(net, "onnx", path)
    torch.manual_seed(0)  # export compiles first, so the same seed draws the same weights
    return cnndsl.compile(net).eval()


def declared(value) -> list:
    return [d.dim_value if d.HasField("dim_value") else d.dim_param for d in value.type.tensor_type.shape.dim]


def run(path: Path, x: torch.Tensor) -> dict[str, torch.Tensor]:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    return {n: torch.from_numpy(v) for n, v in zip(names, session.run(None, {"input": x.numpy()}), strict=True)}


@pytest.mark.parametrize("shape,body", CASES)
def test_the_file_declares_the_shapes_it_computes_and_agrees_with_torch(tmp_path, shape, body):
    net = network(body, shape)
    model = exported(net, tmp_path / "m.onnx")
    x = torch.randn(4, *net.input_shape)
    with torch.no_grad():
        want = model(x)
    assert net.output_shapes == [tuple(want.shape[1:])]  # cnndsl's shape is torch's
    proto = onnx.load(tmp_path / "m.onnx")
    assert [i.name for i in proto.graph.input] == ["input"]
    assert declared(proto.graph.input[0]) == ["batch", *net.input_shape]
    assert [declared(o) for o in proto.graph.output] == [["batch", *want.shape[1:]]]
    for out in proto.graph.output:  # ONNX's own rules, which other runtimes follow, give the same
        out.type.tensor_type.ClearField("shape")
    inferred = onnx.shape_inference.infer_shapes(proto, strict_mode=True).graph.output[0]
    assert declared(inferred)[1:] == list(want.shape[1:])
    got = run(tmp_path / "m.onnx", x)["output"]
    assert got.shape == want.shape
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)


EXAMPLES = [(op.name, body, shape) for op in REGISTRY.values() if not op.is_input
            for body, shape in op.usage_examples()]


@pytest.mark.parametrize("op,body,shape", EXAMPLES, ids=[f"{op}:{body}" for op, body, _ in EXAMPLES])
def test_every_op_exports_as_it_computes(tmp_path, op, body, shape):
    """Each op's registry examples (several outputs for split) export, declare torch's shapes and
    agree with torch in onnxruntime on every output."""
    net = cnndsl.check_text(wrap(f"    {body}", "x".join(map(str, shape))), net="T", file="t.cnn")
    model = exported(net, tmp_path / "m.onnx")
    x = torch.randn(3, *shape)
    with torch.no_grad():
        want = model(x)
    want = want if isinstance(want, tuple) else (want,)
    proto = onnx.load(tmp_path / "m.onnx")
    assert [declared(o) for o in proto.graph.output] == [["batch", *w.shape[1:]] for w in want]
    got = run(tmp_path / "m.onnx", x)
    for name, w in zip([o.name for o in proto.graph.output], want, strict=True):
        torch.testing.assert_close(got[name], w, rtol=1e-5, atol=1e-5)


def test_lowerings_apply_only_to_the_exported_copy(tmp_path):
    net = network("conv 3x3 4 pad=same dilation=2, maxpool 2 ceil=true, adaptive_avgpool 3x2", "3x11x11")
    model = cnndsl.compile(net)
    before = {name: type(m) for name, m in model.named_modules()}
    lowered_for_export(net, model)
    assert {name: type(m) for name, m in model.named_modules()} == before
    assert model.conv1.padding == "same" and model.maxpool1.ceil_mode
    assert isinstance(model.adaptive_avgpool1, torch.nn.AdaptiveAvgPool2d)


TWO = """
network Two {
    input 3x8x8
    a = conv 3x3 4 pad=1
    (l, r) = split 2
    b = r -> maxpool 3x3/2 ceil=true
    output b
    output a
    output l
    output a
}
"""


def test_every_output_is_named_after_the_spec_declared_and_agrees(tmp_path):
    net = cnndsl.check_text(TWO, file="two.cnn")
    model = exported(net, tmp_path / "two.onnx")
    proto = onnx.load(tmp_path / "two.onnx")
    assert [o.name for o in proto.graph.output] == ["b", "a", "l", "a_1"]
    x = torch.randn(3, 3, 8, 8)
    with torch.no_grad():
        want = model(x)
    got = run(tmp_path / "two.onnx", x)
    assert [declared(o) for o in proto.graph.output] == [["batch", *w.shape[1:]] for w in want]
    for name, w in zip(["b", "a", "l", "a_1"], want, strict=True):
        torch.testing.assert_close(got[name], w, rtol=1e-5, atol=1e-5)


def test_an_unnamed_output_is_called_output(tmp_path):
    export(network("conv 1x1 2", "3x4x4"), "onnx", tmp_path / "m.onnx")
    assert [o.name for o in onnx.load(tmp_path / "m.onnx").graph.output] == ["output"]


@pytest.fixture
def existing(tmp_path) -> Path:
    path = tmp_path / "m.onnx"
    path.write_bytes(b"the previous model")
    return path


def assert_untouched(path: Path) -> None:
    assert path.read_bytes() == b"the previous model"
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file either


def replace_lowering(monkeypatch, op: str, lowering) -> None:
    monkeypatch.setitem(REGISTRY, op, dataclasses.replace(REGISTRY[op], export_lowering=lowering))


def test_a_disagreement_on_any_output_is_an_error_at_its_layer_and_writes_nothing(monkeypatch, existing):
    """Only the second output is wrong (a lowering that averages instead of taking the max)."""
    wrong = lambda a, s: lambda torch, pool, x: torch.nn.functional.avg_pool2d(x, 3, 2, ceil_mode=True)  # noqa: E731
    replace_lowering(monkeypatch, "maxpool", wrong)
    text = "network N {\n    input 3x9x9\n    a = conv 3x3 4 pad=1\n    b = maxpool 3x3/2 ceil=true\n" \
           "    output a\n    output b\n}\n"
    with pytest.raises(cnndsl.CnnError, match="onnxruntime disagrees with torch on output 'b'") as info:
        export(cnndsl.check_text(text, file="n.cnn"), "onnx", existing)
    assert (info.value.span.line, info.value.span.col) == (4, 9)
    assert_untouched(existing)


def test_a_file_whose_shapes_disagree_with_cnndsl_is_refused_and_writes_nothing(monkeypatch, existing):
    """ceil mode dropped without extending the input: ONNX computes 4x4 where torch gives 5x5."""
    replace_lowering(monkeypatch, "maxpool", lambda a, s: lambda torch, pool, x: torch.nn.functional.max_pool2d(x, 2))
    net = network("maxpool 2 ceil=true", "3x9x9")
    with pytest.raises(cnndsl.CnnError, match="output 'output' of layer 'maxpool1' the shape 3x4x4, not 3x5x5"):
        export(net, "onnx", existing)
    assert_untouched(existing)


@pytest.mark.parametrize("op,body,error", [
    ("adaptive_avgpool", "conv 3x3 4 pad=1, relu, adaptive_avgpool 7x7",
     "t.cnn:4:29: error: torch.onnx cannot take layer 'adaptive_avgpool1'"),
    ("conv", "conv 1x1 4, relu, conv 3x3 8 pad=same dilation=2, conv 1x1 2",
     "t.cnn:4:23: error: onnxruntime cannot take layer 'conv2'"),
])
def test_a_layer_onnx_cannot_take_is_a_located_error_not_a_crash(monkeypatch, capfd, existing, op, body, error):
    """Without its lowering the layer fails in torch.onnx or onnxruntime: exit 1, an error at the
    layer, nothing on stdout (torch.onnx prints the TorchScript graph there from C++), no file."""
    replace_lowering(monkeypatch, op, None)
    source = existing.parent / "t.cnn"
    source.write_text(wrap(f"    {body}", "3x12x12"))
    assert main(["export", str(source), "--format", "onnx", "-o", str(existing)]) == 1
    out, err = capfd.readouterr()
    assert out == "" and error in err and "internal error" not in err
    source.unlink()
    assert_untouched(existing)


def test_without_onnxruntime_the_file_is_still_declared_right_and_says_it_was_not_run(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # `import onnxruntime` raises ImportError
    net = network("maxpool 1x1/2 ceil=true", "3x12x12")
    assert "onnxruntime is not installed: not run" in export(net, "onnx", tmp_path / "m.onnx")
    assert declared(onnx.load(tmp_path / "m.onnx").graph.output[0]) == ["batch", 3, 6, 6]


def test_without_onnx_the_export_is_an_error_that_writes_nothing(monkeypatch, existing):
    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(cnndsl.CnnError, match="ONNX export needs the `onnx` package"):
        export(network("relu", "3x4x4"), "onnx", existing)
    assert_untouched(existing)


def quick_cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cnndsl.cli", "export", *args, "--format", "onnx",
                           "-o", str(tmp_path / "m.onnx")], cwd=ROOT, capture_output=True, text=True)


@pytest.mark.parametrize("shape,body", [CASES[0], CASES[4], CASES[7]])
def test_the_command_exports_the_cases_that_failed_cleanly(tmp_path, shape, body):
    (tmp_path / "t.cnn").write_text(wrap(f"    {body}", shape))
    result = quick_cli(tmp_path, str(tmp_path / "t.cnn"))
    assert result.returncode == 0 and result.stdout == "", result.stderr
    assert "onnxruntime agrees with torch on every output" in result.stderr
    assert "VerifyOutputSizes" not in result.stderr  # onnxruntime's warning about a declared shape


@pytest.mark.slow
def test_zoo_alexnet_at_256_exports(tmp_path):
    result = quick_cli(tmp_path, str(ARCH / "alexnet.cnn"), "--net", "alexnet", "--input", "3x256x256")
    assert result.returncode == 0 and result.stdout == "", result.stderr
    proto = onnx.load(tmp_path / "m.onnx", load_external_data=False)
    net = cnndsl.check(ARCH / "alexnet.cnn", net="alexnet", input=(3, 256, 256))
    assert [declared(o) for o in proto.graph.output] == [["batch", *net.output_shapes[0]]]


def test_the_opset_is_documented_where_users_read():
    help_text = subprocess.run([sys.executable, "-m", "cnndsl.cli", "export", "--help"], cwd=ROOT,
                               capture_output=True, text=True).stdout
    assert f"opset {OPSET}" in " ".join(help_text.split())
    assert f"**Opset {OPSET}**" in (ROOT / "docs" / "export.md").read_text()
    assert f"opset {OPSET}" in (ROOT / "README.md").read_text()
