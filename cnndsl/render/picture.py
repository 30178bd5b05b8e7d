"""A laid-out diagram before it becomes DOT: its boxes and edges (built by `diagram.layout`, refined
by `refine`)."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..analysis.report import human
from ..ops import Family


@dataclass
class Box:
    """One drawn node: a layer, a block call (possibly several folded together), or an output."""

    key: tuple[str, ...]
    label: str
    family: Family                 # merges are drawn round, the input and outputs without rounded corners
    layers: list[int] = field(default_factory=list)
    count: int = 1
    params: int = 0
    output: int | None = None      # the index of the network output it marks
    name: str | None = None        # the name the source gives it with `as`
    folded: list[str] = field(default_factory=list)  # the layers `--compact` folded into it (`bn`, `relu`)
    brief: str = ""  # a layer's label as `--compact` prints it (`Op.describe(brief=True)`: no `bias=false`)

    def text(self, with_params: bool, with_name: bool = False) -> str:
        """The box's label: the layer as written (or a block call, or an output), `as NAME` when `with_name`
        and the source names it, the layers folded into it after `·`, `×N` for a folded run of N calls,
        and its parameter count when `with_params`."""
        label = self.label + (f" as {self.name}" if with_name and self.name else "")
        label += "".join(f" · {f}" for f in self.folded) + (f" ×{self.count}" if self.count > 1 else "")
        return label + (f"\n{human(self.params)} params" if with_params and self.params else "")


@dataclass
class Picture:
    """A laid-out diagram: the boxes by key, and the edges (source key, target key, tensor shape per sample
    written `C×H×W`), one per use of a tensor."""

    boxes: dict[tuple[str, ...], Box]
    # source, target, tensor shape: one per tensor a box reads, as often as it reads it
    edges: list[tuple[tuple[str, ...], tuple[str, ...], str]]
