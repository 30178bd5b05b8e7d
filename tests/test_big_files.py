"""The biggest files the front end may be given (benchmarks/big_files.py times them at full
size): each is accepted, or refused with an error at the right place. The token limit is
lowered here so that the files stay small; the paths they take are the same."""

from __future__ import annotations

import functools
import itertools

import pytest
from lark import Lark, Token, Tree

import cnndsl
from benchmarks import big_files as big
from cnndsl.lang import grammar
from cnndsl.lang.grammar import MAX_NESTING, Layout, grammar_path
from cnndsl.lang.parser import MAX_TREE_DEPTH, parse
from cnndsl.lang.source import program_from_text
from tests.conftest import ARCH, error_of, where

LIMIT = 2_000


@pytest.fixture(autouse=True)
def small_token_limit(monkeypatch):
    monkeypatch.setattr(grammar, "MAX_TOKENS", LIMIT)
    parse.cache_clear()  # a text parsed under another limit is not looked up again
    yield
    parse.cache_clear()


@functools.cache
def plain_lark() -> Lark:
    return Lark(grammar_path().read_text(), parser="lalr", lexer="basic", start="start")


def plain_tokens(text: str) -> list:
    """Lark's own tokens for `text`, without the post-lexer: what the limit counts."""
    return list(plain_lark().lex(text))


def assert_refused_at_token(text: str, number: int) -> None:
    exc = error_of(text)
    assert exc.message == f"the file has more than {LIMIT:,} tokens (names, numbers, symbols, line breaks)"
    token = plain_tokens(text)[number - 1]
    assert where(exc) == (token.line, token.column)
    assert "import" in exc.diagnostic.hint


def layer_count(net: cnndsl.Network) -> int:
    return sum(1 for layer in net.layers() if layer.op == "relu")


@pytest.mark.parametrize("make", list(big.FILLS), ids=lambda make: make.__name__)
def test_the_benchmark_s_fullest_files_fill_the_limit(make):
    most = big.most(make, LIMIT)
    assert len(plain_tokens(make(most))) <= LIMIT < len(plain_tokens(make(most + 1)))


@pytest.mark.parametrize("make", [big.layer_lines, big.one_line], ids=["lines", "one line"])
def test_as_many_layers_as_the_limit_allows_and_no_more(make):
    most = big.most(make, LIMIT)
    assert layer_count(cnndsl.check_text(make(most), file="t.cnn")) == most
    assert_refused_at_token(make(most + 1), LIMIT + 1)


def test_a_file_far_over_the_limit_is_refused_where_it_passes_it():
    assert_refused_at_token(big.relu_file(100_000), LIMIT + 1)
    assert_refused_at_token(big.small_blocks_file(100_000), LIMIT + 1)


def test_small_blocks_up_to_the_limit_are_all_defined():
    count = big.most(big.small_blocks, LIMIT)
    program = program_from_text(big.small_blocks(count))
    assert sorted(program.blocks) == sorted(f"b{i}" for i in range(count))
    assert layer_count(cnndsl.check_text(big.small_blocks(count))) == 1
    assert_refused_at_token(big.small_blocks(count + 1), LIMIT + 1)


def test_comments_and_blank_lines_are_not_counted_one_by_one():
    # half a megabyte of them, far more lines than the limit
    for text in (big.comments(500_000), big.blank_lines(500_000)):
        net = cnndsl.check_text(text, file="t.cnn")
        relu_line = text.split("\n").index("    relu") + 1
        assert [(layer.span.line, layer.span.col) for layer in net.layers() if layer.op == "relu"] == [(relu_line, 5)]


def test_a_broken_line_after_comment_lines_is_reported_where_it_was():
    """At the newline after the last comment, as when each comment was a token of its own."""
    text = "network A {\n    input 3x8x8\n    let x = 1 +\n    # one\r\n\n      # two # three\n    2\n}\n"
    exc = error_of(text)
    assert exc.message.startswith("unexpected end of line")
    lines = text.split("\n")
    comment = next(i for i, line in enumerate(lines) if "three" in line)
    assert where(exc) == (comment + 1, len(lines[comment]) + 1)


def test_brackets_at_the_nesting_limit_and_one_deeper():
    cnndsl.check_text(big.brackets(big.most(big.brackets, LIMIT)), file="t.cnn")
    text = big.brackets(1).replace("(1)", "((1))")
    exc = error_of(text)
    assert exc.message == f"brackets and braces nest deeper than {MAX_NESTING}"
    line = text.split("\n")[2]
    assert where(exc) == (3, line.index("(") + MAX_NESTING)  # the brace is the first level


