"""Finds grammars/cnn.lark and builds the LALR parser with its layout post-lexer (cached)."""

from __future__ import annotations

import functools
import hashlib
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
    import re

    return frozenset(re.findall(r'"([a-z]+)"', grammar_path().read_text()))


class LayoutError(Exception):
    """Unbalanced brackets found by the post-lexer; the parser gives it a span."""

    def __init__(self, message: str, token: Token) -> None:
        super().__init__(message)
        self.token = token


_OPEN = {"(": ")", "[": "]", "{": "}"}
MAX_NESTING = 100  # brackets and braces inside one another (docs/language.md, "Limits")
_CLOSE = {")", "]", "}"}
# after these a newline never ends a statement: the line goes on
_CONTINUES = {"{", ",", "|", "->", "=", "(", "["}
# before these a newline is dropped: `}` closes, `|` separates branches, `else` continues `if`
_SWALLOWS = {"RBRACE", "VBAR", "ELSE"}


def _opener(tok: Token) -> str | None:
    if tok.type == "CALL":
        return "("
    return tok.value if tok.type != "STRING" and tok.value in _OPEN else None


class Layout:
    """The post-lexer: newlines separate statements only inside `{ }`, where they matter."""

    always_accept = ("_NL",)

    def process(self, stream):  # noqa: ANN001, ANN201 (Lark's interface)
        stack: list[Token] = []
        pending: Token | None = None
        prev: Token | None = None
        for tok in stream:
            if tok.type == "_NL":
                inside_braces = bool(stack) and _opener(stack[-1]) == "{"
                if inside_braces and not (prev is not None and prev.value in _CONTINUES):
                    pending = tok
                continue
            if pending is not None:
                if tok.type not in _SWALLOWS:
                    yield pending
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


@functools.lru_cache(maxsize=1)
def parser() -> Lark:
    """The LALR parser for `start` (a file) and `expr` (a `--set` value); built once per process.

    Building the tables takes a few hundred milliseconds, so Lark keeps them between runs in a
    pickle in the user's own cache folder. `cnndsl.cache` hands out that path only when neither
    the folder nor the file could have been written by another user: unpickling runs code.
    """
    from ..cache import private_file

    text = grammar_path().read_text(encoding="utf-8")
    options = dict(parser="lalr", lexer="basic", postlex=Layout(), start=["start", "expr"],
                   propagate_positions=True, maybe_placeholders=True)
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    cache = private_file(f"cnn-lark-{digest}.cache")
    if cache is None:
        return Lark(text, **options)
    return Lark(text, cache=str(cache), **options)
