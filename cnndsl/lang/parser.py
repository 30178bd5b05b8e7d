"""Parse `.cnn` text into the AST of cnndsl.syntax, translating Lark's errors into CnnError."""

from __future__ import annotations

import functools
import re
import threading

from lark import Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from ..errors import CnnError, Span, suggest
from . import syntax as ast
from .built import Built, too_deep
from .gc_pause import gc_paused
from .grammar import LayoutError, parser

# What a user calls each terminal in "expected ..." messages.
_TERMINALS = {
    "NAME": "a name", "CALL": "a call", "INT": "an integer", "FLOAT": "a number", "DIMS": "dims like 3x3",
    "STRING": "a string", "_NL": "a new line", "LBRACE": "'{'", "RBRACE": "'}'", "LPAR": "'('",
    "RPAR": "')'", "COMMA": "','", "VBAR": "'|'", "EQUAL": "'='", "SLASH": "'/'", "LSQB": "'['",
    "RSQB": "']'", "COMPARE": "a comparison", "$END": "the end of the file",
}


def _describe(tok: Token) -> str:
    if tok.type == "$END":
        return "end of file"
    if tok.type == "_NL":
        return "end of line"
    return f"'{tok.value}'"


def _expected(exc: UnexpectedInput) -> str:
    names = sorted({_TERMINALS.get(t, f"'{t.lower()}'" if t.isalpha() else t)
                    for t in getattr(exc, "expected", ()) or () if not t.startswith("__")})
    if not names:
        return ""
    if len(names) > 6:
        return ""
    return "; expected " + ", ".join(names[:-1]) + (" or " if len(names) > 1 else "") + names[-1]


def _translate(exc: Exception, file: str, text: str) -> CnnError:
    if isinstance(exc, LayoutError):
        tok = exc.token
        return CnnError(str(exc), Span(file, tok.line, tok.column, tok.end_line or tok.line,
                                       tok.end_column or tok.column + 1), exc.hint)
    if isinstance(exc, UnexpectedCharacters):
        ch = text[exc.pos_in_stream] if exc.pos_in_stream < len(text) else "?"
        span = Span(file, exc.line, exc.column, exc.line, exc.column + 1)
        hint = ("strings are only used by `import`; use '#' for comments" if ch in "'" else
                "sizes are written with the letter x: `3x32x32`" if ch == "\u00d7" else None)
        return CnnError(f"unexpected character '{ch}'", span, hint)
    if isinstance(exc, UnexpectedEOF):
        line = text.count("\n") + 1
        col = len(text.rsplit("\n", 1)[-1]) + 1
        return CnnError("unexpected end of file" + _expected(exc), Span(file, line, col, line, col + 1))
    if isinstance(exc, UnexpectedToken):
        tok = exc.token
        if tok.type == "$END":
            line = text.count("\n") + 1
            col = len(text.rsplit("\n", 1)[-1]) + 1
            return CnnError("unexpected end of file" + _expected(exc), Span(file, line, col, line, col + 1))
        stack = _stack(exc)
        last = stack[-1] if stack and isinstance(stack[-1], Token) else None
        if tok.type == "RBRACE" and last is not None and (last.end_line or last.line) < tok.line:
            # the newline before `}` is dropped (grammar.py): the line above is what ended too soon
            line, col = last.end_line or last.line, last.end_column or last.column + 1
            comma = "nothing follows the ',' before the '}': remove it"
            hint = comma if last.type == "COMMA" else _hint(tok, exc, text)
            return CnnError("unexpected end of line" + _expected(exc), Span(file, line, col, line, col + 1), hint)
        end_col = tok.end_column if tok.end_line == tok.line else tok.column + 1
        span = Span(file, tok.line, tok.column, tok.line, max(end_col, tok.column + 1))
        return CnnError(f"unexpected {_describe(tok)}" + _expected(exc), span, _hint(tok, exc, text))
    return CnnError(str(exc))


def _hint(tok: Token, exc: UnexpectedToken, text: str) -> str | None:
    if tok.type == "LPAR" and "CALL" in (exc.expected or ()):
        return "a call has no space before '(': write `name(...)`"
    if tok.type == "CALL" and "NAME" in (exc.expected or ()):
        return f"an op takes its arguments without parentheses: `{tok.value[:-1]} ...`; " \
               f"put a space before '(' for a parenthesised argument"
    if (tok.value in _OPERATORS or tok.type == "COMPARE") and "AS" in (exc.expected or ()):
        return _operator_in_layer(tok, exc, text)
    stack = _stack(exc)
    if set(exc.expected or ()) == {"EQUAL"} and len(stack) > 1 and isinstance(stack[-1], Token) \
            and stack[-1].type == "NAME" and isinstance(stack[-2], Tree):  # after a layer's keyword arguments
        # `conv 3x3 16 pad=1 relu`: after a keyword argument, a word reads as the next keyword's name
        return f"a ',' missing before '{stack[-1].value}'?"
    if tok.type in ("LBRACE", "IN"):  # `repeet 3 {`, `fro i in`: a misspelt keyword read as an op's name
        word = _first_word(_stack(exc))
        meant = None if word is None else suggest(word, ("repeat", "for", "if"))
        return meant and f"`{word}` reads as a layer's op; {meant}"
    return None


