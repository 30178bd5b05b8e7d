"""Any text in, a located error or a correct graph out: property-based tests of the front end
(thousands of cases in CI; benchmarks/fuzz.py runs 100,000)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.lark import from_lark
from lark import Lark

import cnndsl
from benchmarks.mutations import HUGE, ODD, check_all, hostile, mutate, zoo_texts
from cnndsl.lang.grammar import grammar_path
from cnndsl.request import parse_shape, parse_value

ZOO = zoo_texts()
# the big files (ResNet, DenseNet) take ~100 ms a check; benchmarks/fuzz.py mutates every file
SMALL = ["alexnet.cnn", "googlenet.cnn", "lenet.cnn", "nin.cnn", "vgg.cnn"]
REGRESSIONS = Path(__file__).parent / "data" / "fuzz"


def fast(n: int) -> settings:
    return settings(max_examples=n, deadline=None, database=None, suppress_health_check=list(HealthCheck))


@fast(1300)
@given(st.sampled_from(SMALL), st.integers(0, 2**32))
def test_mutated_zoo_files(name, seed):
    check_all(mutate(ZOO[name], random.Random(seed)))


@fast(300)
@given(st.integers(0, 2**32))
def test_huge_values_and_odd_characters_on_purpose(seed):
    """Huge literals and values wherever a value goes, expansions past the limits, Unicode digits
    and line breaks anywhere: a located error, soon (benchmarks/mutations.py, `hostile`)."""
    check_all(hostile(random.Random(seed)))


COMMAND_LINE = st.one_of(st.sampled_from(HUGE), st.text(alphabet="0123456789", min_size=15, max_size=6000),
                         st.lists(st.sampled_from(["1", "9", "0", "x", ".", "e", "*", "(", ")", ",", " ", *ODD]),
                                  max_size=40).map("".join),
                         st.text(max_size=30))


@fast(300)
@given(COMMAND_LINE)
def test_set_values_and_input_shapes_from_any_text(text):
    """`--set K=TEXT` and `--input TEXT` give a value or a CnnError, whatever the text."""
    for parse in (parse_value, parse_shape):
        try:
            parse(text)
        except cnndsl.CnnError:
            pass


@pytest.mark.parametrize("name", ["lenet.cnn", "nin.cnn"])
def test_truncation_at_every_position(name):
    text = ZOO[name]
    for i in range(len(text) + 1):
        check_all(text[:i])


GRAMMAR_TEXTS = from_lark(Lark(grammar_path().read_text(), parser="lalr", lexer="basic", start="start"),
                          start="start")


@fast(400)
@given(GRAMMAR_TEXTS)
def test_texts_generated_from_the_grammar(text):
    check_all(text)
    check_all(" ".join(text))  # with spaces the tokens separate as a person would write them


LAYERS = ["conv 3x3 {c} pad=1", "conv 1x1/2 {c}", "conv 3 {c} pad=same", "conv 3x3/2 {c} groups=1", "bn", "relu",
          "maxpool 2x2/2", "avgpool 3x3/1 pad=1 ceil=true", "dropout 0.1", "identity", "sigmoid", "gelu",
          "leaky_relu 0.2", "upsample 2", "lrn 3", "hardswish", "maxpool 3/2 pad=1"]
MERGES = ["add {{ identity | conv 3x3 {c} pad=1 }}", "concat {{ identity | conv 1x1 {c} }}",
          "mul {{ identity | gap, conv 1x1 {c}, sigmoid }}"]


@st.composite
def programs(draw):
    c = draw(st.sampled_from([2, 4, 8]))
    items = draw(st.lists(st.sampled_from(LAYERS + MERGES), min_size=1, max_size=8))
    body = "\n    ".join(i.format(c=c) for i in items)
    head = draw(st.sampled_from(["", "\n    gap, flatten, fc 3", "\n    flatten, fc 5, bn, relu"]))
    size = draw(st.sampled_from([5, 8, 16]))
    return f"block unit() {{\n    {body}\n}}\nnetwork N {{\n    input {c}x{size}x{size}\n    unit(){head}\n}}\n"


@fast(200)
@given(programs())
def test_generated_networks_compile_to_the_shapes_they_promise(text):
    try:
        net = cnndsl.check_text(text)
    except cnndsl.CnnError as exc:
        assert exc.span is not None and exc.span.line >= 1
        return
    model = cnndsl.compile(net).eval()
    with torch.no_grad():
        out = model(torch.rand(2, *net.input_shape))
    assert tuple(out.shape[1:]) == net.output_shapes[0]
    assert sum(p.numel() for p in model.parameters()) == net.count_params()


@pytest.mark.parametrize("path", sorted(REGRESSIONS.glob("*.cnn")), ids=lambda p: p.name)
def test_regressions_found_by_fuzzing(path):
    check_all(path.read_bytes().decode("utf-8", errors="replace"))
