"""The analysis commands: `summary`, `inputs` and `diff` (no torch, no forward pass)."""

from __future__ import annotations

import argparse
import json
import sys

from ..analysis import report
from ..analysis.compare import Comparison, compare
from ..analysis.costs import DTYPE_BYTES, analyse
from ..analysis.inputs import InputSizes, input_sizes, scan, size_list
from ..errors import CnnError
from ..ops import dims
from .common import checked, request_of


def cmd_summary(args: argparse.Namespace) -> int:
    """`cnndsl summary`: print the network's per-layer report in --format (shapes and MACs per sample,
    memory for --batch); returns 0. CnnError for a --batch below 1 and whatever `check` refuses."""
    if args.batch < 1:
        raise CnnError(f"--batch must be a positive integer, got {args.batch}")
    net = checked(args)
    s = analyse(net, args.batch, args.dtype)
    if args.format in report.STAGE_FORMATS:  # paper tables open blocks one level unless told
        text = report.STAGE_FORMATS[args.format](s, 1 if args.depth is None else args.depth)
    else:
        text = report.FORMATS[args.format](s, args.depth)
    sys.stdout.write(text)
    return 0


def cmd_inputs(args: argparse.Namespace) -> int:
    """`cnndsl inputs`: elaborate at every square size in --range and print the sizes at which the network runs,
    the smallest, those at which no layer drops pixels and those at which the declared input's weights load
    (all as JSON with --json); returns 0. CnnError for a malformed --range."""

    low, _, high = (args.range or "1:512").partition(":")
    if not (low.isdigit() and high.isdigit() and 0 < int(low) <= int(high)):
        raise CnnError(f"--range takes LOW:HIGH, e.g. 1:512, got '{args.range}'")
    request = request_of(args.file, args.net, None, args.set)
    net = request.check()
    if args.range is None and len(net.input_shape) == 3:  # the default reaches a larger declared input (U-Net's 572)
        high = str(max(int(high), *net.input_shape[1:]))
    channels = net.input_shape[0]
    sizes = range(int(low), int(high) + 1)
    found = input_sizes(scan(request, channels, sizes, _progress(len(sizes))), net)
    declared = net.input_shape
    drops = bool(net.drops)  # other warnings (groups of one value) keep a size exact
    square = len(declared) == 3 and declared[1] == declared[2]  # valid (checked above), in --range or not
    if args.json:
        print(json.dumps({"network": net.name, "file": args.file, "channels": channels, "range": [sizes[0], sizes[-1]],
                          "valid": found.valid, "exact": found.exact, "same_weights": found.same_weights,
                          "params": found.params, "params_change_at": found.changed,
                          "declared": {"shape": list(declared), "exact": not drops}}))
        return 0
    print(f"{net.name} ({args.file}): inputs {channels}xSxS for S in {low}..{high}")
    for line in _inputs_lines(found, channels, sizes):
        print(f"  {line}")
    if square:
        print(f"  declared input {dims(declared)} {'drops pixels' if drops else 'fits exactly'}")
    return 0


def _inputs_lines(found: InputSizes, channels: int, sizes: range) -> list[str]:
    """The report of `cnndsl inputs`, a line each: valid sizes, the smallest (saying so when it is the
    smallest searched, as smaller ones were not tried), exact sizes and the sizes that keep the weights."""
    retry = f"smaller sizes were not tried: --range 1:{sizes[-1]} searches them"
    if not found.valid:
        smallest = "none in range" + (f" ({retry})" if sizes[0] > 1 else "")
    else:
        smallest = f"{channels}x{found.valid[0]}x{found.valid[0]}"
        if found.valid[0] == sizes[0] > 1:
            smallest += f", the smallest size searched; {retry}"
    lines = [f"valid (the network runs) at S = {size_list(found.valid) or 'none in range'}",
             f"smallest valid input: {smallest}",
             f"no layer drops pixels at S = {size_list(found.exact) or 'none in range'}"]
    weights = f"same weights as the declared input ({found.params:,} parameters)"
    if not found.valid:
        return lines
    if found.changed is None:
        lines.append(f"{weights} at every valid size")
    else:
        lines += [f"{weights} at S = {size_list(found.same_weights) or 'none in range'}",
                  f"  ({found.changed}'s parameter count changes with S: "
                  "at the other valid sizes these weights do not load)"]
    return lines


def _progress(total: int):  # noqa: ANN202
    if not sys.stderr.isatty():
        return None
    from rich.progress import Progress
    bar = Progress(transient=True)
    task = bar.add_task("elaborating", total=total)
    bar.start()

    def step(_: int) -> None:
        bar.advance(task)
        if bar.finished:
            bar.stop()
    return step


def cmd_diff(args: argparse.Namespace) -> int:
    """`cnndsl diff`: print the rows that differ between two networks or two settings; returns 0."""
    first = request_of(args.file_a, args.net, args.input, args.set)
    a = first.check()
    file_b = args.file_b or args.file_a
    second = request_of(file_b, args.net_b or args.net, args.input_b or args.input,
                        args.set + args.set_b if args.file_b is None else args.set_b,
                        first.program if file_b == args.file_a else None)  # one file is loaded once
    print(diff_text(compare(a, second.check(), args.depth)))
    return 0


