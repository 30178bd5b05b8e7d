"""Hostile inputs end in a located CnnError, early: huge literals, odd Unicode, expansions past
the limits (refused before they expand: the messages say "would"), huge values quoted in
messages, and the limits table of docs/errors.md against the constants."""

from __future__ import annotations

import re

import pytest

import cnndsl
from cnndsl.elaborate import Limits
from cnndsl.elaborate.elaborator import network_args
from cnndsl.elaborate.estimate import Estimator, Size
from cnndsl.lang import grammar, parser, source
from cnndsl.lang import limits as value_limits
from cnndsl.lang.values import Scope
from cnndsl.request import parse_shape, parse_value
from tests.conftest import ROOT, check_body, error_of, where, wrap

BEFORE = "this statement would bring the network to at least"  # refused before expanding


def body_error(body: str, **kwargs) -> cnndsl.CnnError:
    return error_of(wrap(body, "3x8x8"), **kwargs)


# ---- literals, --set values and --input shapes
@pytest.mark.parametrize("text", ["1" * 5000, "0" * 30 + "1" * 25, "36893488147419103232"])
def test_an_integer_literal_past_64_bits_is_located(text):
    exc = body_error(f"    conv 3x3 {text}")
    assert "integer too large" in exc.message
    assert where(exc) == (4, 14)


def test_leading_zeros_do_not_count():
    net = check_body("    conv 3x3 " + "0" * 5000 + "4", "3x8x8")
    assert net.output_shapes == [(4, 6, 6)]


@pytest.mark.parametrize("text", ["1e999", "1e99999999999", "9" * 400 + ".5"])
def test_a_float_literal_beyond_a_float_is_located(text):
    exc = body_error(f"    upsample {text}")
    assert "number too large" in exc.message
    assert where(exc) == (4, 14)


def test_a_dims_literal_past_64_bits():
    exc = error_of("network A {\n    input 1x36893488147419103232x1\n}\n")
    assert "integer too large (66 bits" in exc.message
    assert where(exc) == (2, 11)


@pytest.mark.parametrize("text", ["1" * 5000, "1e999", "(0,) * 10 ** 9", "((0,) * 1000000,) * 1000000",
                                  "2 ** 64", "(-8) ** 0.5"])
def test_set_values_past_the_limits_are_cnn_errors(text):
    with pytest.raises(cnndsl.CnnError):
        parse_value(text)


@pytest.mark.parametrize("text", ["1x²8x28", "1x٣x3", "3x𝟚x2", "1x36893488147419103232x1", "1" * 5000, "0x3x3", ""])
def test_input_shapes_of_odd_digits_or_past_64_bits(text):
    with pytest.raises(cnndsl.CnnError, match="input shape"):
        parse_shape(text)


def test_an_input_shape_past_the_elements_limit_is_refused_at_check():
    shape = parse_shape("1x1099511627776x2")  # 2^41 elements: fits int64, not the limit
    with pytest.raises(cnndsl.CnnError, match="would give a tensor of 1x1099511627776x2") as info:
        cnndsl.check_text(wrap("    relu"), input=shape, file="t.cnn")
    assert where(info.value) == (3, 5)


def test_sizes_computed_past_the_limits():
    assert "elements per sample" in body_error("    upsample 1e300").message
    assert "elements per sample" in body_error("    conv 3x3 (2 ** 62)").message


# ---- expansions refused before they expand
@pytest.mark.parametrize("body,unit", [
    ("repeat 10 ** 12 { relu }", "layers"),
    ("repeat 10 ** 12 { }", "steps of building"),
    ("repeat 1000000 { repeat 1000000 { } }", "steps of building"),
    ("for i in range(1000000) { relu }", "layers"),
    ("for i in range(1000) { for j in range(1000) { relu } }", "layers"),
    ("for t in ((1, 2),) * 300000 { relu, relu }", "layers"),
    ("concat {" + " | ".join(["repeat 100 { relu }"] * 1001) + "}", "layers"),
])
def test_loops_and_merges_past_the_limits_are_refused_before_they_expand(body, unit):
    exc = body_error("    " + body)
    assert BEFORE in exc.message and unit in exc.message
    assert where(exc) == (4, 5)


TWICE = "block b(n) {{\n    if n > 0 {{ b(n - 1), b(n - 1) }}{orelse}\n}}\n"


@pytest.mark.parametrize("orelse", [" else { relu }", ""])
def test_a_block_calling_itself_twice_40_deep_is_refused_before_it_expands(orelse):
    exc = error_of(wrap("    b(40)", "3x8x8", TWICE.format(orelse=orelse)))
    assert BEFORE in exc.message and "block calls" in exc.message
    assert where(exc) == (7, 5)


def test_a_block_call_whose_size_depends_on_its_input_is_refused_at_the_call():
    """Its `if` reads in_channels, unknown until the call: the estimate at the call decides it."""
    header = TWICE.format(orelse=" else { relu }") + "block b2(n) {\n    if in_channels > 0 { b(n) }\n}\n"
    exc = error_of(wrap("    b2(40)", "3x8x8", header))
    assert "`b2(...)` would bring the network to at least" in exc.message
    assert where(exc) == (10, 5)


