"""The op registry: one entry per op holds everything cnndsl knows about it.

An :class:`Op` carries its keyword, signature (:class:`Param`), shape rule, parameter and
MAC rules (with the MAC convention in words), torch builder, :class:`Family` and diagram
label; the rules that import torch layers as the op are registered beside it
(cnndsl/ops/importing.py). Passes and backends look ops up here and never branch on op names
(tests/test_registry.py checks that no module outside cnndsl/ops compares one), so adding an
op is adding one entry (see cnndsl/ops/*.py). docs/language.md's op table and the MAC
conventions of docs/analysis.md and `cnndsl summary` are generated from here
(cnndsl/ops/docs.py). Nothing here imports torch: builders receive the `torch` module as an
argument.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .reach import Reads

Shape = tuple[int, ...]
Attrs = dict[str, Any]


class ShapeError(Exception):
    """Raised by shape rules; elaboration turns it into a located CnnError."""


class ArgError(Exception):
    """Raised by parameter kinds for a bad value; the message completes 'X must be ...'."""


REQUIRED = object()


class Family(enum.Enum):
    """What kind of layer an op is. Diagrams colour their boxes by it (with a legend, in this
    order), the summary splits parameters and MACs by it and folds light families into the row
    before them, the importer starts a new line at heavy ones. BLOCK is no op's family: it
    marks a block call drawn or summarised as one box or row."""

    IO = "io"
    CONV = "conv"
    POOL = "pool"
    NORM = "norm"
    ACT = "act"
    FC = "fc"
    MERGE = "merge"
    BLOCK = "block"
    RESHAPE = "reshape"
    OTHER = "other"

    @property
    def legend(self) -> str:
        """The family's name in a diagram's legend."""
        return _LEGEND[self]


_LEGEND = {Family.IO: "input, output", Family.CONV: "convolution", Family.POOL: "pooling", Family.NORM: "normalisation",
           Family.ACT: "activation", Family.FC: "fully connected", Family.MERGE: "merge", Family.BLOCK: "block",
           Family.RESHAPE: "reshape", Family.OTHER: "other"}


@dataclass(frozen=True)
class Param:
    """One argument of an op: positional (in order) or keyword-only.

    `kind` converts a value of the language to the bound attribute (`pair(1)`: an int or `HxW` to a
    pair) or raises ArgError; `default` is REQUIRED when the argument must be given; `stride` marks a
    kernel that takes the `/S` stride suffix; `symbols` are bare words taken literally (`pad=same`);
    `note` describes the values for docs/language.md's op table.
    """

    name: str
    kind: Callable[[object], object]
    default: object = REQUIRED
    positional: bool = False
    stride: bool = False          # a kernel: accepts the `/S` stride suffix
    symbols: tuple[str, ...] = ()  # bare words taken literally: `pad=same`, `mode=bilinear`
    note: str = ""  # the values it takes, for the op table of docs/language.md: "int, `HxW` or `same`"
    # False: a print figure (`draw --compact`) leaves it out, as papers do (bias, inplace, eps, momentum):
    # it changes the module, not the architecture a reader of the figure looks at
    in_figures: bool = True

    @property
    def required(self) -> bool:
        """Whether the argument has no default, so that every layer of the op must give it."""
        return self.default is REQUIRED


def weight_and_bias(axes: int) -> Callable[[Attrs], tuple[int, int]]:
    """`Op.init_axes` of a layer with a weight of `axes` axes and a bias unless `bias=false` (conv, fc)."""
    return lambda a: (axes, 1 if a.get("bias", True) else 0)


def scale_and_shift(a: Attrs) -> tuple[int, int]:
    """`Op.init_axes` of a norm: a per-channel gamma and beta, none with `affine=false`."""
    return (1, 1) if a.get("affine", True) else (0, 0)


def _zero(*_: object) -> int:
    return 0


@dataclass(frozen=True)
class Op:
    """Everything about one op. Rules receive the bound attributes and the input shapes.

    Every shape is per sample, with no batch axis (C×H×W, or (features,) once flat). `infer(attrs,
    in_shapes)` gives the output shapes (one, several for `split`) or raises ShapeError, whose message
    the elaborator locates; windows size their output by `sliding.output_length`, PyTorch's own rule.
    `count_params(attrs, in_shapes)` is the number of trainable parameters the torch module holds (conv:
    `out * in/groups * kh * kw`, plus `out` with a bias, as nn.Conv2d's weight and bias; buffers are not
    counted). `count_macs(attrs, in_shapes, out_shapes)` is multiply-accumulates per sample, and `macs`
    says in words how (one per weight per output position for conv, fc and linear, bias not counted, as
    fvcore counts them; docs/analysis.md lists all). `reach(attrs, in_shapes, out_shape, port)` gives, per
    input, what each axis of output `port` reads of it, exactly (one `reach.Reads` per output axis;
    cnndsl/ops/reach.py).
    The other fields are described where they are declared.
    """

    name: str
    family: Family
    doc: str  # one sentence for the op table of docs/language.md, naming the torch equivalent
    infer: Callable[[Attrs, list[Shape]], tuple[Shape, ...]]
    params: tuple[Param, ...] = ()
    count_params: Callable[[Attrs, list[Shape]], int] = _zero
    count_macs: Callable[[Attrs, list[Shape], tuple[Shape, ...]], int] = _zero
    # how count_macs counts, in words, for docs/analysis.md and the summary's footer; ops that
    # count alike say it alike (they are listed together); empty for ops that count none
    macs: str = ""
    # torch: a module builder `(nn, attrs, in_shapes) -> nn.Module`, or a function on tensors
    # `(torch, inputs, attrs) -> tensor` for ops without state (merges, split, identity)
    module: Callable[[Any, Attrs, list[Shape]], Any] | None = None
    function: Callable[[Any, list[Any], Attrs], Any] | None = None
    # an op whose state is one tensor stored at the layer's own name (ConvNeXt's layer scale:
    # key `features.1.0.layer_scale`): `(attrs, in_shapes) -> (shape, initial value)`; the
    # backend registers the parameter and passes it to `function` after the inputs
    parameter: Callable[[Attrs, list[Shape]], tuple[Shape, float]] | None = None
    # the label of a layer that is not written as one (the input); others are `describe`d
    # ONNX export: for a layer that torch.onnx or onnxruntime cannot take as built, or would take
    # with other semantics (`pad=same` with dilation, adaptive windows that do not tile, ceil-mode
    # windows), `(attrs, in_shapes) -> forward | None`, where forward `(torch, module, x) -> tensor`
    # computes exactly what the built module does, from its own parameters, with ops that export;
    # None keeps the module. Only the exporter uses it (cnndsl/ops/lowering.py)
    export_lowering: Callable[[Attrs, list[Shape]], Callable[[Any, Any, Any], Any] | None] | None = None
    label: Callable[[Attrs], str] | None = None
    # the word the papers' stage tables write after a kernel (`2×2 up-conv, 512`, as U-Net's paper)
    paper_word: str = ""
    # warnings about a layer on its input shapes (groups of one value); `drops` only for input rows or
    # columns a window leaves out (LANGUAGE.md §7): `cnndsl inputs` calls a size exact where no layer has one
    warn: Callable[[Attrs, list[Shape]], list[str]] = field(default=lambda a, s: [])
    drops: Callable[[Attrs, list[Shape]], list[str]] = field(default=lambda a, s: [])
    prepare: Callable[[Attrs], Attrs] | None = None  # derived defaults (pool stride = kernel)
    merge: bool = False     # takes branches: `concat { a | b }` or named tensors `concat(a, b)`
    passes_one: bool = False  # a merge whose one branch is its output (the fx model has no node)
    outputs: Callable[[Attrs], int] = field(default=lambda a: 1)
    # a fresh output tensor whose backward does not need it: an activation that is its only
    # reader may overwrite it in place (the backend then sets `inplace=True`, as torchvision does)
    inplace_after: bool = False
    # receptive field of CxHxW output `port`: per input, one `reach.Reads` per output axis (C, H, W),
    # the input indices each output index reads; None is `reach.elementwise` (activations,
    # per-channel norms, add, mul with broadcasting)
    reach: Callable[[Attrs, list[Shape], Shape, int], tuple[tuple[Reads, ...], ...]] | None = None
    # the older form of the rule, kept for plugins written against it: a sliding window per
    # spatial axis, ((k, s, d, p), (k, s, d, p)) with p the padding before; used where `reach`
    # is None (`reach.from_window`)
    window: Callable[[Attrs, Shape], tuple[tuple[float, ...], ...]] | None = None
    # whether autograd keeps a tensor the size of the output (views such as flatten do not)
    stores_output: bool = True
    # diagrams draw a box per layer (merges a small round node showing `glyph`); an op that is
    # not `drawn` is an edge passing through, as the papers draw an identity shortcut
    drawn: bool = True
    glyph: str | None = None
    # network-body snippets with an input shape, compiled by tests/test_registry.py and
    # compared with torch; empty means the bare op name on a 4x9x9 input
    examples: tuple[tuple[str, Shape], ...] = ()
    # the module's tensors that `init=` sets: its weight's and its bias's attribute names (for batch
    # norm gamma and beta); every op whose module has parameters takes `init=` (cnndsl/ops/inits.py)
    init_params: tuple[str, str] = ("weight", "bias")
    # the number of axes of those two tensors, 0 where the layer has none (`bias=false`): elaboration
    # refuses an initialiser torch would refuse on them (xavier on a bias); None (a plugin's op that
    # does not say) leaves that to torch when the model is built
    init_axes: Callable[[Attrs], tuple[int, int]] | None = None

    @property
    def initialisable(self) -> bool:
        """Whether layers of the op take `init=`: trainable parameters (by its parameter rule), in a module or
        stored at the layer's own name (`parameter`; its tensor is the weight)."""
        return (self.module is not None or self.parameter is not None) and self.count_params is not _zero

    @property
    def is_input(self) -> bool:
        """The network's input (a placeholder, not a layer one writes in a chain)."""
        return self.family is Family.IO

    def usage_examples(self) -> tuple[tuple[str, Shape], ...]:
        """The snippets tests/test_registry.py compiles for this op: `examples`, else the bare op on a 4x9x9
        input."""
        return self.examples or ((self.name, (4, 9, 9)),)

    def describe(self, attrs: Attrs, brief: bool = False) -> str:
        """The layer as the source writes it, with every argument that changes its module:
        `conv 11x11/4 96 pad=2`, `maxpool 3x3/2`, `bn eps=0.001`. Positional arguments are
        always written; a keyword (or a kernel's `/S` stride) only where its value is not what
        the language infers without it (a pool's stride is its kernel). Parsed back as a layer,
        the label binds the same attributes (tests/test_labels.py). `brief`: without the
        keywords print figures leave out (`Param.in_figures`: `conv 3x3 64`, not `bias=false`)."""
        if self.label:
            return self.label(attrs)
        words = [self.name]
        for p in self.params:
            if p.positional:
                text = written(attrs[p.name], p.symbols)
                if p.stride and not self._inferred(attrs, "stride"):
                    text += "/" + written(attrs["stride"], short=True)
                words.append(text)
            elif brief and not p.in_figures:
                continue
            elif not (p.name == "stride" and self._stride_suffix) and not self._inferred(attrs, p.name):
                words.append(f"{p.name}={written(attrs[p.name], p.symbols, short=True)}")
        return " ".join(words)

    @property
    def _stride_suffix(self) -> bool:
        """Whether the stride is written as a kernel's `/S` suffix."""
        return any(p.stride for p in self.params)

    def _inferred(self, attrs: Attrs, name: str) -> bool:
        """Whether `attrs[name]` is what binding infers when the layer leaves the argument out."""
        param = next(p for p in self.params if p.name == name)
        if param.required:
            return False
        without = {**attrs, name: param.default}
        inferred = (self.prepare(without) if self.prepare else without)[name]
        return type(inferred) is type(attrs[name]) and inferred == attrs[name]

    def signature(self) -> str:
        """The op's signature as error hints show it: the op name, its positional arguments (optional ones in
        brackets) and its keywords (`conv kernel out stride= pad= ...`)."""
        parts = [p.name if p.required else f"[{p.name}]" for p in self.params if p.positional]
        parts += [f"{p.name}=" for p in self.params if not p.positional]
        return " ".join([self.name, *parts])


