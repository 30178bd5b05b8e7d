"""`cnndsl train`: a spec trained on Fashion-MNIST, MNIST, CIFAR-10 or an image folder."""

from __future__ import annotations

import argparse
import os
import sys


def cmd_train(args: argparse.Namespace) -> int:
    """`cnndsl train`: train with the options given; returns 0, or 130 after Ctrl-C once a checkpoint is
    saved. CnnError for an unknown --augment and as `cnndsl.train`."""
    from ..training.loop import Options, TrainingInterruptedError, train
    from .common import parse_sets

    augment = [a for a in (args.augment or "").split(",") if a]
    unknown = set(augment) - {"flip", "crop"}
    if unknown:
        from ..errors import CnnError
        raise CnnError(f"unknown --augment {', '.join(sorted(unknown))}", hint="choose from flip, crop")
    opts = Options(data=args.data, resize=args.resize, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                   optimizer=args.optimizer, momentum=args.momentum, weight_decay=args.weight_decay,
                   schedule=args.schedule, augment=augment, device=args.device, amp=args.amp,
                   channels_last=args.channels_last, compile=args.compile, seed=args.seed,
                   out=args.out or f"runs/{args.net or 'train'}", resume=args.resume, subset=args.subset,
                   force=args.force)
    try:
        rows = train(args.file, args.net, args.input, opts, **parse_sets(args.set))
    except TrainingInterruptedError as exc:
        if os.environ.get("RANK", "0") == "0":  # under torchrun, one message
            print(f"cnndsl: {exc}", file=sys.stderr)
        return 130
    if rows and os.environ.get("RANK", "0") == "0":
        best = max(r["test_acc"] for r in rows)
        print(f"test accuracy {rows[-1]['test_acc']:.4f} (best {best:.4f}); outputs in {opts.out}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add `train` to the command line."""
    from .common import EPILOG, add_common, at_least

    positive_int, positive = at_least(int, 0, strict=True), at_least(float, 0, strict=True)

    p = sub.add_parser("train", help="train a network on Fashion-MNIST, MNIST, CIFAR-10 or an image folder",
                       description="Train FILE's network. Data are read once into memory; batches are resized, "
                                   "augmented and normalised on the training device. Writes metrics.csv/json, "
                                   "curves.png, model.pt (best weights), checkpoint.pt and run.json to --out, which it "
                                   "locks while it trains. Ctrl-C saves a checkpoint after the current step. "
                                   "Under `torchrun --nproc_per_node=K` it trains with DistributedDataParallel.",
                       epilog=EPILOG)
    p.add_argument("file", metavar="FILE")
    add_common(p)
    p.add_argument("--data", default="fashion-mnist", help="fashion-mnist (default), mnist, cifar10, or an image "
                                                           "folder DIR/CLASS/IMAGE")
    p.add_argument("--resize", type=positive_int, metavar="S", help="resize images to SxS on the device")
    p.add_argument("--epochs", type=positive_int, default=10, metavar="E", help="default 10")
    p.add_argument("--batch-size", type=positive_int, default=256, metavar="B", help="default 256")
    p.add_argument("--lr", type=positive, default=0.01, help="learning rate (default 0.01)")
    p.add_argument("--optimizer", choices=["sgd", "adam", "adamw"], default="adam", help="default adam")
    p.add_argument("--momentum", type=at_least(float, 0), default=0.9, help="SGD momentum (default 0.9)")
    p.add_argument("--weight-decay", type=at_least(float, 0), default=0.0, metavar="W", help="default 0")
    p.add_argument("--schedule", choices=["none", "cosine", "step"], default="none", help="learning-rate schedule")
    p.add_argument("--augment", metavar="flip,crop", help="batched augmentation on the device")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto", help="default: cuda if available")
    p.add_argument("--amp", action="store_true", help="mixed precision (bf16, or fp16 with loss scaling on CUDA)")
    p.add_argument("--channels-last", action="store_true", help="channels-last memory format")
    p.add_argument("--compile", action="store_true", help="torch.compile the model")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--out", metavar="DIR", help="output folder (default runs/NET); one that holds a run already is "
                                                "refused, unless --resume or --force")
    p.add_argument("--resume", action="store_true", help="continue from DIR/checkpoint.pt")
    p.add_argument("--force", action="store_true", help="replace the run in --out: its files (run.json, model.pt, "
                                                        "checkpoint.pt, metrics, curves.png, confusion.png) are "
                                                        "removed once the data are loaded; other files stay")
    p.add_argument("--subset", type=positive_int, metavar="N", help="train on the first N images only")
    p.set_defaults(run=cmd_train)
