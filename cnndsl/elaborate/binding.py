"""Binding call arguments: a layer's to its op's signature, a block call's to its params."""

from __future__ import annotations

import re

from ..errors import CnnError, Span, closest, suggest
from ..lang import syntax as ast
from ..lang.values import Scope, evaluate, show, type_name
from ..ops import REGISTRY, ArgError, Family, Op, Param
from ..ops.aliases import meaning_hint
from ..ops.inits import InitError, LayerInit, layer_init, misfit


def _value(expr: ast.Expr, scope: Scope, symbols: tuple[str, ...]) -> object:
    """Evaluate an argument; a bare word the op accepts literally (`same`) wins if unbound."""
    if isinstance(expr, ast.Name) and not scope.has(expr.id):
        if expr.id in symbols:
            return expr.id
        if symbols:  # `pad=smae`: a misspelt word, not a missing value
            raise CnnError(f"undefined name '{expr.id}'", expr.span, suggest(expr.id, symbols)
                           or "the words it takes: " + ", ".join(symbols))
    return evaluate(expr, scope)


def _convert(op: Op, param: Param, value: object, span: Span) -> object:
    try:
        return param.kind(value)
    except ArgError as exc:
        raise CnnError(f"{op.name} {param.name} must be {exc}, got {type_name(value)} {show(value)}", span) from None


_CAPITAL_X = re.compile(r"X\d+")


def bind_layer(op: Op, layer: ast.Layer, scope: Scope) -> dict:
    """The op's attributes from a layer's positional and keyword arguments, each converted by its
    `Param.kind`, defaults filled in and `Op.prepare` applied. Raises CnnError at the argument for too
    many positionals, an unknown or repeated keyword, a value the parameter refuses, a stride suffix on
    a non-kernel, and a missing required argument."""
    positional = [p for p in op.params if p.positional]
    by_name = {p.name: p for p in op.params}
    if len(layer.args) > len(positional):
        extra = layer.args[len(positional)]
        n = len(positional)
        capital = next((a for a in layer.args if isinstance(a.value, ast.Name) and _CAPITAL_X.fullmatch(a.value.id)),
                       None)
        if capital is not None:  # `3X3` reads as the number 3 and the name X3
            raise CnnError(f"{op.name} takes {n} positional argument{'s' if n != 1 else ''}, got {len(layer.args)}",
                           capital.span, "sizes are written with a lowercase x: `3x3`, `3x32x32`")
        missing_comma = isinstance(extra.value, ast.Name) and extra.value.id in REGISTRY
        raise CnnError(f"{op.name} takes {n} positional argument{'s' if n != 1 else ''}, got {len(layer.args)}",
                       extra.span, f"a ',' missing before '{extra.value.id}'?" if missing_comma
                       else f"signature: {op.signature()}")
    attrs: dict[str, object] = {}
    for param, arg in zip(positional, layer.args, strict=False):
        value = _value(arg.value, scope, param.symbols)
        if _own_init_initialiser(op, param, value):
            continue  # `layer_scale zeros`: bound by bind_init, the argument keeps its default
        attrs[param.name] = _convert(op, param, value, arg.span)
        if arg.stride is not None:
            if not param.stride:
                raise CnnError(f"only a kernel takes a '/stride' suffix, not {op.name} {param.name}", arg.span,
                               "write arithmetic in parentheses: (a / b)")
            attrs["stride"] = _convert(op, by_name["stride"], evaluate(arg.stride, scope), arg.stride.span)
    for kw in layer.kwargs:
        if _is_init(op, kw.name):
            continue  # bound by bind_init
        param = by_name.get(kw.name)
        if param is None:
            raise CnnError(f"{op.name} has no argument '{kw.name}'", kw.span,
                           suggest(kw.name, by_name) or f"signature: {op.signature()}")
        if kw.name in attrs:
            how = "by a '/' suffix" if kw.name == "stride" else "twice"
            raise CnnError(f"{op.name} {kw.name} is given {how}", kw.span)
        value = _value(kw.value, scope, param.symbols)
        if _own_init_initialiser(op, param, value):
            continue  # `prelu init=zeros`: bound by bind_init, the argument keeps its default
        attrs[kw.name] = _convert(op, param, value, kw.span)
    for param in op.params:
        if param.name not in attrs:
            if param.required:
                raise CnnError(f"{op.name} needs {param.name}", layer.span, f"signature: {op.signature()}")
            attrs[param.name] = param.default
    return op.prepare(attrs) if op.prepare else attrs


def _is_init(op: Op, keyword: str) -> bool:
    """Whether `keyword` is the initialisation every op with parameters takes (not an argument of its own)."""
    return keyword == "init" and op.initialisable and all(p.name != "init" for p in op.params)


def _own_init_initialiser(op: Op, param: Param, value: object) -> bool:
    """Whether `value` for an op's own argument named `init` (prelu's initial slope, layer_scale's initial
    factor: a number) is not a number, so is taken as the layer's initialiser by `bind_init`."""
    is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
    return param.name == "init" and op.initialisable and not is_number


def init_value(expr: ast.Expr, span: Span, scope: Scope, what: str, number: bool = False) -> LayerInit:
    """The value of `expr` as a layer's init; CnnError naming `what` when it is not one, at the item of a
    written pair that is wrong (a bare `constant`, which needs its value) or else at `span`. With `number`
    the message says that a number (the op's own argument) is taken too."""
    value = evaluate(expr, scope)
    try:
        return layer_init(value)
    except InitError as exc:
        if exc.hint is not None:  # an initialiser written bare that needs arguments: point at the word
            written_pair = exc.part is not None and isinstance(expr, ast.TupleExpr) and len(expr.items) == 2
            raise CnnError(str(exc), expr.items[exc.part].span if written_pair else expr.span, exc.hint) from None
        accepted = f"a number or {exc}" if number else str(exc)
        raise CnnError(f"{what} must be {accepted}, got {type_name(value)} {show(value)}", span) from None


