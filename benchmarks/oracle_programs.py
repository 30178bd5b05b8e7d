"""Valid (and some refused) `.cnn` programs drawn from the op registry, for the differential
oracle (tests/test_oracle.py, benchmarks/oracle.py).

Nothing here knows an op by name: every layer is an entry of `REGISTRY`, its argument values
come from a pool of language values (small integers, the sizes of the tensor it reads, `HxW`
pairs, numbers, booleans, permutations, the words of `Param.symbols`) filtered by the
parameter's own kind, and the shapes that steer the drawing come from the op's own shape rule
(merges: the merge's rule decides which branch ends join). A new op is drawn with no change
here. Sizes sit at the edges on purpose: the pool holds each input size and its neighbours, so
kernels as large as their input or larger, outputs of 0 or 1, ceil-mode pools and adaptive
pools that do not divide come up often. Programs hold branches and merges, named tensors and
merges of them, blocks with parameters (and `in_channels`), layers with several outputs, `as`
names and several `output` statements. About one program in four may have one layer whose shape
rule refuses its input; nothing is drawn after it.

A program keeps its structure (`Line`, `Layer`, `Merge`, `Call`), which the torch reference
(benchmarks/oracle_torch.py) runs layer by layer, and the source line of every layer and
merge (benchmarks/oracle_text.py writes it), so that an error's location names its layer.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field

from cnndsl.ops import REGISTRY, Op, Shape, ShapeError

LAYER_OPS = [op for op in REGISTRY.values() if not op.is_input and not op.merge]
MERGE_OPS = [op for op in REGISTRY.values() if op.merge]
NUMBERS = (0.0, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 1e-3, -0.2)
WORDS = {s for op in REGISTRY.values() for p in op.params for s in p.symbols}  # never passed through a block
Accept = Callable[[tuple[Shape, ...]], bool]


@dataclass(eq=False)
class Arg:
    """One argument: its language value, and the block parameter it is passed through (if any)."""

    value: object
    via: str | None = None
    in_channels: bool = False  # written `in_channels` inside its block (the value is the block's input channels)


@dataclass(eq=False)
class Layer:
    op: Op
    args: dict[str, Arg]         # by parameter name
    attrs: dict                  # as elaboration binds them
    in_shape: Shape              # the input the generator's shape rule saw
    stride_suffix: bool = False  # the stride written as `kernel/S`
    alias: str | None = None     # `as NAME`


@dataclass(eq=False)
class Merge:
    op: Op
    branches: list[list[Item]]   # each starts from the merge's input; [] is `identity`


@dataclass(eq=False)
class Block:
    name: str
    items: list[Item]
    # (argument, how it gets its value: "call" positionally, "keyword" by the call, "default")
    params: list[tuple[Arg, str]] = field(default_factory=list)


@dataclass(eq=False)
class Call:
    block: Block


@dataclass(eq=False)
class NamedMerge:
    """A merge of named tensors, where a statement starts: `concat(t1, t2) -> ...`."""

    op: Op
    names: tuple[str, ...]


Item = Layer | Merge | Call | NamedMerge


@dataclass(eq=False)
class Line:
    """`[target =] [source ->] item`; source is a tensor name or a merge of names."""

    item: Item
    target: str | tuple[str, ...] | None = None
    source: str | NamedMerge | None = None


@dataclass(eq=False)
class Program:
    input_shape: Shape
    lines: list[Line]
    blocks: list[Block]
    outputs: list[str]           # `output` statements; [] is the last statement's output
    refused: bool                # the generator let one layer's shape rule refuse its input
    change: tuple[Layer, str, object] | None = None  # for `diff`: a layer, a parameter, another value

    def layers(self) -> list[Layer]:
        found: list[Layer] = []

        def walk(items: list[Item]) -> None:
            for item in items:
                if isinstance(item, Layer):
                    found.append(item)
                elif isinstance(item, Merge):
                    for branch in item.branches:
                        walk(branch)
        walk([line.item for line in self.lines] + [i for b in self.blocks for i in b.items])
        return found


# ---- arguments ----------------------------------------------------------------------------


def bind(op: Op, args: dict[str, Arg]) -> dict:
    """The attributes elaboration binds from these arguments."""
    kinds = {p.name: p.kind for p in op.params}
    attrs = {name: kinds[name](a.value) for name, a in args.items()}
    attrs.update({p.name: p.default for p in op.params if p.name not in attrs})
    return op.prepare(attrs) if op.prepare else attrs


@functools.cache
def ranks(op: Op) -> frozenset[int]:
    """The input ranks the op's own usage examples give it: its domain as the registry shows it."""
    from cnndsl.api import check_text

    found = set()
    for text, shape in op.usage_examples():
        net = check_text(f"network E {{\n    input {'x'.join(map(str, shape))}\n{text}\n}}\n")
        found |= {len(s) for layer in net.layers() if layer.op == op.name for s in layer.input_shapes}
    return frozenset(found)