def test_expressions_at_the_depth_limit_and_one_deeper():
    text = big.deep_expressions(big.most(big.deep_expressions, LIMIT))
    cnndsl.check_text(text, file="t.cnn")
    deeper = big.deep_expressions(3).replace("- 1", "- - 1")
    exc = error_of(deeper)
    assert exc.message == f"expression nested deeper than {MAX_TREE_DEPTH} levels"
    lines = deeper.split("\n")
    last_let = max(i for i, line in enumerate(lines) if "let" in line)
    assert where(exc) == (last_let + 1, lines[last_let].index("1") + 1)  # the last line's innermost node


@functools.cache
def reference_lark() -> Lark:
    return Lark(grammar_path().read_text(), parser="lalr", lexer="basic", postlex=Layout(), start="start",
                propagate_positions=True, maybe_placeholders=True)


def reference_tree(text: str) -> Tree:
    """The tree Lark builds itself, with positions: what the parser built before it built the
    syntax tree directly."""
    return reference_lark().parse(text)


def first_too_deep(tree: Tree) -> tuple[int, int]:
    """Where a depth-first search of Lark's tree, last child first, meets the first node deeper
    than MAX_TREE_DEPTH: the node the depth error points at."""
    stack = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_TREE_DEPTH:
            return node.meta.line, node.meta.column
        stack.extend((c, depth + 1) for c in node.children if isinstance(c, Tree))
    raise AssertionError("no node is too deep")


@pytest.mark.parametrize("text", [
    big.long_sum(MAX_TREE_DEPTH + 50),
    big.deep_expressions(2) + big.long_sum(MAX_TREE_DEPTH).replace("big", "other"),
    big.HEAD + "    let x = " + "1 if x else " * 250 + "2\n" + big.TAIL,
    big.HEAD + "    relu\n" + "    if x {\n" * 60 + "    relu\n" + "    }\n" * 60 + big.TAIL,
    big.HEAD + "    let y = (" + "- - (" * 60 + "- " * 90 + "1" + ")" * 61 + "\n    let z = 1\n" + big.TAIL,
], ids=["sum", "two networks", "conditions", "ifs", "brackets"])
def test_the_depth_error_points_where_lark_s_tree_is_first_too_deep(text):
    exc = error_of(text)
    if "if x {" in text:  # the statements are too deep, not an expression (issue 13)
        assert exc.message.startswith("`if`, `repeat`, `for` and merges nested too deeply")
    else:
        assert exc.message == f"expression nested deeper than {MAX_TREE_DEPTH} levels"
    assert where(exc) == first_too_deep(reference_tree(text))


def test_spans_are_those_of_lark_s_own_tree():
    """The parser builds the syntax tree itself; every span in it is the extent of a node or a
    token of the tree Lark builds with `propagate_positions` (with its brackets around an
    expression in parentheses, as a parent's span includes them)."""
    extra = "network P(a=(1)) {\n    input 3x8x8\n    let x = ((a) + (2)) * -(3)\n    conv (3) ((4))/(2) pad=(1)\n}\n"
    for text in [*(p.read_text() for p in sorted(ARCH.glob("*.cnn"))), extra]:
        tree = reference_tree(text)
        tokens = tree.scan_values(lambda v: isinstance(v, Token))
        extents = {(t.line, t.column, t.end_line, t.end_column) for t in tokens}
        extents |= {(m.line, m.column, m.end_line, m.end_column)
                    for m in (t.meta for t in tree.iter_subtrees()) if not m.empty}
        spans = set(itertools.chain.from_iterable(_spans(d) for d in parse(text, "t.cnn").definitions))
        assert spans and spans <= extents, sorted(spans - extents)[:5]


def _spans(node: object):
    """Every span in a syntax node and below, as (line, col, end_line, end_col); not a call's
    `func_span`, which is its CALL token without the '('."""
    if isinstance(node, tuple):
        for item in node:
            yield from _spans(item)
    elif hasattr(node, "__dataclass_fields__"):
        for name in node.__dataclass_fields__.keys() - {"func_span"}:
            value = getattr(node, name)
            if isinstance(value, cnndsl.errors.Span):
                yield (value.line, value.col, value.end_line, value.end_col)
            else:
                yield from _spans(value)