def written(value: object, symbols: tuple[str, ...] = (), short: bool = False) -> str:
    """A bound value as the source writes it, so that it parses back to the same value: `3x3`
    (`2` for a square pair where `short`: strides, padding), `0.001`, `1e-5`, `true`, a bare
    word the parameter takes literally (`same`), `(1, 2, 0)`."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        mantissa, e, exponent = repr(value).partition("e")
        return mantissa + (f"e{int(exponent)}" if e else "")  # 1e-05 -> 1e-5
    if isinstance(value, tuple):
        if len(value) == 2 and all(_is_int(v) and v >= 0 for v in value):
            return str(value[0]) if short and value[0] == value[1] else dims(value)
        return "(" + ", ".join(written(v) for v in value) + ("," if len(value) == 1 else "") + ")"
    if isinstance(value, str) and value not in symbols:
        return f'"{value}"'
    return str(value)


# MAC conventions (Op.macs) that several ops share
PER_WEIGHT = "one per weight per output position, bias not counted (as fvcore and torchinfo)"
PER_ELEMENT = "one per element"

REGISTRY: dict[str, Op] = {}


def register(*ops: Op) -> None:
    """Add ops to REGISTRY; ValueError when a name is already taken (a bug in an op module)."""
    for op in ops:
        if op.name in REGISTRY:
            raise ValueError(f"op {op.name!r} registered twice")
        REGISTRY[op.name] = op


# ---- parameter kinds: each converts a language value or raises ArgError("a ...") -------


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def integer(minimum: int) -> Callable[[object], int]:
    """A parameter kind: an int (not a bool) of at least `minimum`, else ArgError."""
    what = {1: "a positive integer", 0: "a non-negative integer"}.get(minimum, f"an integer >= {minimum}")

    def convert(v: object) -> int:
        if not _is_int(v) or v < minimum:
            raise ArgError(what)
        return v
    return convert


def pair(minimum: int) -> Callable[[object], tuple[int, int]]:
    """An int (square) or a 2-tuple / `HxW` dims literal."""
    single = integer(minimum)

    def convert(v: object) -> tuple[int, int]:
        if isinstance(v, tuple):
            if len(v) != 2:
                raise ArgError(f"one integer or HxW (got {len(v)} values)")
            return single(v[0]), single(v[1])
        try:
            n = single(v)
        except ArgError:
            raise ArgError(f"{'a positive' if minimum else 'a non-negative'} integer or HxW") from None
        return n, n
    return convert


def number(low: float | None = None, high: float | None = None) -> Callable[[object], float]:
    """A parameter kind: an int or float (not a bool) within [`low`, `high`] where given, as a float; else
    ArgError."""
    def convert(v: object) -> float:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise ArgError("a number")
        if (low is not None and v < low) or (high is not None and v > high):
            raise ArgError(f"a number between {low} and {high}" if high is not None else f"a number >= {low}")
        return float(v)
    return convert


def positive(v: object) -> float:
    """A finite number > 0 (a scale factor: 0 or less leaves no output, and torch refuses it)."""
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 < v < math.inf:
        raise ArgError("a positive number")
    return float(v)


def boolean(v: object) -> bool:
    """A parameter kind: `true` or `false`, else ArgError."""
    if not isinstance(v, bool):
        raise ArgError("true or false")
    return v


def choice(*options: str) -> Callable[[object], str]:
    """A parameter kind: one of the strings `options` (bare words such as `bilinear`), else ArgError."""
    def convert(v: object) -> str:
        if v not in options:
            raise ArgError("one of " + ", ".join(options))
        return v
    return convert


def pad_or_same(v: object) -> object:
    """A parameter kind for padding: the word `same`, or a non-negative int or `HxW` as a pair; else
    ArgError."""
    return "same" if v == "same" else pair(0)(v)


# ---- shared shape helpers -------------------------------------------------------------


def dims(shape: Shape) -> str:
    """A shape as users write it: 96x54x54."""
    return "x".join(str(d) for d in shape)


def spatial(op: str, shape: Shape) -> tuple[int, int, int]:
    """The per-sample input shape as (C, H, W); ShapeError naming `op` when it does not have three axes."""
    if len(shape) != 3:
        raise ShapeError(f"{op} expects a CxHxW input (got {dims(shape)})")
    return shape  # type: ignore[return-value]