def out_shapes(op: Op, attrs: dict, shapes: list[Shape]) -> tuple[Shape, ...] | None:
    """The op's own shape rule; None where it refuses (or, at the generator's own rule, where
    an output size is below 1)."""
    try:
        out = op.infer(attrs, shapes)
    except ShapeError:
        return None
    return out if all(d >= 1 for s in out for d in s) else None




# ---- the program as text ------------------------------------------------------------------


def literal(value: object) -> str:
    """A value as the language writes it: `true`, `0.25`, `3x2`, `(1, 2, 0)`, `same`."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        if len(value) == 2:
            return f"{value[0]}x{value[1]}"
        return "(" + ", ".join(map(str, value)) + ("," if len(value) == 1 else "") + ")"
    return repr(value) if isinstance(value, float) else str(value)


@dataclass
class Text:
    """A program written out, with where every layer and merge starts (line, column)."""

    source: str
    at: dict[tuple[int, int], Item]

    def where(self, item: Item) -> tuple[int, int]:
        return next(place for place, i in self.at.items() if i is item)

    def item_at(self, line: int, col: int) -> Item | None:
        """The item an error at (line, col) points into: the last one starting on that line before it."""
        here = [(c, i) for (n, c), i in self.at.items() if n == line and c <= col]
        return max(here, key=lambda p: p[0])[1] if here else None


class _Writer:
    def __init__(self, program: Program, changed: bool) -> None:
        self.lines: list[str] = []
        self.at: dict[tuple[int, int], Item] = {}
        self.override: dict[int, object] = {}
        if changed and program.change is not None:
            layer, name, value = program.change
            self.override[id(layer.args[name])] = value

    def value(self, arg: Arg) -> object:
        return self.override.get(id(arg), arg.value)

    def written(self, arg: Arg) -> str:
        if arg.in_channels:
            return "in_channels"
        return arg.via or literal(self.value(arg))

    def emit(self, indent: int, text: str, item: Item | None = None, col: int = 0,
             source: NamedMerge | None = None) -> None:
        """A line; `item` starts at column `col` of `text`, a merge of names at its start."""
        self.lines.append(" " * indent + text)
        if item is not None:
            self.at[len(self.lines), indent + col + 1] = item
        if source is not None:
            self.at[len(self.lines), indent + text.index(source.op.name + "(") + 1] = source

    def layer(self, layer: Layer) -> str:
        parts = [layer.op.name]
        for p in layer.op.params:
            if p.positional and p.name in layer.args:
                parts.append(self.written(layer.args[p.name]))
                if p.stride and layer.stride_suffix:
                    parts[-1] += "/" + self.written(layer.args["stride"])
        parts += [f"{name}={self.written(arg)}" for name, arg in layer.args.items()
                  if not next(p for p in layer.op.params if p.name == name).positional
                  and not (name == "stride" and layer.stride_suffix)]
        if layer.alias is not None:
            parts.append(f"as {layer.alias}")
        return " ".join(parts)

    def item(self, indent: int, prefix: str, item: Item, source: NamedMerge | None = None) -> None:
        """Write `item` (its first line starts with `prefix`, which may hold a merge of names)."""
        if isinstance(item, Layer):
            self.emit(indent, prefix + self.layer(item), item, len(prefix), source)
        elif isinstance(item, Call):
            block = item.block
            passed = [literal(self.value(a)) for a, how in block.params if how == "call"]
            named = [f"{a.via}={literal(self.value(a))}" for a, how in block.params if how == "keyword"]
            self.emit(indent, prefix + f"{block.name}(" + ", ".join(passed + named) + ")", None, 0, source)
        else:
            self.emit(indent, prefix + item.op.name + " {", item, len(prefix), source)
            for i, branch in enumerate(item.branches):
                lead = "  " if i == 0 else "| "
                if not branch:
                    self.emit(indent + 2, lead + "identity")
                for j, inner in enumerate(branch):
                    self.item(indent + 2, lead if j == 0 else "  ", inner)
            self.emit(indent, "}")


def write(program: Program, changed: bool = False) -> Text:
    """The program's source text (`changed`: with `program.change` applied)."""
    w = _Writer(program, changed)
    for block in program.blocks:
        # a parameter the call passes by keyword gets a default of 0, which the call overrides
        params = [a.via for a, how in block.params if how == "call"]
        params += [f"{a.via}={literal(w.value(a)) if how == 'default' else 0}"
                   for a, how in block.params if how != "call"]
        w.emit(0, f"block {block.name}(" + ", ".join(params) + ") {")
        for item in block.items:
            w.item(4, "", item)
        w.emit(0, "}")
    w.emit(0, "network Net {")
    w.emit(4, "input " + "x".join(map(str, program.input_shape)))
    for line in program.lines:
        target = "" if line.target is None else (
            line.target if isinstance(line.target, str) else "(" + ", ".join(line.target) + ")") + " = "
        merged = line.source if isinstance(line.source, NamedMerge) else None
        source = "" if line.source is None else (
            f"{merged.op.name}({', '.join(merged.names)})" if merged else line.source) + " -> "
        w.item(4, target + source, line.item, merged)
    for name in program.outputs:
        w.emit(4, f"output {name}")
    w.emit(0, "}")
    return Text("\n".join(w.lines) + "\n", w.at)
