"""Writing an imported model as `.cnn` text, laid out as a person would: one convolution
(with its norm and activation) per line, short merges and loops on one line, long ones
broken at their branches."""

from __future__ import annotations

from ..lang.grammar import keywords
from ..ops import IDENTITY, REGISTRY, Family
from .blocks import Imported
from .items import (
    LOOP_VAR,
    WILD,
    Bin,
    Call,
    Cond,
    Const,
    Layer,
    Loop,
    Merge,
    NamedMerge,
    Output,
    Stmt,
    Value,
    Var,
    uses_loop_var,
)
from .parameters import REQUIRED, Block

WIDTH = 110
_HEAVY = {Family.CONV, Family.FC}  # op families that start a new line (with their norm and activation after them)
_PRECEDENCE = {"+": 1, "-": 1, "*": 2, "//": 2}


def value(v: object, atom: bool = False, kernel: bool = False, symbol: bool = False) -> str:
    """A value as the language writes it; `atom` where only an atom may stand (layer arguments)."""
    if isinstance(v, Var):
        return v.name
    if isinstance(v, Bin):
        text = f"{_operand(v.left, v.op, False)} {v.op} {_operand(v.right, v.op, True)}"
        return f"({text})" if atom else text
    c = v.value if isinstance(v, Const) else v
    if isinstance(c, bool):
        return "true" if c else "false"
    if isinstance(c, int):
        return f"{c}x{c}" if kernel else str(c)
    if isinstance(c, float):
        return repr(c)
    if isinstance(c, str):
        return c if symbol else f'"{c}"'
    if isinstance(c, tuple):
        if len(c) == 2 and all(isinstance(x, int) and not isinstance(x, bool) for x in c):
            return "x".join(map(str, c))
        return "(" + ", ".join(value(Const(x)) for x in c) + ("," if len(c) == 1 else "") + ")"
    raise TypeError(type(c))


def _count(loop: Loop) -> Value:
    """How many times `loop` runs: its stop less its start, as written (`n` of `range(1, n + 1)`)."""
    start, stop = loop.start, loop.stop
    if start == Const(0):
        return stop
    if isinstance(stop, Bin) and stop.op == "+" and stop.right == start:
        return stop.left
    if isinstance(start, Const) and isinstance(stop, Const):
        return Const(stop.value - start.value)
    return Bin("-", stop, start)


def _operand(v: object, op: str, right: bool) -> str:
    text = value(v)
    if isinstance(v, Bin) and (_PRECEDENCE[v.op] < _PRECEDENCE[op] or (right and _PRECEDENCE[v.op] == _PRECEDENCE[op])):
        return f"({text})"
    if isinstance(v, Const) and isinstance(v.value, (int, float)) and v.value < 0:
        return f"({text})"
    return text


def alias(parts: tuple | None) -> str:
    """` as name` for `as` name parts: quoted where it is no plain name, a template `"block{i}"` where a
    part is a variable; "" for none."""
    if not parts:
        return ""
    if any(isinstance(p, (Var, Bin)) for p in parts):
        return ' as "' + "".join(p if isinstance(p, str) else "{" + value(p) + "}" if isinstance(p, Var)
                                 else str(p.value) for p in parts) + '"'
    name = "".join(p if isinstance(p, str) else str(p.value) for p in parts)
    plain = (name.isidentifier() and name not in keywords()) or name.isdigit()
    return f" as {name}" if plain else f' as "{name}"'


def _default(op: str, param: object, slots: dict) -> object:
    if param.name == "stride" and param.default is None:  # pools: the stride defaults to the kernel
        return slots.get("kernel")
    d = param.default
    return Const(d[0] if isinstance(d, tuple) and len(d) == 2 and d[0] == d[1] else d)


