"""Static analysis of a checked network: parameters, MACs, activation memory and receptive
field per layer, from the graph alone (no torch, no forward pass).

Each op's MAC rule and its convention in words are in its registry entry (cnndsl/ops/;
docs/analysis.md and the summary's footer list them, generated from there).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from math import prod

from ..errors import CnnError
from ..ir import Block, Network
from ..ops import Family
from .fields import Field, fields

DTYPE_BYTES = {"float32": 4, "float16": 2, "bfloat16": 2, "float64": 8}
SPLIT = (Family.CONV, Family.FC)  # families with a group of their own in the summary's split
REST = "other"  # the group of every other family


@dataclass(frozen=True)
class Row:
    """One row of a summary: a layer, or (from `Summary.at_depth`) a block instance folded into one row.

    `shape` is the output shape per sample (no batch axis); `params` a count of trainable parameters;
    `macs` multiply-accumulates per sample, by the op's rule and convention (`Op.macs`); `memory` bytes
    of the output activations for the whole batch (batch × elements × bytes of the dtype); `kept` the
    bytes of those autograd keeps for backward (0 for views such as flatten); `field` the receptive
    field (`fields.Field`: the input pixels each output pixel reads), None once the tensor is not
    C×H×W; `family` the op's family
    (`Family.BLOCK` for a folded block instance).
    """

    name: str
    op: str
    label: str
    depth: int
    shape: tuple
    params: int
    macs: int
    memory: int          # bytes of output activations for the batch
    kept: int            # bytes autograd keeps for backward (0 for views)
    field: Field | None  # None once the tensor is not CxHxW
    family: Family
    init: str | None = None  # the layer's `init` as the language writes it; None for PyTorch's default
    inputs: tuple[str, ...] = ()  # the names of the layers it reads (for the stage tables' main paths)
    attrs: dict = field(default_factory=dict, compare=False)  # the layer's attributes (kernel, stride, out, ...)
    paper_word: str = ""  # what the papers' tables write after its kernel (`Op.paper_word`: up-conv)

    @property
    def rf(self) -> tuple[int, int] | None:
        """The receptive field's size (rows, columns): the most input pixels any output pixel of the layer reads
        along each axis, counted from its first to its last (the input holds no others: a field is clipped to
        it); None once the tensor is not C×H×W."""
        return None if self.field is None else self.field.size

    @property
    def jump(self) -> tuple[float, float] | None:
        """The jump per axis (height, width): input pixels between neighbouring output units, the product of
        the strides so far (1/scale for upsampling, in/out for adaptive pooling); None once the tensor is not
        C×H×W."""
        return None if self.field is None else self.field.jump


@dataclass
class Summary:
    """What `analyse` finds for one network: one `Row` per layer in topological order, the input shape per
    sample (no batch axis), the `batch` and `dtype` the memory figures are for, and the network's block
    instances (to fold rows by depth)."""

    network: str
    input_shape: tuple
    batch: int
    dtype: str
    rows: list[Row]
    blocks: dict[tuple[str, ...], Block] = field(default_factory=dict)

    @property
    def params(self) -> int:
        """Trainable parameters of the whole network (a count)."""
        return sum(r.params for r in self.rows)

    @property
    def macs(self) -> int:
        """Multiply-accumulates of one sample through the whole network (the same for any `batch`)."""
        return sum(r.macs for r in self.rows)

    @property
    def memory(self) -> int:
        """Bytes of every layer's output activations (the input's included) for `batch` samples of `dtype`."""
        return sum(r.memory for r in self.rows)

    def split(self) -> dict[str, dict[str, float]]:
        """Parameters (counts) and MACs (per sample) of the conv, fc and other layers, each with its percentage
        of the total."""
        out = {g: {"params": 0, "macs": 0} for g in (*(f.value for f in SPLIT), REST)}
        for r in self.rows:
            group = r.family.value if r.family in SPLIT else REST
            out[group]["params"] += r.params
            out[group]["macs"] += r.macs
        for group in out.values():
            group["params_pct"] = 100 * group["params"] / self.params if self.params else 0.0
            group["macs_pct"] = 100 * group["macs"] / self.macs if self.macs else 0.0
        return out

    def training_memory(self, optimizer: str) -> dict[str, int]:
        """Bytes to train one step at `batch` samples of `dtype`: weights, gradients, optimizer state
        (`optimizer` is `sgd` (none), `sgd-momentum` (one buffer per weight) or `adam` (two); KeyError for
        any other) and the activations autograd keeps for backward, with their total."""
        size = DTYPE_BYTES[self.dtype]
        weights = self.params * size
        state = {"sgd": 0, "sgd-momentum": 1, "adam": 2}[optimizer] * self.params * size
        kept = sum(r.kept for r in self.rows)
        return {"weights": weights, "gradients": weights, "optimizer": state, "activations": kept,
                "total": 2 * weights + state + kept}

    def at_depth(self, depth: int) -> list[Row]:
        """Rows with block calls deeper than `depth` folded into one row per block instance: its params, MACs
        and memory summed, its shape and field those of its last layer."""
        rows: list[Row] = []
        index: dict[tuple, int] = {}
        for r in self.rows:
            path = tuple(r.name.split("."))
            if len(path) - 1 <= depth:
                rows.append(r)
                continue
            key = path[:depth + 1]
            if key not in index:
                index[key] = len(rows)
                label = self.blocks[key].call if key in self.blocks else key[-1]
                rows.append(replace(r, name=".".join(key), op="block", label=label, init=None,
                                    depth=depth, params=0, macs=0, memory=0, kept=0, family=Family.BLOCK))
            i = index[key]
            rows[i] = replace(rows[i], shape=r.shape, field=r.field, params=rows[i].params + r.params,
                              macs=rows[i].macs + r.macs, memory=rows[i].memory + r.memory,
                              kept=rows[i].kept + r.kept)
        return rows


def analyse(net: Network, batch: int = 1, dtype: str = "float32") -> Summary:
    """Per-layer numbers for a checked network: one `Row` per layer, in topological order. Nothing runs: no
    torch, no forward pass.

    Shapes are per sample, with no batch axis (C×H×W, or (features,) once flat). Units: `params` a count
    of trainable parameters; `macs` multiply-accumulates per sample (independent of `batch`), by each
    op's registry rule and convention (`Op.macs`): conv, fc and linear one per weight per output
    position with the bias not counted, as fvcore counts them; docs/analysis.md lists every op's;
    `memory` bytes of each layer's output for `batch` samples of `dtype` (its size in `DTYPE_BYTES`);
    the receptive field: the exact input pixels every output pixel reads (`fields.Field`), summarised
    as the largest field and the jump in input pixels.

    Raises CnnError for a `dtype` not in `DTYPE_BYTES` or a `batch` below 1; the network itself was
    checked when it was built.
    """
    if dtype not in DTYPE_BYTES:
        raise CnnError(f"unknown dtype {dtype!r}", hint="dtypes: " + ", ".join(DTYPE_BYTES))
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise CnnError(f"batch must be a positive integer, got {batch!r}")
    size = DTYPE_BYTES[dtype]
    steps = list(net.walk())
    field_of = fields(steps)
    rows = []
    for step in steps:
        layer, op = step.layer, step.entry
        memory = batch * size * sum(prod(s) for s in layer.shapes)
        rows.append(Row(layer.qualname, layer.op, layer.label, len(layer.block_path), layer.shape,
                        step.params, op.count_macs(layer.attrs, step.input_shapes, layer.shapes),
                        memory, memory if op.stores_output else 0, field_of[layer.id], op.family,
                        None if layer.init is None else str(layer.init),
                        tuple(ref.layer.qualname for ref in step.inputs), dict(layer.attrs), op.paper_word))
    return Summary(net.name, net.input_shape, batch, dtype, rows, net.blocks)
