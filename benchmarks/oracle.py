"""The differential oracle at scale: N programs drawn from the op registry, each compared with
torch by every check in `CHECKS` (benchmarks/oracle_checks.py, oracle_views.py,
oracle_exports.py); prints progress, how many programs cnndsl accepted and which ops they drew,
the count of findings per kind (those listed in benchmarks/oracle_known.py marked), the
shortest program of each kind, and the time. tests/test_oracle.py runs the same checks on about
300 programs in CI.

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
from dataclasses import dataclass, field

from benchmarks import oracle_checks, oracle_exports, oracle_views
from benchmarks.common import machine
from benchmarks.oracle_known import FOUND, KNOWN, Finding

# every comparison, by the kind of its findings
CHECKS = {"accept": oracle_checks.accept, "inputs": oracle_checks.inputs, "shape": oracle_checks.shape,
          "params": oracle_checks.params, "macs": oracle_checks.macs, "rf": oracle_views.rf,
          "diff": oracle_views.diff, "diagram": oracle_views.diagram, "onnx": oracle_exports.onnx,
          "python": oracle_exports.python}


@dataclass
class Tally:
    """What a run saw: programs, cnndsl's verdicts, ops drawn, findings by kind, and the
    shortest program (with its message) of each kind."""

    programs: int = 0
    verdicts: Counter = field(default_factory=Counter)
    ops: Counter = field(default_factory=Counter)
    findings: Counter = field(default_factory=Counter)
    shortest: dict[str, tuple[str, str]] = field(default_factory=dict)

    def add(self, other: Tally) -> None:
        self.programs += other.programs
        self.verdicts += other.verdicts
        self.ops += other.ops
        self.findings += other.findings
        for kind, (text, message) in other.shortest.items():
            self.keep(kind, text, message)

    def keep(self, kind: str, text: str, message: str) -> None:
        if kind not in self.shortest or len(text) < len(self.shortest[kind][0]):
            self.shortest[kind] = (text, message)


def worker(args: tuple[int, int, tuple[str, ...]]) -> Tally:
    """Run `count` programs drawn with hypothesis seed `seed` through `checks`."""
    seed, count, checks = args
    os.environ["CNNDSL_DEBUG"] = "1"  # the IR's lint after every elaboration, as in the tests
    import torch
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as hypothesis_seed

    from benchmarks.oracle_checks import Case
    from benchmarks.oracle_strategies import programs

    torch.set_num_threads(1)  # tiny tensors: threads only contend
    tally, start = Tally(), time.perf_counter()

    @hypothesis_seed(seed)
    @settings(max_examples=count, database=None, deadline=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(programs())
    def run(program) -> None:  # noqa: ANN001
        case = Case(program)
        tally.verdicts["accepted" if case.net else "refused" if case.error else "crashed"] += 1
        tally.ops.update({layer.op for layer in case.net.layers()} if case.net else ())
        for name in checks:
            try:
                findings = CHECKS[name](case)
            except Exception:  # noqa: BLE001 (the oracle's own error is a finding too)
                findings = [Finding(f"oracle_error:{name}", traceback.format_exc(limit=-3))]
            for f in findings:
                tally.findings[f.kind] += 1
                tally.keep(f.kind, case.text.source, f.message)
        tally.programs += 1
        if tally.programs % 100 == 0:
            print(f"  worker {seed}: {tally.programs:,} of {count:,} programs, "
                  f"{tally.programs / (time.perf_counter() - start):.1f}/s, "
                  f"{sum(tally.findings.values())} findings", flush=True)
    run()
    return tally


def report(tally: Tally, checks: tuple[str, ...], workers: int, elapsed: float) -> None:
    from cnndsl.ops import REGISTRY

    ops = [name for name, op in REGISTRY.items() if not op.is_input]
    print(f"\n| differential oracle | value |\n|---|---|\n| programs | {tally.programs:,} |")
    for verdict in ("accepted", "refused", "crashed"):
        print(f"| programs cnndsl {verdict} | {tally.verdicts[verdict]:,} |")
    missing = [op for op in ops if not tally.ops[op]]
    print(f"| ops in accepted programs | {len(ops) - len(missing)} of {len(ops)}"
          f"{' (not: ' + ', '.join(missing) + ')' if missing else ''} |")
    print(f"| checks | {', '.join(checks)} |\n| workers | {workers} |\n| time | {elapsed:.0f} s |")
    print(f"| programs per second | {tally.programs / elapsed:.1f} |\n")
    print("| kind of finding | findings | status |\n|---|---|---|")
    for kind, n in tally.findings.most_common():
        status = "known (being fixed)" if kind in KNOWN else "found (reported)" if kind in FOUND else "**new**"
        print(f"| {kind} | {n:,} | {status} |")
    if not tally.findings:
        print("| (none) | 0 | |")
    for kind, (text, message) in sorted(tally.shortest.items()):
        print(f"\n### {kind}\n{re.sub(r'(?m)^', '    ', message.strip())}\n\n```\n{text}```")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--programs", type=int, default=20_000)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--checks", default=",".join(CHECKS), help="comma-separated kinds (default: all)")
    parser.add_argument("--seed", type=int, default=0, help="hypothesis seed of the first worker")
    args = parser.parse_args()
    checks = tuple(c for c in args.checks.split(",") if c)
    unknown = set(checks) - set(CHECKS)
    if unknown or args.programs < 1:
        parser.error(f"unknown checks: {', '.join(sorted(unknown))} (kinds: {', '.join(CHECKS)})" if unknown
                     else "--programs must be at least 1")
    print(f"Machine: {machine()}\n")
    workers = max(1, min(args.workers, args.programs))
    shares = [(args.seed + i, args.programs // workers + (i < args.programs % workers), checks) for i in range(workers)]
    start = time.perf_counter()
    if workers == 1:
        parts = [worker(shares[0])]
    else:
        with multiprocessing.get_context("spawn").Pool(workers) as pool:
            parts = pool.map(worker, shares)
    tally = Tally()
    for part in parts:
        tally.add(part)
    report(tally, checks, workers, time.perf_counter() - start)


if __name__ == "__main__":
    main()
