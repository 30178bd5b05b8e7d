"""The `cnndsl` command line. `check` and `list` never import torch."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence

from .api import parse_shape, parse_value
from .errors import CnnError, render
from .ir import Network
from .source import load_program

EPILOG = "Errors are reported as file:line:col: error: message; the exit status is 1 on errors."


def _sets(pairs: Sequence[str]) -> dict[str, object]:
    values = {}
    for pair in pairs:
        key, eq, text = pair.partition("=")
        if not eq or not key.strip().isidentifier():
            raise CnnError(f"--set takes NAME=VALUE, got '{pair}'")
        values[key.strip()] = parse_value(text)
    return values


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--net", metavar="N", help="the network to use when the file defines several")
    p.add_argument("--input", metavar="CxHxW", help="override the declared input shape, e.g. 3x227x227")
    p.add_argument("--set", metavar="K=V", action="append", default=[],
                   help="set a network parameter, e.g. --set ratio=4 (repeatable)")


def check_file(file: str, net: str | None, shape: str | None, sets: list[str]) -> Network:
    """The network a command line names (FILE, --net, --input, --set), shape-checked."""
    from . import api

    return api.check(file, net=net, input=parse_shape(shape) if shape else None, **_sets(sets))


def checked(args: argparse.Namespace) -> Network:
    """`check_file` for a command's own arguments, with its warnings printed."""
    net = check_file(args.file, args.net, args.input, args.set)
    for w in net.warnings:
        print(render(w, net.graph.graph["sources"]), file=sys.stderr)
    return net


def _networks(args: argparse.Namespace) -> list[Network]:
    """The networks `args` selects: --net, or every network the file defines."""
    from . import api

    program = load_program(args.file)
    sets = _sets(args.set)
    shape = parse_shape(args.input) if args.input else None
    names = [args.net] if args.net else program.own_networks
    if not args.net and sets and len(names) > 1:
        raise CnnError(f"{args.file} defines several networks; choose one with --net to use --set",
                       hint="networks: " + ", ".join(names))
    if not names:
        raise CnnError(f"{args.file} defines no network")
    return [api.check(args.file, net=name, input=shape, **sets) for name in names]


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
    for net in _networks(args):
        sources = net.graph.graph["sources"]
        for w in net.warnings:
            print(render(w, sources), file=sys.stderr)
        if net.warnings:
            _exact_hint(args, net)
        if not args.quiet:
            print(f"{net.name}  ({args.file})")
            print(_table(net))
            outs = ", ".join("x".join(map(str, s)) for s in net.output_shapes)
            print(f"  {len(net)} layers, {net.count_params():,} parameters, output {outs}\n")
    return 0


def _exact_hint(args: argparse.Namespace, net: Network) -> None:
    """After drop warnings, name the nearest input sizes at which no layer drops pixels."""
    from .inputs import nearest_exact

    sizes = nearest_exact(load_program(args.file), net.name, _sets(args.set), net.input_shape)
    c = net.input_shape[0]
    if sizes:
        names = " or ".join(f"{c}x{s}x{s}" for s in sizes)
        print(f"note: no layer of {net.name} drops pixels at an input of {names} "
              f"(`cnndsl inputs` lists all)", file=sys.stderr)


def cmd_list(args: argparse.Namespace) -> int:
    from .api import networks

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


class _Parser(argparse.ArgumentParser):
    """Bad command lines exit 1 like every other bad input (argparse's own status is 2)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        self.exit(1, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="cnndsl", description="A language and compiler for convolutional network architectures.",
        epilog="Run `cnndsl COMMAND --help` for a command's options.")
    parser.add_argument("--version", action="version", version=f"cnndsl {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    p = sub.add_parser("check", help="parse and shape-check a network; print each layer's output shape",
                       description="Parse and shape-check FILE; print each layer's name, op and output shape. "
                                   "Without --net, every network the file defines is checked.", epilog=EPILOG)
    p.add_argument("file", metavar="FILE")
    _common(p)
    p.add_argument("-q", "--quiet", action="store_true", help="print only errors and warnings")
    p.set_defaults(run=cmd_check)
    p = sub.add_parser("list", help="list the networks of files with their parameters",
                       description="One line per network: file, name, parameters with defaults.", epilog=EPILOG)
    p.add_argument("files", metavar="FILE", nargs="+")
    p.set_defaults(run=cmd_list)
    for register in _extensions():
        register(sub)
    return parser


def _extensions() -> list[Callable[[argparse._SubParsersAction], None]]:
    """Commands defined in other modules register themselves here."""
    from . import cli_analysis, cli_draw, cli_import, cli_train

    return [cli_analysis.register, cli_draw.register, cli_draw.register_export, cli_import.register,
            cli_train.register]


def _version() -> str:
    from . import __version__
    return __version__


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except CnnError as exc:
        print(exc.render(), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("cnndsl: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `cnndsl ... | head`: the reader has gone, nothing more to say
        sys.stderr.close()
        return 0
    except Exception as exc:  # a bug in cnndsl, not in the user's text
        if os.environ.get("CNNDSL_DEBUG"):
            raise
        print(f"cnndsl: internal error: {type(exc).__name__}: {exc}\n"
              "  please report it with the input file; set CNNDSL_DEBUG=1 for the traceback", file=sys.stderr)
        return 70


if __name__ == "__main__":
    sys.exit(main())
