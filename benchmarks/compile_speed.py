"""Issue 2's performance questions, each measured as a ratio in one run (Markdown on stdout):

- `cnndsl.check` of resnet152 and densenet201 in process (target < 50 ms);
- `cnndsl check` as a whole process, without torch (target < 0.5 s);
- `cnndsl.load` against torchvision's constructor (target <= 1.2x);
- forward and forward+backward of compiled resnet50 against torchvision's, CPU, batch 8 (target 1.00).

Run: .venv/bin/python benchmarks/compile_speed.py [--quick]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
import torchvision

import cnndsl
from benchmarks.common import interleaved, machine, median_time, process_time, row
from cnndsl.lang.parser import parse

ARCH = Path(__file__).resolve().parent.parent / "architectures"
FILES = {"resnet50": "resnet.cnn", "resnet152": "resnet.cnn", "densenet201": "densenet.cnn"}


def check_in_process(repeat: int) -> list[str]:
    out = ["| `cnndsl.check` in process | time | target | ratio to target |", "|---|---|---|---|"]
    for name in ("resnet152", "densenet201"):
        def cold(n: str = name) -> None:
            parse.cache_clear()  # the file is parsed afresh each time
            cnndsl.check(ARCH / FILES[n], net=n)
        out.append(row(f"{name}, file parsed afresh", median_time(cold, repeat), 0.050))
        warm = median_time(lambda n=name: cnndsl.check(ARCH / FILES[n], net=n), repeat)
        out.append(row(f"{name}, parse cached in process", warm, 0.050))
    return out


def check_process(repeat: int) -> list[str]:
    cli = [sys.executable, "-m", "cnndsl.cli", "check", "-q"]
    ours = process_time([*cli, str(ARCH / "resnet.cnn"), "--net", "resnet152"], repeat)
    bare = process_time([sys.executable, "-c", "pass"], repeat)
    torch_import = process_time([sys.executable, "-c", "import torch"], repeat)
    return ["| whole process | time | compared with | ratio |", "|---|---|---|---|",
            row("`cnndsl check` resnet152 vs target 0.5 s", ours, 0.5),
            row("`cnndsl check` resnet152 vs `python -c pass`", ours, bare),
            row("`cnndsl check` resnet152 vs `python -c 'import torch'`", ours, torch_import)]


def load_time(repeat: int) -> list[str]:
    out = ["| build the model | cnndsl.load | torchvision | ratio |", "|---|---|---|---|"]
    for name in ("resnet50", "resnet152"):
        ours, theirs = interleaved(lambda n=name: cnndsl.load(ARCH / FILES[n], net=n),
                                   lambda n=name: getattr(torchvision.models, n)(), repeat)
        out.append(row(name, ours, theirs))
    return out


def run_time(repeat: int, batch: int = 8) -> list[str]:
    torch.manual_seed(0)
    ref = torchvision.models.resnet50()
    ours = cnndsl.load(ARCH / "resnet.cnn", net="resnet50")
    cnndsl.transfer_weights(ref, ours)
    x = torch.randn(batch, 3, 224, 224)
    out = [f"| resnet50, CPU, batch {batch} | compiled spec | torchvision | ratio |", "|---|---|---|---|"]
    for label, train in (("forward (eval, no grad)", False), ("forward + backward (train)", True)):
        def step(model: torch.nn.Module, train: bool = train) -> None:
            model.train(train)
            if train:
                model.zero_grad(set_to_none=True)
                model(x).sum().backward()
            else:
                with torch.no_grad():
                    model(x)
        out.append(row(label, *interleaved(lambda: step(ours), lambda: step(ref), repeat)))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    args = parser.parse_args()
    repeat = 3 if args.quick else 7
    print(f"Machine: {machine()}; torch {torch.__version__}, {torch.get_num_threads()} threads\n")
    for section in (check_in_process(repeat), check_process(repeat), load_time(repeat), run_time(repeat)):
        print("\n".join(section) + "\n", flush=True)


if __name__ == "__main__":
    main()
