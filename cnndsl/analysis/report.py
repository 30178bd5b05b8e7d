"""Rendering a Summary: a terminal table, a Markdown layer table, CSV and JSON (docs/summary-json.md);
the LaTeX and Markdown stage tables in the style of the VGG and ResNet papers' Table 1 are in `paper`."""

from __future__ import annotations

import csv
import io
import json
import textwrap

from ..ops import dims
from ..ops.conventions import mac_conventions
from . import paper
from .costs import DTYPE_BYTES, Row, Summary
from .units import human, human_bytes

MEMORY = " Memory: output activations for the batch; K/M/G = 10^3/10^6/10^9, KiB/MiB/GiB = 2^10/2^20/2^30."


def conventions() -> str:
    """How MACs and memory are counted, in words. Built when asked, not at import: an op a plugin
    registers later (docs/plugins.md) is counted by its own convention."""
    return mac_conventions() + MEMORY


TRAINING = ("Training estimate: weights + gradients + optimizer state (SGD with momentum: one "
            "buffer per weight; Adam: two) + every layer output autograd keeps for backward "
            "(views such as flatten excluded; in-place activations would save some).")
COLUMNS = ("layer", "op", "output", "params", "MACs", "memory", "RF", "jump")


def _cells(r: Row) -> tuple[str, ...]:
    rf = "" if r.rf is None else (str(r.rf[0]) if r.rf[0] == r.rf[1] else dims(r.rf))
    jump = "" if r.jump is None else f"{r.jump[0]:g}" if r.jump[0] == r.jump[1] else f"{r.jump[0]:g}x{r.jump[1]:g}"
    return (r.name, r.label, dims(r.shape), human(r.params) if r.params else "", human(r.macs) if r.macs else "",
            human_bytes(r.memory), rf, jump)


def _totals(s: Summary) -> tuple[str, ...]:
    return ("total", "", "", human(s.params), human(s.macs), human_bytes(s.memory), "", "")


def _rows(s: Summary, depth: int | None) -> list[Row]:
    return s.rows if depth is None else s.at_depth(depth)


def grid(title: str, header: tuple[str, ...], rows: list[tuple[str, ...]], footer: tuple[str, ...] | None = None,
         left: int = 3) -> str:
    """An aligned table in rich's SIMPLE_HEAD style: header, rule, rows, footer. cnndsl draws
    it itself because rich's Table takes ~300 ms for DenseNet-201's 700 rows (measured; see
    docs/performance.md), twenty times the whole analysis. The first `left` columns align left."""
    cells = [header, *rows, *([footer] if footer else [])]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]

    def line(r: tuple[str, ...]) -> str:
        return "  " + "  ".join(c.ljust(w) if i < left else c.rjust(w)
                                 for i, (c, w) in enumerate(zip(r, widths, strict=True))).rstrip()
    rule = " " + "─" * (sum(widths) + 2 * len(widths) + 1)
    out = [title, "", line(header), rule, *(line(r) for r in rows)]
    if footer:
        out += ["", line(footer)]
    return "\n".join(out) + "\n"


def table(s: Summary, depth: int | None = None) -> str:
    """The terminal report: the layer table (rows folded at `depth`, every layer when None) with totals,
    the conv/fc/other split, training memory, and a footer stating the conventions. Output shapes are
    per sample, MACs per sample, memory in bytes for the batch."""
    title = f"{s.network}  input {dims(s.input_shape)}, batch {s.batch}, {s.dtype}"
    out = [grid(title, COLUMNS, [_cells(r) for r in _rows(s, depth)], _totals(s))]
    split = [(g, human(v["params"]), f"{v['params_pct']:.1f}", human(v["macs"]), f"{v['macs_pct']:.1f}")
             for g, v in s.split().items()]
    out.append(grid("where the numbers are", ("group", "params", "%", "MACs", "%"), split, left=1))
    memory = []
    for opt in ("sgd-momentum", "adam"):
        m = s.training_memory(opt)
        memory.append(f"training memory, {opt}, batch {s.batch}: {human_bytes(m['total'])} "
                      f"(weights {human_bytes(m['weights'])}, gradients {human_bytes(m['gradients'])}, "
                      f"optimizer {human_bytes(m['optimizer'])}, activations {human_bytes(m['activations'])})")
    out.append("\n".join(memory) + "\n")
    out.append(textwrap.fill(conventions(), 100) + "\n" + textwrap.fill(TRAINING, 100) + "\n")
    return "\n".join(out)


def markdown(s: Summary, depth: int | None = None) -> str:
    """The layer table as Markdown (rows folded at `depth`, every layer when None), with a totals row and
    the conventions paragraph. Output shapes are per sample, MACs per sample, memory in bytes for the
    batch."""
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in _cells(r)) + " |" for r in _rows(s, depth)]
    lines.append("| " + " | ".join(f"**{c}**" if c else "" for c in _totals(s)) + " |")
    return "\n".join(lines) + f"\n\n{conventions()}\n"


def to_csv(s: Summary, depth: int | None = None) -> str:
    """The layer table as CSV with a header row (rows folded at `depth`, every layer when None): output
    shape per sample, params (a count), macs (per sample), memory_bytes (for the batch), receptive field
    and jump per axis in input pixels (empty once flat). No totals row."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["layer", "op", "output", "params", "macs", "memory_bytes", "rf_h", "rf_w", "jump_h", "jump_w"])
    for r in _rows(s, depth):
        rf, jump = r.rf or ("", ""), r.jump or ("", "")
        w.writerow([r.name, r.label, dims(r.shape), r.params, r.macs, r.memory, *rf, *jump])
    return out.getvalue()


def to_json(s: Summary, depth: int | None = None) -> str:
    """The stable format documented in docs/summary-json.md: shapes per sample, MACs per sample, memory in
    bytes for the batch."""
    layers = [{"name": r.name, "op": r.op, "label": r.label, "depth": r.depth, "output": list(r.shape),
               "params": r.params, "macs": r.macs, "memory_bytes": r.memory,
               "receptive_field": None if r.rf is None else list(r.rf),
               "jump": None if r.jump is None else list(r.jump), "init": r.init} for r in _rows(s, depth)]
    doc = {"format": "cnndsl-summary", "version": 2, "network": s.network, "input": list(s.input_shape),
           "batch": s.batch, "dtype": s.dtype, "bytes_per_element": DTYPE_BYTES[s.dtype], "layers": layers,
           "totals": {"params": s.params, "macs": s.macs, "memory_bytes": s.memory},
           "split": s.split(),
           "training_memory": {opt: s.training_memory(opt) for opt in ("sgd", "sgd-momentum", "adam")},
           "conventions": conventions()}
    return json.dumps(doc, indent=2) + "\n"


FORMATS = {"table": table, "markdown-layers": markdown, "csv": to_csv, "json": to_json}
# the paper tables (cnndsl.analysis.paper): one row per stage, blocks as bracketed stacks
STAGE_FORMATS = {"latex": paper.latex, "markdown": paper.markdown}