def test_growth_no_estimate_sees_is_stopped_by_the_limits():
    header = "block b(n) {\n    if in_channels > 0 and n > 0 { b(n - 1), b(n - 1) }\n}\n"
    exc = error_of(wrap("    b(40)", "3x8x8", header), limits=Limits(max_blocks=300))
    assert "more than the limit of 300" in exc.message or "more than 300 block calls" in exc.message


def test_the_estimate_refuses_nothing_that_fits():
    net = check_body("    repeat 3 { conv 3x3 4 pad=1 }\n    for i in range(3) { relu }", limits=Limits(max_layers=7))
    assert net.graph.number_of_nodes() == 7
    exc = error_of(wrap("    repeat 3 { conv 3x3 4 pad=1 }\n    for i in range(4) { relu }"),
                   limits=Limits(max_layers=7))
    assert BEFORE in exc.message and where(exc) == (5, 5)


def test_tuples_are_bounded_before_they_are_built():
    for body in ["let t = (0,) * 10 ** 9", "let t = ((0,) * 1000000,) * 1000000", "let t = range(10 ** 12)",
                 "let t = enumerate(range(600000))", "let t = zip(range(400000), range(400000))"]:
        exc = body_error("    " + body)
        assert re.search(r"too (large|long)", exc.message), body
        assert exc.span.line == 4, body
    deep = "\n".join(["    let t = 1"] + ["    let t = (t,)"] * 101)
    exc = body_error(deep)
    assert "tuples nested deeper than 100" in exc.message and where(exc) == (105, 13)


def test_work_without_layers_is_bounded():
    exc = body_error("    for i in range(100000) { let t = range(1000000) }")
    assert "building the network takes more than" in exc.message and where(exc) == (4, 38)


# ---- huge values quoted in messages
def quoted_error(body: str, **kwargs) -> str:
    exc = body_error(body, **kwargs)
    return exc.render({"t.cnn": wrap(body, "3x8x8")})


def test_a_huge_tuple_is_abbreviated_in_messages():
    text = quoted_error("    let t = ((0,) * 999,) * 1000\n    conv 3x3 t")
    assert len(text) < 1000 and "... 1000 items)" in text


def test_a_failed_unpack_of_a_huge_tuple_is_abbreviated():
    text = quoted_error("    for (a, b) in ((0,) * 999,) * 1000 { relu }")
    assert "cannot unpack (0, 0," in text and len(text) < 1000


def test_a_huge_set_value_is_abbreviated():
    exc = error_of("network A(c) {\n    input 3x8x8\n    flatten, fc c\n}\n", c=parse_value("(0,) * 1000000"))
    assert len(exc.message) < 400 and "... 1000000 items)" in exc.message


@pytest.mark.parametrize("value,message", [(10 ** 5000, "integer too large"), (float("inf"), "not a finite number"),
                                           ((0,) * 2_000_000, "tuple too large")], ids=["int", "inf", "tuple"])
def test_python_values_are_held_to_the_same_limits(value, message):
    exc = error_of("network A(c) {\n    input 3x8x8\n}\n", c=value)
    assert exc.message.startswith("parameter 'c': ") and message in exc.message


def test_a_long_source_line_is_cut_around_the_caret():
    body = "    conv 3x3 " + "1" * 5000
    rendered = body_error(body).render({"t.cnn": wrap(body, "3x8x8")}).splitlines()
    line, caret = rendered[1], rendered[2]
    assert len(line) < 200 and line.endswith("...") and caret.index("^") == line.index("1")


@pytest.mark.parametrize("odd", ["\u2028", "\u2029", "\x85", "\x0b", "\x0c", "\x1c"])
def test_line_separators_python_splits_at_do_not_shift_the_shown_line(odd):
    text = f"network A {{\n    input 3x8x8 # a{odd}b\n    conv 3x3 $\n}}\n"
    exc = error_of(text)
    assert where(exc) == (3, 14)
    assert exc.render({"t.cnn": text}).splitlines()[1] == "    conv 3x3 $"


@pytest.mark.parametrize("odd", ["²", "٣", "ñ", "名", "\u2028", "\x85", "\u200b"])
def test_odd_characters_in_code_are_located(odd):
    exc = body_error(f"    conv 3x3 4{odd}")
    assert "unexpected character" in exc.message and where(exc) == (4, 15)


# ---- imports
def chain(folder, n: int) -> None:
    """f0.cnn imports f1.cnn imports ... f{n-1}.cnn; f0 holds the network."""
    for i in range(n):
        text = f'import "f{i + 1}.cnn"\n' if i < n - 1 else ""
        text += f"block b{i}() {{ relu }}\n"
        if i == 0:
            text += "network A {\n    input 3x8x8\n    b5()\n}\n"
        (folder / f"f{i}.cnn").write_text(text)


