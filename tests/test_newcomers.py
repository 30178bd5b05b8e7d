"""What newcomers ran into (issue 13, the front end): one-line networks, limits refused before any
expansion, hints by meaning (other tools' op names, misspelt words, operators in arguments), control
characters in messages and deep nesting."""

from __future__ import annotations

import pytest
from lark import Lark

import cnndsl
from cnndsl.lang.grammar import Layout, grammar_path
from cnndsl.lang.parser import parse
from cnndsl.lang.syntax import Flow, Input
from cnndsl.ops import REGISTRY
from cnndsl.ops.aliases import ALIASES
from tests.conftest import error_of, where, wrap

BEFORE = "would bring the network to at least"


# ---- 1. `input SHAPE, items` on one line
def _same_network(one_line: str, lines: str, **kwargs) -> cnndsl.Network:
    a = cnndsl.check_text(one_line, file="t.cnn", **kwargs)
    b = cnndsl.check_text(lines, file="t.cnn", **kwargs)
    assert [(layer.name, layer.shape) for layer in a.layers()] == [(layer.name, layer.shape) for layer in b.layers()]
    assert a.stage_shapes == b.stage_shapes and a.output_shapes == b.output_shapes
    return a


def test_a_network_on_one_line_is_the_network_on_several():
    net = _same_network("network N { input 1x28x28, conv 3x3 8, relu }",
                        "network N {\n    input 1x28x28\n    conv 3x3 8, relu\n}\n")
    assert net.output_shapes == [(8, 26, 26)]
    assert len(list(net.layers())) == 3


def test_the_grammar_stays_lalr_without_conflicts():
    """`input SHAPE, items` added no conflict: the grammar builds under Lark's strict mode."""
    Lark(grammar_path().read_text(), parser="lalr", lexer="basic", postlex=Layout(), start=["start", "expr"],
         strict=True)


def test_the_input_s_items_are_a_statement_of_their_own():
    text = "network N { input 1x28x28, conv 3x3 8, relu as r }"
    (net,) = parse(text, "t.cnn").definitions
    shape, flow = net.body
    assert isinstance(shape, Input) and isinstance(flow, Flow)
    assert [item.op for item in flow.items] == ["conv", "relu"] and flow.items[1].alias == "r"
    # columns are 1-based, the end exclusive: `input 1x28x28` and `conv 3x3 8, relu as r`
    assert (shape.span.col, shape.span.end_col) == (text.index("input") + 1, text.index(",") + 1)
    assert (flow.span.col, flow.span.end_col) == (text.index("conv") + 1, text.index(" }") + 1)


def test_a_tuple_input_with_items_takes_parameters_and_the_input_override():
    one = "network G(nz=100) {\n    input (nz, 1, 1), conv 1x1 8, relu\n    flatten, fc 10\n}\n"
    lines = "network G(nz=100) {\n    input (nz, 1, 1)\n    conv 1x1 8, relu\n    flatten, fc 10\n}\n"
    assert _same_network(one, lines, nz=7).input_shape == (7, 1, 1)
    assert _same_network(one, lines, input=(5, 2, 2)).layer("fc1").shape == (10,)


def test_an_input_with_items_in_a_block_is_still_refused_at_the_input():
    exc = error_of("block b() { input 3x8x8, relu }\nnetwork A {\n    input 3x8x8\n    b()\n}\n")
    assert "`input` belongs in a network" in exc.message and where(exc) == (1, 13)


# ---- 2. loops past the layer limit, refused before they expand
@pytest.mark.parametrize("header,body,line", [
    ("", "repeat 1000000000000 { relu }", 4),
    ("", "repeat 100000 { repeat 100000 { relu } }", 4),
    ("", "for i in range(100000) { for j in range(100000) { relu } }", 4),
    ("", "repeat 1000000000000 { add { relu | identity } }", 4),
    ("block b(n) {\n    repeat n { relu }\n}\n", "repeat 1000 { b(1000), b(1000000) }", 7),
    ("block b() {\n    b(), relu\n}\n", "repeat 1000000000 { b() }", 7),
])
def test_a_loop_past_the_layer_limit_is_refused_at_the_loop(header, body, line):
    exc = error_of(wrap("    " + body, "3x8x8", header))
    assert BEFORE in exc.message and "layers, more than the limit of" in exc.message
    assert where(exc) == (line, 5)


