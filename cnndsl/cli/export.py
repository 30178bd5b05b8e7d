"""`cnndsl export`: ONNX, TorchScript or a standalone Python file."""

from __future__ import annotations

import argparse
import sys


def cmd_export(args: argparse.Namespace) -> int:
    """`cnndsl export`: write the checked network in --format (onnx, torchscript, py) to --output; returns
    0. CnnError as `cnndsl.load`, for an output that cannot be written, and when onnxruntime disagrees
    with torch on the ONNX file."""
    from ..pytorch.export import export
    from .common import checked

    print(export(checked(args), args.format, args.output), file=sys.stderr)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add `export` to the command line."""
    from .common import EPILOG, add_common

    p = sub.add_parser("export", help="export a network to ONNX, TorchScript or a standalone Python file",
                       description="Write the compiled network as ONNX (checked in onnxruntime when it is "
                                   "installed), TorchScript, or one Python file that needs only torch and whose "
                                   "state_dict matches the compiled model's.", epilog=EPILOG)
    p.add_argument("file", metavar="FILE")
    add_common(p)
    p.add_argument("--format", required=True, choices=["onnx", "torchscript", "py"])
    p.add_argument("-o", "--output", required=True, metavar="OUT")
    p.set_defaults(run=cmd_export)
