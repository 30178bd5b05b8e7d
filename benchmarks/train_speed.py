"""Issue 6 and 14: one training epoch of d2l's LeNet on Fashion-MNIST on the CPU, batch 256, SGD,
three ways in one run: (a) the d2l-style loop (torchvision dataset, ToTensor per item,
DataLoader), (b) the fastest plain loop (the whole data set as one tensor, sliced batches),
(c) `cnndsl.train`. Then one training step of the compiled resnet18 against torchvision's.

Then (issue 14) the pace of `cnndsl train` against a plain loop over the same model on data
preloaded on the device with no per-step host synchronisation, for d2l networks with the book's
settings (batch 128, SGD), in the same run, on `--device` (cuda where lent; the target there is
a ratio of at least 0.95), with `--amp` too.

Run: .venv/bin/python -m benchmarks.train_speed [--device cuda] [--nets LeNetBN,AlexNet,ResNet18]
"""

from __future__ import annotations

import argparse
import gzip
import shutil
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F  # noqa: N812
import torchvision
from torch.utils.data import DataLoader

import cnndsl
from benchmarks.common import interleaved, machine
from benchmarks.d2l_chapter import BATCH as BOOK_BATCH
from benchmarks.d2l_chapter import CHAPTER
from cnndsl.training import data as datasets
from cnndsl.training.loop import Options

ARCH = Path(__file__).resolve().parent.parent / "architectures"
BATCH = 256


def lenet() -> torch.nn.Module:
    return cnndsl.load(ARCH / "lenet.cnn", net="LeNet")


def epoch(model: torch.nn.Module, batches) -> float:  # noqa: ANN001
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    start = time.perf_counter()
    for x, y in batches:
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
    return time.perf_counter() - start


def d2l_style(root: Path) -> float:
    files, _ = datasets._find_idx("fashion-mnist")
    raw = root / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    for stem, path in files.items():
        with gzip.open(path) if path.suffix == ".gz" else open(path, "rb") as src, open(raw / stem, "wb") as dst:
            shutil.copyfileobj(src, dst)
    ds = torchvision.datasets.FashionMNIST(str(root), train=True, transform=torchvision.transforms.ToTensor())
    return epoch(lenet(), DataLoader(ds, BATCH, shuffle=True, num_workers=0))


def plain_loop() -> float:
    train = datasets.load_idx_dataset("fashion-mnist", "train")
    x, y = train.images.float().div(255), train.labels
    perm = torch.randperm(len(y))
    return epoch(lenet(), ((x[perm[i:i + BATCH]], y[perm[i:i + BATCH]]) for i in range(0, len(y), BATCH)))


def ours(out: str) -> float:
    rows = cnndsl.train(ARCH / "lenet.cnn", net="LeNet", options=Options(
        epochs=1, batch_size=BATCH, optimizer="sgd", lr=0.1, momentum=0.0, device="cpu", out=out), progress=False)
    return rows[0]["train_seconds"]


def resnet_step(repeat: int = 5) -> tuple[float, float]:
    x, y = torch.randn(16, 3, 224, 224), torch.randint(0, 1000, (16,))

    def step(model: torch.nn.Module, opt: torch.optim.Optimizer) -> None:
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
    spec, ref = cnndsl.load(ARCH / "resnet.cnn", net="resnet18"), torchvision.models.resnet18()
    opts = [torch.optim.SGD(m.parameters(), lr=0.01) for m in (spec, ref)]
    return interleaved(lambda: step(spec, opts[0]), lambda: step(ref, opts[1]), repeat)


def preloaded_loop(setting, device: str, images: int, amp: bool) -> float:  # noqa: ANN001 (a d2l_chapter.Setting)
    """Images/s of a plain loop: the same compiled model, data resized and normalised on the device
    beforehand, SGD with the book's lr, no host synchronisation until the end."""
    model = cnndsl.load(ARCH / setting.file, net=setting.net, **dict(setting.params)).to(device)
    train = datasets.load_idx_dataset("fashion-mnist", "train")
    x = train.images[:images].to(device).float().div(255)
    if setting.resize:
        x = F.interpolate(x, size=(setting.resize, setting.resize), mode="bilinear", align_corners=False)
    x, y = (x - x.mean()) / x.std(), train.labels[:images].to(device)
    opt = torch.optim.SGD(model.parameters(), lr=setting.lr)
    dtype = torch.bfloat16 if device == "cpu" or torch.cuda.is_bf16_supported() else torch.float16
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    sync()
    start = time.perf_counter()
    for i in range(0, images, BOOK_BATCH):
        with torch.autocast(device, dtype=dtype, enabled=amp):
            loss = F.cross_entropy(model(x[i:i + BOOK_BATCH]), y[i:i + BOOK_BATCH])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    sync()
    return images / (time.perf_counter() - start)


def paced(device: str, nets: list[str], images: int) -> None:
    """The table of `cnndsl train` against the preloaded loop (second epoch: the first pays for start-up)."""
    print(f"\n| d2l net, {device}, batch {BOOK_BATCH}, {images:,} images | setting | preloaded loop img/s | "
          "cnndsl train img/s | ratio |\n|---|---|---|---|---|")
    for setting in (s for s in CHAPTER if s.net in nets):
        for amp in (False, True):
            loop = preloaded_loop(setting, device, images, amp)
            with tempfile.TemporaryDirectory() as tmp:
                options = Options(epochs=2, batch_size=BOOK_BATCH, optimizer="sgd", momentum=0.0, lr=setting.lr,
                                  resize=setting.resize, device=device, out=tmp, subset=images, amp=amp)
                rows = cnndsl.train(ARCH / setting.file, net=setting.net, options=options, progress=False,
                                    **dict(setting.params))
            ours = rows[-1]["images_per_second"]
            print(f"| {setting.net} | {'amp' if amp else 'fp32'} | {loop:,.0f} | {ours:,.0f} | {ours / loop:.2f} |",
                  flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--nets", default="LeNetBN", help="d2l networks for the paced table (comma-separated)")
    parser.add_argument("--images", type=int, default=12_800, help="training images per epoch in the paced table")
    args = parser.parse_args()
    if args.device != "cpu":
        print(f"Device: {torch.cuda.get_device_name()}; torch {torch.__version__}")
        paced(args.device, args.nets.split(","), args.images)
        return
    torch.manual_seed(0)
    print(f"Machine: {machine()}; torch {torch.__version__}, {torch.get_num_threads()} threads\n")
    n = 60_000
    with tempfile.TemporaryDirectory() as tmp:
        results = {"(a) d2l-style loop (Dataset + ToTensor + DataLoader)": d2l_style(Path(tmp)),
                   "(b) plain loop over one tensor": plain_loop(),
                   "(c) cnndsl.train": ours(f"{tmp}/run")}
    print("| LeNet, one epoch of Fashion-MNIST, CPU, batch 256 | seconds | images/s | (a) / this | this / (b) |")
    print("|---|---|---|---|---|")
    a, b = results["(a) d2l-style loop (Dataset + ToTensor + DataLoader)"], results["(b) plain loop over one tensor"]
    for label, t in results.items():
        print(f"| {label} | {t:.2f} | {n / t:,.0f} | {a / t:.2f}x | {t / b:.2f} |")
    spec, ref = resnet_step()
    print("\n| resnet18 training step, CPU, batch 16 | compiled spec | torchvision | ratio |\n|---|---|---|---|")
    print(f"| forward + backward + SGD step | {spec * 1000:.0f} ms | {ref * 1000:.0f} ms | {spec / ref:.2f} |")
    paced("cpu", args.nets.split(","), args.images)


if __name__ == "__main__":
    main()