def test_a_loop_in_a_block_is_refused_at_the_call():
    exc = error_of(wrap("    b()", "3x8x8", "block b() {\n    repeat in_channels * 1000000000000 { relu }\n}\n"))
    assert f"`b(...)` {BEFORE} 3000000000001 layers" in exc.message and where(exc) == (7, 5)


# ---- 3. hints by meaning
def _hint(body: str) -> str:
    return error_of(wrap("    " + body, "3x8x8")).diagnostic.hint or ""


@pytest.mark.parametrize("other,op", [(other, op) for other, ops in ALIASES.items() for op in ops[:1]])
def test_other_tools_names_hint_the_cnndsl_op(other, op):
    if op not in REGISTRY:
        pytest.skip(f"{op} is not an op (yet)")
    assert _hint(f"{other} 3").startswith(f"did you mean '{op}'")


@pytest.mark.parametrize("other,ops", [("Linear", ("fc", "linear")), ("AdaptiveAvgPool2d", ("adaptive_avgpool", "gap")),
                                       ("LeakyReLU", ("leaky_relu",)), ("Conv2d", ("conv",))])
def test_a_hint_names_every_registered_op_of_that_meaning(other, ops):
    hint = _hint(f"{other} 3")
    assert all(f"'{op}'" in hint for op in ops) and f"`{other}`" in hint


@pytest.mark.parametrize("other,op", [("ConvTranspose2d", "conv_transpose"), ("deconv", "conv_transpose"),
                                      ("GroupNorm", "groupnorm"), ("PixelShuffle", "pixel_shuffle")])
def test_ops_added_later_are_hinted_once_registered(other, op):
    if op not in REGISTRY:
        pytest.skip(f"{op} is not an op (yet)")
    assert _hint(f"{other} 3").startswith(f"did you mean '{op}'")


def test_a_name_of_an_op_not_registered_gets_no_hint_by_spelling(monkeypatch):
    monkeypatch.delitem(REGISTRY, "conv_transpose", raising=False)
    assert _hint("deconv 2 8") == "cnndsl has no op for what other tools call `deconv`"


def test_a_block_call_of_another_tool_s_layer_is_hinted():
    exc = error_of(wrap("    Conv2d(3, 8, 3)", "3x8x8"))
    assert exc.message == "unknown block 'Conv2d'" and "'conv'" in exc.diagnostic.hint


@pytest.mark.parametrize("body,col,word", [("conv 3x3 4 pad=smae", 20, "same"),
                                           ("upsample 2 mode=bilinaer", 21, "bilinear")])
def test_a_misspelt_word_of_a_parameter_is_hinted(body, col, word):
    exc = error_of(wrap("    " + body, "3x8x8"))
    assert exc.message.startswith("undefined name") and where(exc) == (4, col)
    assert exc.diagnostic.hint == f"did you mean '{word}'?"


def test_a_value_of_that_name_is_still_a_value():
    exc = error_of(wrap("    let smae = 2.5\n    conv 3x3 4 pad=smae", "3x8x8"))
    assert "conv pad must be" in exc.message


@pytest.mark.parametrize("body,at,hint", [
    ("let k = (3, 3)\n    conv 3x3 4 pad=k[0] // 2", (5, 25), "`pad=(k[0] // 2)`"),
    ("conv 3x3 4 pad=1+1, relu", (4, 21), "`pad=(1+1)`"),
    ("conv 3x3 4 pad=-1 - 1", (4, 23), "`pad=(-1 - 1)`"),
    ("conv 3x3 4 pad=2 if true else 1", (4, 22), "`pad=(...)`"),
    ("fc 2 * 3 bias=false", (4, 10), "arguments are atoms: put an expression in parentheses, `(2 * 3)`"),
])
def test_an_operator_after_a_layer_s_argument_hints_parentheses(body, at, hint):
    exc = error_of(wrap("    " + body, "3x8x8"))
    assert exc.message.startswith("unexpected") and where(exc) == at
    assert hint in exc.diagnostic.hint


@pytest.mark.parametrize("body", ["relu + 1", "x = relu * 2"])
def test_an_operator_after_an_op_s_name_gets_no_argument_hint(body):
    assert "atom" not in (error_of(wrap("    " + body, "3x8x8")).diagnostic.hint or "")


