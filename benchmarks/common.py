"""Timing helpers shared by the benchmarks: medians of repeated runs, and the machine."""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import time
from collections.abc import Callable


def median_time(fn: Callable[[], object], repeat: int = 5, warmup: int = 1) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def interleaved(a: Callable[[], object], b: Callable[[], object], repeat: int) -> tuple[float, float]:
    """Medians of a and b timed alternately (after one warm-up each), so drift in the machine's
    load hits both alike."""
    a(), b()
    ta, tb = [], []
    for _ in range(repeat):
        ta.append(median_time(a, 1, 0))
        tb.append(median_time(b, 1, 0))
    return sorted(ta)[repeat // 2], sorted(tb)[repeat // 2]


def process_time(argv: list[str], repeat: int = 5) -> float:
    return median_time(lambda: subprocess.run(argv, check=True, capture_output=True), repeat=repeat)


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}"


def row(label: str, ours: float, theirs: float, unit: str = "ms") -> str:
    scale = 1000 if unit == "ms" else 1
    return f"| {label} | {ours * scale:.1f} {unit} | {theirs * scale:.1f} {unit} | {ours / theirs:.2f} |"
