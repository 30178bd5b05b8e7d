"""Layers whose result reaches no output: `check` warns once per dead chain, at its last layer, naming
the dead layers that feed it; the compiled model keeps their modules and parameters but does not
compute them (docs/language.md, "Unused layers"). torch.fx's own dead-code elimination is the
oracle for which layers are dead."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

import cnndsl
from cnndsl.cli import main
from tests.conftest import ROOT, check_body

NEWCOMER = "(a, b) = split 2\nadd(a, b) -> relu\nmul(a, b)\noutput a"
BLOCK = "block side(c) { x = conv 1x1 c\n    x -> relu\n    x -> bn }\n"  # the bn is live, the relu dead
PROGRAMS = {
    "newcomer": NEWCOMER,
    "dead conv chain": "x = conv 3x3 4 pad=1\nconv 3x3 4 pad=1, bn, relu\ny = x -> conv 1x1 2\noutput y",
    "a dead fork": "x = conv 1x1 4\nd = x -> conv 1x1 4\nd -> relu\nd -> sigmoid\noutput x",
    "a block with a dead branch": "side(4)\nside(4)",
    "nothing dead": "(a, b) = split 2\nadd(a, b) -> relu\noutput a\noutput b",
}
HEADERS = {"a block with a dead branch": BLOCK}
DEAD = re.compile(r"^(\S+) \(.*?\) reaches no output: no layer or output reads it")


def network(case: str) -> cnndsl.Network:
    return check_body(PROGRAMS[case], "4x8x8", HEADERS.get(case, ""))


def dead_named(net: cnndsl.Network) -> dict[str, list[str]]:
    """Each warned layer -> the dead layers its warning names as feeding it."""
    found = {}
    for w in net.warnings:
        if (m := DEAD.match(w.message)):
            feeders = re.search(r"neither (?:does|do) (.*?), which feeds? it", w.message)
            found[m.group(1)] = feeders.group(1).split(", ") if feeders else []
    return found


def computed(net: cnndsl.Network, model: torch.fx.GraphModule) -> set[str]:
    """The layers the compiled forward computes: a call_module node at the layer's path, or a node named
    after it (`add1`, `blk1_relu1`)."""
    nodes = {n.name for n in model.graph.nodes} | {n.target for n in model.graph.nodes if n.op == "call_module"}
    return {layer.qualname for layer in net.layers() if layer.qualname in nodes or
            layer.qualname.replace(".", "_") in nodes}


@pytest.mark.parametrize("case", PROGRAMS)
def test_warnings_name_exactly_the_layers_the_compiled_model_skips(case):
    net = network(case)
    model = cnndsl.compile(net)
    warned = dead_named(net)
    dead = set(warned).union(*warned.values())
    live = computed(net, model)
    assert not dead & live, f"{case}: warned about computed layers {sorted(dead & live)}"
    skipped = {layer.qualname for layer in net.layers() if layer.inputs and layer.op != "identity"} - live
    assert skipped == dead, f"{case}: torch skips {sorted(skipped)}, the warnings name {sorted(dead)}"
    readers = {u for layer in net.layers() for u, _ in layer.inputs}
    by_name = {layer.qualname: layer for layer in net.layers()}
    assert all(by_name[end].id not in readers for end in warned)  # each warning is at a chain's last layer
    # the modules stay: the parameters are the text's, as summary counts them
    assert sum(p.numel() for p in model.parameters()) == net.count_params()
    assert {k.rsplit(".", 1)[0] for k in model.state_dict()} == {
        layer.qualname for layer in net.layers() if layer.params or layer.op == "bn"}


def test_the_newcomers_case_is_located_at_each_dead_end():
    net = network("newcomer")
    warnings = [w for w in net.warnings if DEAD.match(w.message)]
    layers = {layer.qualname: layer for layer in net.layers()}
    assert [(w.span.line, w.span.col) for w in warnings] == [(layers[n].span.line, layers[n].span.col)
                                                             for n in ("relu1", "mul1")]
    assert dead_named(net) == {"relu1": ["add1"], "mul1": []}
    assert all(w.severity == "warning" for w in warnings)


def test_a_dead_chain_in_a_block_is_warned_at_each_call_with_its_chain():
    net = network("a block with a dead branch")
    warnings = [w for w in net.warnings if DEAD.match(w.message)]
    calls = [b for path, b in net.blocks.items()]
    assert [w.chain for w in warnings] == [b.chain for b in calls]


def test_the_hint_says_parameters_are_kept_only_where_there_are_some():
    net = network("dead conv chain")
    (w,) = [w for w in net.warnings if DEAD.match(w.message)]
    assert "keeps their parameters" in w.hint
    (w, _) = [w for w in network("newcomer").warnings if DEAD.match(w.message)]
    assert "parameters" not in w.hint


def test_check_prints_the_warning(tmp_path: Path, capsys):
    body = NEWCOMER.replace("\n", "\n    ")
    (tmp_path / "d.cnn").write_text(f"network D {{\n    input 4x8x8\n    {body}\n}}\n")
    assert main(["check", str(tmp_path / "d.cnn"), "-q"]) == 0
    err = capsys.readouterr().err
    assert "d.cnn:4:18: warning: relu1 (relu) reaches no output" in err and "d.cnn:5:5: warning: mul1" in err


def test_no_zoo_network_has_dead_layers():
    for path in sorted((ROOT / "architectures").glob("*.cnn")):
        for name in re.findall(r"^network\s+(\w+)", path.read_text(), re.M):
            net = cnndsl.check(path, net=name)
            assert not dead_named(net), f"{path.name} {name}: {[w.message for w in net.warnings]}"


@pytest.mark.parametrize("fmt", ["onnx", "torchscript", "py"])
def test_a_network_with_dead_layers_exports(tmp_path: Path, fmt):
    """Each export writes the forward the model computes; the export checks it against torch itself."""
    from cnndsl.pytorch.export import export

    net = check_body(PROGRAMS["dead conv chain"] + "\nx -> adaptive_avgpool 1 as 7", "4x8x8")  # lowered for onnx
    export(net, fmt, tmp_path / f"d.{fmt}")
    assert (tmp_path / f"d.{fmt}").stat().st_size > 0
