"""Finds grammars/cnn.lark and builds the LALR parser with its layout post-lexer (cached)."""

from __future__ import annotations

import functools
import hashlib
import re
from pathlib import Path

from lark import Lark, Token


def grammar_path() -> Path:
    """The grammar file: inside an installed wheel, or at the top of a source checkout."""
    here = Path(__file__).resolve().parent.parent  # the cnndsl package
    for candidate in (here / "grammars" / "cnn.lark", here.parent / "grammars" / "cnn.lark"):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError("cnndsl's grammar file cnn.lark is missing from the installation")


@functools.cache
def keywords() -> frozenset[str]:
    """The grammar's reserved words (`block`, `for`, `as`, ...): they cannot be bare names."""
    return frozenset(re.findall(r'"([a-z]+)"', grammar_path().read_text()))


class LayoutError(Exception):
    """Unbalanced brackets or a limit passed, found by the post-lexer; the parser gives it a span."""

    def __init__(self, message: str, token: Token, hint: str | None = None) -> None:
        super().__init__(message)
        self.token = token
        self.hint = hint


_OPEN = {"(": ")", "[": "]", "{": "}"}
MAX_NESTING = 100  # brackets and braces inside one another (docs/language.md, "Limits")
# Tokens in one file (a run of line breaks, blank and comment lines is one): the time to parse
# and check a file grows with them (docs/performance.md, "Big files"); resnet.cnn has 1,300.
MAX_TOKENS = 50_000
_CLOSE = {")", "]", "}"}
# after these a newline never ends a statement: the line goes on
_CONTINUES = {"{", ",", "|", "->", "=", "(", "["}
# before these a newline is dropped: `}` closes, `|` separates branches, `else` continues `if`
_SWALLOWS = {"RBRACE", "VBAR", "ELSE"}


def _last_newline(tok: Token) -> Token:
    """One _NL token takes in whole-line comments and blank lines, so that a file of comments
    is a few tokens. An error at a line break points where the newline after the last comment
    starts, as it did when each comment was a token of its own: that part becomes the token.
    (A _NL the parser sees is followed by a token, so it ends with line breaks, not a comment.)"""
    text = tok.value
    last_comment = text.rfind("#")
    if last_comment < 0:
        return tok
    start = text.index("\n", last_comment)  # a '\r' before it belongs to the comment
    line = tok.line + text.count("\n", 0, start)
    column = start - text.rfind("\n", 0, start)
    return Token("_NL", text[start:], tok.start_pos + start, line, column, tok.end_line, tok.end_column,
                 tok.end_pos)


def _opener(tok: Token) -> str | None:
    if tok.type == "CALL":
        return "("
    return tok.value if tok.type != "STRING" and tok.value in _OPEN else None


class Layout:
    """The post-lexer: newlines separate statements only inside `{ }`, where they matter.
    It also counts tokens: a file of more than MAX_TOKENS is refused where it passes the limit."""

    always_accept = ("_NL",)

    def process(self, stream):  # noqa: ANN001, ANN201 (Lark's interface)
        """Lark's post-lexer hook: the token stream with the newlines that do not end a statement dropped.
        Raises LayoutError for an unbalanced or mismatched bracket, brackets nested deeper than MAX_NESTING,
        or more than MAX_TOKENS tokens."""
        stack: list[Token] = []
        pending: Token | None = None
        prev: Token | None = None
        for count, tok in enumerate(stream, 1):
            if count > MAX_TOKENS:
                raise LayoutError(f"the file has more than {MAX_TOKENS:,} tokens (names, numbers, symbols, "
                                  "line breaks)", tok, "split it into files joined by `import`, or write "
                                  "repeated layers once, in `repeat` or `for`")
            if tok.type == "_NL":
                inside_braces = bool(stack) and _opener(stack[-1]) == "{"
                if inside_braces and not (prev is not None and prev.value in _CONTINUES):
                    pending = tok
                continue
            if pending is not None:
                if tok.type not in _SWALLOWS:
                    yield _last_newline(pending)
                pending = None
            self._track(tok, stack)
            yield tok
            prev = tok
        if stack:
            opener = stack[-1]
            raise LayoutError(f"'{_opener(opener)}' is never closed", opener)

    @staticmethod
    def _track(tok: Token, stack: list[Token]) -> None:
        opened = _opener(tok)
        if opened:
            stack.append(tok)
            if len(stack) > MAX_NESTING:
                raise LayoutError(f"brackets and braces nest deeper than {MAX_NESTING}", tok)
        elif tok.type != "STRING" and tok.value in _CLOSE:
            if not stack:
                raise LayoutError(f"'{tok.value}' has no matching opening bracket", tok)
            want = _OPEN[_opener(stack[-1])]
            if tok.value != want:
                top = stack[-1]
                raise LayoutError(f"'{tok.value}' does not match '{_opener(top)}' opened at "
                                  f"line {top.line}, column {top.column}", tok)
            stack.pop()


BUILD = "keep_all_tokens+Builder"  # in the cache's name: a cache made with other options is not used


@functools.lru_cache(maxsize=1)
def parser() -> Lark:
    """The LALR parser for `start` (a file) and `expr` (a `--set` value); built once per process.
    It returns a `cnndsl.lang.builder.Built` whose `node` is the syntax tree.

    Building the tables takes a few hundred milliseconds, so Lark keeps them between runs in a
    pickle in the user's own cache folder. `cnndsl.cache` hands out that path only when neither
    the folder nor the file could have been written by another user: unpickling runs code.
    """
    from ..cache import private_file

    text = grammar_path().read_text(encoding="utf-8")
    from .builder import Builder

    # the parser builds the syntax tree itself (cnndsl.lang.builder): no Lark tree, no second walk
    options = dict(parser="lalr", lexer="basic", postlex=Layout(), start=["start", "expr"],
                   keep_all_tokens=True, maybe_placeholders=True, transformer=Builder())
    digest = hashlib.sha256(f"{text}{BUILD}".encode()).hexdigest()[:16]
    cache = private_file(f"cnn-lark-{digest}.cache")
    if cache is None:
        return Lark(text, **options)
    return Lark(text, cache=str(cache), **options)