def _init_args(op: Op, layer: ast.Layer) -> list[ast.Arg | ast.Keyword]:
    """The layer's arguments that give its init: `init=`, or the op's own argument named `init` (by keyword,
    or by position: `layer_scale 0.5`)."""
    given: list[ast.Arg | ast.Keyword] = [kw for kw in layer.kwargs if kw.name == "init"]
    positional = [p.name for p in op.params if p.positional]
    if "init" in positional and len(layer.args) > positional.index("init"):
        given.insert(0, layer.args[positional.index("init")])
    return given


def bind_init(op: Op, layer: ast.Layer, scope: Scope) -> LayerInit | None:
    """The layer's own init, None without one (`bind_layer` refuses `init=` on an op without parameters). An
    op with an argument of its own named `init` (prelu, layer_scale) takes a number there, which is its own
    init (`LayerInit()`: no `init` statement's default replaces it), or an initialiser. CnnError when the
    value is neither, or when it is given twice."""
    if not op.initialisable:
        return None
    given = _init_args(op, layer)
    if len(given) > 1:
        raise CnnError(f"{op.name} init is given twice", given[1].span)
    if not given:
        return None
    own = next((p for p in op.params if p.name == "init"), None)
    if own is not None and not _own_init_initialiser(op, own, evaluate(given[0].value, scope)):
        return LayerInit()  # its own number, bound by bind_layer
    return init_value(given[0].value, given[0].span, scope, f"{op.name} init", number=own is not None)


def check_init_fits(op: Op, attrs: dict, init: LayerInit, span: Span, who: str) -> None:
    """CnnError at `span` when `init` is one torch refuses on the layer's tensors (xavier on a bias), as far as
    the op declares their axes (`Op.init_axes`); `who` names the layer."""
    if op.init_axes is None:
        return
    why = misfit(init, op.init_axes(attrs))
    if why is not None:
        raise CnnError(f"{who}: {why}", span, "xavier, kaiming and orthogonal need a weight of two or more "
                       "dimensions (conv, fc, linear); use zeros, constant(...), normal(...) or uniform(...)")


def init_key(key: str, span: Span) -> str:
    """An `init` statement's key: an op with parameters or a family name; CnnError for anything else."""
    families = {f.value for f in Family}
    if key in families or (key in REGISTRY and REGISTRY[key].initialisable):
        return key
    keys = {name for name, op in REGISTRY.items() if op.initialisable} | families
    raise CnnError(f"'{key}' is no op with parameters and no family of ops", span,
                   suggest(key, keys) or "write an op (`conv`, `fc`, `bn`) or a family (`norm`)")


def bind_block(block: ast.BlockDef, call: ast.Call, caller: Scope, definition: Scope) -> dict[str, object]:
    """A block call's arguments by position and keyword; defaults are evaluated in the block's
    own scope, where earlier parameters are visible (`block b(c, mid=c // 4)`)."""
    params = block.params
    if len(call.args) > len(params):
        raise CnnError(f"block '{block.name}' takes {len(params)} argument{'s' if len(params) != 1 else ''}, "
                       f"got {len(call.args)}", call.args[len(params)].span, _signature(block))
    values = {p.name: evaluate(a, caller) for p, a in zip(params, call.args, strict=False)}
    names = {p.name for p in params}
    for kw in call.kwargs:
        if kw.name not in names:
            raise CnnError(f"block '{block.name}' has no parameter '{kw.name}'", kw.span,
                           suggest(kw.name, names) or _signature(block))
        if kw.name in values:
            raise CnnError(f"'{kw.name}' is given twice", kw.span)
        values[kw.name] = evaluate(kw.value, caller)
    scope = Scope(definition)
    for p in params:
        if p.name not in values:
            if p.default is None:
                raise CnnError(f"block '{block.name}' needs '{p.name}'", call.span, _signature(block))
            values[p.name] = evaluate(p.default, scope)
        scope.values[p.name] = values[p.name]
    return {p.name: values[p.name] for p in params}


def _signature(block: ast.BlockDef) -> str:
    return f"signature: {block.name}(" + ", ".join(p.name if p.default is None else f"{p.name}=..."
                                                     for p in block.params) + ")"


# what a misspelt keyword that starts a statement (`lett x = 3`, `ouput y`) reads as an op's name is meant
_STATEMENT_WORDS = {"let", "output", "repeat", "for", "if"}


def op_named(name: str, span: Span, blocks: set[str]) -> Op:
    """The registry entry of op `name`; CnnError at `span` (with a suggestion among ops and `blocks`, the
    names of the blocks in scope, written as a call: `vgg_block(...)`) when there is none."""
    op = REGISTRY.get(name)
    if op is None:
        close = closest(name, set(REGISTRY) | blocks | _STATEMENT_WORDS)
        hint = meaning_hint(name, REGISTRY) or (  # a block is called with parentheses
            f"did you mean the block '{close}'? call it with its arguments: {close}(...)" if close in blocks
            else close and f"did you mean '{close}'?")
        raise CnnError(f"unknown op '{name}'", span, hint)
    return op
