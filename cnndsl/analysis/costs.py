"""Static analysis of a checked network: parameters, MACs, activation memory and receptive
field per layer, from the graph alone (no torch, no forward pass).

Each op's MAC rule and its convention in words are in its registry entry (cnndsl/ops/;
docs/analysis.md and the summary's footer list them, generated from there).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from math import prod

from ..ir import Block, Network, Step
from ..ops import Family

DTYPE_BYTES = {"float32": 4, "float16": 2, "bfloat16": 2, "float64": 8}
SPLIT = (Family.CONV, Family.FC)  # families with a group of their own in the summary's split
REST = "other"  # the group of every other family


@dataclass(frozen=True)
class Field:
    """Receptive field along one axis: size, jump (stride in input pixels) and the centre of
    the first output unit's field, in input coordinates (Araujo et al., Distill 2019)."""

    size: float = 1
    jump: float = 1
    start: float = 0

    def through(self, k: float, s: float, d: float, p: float) -> Field:
        return Field(self.size + (k - 1) * d * self.jump, self.jump * s,
                     self.start + ((k - 1) * d / 2 - p) * self.jump)


@dataclass(frozen=True)
class Row:
    name: str
    op: str
    label: str
    depth: int
    shape: tuple
    params: int
    macs: int
    memory: int          # bytes of output activations for the batch
    kept: int            # bytes autograd keeps for backward (0 for views)
    field: tuple[Field, Field] | None  # None once the tensor is flat
    family: Family

    @property
    def rf(self) -> tuple[int, int] | None:
        return None if self.field is None else (round(self.field[0].size), round(self.field[1].size))

    @property
    def jump(self) -> tuple[float, float] | None:
        return None if self.field is None else (self.field[0].jump, self.field[1].jump)


@dataclass
class Summary:
    network: str
    input_shape: tuple
    batch: int
    dtype: str
    rows: list[Row]
    blocks: dict[tuple[str, ...], Block] = field(default_factory=dict)

    @property
    def params(self) -> int:
        return sum(r.params for r in self.rows)

    @property
    def macs(self) -> int:
        return sum(r.macs for r in self.rows)

    @property
    def memory(self) -> int:
        return sum(r.memory for r in self.rows)

    def split(self) -> dict[str, dict[str, float]]:
        """Parameters and MACs of conv, fc and other layers, with percentages."""
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
        """Bytes to train one step: weights, gradients, optimizer state, kept activations."""
        size = DTYPE_BYTES[self.dtype]
        weights = self.params * size
        state = {"sgd": 0, "sgd-momentum": 1, "adam": 2}[optimizer] * self.params * size
        kept = sum(r.kept for r in self.rows)
        return {"weights": weights, "gradients": weights, "optimizer": state, "activations": kept,
                "total": 2 * weights + state + kept}

    def at_depth(self, depth: int) -> list[Row]:
        """Rows with block calls deeper than `depth` folded into one row per block instance."""
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
                rows.append(replace(r, name=".".join(key), op="block", label=label,
                                    depth=depth, params=0, macs=0, memory=0, kept=0, family=Family.BLOCK))
            i = index[key]
            rows[i] = replace(rows[i], shape=r.shape, field=r.field, params=rows[i].params + r.params,
                              macs=rows[i].macs + r.macs, memory=rows[i].memory + r.memory,
                              kept=rows[i].kept + r.kept)
        return rows


def _field(step: Step, fields: dict[int, tuple[Field, Field] | None]) -> tuple[Field, Field] | None:
    """The layer's receptive field from those of the layers it reads (`fields`, by layer id)."""
    if not step.inputs:
        return (Field(), Field())
    ins = [fields[ref.layer.id] for ref in step.inputs]
    if len(step.layer.shape) != 3 or any(f is None for f in ins):
        return None
    widest = max(ins, key=lambda f: f[0].size * f[1].size)  # merges: the widest branch
    if step.entry.window is None:
        return widest
    windows = step.entry.window(step.layer.attrs, step.input_shapes[0])
    return tuple(f.through(*w) for f, w in zip(widest, windows, strict=True))


def analyse(net: Network, batch: int = 1, dtype: str = "float32") -> Summary:
    """Per-layer numbers for a checked network."""
    size = DTYPE_BYTES[dtype]
    rows, fields = [], {}
    for step in net.walk():
        layer, op = step.layer, step.entry
        fields[layer.id] = _field(step, fields)
        memory = batch * size * sum(prod(s) for s in layer.shapes)
        rows.append(Row(layer.qualname, layer.op, layer.label, len(layer.block_path), layer.shape,
                        step.params, op.count_macs(layer.attrs, step.input_shapes, layer.shapes),
                        memory, memory if op.stores_output else 0, fields[layer.id], op.family))
    return Summary(net.name, net.input_shape, batch, dtype, rows, net.blocks)
