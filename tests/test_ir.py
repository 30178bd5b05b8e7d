"""The IR: its schema holds for the whole zoo, the lint catches broken graphs and runs after
every elaboration under CNNDSL_DEBUG=1, the typed views agree with each other, nothing
outside cnndsl/ir/ touches the graph's attribute dicts, and the front end (parse, elaborate,
shape-check) runs without importing torch."""

from __future__ import annotations

import ast
import subprocess
import sys

import pytest

import cnndsl
from cnndsl.ir import IRBuilder, LintError, Ref, lint
from cnndsl.ir import graph as ir_graph
from cnndsl.ops import REGISTRY
from tests.conftest import ARCH, ROOT

MODERN = ROOT / "tests/data/modern.cnn"
ZOO = [(f, name) for f in [*sorted(ARCH.glob("*.cnn")), MODERN] for name in cnndsl.networks(f)]


@pytest.mark.parametrize("file,name", ZOO, ids=[n for _, n in ZOO])
def test_zoo_graphs_pass_the_lint(file, name):
    net = cnndsl.check(file, net=name)  # linted by the builder, as CNNDSL_DEBUG=1 in conftest.py
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
    g = net.graph.copy()
    g.graph["stages"] = [*g.graph["stages"], (len(g), 0)]
    with pytest.raises(LintError, match="bad stage"):
        lint(g)


def test_lint_catches_a_broken_block_tree():
    net = cnndsl.check(ARCH / "resnet.cnn", net="ResNet18")
    g = net.graph.copy()
    g.graph["blocks"] = {path: info for path, info in g.graph["blocks"].items() if len(path) > 1}
    with pytest.raises(LintError, match="inside a known block"):
        lint(g)
    g = net.graph.copy()
    inner = next(n for n, path in g.nodes(data="path") if len(path) > 2)
    g.nodes[inner]["chain"] = g.nodes[inner]["chain"][:-1]
    with pytest.raises(LintError, match="chain is not its block's"):
        lint(g)


def test_every_elaboration_is_linted_under_cnndsl_debug(monkeypatch):
    """conftest.py sets CNNDSL_DEBUG=1 for the whole suite; the builder's `finish` lints."""
    calls = []
    monkeypatch.setattr(ir_graph, "lint", lambda g: calls.append(g))
    net = cnndsl.check(ARCH / "lenet.cnn", net="LeNet")
    assert calls == [net.graph]
    monkeypatch.delenv("CNNDSL_DEBUG")
    cnndsl.check(ARCH / "lenet.cnn", net="LeNet")
    assert len(calls) == 1


def test_the_builder_refuses_a_broken_graph_under_cnndsl_debug(monkeypatch):
    from cnndsl.errors import Span

    span = Span("t.cnn", 1, 1, 1, 2)

    def build():
        ir = IRBuilder()
        x = ir.add_layer("input", ("input",), {"shape": (3, 4, 4)}, [], [(3, 4, 4)], span, ())
        return ir.finish("T", {}, [(x, 1)], {})  # port 1 of a layer with one output

    with pytest.raises(LintError, match=r"bad output \(0, 1\)"):
        build()
    monkeypatch.delenv("CNNDSL_DEBUG")
    assert len(build()) == 1


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


NESTED = """block inner(c) { conv 3x3 c pad=1 }
block outer(c, twice=true) {
    inner(c), inner(c) as second
}
network T {
    input 3x8x8
    (a, b) = outer(4), conv 1x1 6, split 2
    a -> outer(2, twice=false)
    output a
    output b
}
"""


def test_the_block_tree():
    net = cnndsl.check_text(NESTED, file="t.cnn")
    blocks = net.blocks
    assert list(blocks) == [("outer1",), ("outer1", "inner1"), ("outer1", "second"),
                            ("outer2",), ("outer2", "inner1"), ("outer2", "second")]
    outer = blocks["outer2",]
    assert (outer.block, outer.call) == ("outer", "outer(2, twice=false)")
    assert NESTED.splitlines()[outer.span.line - 1][outer.span.col - 1:outer.span.end_col - 1] == outer.call
    assert outer.children == (blocks["outer2", "inner1"], blocks["outer2", "second"])
    assert [name for name, _ in blocks["outer2", "second"].chain] == ["outer", "inner"]
    assert blocks["outer2", "second"].call == "inner(2)" and blocks["outer2", "second"].children == ()
    for layer in net.layers():
        assert layer.block_path == () or layer.chain == blocks[layer.block_path].chain
    assert net.sources == {"t.cnn": NESTED}