def _stack(exc: UnexpectedToken) -> list:
    """The parser's value stack when it failed: tokens, Builts and Lark's trees of repeated parts."""
    state = getattr(getattr(exc, "interactive_parser", None), "parser_state", None)
    return list(getattr(state, "value_stack", ()))


def _first_word(stack: list) -> str | None:
    """The name that starts the item being parsed: the first after the last separator."""
    for before, word in zip(reversed(stack[:-1]), reversed(stack[1:]), strict=True):
        if isinstance(before, Token) and before.type in ("_NL", "LBRACE", "VBAR", "COMMA"):
            return word.value if isinstance(word, Token) and word.type == "NAME" else None
    return None


_OPERATORS = {"+", "-", "*", "/", "//", "%", "**", "if", "and", "or"}
_OPERAND = re.compile(r"(\s*(//|\*\*|[-+*/%]|==|!=|<=|>=|<|>)\s*-?[^\s,|{}]+)+")


def _operator_in_layer(tok: Token, exc: UnexpectedToken, text: str) -> str | None:
    """The hint for an operator after a layer's argument (`pad=k[0] // 2`): arguments are atoms. The parser's
    stack tells a keyword's value (`NAME = value`) and a positional argument (after the op's name or an
    argument) from the op's name itself (`relu + 1`, which gets no hint)."""
    stack = _stack(exc)[-4:]

    def in_layer(v: object) -> bool:  # the op's name, an argument, or Lark's list of arguments
        return isinstance(v, (Built, Tree)) or (isinstance(v, Token) and v.type == "NAME")

    if len(stack) < 3 or not isinstance(stack[-1], (Built, Token)):
        return None
    atom = stack[-1].first if isinstance(stack[-1], Built) else stack[-1]
    if atom is None:
        return None
    rest = _OPERAND.match(text, tok.start_pos)  # the operators and operands written after the atom
    written = text[atom.start_pos:rest.end()] if rest else ""
    example = f"({written})" if written and "\n" not in written else "(...)"
    keyword = len(stack) == 4 and isinstance(stack[-2], Token) and stack[-2].type == "EQUAL" and \
        isinstance(stack[-3], Token) and stack[-3].type == "NAME" and in_layer(stack[-4])
    if keyword:
        return f"a keyword's value is an atom: put an expression in parentheses, `{stack[-3].value}={example}`"
    if in_layer(stack[-2]):
        return f"a layer's arguments are atoms: put an expression in parentheses, `{example}`"
    return None


MAX_TREE_DEPTH = 200  # syntax tree depth: `1 + 1 + ... + 1` or `- - ... - 1` chains (docs/language.md)
_LOCK = threading.Lock()  # the parser's Builder holds the file name of the text it is parsing


def _build(text: str, start: str, file: str) -> ast.Module | ast.Expr:
    """The syntax tree of `text` read as grammar rule `start`; CnnError for a syntax error, a
    limit passed (tokens, nesting) or a tree deeper than MAX_TREE_DEPTH."""
    lark = parser()
    with _LOCK, gc_paused():
        lark.options.transformer.file = file
        try:
            root = lark.parse(text, start=start)
        except (UnexpectedInput, LayoutError) as exc:
            raise _translate(exc, file, text) from None
        deep = too_deep(root, MAX_TREE_DEPTH)
        if deep is not None:  # the elaborator walks expressions recursively
            span = None if deep.first is None else Span(file, deep.first.line, deep.first.column,
                                                        deep.last.end_line, deep.last.end_column)
            if isinstance(deep.node, ast.Expr):
                raise CnnError(f"expression nested deeper than {MAX_TREE_DEPTH} levels", span,
                               "split it with `let` bindings")
            # about 50 `if`s, loops or merges inside one another: each is several levels of the tree
            raise CnnError(f"`if`, `repeat`, `for` and merges nested too deeply (the syntax tree passes "
                           f"{MAX_TREE_DEPTH} levels)", span, "move the inner part into a block of its own")
        node = root.node
        del root  # the Builts and tokens go before the collector runs again
    return node


@functools.lru_cache(maxsize=64)
def parse(text: str, file: str = "<string>") -> ast.Module:
    """Parse one file's text; raises CnnError with the location of the first syntax error.
    The AST is immutable, so results are cached in process by (text, file name)."""
    return _build(text.removeprefix("\ufeff"), "start", file)


def parse_expr(text: str, file: str = "<command line>") -> ast.Expr:
    """Parse a value given on the command line (`--set ratio=4`, `--set c=(1, 2)`)."""
    return _build(text, "expr", file)
