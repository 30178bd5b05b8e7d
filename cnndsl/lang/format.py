"""`cnndsl fmt`: the one canonical layout of a .cnn file (docs/editors.md, "Formatting").

The formatter keeps every token and every line break the user wrote and changes only the
whitespace between them, so the parse (and the compiled network) cannot change:

- indentation: 4 spaces per `{ }` level; a line that continues a statement (inside brackets,
  or after a trailing `,` `->` or `=`) 4 more; a branch's leading `|` 2 less, as the zoo writes it;
  a line starting with a closing bracket lines up with the line that opened it;
- spacing: one space between tokens, except none inside brackets and calls, before `,` `[` `)`
  `]`, after a unary `-`/`+`, around a keyword argument's or default's `=` (`pad=1`) and around
  a layer argument's stride `/` (`3x3/2`);
- lines longer than WIDTH columns are broken after a comma (a line break after a comma never
  ends a statement), at the last comma that fits;
- comments stay on their line; a trailing comment keeps its column when the code still ends two
  spaces before it (aligned comments stay aligned), else it follows the code after two spaces;
- runs of blank lines become one; none at the start and end of the file or of a `{ }` body.

The syntax tree says which `-`, `=` and `/` are which; the token stream (comments included)
gives the layout. As a safeguard the result is lexed again and must hold the same tokens,
statement breaks and comments, or an internal error is raised rather than a changed program.
"""

from __future__ import annotations

import dataclasses
import re
from bisect import bisect_left
from collections.abc import Iterator
from copy import copy

from lark import Token
from lark.lexer import BasicLexer, LexerThread

from ..errors import Span
from . import syntax as ast
from .grammar import Layout, parser
from .parser import parse

WIDTH = 120  # the project's line length (ruff's for Python); the zoo's longest lines fit
INDENT = 4
_OPENERS = {"LPAR", "LSQB", "CALL"}  # `{` is tracked apart: it sets the indentation
_CONTINUES = {",", "->", "="}  # a line ending with one of these goes on on the next line


@dataclasses.dataclass
class _Line:
    """One source line: its code tokens, a trailing comment (0-based column as written), or a
    whole-line comment (no code); `blank_before` when blank lines preceded it."""

    code: list[Token]
    comment: str | None = None
    comment_col: int = 0
    blank_before: bool = False


@dataclasses.dataclass(frozen=True)
class _Tight:
    """The positions (line, column) of the tokens written without spaces around or after them."""

    unary: frozenset[tuple[int, int]]  # `-`/`+` of a unary operation: no space after
    equals: frozenset[tuple[int, int]]  # `=` of a keyword argument or a default: none around
    slashes: frozenset[tuple[int, int]]  # `/` of a layer argument's stride: none around


def format_text(text: str, file: str = "<string>") -> str:
    """`text` (a whole .cnn file) in the canonical layout; formatting the result again changes nothing.
    Raises CnnError, located in `file`, when the text does not parse."""
    text = text.removeprefix("\ufeff")
    module = parse(text, file)
    tokens = list(_raw_tokens(text))
    result = _render(_lines(tokens), _tight_tokens(module, tokens))
    _check_same_program(tokens, result, file)
    return result


def _raw_tokens(text: str) -> Iterator[Token]:
    """Every token of `text` as the parser's lexer reads it, with comments and whitespace (no post-lexer)."""
    conf = copy(parser().lexer_conf)
    conf.ignore = ()
    return LexerThread.from_text(BasicLexer(conf), text).lex(None)


def _walk(node: object) -> Iterator[object]:
    """Every syntax node under `node` (itself included)."""
    if isinstance(node, tuple):
        for item in node:
            yield from _walk(item)
    elif dataclasses.is_dataclass(node) and not isinstance(node, Span):
        yield node
        for value in vars(node).values():  # the fields: node classes have no __slots__
            if isinstance(value, tuple) or dataclasses.is_dataclass(value):
                yield from _walk(value)


def _tight_tokens(module: ast.Module, tokens: list[Token]) -> _Tight:
    """Which `-`, `=` and `/` tokens the syntax tree says are unary, keyword and stride ones."""
    positions = [(t.line, t.column) for t in tokens]
    unary, names, stride_ends = set(), set(), []
    for node in _walk(module.definitions):
        if isinstance(node, ast.UnaryOp) and node.op in "-+":
            unary.add((node.span.line, node.span.col))
        elif isinstance(node, (ast.Keyword, ast.InitRule)) or isinstance(node, ast.Param) and node.default is not None:
            names.add((node.span.line, node.span.col))  # the span starts at the name, `=` follows it
        elif isinstance(node, ast.Arg) and node.stride is not None:
            stride_ends.append((node.value.span.end_line, node.value.span.end_col))
    significant = [i for i, t in enumerate(tokens) if not _is_space(t)]
    equals = set()
    for before, after in zip(significant, significant[1:], strict=False):
        if (positions[before]) in names and tokens[after].type == "EQUAL":
            equals.add(positions[after])
    slashes = set()
    for end in stride_ends:  # the first `/` after the argument's value (past its closing brackets)
        i = bisect_left(positions, end)
        while tokens[i].type != "SLASH":
            i += 1
        slashes.add(positions[i])
    return _Tight(frozenset(unary), frozenset(equals), frozenset(slashes))


def _is_space(tok: Token) -> bool:
    return tok.type.startswith("__IGNORE") or tok.type in ("_NL", "COMMENT")


