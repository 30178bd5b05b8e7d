"""Every class of error is located (line, column) with a useful message, rendered as
`file:line:col: error: ...` with the source line, a caret and the block call chain."""

from __future__ import annotations

import re

import pytest

import cnndsl
from tests.conftest import ROOT, error_of, where

NET = "network A {{\n    input 3x32x32\n    {}\n}}\n"
DOC = ROOT / "docs" / "errors.md"


def documented_errors() -> list[tuple[str, str, int, int, str]]:
    """The rows of docs/errors.md: (message, program text, line, column, hint)."""
    rows = []
    for line in DOC.read_text().splitlines():
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]
        if len(cells) != 5 or not cells[0].isdigit() or cells[3] == "—":
            continue
        message, example, at, hint = (c.replace("\\|", "|") for c in cells[1:])
        example = example.strip("`").replace("⏎", "\n")
        text = example + "\n" if re.match(r"(block|network|import)\b", example) else NET.format(example)
        line_no, col = map(int, at.split(":"))
        rows.append((message, text, line_no, col, hint))
    return rows


ROWS = documented_errors()


def test_the_table_covers_the_errors():
    assert len(ROWS) >= 60


@pytest.mark.parametrize("message,text,line,col,hint", ROWS, ids=[r[0][:40] for r in ROWS])
def test_every_documented_error_is_located(message, text, line, col, hint):
    exc = error_of(text)
    assert message in exc.message
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


def test_import_cycle_points_at_the_import(tmp_path):
    (tmp_path / "x.cnn").write_text('import "y.cnn"\n')
    (tmp_path / "y.cnn").write_text('\n\nimport "x.cnn"\n')
    with pytest.raises(cnndsl.CnnError, match=r"import cycle: x.cnn -> y.cnn -> x.cnn") as info:
        cnndsl.check(tmp_path / "x.cnn")
    assert (info.value.span.line, info.value.span.col) == (3, 1)


def test_a_file_that_is_not_utf8(tmp_path):
    bad = tmp_path / "latin1.cnn"
    bad.write_bytes("# réseau\nnetwork A {\n input 1\n}\n".encode("latin-1"))
    with pytest.raises(cnndsl.CnnError, match="is not UTF-8 text"):
        cnndsl.check(bad)


def test_unknown_set_parameter_suggests():
    exc = error_of("network A(ratio=1) {\n    input 3x8x8\n}\n", rato=2)
    assert "network 'A' has no parameter 'rato'" in exc.message
    assert exc.diagnostic.hint == "did you mean 'ratio'?"


@pytest.mark.parametrize("call", ["file", "text"])
def test_an_api_error_shows_its_line_caret_and_hint_in_a_traceback(tmp_path, call):
    """A notebook shows a CnnError's traceback, not the CLI's report: the line, caret and hint ride
    along as a note (PEP 678) under `str(exc)`, which stays `file:line:col: message`."""
    import traceback

    text = "network N {\n    input 3x8x8\n    conv 3x3 4, rleu\n}\n"
    path = tmp_path / "bad.cnn"
    path.write_text(text)
    with pytest.raises(cnndsl.CnnError) as info:
        cnndsl.check(path) if call == "file" else cnndsl.check_text(text)
    assert str(info.value).endswith("3:17: unknown op 'rleu'")
    shown = "".join(traceback.format_exception(info.value))
    assert "    conv 3x3 4, rleu\n                ^~~~\n  hint: did you mean 'relu'?" in shown
    assert info.value.__notes__ == [info.value.render({str(path): text, "<string>": text}).partition("\n")[2]]