def layer(item: Layer) -> str:
    """A layer as the language writes it, leaving out the arguments equal to their defaults (a pool's
    stride is its kernel)."""
    op = REGISTRY[item.op]
    slots = dict(item.slots)
    words = [item.op]
    for p in op.params:
        v = slots.get(p.name)
        if v is None:
            continue
        if p.positional:
            text = value(v, atom=True, kernel=p.stride, symbol=bool(p.symbols))
            stride = slots.get("stride")
            if p.stride and stride is not None and stride != _default(item.op, _param(op, "stride"), slots):
                text += "/" + value(stride, atom=True)
            words.append(text)
        elif not (p.name == "stride" and any(q.stride for q in op.params)) and v != _default(item.op, p, slots):
            words.append(f"{p.name}={value(v, atom=True, symbol=bool(p.symbols))}")
    return " ".join(words) + alias(item.alias)


def _param(op: object, name: str) -> object:
    return next(p for p in op.params if p.name == name)


class Writer:
    """Lays items out as lines of text; `blocks` gives each called block's parameters and their defaults."""

    def __init__(self, blocks: dict[str, Block]) -> None:
        self.blocks = blocks

    def call(self, item: Call) -> str:
        """A block call: required arguments by position, others by keyword where they differ from the default."""
        block = self.blocks[item.block]
        args = []
        for (name, default), v in zip(block.params, item.args, strict=True):
            if default is REQUIRED:
                args.append(value(v))
            elif v != Const(WILD) and not (isinstance(v, Const) and v.value == default
                                           and type(v.value) is type(default)):
                args.append(f"{name}={value(v)}")
        return f"{item.block}({', '.join(args)})" + alias(item.alias)

    def inline(self, item: object) -> str:
        """One item on one line (a merge or loop may be long: `lines` breaks it)."""
        if isinstance(item, Layer):
            return layer(item)
        if isinstance(item, Call):
            return self.call(item)
        if isinstance(item, Merge):
            return f"{item.op} {{ " + " | ".join(self.sequence(b) or IDENTITY.name for b in item.branches) + " }"
        if isinstance(item, Loop):
            return f"{self._loop_head(item)} {{ {self.sequence(item.body)} }}"
        if isinstance(item, Cond):
            orelse = f" else {{ {self.sequence(item.orelse)} }}" if item.orelse else ""
            return f"if {value(item.flag)} {{ {self.sequence(item.then)} }}{orelse}"
        raise TypeError(type(item))

    def _loop_head(self, item: Loop) -> str:
        if not uses_loop_var(item.body):
            return f"repeat {value(_count(item))}"
        stop = item.stop  # `range(5, 7)`, not `range(5, 2 + 5)`, where no parameter took the count
        if isinstance(stop, Bin) and stop.op == "+" and isinstance(stop.left, Const) and isinstance(stop.right, Const):
            stop = Const(stop.left.value + stop.right.value)
        span = value(stop) if item.start == Const(0) else f"{value(item.start)}, {value(stop)}"
        return f"for {LOOP_VAR} in range({span})"

    def sequence(self, items: tuple) -> str:
        """Items joined by commas on one line."""
        return ", ".join(self.inline(i) for i in items)

    def lines(self, items: tuple, indent: int) -> list[str]:
        """Items as lines indented by `indent`: a new line at each conv or fc (its norm and activation follow
        on it) or where the line would pass WIDTH; statements on lines of their own; a merge, loop or `if`
        too long for one line broken over several."""
        pad = " " * indent
        out: list[str] = []
        line: list[str] = []
        heavy = False
        for item in items:
            if isinstance(item, (Stmt, Output)):
                out += self.statement(item, indent)
                continue
            text = self.inline(item)
            big = not isinstance(item, Layer) or REGISTRY[item.op].family in _HEAVY
            if line and ((big and heavy) or len(pad + ", ".join(line + [text])) > WIDTH):
                out.append(pad + ", ".join(line))
                line, heavy = [], False
            if len(pad + text) > WIDTH and isinstance(item, (Merge, Loop, Cond)):
                if line:
                    out.append(pad + ", ".join(line))
                    line = []
                out += self.block_lines(item, indent)
                heavy = False
                continue
            line.append(text)
            heavy = heavy or big
        if line:
            out.append(pad + ", ".join(line))
        return out

    def block_lines(self, item: object, indent: int) -> list[str]:
        """A merge, loop or `if` over several lines, its branches or body indented four more."""
        pad = " " * indent
        if isinstance(item, Merge):
            out = [f"{pad}{item.op} {{"]
            for k, branch in enumerate(item.branches):
                inner = self.lines(branch, indent + 4) or [" " * (indent + 4) + IDENTITY.name]
                if k:
                    inner[0] = pad + "  | " + inner[0].lstrip()
                out += inner
            return out + [pad + "}"]
        if isinstance(item, Loop):
            return [f"{pad}{self._loop_head(item)} {{", *self.lines(item.body, indent + 4), pad + "}"]
        out = [f"{pad}if {value(item.flag)} {{", *self.lines(item.then, indent + 4)]
        if item.orelse:
            out += [pad + "} else {", *self.lines(item.orelse, indent + 4)]
        return out + [pad + "}"]

    def statement(self, item: Stmt | Output, indent: int) -> list[str]:
        """`x3 = x1 -> a, b, c`; long ones go on over lines ending in a comma."""
        pad = " " * indent
        if isinstance(item, Output):
            return [f"{pad}output {item.name}"]
        target = ""
        if item.targets:
            target = (item.targets[0] if len(item.targets) == 1 else "(" + ", ".join(item.targets) + ")") + " = "
        source = f"{item.source} -> " if item.source else ""
        parts = [f"{i.op}({', '.join(i.names)})" if isinstance(i, NamedMerge) else self.inline(i) for i in item.items]
        lines = [pad + target + source + parts[0]]
        for part in parts[1:]:
            if len(lines[-1] + ", " + part) > WIDTH:
                lines[-1] += ","
                lines.append(pad + "    " + part)
            else:
                lines[-1] += ", " + part
        return lines


