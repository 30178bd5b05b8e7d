"""Every class of error is located (line, column) with a useful message, rendered as
`file:line:col: error: ...` with the source line, a caret and the block call chain."""

from __future__ import annotations

import pytest

from tests.conftest import error_of, where

NET = "network A {{\n    input 3x32x32\n    {}\n}}\n"

# (body line, expected column, message fragment, hint fragment or None)
CASES = [
    ("convolution 3x3 16", 5, "unknown op 'convolution'", "did you mean 'conv'?"),
    ("conv 3x3 16 padding=1", 17, "conv has no argument 'padding'", "did you mean 'pad'?"),
    ("conv 3x3", 5, "conv needs out", "signature: conv kernel out"),
    ("conv 3x3 4 relu", 16, "conv takes 2 positional arguments, got 3", "',' missing before 'relu'"),
    ("conv 3x3 16, fc 10", 18, "fc expects a flat input (got 16x30x30); add 'flatten' before it", None),
    ("conv 3x3 16 groups=5", 5, "groups=5 must divide both the input channels (3)", None),
    ("maxpool 64x64", 5, "leaves no output on a 3x32x32 input", None),
    ("conv 3x3 c", 14, "undefined name 'c'", None),
    ("relu(3)", 5, "`relu` is an op: write its arguments without parentheses", None),
    ("conv 3x3 16.5", 14, "conv out must be a positive integer, got float 16.5", None),
    ("conv 3x3 4 bias=1", 16, "conv bias must be true or false, got int 1", None),
    ("conv 3x3 4 pad=same stride=2", 5, "pad=same needs stride 1", None),
    ("conv 3x3/2 4 stride=2", 18, "conv stride is given by a '/' suffix", None),
    ("dropout 1.5", 13, "dropout p must be a number between 0.0 and 1.0", None),
    ("concat { conv 3x3 4 | conv 3x3 4 pad=1 }", 5, "`concat` branches disagree in size: 4x30x30 vs 4x32x32", None),
    ("add { conv 1x1 4 | identity }", 5, "`add` branches disagree: 4x32x32 vs 3x32x32", None),
    ("mul { conv 1x1 4 | conv 1x1 5 }", 5, "`mul` branches do not broadcast", None),
    ("conv 1x1 5, split 2", 17, "split 2 needs channels divisible by 2 (got 5)", None),
    ("split 3, relu", 14, "`relu` follows a layer with 3 outputs", "(a, b, c) = ..."),
    ("(a, b) = split 3", 5, "2 names for 3 outputs", None),
    ("conv 3x3 (1, 2)[5]", 14, "index 5 out of range for a tuple of 2", None),
    ("conv 3x3 (4 // 0)", 15, "division by zero", None),
    ("conv 3x3 (2 ** 100)", 15, "arithmetic overflow", None),
    ("conv 3x3 (4 + true)", 15, "cannot apply '+' to int and bool", None),
    ("if 1 { relu }", 8, "a condition must be true or false, got int 1", None),
    ("repeat -1 { relu }", 12, "repeat needs a non-negative integer", None),
    ("for i in 3 { relu }", 14, "for needs a tuple or range(...), got 3", None),
    ("for (a, b) in (1, 2) { relu }", 19, "cannot unpack 1 into 2 names", None),
    ("conv 3x3 4 as a\n    relu as a", 5, "the name 'a' is already used at t.cnn:3:5", None),
    ("f -> relu", 5, "undefined name 'f'", None),
    ("let f = 3\n    f -> relu", 5, "'f' is a value, not a tensor", None),
    ("foo(3)", 5, "unknown block 'foo'", "define it with `block foo(...)"),
    ("range(3)", 5, "range(...) is a value, not a layer", None),
    ("conv 3x3 lenn((1, 2))", 14, "unknown function 'lenn'", "did you mean 'len'?"),
    ("conv 3x3 max(1, (2,))", 14, "max() takes numbers", None),
    ("conv { relu | relu }", 5, "`conv` does not take branches", None),
    ("add 3", 5, "`add` joins branches", None),
    ("input 3x8x8", 5, "a network has one `input`", None),
    ("output zz", 12, "undefined name 'zz'", None),
    ("conv 3x3 4 $", 16, "unexpected character '$'", None),
    ("conv 3x3/2/2 4", 15, "unexpected '/'", None),
    ("conv 3x3 4 )", 16, "')' does not match '{' opened at line 1, column 11", None),
    ("conv (3x3 4", 15, "unexpected '4'", None),
]


