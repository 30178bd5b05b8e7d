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
