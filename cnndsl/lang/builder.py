"""The syntax tree, built by the LALR parser as it reduces (Lark's `transformer=` option).

Lark's own parse tree with `propagate_positions`, walked afterwards by a Transformer, took
about half the time of a parse (docs/performance.md, "Big files"). So the parser calls these
methods directly, one per grammar rule, with every token of the
rule kept (`keep_all_tokens`): keywords and brackets are what spans start and end at.

Each method returns a `Built` (cnndsl.lang.built): the syntax node plus what a parent needs and a node cannot
hold: the tokens its text starts and ends at (a parenthesised expression's outer brackets,
as Lark's "container" positions had it) and its height as Lark's tree would have had it,
for MAX_TREE_DEPTH. Spans are exactly those Lark's tree gave (tests/test_big_files.py).
"""

from __future__ import annotations

from lark import Token

from ..errors import CnnError, Span
from . import syntax as ast
from .built import Built
from .limits import float_literal, int_literal


def _nodes(kids: list) -> tuple:
    return tuple(k.node for k in kids if isinstance(k, Built))


class Builder:
    """One method per grammar rule (or alias); Lark calls them while parsing."""

    def __init__(self) -> None:
        self.file = "<string>"  # set by the parser for each text, under its lock

    def span(self, b: Built) -> Span:
        """The span of a rule's whole text: from its first token to the end of its last."""
        return Span(self.file, b.first.line, b.first.column, b.last.end_line, b.last.end_column)

    def tok(self, tok: Token) -> Span:
        """The span of one token."""
        return Span(self.file, tok.line, tok.column, tok.end_line, tok.end_column)

    def _make(self, kids: list, cls: type, *fields: object) -> Built:
        """A node whose span is the rule's whole text."""
        b = Built(None, kids)
        b.node = cls(*fields, self.span(b))
        return b

    def _leaf(self, kids: list, value: object) -> Built:
        return Built(ast.Const(value, self.tok(kids[0])), kids)

    # ---- definitions
    def start(self, kids: list) -> Built:
        """A whole file (`start: definition*`): an ast.Module of its imports and definitions."""
        return Built(ast.Module(self.file, _nodes(kids)), kids)

    def import_def(self, kids: list) -> Built:  # "import" STRING
        """`import "path"`: an ast.Import of the path without its quotes."""
        return self._make(kids, ast.Import, kids[1].value[1:-1])

    def block_def(self, kids: list) -> Built:  # "block" CALL params ")" body
        """`block name(params) { body }`: an ast.BlockDef."""
        return self._make(kids, ast.BlockDef, kids[1].value[:-1], kids[2].node, kids[4].node)

    def network_def(self, kids: list) -> Built:
        """`network name(params) { body }`: an ast.NetworkDef."""
        return self._make(kids, ast.NetworkDef, kids[1].value[:-1], kids[2].node, kids[4].node)

    def network_noparams(self, kids: list) -> Built:  # "network" NAME body
        """`network name { body }`: an ast.NetworkDef without parameters."""
        return self._make(kids, ast.NetworkDef, kids[1].value, (), kids[2].node)

    def params(self, kids: list) -> Built:
        """A definition's parameter list: a tuple of ast.Param."""
        return Built(_nodes(kids), kids)

    def param(self, kids: list) -> Built:  # NAME ["=" expr]
        """`name` or `name = default`: an ast.Param (its default None when there is none)."""
        return self._make(kids, ast.Param, kids[0].value, kids[2].node if kids[2] is not None else None)

    def body(self, kids: list) -> Built:  # "{" [stmts] "}"
        """`{ stmts }`: the tuple of statements (empty for `{ }`)."""
        return Built(kids[1].node if kids[1] is not None else (), kids)

    def stmts(self, kids: list) -> Built:  # stmt (_NL stmt)*
        """Statements separated by newlines: a tuple of them (an `input` with items is two)."""
        nodes = _nodes(kids)
        if any(isinstance(n, tuple) for n in nodes):
            nodes = tuple(s for n in nodes for s in (n if isinstance(n, tuple) else (n,)))
        return Built(nodes, kids)

    # ---- statements
    def let_stmt(self, kids: list) -> Built:  # "let" NAME "=" expr
        """`let name = expr`: an ast.Let."""
        return self._make(kids, ast.Let, kids[1].value, kids[3].node)

    def init_stmt(self, kids: list) -> Built:  # "init" init_rule ("," init_rule)*
        """`init key=value, ...`: an ast.InitDefaults."""
        return self._make(kids, ast.InitDefaults, _nodes(kids))

    def init_rule(self, kids: list) -> Built:  # NAME "=" expr
        """`key=value` of an `init` statement: an ast.InitRule, its span the key's."""
        return Built(ast.InitRule(kids[0].value, kids[2].node, self.tok(kids[0])), kids)

    def input_stmt(self, kids: list) -> Built:  # "input" postfix ("," item)*
        """`input shape`: an ast.Input of the shape expression (`3x224x224`, or a name). With items after it
        (`input 1x28x28, conv 3x3 8, relu`) a tuple of the ast.Input and an ast.Flow of the items, as the
        same items on the next line would be: `stmts` splices it into the statements."""
        shape = Built(None, kids[:2])
        shape.node = ast.Input(kids[1].node, self.span(shape))
        if len(kids) == 2:
            return shape
        items = Built(None, kids[3:])  # after the first ','
        items.node = ast.Flow(None, False, None, _nodes(kids[3:]), self.span(items))
        return Built((shape.node, items.node), kids)

    def output_stmt(self, kids: list) -> Built:
        """`output name`: an ast.Output, its span the name's."""
        return Built(ast.Output(kids[1].value, self.tok(kids[1])), kids)

    def flow_stmt(self, kids: list) -> Built:  # [target "="] [source "->"] item ("," item)*
        """`[target =] [source ->] item, item, ...`: an ast.Flow."""
        targets, unpack = kids[0].node if kids[0] is not None else (None, False)
        source = kids[2].node if kids[2] is not None else None
        return self._make(kids, ast.Flow, targets, unpack, source, _nodes(kids[4:]))

    def target_name(self, kids: list) -> Built:
        """`name =`: the target as ((name,), unpack False)."""
        return Built(((kids[0].value,), False), kids)

    def target_tuple(self, kids: list) -> Built:  # "(" NAME ("," NAME)+ ")"
        """`(a, b) =`: the targets as ((a, b), unpack True), for an op with several outputs."""
        return Built((tuple(t.value for t in kids if t.type == "NAME"), True), kids)

    def source_name(self, kids: list) -> Built:
        """`name ->`: the flow starts from a named tensor, an ast.Name."""
        return Built(ast.Name(kids[0].value, self.tok(kids[0])), kids)

    def source_call(self, kids: list) -> Built:
        """`concat(a, b) ->`: the flow starts from a merge of named tensors, an ast.Call."""
        return Built(kids[0].node, kids)

    # ---- items
    def layer(self, kids: list) -> Built:  # NAME arg* kwarg* alias
        """`op args kwargs [as name]`: an ast.Layer, its span the op name's."""
        parts = [k.node for k in kids[1:-1]]
        args = tuple(a for a in parts if isinstance(a, ast.Arg))
        kwargs = tuple(a for a in parts if isinstance(a, ast.Keyword))
        op = kids[0]
        return Built(ast.Layer(op.value, args, kwargs, kids[-1].node, self.tok(op)), kids)

    def call_item(self, kids: list) -> Built:  # call_expr alias
        """`name(args) [as name]` in a flow: an ast.CallItem (a block call or a merge of named tensors)."""
        call = kids[0].node
        return Built(ast.CallItem(call, kids[1].node, call.span), kids)

    def alias(self, kids: list) -> Built:
        """`as name`, `as 0` or `as "template{i}"`: the name as text, None when absent."""
        # `as conv1`, `as 0` (a position, as in nn.Sequential), `as "block{i}"` (a template)
        name = kids[1]
        if name is not None:
            name = name.value[1:-1] if name.type == "STRING" else name.value
        return Built(name, kids)

    def arg(self, kids: list) -> Built:  # signed ["/" signed]
        """A positional layer argument with its optional `/stride` suffix: an ast.Arg."""
        return self._make(kids, ast.Arg, kids[0].node, kids[2].node if kids[2] is not None else None)

    def kwarg(self, kids: list) -> Built:  # NAME "=" signed
        """`name=value` of a layer: an ast.Keyword."""
        return self._make(kids, ast.Keyword, kids[0].value, kids[2].node)

    def merge(self, kids: list) -> Built:  # NAME "{" stmts ("|" stmts)* "}"
        """`op { a | b | ... }`: an ast.Merge, one tuple of statements per branch, its span the op name's."""
        op = kids[0]
        return Built(ast.Merge(op.value, _nodes(kids), self.tok(op)), kids)

    def if_item(self, kids: list) -> Built:  # "if" expr body ["else" body | "else" if_item]
        """`if cond { ... } [else { ... } | else if ...]`: an ast.If; an `else if` is an else branch holding
        one If."""
        orelse = kids[4].node if len(kids) > 4 and kids[4] is not None else None
        if isinstance(orelse, ast.If):
            orelse = (ast.Flow(None, False, None, (orelse,), orelse.span),)
        return self._make(kids, ast.If, kids[1].node, kids[2].node, orelse)

    def repeat_item(self, kids: list) -> Built:  # "repeat" expr body
        """`repeat n { ... }`: an ast.Repeat."""
        return self._make(kids, ast.Repeat, kids[1].node, kids[2].node)

    def for_item(self, kids: list) -> Built:  # "for" for_target "in" expr body
        """`for target in expr { ... }`: an ast.For."""
        target = kids[1].value if isinstance(kids[1], Token) else kids[1].node
        return self._make(kids, ast.For, target, kids[3].node, kids[4].node)

    def for_tuple(self, kids: list) -> Built:  # "(" for_target ("," for_target)* ")"
        """`(a, (b, c))` as a `for` target: nested tuples of names."""
        targets = tuple(t.node if isinstance(t, Built) else t.value for t in kids[1:-1:2])
        return Built(targets, kids)

    # ---- expressions
    def atom(self, kids: list) -> Built:
        """`( expr )`: the expression itself, but a parent's span includes the brackets."""
        return Built(kids[1].node, kids, wrapped=True)

    def cond(self, kids: list) -> Built:  # or_expr "if" or_expr "else" expr
        """`a if cond else b`: an ast.Cond."""
        return self._make(kids, ast.Cond, kids[0].node, kids[2].node, kids[4].node)

    def _bin(op: str):  # noqa: N805 (a factory used in the class body)
        def method(self: Builder, kids: list) -> Built:
            return self._make(kids, ast.BinOp, op, kids[0].node, kids[2].node)
        return method

    or_, and_ = _bin("or"), _bin("and")
    add, sub, mul, div = _bin("+"), _bin("-"), _bin("*"), _bin("/")
    floordiv, mod, pow = _bin("//"), _bin("%"), _bin("**")

    def compare(self, kids: list) -> Built:
        """`a OP b` for ==, !=, <, <=, >, >=: an ast.BinOp."""
        return self._make(kids, ast.BinOp, kids[1].value, kids[0].node, kids[2].node)

    def _unary(op: str):  # noqa: N805
        def method(self: Builder, kids: list) -> Built:
            return self._make(kids, ast.UnaryOp, op, kids[1].node)
        return method

    not_, neg, pos = _unary("not"), _unary("-"), _unary("+")

    def index(self, kids: list) -> Built:  # postfix "[" expr "]"
        """`base[index]`: an ast.Index."""
        return self._make(kids, ast.Index, kids[0].node, kids[2].node)

    # literals past the value limits are refused unconverted (lang.limits)
    def int(self, kids: list) -> Built:
        """An integer literal, refused unconverted past 64 bits (`lang.limits.int_literal`): an ast.Const."""
        return self._leaf(kids, int_literal(kids[0].value, self.tok(kids[0])))

    def float(self, kids: list) -> Built:
        """A number with a point or exponent, refused when not finite: an ast.Const."""
        return self._leaf(kids, float_literal(kids[0].value, self.tok(kids[0])))

    def dims(self, kids: list) -> Built:
        """A dims literal `3x224x224`: an ast.Const of a tuple of ints."""
        span = self.tok(kids[0])
        return self._leaf(kids, tuple(int_literal(d, span) for d in kids[0].value.split("x")))

    def string(self, kids: list) -> Built:
        """A string literal: an ast.Const of its text without the quotes."""
        return self._leaf(kids, kids[0].value[1:-1])

    def true(self, kids: list) -> Built:
        """`true`: an ast.Const."""
        return self._leaf(kids, True)

    def false(self, kids: list) -> Built:
        """`false`: an ast.Const."""
        return self._leaf(kids, False)

    def name(self, kids: list) -> Built:
        """A name in an expression: an ast.Name."""
        return Built(ast.Name(kids[0].value, self.tok(kids[0])), kids)

    def tuple(self, kids: list) -> Built:  # "(" [expr ("," expr)* [","]] ")"
        """`()`, `(a,)`, `(a, b, ...)`: an ast.TupleExpr."""
        return self._make(kids, ast.TupleExpr, _nodes(kids))

    def call_expr(self, kids: list) -> Built:  # CALL [call_arg ("," call_arg)*] ")"
        """`name(args, key=value)`: an ast.Call; `func_span` covers the name without its `(`."""
        args = _nodes(kids)
        named = [isinstance(a, ast.Keyword) for a in args]
        after = next((a for i, a in enumerate(args) if not named[i] and any(named[:i])), None)
        if after is not None:  # as in Python: `b(c=4, 2)` would bind 2 to the first parameter not named
            raise CnnError("a positional argument follows a keyword argument", after.span,
                           hint="write the positional arguments first, or name this one too")
        positional = tuple(a for a in args if not isinstance(a, ast.Keyword))
        keywords = tuple(a for a in args if isinstance(a, ast.Keyword))
        func = kids[0]
        func_span = Span(self.file, func.line, func.column, func.line, func.end_column - 1)
        b = Built(None, kids)
        b.node = ast.Call(func.value[:-1], positional, keywords, self.span(b), func_span)
        return b

    def keyword_arg(self, kids: list) -> Built:  # NAME "=" expr
        """`name = expr` in a call: an ast.Keyword."""
        return self._make(kids, ast.Keyword, kids[0].value, kids[2].node)
