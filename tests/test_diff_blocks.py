"""`diff` folds block instances at a depth, and a folded row differs whenever anything inside it
differs, however deep: no change is invisible at a shallower depth (the newcomer's case: a dropout
added inside a block changes no shape, parameter or MAC, only memory and the block's contents)."""

from __future__ import annotations

from pathlib import Path

import pytest

import cnndsl
from cnndsl.analysis.compare import compare
from cnndsl.cli import main

LEAF = "conv 3x3 c pad=1, bn, relu, dropout 0.2"
PROGRAM = """block leaf(c) {{ {leaf} }}
block mid(c) {{ leaf(c), leaf(c) }}
block outer(c) {{ mid(c), maxpool 2x2 }}
network T {{
    input 3x16x16
    outer(8)
    outer(16)
    flatten, fc 10
}}
"""
DEPTHS = range(4)  # the top level, outer, mid and leaf: every layer is a row of its own at 3

# each a change inside the innermost block that no shape, parameter or MAC count shows
MUTATIONS = {
    "layer added": LEAF + ", identity",
    "layer removed": "conv 3x3 c pad=1, bn, relu",
    "argument changed": "conv 3x3 c pad=1, bn, relu, dropout 0.3",
    "order changed": "conv 3x3 c pad=1, relu, bn, dropout 0.2",
    "init changed": "conv 3x3 c pad=1 init=zeros, bn, relu, dropout 0.2",
}


def network(leaf: str) -> cnndsl.Network:
    return cnndsl.check_text(PROGRAM.format(leaf=leaf))


def signatures(net: cnndsl.Network) -> dict[str, tuple]:
    """Each layer's path -> what it is and what it reads, by path."""
    names = {layer.id: layer.qualname for layer in net.layers()}
    return {layer.qualname: (layer.label, layer.init, tuple(names[n] for n, _ in layer.inputs))
            for layer in net.layers()}


def rows(a: cnndsl.Network, b: cnndsl.Network, depth: int) -> set[str]:
    return {d.name for d in compare(a, b, depth).differences}


@pytest.mark.parametrize("mutation", MUTATIONS)
@pytest.mark.parametrize("depth", DEPTHS)
def test_every_block_around_a_change_differs_at_every_depth(mutation, depth):
    a, b = network(LEAF), network(MUTATIONS[mutation])
    sa, sb = signatures(a), signatures(b)
    changed = {name for name in sa.keys() | sb.keys() if sa.get(name) != sb.get(name)}  # or whose input did
    assert changed, mutation  # the mutation changes some layer
    enclosing = {".".join(name.split(".")[:depth + 1]) for name in changed}
    listed = rows(a, b, depth)
    assert enclosing <= listed, f"{mutation} at depth {depth}: {sorted(enclosing - listed)} not listed"
    assert listed == enclosing, f"{mutation} at depth {depth}: rows no change is in are listed"


@pytest.mark.parametrize("depth", DEPTHS)
def test_a_network_against_itself_differs_nowhere(depth):
    net = network(LEAF)
    assert rows(net, network(LEAF), depth) == set()


def test_diff_marks_the_block_calls_a_dropout_was_added_in(tmp_path: Path, capsys):
    """The newcomer's case: `dropout 0.1` added inside `double_conv`, compared at depth 0."""
    block = "block double_conv(c) {{ conv 3x3 c pad=1, bn, relu, {}conv 3x3 c pad=1, bn, relu }}\n"
    body = """network U {
    input 3x16x16
    e1 = double_conv(8)
    b = maxpool 2x2, double_conv(16)
    u = b -> conv_transpose 2x2/2 8
    concat(e1, u) -> double_conv(8), conv 1x1 2
}
"""
    a, b = tmp_path / "a.cnn", tmp_path / "b.cnn"
    a.write_text(block.format("") + body)
    b.write_text(block.format("dropout 0.1, ") + body)
    assert main(["diff", str(a), str(b)]) == 0
    out = capsys.readouterr().out
    first = [line.split()[0] for line in out.splitlines()[2:]]
    instances = [".".join(path) for path in cnndsl.check(str(b)).blocks]
    assert "(no layer differs)" not in out
    assert [name for name in first if name in instances] == instances
    for name in instances:
        assert f"{name}.dropout1: -  ->  dropout 0.1" in out


@pytest.mark.parametrize("depth", DEPTHS)
def test_a_call_that_reads_differently_marks_the_blocks_around_it(depth):
    """An argument the block does not use changes no layer, only the call (`leaf(8, 1)`), a row of its own
    at depth 2: the rows around it show it at every depth above."""
    program = PROGRAM.replace("block leaf(c)", "block leaf(c, unused=0)")
    a = cnndsl.check_text(program.format(leaf=LEAF))
    b = cnndsl.check_text(program.replace("leaf(c), leaf(c)", "leaf(c), leaf(c, 1)").format(leaf=LEAF))
    calls_a, calls_b = ({".".join(p): blk.call for p, blk in net.blocks.items()} for net in (a, b))
    changed = {name for name in calls_a if calls_a[name] != calls_b[name]}
    assert changed and signatures(a) == signatures(b)
    # deeper than the call itself, every row is a layer: nothing differs there
    enclosing = {".".join(name.split(".")[:depth + 1]) for name in changed if name.count(".") >= depth}
    assert rows(a, b, depth) == enclosing
