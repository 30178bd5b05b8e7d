"""The "Modern CNNs" chapter of Dive into Deep Learning, reproduced with `cnndsl train`.

Every d2l network of the zoo is trained on Fashion-MNIST with the book's settings (d2l-en:
batch 128, plain SGD; lr 0.1 for LeNet and LeNetBN, 0.05 for NiN, 0.01 for the others; images
resized to 224 for AlexNet, VGG-11 (ratio 4) and NiN, to 96 for GoogLeNet, ResNet-18 and
DenseNet), and the table gives the test accuracy after each epoch, the training images per
second and the time. The book's d2l-en edition publishes these runs as plots (train loss, val
loss, val acc over 10 epochs), not as numbers, so the table has no column of the book's values;
compare with the plots of sections 7.6 and 8.1-8.7.

Run: python -m benchmarks.d2l_chapter [--epochs 10] [--device cuda] [--nets LeNet,LeNetBN]
The CPU-feasible part (LeNet, LeNetBN, a few epochs) also runs in tests/test_d2l_chapter.py.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import torch

import cnndsl
from benchmarks.common import machine
from cnndsl.training.loop import Options

ARCH = Path(__file__).resolve().parent.parent / "architectures"


@dataclass(frozen=True)
class Setting:
    """One network of the chapter and the book's settings for it."""

    net: str
    file: str
    lr: float
    resize: int | None = None
    params: tuple[tuple[str, object], ...] = ()


CHAPTER = (
    Setting("LeNet", "lenet.cnn", 0.1),
    Setting("LeNetBN", "lenet.cnn", 0.1),
    Setting("AlexNet", "alexnet.cnn", 0.01, 224),
    Setting("VGG11", "vgg.cnn", 0.01, 224, (("ratio", 4),)),
    Setting("NiN", "nin.cnn", 0.05, 224),
    Setting("GoogLeNet", "googlenet.cnn", 0.01, 96),
    Setting("ResNet18", "resnet.cnn", 0.01, 96),
    Setting("DenseNet", "densenet.cnn", 0.01, 96),
)
BATCH = 128


def train(setting: Setting, epochs: int, device: str, out: str, subset: int | None = None) -> list[dict]:
    """Train one network of the chapter with the book's settings; the per-epoch rows of `cnndsl.train`."""
    options = Options(epochs=epochs, batch_size=BATCH, optimizer="sgd", momentum=0.0, lr=setting.lr,
                      resize=setting.resize, device=device, out=out, subset=subset)
    return cnndsl.train(ARCH / setting.file, net=setting.net, options=options, progress=False,
                        **dict(setting.params))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--nets", default=",".join(s.net for s in CHAPTER),
                        help="comma-separated networks (default: all of the chapter)")
    args = parser.parse_args()
    chosen = [s for s in CHAPTER if s.net in args.nets.split(",")]
    card = torch.cuda.get_device_name() if args.device != "cpu" and torch.cuda.is_available() else machine()
    print(f"Device: {card}; torch {torch.__version__}; batch {BATCH}, SGD, {args.epochs} epochs\n")
    print("| net | lr | resize | test acc per epoch | train img/s (last epoch) | time |\n|---|---|---|---|---|---|")
    for setting in chosen:
        start = time.perf_counter()
        with tempfile.TemporaryDirectory() as tmp:
            rows = train(setting, args.epochs, args.device, tmp)
        accs = " ".join(f"{r['test_acc']:.3f}" for r in rows)
        print(f"| {setting.net} | {setting.lr} | {setting.resize or 28} | {accs} | "
              f"{rows[-1]['images_per_second']:,.0f} | {time.perf_counter() - start:.0f} s |", flush=True)


if __name__ == "__main__":
    main()
