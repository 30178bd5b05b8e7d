"""`cnndsl export`: ONNX, TorchScript or a standalone Python file."""

from __future__ import annotations

import argparse
import sys


def cmd_export(args: argparse.Namespace) -> int:
    from ..pytorch.export import export
    from .common import checked

    print(export(checked(args), args.format, args.output), file=sys.stderr)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
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
