"""`cnndsl check` and `cnndsl list`: shapes and networks, without torch."""

from __future__ import annotations

import argparse
import sys

from ..errors import CnnError, render
from ..ir import Network
from ..request import Request
from .common import EPILOG, add_common, add_plugin, load_plugins_of, networks_of


def _table(net: Network) -> str:
    rows = [(layer.qualname, layer.label, " ".join("x".join(map(str, s)) for s in layer.shapes))
            for layer in net.layers()]
    widths = [max(len(r[i]) for r in [("layer", "op", "output"), *rows]) for i in range(3)]
    def line(a: str, b: str, c: str) -> str:
        return f"  {a:<{widths[0]}}  {b:<{widths[1]}}  {c}"
    out = [line("layer", "op", "output"), line("-" * widths[0], "-" * widths[1], "-" * 6)]
    out += [line(*r) for r in rows]
    return "\n".join(out)


def cmd_check(args: argparse.Namespace) -> int:
    """`cnndsl check`: check each selected network of each file, print its warnings (with the nearest input
    sizes at which nothing drops) and, unless --quiet, each layer's output shape per sample. A file that fails
    is reported and the others checked; returns 1 if any failed, else 0."""
    status = 0
    for file in args.files:
        try:
            _check_file(argparse.Namespace(**vars(args), file=file))
        except CnnError as exc:
            print(exc.render(), file=sys.stderr)
            status = 1
    return status


def _check_file(args: argparse.Namespace) -> None:
    for request, net in networks_of(args):
        sources = net.sources
        for w in net.warnings:
            print(render(w, sources), file=sys.stderr)
        if net.drops:
            _exact_hint(request, net)
        if not args.quiet:
            print(f"{net.name}  ({args.file})")
            print(_table(net))
            outs = ", ".join("x".join(map(str, s)) for s in net.output_shapes)
            print(f"  {len(net)} layers, {net.count_params():,} parameters, output {outs}\n")


def _exact_hint(request: Request, net: Network) -> None:
    """After drop warnings, name the nearest input sizes at which no layer drops pixels."""
    from ..analysis.inputs import nearest_exact

    sizes = nearest_exact(request, net.input_shape)
    c = net.input_shape[0]
    if sizes:
        names = " or ".join(f"{c}x{s}x{s}" for s in sizes)
        print(f"note: no layer of {net.name} drops pixels at an input of {names} "
              f"(`cnndsl inputs` lists all)", file=sys.stderr)


def cmd_list(args: argparse.Namespace) -> int:
    """`cnndsl list`: one line per network of each file, with its parameters; a file that fails is reported
    and the others listed; returns 1 if any failed, else 0."""
    from ..api import networks

    status = 0
    for file in args.files:
        try:
            for name, params in networks(file).items():
                text = ", ".join(k if v is None else f"{k}={v}" for k, v in params.items())
                print(f"{file}  {name}({text})")
        except CnnError as exc:
            print(exc.render(), file=sys.stderr)
            status = 1
    return status


def cmd_plugins(args: argparse.Namespace) -> int:
    """`cnndsl plugins`: the installed plugins (entry-point group `cnndsl.ops`), none of them loaded, and
    the ops of those named by --plugin (main() has loaded them), each with its signature; returns 0."""
    from ..lang.plugins import ENTRY_POINT_GROUP, installed
    from ..ops import REGISTRY

    found = installed()
    print(f"installed plugins (entry points '{ENTRY_POINT_GROUP}'; loaded only when named by --plugin):")
    for name, module in sorted(found.items()):
        print(f"  {name}  ({module})")
    if not found:
        print("  none")
    if args.plugin:
        print("ops of " + ", ".join(args.plugin) + ":")
        for name in load_plugins_of(args):  # loaded already: this only lists them
            print(f"  {REGISTRY[name].signature():<40} {REGISTRY[name].doc}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add `check`, `list` and `plugins` to the command line."""
    p = sub.add_parser("check", help="parse and shape-check a network; print each layer's output shape",
                       description="Parse and shape-check each FILE; print each layer's name, op and output shape. "
                                   "Without --net, every network a file defines is checked; a file that fails "
                                   "is reported and the others checked.", epilog=EPILOG)
    p.add_argument("files", metavar="FILE", nargs="+")
    add_common(p)
    p.add_argument("-q", "--quiet", action="store_true", help="print only errors and warnings")
    p.set_defaults(run=cmd_check)
    p = sub.add_parser("list", help="list the networks of files with their parameters",
                       description="One line per network: file, name, parameters with defaults.", epilog=EPILOG)
    p.add_argument("files", metavar="FILE", nargs="+")
    p.set_defaults(run=cmd_list)
    p = sub.add_parser("plugins", help="list installed op plugins, and the ops of those named by --plugin",
                       description="Installed plugins are Python packages declaring an entry point in the group "
                                   "`cnndsl.ops`; none is loaded unless a command names it with --plugin "
                                   "(docs/plugins.md).", epilog=EPILOG)
    add_plugin(p)
    p.set_defaults(run=cmd_plugins)