def test_a_chain_of_a_thousand_imports(tmp_path):
    chain(tmp_path, source.MAX_FILES)  # deeper than Python's recursion limit allowed before
    assert cnndsl.check(tmp_path / "f0.cnn").output_shapes == [(3, 8, 8)]


def test_more_files_than_the_limit(tmp_path, monkeypatch):
    monkeypatch.setattr(source, "MAX_FILES", 5)
    chain(tmp_path, 6)
    with pytest.raises(cnndsl.CnnError, match="the program imports more than 5 files") as info:
        cnndsl.check(tmp_path / "f0.cnn")
    assert info.value.span.file.endswith("f4.cnn") and where(info.value) == (1, 1)


# ---- parameters
def test_duplicate_parameters_of_a_network():
    exc = error_of("network A(c, c=2) {\n    input 3x8x8\n}\n")
    assert "parameter 'c' is declared twice" in exc.message and where(exc) == (1, 14)


@pytest.mark.parametrize("name", ["in_channels", "in_shape"])
def test_a_block_parameter_may_not_hide_the_input_names(name):
    exc = error_of(f"block b(c, {name}=1) {{ relu }}\n")
    assert f"cannot be named '{name}'" in exc.message and where(exc) == (1, 12)


# ---- the limits table
def documented_limits() -> dict[str, int]:
    """docs/errors.md, "Limits": `defined in` -> value."""
    text = (ROOT / "docs" / "errors.md").read_text().split("## Limits", 1)[1]
    rows = [[c.strip() for c in line.split("|")[1:-1]] for line in text.splitlines() if line.startswith("| ")]
    return {row[2].strip("`"): int(re.match(r"[\d,]+", row[1]).group().replace(",", ""))
            for row in rows[1:] if re.match(r"\d", row[1])}


def test_the_limits_table_is_the_constants():
    limits = Limits()
    assert documented_limits() == {
        "Limits.max_layers": limits.max_layers, "Limits.max_blocks": limits.max_blocks,
        "Limits.max_depth": limits.max_depth, "Limits.max_steps": limits.max_steps,
        "Limits.max_elements": limits.max_elements, "Limits.max_rank": limits.max_rank,
        "cnndsl.lang.limits.MAX_INT_BITS": value_limits.MAX_INT_BITS,
        "cnndsl.lang.limits.MAX_LITERAL_DIGITS": value_limits.MAX_LITERAL_DIGITS,
        "cnndsl.lang.limits.MAX_SEQUENCE": value_limits.MAX_SEQUENCE,
        "cnndsl.lang.limits.MAX_TUPLE_DEPTH": value_limits.MAX_TUPLE_DEPTH,
        "cnndsl.lang.source.MAX_FILE_BYTES": source.MAX_FILE_BYTES,
        "cnndsl.lang.source.MAX_FILES": source.MAX_FILES,
        "cnndsl.lang.grammar.MAX_NESTING": grammar.MAX_NESTING,
        "cnndsl.lang.grammar.MAX_TOKENS": grammar.MAX_TOKENS,
        "cnndsl.lang.parser.MAX_TREE_DEPTH": parser.MAX_TREE_DEPTH,
    }


def test_the_literal_digits_limit_is_the_width_of_the_largest_integer():
    assert value_limits.MAX_LITERAL_DIGITS == len(str(2 ** value_limits.MAX_INT_BITS))


# ---- the estimate against the real thing
ZOO = [(f, name) for f in sorted((ROOT / "architectures").glob("*.cnn")) for name in cnndsl.networks(f)]


@pytest.mark.parametrize("path,name", ZOO, ids=[f"{f.stem}-{n}" for f, n in ZOO])
def test_the_estimate_brackets_the_layers_and_block_calls_of_every_zoo_network(path, name):
    program = source.load_program(path)
    estimator = Estimator(program, Limits())
    scope = estimator.scope(Scope(estimator.globals, network_args(program.networks[name], {})))
    size = Size()
    for stmt in program.networks[name].body:
        size += estimator.statement(stmt, scope)
    graph = cnndsl.check(path, net=name).graph
    calls = [info for info in graph.graph["blocks"].values() if not info.get("container")]  # not a dotted name's
    layers, blocks = graph.number_of_nodes(), len(calls)
    assert size.low[0] <= layers <= size.high[0] and size.low[2] <= blocks <= size.high[2]
    assert size.fits(Limits(), (0, 0, 0))  # so elaborating a zoo network never estimates again


def test_block_sizes_are_remembered_by_typed_arguments():
    """1 and true are equal in Python; `repeat n` runs once for 1 and is an error for true."""
    text = "block b(n) { repeat n { relu } }\n" + wrap("    b(true)")
    exc = error_of(text)
    assert "repeat needs a non-negative integer, got true" in exc.message
    program = source.program_from_text("block b(n) { repeat n { relu } }\n")
    estimator = Estimator(program, Limits())
    block = program.blocks["b"]
    assert estimator.call_size(block, {"n": 5}, 0).low[0] == 5
    assert estimator.call_size(block, {"n": True}, 0).low[0] == 0
