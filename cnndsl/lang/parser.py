"""Parse `.cnn` text into the AST of cnndsl.syntax, translating Lark's errors into CnnError."""

from __future__ import annotations

import functools

from lark import Token, Transformer, Tree, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken, VisitError

from ..errors import CnnError, Span
from . import syntax as ast
from .grammar import LayoutError, parser
from .limits import float_literal, int_literal

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


class _Builder(Transformer):
    """Lark tree -> syntax dataclasses. It only builds; every check runs later, in elaboration."""

    def __init__(self, file: str) -> None:
        super().__init__()
        self.file = file

    def _span(self, meta) -> Span:  # noqa: ANN001
        return Span(self.file, meta.line, meta.column, meta.end_line, meta.end_column)

    def _tok(self, tok: Token) -> Span:
        return Span(self.file, tok.line, tok.column, tok.end_line, tok.end_column)

    # ---- definitions
    def start(self, items):
        return ast.Module(self.file, tuple(items))

    @v_args(meta=True)
    def import_def(self, meta, items):
        return ast.Import(items[0].value[1:-1], self._span(meta))

    def _def(self, cls, meta, call, params, body):  # noqa: ANN001
        name = call.value[:-1] if call.type == "CALL" else call.value
        return cls(name, params, body, self._span(meta))

    @v_args(meta=True)
    def block_def(self, meta, items):
        return self._def(ast.BlockDef, meta, *items)

    @v_args(meta=True)
    def network_def(self, meta, items):
        return self._def(ast.NetworkDef, meta, *items)

    @v_args(meta=True)
    def network_noparams(self, meta, items):
        return self._def(ast.NetworkDef, meta, items[0], (), items[1])

    def params(self, items):
        return tuple(p for p in items if p is not None)

    @v_args(meta=True)
    def param(self, meta, items):
        return ast.Param(items[0].value, items[1], self._span(meta))

    def body(self, items):
        return items[0] if items[0] is not None else ()

    def stmts(self, items):
        return tuple(items)

    # ---- statements
    @v_args(meta=True)
    def let_stmt(self, meta, items):
        return ast.Let(items[0].value, items[1], self._span(meta))

    @v_args(meta=True)
    def input_stmt(self, meta, items):
        return ast.Input(items[0], self._span(meta))

    @v_args(meta=True)
    def output_stmt(self, meta, items):
        return ast.Output(items[0].value, self._tok(items[0]))

    @v_args(meta=True)
    def flow_stmt(self, meta, items):
        target, source, *rest = items
        targets, unpack = target if target is not None else (None, False)
        return ast.Flow(targets, unpack, source, tuple(rest), self._span(meta))

    def target_name(self, items):
        return (items[0].value,), False

    def target_tuple(self, items):
        return tuple(t.value for t in items), True

    def source_name(self, items):
        return ast.Name(items[0].value, self._tok(items[0]))

    def source_call(self, items):
        return items[0]

    # ---- items
    def layer(self, items):
        op, *rest = items
        alias = rest.pop()
        args = tuple(a for a in rest if isinstance(a, ast.Arg))
        kwargs = tuple(a for a in rest if isinstance(a, ast.Keyword))
        return ast.Layer(op.value, args, kwargs, alias, self._tok(op))

    @v_args(meta=True)
    def call_item(self, meta, items):
        return ast.CallItem(items[0], items[1], items[0].span)

    def alias(self, items):
        # `as conv1`, `as 0` (a position, as in nn.Sequential), `as "block{i}"` (a template)
        if items[0] is None:
            return None
        return items[0].value[1:-1] if items[0].type == "STRING" else items[0].value

    @v_args(meta=True)
    def arg(self, meta, items):
        return ast.Arg(items[0], items[1], self._span(meta))

    @v_args(meta=True)
    def kwarg(self, meta, items):
        return ast.Keyword(items[0].value, items[1], self._span(meta))

    def merge(self, items):
        op, *branches = items
        return ast.Merge(op.value, tuple(branches), self._tok(op))

    @v_args(meta=True)
    def if_item(self, meta, items):
        cond, then, orelse = (*items, None)[:3]
        if isinstance(orelse, ast.If):
            orelse = (ast.Flow(None, False, None, (orelse,), orelse.span),)
        return ast.If(cond, then, orelse, self._span(meta))

    @v_args(meta=True)
    def repeat_item(self, meta, items):
        return ast.Repeat(items[0], items[1], self._span(meta))

    @v_args(meta=True)
    def for_item(self, meta, items):
        target, iterable, body = items
        target = target.value if isinstance(target, Token) else target
        return ast.For(target, iterable, body, self._span(meta))

    def for_tuple(self, items):
        return tuple(t.value if isinstance(t, Token) else t for t in items)

    # ---- expressions
    @v_args(meta=True)
    def cond(self, meta, items):
        return ast.Cond(items[0], items[1], items[2], self._span(meta))

    def _bin(op):  # noqa: N805 (a factory used in the class body)
        @v_args(meta=True)
        def method(self, meta, items):
            return ast.BinOp(op, items[0], items[-1], self._span(meta))
        return method

    or_, and_ = _bin("or"), _bin("and")
    add, sub, mul, div = _bin("+"), _bin("-"), _bin("*"), _bin("/")
    floordiv, mod, pow = _bin("//"), _bin("%"), _bin("**")

    @v_args(meta=True)
    def compare(self, meta, items):
        return ast.BinOp(items[1].value, items[0], items[2], self._span(meta))

    def _unary(op):  # noqa: N805
        @v_args(meta=True)
        def method(self, meta, items):
            return ast.UnaryOp(op, items[0], self._span(meta))
        return method

    not_, neg, pos = _unary("not"), _unary("-"), _unary("+")

    @v_args(meta=True)
    def index(self, meta, items):
        return ast.Index(items[0], items[1], self._span(meta))

    def int(self, items):
        return ast.Const(int_literal(items[0].value, self._tok(items[0])), self._tok(items[0]))

    def float(self, items):
        return ast.Const(float_literal(items[0].value, self._tok(items[0])), self._tok(items[0]))

    def dims(self, items):
        span = self._tok(items[0])
        return ast.Const(tuple(int_literal(d, span) for d in items[0].value.split("x")), span)

    def string(self, items):
        return ast.Const(items[0].value[1:-1], self._tok(items[0]))

    @v_args(meta=True)
    def true(self, meta, items):
        return ast.Const(True, self._span(meta))

    @v_args(meta=True)
    def false(self, meta, items):
        return ast.Const(False, self._span(meta))

    def name(self, items):
        return ast.Name(items[0].value, self._tok(items[0]))

    @v_args(meta=True)
    def tuple(self, meta, items):
        return ast.TupleExpr(tuple(i for i in items if i is not None), self._span(meta))

    @v_args(meta=True)
    def call_expr(self, meta, items):
        func, *args = items
        args = [a for a in args if a is not None]
        positional = tuple(a for a in args if not isinstance(a, ast.Keyword))
        keywords = tuple(a for a in args if isinstance(a, ast.Keyword))
        func_span = Span(self.file, func.line, func.column, func.line, func.end_column - 1)
        return ast.Call(func.value[:-1], positional, keywords, self._span(meta), func_span)

    @v_args(meta=True)
    def keyword_arg(self, meta, items):
        return ast.Keyword(items[0].value, items[1], self._span(meta))


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
                                       tok.end_column or tok.column + 1))
    if isinstance(exc, UnexpectedCharacters):
        ch = text[exc.pos_in_stream] if exc.pos_in_stream < len(text) else "?"
        span = Span(file, exc.line, exc.column, exc.line, exc.column + 1)
        hint = "strings are only used by `import`; use '#' for comments" if ch in "'" else None
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
        end_col = tok.end_column if tok.end_line == tok.line else tok.column + 1
        span = Span(file, tok.line, tok.column, tok.line, max(end_col, tok.column + 1))
        return CnnError(f"unexpected {_describe(tok)}" + _expected(exc), span, _hint(tok, exc))
    return CnnError(str(exc))