def diff_text(comparison: Comparison) -> str:
    """Each differing row with its output shape and the change in parameters and MACs; under
    it, where modules differ, both labels: of the row, or (where a block call reads the same in
    both) of each layer inside that differs."""
    a, b = comparison.a, comparison.b
    lines = [f"{a.network} -> {b.network}", f"  {'layer':<28} {'output':<27} {'params':>20} {'MACs':>20}"]
    for d in comparison.differences:
        sa, sb = (dims(s) if s else "-" for s in d.shapes)
        pa, pb = (r.params if r else 0 for r in (d.a, d.b))
        ma, mb = (r.macs if r else 0 for r in (d.a, d.b))
        shape = sa if sa == sb else f"{sa} -> {sb}"
        lines.append(f"  {d.name:<28} {shape:<27} {_delta(pa, pb):>20} {_delta(ma, mb):>20}")
        la, lb = d.labels
        if la != lb:
            lines.append(f"      {la or '-'}  ->  {lb or '-'}")
        else:
            lines += [f"      {c.name}: {c.label_a or '-'}  ->  {c.label_b or '-'}" for c in d.changed]
    if not comparison.differences:
        lines.append("  (no layer differs)")
    lines.append(f"  {'total':<28} {'':<27} {_delta(a.params, b.params):>20} {_delta(a.macs, b.macs):>20}")
    lines.append(f"  activation memory {report.human_bytes(a.memory)} -> {report.human_bytes(b.memory)}")
    return "\n".join(lines)


def _delta(x: int, y: int) -> str:
    d = y - x
    return "=" if d == 0 else f"{'+' if d > 0 else '-'}{report.human(abs(d))}"


def register(sub: argparse._SubParsersAction) -> None:
    """Add `summary`, `inputs` and `diff` to the command line."""
    from .common import EPILOG, add_common, add_plugin, at_least

    p = sub.add_parser("summary", help="per-layer parameters, MACs, memory and receptive field",
                       description="One row per layer (or per block with --depth): output shape, parameters, "
                                   "multiply-accumulates, activation memory, receptive field and jump; totals, "
                                   "the conv/fc/other split and a training-memory estimate. No forward pass.",
                       epilog=EPILOG)
    p.add_argument("file", metavar="FILE")
    add_common(p)
    p.add_argument("--batch", type=int, default=1, help="batch size for memory figures (default 1)")
    p.add_argument("--dtype", choices=sorted(DTYPE_BYTES), default="float32", help="element type (default float32)")
    p.add_argument("--depth", type=at_least(int, 0), metavar="D",
                   help="fold block calls deeper than D into one row (latex, markdown: blocks at depth D and "
                        "deeper are bracketed stacks, default 1; table, csv, json: default every layer)")
    p.add_argument("--format", choices=["table", "markdown", "markdown-layers", "csv", "json", "latex"],
                   default="table", help="output format (json: docs/summary-json.md; latex and markdown: a stage "
                                         "table as the VGG and ResNet papers' Table 1; markdown-layers: every row)")
    p.set_defaults(run=cmd_summary)

    p = sub.add_parser("inputs", help="input sizes a network accepts, and those where no layer drops pixels",
                       description="Elaborate the network at every square input size in --range and report the "
                                   "sizes at which it runs (valid), the smallest, those at which no layer drops "
                                   "rows or columns and those at which the declared input's weights load (a "
                                   "flatten then fc changes the parameter count with the size).",
                       epilog=EPILOG)
    p.add_argument("file", metavar="FILE")
    p.add_argument("--net", metavar="N", help="the network to use when the file defines several")
    p.add_argument("--set", metavar="K=V", action="append", default=[], help="set a network parameter")
    add_plugin(p)
    p.add_argument("--range", metavar="LOW:HIGH",
                   help="sizes to try (default 1:512, or up to the declared input's side where it is larger)")
    p.add_argument("--json", action="store_true", help="print every size found as JSON (docs/analysis.md)")
    p.set_defaults(run=cmd_inputs)

    p = sub.add_parser("diff", help="compare two networks or two parameter settings layer by layer",
                       description="Which layers differ, in any argument (shown with both labels) or output "
                                   "shape, and the change in parameters, MACs and memory, per block (--depth, "
                                   "default 0) and in total. "
                                   "With one FILE, compare two settings: --set for the first, --set-b for the "
                                   "second (added to --set).", epilog=EPILOG)
    p.add_argument("file_a", metavar="A.cnn")
    p.add_argument("file_b", metavar="B.cnn", nargs="?")
    add_common(p)
    p.add_argument("--net-b", metavar="N", help="network of B (default: --net)")
    p.add_argument("--input-b", metavar="CxHxW", help="input of B (default: --input)")
    p.add_argument("--set-b", metavar="K=V", action="append", default=[], help="parameters of B")
    p.add_argument("--depth", type=at_least(int, 0), default=0, metavar="D",
                   help="block depth to compare at (default 0)")
    p.set_defaults(run=cmd_diff)
