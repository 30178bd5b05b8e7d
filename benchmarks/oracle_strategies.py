"""Hypothesis strategies for the differential oracle: `.cnn` programs drawn from the op
registry's signatures and shape rules (the program model and its text are in
benchmarks/oracle_programs.py, which says what is drawn and why)."""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field

from hypothesis import strategies as st

from benchmarks.oracle_programs import (
    LAYER_OPS,
    MERGE_OPS,
    NUMBERS,
    WORDS,
    Arg,
    Block,
    Call,
    Item,
    Layer,
    Line,
    Merge,
    NamedMerge,
    Program,
    bind,
    out_shapes,
    ranks,
)
from cnndsl.ops import ArgError, Op, Param, Shape

Accept = Callable[[tuple[Shape, ...]], bool]


def REFUSED(shapes: tuple[Shape, ...]) -> bool:  # noqa: N802 (a marker: draw a layer whose input is refused)
    return False


@functools.lru_cache(maxsize=4096)
def pool(param: Param, shape: Shape) -> tuple[tuple[object, ...], tuple[object, ...]]:
    """The language values `param`'s kind accepts, from a pool sized to the input `shape`: the
    simple ones (integers up to 3, numbers, words, permutations) and all of them."""
    ints = sorted({*range(6), *(d + e for d in shape for e in (-1, 0, 1)), *(2 * d for d in shape[:1])} - {-1})
    ints = [i for i in ints if i <= 17]
    pairs = [(a, b) for a in ints for b in ints if min(a, b) <= 3 or a == b]
    perms = [p for r in sorted({len(shape), 2, 3}) for p in itertools.permutations(range(r))]
    found = []
    for value in [*ints, *NUMBERS, True, False, *param.symbols, *pairs, *perms]:
        try:
            param.kind(value)
        except ArgError:
            continue
        found.append(value)
    simple = [v for v in found if not (type(v) is int and v > 3)
              and not (isinstance(v, tuple) and len(v) == 2 and max(v) > 3 and v not in perms)]
    return tuple(simple), tuple(found)


def value_of(draw: Callable, param: Param, shape: Shape) -> object:
    simple, every = pool(param, shape)
    return draw(st.sampled_from(simple if simple and draw(st.booleans()) else every))


@st.composite
def layer(draw, op: Op, shape: Shape) -> Layer:
    """`op` on a `shape` input with drawn, legal arguments: required ones always, optional
    positionals often, keywords one time in three, a kernel's stride as `/S` sometimes."""
    args: dict[str, Arg] = {}
    suffix = False
    open_positional = True
    stride = next((p for p in op.params if p.name == "stride"), None)
    for param in op.params:
        if not pool(param, shape)[1] or param.name in args:
            continue
        if param.positional:
            open_positional = open_positional and (param.required or draw(st.integers(0, 2)) > 0)
            if not open_positional:
                continue
        elif not param.required and draw(st.integers(0, 2)) > 0:
            continue
        args[param.name] = Arg(value_of(draw, param, shape))
        if param.stride and stride is not None and draw(st.integers(0, 3)) == 0:
            args["stride"], suffix = Arg(value_of(draw, stride, shape)), True
    return Layer(op, args, bind(op, args), shape, suffix)


@dataclass
class Drawing:
    """The generator's state: its draw function, the op to favour, whether one refused layer
    may still be drawn (and whether one was), the blocks and names made so far."""

    draw: Callable
    focus: Op | None
    may_refuse: bool
    refused: bool = False
    blocks: list[Block] = field(default_factory=list)
    counter: itertools.count = field(default_factory=itertools.count)

    def pick(self, ops: list[Op]) -> Op:
        """An op; those with more parameters more often (they have more to get wrong)."""
        if self.focus in ops and self.draw(st.booleans()):
            return self.focus
        return self.draw(st.sampled_from([op for op in ops for _ in range(1 + len(op.params))]))

    def refuse_here(self) -> bool:
        return self.may_refuse and not self.refused and self.draw(st.integers(0, 2)) == 0

    def name(self, prefix: str) -> str:
        return f"{prefix}{next(self.counter)}"


