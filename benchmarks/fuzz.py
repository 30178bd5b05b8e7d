"""Fuzz the front end: 100,000 mutated zoo files (deleted, duplicated, swapped and replaced
tokens, changed numbers, huge literals and values, odd Unicode, truncations), a fifth of them
programs built to be hostile (huge values wherever a value goes, expansions past the limits),
through parse and elaboration, then coverage-guided fuzzing with atheris when it is installed.
Every input must give a graph or a located CnnError; anything else (another exception, a hang)
is a failure, saved for a regression test.

Run: .venv/bin/python -m benchmarks.fuzz [--cases 100000] [--workers 2] [--atheris 120]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import machine
from benchmarks.mutations import PropertyError, check_all, hostile, mutate, zoo_texts

FAILURES = Path(__file__).resolve().parent.parent / "tests" / "data" / "fuzz"


def worker(args: tuple[int, int]) -> tuple[int, float, list[tuple[str, str]]]:
    seed, count = args
    rng = random.Random(seed)
    zoo = list(zoo_texts().values())
    failures, slowest = [], 0.0
    for _ in range(count):
        text = hostile(rng) if rng.random() < 0.2 else mutate(rng.choice(zoo), rng)
        start = time.perf_counter()
        try:
            check_all(text)
        except (PropertyError, Exception) as exc:  # noqa: BLE001 (every other exception is the finding)
            failures.append((text, f"{type(exc).__name__}: {exc}"))
        slowest = max(slowest, time.perf_counter() - start)
    return count, slowest, failures


def random_cases(cases: int, workers: int) -> None:
    chunks = [(seed, cases // (workers * 10)) for seed in range(workers * 10)]
    start = time.perf_counter()
    with multiprocessing.Pool(workers) as pool:
        results = pool.map(worker, chunks)
    elapsed = time.perf_counter() - start
    done = sum(r[0] for r in results)
    failures = [f for r in results for f in r[2]]
    print("| mutation fuzzing | value |\n|---|---|")
    print(f"| cases | {done:,} |\n| workers | {workers} |\n| time | {elapsed:.0f} s |")
    slowest = max(r[1] for r in results)
    print(f"| cases per second | {done / elapsed:,.0f} |\n| slowest case | {slowest * 1000:.0f} ms |")
    print(f"| failures | {len(failures)} |\n")
    for i, (text, why) in enumerate(failures[:20]):
        path = FAILURES / f"found_{i}.cnn"
        path.write_text(text)
        print(f"failure saved to {path}: {why}")


ATHERIS = """
import sys, atheris
with atheris.instrument_imports():
    from benchmarks.mutations import check_all
def target(data):
    check_all(data.decode("utf-8", errors="replace"))
atheris.Setup(sys.argv, target)
atheris.Fuzz()
"""


def coverage_guided(seconds: int) -> None:
    try:
        import atheris  # noqa: F401
    except ImportError:
        print("atheris is not installed: coverage-guided fuzzing skipped (pip install atheris)")
        return
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "corpus"
        corpus.mkdir()
        for name, text in zoo_texts().items():
            (corpus / name).write_text(text)
        script = Path(tmp) / "target.py"
        script.write_text(ATHERIS)
        env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
        result = subprocess.run([sys.executable, str(script), str(corpus), f"-max_total_time={seconds}",
                                 f"-artifact_prefix={tmp}/", "-max_len=8192", "-timeout=10"],
                                capture_output=True, text=True, env=env)
        stats = [line for line in result.stderr.splitlines() if line.startswith("#") and "DONE" in line]
        crashes = sorted(Path(tmp).glob("crash-*")) + sorted(Path(tmp).glob("timeout-*"))
        print(f"| atheris, {seconds} s | {stats[-1] if stats else result.stderr.splitlines()[-1:]} |")
        print(f"| crashes and timeouts | {len(crashes)} |")
        for i, crash in enumerate(crashes[:20]):
            path = FAILURES / f"atheris_{i}.cnn"
            path.write_bytes(crash.read_bytes())
            print(f"crash saved to {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--atheris", type=int, default=120, metavar="SECONDS", help="0 skips it")
    args = parser.parse_args()
    print(f"Machine: {machine()}\n")
    random_cases(args.cases, args.workers)
    if args.atheris:
        coverage_guided(args.atheris)


if __name__ == "__main__":
    main()
