"""Issue 7: `cnndsl summary` against torchinfo on resnet152 and densenet201 at 1x3x224x224.

- in process: spec text to finished table, against `torchinfo.summary` on an already-built
  model (target: at least 20x faster);
- whole command: `cnndsl summary` against the script a torchinfo user runs (import torch,
  build the torchvision model, summarise) (target: at least 10x faster).

Run: .venv/bin/python -m benchmarks.summary_speed [--quick]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
import torchinfo
import torchvision

from benchmarks.common import machine, median_time, process_time
from cnndsl.analysis import analyse, report
from cnndsl.api import check_text
from cnndsl.lang.parser import parse

ARCH = Path(__file__).resolve().parent.parent / "architectures"
FILES = {"resnet152": "resnet.cnn", "densenet201": "densenet.cnn"}
SCRIPT = ("import torch, torchvision, torchinfo\n"
          "m = torchvision.models.{name}()\n"
          "print(torchinfo.summary(m, input_size=(1, 3, 224, 224), verbose=0))\n")


def ratio_row(label: str, ours: float, theirs: float) -> str:
    return f"| {label} | {ours * 1000:.1f} ms | {theirs * 1000:.1f} ms | {theirs / ours:.1f}x faster |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    repeat = 3 if parser.parse_args().quick else 7
    print(f"Machine: {machine()}; torch {torch.__version__}, torchinfo {torchinfo.__version__}\n")
    print("| in process | cnndsl (text to table) | torchinfo.summary (built model) | speed-up |\n|---|---|---|---|")
    for name, file in FILES.items():
        text = (ARCH / file).read_text()
        model = getattr(torchvision.models, name)()
        theirs = median_time(lambda m=model: str(torchinfo.summary(m, input_size=(1, 3, 224, 224), verbose=0)),
                             repeat)

        def cold(t: str = text, n: str = name) -> str:
            parse.cache_clear()  # parse the text afresh each time
            return report.table(analyse(check_text(t, net=n)))
        ours = median_time(cold, repeat)
        print(ratio_row(f"{name}, text parsed afresh", ours, theirs), flush=True)
        warm = median_time(lambda t=text, n=name: report.table(analyse(check_text(t, net=n))), repeat)
        print(ratio_row(f"{name}, parse cached in process", warm, theirs), flush=True)
    print("\n| whole command | `cnndsl summary` | torchinfo script | speed-up |\n|---|---|---|---|")
    for name, file in FILES.items():
        ours = process_time([sys.executable, "-m", "cnndsl.cli", "summary", str(ARCH / file), "--net", name], repeat)
        theirs = process_time([sys.executable, "-c", SCRIPT.format(name=name)], max(1, repeat // 2))
        print(ratio_row(name, ours, theirs), flush=True)


if __name__ == "__main__":
    main()
