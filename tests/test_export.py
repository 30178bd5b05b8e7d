"""`cnndsl export`: ONNX checked in onnxruntime, TorchScript, and a standalone Python file."""

from __future__ import annotations

import ast
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import cnndsl
from cnndsl.pytorch.export import export
from tests.conftest import ARCH, ROOT


@pytest.mark.parametrize("name,file", [("GoogLeNet", "googlenet.cnn"), ("resnet18", "resnet.cnn"),
                                       ("DenseNet", "densenet.cnn"), ("Modern", ROOT / "tests/data/modern.cnn")])
def test_python_export_needs_only_torch_and_matches_the_compiled_model(tmp_path: Path, name, file):
    net = cnndsl.check(ARCH / file, net=name)
    out = tmp_path / f"{name}.py"
    export(net, "py", out)
    imports = {a.name.split(".")[0] for node in ast.walk(ast.parse(out.read_text()))
               if isinstance(node, (ast.Import, ast.ImportFrom)) for a in (node.names if isinstance(node, ast.Import)
                                                                          else [ast.alias(node.module)])}
    assert imports <= {"torch", "operator"}
    spec = importlib.util.spec_from_file_location(name, out)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    exported, compiled = getattr(module, name)().eval(), cnndsl.compile(net).eval()
    assert list(exported.state_dict()) == list(compiled.state_dict())
    exported.load_state_dict(compiled.state_dict(), strict=True)
    x = torch.randn(2, *net.input_shape)
    torch.testing.assert_close(exported(x), compiled(x))


def test_torchscript_export_loads_and_runs(tmp_path: Path):
    net = cnndsl.check(ARCH / "lenet.cnn", net="LeNetBN")
    export(net, "torchscript", tmp_path / "m.pt")
    loaded = torch.jit.load(tmp_path / "m.pt")
    assert loaded(torch.randn(3, 1, 28, 28)).shape == (3, 10)


@pytest.mark.parametrize("args,size", [(["architectures/resnet.cnn", "--net", "ResNet18"], 1e6),
                                       (["tests/data/modern.cnn"], 1e3)])
def test_onnx_export_is_checked_in_onnxruntime(tmp_path: Path, args, size):
    pytest.importorskip("onnxruntime")
    result = subprocess.run([sys.executable, "-m", "cnndsl.cli", "export", *args, "--format", "onnx",
                             "-o", str(tmp_path / "r.onnx")], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "onnxruntime agrees with torch" in result.stderr and (tmp_path / "r.onnx").stat().st_size > size


@pytest.mark.parametrize("args,message", [
    (["--format", "caffe", "-o", "x"], "invalid choice: 'caffe'"),
    (["--format", "py", "-o", "missing/x.py"], "the directory 'missing' does not exist"),
])
def test_bad_export_requests_exit_1_and_write_nothing(tmp_path: Path, args, message):
    result = subprocess.run([sys.executable, "-m", "cnndsl.cli", "export", str(ARCH / "lenet.cnn"), "--net", "LeNet",
                             *args], cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 1 and message in result.stderr
    assert list(tmp_path.iterdir()) == []


TWO = """
network Two {
    input 3x9x9
    a = conv 3x3 4 pad=same dilation=2
    (l, r) = split 2
    b = r -> maxpool 3x3/2 ceil=true, adaptive_avgpool 3x2
    output b
    output a
    output l
}
"""


def load_python(path: Path, name: str) -> torch.nn.Module:
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, name)().eval()


def test_python_export_reproduces_every_output_and_says_what_they_are(tmp_path: Path):
    net = cnndsl.check_text(TWO, file="two.cnn")
    line = export(net, "py", tmp_path / "two.py")
    compiled = cnndsl.compile(net).eval()
    exported = load_python(tmp_path / "two.py", "Two")
    exported.load_state_dict(compiled.state_dict(), strict=True)
    x = torch.randn(2, 3, 9, 9)
    want = compiled(x)
    torch.testing.assert_close(exported(x), want)
    shapes = [tuple(w.shape[1:]) for w in want]
    assert shapes == net.output_shapes
    said = ", ".join(f"{n} Nx{'x'.join(map(str, s))}" for n, s in zip("bal", shapes, strict=True))
    assert f"forward(Nx3x9x9) -> ({said})" in line
    assert line.endswith("the file holds code, no weights: load a state_dict into it")  # a newcomer expected them
    printed = subprocess.run([sys.executable, str(tmp_path / "two.py")], capture_output=True, text=True).stdout
    assert printed.splitlines() == [f"{n} {(2, *s)}" for n, s in zip("bal", shapes, strict=True)]


def test_torchscript_export_returns_every_output_as_the_compiled_model(tmp_path: Path):
    net = cnndsl.check_text(TWO, file="two.cnn")
    assert "loaded back, it agrees with torch" in export(net, "torchscript", tmp_path / "two.pt")
    loaded = torch.jit.load(tmp_path / "two.pt")
    compiled = cnndsl.compile(net).eval()
    compiled.load_state_dict(loaded.state_dict(), strict=True)
    x = torch.randn(3, 3, 9, 9)
    torch.testing.assert_close(loaded(x), compiled(x))
