"""`cnndsl predict`: the classes a trained run gives image files."""

from __future__ import annotations

import argparse
import json
import sys
import textwrap


def cmd_predict(args: argparse.Namespace) -> int:
    """`cnndsl predict`: the top --top classes of each image with their probabilities; returns 0, or 1 when
    an image could not be read (named on stderr, and with --json an entry with "error" in the list, in the
    images' order; the other images are still classified). CnnError as `cnndsl.load` with weights and for a
    run folder without preprocessing."""
    from ..errors import CnnError
    from ..training.deployed import Trained, predict, read_image
    from ..training.loop import _device
    from .common import checked

    device = _device(args.device)
    trained = Trained.of(checked(args), args.weights, device)
    results, failed = [], 0
    for path in args.images:
        try:
            image = read_image(path, trained.prep)
        except CnnError as exc:
            print(exc.render(), file=sys.stderr)
            results.append({"image": path, "error": exc.message})
            failed += 1
            continue
        top = predict(trained, image, args.top)
        results.append({"image": path, "top": [{"class": c, "probability": p} for c, p in top]})
        if not args.json:
            print(f"{path}: " + ", ".join(f"{c} {p:.4f}" for c, p in top), flush=True)
    if args.json:
        print(json.dumps(results, indent=2))
    return 1 if failed else 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add `predict` to the command line."""
    from .common import EPILOG, add_common, add_weights, at_least

    p = sub.add_parser("predict", help="classify image files with a trained network",
                       description=textwrap.fill(
                           "Classify each IMAGE (PNG, JPEG, ...; grey or colour, any size) with FILE's network and "
                           "the run's weights. Each image is converted to the run's channels, resized to its data "
                           "set's size, then resized and normalised as in training; prints the --top most probable "
                           "classes, named as in the run, with their probabilities. An image that cannot be read is "
                           "an error naming it (with --json also an entry {\"image\": ..., \"error\": ...}); "
                           "the others are still classified, and the exit status is 1. See docs/deploy.md."),
                       epilog=EPILOG + "\n\nExamples:\n  cnndsl predict architectures/lenet.cnn --net LeNetBN "
                                       "--weights runs/LeNetBN shoe.png\n  cnndsl predict lenet.cnn --net LeNetBN "
                                       "--weights runs/LeNetBN --top 3 --json a.png b.jpg",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("file", metavar="FILE")
    p.add_argument("images", metavar="IMAGE", nargs="+")
    add_common(p)
    add_weights(p, required=True, run_only=True)
    p.add_argument("--top", type=at_least(int, 0, strict=True), default=5, metavar="K",
                   help="how many classes to show (default 5)")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto", help="default: cuda if available")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(run=cmd_predict)
