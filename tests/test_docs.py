"""The examples in README.md and docs/language.md work as written; the docs' generated parts
are what the op registry states."""

from __future__ import annotations

import re

import pytest

import cnndsl
from cnndsl.cli import main
from cnndsl.ops import REGISTRY
from cnndsl.ops.docs import GENERATED, fill, op_table
from tests.conftest import ARCH, ROOT

DOCS = [ROOT / "README.md", ROOT / "docs" / "language.md"]


def cnn_blocks(path):
    blocks = re.findall(r"```(?:cnn)?\n(.*?)```", path.read_text(), flags=re.S)  # `cnn`: Pygments highlights it
    return [b for b in blocks if re.match(r"\s*(#|network|block)", b)]


@pytest.mark.parametrize("path", DOCS, ids=[p.name for p in DOCS])
def test_documented_programs_compile(path):
    blocks = cnn_blocks(path)
    assert blocks, f"no .cnn examples found in {path.name}"
    program = "\n".join(blocks)
    for name in cnndsl.networks_in_text(program):
        net = cnndsl.check_text(program, net=name)
        assert net.output_shapes, name


@pytest.mark.parametrize("region", sorted(GENERATED))
def test_generated_docs_match_the_registry(region):
    """docs/language.md's op table and docs/analysis.md's MAC table are what the registry
    states; `python -m cnndsl.ops.docs` rewrites them after an op changes."""
    relative, content = GENERATED[region]
    text = (ROOT / relative).read_text(encoding="utf-8")
    assert fill(text, region, content()) == text, f"{relative} is stale: run `python -m cnndsl.ops.docs`"


def test_every_op_is_in_the_op_table():
    table = op_table()
    assert all(f"| `{name}` |" in table for name, op in REGISTRY.items() if not op.is_input)


def test_the_summary_footer_states_every_counting_op(capsys):
    """The footer of `cnndsl summary` names each op that counts MACs, with its convention."""
    assert main(["summary", str(ARCH / "lenet.cnn"), "--net", "LeNet"]) == 0
    footer = " ".join(capsys.readouterr().out.split())
    for op in REGISTRY.values():
        if op.macs:
            assert op.name in footer and op.macs in footer, op.name