def test_outputs_and_stages_are_refs():
    net = cnndsl.check_text(NESTED, file="t.cnn")
    split = net.layer("split1")
    assert net.outputs == [Ref(split, 0), Ref(split, 1)]
    assert net.output_shapes == [ref.shape for ref in net.outputs] == [(3, 8, 8), (3, 8, 8)]
    assert [ref.layer.qualname for ref in net.stages] == ["outer1.second.conv1", "conv1", "outer2.second.conv1"]
    assert net.stage_shapes == [(4, 8, 8), (6, 8, 8), (2, 8, 8)]
    cut = net.with_outputs([Ref(net.layer("conv1"))])
    assert cut.output_shapes == [(6, 8, 8)] and net.output_shapes == [(3, 8, 8), (3, 8, 8)]
    assert net.output_names == ["a", "b"] and cut.output_names == [""]  # the `output` statements' names
    assert cnndsl.check_text("network U {\n input 3x4x4\n relu\n}\n").output_names == [""]


@pytest.mark.parametrize("file,name", [(ARCH / "googlenet.cnn", "googlenet"), (MODERN, "Modern")])
def test_walk_yields_each_layer_with_what_it_reads(file, name):
    net = cnndsl.check(file, net=name)
    steps = list(net.walk())
    assert [step.layer for step in steps] == list(net.layers())
    made = {}
    for step in steps:
        layer = step.layer
        assert step.entry is layer.entry is REGISTRY[layer.op]
        assert tuple((ref.layer.id, ref.port) for ref in step.inputs) == layer.inputs
        assert all(made[ref.layer.id] == ref.layer for ref in step.inputs)  # read from earlier layers
        assert step.input_shapes == layer.input_shapes == tuple(ref.shape for ref in step.inputs)
        assert step.params == layer.params == layer.entry.count_params(layer.attrs, layer.input_shapes)
        made[layer.id] = layer
    assert sum(step.params for step in steps) == net.count_params()


def ir_dict_accesses(source: str) -> list[str]:
    """Where code reads or writes a networkx graph's attribute dicts: `x.graph.graph`,
    `x.graph[...]`, `x.graph.update(...)` (graph attributes), `x.nodes[n][...]`,
    `x.nodes(data=...)`, `x.nodes.data(...)`, `x.add_node(n, key=...)` (node attributes).
    The importer's own graphs (`nodes[n].op`, `add_node(n)`) are not networkx attribute dicts."""
    found = []
    for node in ast.walk(ast.parse(source)):
        what = None
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Attribute) and node.value.attr == "graph":
            if node.attr in ("graph", "update", "get", "setdefault", "items", "keys", "values", "pop"):
                what = f".graph.{node.attr}"
        elif isinstance(node, ast.Attribute) and node.attr == "data" and isinstance(node.value, ast.Attribute) \
                and node.value.attr == "nodes":
            what = ".nodes.data"
        elif isinstance(node, ast.Subscript) and isinstance(node.value, ast.Attribute) and node.value.attr == "graph":
            what = ".graph[...]"
        elif isinstance(node, ast.Subscript) and isinstance(node.value, ast.Subscript) \
                and isinstance(node.value.value, ast.Attribute) and node.value.value.attr in ("nodes", "node"):
            what = ".nodes[...][...]"
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.keywords \
                and node.func.attr in ("nodes", "add_node", "add_nodes_from", "add_edge", "add_edges_from"):
            what = f".{node.func.attr}(key=...)"
        if what:
            found.append(f"{node.lineno}: {what}")
    return found


def test_the_scan_finds_attribute_dict_access():
    for code in ('net.graph.graph["blocks"]', 'net.graph.nodes[u]["shapes"][p]', "self.g.graph.update(name=1)",
                 'g.graph["outputs"] = []', 'g.nodes[3]["shapes"] = ()', "g.add_node(n, op='conv')",
                 "for n, d in g.nodes(data=True): pass", "list(g.nodes.data('op'))"):
        assert ir_dict_accesses(code), code
    for code in ("self.graph.nodes[node].outputs", "conv.graph.scopes[()] = 'ResNet'", "list(gm.graph.nodes)",
                 "graph.add_node('IN')", "net.graph.copy()", "nx.descendants(net.graph, 3)"):
        assert not ir_dict_accesses(code), code


def test_only_the_ir_touches_the_graphs_attribute_dicts():
    """Everything else reads the IR through Network's typed views and writes it through IRBuilder."""
    package = ROOT / "cnndsl"
    found = {str(path.relative_to(ROOT)): hits for path in sorted(package.rglob("*.py"))
             if package / "ir" not in path.parents and (hits := ir_dict_accesses(path.read_text()))}
    assert found == {}
