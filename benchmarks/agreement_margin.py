"""How close onnxruntime comes to the agreement rule's bound (cnndsl/pytorch/agreement.py): for
each program, each output's |onnxruntime - torch| divided by what the rule allows. A rule that is
right keeps every ratio well below 1 (a ratio over 1 is the oracle's `onnx_rounding` finding)
while staying tight enough to refuse wrong lowerings (tests/test_export_agreement.py).

Two families of programs: the differential oracle's (benchmarks/oracle_strategies.py, every op),
and `--family rounding`: chains of the layers where rounding is amplified (norms over few values,
products of branches, pools that make values equal), which came closest to the bound.

Run: .venv/bin/python -m benchmarks.agreement_margin [--programs 2000] [--family oracle|rounding] [--seed 0]
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import torch

import cnndsl
from benchmarks.common import machine
from benchmarks.oracle_checks import Case, outputs_of
from benchmarks.oracle_exports import _export_onnx, run_onnx
from cnndsl.errors import CnnError
from cnndsl.ir import Network
from cnndsl.pytorch.agreement import allowed, computes_nan, difference

NORMS = ["instancenorm", "layernorm2d", "groupnorm 1", "bn"]
POOLS = ["avgpool 2x2/1", "maxpool 2x2/1", "adaptive_avgpool 1x1", "avgpool 3x3/1 pad=1"]
BRANCHES = ["identity", "sigmoid", "instancenorm", "conv 1x1 {c}", "tanh", "avgpool 3x3/1 pad=1",
            "maxpool 3x3/1 pad=1", "gelu", "layernorm2d", "groupnorm 1"]


def rounding_family(seed: int, count: int) -> Iterator[str]:
    """`count` programs of norms, pools, 1x1 convs and products of two or three branches."""
    rng = random.Random(seed)
    for _ in range(count):
        c = rng.choice([1, 2, 3, 4])
        lines = [f"input {c}x{rng.randint(2, 9)}x{rng.randint(2, 9)}"]
        for _ in range(rng.randint(2, 6)):
            pick = rng.random()
            if pick < 0.55:
                lines.append(rng.choice(NORMS if pick < 0.3 else POOLS if pick < 0.45 else [f"conv 1x1 {c}"]))
            else:
                branches = (rng.choice(BRANCHES).format(c=c) for _ in range(rng.choice([2, 3, 3])))
                lines.append("mul { " + " | ".join(branches) + " }")
        yield "network Net {\n    " + "\n    ".join(lines) + "\n}\n"


def oracle_family(seed: int, count: int) -> Iterator[str]:
    """`count` programs drawn as the differential oracle draws them."""
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as hypothesis_seed

    from benchmarks.oracle_strategies import programs

    drawn: list[str] = []

    @hypothesis_seed(seed)
    @settings(max_examples=count, database=None, deadline=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(programs())
    def draw(program) -> None:  # noqa: ANN001
        drawn.append(Case(program).text.source)
    draw()
    yield from drawn


def ratios(net: Network, example: torch.Tensor) -> list[float]:
    """Each output's |onnxruntime - torch| / allowed; none where torch cannot export or run it."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "net.onnx"
        _, failed = _export_onnx(net, path)
        if failed is not None:
            return []
        data = path.read_bytes()
    torch.manual_seed(0)  # the weights _export_onnx exported
    model = cnndsl.compile(net).eval()
    ours, theirs = outputs_of(model, example.clone()), run_onnx(data, example)  # each its own copy
    nan, limits = computes_nan(model, example), allowed(model, example, ours)
    return [difference(g, w, nan) / limit for g, w, limit in zip(theirs, ours, limits, strict=True)
            if g.shape == w.shape]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--programs", type=int, default=2000)
    parser.add_argument("--family", choices=["oracle", "rounding"], default="oracle")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"Machine: {machine()}; torch {torch.__version__}\n")
    family = oracle_family if args.family == "oracle" else rounding_family
    start, found, compared = time.perf_counter(), [], 0
    for i, text in enumerate(family(args.seed, args.programs), 1):
        try:
            net = cnndsl.check_text(text)
            example = torch.randn(2, *net.input_shape, generator=torch.Generator().manual_seed(0))
            found += [(r, text) for r in ratios(net, example)]
            compared += 1
        except (CnnError, RuntimeError):  # refused by cnndsl, or torch cannot run it: nothing to compare
            pass
        if i % 200 == 0:
            print(f"  {i:,} programs, {time.perf_counter() - start:.0f} s", flush=True)
    found.sort(key=lambda f: f[0])
    print(f"\n| {args.family} programs, seed {args.seed} | value |\n|---|---|\n| programs | {args.programs:,} |")
    print(f"| compared in onnxruntime | {compared:,} ({len(found):,} outputs) |")
    if found:
        for q in (0.5, 0.99):
            print(f"| difference / allowed, {q:.0%} of outputs at most | {found[round(q * (len(found) - 1))][0]:.3f} |")
        print(f"| largest difference / allowed | {found[-1][0]:.3f} |")
    print(f"| time | {time.perf_counter() - start:.0f} s |")
    if found:
        print(f"\nclosest to the bound:\n```\n{found[-1][1]}```")

if __name__ == "__main__":
    main()
