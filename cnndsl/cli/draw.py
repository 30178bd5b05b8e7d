"""`cnndsl draw`: architecture figures through Graphviz."""

from __future__ import annotations

import argparse
import sys

from ..errors import CnnError
from ..render.diagram import SHAPES, THEMES, WRAP
from ..render.placement import LAYOUTS, MAX_WIDTH


def cmd_draw(args: argparse.Namespace) -> int:
    """`cnndsl draw`: draw the network into --output; returns 0. CnnError for an unknown output format
    (before any work), a negative --depth, and as `cnndsl.draw`."""
    from ..render.figure import draw_network, output_format
    from .common import checked

    if args.style == "blocks":
        from ..render.latex import blocks_format, draw_blocks
        blocks_format(args.output)  # refuse an unknown format before any work
    else:
        output_format(args.output)
    if args.depth is not None and args.depth < 0:
        raise CnnError(f"--depth must be 0 or more, got {args.depth}")
    net = checked(args)
    depth = None if args.full else (args.depth if args.depth is not None else 0)
    if args.style == "blocks":
        path = draw_blocks(net, args.output, depth, args.max_width, args.layout)
    else:
        path = draw_network(net, args.output, depth, args.rankdir, args.shapes, args.params, args.theme,
                            args.compact, args.names, args.wrap)
    print(f"wrote {path}", file=sys.stderr)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add `draw` to the command line."""
    from .common import EPILOG, add_common

    p = sub.add_parser("draw", help="draw a network as SVG, PDF, PNG or DOT with Graphviz",
                       description="Draw a network for a paper or slides. By default each top-level block call "
                                   "is one node and repeated calls fold into one (`residual(512) ×2`); --depth D "
                                   "opens blocks to depth D, --full draws every layer. An edge is drawn per use "
                                   "of a tensor, labelled with its shape; each output is a box with its name.",
                       epilog=EPILOG)
    p.add_argument("file", metavar="FILE")
    add_common(p)
    p.add_argument("-o", "--output", required=True, metavar="OUT",
                   help="OUT.svg, OUT.pdf, OUT.png or OUT.dot; with --style blocks OUT.tex, OUT.pdf or OUT.png")
    p.add_argument("--style", choices=["graph", "blocks"], default="graph",
                   help="graph: a Graphviz diagram (default); blocks: 3-D boxes as CNN papers draw them, in TikZ "
                        "(.pdf and .png need pdflatex)")
    level = p.add_mutually_exclusive_group()
    level.add_argument("--depth", type=int, metavar="D", help="open block calls down to depth D (default 0)")
    level.add_argument("--full", action="store_true", help="draw every layer")
    p.add_argument("--rankdir", choices=["TB", "LR"], default="TB", help="top to bottom (default) or left to right")
    p.add_argument("--shapes", nargs="?", choices=SHAPES, const="all", default="all",
                   help="label edges with tensor shapes: all (default), changes (only where a layer changes the "
                        "shape) or none")
    p.add_argument("--no-shapes", dest="shapes", action="store_const", const="none", help="same as --shapes none")
    p.add_argument("--compact", action="store_true", help="fold norms and activations into the layer before them")
    p.add_argument("--names", action="store_true", help="show the names the source gives with `as`")
    p.add_argument("--wrap", type=int, default=WRAP, metavar="N",
                   help=f"with --rankdir LR, wrap into rows of at most N boxes along the longest path (default {WRAP})")
    p.add_argument("--layout", choices=LAYOUTS, default="auto",
                   help="--style blocks: row (one row), rows (rows that wrap), u (a row per scale, for "
                        "encoder-decoders) or auto (default: one row up to --max-width, else u or rows)")
    p.add_argument("--max-width", type=float, default=MAX_WIDTH, metavar="CM",
                   help=f"--style blocks: wrap a figure wider than CM centimetres (default {MAX_WIDTH:g}; 0 never)")
    p.add_argument("--params", action="store_true", help="show parameter counts in the nodes")
    p.add_argument("--theme", default="color", metavar="NAME",
                   help=f"colour theme: {', '.join(THEMES)} (mono is print-friendly)")
    p.set_defaults(run=cmd_draw)
