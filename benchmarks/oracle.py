"""The differential oracle at scale: N programs drawn from the op registry, each compared with
torch by every check in `CHECKS` (benchmarks/oracle_checks.py, oracle_views.py,
oracle_exports.py); prints progress, the count of findings per kind (KNOWN and FOUND kinds
marked), the shortest program of each kind, and the time. tests/test_oracle.py runs the same
checks on about 300 programs in CI.

Run: .venv/bin/python -m benchmarks.oracle [--programs 20000] [--workers 2] [--checks accept,shape]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import re
import time
import traceback
from collections import Counter

from benchmarks import oracle_checks, oracle_exports, oracle_views
from benchmarks.common import machine

# every comparison, by the kind of its findings
CHECKS = {"accept": oracle_checks.accept, "inputs": oracle_checks.inputs, "shape": oracle_checks.shape,
          "params": oracle_checks.params, "macs": oracle_checks.macs, "rf": oracle_views.rf,
          "diff": oracle_views.diff, "diagram": oracle_views.diagram, "onnx": oracle_exports.onnx,
          "python": oracle_exports.python}


def worker(args: tuple[int, int, tuple[str, ...], bool]) -> tuple[int, Counter, dict[str, tuple[str, str]]]:
    """Run `count` programs (hypothesis seed `seed`) through `checks`: programs run, findings per
    kind, and the shortest program of each kind of finding with its message."""
    seed, count, checks, progress = args
    os.environ["CNNDSL_DEBUG"] = "1"  # the IR's lint after every elaboration, as in the tests
    import torch
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as hypothesis_seed

    from benchmarks.oracle_checks import Case
    from benchmarks.oracle_strategies import programs

    torch.set_num_threads(1)  # tiny tensors: threads only contend
    found: Counter = Counter()
    shortest: dict[str, tuple[str, str]] = {}
    done = [0]
    start = time.perf_counter()

    @hypothesis_seed(seed)
    @settings(max_examples=count, database=None, deadline=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(programs())
    def run(program) -> None:  # noqa: ANN001
        case = Case(program)
        for name in checks:
            try:
                findings = CHECKS[name](case)
            except Exception:  # noqa: BLE001 (the oracle's own error is a finding too)
                findings = [_oracle_error(name)]
            for f in findings:
                found[f.kind] += 1
                if f.kind not in shortest or len(case.text.source) < len(shortest[f.kind][0]):
                    shortest[f.kind] = (case.text.source, f.message)
        done[0] += 1
        if progress and done[0] % 100 == 0:
            rate = done[0] / (time.perf_counter() - start)
            print(f"  worker {seed}: {done[0]:,} of {count:,} programs, {rate:.1f}/s, "
                  f"{sum(found.values())} findings", flush=True)
    run()
    return done[0], found, shortest


def _oracle_error(name: str):  # noqa: ANN202
    from benchmarks.oracle_checks import Finding

    return Finding(f"oracle_error:{name}", traceback.format_exc(limit=-3))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--programs", type=int, default=20_000)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--checks", default=",".join(CHECKS), help="comma-separated kinds (default: all)")
    parser.add_argument("--seed", type=int, default=0, help="hypothesis seed of the first worker")
    args = parser.parse_args()
    checks = tuple(c for c in args.checks.split(",") if c)
    unknown = set(checks) - set(CHECKS)
    if unknown:
        parser.error(f"unknown checks: {', '.join(sorted(unknown))} (kinds: {', '.join(CHECKS)})")
    from benchmarks.oracle_checks import FOUND, KNOWN

    print(f"Machine: {machine()}\n")
    workers = max(1, min(args.workers, args.programs))
    shares = [(args.seed + i, args.programs // workers + (i < args.programs % workers), checks, True)
              for i in range(workers)]
    start = time.perf_counter()
    if workers == 1:
        results = [worker(shares[0])]
    else:
        with multiprocessing.get_context("spawn").Pool(workers) as pool:
            results = pool.map(worker, shares)
    elapsed = time.perf_counter() - start
    total = sum(r[0] for r in results)
    found: Counter = sum((r[1] for r in results), Counter())
    shortest: dict[str, tuple[str, str]] = {}
    for _, _, part in results:
        for kind, (text, message) in part.items():
            if kind not in shortest or len(text) < len(shortest[kind][0]):
                shortest[kind] = (text, message)
    print(f"\n| differential oracle | value |\n|---|---|\n| programs | {total:,} |\n| checks | {', '.join(checks)} |")
    print(f"| workers | {workers} |\n| time | {elapsed:.0f} s |\n| programs per second | {total / elapsed:.1f} |\n")
    print("| kind of finding | findings | status |\n|---|---|---|")
    for kind, n in found.most_common():
        status = "known (being fixed)" if kind in KNOWN else "found (reported)" if kind in FOUND else "**new**"
        print(f"| {kind} | {n:,} | {status} |")
    if not found:
        print("| (none) | 0 | |")
    for kind, (text, message) in sorted(shortest.items()):
        print(f"\n### {kind}\n{re.sub(r'(?m)^', '    ', message.strip())}\n\n```\n{text}```")


if __name__ == "__main__":
    main()
