"""The IR: its schema holds for the whole zoo, the lint catches broken graphs, and the front
end (parse, elaborate, shape-check) runs without importing torch."""

from __future__ import annotations

import subprocess
import sys

import pytest

import cnndsl
from cnndsl.ir import LintError, lint
from tests.conftest import ARCH, ROOT

ZOO = [(f, name) for f in sorted(ARCH.glob("*.cnn")) for name in cnndsl.networks(f)]


@pytest.mark.parametrize("file,name", ZOO, ids=[n for _, n in ZOO])
def test_zoo_graphs_pass_the_lint(file, name):
    net = cnndsl.check(file, net=name)
    lint(net.graph)
    ids = list(net.graph.nodes)
    assert ids == sorted(ids) and all(u < v for u, v in net.graph.edges)


def test_lint_catches_a_broken_graph():
    net = cnndsl.check(ARCH / "lenet.cnn", net="LeNet")
    g = net.graph.copy()
    g.nodes[3]["shapes"] = ((0, 1),)
    with pytest.raises(LintError, match="bad shapes"):
        lint(g)
    g = net.graph.copy()
    g.remove_edge(1, 2)
    with pytest.raises(LintError, match="bad input"):
        lint(g)
    g = net.graph.copy()
    del g.nodes[2]["span"]
    with pytest.raises(LintError, match="'span' missing"):
        lint(g)


def test_elaboration_does_not_change_the_ast():
    from cnndsl.elaborate.elaborator import elaborate
    from cnndsl.lang.source import load_program

    program = load_program(ARCH / "resnet.cnn")
    before = repr(program.blocks) + repr(program.networks)
    elaborate(program, "resnet50")
    elaborate(program, "resnet18")
    assert repr(program.blocks) + repr(program.networks) == before


def test_front_end_never_imports_torch():
    code = ("import sys; import cnndsl; from cnndsl.cli import main\n"
            "for f in ('resnet', 'densenet', 'googlenet'):\n"
            "    assert main(['check', '-q', f'architectures/{f}.cnn']) == 0\n"
            "assert main(['list', 'architectures/vgg.cnn']) == 0\n"
            "assert 'torch' not in sys.modules, 'torch was imported'\n")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
