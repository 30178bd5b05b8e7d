"""Issue 3: drawing densenet201 with every layer (`cnndsl draw --full`, a whole command)
against torchview on the torchvision model (import torch, build, trace, render), in one run.

Run: .venv/bin/python -m benchmarks.draw_speed [--quick]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import machine, process_time

ARCH = Path(__file__).resolve().parent.parent / "architectures"
TORCHVIEW = """
import torch, torchvision
from torchview import draw_graph
model = torchvision.models.densenet201()
g = draw_graph(model, input_size=(1, 3, 224, 224), depth={depth})
g.visual_graph.render(filename="{out}", format="svg", cleanup=True)
"""
LIMIT = 600  # seconds: a torchview run past this is stopped and reported as a lower bound


def timed(argv: list[str]) -> float | None:
    start = time.perf_counter()
    try:
        subprocess.run(argv, check=True, capture_output=True, timeout=LIMIT)
    except subprocess.TimeoutExpired:
        return None
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    repeat = 1 if parser.parse_args().quick else 3
    print(f"Machine: {machine()}\n")
    with tempfile.TemporaryDirectory() as tmp:
        ours = process_time([sys.executable, "-m", "cnndsl.cli", "draw", str(ARCH / "densenet.cnn"), "--net",
                             "densenet201", "--full", "-o", f"{tmp}/ours.svg"], repeat)
        print("| densenet201 to SVG, whole command | cnndsl draw --full | torchview | speed-up |")
        print("|---|---|---|---|")
        for depth, what in ((100, "every layer (depth=100)"), (3, "its default depth=3")):
            theirs = timed([sys.executable, "-c", TORCHVIEW.format(out=f"{tmp}/theirs", depth=depth)])
            shown = f"{theirs:.2f} s" if theirs else f"> {LIMIT} s (stopped)"
            ratio = f"{theirs / ours:.1f}x faster" if theirs else f"> {LIMIT / ours:.0f}x faster"
            print(f"| torchview at {what} | {ours:.2f} s | {shown} | {ratio} |", flush=True)


if __name__ == "__main__":
    main()
