"""`cnndsl evaluate`: a trained run's accuracy on the test set, per class, with a confusion matrix."""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
from pathlib import Path


def cmd_evaluate(args: argparse.Namespace) -> int:
    """`cnndsl evaluate`: top-1/top-5 and per-class accuracy and the confusion matrix (a table, and
    confusion.png in the run folder or --out); returns 0. CnnError as `cnndsl.load` with weights, for a
    run folder without preprocessing, and for data that do not fit the run."""
    from ..training.deployed import Trained, evaluate
    from ..training.loop import _device
    from ..training.runs import prepare
    from .common import checked

    device = _device(args.device)
    trained = Trained.of(checked(args), args.weights, device)
    out = prepare(Path(args.out)) if args.out else trained.run  # created now, not after the evaluation
    result = evaluate(trained, args.data, device)
    write_confusion_png(out / "confusion.png", result)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(report(result))
    print(f"wrote {out / 'confusion.png'}", file=sys.stderr)
    return 0


def report(result: dict) -> str:
    """The evaluation as text: accuracies, then the confusion matrix (rows: true class) with each class's accuracy."""
    names = result["classes"]
    tops = "  ".join(f"{k} accuracy {v:.4f}" for k, v in result.items() if k.startswith("top"))
    width = max(6, *(len(n) for n in names))
    cell = max(5, len(str(result["images"])))
    lines = [f"{result['images']} test images: {tops}", "",
             "confusion matrix (rows: true class, columns: predicted class, in this order)",
             f"{'':>{width}}  " + " ".join(f"{i:>{cell}}" for i in range(len(names))) + "  accuracy"]
    for i, (name, row) in enumerate(zip(names, result["confusion"], strict=True)):
        lines.append(f"{name:>{width}}  " + " ".join(f"{v:>{cell}}" for v in row)
                     + f"  {result['per_class'][name]:.4f}  ({i})")
    return "\n".join(lines)


def write_confusion_png(path: Path, result: dict) -> None:
    """The confusion matrix as an image, written atomically (CnnError when the folder cannot be written)."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..files import write_atomic

    names, counts = result["classes"], result["confusion"]
    fig, ax = plt.subplots(figsize=(1.2 + 0.5 * len(names), 1 + 0.5 * len(names)), dpi=120)
    ax.imshow(counts, cmap="Blues")
    ax.set_xticks(range(len(names)), names, rotation=90, fontsize=7)
    ax.set_yticks(range(len(names)), names, fontsize=7)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    top = max(max(row) for row in counts) or 1
    for i, row in enumerate(counts):
        for j, v in enumerate(row):
            ax.text(j, i, str(v), ha="center", va="center", fontsize=6, color="white" if v > top / 2 else "black")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    write_atomic(path, buffer.getvalue())


def register(sub: argparse._SubParsersAction) -> None:
    """Add `evaluate` to the command line."""
    from .common import EPILOG, add_common, add_weights

    p = sub.add_parser("evaluate", help="a trained network's test accuracy, per class, and its confusion matrix",
                       description=textwrap.fill(
                           "Run the test set of the data the run was trained on (or --data) through FILE's "
                           "network with the run's weights, preparing images exactly as training did (the "
                           "run's resize, mean and std from run.json). Prints top-1 and top-5 accuracy, each "
                           "class's accuracy and the confusion matrix, and writes confusion.png into the run "
                           "folder (or --out). The top-1 accuracy is the test accuracy training reported for "
                           "the same weights. See docs/deploy.md."),
                       epilog=EPILOG + "\n\nExamples:\n  cnndsl evaluate architectures/lenet.cnn --net LeNetBN "
                                       "--weights runs/LeNetBN\n  cnndsl evaluate lenet.cnn --net LeNetBN --weights "
                                       "runs/LeNetBN --json > eval.json",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("file", metavar="FILE")
    add_common(p)
    add_weights(p, required=True, run_only=True)
    p.add_argument("--data", help="the data set to test on (default: the run's): fashion-mnist, mnist, cifar10, "
                                  "or an image folder")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto", help="default: cuda if available")
    p.add_argument("--out", metavar="DIR", help="where confusion.png goes (default: the run folder; created "
                                                "if missing)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(run=cmd_evaluate)