def draw_layer(d: Drawing, shape: Shape, accept: Accept | None, in_block: bool,
               one_output: bool) -> tuple[Layer, tuple[Shape, ...] | None] | None:
    """A layer on `shape` whose output shapes satisfy `accept`; `accept=REFUSED` takes a layer
    whose op takes inputs of this rank but whose shape rule refuses this one. None after 18
    misses."""
    for attempt in range(18):
        if attempt % 3 == 0:  # three sets of arguments for each op tried
            op = d.pick(LAYER_OPS)
        if accept is REFUSED and len(shape) not in ranks(op):
            continue  # a refusal outside an op's domain compares nothing (benchmarks/oracle_checks.py)
        item = d.draw(layer(op, shape))
        shapes = out_shapes(op, item.attrs, [shape])
        if one_output and shapes is not None and len(shapes) > 1:
            continue
        if (shapes is None) if accept is REFUSED else (shapes is not None and accept(shapes)):
            if in_block and d.draw(st.integers(0, 2)) == 0:  # values passed through the block's parameters
                for arg in item.args.values():
                    if arg.value not in WORDS:
                        arg.via = d.name("k")
            if d.draw(st.integers(0, 15)) == 0:
                n = next(d.counter)
                item.alias = str(n) if n % 2 else f"named{n}"
            return item, shapes
    return None


def draw_chain(d: Drawing, shape: Shape, length: int, accept_last: Accept, nested: int,
               in_block: bool) -> tuple[list[Item], Shape | None]:
    """`length` items from `shape`, the last one's output satisfying `accept_last`; returns the
    items and their output (None once one is refused)."""
    items: list[Item] = []
    start = shape
    for i in range(length):
        last = i == length - 1
        if nested < 2 and d.draw(st.integers(0, 9)) == 0:
            merge, out = draw_merge(d, shape, nested + 1, in_block)
            if out is None or not last or accept_last((out,)):
                items.append(merge)
                if out is None:
                    return items, None
                shape = out
                continue
        found = draw_layer(d, shape, REFUSED, in_block, True) if d.refuse_here() else None
        if found is not None:
            items.append(found[0])
            d.refused = True
            return items, None
        found = draw_layer(d, shape, lambda s, last=last: len(s) == 1 and (not last or accept_last(s)), in_block,
                           True)
        if found is None:
            continue
        items.append(found[0])
        shape = found[1][0]
    if items and not accept_last((shape,)):  # the last item drawn was not meant to be the last
        return [], start
    return items, shape


def draw_merge(d: Drawing, shape: Shape, nested: int, in_block: bool) -> tuple[Merge, Shape | None]:
    """A merge whose branches each end in a shape its own rule joins with its input."""
    op = d.pick(MERGE_OPS)
    branches, ends = [], []
    for _ in range(d.draw(st.integers(1, 3))):
        free = d.refuse_here()  # a branch that may end in a shape the merge does not join
        items, end = draw_chain(d, shape, d.draw(st.integers(0, 2)), lambda s, free=free: free or out_shapes(
            op, {}, [shape, s[0]]) is not None, nested, in_block)
        branches.append(items)
        if end is None:
            return Merge(op, branches), None
        ends.append(end)
    out = out_shapes(op, {}, ends)
    d.refused = d.refused or out is None
    return Merge(op, branches), None if out is None else out[0]


def draw_call(d: Drawing, shape: Shape) -> tuple[Call | None, Shape | None]:
    """A call of a new block drawn on `shape`, its values passed through parameters (by
    position, by keyword, or as defaults) or written `in_channels`."""
    items, out = draw_chain(d, shape, d.draw(st.integers(1, 3)), lambda s: True, 0, True)
    if not items:
        return None, shape
    block = Block(f"blk{len(d.blocks)}", items)
    d.blocks.append(block)
    for arg in (a for item in Program((), [], [block], [], False).layers() for a in item.args.values() if a.via):
        if arg.value == shape[0] and type(arg.value) is int and d.draw(st.integers(0, 2)) == 0:
            arg.via, arg.in_channels = None, True
        else:
            block.params.append((arg, d.draw(st.sampled_from(["call", "keyword", "default"]))))
    block.params.sort(key=lambda p: p[1] != "call")
    return Call(block), out


