"""Issue 13, item 2: loops and recursive blocks past the layer limit are refused before they expand.

Each case is a network written to a file and checked (`cnndsl.check`) in a fresh process of its own
(the median of three), after a check of a small network there (imports and the parser's tables
loaded); each reports the check's time, the process's wall time (Python's start and imports
included), its peak memory (the maximum resident set) and its error.

Run: .venv/bin/python -m benchmarks.loop_limits
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import machine

RECURSIVE = "block b(n) {\n    if n > 0 { b(n - 1), b(n - 1) } else { relu }\n}\n"
LOOP_IN_BLOCK = "block b(n) {\n    repeat n { relu }\n}\n"
CASES = {
    "repeat 1000000000000 { relu }": ("", "repeat 1000000000000 { relu }"),
    "repeat 100000 { repeat 100000 { relu } }": ("", "repeat 100000 { repeat 100000 { relu } }"),
    "for i in range(100000) { for j in range(100000) { relu } }":
        ("", "for i in range(100000) { for j in range(100000) { relu } }"),
    "repeat 10**12 { add { relu \\| identity } }": ("", "repeat 1000000000000 { add { relu | identity } }"),
    "b(10**12), b's body repeat n { relu }": (LOOP_IN_BLOCK, "b(1000000000000)"),
    "repeat 1000 { b(1000), b(1000000) }, the same b": (LOOP_IN_BLOCK, "repeat 1000 { b(1000), b(1000000) }"),
    "b(60), b calling itself twice per level": (RECURSIVE, "b(60)"),
    "repeat 10**9 { b() }, b() { b(), relu }": ("block b() {\n    b(), relu\n}\n", "repeat 1000000000 { b() }"),
}


def run(text: str) -> tuple[float, float, float, str]:
    """Seconds of the check, wall seconds of the process, peak MB and the error of checking `text`."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "loop.cnn"
        path.write_text(text)
        checks, walls, peaks, said = [], [], [], ""
        for _ in range(3):
            start = time.perf_counter()
            proc = subprocess.run([sys.executable, "-c", _CHECK, str(path)], capture_output=True, text=True,
                                  env={**os.environ, "PYTHONPATH": str(Path.cwd())})
            walls.append(time.perf_counter() - start)
            said, check, peak = proc.stdout.rsplit("\n", 2)[-2].split("\t")
            checks.append(float(check))
            peaks.append(int(peak) / 1024)
        return statistics.median(checks), statistics.median(walls), statistics.median(peaks), said


# the check in the child: its error, its seconds and the peak resident set (KB, as Linux counts it)
_CHECK = """
import resource, sys, time
import cnndsl
cnndsl.check_text("network W {\\n    input 3x8x8\\n    relu\\n}\\n")
start = time.perf_counter()
try:
    cnndsl.check(sys.argv[1])
    said = "accepted"
except cnndsl.CnnError as exc:
    said = str(exc).split(": ", 1)[1]
seconds = time.perf_counter() - start
print(f"{said}\\t{seconds}\\t{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}")
"""


def main() -> None:
    print(f"machine: {machine()}")
    print("| program | check | process | peak memory | error |\n|---|---|---|---|---|")
    for name, (header, body) in CASES.items():
        text = f"{header}network N {{\n    input 3x8x8\n    {body}\n}}\n"
        check, wall, peak, said = run(text)
        print(f"| `{name}` | {check * 1000:.0f} ms | {wall:.2f} s | {peak:.0f} MB | {said} |")


if __name__ == "__main__":
    main()
