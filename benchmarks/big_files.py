"""The hardening issue's item 6: the biggest files the front end may be given, each accepted or
refused (with a located error) in under 2 s and 500 MB.

Each case is written to a file and checked (`cnndsl.check`: read, parse, elaborate) in fresh
processes of its own (the median of three), after a check of a small network there (imports and
the parser's tables loaded); each reports the wall and CPU time of the check and its peak memory
(the process's maximum resident set, Python and its imports included). The generators are shared
with tests/test_big_files.py, which runs them at sizes that take a fraction of a second.

Run: .venv/bin/python -m benchmarks.big_files [--only NAME ...]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from benchmarks.common import machine
from cnndsl.lang.grammar import MAX_NESTING, MAX_TOKENS
from cnndsl.lang.parser import MAX_TREE_DEPTH
from cnndsl.lang.source import MAX_FILE_BYTES

TARGET_SECONDS, TARGET_MB = 2.0, 500
# `network big {` NL `input 3x8x8` NL ... `}` NL: 9 tokens around the lines of a network
HEAD, TAIL, FRAME_TOKENS = "network big {\n    input 3x8x8\n", "}\n", 9


def layer_lines(lines: int) -> str:
    """A network of `lines` lines of `relu` (2 tokens each: the name and the line break)."""
    return HEAD + "    relu\n" * lines + TAIL


def one_line(layers: int) -> str:
    """A network whose layers are all on one line: `relu, relu, ...` (2 tokens a layer)."""
    return HEAD + "    relu" + ", relu" * (layers - 1) + "\n" + TAIL


def relu_file(size: int) -> str:
    """`size` bytes of `relu` lines, without indentation."""
    head = "network big {\ninput 3x8x8\n"
    return head + "relu\n" * ((size - len(head) - len(TAIL)) // 5) + TAIL


def brackets(lines: int) -> str:
    """`let` lines whose value is nested in brackets to the limit (the network's brace is one):
    2 * MAX_NESTING + 3 tokens a line."""
    depth = MAX_NESTING - 1
    return HEAD + f"    let x = {'(' * depth}1{')' * depth}\n" * lines + TAIL


def deep_expressions(lines: int) -> str:
    """`let x = - - ... - 1` as deep as MAX_TREE_DEPTH allows (Lark's tree: start, network,
    body, statements, let, then one level a minus): MAX_TREE_DEPTH - 1 tokens a line."""
    return HEAD + f"    let x = {'- ' * (MAX_TREE_DEPTH - 6)}1\n" * lines + TAIL


def long_sum(terms: int) -> str:
    """`let x = 1 + 1 + ... + 1`: a tree `terms` deep, refused past MAX_TREE_DEPTH (2 tokens a
    term, and FRAME_TOKENS + 3 more)."""
    return HEAD + "    let x = " + " + ".join(["1"] * terms) + "\n" + TAIL


def small_blocks(blocks: int) -> str:
    """`block bN() { relu }` lines (7 tokens each) and a network that calls the first
    (FRAME_TOKENS + 3 tokens)."""
    return "".join(f"block b{i}() {{ relu }}\n" for i in range(blocks)) + HEAD + "    b0()\n" + TAIL


def small_blocks_file(size: int) -> str:
    """Small blocks until the file is `size` bytes."""
    line = len("block b100000() { relu }\n")
    return small_blocks(size // line)


def comments(size: int) -> str:
    """A small network between `size` bytes of whole-line comments and blank lines."""
    filler = "# a comment line, then a blank line\n\n" * ((size - 100) // 74)
    return filler + HEAD + "    # inside the network too\n    relu\n" + filler + TAIL


def blank_lines(size: int) -> str:
    """A small network between `size` bytes of blank lines."""
    filler = "\n" * ((size - 100) // 2)
    return filler + HEAD + "    relu\n" + filler + TAIL


def long_name(size: int) -> str:
    """One layer whose op name is `size` bytes long (refused: no such op)."""
    return HEAD + "    " + "a" * size + "\n" + TAIL


# The files that fill the token limit: generator -> (tokens a line, layer, block or term; tokens besides)
FILLS: dict[Callable[[int], str], tuple[int, int]] = {
    layer_lines: (2, FRAME_TOKENS), one_line: (2, FRAME_TOKENS), brackets: (2 * MAX_NESTING + 3, FRAME_TOKENS),
    deep_expressions: (MAX_TREE_DEPTH - 1, FRAME_TOKENS), long_sum: (2, FRAME_TOKENS + 3),
    small_blocks: (7, FRAME_TOKENS + 3),
}


def most(make: Callable[[int], str], limit: int = MAX_TOKENS) -> int:
    """The biggest argument for `make` (one of FILLS) whose text has at most `limit` tokens."""
    per, besides = FILLS[make]
    return (limit - besides) // per


# name -> (what it is, the text)
CASES: dict[str, tuple[str, Callable[[], str]]] = {
    "layers_80k": ("80,000 lines of layers", lambda: layer_lines(80_000)),
    "layers_max": (f"{most(layer_lines):,} lines of layers (the most that fit)",
                   lambda: layer_lines(most(layer_lines))),
    "line_1mb": ("one 1 MB line of layers", lambda: one_line(1_000_000 // 6)),
    "line_max": (f"one line of {most(one_line):,} layers (the most that fit)", lambda: one_line(most(one_line))),
    "relu_max_bytes": ("MAX_FILE_BYTES of `relu` lines", lambda: relu_file(MAX_FILE_BYTES)),
    "brackets_max": (f"{most(brackets):,} lines of brackets nested {MAX_NESTING} deep",
                     lambda: brackets(most(brackets))),
    "depth_max": (f"{most(deep_expressions):,} lines of expressions {MAX_TREE_DEPTH} levels deep",
                  lambda: deep_expressions(most(deep_expressions))),
    "sum_max": (f"one sum of {most(long_sum):,} terms", lambda: long_sum(most(long_sum))),
    "blocks_max": (f"{most(small_blocks):,} small blocks", lambda: small_blocks(most(small_blocks))),
    "blocks_max_bytes": ("MAX_FILE_BYTES of small blocks", lambda: small_blocks_file(MAX_FILE_BYTES)),
    "comments_max_bytes": ("MAX_FILE_BYTES of comments", lambda: comments(MAX_FILE_BYTES)),
    "blank_max_bytes": ("MAX_FILE_BYTES of blank lines", lambda: blank_lines(MAX_FILE_BYTES)),
    "name_1mb": ("one 1 MB op name", lambda: long_name(1_000_000)),
}


def measure(path: str) -> dict:
    """Check the file at `path` in this process: outcome, seconds, CPU seconds, peak MB."""
    import cnndsl

    cnndsl.check_text("network A {\n    input 3x8x8\n    relu\n}\n")  # imports, the parser's tables
    wall, cpu = time.perf_counter(), time.process_time()
    try:
        cnndsl.check(path)
        outcome = "accepted"
    except cnndsl.CnnError as exc:
        where = f"{exc.span.line}:{exc.span.col}" if exc.span else "no location"
        message = exc.message.split(" (")[0]  # the token limit's list of what counts
        outcome = f"refused at {where}: {message if len(message) < 50 else message[:40] + '...'}"
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    return {"outcome": outcome, "seconds": wall, "cpu": cpu, "peak_mb": peak}


def run_case(name: str, repeat: int) -> dict:
    """The run of median wall time of `repeat` processes, with the highest peak memory."""
    text = CASES[name][1]()
    runs = []
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"{name}.cnn"
        path.write_text(text)
        for _ in range(repeat):
            done = subprocess.run([sys.executable, "-m", "benchmarks.big_files", "--measure", str(path)],
                                  capture_output=True, text=True, check=True)
            runs.append(json.loads(done.stdout))
    runs.sort(key=lambda r: r["seconds"])
    return {"bytes": len(text.encode()), **runs[len(runs) // 2], "peak_mb": max(r["peak_mb"] for r in runs)}


def row(name: str, r: dict) -> str:
    ok = r["seconds"] < TARGET_SECONDS and r["peak_mb"] < TARGET_MB
    return (f"| {CASES[name][0]} | {r['bytes'] / 1e6:.2f} MB | {r['outcome']} | {r['seconds']:.2f} s "
            f"| {r['cpu']:.2f} s | {r['peak_mb']:.0f} MB | {'yes' if ok else '**no**'} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="*", choices=sorted(CASES), help="run only these cases")
    parser.add_argument("--repeat", type=int, default=3, help="processes a case (the median is shown)")
    parser.add_argument("--measure", help=argparse.SUPPRESS)  # the child process: one file
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure)))
        return
    load = os.getloadavg()[0]
    print(f"Machine: {machine()}; load average {load:.1f} at the start\n")
    print(f"| `cnndsl.check` of (target < {TARGET_SECONDS:.0f} s, < {TARGET_MB} MB) | size | outcome | time "
          "| CPU time | peak memory | within target |")
    print("|---|---|---|---|---|---|---|")
    for name in args.only or CASES:
        print(row(name, run_case(name, args.repeat)), flush=True)


if __name__ == "__main__":
    main()
