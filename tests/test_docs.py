"""The examples in README.md and docs/language.md work as written."""

from __future__ import annotations

import re

import pytest

import cnndsl
from tests.conftest import ROOT

DOCS = [ROOT / "README.md", ROOT / "docs" / "language.md"]


def cnn_blocks(path):
    blocks = re.findall(r"```\n(.*?)```", path.read_text(), flags=re.S)
    return [b for b in blocks if re.match(r"\s*(#|network|block)", b)]


@pytest.mark.parametrize("path", DOCS, ids=[p.name for p in DOCS])
def test_documented_programs_compile(path):
    blocks = cnn_blocks(path)
    assert blocks, f"no .cnn examples found in {path.name}"
    program = "\n".join(blocks)
    for name in cnndsl.networks_in_text(program):
        net = cnndsl.check_text(program, net=name)
        assert net.output_shapes, name
