"""What every command shares: the common options, `--set` values, and the checked network."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ..api import parse_shape, parse_value
from ..errors import CnnError, render
from ..ir import Network
from ..lang.source import load_program

EPILOG = "Errors are reported as file:line:col: error: message; the exit status is 1 on errors."


def parse_sets(pairs: Sequence[str]) -> dict[str, object]:
    """`--set K=V` pairs as parameter values; CnnError for a malformed pair or value."""
    values = {}
    for pair in pairs:
        key, eq, text = pair.partition("=")
        if not eq or not key.strip().isidentifier():
            raise CnnError(f"--set takes NAME=VALUE, got '{pair}'")
        values[key.strip()] = parse_value(text)
    return values


def add_common(p: argparse.ArgumentParser) -> None:
    """The options every command on one network takes: --net, --input, --set."""
    p.add_argument("--net", metavar="N", help="the network to use when the file defines several")
    p.add_argument("--input", metavar="CxHxW", help="override the declared input shape, e.g. 3x227x227")
    p.add_argument("--set", metavar="K=V", action="append", default=[],
                   help="set a network parameter, e.g. --set ratio=4 (repeatable)")


def check_file(file: str, net: str | None, shape: str | None, sets: list[str]) -> Network:
    """The network a command line names (FILE, --net, --input, --set), shape-checked."""
    from .. import api

    return api.check(file, net=net, input=parse_shape(shape) if shape else None, **parse_sets(sets))


def checked(args: argparse.Namespace) -> Network:
    """`check_file` for a command's own arguments, with its warnings printed."""
    net = check_file(args.file, args.net, args.input, args.set)
    for w in net.warnings:
        print(render(w, net.sources), file=sys.stderr)
    return net


def networks_of(args: argparse.Namespace) -> list[Network]:
    """The networks `args` selects: --net, or every network the file defines."""
    from .. import api

    program = load_program(args.file)
    sets = parse_sets(args.set)
    shape = parse_shape(args.input) if args.input else None
    names = [args.net] if args.net else program.own_networks
    if not args.net and sets and len(names) > 1:
        raise CnnError(f"{args.file} defines several networks; choose one with --net to use --set",
                       hint="networks: " + ", ".join(names))
    if not names:
        raise CnnError(f"{args.file} defines no network")
    return [api.check(args.file, net=name, input=shape, **sets) for name in names]
