"""Highlighting: the Pygments lexer (entry point `cnn`) and the VS Code TextMate grammar, run by VS Code's
own tokeniser (npm's vscode-textmate on vscode-oniguruma) over every zoo file and checked against
each other and against the language's keywords, ops, numbers, dims, strings and comments."""

from __future__ import annotations

import importlib.metadata
import json
import re
import shutil
import subprocess

import pytest
from pygments.token import Comment, Keyword, Name, Number, Operator, Punctuation, String

import cnndsl.ops
from cnndsl.lang.grammar import keywords
from cnndsl.lang.highlight import CnnLexer, highlight_html
from cnndsl.lang.textmate import GRAMMAR_FILE, grammar_json
from cnndsl.ops import BUILTIN_OPS, REGISTRY
from tests.conftest import ROOT

VSCODE = ROOT / "editors" / "vscode"
FILES = sorted([*ROOT.glob("architectures/*.cnn"), *ROOT.glob("examples/*.cnn"), ROOT / "tests/data/modern.cnn"])


@pytest.fixture(scope="module")
def textmate() -> dict[str, list[list[tuple[int, int, list[str]]]]]:
    """Each file's lines as VS Code tokenises them: [start, end, scopes] per token."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("node and npm are needed to run VS Code's tokeniser")
    if not (VSCODE / "node_modules" / "vscode-textmate").is_dir():  # `make test` installs it first
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=VSCODE, check=True, capture_output=True)
    result = subprocess.run(["node", "test/tokenize.js", *map(str, FILES)], cwd=VSCODE, check=True,
                            capture_output=True, text=True)
    return json.loads(result.stdout)


# one class per kind of token, from each highlighter's names for it
def textmate_class(scopes: list[str]) -> str | None:
    scope = scopes[-1]
    for prefix, kind in [("comment.", "comment"), ("string.", "string"), ("constant.language.", "constant"),
                         ("keyword.operator.word.", "word"), ("keyword.operator.", "operator"),
                         ("keyword.", "keyword"), ("storage.", "keyword"), ("entity.name.type.", "definition"),
                         ("support.function.op.", "op"), ("entity.name.function.", "call"),
                         ("constant.numeric.dims.", "dims"), ("constant.numeric.", "number"),
                         ("variable.", "name"), ("punctuation.", "punctuation")]:
        if scope.startswith(prefix):
            return kind
    return None


def pygments_class(kind: object) -> str | None:
    for token, name in [(Comment, "comment"), (String, "string"), (Keyword.Constant, "constant"),
                        (Operator.Word, "word"), (Operator, "operator"), (Keyword, "keyword"),
                        (Name.Class, "definition"), (Name.Builtin, "op"), (Name.Function, "call"),
                        (Number.Dims, "dims"), (Number, "number"), (Name, "name"), (Punctuation, "punctuation")]:
        if kind in token:
            return name
    return None


def classes_by_textmate(lines: list, text_lines: list[str]) -> dict[tuple[int, int], str | None]:
    found = {}
    for number, (tokens, line) in enumerate(zip(lines, text_lines, strict=False)):
        for start, end, scopes in tokens:
            for col in range(start, end):
                if not line[col].isspace():
                    found[number, col] = textmate_class(scopes)
    return found


def classes_by_pygments(text: str) -> dict[tuple[int, int], str | None]:
    found = {}
    for index, kind, value in CnnLexer().get_tokens_unprocessed(text):
        for offset, char in enumerate(value):
            if not char.isspace():
                at = index + offset
                line = text.count("\n", 0, at)
                found[line, at - (text.rfind("\n", 0, at) + 1)] = pygments_class(kind)
    return found


def test_the_textmate_grammar_is_generated_from_the_registry_and_the_grammar():
    assert (ROOT / GRAMMAR_FILE).read_text() == grammar_json(), "stale: run `python -m cnndsl.lang.textmate`"


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_both_highlighters_give_every_character_of_the_zoo_the_same_class(path, textmate, monkeypatch):
    # the static grammar knows the built-in ops only; Pygments also those of plugins loaded (by other tests)
    monkeypatch.setattr(cnndsl.ops, "REGISTRY", {name: op for name, op in REGISTRY.items() if name in BUILTIN_OPS})
    text = path.read_text()
    by_textmate = classes_by_textmate(textmate[str(path)], text.split("\n"))
    by_pygments = classes_by_pygments(text)
    assert None not in by_textmate.values() and None not in by_pygments.values()  # nothing left unscoped
    assert by_textmate == by_pygments


def scopes_of(textmate: dict, word: str) -> set[str]:
    """The innermost scopes VS Code gives `word` wherever it appears whole in the zoo."""
    found = set()
    for path in FILES:
        for tokens, line in zip(textmate[str(path)], path.read_text().split("\n"), strict=False):
            found |= {scopes[-1] for start, end, scopes in tokens if line[start:end] == word}
    return found


def test_the_zoo_gets_the_scopes_editors_colour(textmate):
    for word in ("block", "network"):
        assert scopes_of(textmate, word) == {"storage.type.cnn"}
    for word in ("input", "let", "for", "if", "else", "repeat", "as"):
        assert scopes_of(textmate, word) == {"keyword.control.cnn"}, word
    assert scopes_of(textmate, "in") == scopes_of(textmate, "and") == {"keyword.operator.word.cnn"}
    assert scopes_of(textmate, "true") == {"constant.language.boolean.cnn"}
    for op in ("conv", "bn", "relu", "maxpool", "fc", "concat", "add"):
        assert scopes_of(textmate, op) == {"support.function.op.cnn"}, op
    assert scopes_of(textmate, "residual") == {"entity.name.type.cnn", "entity.name.function.call.cnn"}
    assert scopes_of(textmate, "channels") == {"variable.other.cnn"}
    assert scopes_of(textmate, "3x3") == scopes_of(textmate, "11x11") == {"constant.numeric.dims.cnn"}
    assert scopes_of(textmate, "4") == {"constant.numeric.integer.cnn"}  # `11x11/4`: dims, `/`, integer
    assert scopes_of(textmate, "/") == {"keyword.operator.cnn"}
    assert scopes_of(textmate, "0.5") == {"constant.numeric.float.cnn"}
    assert scopes_of(textmate, '"block-{i}"') == {"string.quoted.double.cnn"}
    comments = [line for path in FILES for line in path.read_text().split("\n") if line.lstrip().startswith("#")]
    assert comments and scopes_of(textmate, comments[0].lstrip()) == {"comment.line.number-sign.cnn"}


def test_every_keyword_and_op_is_highlighted_by_pygments():
    for word in keywords():
        [(kind, _)] = [(k, v) for k, v in CnnLexer().get_tokens(word) if v == word]
        assert kind in Keyword or kind in Operator.Word, word
    for op in BUILTIN_OPS - keywords():  # `input` is both: a keyword
        [(kind, _)] = [(k, v) for k, v in CnnLexer().get_tokens(op) if v == op]
        assert kind is Name.Builtin, op


def test_pygments_reads_the_registry_when_it_lexes(monkeypatch):
    text = "network A {\n    input 3x8x8\n    my_op 3\n}\n"
    assert (Name, "my_op") in CnnLexer().get_tokens(text)
    monkeypatch.setitem(REGISTRY, "my_op", REGISTRY["relu"])  # as a plugin registers it
    assert (Name.Builtin, "my_op") in CnnLexer().get_tokens(text)


def test_highlighted_html_marks_ops_and_dims():
    html = highlight_html("conv 11x11/4 96  # stem\n")
    assert '<span class="nb">conv</span>' in html and "11x11" in html and '<span class="c1"># stem</span>' in html


def test_the_lexer_is_registered_as_cnn():
    tomllib = pytest.importorskip("tomllib")
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["entry-points"]["pygments.lexers"]
    assert declared == {"cnn": "cnndsl.lang.highlight:CnnLexer"}
    installed = [e for e in importlib.metadata.entry_points(group="pygments.lexers") if e.name == "cnn"]
    if not installed:
        pytest.skip("the installed cnndsl predates the entry point: reinstall it (make setup)")
    from pygments.lexers import get_lexer_by_name, get_lexer_for_filename

    assert type(get_lexer_by_name("cnn")).__name__ == "CnnLexer"
    assert type(get_lexer_for_filename("resnet.cnn")).__name__ == "CnnLexer"


def test_vscode_extension_contributes_the_language():
    manifest = json.loads((VSCODE / "package.json").read_text())
    [language] = manifest["contributes"]["languages"]
    assert language["id"] == "cnn" and language["extensions"] == [".cnn"]
    [grammar] = manifest["contributes"]["grammars"]
    assert (VSCODE / grammar["path"]).resolve() == (ROOT / GRAMMAR_FILE).resolve()
    config = json.loads((VSCODE / language["configuration"]).read_text())
    assert config["comments"]["lineComment"] == "#"
    assert ["{", "}"] in config["brackets"] and ["(", ")"] in config["brackets"]
    assert re.fullmatch(r"\d+\.\d+\.\d+", manifest["devDependencies"]["vscode-textmate"])