def _hint(tok: Token, exc: UnexpectedToken) -> str | None:
    if tok.type == "LPAR" and "CALL" in (exc.expected or ()):
        return "a call has no space before '(': write `name(...)`"
    if tok.type == "CALL" and "NAME" in (exc.expected or ()):
        return f"an op takes its arguments without parentheses: `{tok.value[:-1]} ...`; " \
               f"put a space before '(' for a parenthesised argument"
    return None


MAX_TREE_DEPTH = 200  # syntax tree depth: `1 + 1 + ... + 1` or `- - ... - 1` chains (docs/language.md)


def _check_depth(tree: Tree, file: str) -> None:
    """Refuse trees deeper than MAX_TREE_DEPTH before the (recursive) AST builder sees them."""
    stack = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_TREE_DEPTH:
            meta = node.meta
            span = Span(file, meta.line, meta.column, meta.end_line, meta.end_column) if not meta.empty else None
            raise CnnError(f"expression nested deeper than {MAX_TREE_DEPTH} levels", span,
                           "split it with `let` bindings")
        stack.extend((c, depth + 1) for c in node.children if isinstance(c, Tree))


@functools.lru_cache(maxsize=64)
def parse(text: str, file: str = "<string>") -> ast.Module:
    """Parse one file's text; raises CnnError with the location of the first syntax error.
    The AST is immutable, so results are cached in process by (text, file name)."""
    text = text.removeprefix("\ufeff")
    try:
        tree = parser().parse(text, start="start")
    except (UnexpectedInput, LayoutError) as exc:
        raise _translate(exc, file, text) from None
    _check_depth(tree, file)
    return _build(tree, file)


def parse_expr(text: str, file: str = "<command line>") -> ast.Expr:
    """Parse a value given on the command line (`--set ratio=4`, `--set c=(1, 2)`)."""
    try:
        tree = parser().parse(text, start="expr")
    except (UnexpectedInput, LayoutError) as exc:
        raise _translate(exc, file, text) from None
    if isinstance(tree, Tree):
        _check_depth(tree, file)
    result = _build(tree, file)
    return result if not isinstance(result, Tree) else result.children[0]


def _build(tree: Tree, file: str) -> object:
    """The AST of a checked tree; a literal past the limits is a CnnError (Lark wraps it)."""
    try:
        return _Builder(file).transform(tree)
    except VisitError as exc:
        if isinstance(exc.orig_exc, CnnError):
            raise exc.orig_exc from None
        raise