def write(imported: Imported, header: str, init: str | None = None) -> str:
    """The whole `.cnn` text: `header` as comment lines, each block (callees first), then the network with
    its input shape per sample and, where given, its `init` statement."""
    blocks = {b.name: b for b in imported.blocks}
    w = Writer(blocks)
    out = [f"# {line}".rstrip() for line in header.splitlines()] + [""]
    for b in imported.blocks:
        params = ", ".join(n if d is REQUIRED else f"{n}={value(Const(d))}" for n, d in b.params)
        comment = [f"# {b.cls}"] if b.cls not in (b.name, "Sequential") else []
        out += [*comment, f"block {b.name}({params}) {{", *w.lines(b.body, 4), "}", ""]
    out += [f"network {imported.name} {{", f"    input {'x'.join(map(str, imported.input_shape))}",
            *([f"    {init}"] if init else []), *w.lines(imported.body, 4), "}", ""]
    return "\n".join(_tidy(out))


def _tidy(lines: list[str]) -> list[str]:
    """At most one blank line in a row; long lines broken after a comma (a newline after a
    comma never ends a statement, see grammars/cnn.lark), continued 8 spaces further in."""
    out: list[str] = []
    for line in lines:
        if line == "" and out and out[-1] == "":
            continue
        out += _wrap(line)
    return out


def _wrap(line: str) -> list[str]:
    if len(line) <= WIDTH:
        return [line]
    pad = " " * (len(line) - len(line.lstrip()) + 8)
    out, rest, quoted = [], line, False
    while len(rest) > WIDTH:
        cut = None
        for i, ch in enumerate(rest[:WIDTH]):
            quoted ^= ch == '"'
            if ch == "," and not quoted and i > len(pad):
                cut = i
        quoted = False
        if cut is None:
            break
        out.append(rest[:cut + 1])
        rest = pad + rest[cut + 1:].lstrip()
    return [*out, rest]
