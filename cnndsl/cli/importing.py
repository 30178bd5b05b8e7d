"""`cnndsl import torchvision:NAME`: a torchvision model as a `.cnn` file."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from ..errors import CnnError

SOURCES = ("torchvision",)


def _source(text: str) -> str:
    kind, colon, name = text.partition(":")
    if not colon:
        kind, name = "torchvision", text
    if kind not in SOURCES or not name:
        raise CnnError(f"cannot import '{text}': write torchvision:NAME, e.g. torchvision:resnet50",
                       hint="`cnndsl import --list` lists torchvision's classification models")
    return name


def cmd_import(args: argparse.Namespace) -> int:
    """`cnndsl import`: list torchvision's models, or write one as .cnn text to --output or standard
    output; returns 0. CnnError for a missing or unknown name, an output that exists without --force,
    and as `cnndsl.import_module`."""
    from ..api import parse_shape
    from ..importer import check_name, import_torchvision, importable, segmentation_models

    if args.list:
        for name, why in importable():
            print(f"{name:<22} {why or ''}".rstrip())
        for name in segmentation_models():  # all importable
            print(name)
        return 0
    if not args.model:
        raise CnnError("name a model to import: cnndsl import torchvision:NAME")
    name = check_name(_source(args.model))
    out = Path(args.output) if args.output else None
    if out is not None and out.exists() and not args.force:
        raise CnnError(f"'{out}' exists; nothing was written", hint="choose another -o or add --force to replace it")
    start = time.perf_counter()
    print(f"importing {name}: tracing with torch.fx, writing blocks, checking the round trip ...", file=sys.stderr)
    text = import_torchvision(name, parse_shape(args.input) if args.input else None, verify=not args.no_verify)
    if out is None:
        sys.stdout.write(text)
    else:
        from ..files import write_atomic

        write_atomic(out, text.encode())
    checked = "" if args.no_verify else "; weights load by name and outputs match"
    print(f"{name}: {len(text.splitlines())} lines{' written to ' + str(out) if out else ''} "
          f"in {time.perf_counter() - start:.1f} s{checked}", file=sys.stderr)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add `import` to the command line."""
    from .common import EPILOG

    p = sub.add_parser("import", help="write a torchvision model as a .cnn file",
                       description="Trace a torchvision classification or segmentation model with torch.fx "
                                   "and write it as .cnn text: module classes become blocks with parameters, "
                                   "repeated calls become loops, layers keep torchvision's names so its "
                                   "state_dict loads by name. The text is compiled and checked against the "
                                   "model before anything is written.", epilog=EPILOG)
    p.add_argument("model", nargs="?", metavar="torchvision:NAME", help="e.g. torchvision:resnet50")
    p.add_argument("-o", "--output", metavar="OUT.cnn", help="write here instead of to standard output")
    p.add_argument("--force", action="store_true", help="replace OUT.cnn if it exists")
    p.add_argument("--input", metavar="CxHxW", help="the input to trace with (default: the size torchvision's "
                                                     "weights were trained at, e.g. 3x224x224)")
    p.add_argument("--no-verify", action="store_true",
                   help="skip the round-trip check (compile, load the weights, compare outputs)")
    p.add_argument("--list", action="store_true", help="list torchvision's classification and segmentation "
                                                       "models, and why those that cannot be imported cannot")
    p.set_defaults(run=cmd_import)
