"""API calls with bad arguments end in a CnnError, never in a Python exception from inside."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import cnndsl
from cnndsl.analysis import analyse
from cnndsl.elaborate import Limits
from cnndsl.render import figure
from cnndsl.training import data
from tests.conftest import ARCH, ROOT, error_of, where


def test_an_import_name_too_long_for_the_file_system_is_located():
    text = f'import "{"a" * 5000}.cnn"\nnetwork A {{\n    input 3x8x8\n}}\n'
    exc = error_of(text)
    assert exc.message.startswith("cannot import 'aaaa") and "too long" in exc.message
    assert where(exc) == (1, 1)  # the import statement, as for a missing file


def test_draw_refuses_a_negative_depth(tmp_path: Path):
    with pytest.raises(cnndsl.CnnError, match="depth must be 0 or more"):
        cnndsl.draw(ARCH / "lenet.cnn", tmp_path / "x.dot", net="LeNet", depth=-1)
    assert not (tmp_path / "x.dot").exists()


@pytest.mark.parametrize("kwargs, message", [({"dtype": "float13"}, "unknown dtype 'float13'"),
                                             ({"batch": 0}, "batch must be a positive integer, got 0")])
def test_analyse_refuses_unknown_dtypes_and_empty_batches(kwargs, message):
    net = cnndsl.check(ARCH / "lenet.cnn", net="LeNet")
    with pytest.raises(cnndsl.CnnError, match=message):
        analyse(net, **kwargs)


def test_missing_idx_files_without_download_is_a_clear_error(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("CNNDSL_DATA", str(tmp_path))
    monkeypatch.setattr(data, "_package_files", lambda package: [])
    with pytest.raises(cnndsl.CnnError, match="cannot find fashion-mnist: looked in") as info:
        data.load_idx_dataset("fashion-mnist", "train", download=False)
    assert "apt-get install dataset-fashion-mnist" in info.value.diagnostic.hint


@pytest.mark.skipif(shutil.which("dot") is None, reason="needs Graphviz's dot")
def test_a_dot_that_takes_too_long_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(figure, "DOT_TIMEOUT", 1e-4)  # shorter than starting any process
    with pytest.raises(cnndsl.CnnError, match="dot took more than"):
        figure.render("digraph { a -> b }", "svg")


@pytest.mark.parametrize("name", ["ℌ", "٣", "ﬁ", "q\\\\", "a b"])
def test_a_layer_name_python_would_read_as_another_is_refused(name):
    """Python reads identifiers through NFKC (`ℌ` is `H`) and strings through escapes, so such a
    name in generated code could silently be another layer."""
    exc = error_of(f'network A {{\n    input 3x8x8\n    conv 1x1 2 as "{name}"\n    conv 1x1 2 as "H"\n}}\n')
    assert "cannot name a layer" in exc.message and "ASCII letters, digits" in exc.message
    assert where(exc) == (3, 5)


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cnndsl.cli", *args], cwd=ROOT, capture_output=True, text=True)


@pytest.mark.parametrize("args, message", [
    (["summary", "architectures/lenet.cnn", "--net", "LeNet", "--depth", "-1"], "--depth: must be at least 0"),
    (["diff", "architectures/vgg.cnn", "--net", "VGG11", "--depth", "-1"], "--depth: must be at least 0"),
    (["train", "architectures/lenet.cnn", "--net", "LeNet", "--weight-decay", "-1"],
     "--weight-decay: must be at least 0"),
    (["train", "architectures/lenet.cnn", "--net", "LeNet", "--lr", "nan"], "--lr: must be more than 0, got nan"),
])
def test_bad_numbers_on_the_command_line_are_usage_errors(args, message):
    result = cli(*args)
    assert result.returncode == 1 and message in result.stderr and "internal error" not in result.stderr


def test_a_network_torchscript_cannot_take_is_a_clear_error(tmp_path: Path):
    spec = tmp_path / "t.cnn"
    spec.write_text('network A {\n    input 3x8x8\n    conv 3x3 4 pad=1 as torch\n    (a, b) = split 2\n'
                    '    concat(a, b) -> flatten\n    fc 3\n}\n')
    result = cli("export", str(spec), "--format", "torchscript", "-o", str(tmp_path / "t.pt"))
    if result.returncode == 0:  # a TorchScript that takes it is fine too; then the file was checked
        assert (tmp_path / "t.pt").exists()
    else:
        assert result.returncode == 1 and "TorchScript cannot take network 'A'" in result.stderr
        assert not (tmp_path / "t.pt").exists()


@pytest.mark.parametrize("stride", [2 ** 31 - 1, 2 ** 31])
def test_a_pool_argument_torch_cannot_take_is_refused_exactly_when_torch_refuses(stride):
    text = f"network A {{\n    input 3x8x8\n    maxpool 3x3/{stride}\n}}\n"
    try:
        want = tuple(torch.nn.MaxPool2d(3, stride)(torch.zeros(1, 3, 8, 8)).shape[1:])
    except RuntimeError:
        want = None
    if want is None:
        exc = error_of(text)
        assert "beyond what torch's pooling takes" in exc.message and where(exc) == (3, 5)
    else:
        assert cnndsl.check_text(text).output_shapes == [want]


@pytest.mark.parametrize("call, message", [
    (lambda: Limits(max_layers=-1), "Limits(max_layers=...) must be a positive integer, got -1"),
    (lambda: cnndsl.compile("x.cnn"), "compile takes a checked Network (from cnndsl.check), got str"),
    (lambda: cnndsl.check(ARCH / "lenet.cnn", net="LeNet", limits={"max_layers": 5}),
     "limits= takes a cnndsl.elaborate.Limits, got dict"),
    (lambda: cnndsl.load(ARCH / "lenet.cnn", net="LeNet", max_bytes=1000), "but max_bytes is 1,000 bytes"),
])
def test_bad_api_arguments_are_clear_errors(call, message):
    with pytest.raises(cnndsl.CnnError) as info:
        call()
    assert message in info.value.message