@pytest.mark.parametrize("body,col,message,hint", CASES, ids=[c[2][:40] for c in CASES])
def test_error_is_located(body, col, message, hint):
    exc = error_of(NET.format(body))
    assert message in exc.message
    line = 3 + (body.count("\n") if "already used" in message or "not a tensor" in message else 0)
    assert where(exc) == (line, col)
    if hint:
        assert hint in (exc.diagnostic.hint or "")


def test_rendering_matches_the_language_contract():
    """LANGUAGE.md §8, to the character."""
    text = ("block residual(c) {\n    conv 3x3 c pad=1\n\n\n\n\n    add { conv 3x3 384 pad=1 | identity }\n}\n"
            "network N {\n    input 3x13x13\n    conv 3x3 256 pad=1\n        residual(256)\n}\n")
    exc = error_of(text)
    rendered = exc.render({"t.cnn": text})
    assert rendered.splitlines() == [
        "t.cnn:7:5: error: `add` branches disagree: 384x13x13 vs 256x13x13",
        "    add { conv 3x3 384 pad=1 | identity }",
        "    ^~~",
        "  in block `residual` called at t.cnn:12:9",
    ]


def test_nested_call_chain_innermost_first():
    text = ("block inner(c) { fc c }\nblock outer(c) { inner(c) }\n"
            "network N {\n    input 3x8x8\n    outer(4)\n}\n")
    lines = error_of(text).render({"t.cnn": text}).splitlines()
    assert lines[0] == "t.cnn:1:18: error: fc expects a flat input (got 3x8x8); add 'flatten' before it"
    assert lines[3:] == ["  in block `inner` called at t.cnn:2:18", "  in block `outer` called at t.cnn:5:5"]


def test_recursion_is_an_error_with_a_folded_chain():
    text = "block b(x) { b(x) }\nnetwork A {\n    input 3x8x8\n    b(1)\n}\n"
    exc = error_of(text)
    assert "block calls nest deeper than 100 (is 'b' recursive?)" in exc.message
    assert where(exc) == (1, 14)
    assert "(99 times)" in exc.render({"t.cnn": text})


@pytest.mark.parametrize("text,line,col,message", [
    ("network A {\n    input 3x8x8\n    conv 3x3 4\n", 1, 11, "'{' is never closed"),
    ("network A {\n    input 3x8x8\n}\n}\n", 4, 1, "'}' has no matching opening bracket"),
    ("network {\n}\n", 1, 9, "unexpected '{'"),
    ("network A {\n    input 3x8x8\n    conv 3x3 4,\n}\n", 4, 1, "unexpected '}'"),
    ("network A(c) {\n    input 3x8x8\n    fc c\n}\n", 1, 11, "network 'A' needs a value for 'c'"),
    ("block conv(x) { relu }\n", 1, 1, "block 'conv' would shadow the op 'conv'"),
    ("block b() { relu }\nblock b() { relu }\n", 2, 1, "'b' is already defined at t.cnn:1:1"),
    ("network A {\n    conv 3x3 4\n}\n", 2, 5, "`conv` has no input: a network starts with `input CxHxW`"),
    ("network A {\n    relu\n}\n", 2, 5, "`relu` has no input"),
    ("block b() { input 3x8x8 }\nnetwork A {\n    input 3x8x8\n    b()\n}\n", 1, 13, "`input` belongs in a network"),
    ("network A {\n    input 0x8x8\n}\n", 2, 11, "input must be a shape like 3x224x224"),
    ("block b(x) { relu }\nnetwork A {\n    input 3x8x8\n    b(1, 2)\n}\n", 4, 10, "block 'b' takes 1 argument, got 2"),
    ("block b(x) { relu }\nnetwork A {\n    input 3x8x8\n    b(y=2)\n}\n", 4, 7, "block 'b' has no parameter 'y'"),
    ("block b(x) { relu }\nnetwork A {\n    input 3x8x8\n    b()\n}\n", 4, 5, "block 'b' needs 'x'"),
    ("block b(x) { relu }\nnetwork A {\n    input 3x8x8\n    b\n}\n", 4, 5, "'b' is a block: call it with parentheses"),
    ("import \"../../x.cnn\"\n", 1, 1, "leaves the directory of the importing file"),
    ("import \"nothere.cnn\"\n", 1, 1, "cannot import \"nothere.cnn\": no such file"),
    ("network A {\n    input 3x8x8\n    conv 3x3 'x'\n}\n", 3, 14, "unexpected character"),
])
def test_file_level_errors(text, line, col, message):
    exc = error_of(text)
    assert message in exc.message
    assert where(exc) == (line, col)


def test_unknown_set_parameter_suggests():
    exc = error_of("network A(ratio=1) {\n    input 3x8x8\n}\n", rato=2)
    assert "network 'A' has no parameter 'rato'" in exc.message
    assert exc.diagnostic.hint == "did you mean 'ratio'?"
