"""`cnndsl export`: ONNX, TorchScript or a standalone Python file."""

from __future__ import annotations

import argparse
import sys
import textwrap


def cmd_export(args: argparse.Namespace) -> int:
    """`cnndsl export`: write the checked network in --format (onnx, torchscript, py) to --output; returns
    0. CnnError as `cnndsl.load`, for an output that cannot be written, and when onnxruntime disagrees
    with torch on the ONNX file."""
    from ..pytorch.export import export
    from ..pytorch.trained import trained_model
    from .common import checked

    net = checked(args)
    print(export(net, args.format, args.output, model=trained_model(net, args.weights, args.preprocess)),
          file=sys.stderr)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add `export` to the command line."""
    from .common import EPILOG, add_common, add_weights

    # the opset is stated here without importing torch (tests/test_export.py checks it is OPSET)
    p = sub.add_parser("export", help="export a network to ONNX, TorchScript, a torch.export program or a "
                                      "standalone Python file",
                       description=textwrap.fill(
                                   "Write the compiled network as ONNX opset 17 (input 'input'; outputs named "
                                   "after the network's `output` statements, else 'output'; the shapes cnndsl "
                                   "computed declared, with a dynamic batch axis), TorchScript, a torch.export program "
                                   "(pt2), or one Python file "
                                   "that needs only torch and whose state_dict matches the compiled model's. The "
                                   "file is written only after it is checked: every output run in onnxruntime (when "
                                   "installed) or in the loaded-back TorchScript must have cnndsl's shape and "
                                   "torch's values; a failed export writes nothing. See docs/export.md and "
                                                 "docs/deploy.md."),
                       epilog=EPILOG + "\n\nExamples:\n  cnndsl export lenet.cnn --net LeNetBN --weights runs/LeNetBN "
                                       "--preprocess --format onnx -o lenet.onnx\n"
                                       "  cnndsl export lenet.cnn --net LeNet --format pt2 -o lenet.pt2",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("file", metavar="FILE")
    add_common(p)
    p.add_argument("--format", required=True, choices=["onnx", "torchscript", "py", "pt2"],
                   help="pt2: a torch.export program (torch.export.load(OUT).module())")
    p.add_argument("-o", "--output", required=True, metavar="OUT")
    add_weights(p)
    p.add_argument("--preprocess", action="store_true",
                   help="bake the run's resize and normalisation into the model: it then takes images as floats "
                        "in [0, 1] at the data set's size (needs --weights RUN_FOLDER; see docs/deploy.md)")
    p.set_defaults(run=cmd_export)