@pytest.mark.parametrize("body,at,hint", [
    ("repeet 3 { relu }", (4, 14), "`repeet` reads as a layer's op; did you mean 'repeat'?"),
    ("fro i in range(3) { relu }", (4, 11), "did you mean 'for'?"),
    ("relu, iff true { relu }", (4, 20), "did you mean 'if'?"),
    ("concat { relu | rpeat 2 { relu } }", (4, 29), "did you mean 'repeat'?"),
    ("lett x = 3", (4, 5), "did you mean 'let'?"),
    ("relu\n    ouput x", (5, 5), "did you mean 'output'?"),
    ("let x = tru", (4, 13), "did you mean 'true'?"),
])
def test_misspelt_keywords_are_hinted(body, at, hint):
    exc = error_of(wrap("    " + body, "3x8x8"))
    assert where(exc) == at and hint in (exc.diagnostic.hint or "")


def test_an_op_followed_by_braces_gets_no_keyword_hint():
    assert error_of(wrap("    conv 3x3 4 { relu }", "3x8x8")).diagnostic.hint is None


# ---- 4. control characters and nesting
def test_control_characters_are_escaped_in_messages_and_the_line():
    text = wrap('    relu as "x\x07y"\n    relu \x1b[31m', "3x8x8")
    exc = error_of(text)
    rendered = exc.render({"t.cnn": text})
    assert "\x1b" not in rendered and "\x1b" not in str(exc)
    head, line, caret = rendered.splitlines()[:3]
    assert head.endswith("unexpected character '\\x1b'")
    assert line == "    relu ?[31m" and caret.index("^") == line.index("?")


def test_a_bidirectional_override_is_escaped():
    text = wrap('    relu as "a\u202eb"', "3x8x8")
    rendered = error_of(text).render({"t.cnn": text})
    assert "\u202e" not in rendered and "\\u202e" in rendered


def _nested_ifs(n: int) -> str:
    return wrap("    " + "if true { " * n + "relu" + " }" * n, "3x8x8")


def test_deeply_nested_ifs_say_what_is_too_deep():
    assert cnndsl.check_text(_nested_ifs(45), file="t.cnn").output_shapes == [(3, 8, 8)]
    exc = error_of(_nested_ifs(99))
    assert exc.message.startswith("`if`, `repeat`, `for` and merges nested too deeply")
    assert exc.diagnostic.hint == "move the inner part into a block of its own"


@pytest.mark.parametrize("other,look_alike", [("Conv3d", "conv"), ("conv1d", "conv"), ("selu", "elu"),
                                              ("rnn", "lrn"), ("attention", "flatten")])
def test_a_layer_cnndsl_lacks_is_said_to_be_lacking_not_hinted_by_spelling(other, look_alike):
    hint = _hint(f"{other} 3")
    assert hint.startswith(f"cnndsl has no op for what other tools call `{other}`: "), hint
    assert f"'{look_alike}'" not in hint


@pytest.mark.parametrize("body,word", [("conv 3x3 16 pad=1 relu", "relu"), ("conv 3x3 16 pad=1 bn, relu", "bn"),
                                       ("conv 3x3 16 pad=1 bias=false relu", "relu")])
def test_a_missing_comma_after_a_keyword_argument_is_hinted(body, word):
    exc = error_of(wrap("    " + body, "3x8x8"))
    assert exc.message.endswith("expected '='") and exc.diagnostic.hint == f"a ',' missing before '{word}'?"


def test_a_let_without_its_equals_sign_gets_no_comma_hint():
    exc = error_of(wrap("    let x 3\n    relu", "3x8x8"))
    assert exc.diagnostic.hint is None or "','" not in exc.diagnostic.hint


@pytest.mark.parametrize("body,size", [("conv 3X3 8", "3x3"), ("relu", None)])
def test_sizes_written_with_a_capital_x_or_a_times_sign_are_hinted(body, size):
    if size:
        exc = error_of(wrap("    " + body, "3x8x8"))
        assert "lowercase x" in exc.diagnostic.hint and where(exc)[1] == body.index("X3") + 5
    else:
        exc = error_of("network N {\n    input 3\u00d78\u00d78\n    relu\n}\n")
        assert exc.message == "unexpected character '\u00d7'" and "letter x" in exc.diagnostic.hint
