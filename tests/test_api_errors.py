"""API calls with bad arguments end in a CnnError, never in a Python exception from inside."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import cnndsl
from cnndsl.analysis import analyse
from cnndsl.render import figure
from cnndsl.train import data
from tests.conftest import ARCH, error_of, where


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