def draw_line(d: Drawing, cur: Shape | None, names: dict[str, Shape]) -> tuple[Line | None, Shape | None]:
    """One statement of the network body: where it starts (the flow, a name, a merge of
    names), its item (a layer, a merge, a block call) and the names it binds."""
    flow = cur  # what the statement after this one continues from, if this one is not drawn
    source: str | NamedMerge | None = None
    start = d.draw(st.integers(0, 9))
    if names and (cur is None or start == 0):
        source = d.draw(st.sampled_from(sorted(names)))
        cur = names[source]
    elif names and start == 1:
        op = d.pick(MERGE_OPS)
        picked = tuple(d.draw(st.lists(st.sampled_from(sorted(names)), min_size=1, max_size=3)))
        out = out_shapes(op, {}, [names[n] for n in picked])
        if out is not None or d.refuse_here():
            source, d.refused = NamedMerge(op, picked), d.refused or out is None
            cur = out[0] if out is not None else names[picked[0]]
    if cur is None:
        return None, None
    kind = d.draw(st.integers(0, 9))
    if kind == 0:
        item, out = draw_merge(d, cur, 0, False)
    elif kind == 1:
        item, out = draw_call(d, cur)
    else:
        found = draw_layer(d, cur, REFUSED, False, False) if d.refuse_here() else None
        d.refused = d.refused or found is not None
        found = found or draw_layer(d, cur, lambda s: True, False, False)
        if found is None:
            return None, flow
        item, outs = found
        if outs is not None and len(outs) > 1:
            targets = tuple(d.name("t") for _ in outs)
            names.update(zip(targets, outs, strict=True))
            return Line(item, targets, source), None
        out = None if outs is None else outs[0]
    if item is None:
        return None, flow
    target = d.name("t") if out is not None and d.draw(st.integers(0, 2)) == 0 else None
    if target is not None:
        names[target] = out
    return Line(item, target, source), out


@st.composite
def programs(draw, focus: Op | None = None) -> Program:
    """A network (with its blocks) drawn from the registry; `focus` is an op to use often. One
    in four may be refused at one layer; each carries a change of one argument for `diff`."""
    d = Drawing(draw, focus, draw(st.integers(0, 3)) == 0)
    flat = draw(st.integers(0, 9)) == 0
    channels = draw(st.sampled_from([1, 2, 3, 4, 6, 8]))
    shape: Shape = (channels,) if flat else (channels, draw(st.integers(1, 9)), draw(st.integers(1, 9)))
    names: dict[str, Shape] = {}
    lines: list[Line] = []
    cur: Shape | None = shape
    for _ in range(draw(st.integers(1, 7))):
        line, cur = draw_line(d, cur, names)
        if line is not None:
            lines.append(line)
        if d.refused or (cur is None and not names):
            break
    outputs: list[str] = []
    if names and not d.refused and (cur is None or draw(st.integers(0, 2)) == 0):
        outputs = draw(st.lists(st.sampled_from(sorted(names)), min_size=1, max_size=3, unique=True))
    program = Program(shape, lines, d.blocks, outputs, d.refused)
    program.change = draw(change(program))
    return program


@st.composite
def change(draw, program: Program) -> tuple[Layer, str, object] | None:
    """Another legal value for one written argument of one layer (the bound attributes differ)."""
    written = [(item, name) for item in program.layers() for name, arg in item.args.items() if not arg.in_channels]
    if not written:
        return None
    item, name = draw(st.sampled_from(written))
    param = next(p for p in item.op.params if p.name == name)
    for _ in range(4):
        value = value_of(draw, param, item.in_shape)
        if item.args[name].via is not None and value in WORDS:
            continue
        if bind(item.op, {**item.args, name: Arg(value)}) != item.attrs:
            return item, name, value
    return None
