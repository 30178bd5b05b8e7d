"""Issue 6 on a CUDA machine: training images/s and model FLOP utilisation (MFU) of resnet18
and resnet50 at 224x224, batch 256, plain and with AMP + channels-last + torch.compile,
the compiled spec against torchvision's model in the same run.

Run on a machine with a GPU: python -m benchmarks.gpu_train [--steps 30]
(without CUDA it says so and exits 0).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
import torch.nn.functional as F  # noqa: N812
import torchvision

import cnndsl
from cnndsl.analysis import analyse

ARCH = Path(__file__).resolve().parent.parent / "architectures"
# dense bf16/fp16 tensor-core peak in FLOP/s, for MFU; unknown cards report none
PEAK = {"H100": 989e12, "H200": 989e12, "A100": 312e12, "L4": 121e12, "A10": 125e12, "T4": 65e12}


def peak_flops(name: str) -> float | None:
    return next((v for k, v in PEAK.items() if k in name), None)


def measure(model: torch.nn.Module, fast: bool, steps: int, batch: int) -> float:
    device = torch.device("cuda")
    model = model.to(device)
    if fast:
        model = model.to(memory_format=torch.channels_last)
        model = torch.compile(model)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x = torch.randn(batch, 3, 224, 224, device=device)
    y = torch.randint(0, 1000, (batch,), device=device)
    if fast:
        x = x.contiguous(memory_format=torch.channels_last)

    def step() -> None:
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=fast):
            loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    for _ in range(5):
        step()
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    torch.cuda.synchronize()
    return steps * batch / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--batch", type=int, default=256)
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("no CUDA device: this benchmark needs a GPU")
        return
    card = torch.cuda.get_device_name()
    peak = peak_flops(card)
    print(f"GPU: {card}; torch {torch.__version__}\n")
    print("| model | setting | compiled spec img/s | torchvision img/s | ratio | spec MFU |\n|---|---|---|---|---|---|")
    for name in ("resnet18", "resnet50"):
        macs = analyse(cnndsl.check(ARCH / "resnet.cnn", net=name)).macs
        for fast in (False, True):
            ours = measure(cnndsl.load(ARCH / "resnet.cnn", net=name), fast, args.steps, args.batch)
            theirs = measure(getattr(torchvision.models, name)(), fast, args.steps, args.batch)
            # training = forward + backward = 3x the forward's 2 FLOPs per MAC
            mfu = f"{ours * 6 * macs / peak:.1%}" if peak else "n/a"
            setting = "amp + channels-last + compile" if fast else "fp32"
            print(f"| {name} | {setting} | {ours:,.0f} | {theirs:,.0f} | {ours / theirs:.2f} | {mfu} |", flush=True)


if __name__ == "__main__":
    main()