def _lines(tokens: list[Token]) -> list[_Line]:
    """The file as lines of code tokens and comments; blank lines become `blank_before` marks."""
    lines: list[_Line] = []
    current = _Line([])
    blank = False
    for tok in tokens:
        if tok.type.startswith("__IGNORE"):
            continue
        if tok.type == "COMMENT":
            current.comment, current.comment_col = tok.value.rstrip(), tok.column - 1
        elif tok.type == "_NL":
            lines.append(current)
            pieces = tok.value.split("\n")  # [rest of this line, whole lines..., indentation of the next]
            for number, piece in enumerate(pieces[1:], 2):
                if piece.strip():
                    lines.append(_Line([], piece.strip(), blank_before=blank))
                    blank = False
                elif number < len(pieces):
                    blank = True
            current = _Line([], blank_before=blank)
            blank = False
        else:
            current.code.append(tok)
    lines.append(current)
    return [line for line in lines if line.code or line.comment is not None]


class _Layout:
    """The bracket state while lines are laid out: it decides each line's indentation."""

    def __init__(self) -> None:
        self.stack: list[tuple[str, int]] = []  # ("{" or "(", the indentation of the line that opened it)
        self.last: str | None = None  # the last code token so far

    def body_indent(self) -> int:
        """The indentation of a statement in the innermost `{ }` (0 outside braces)."""
        for kind, indent in reversed(self.stack):
            if kind == "{":
                return indent + INDENT
        return 0

    def continued(self) -> bool:
        """Whether a line starting now continues a statement: brackets open, or a trailing `,` `->` `=`."""
        return bool(self.stack) and self.stack[-1][0] == "(" or self.last in _CONTINUES

    def indent_of(self, first: Token | None) -> int:
        """The indentation of a line starting with `first` (None: a whole-line comment)."""
        if first is not None and first.type in ("RBRACE", "RPAR", "RSQB") and self.stack:
            return self.stack[-1][1]  # a closing bracket lines up with the line that opened it
        if first is not None and first.type == "VBAR":
            return max(self.body_indent() - 2, 0)
        if first is not None and first.type == "ELSE":
            return self.body_indent()
        return self.body_indent() + (INDENT if self.continued() else 0)

    def take(self, tok: Token, line_indent: int) -> None:
        """Track `tok`, written on a line indented by `line_indent`."""
        if tok.type == "LBRACE":
            self.stack.append(("{", line_indent))
        elif tok.type in _OPENERS:
            self.stack.append(("(", line_indent))
        elif tok.type in ("RBRACE", "RPAR", "RSQB") and self.stack:
            self.stack.pop()
        self.last = tok.value


def _gap(a: Token, b: Token, tight: _Tight) -> str:
    """The space between two tokens on one line."""
    if b.type in ("COMMA", "RPAR", "RSQB", "LSQB") or a.type in _OPENERS:
        return ""
    if (a.line, a.column) in tight.unary:
        return ""
    for tok in (a, b):
        if (tok.line, tok.column) in tight.equals or (tok.line, tok.column) in tight.slashes:
            return ""
    if a.type == "LBRACE" and b.type == "RBRACE":
        return ""
    return " "


def _render(lines: list[_Line], tight: _Tight) -> str:
    """The laid-out text of `lines`."""
    out: list[str] = []
    layout = _Layout()
    for line in lines:
        first = line.code[0] if line.code else None
        drop_blank = not out or out[-1].endswith("{") or (first is not None and first.type == "RBRACE")
        if line.blank_before and not drop_blank:
            out.append("")
        if not line.code:
            out.append(" " * layout.indent_of(None) + line.comment)
            continue
        pieces = _wrapped(line.code, layout, tight)
        if line.comment is not None:
            column = max(line.comment_col, len(pieces[-1]) + 2)
            pieces[-1] = pieces[-1].ljust(column) + line.comment
        out.extend(pieces)
    return "\n".join(out) + "\n" if out else ""


def _wrapped(code: list[Token], layout: _Layout, tight: _Tight) -> list[str]:
    """One line's code as one or more lines of at most WIDTH columns where a comma allows, tracking
    the brackets in `layout`."""
    pieces: list[str] = []
    start = 0
    while start < len(code):
        indent = layout.indent_of(code[start])
        texts = [code[start].value]
        ends: list[int] = [indent + len(texts[0])]  # the column after each token
        for a, b in zip(code[start:], code[start + 1:], strict=False):
            texts.append(_gap(a, b, tight) + b.value)
            ends.append(ends[-1] + len(texts[-1]))
        stop = len(code)
        if ends[-1] > WIDTH:
            commas = [i for i in range(len(texts) - 1) if code[start + i].type == "COMMA"]
            fitting = [i for i in commas if ends[i] <= WIDTH]
            if fitting or commas:
                stop = start + 1 + (fitting[-1] if fitting else commas[0])
        pieces.append(" " * indent + "".join(texts[:stop - start]))
        for tok in code[start:stop]:
            layout.take(tok, indent)
        start = stop
    return pieces


def _comments(tokens: list[Token]) -> list[str]:
    found = []
    for tok in tokens:
        if tok.type in ("COMMENT", "_NL"):
            found += [c.rstrip() for c in re.findall(r"#[^\n]*", tok.value)]
    return found


def _check_same_program(before: list[Token], after: str, file: str) -> None:
    """The safeguard: `after` must lex to the tokens, statement breaks and comments of `before` (its tokens)."""
    def program(tokens: list[Token]) -> tuple[list[tuple[str, str]], list[str]]:
        kept = (t for t in tokens if not t.type.startswith("__IGNORE") and t.type != "COMMENT")
        return [(t.type, "" if t.type == "_NL" else t.value) for t in Layout().process(kept)], _comments(tokens)

    if program(before) != program(list(_raw_tokens(after))):
        raise RuntimeError(f"the formatter would change the program in {file}; the file is left as it is")
