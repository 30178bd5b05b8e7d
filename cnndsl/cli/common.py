"""What every command shares: the common options, `--set` values, and the checked network."""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

from ..errors import CnnError, render
from ..ir import Network
from ..lang.source import Program, load_program
from ..request import Request, parse_shape, parse_value

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


def add_plugin(p: argparse.ArgumentParser) -> None:
    """--plugin, for every command that builds a network: main() loads the plugins it names before the
    command runs (docs/plugins.md)."""
    p.add_argument("--plugin", metavar="NAME", action="append", default=[],
                   help="load the ops of a plugin: an installed one (`cnndsl plugins` lists them), a module or a "
                        ".py file (repeatable; docs/plugins.md)")


def load_plugins_of(args: argparse.Namespace) -> list[str]:
    """Load the plugins a command line names with --plugin (none for a command without it); returns their
    ops' names. CnnError for one that cannot be loaded."""
    from ..api import load_plugins

    return load_plugins(getattr(args, "plugin", None) or [])


def add_common(p: argparse.ArgumentParser) -> None:
    """The options every command on one network takes: --net, --input, --set, --plugin."""
    p.add_argument("--net", metavar="N", help="the network to use when the file defines several")
    p.add_argument("--input", metavar="CxHxW", help="override the declared input shape, e.g. 3x227x227")
    p.add_argument("--set", metavar="K=V", action="append", default=[],
                   help="set a network parameter, e.g. --set ratio=4 (repeatable)")
    add_plugin(p)


def add_weights(p: argparse.ArgumentParser, required: bool = False, run_only: bool = False) -> None:
    """--weights: a run folder (its model.pt) or a state_dict file; with `run_only` (predict, evaluate, which
    need the run's preprocessing from run.json) a run folder or the model.pt in one."""
    other = ("or the model.pt in one (its run.json gives the preprocessing)" if run_only
             else "or a state_dict file (torch.save(model.state_dict()))")
    p.add_argument("--weights", metavar="PATH", required=required,
                   help="trained weights: a run folder (cnndsl train --out DIR; its model.pt, the best epoch's "
                        f"state_dict) {other}")


def request_of(file: str, net: str | None, shape: str | None, sets: Sequence[str],
               program: Program | None = None) -> Request:
    """The request a command line names (FILE, --net, --input, --set), its arguments checked;
    `program` is FILE when the command has loaded it already."""
    input_shape = parse_shape(shape) if shape else None
    params = parse_sets(sets)
    program = program or load_program(file)
    if net is None and len(program.own_networks) > 1:  # said in the command line's words, not the API's (net=)
        raise CnnError(f"{file} defines several networks; choose one with --net NAME",
                       hint="networks: " + ", ".join(program.own_networks))
    return Request.of(program, net, input_shape, params)


def checked(args: argparse.Namespace) -> Network:
    """The network a command's own arguments name, shape-checked, with its warnings printed. With
    --weights of a training run, what the command line leaves out (--net, --input, each --set) is the
    run's (its run.json), so `predict --weights RUN` builds the network that was trained."""
    as_trained(args)
    net = request_of(args.file, args.net, args.input, args.set).check()
    for w in net.warnings:
        print(render(w, net.sources), file=sys.stderr)
    return net


def as_trained(args: argparse.Namespace) -> None:
    """Fill in `args` what a run's run.json records (docs/deploy.md) and the command line leaves out:
    --net, --input and each --set; a note on stderr says what was taken."""
    run = _run_of(getattr(args, "weights", None))
    if run is None:
        return
    given = parse_sets(args.set)
    taken = []
    if args.net is None and isinstance(run.get("network"), str):
        args.net = run["network"]
        taken.append(f"--net {args.net}")
    if args.input is None and isinstance(run.get("input"), list):
        args.input = "x".join(map(str, run["input"]))
        taken.append(f"--input {args.input}")
    for key, value in (run.get("params") or {}).items():
        if key not in given and isinstance(value, (int, float, bool)):
            args.set = [*args.set, f"{key}={str(value).lower() if isinstance(value, bool) else value}"]
            taken.append(f"--set {args.set[-1]}")
    if taken:
        print(f"note: as trained ({run['_path']}): {' '.join(taken)}", file=sys.stderr)


def _run_of(weights: str | None) -> dict | None:
    """The run.json of a run folder, or of the folder of a model.pt; None for a plain state_dict file, or
    a run.json that cannot be read (loading the weights then says why)."""
    if not weights:
        return None
    path = Path(weights)
    info = path / "run.json" if path.is_dir() else path.with_name("run.json")
    try:
        run = json.loads(info.read_text())
    except (OSError, ValueError):
        return None
    return {**run, "_path": str(info)} if isinstance(run, dict) else None


def networks_of(args: argparse.Namespace) -> list[tuple[Request, Network]]:
    """The networks `args` selects, each with its request: --net, or every network the file
    defines (all elaborated from the one loaded program)."""
    program = load_program(args.file)
    sets = parse_sets(args.set)
    shape = parse_shape(args.input) if args.input else None
    names = [args.net] if args.net else program.own_networks
    if not args.net and sets and len(names) > 1:
        raise CnnError(f"{args.file} defines several networks; choose one with --net to use --set",
                       hint="networks: " + ", ".join(names))
    if not names:
        raise CnnError(f"{args.file} defines no network")
    first = Request.of(program, names[0], shape, sets)
    requests = [first] + [replace(first, net=name) for name in names[1:]]
    return [(request, request.check()) for request in requests]


def at_least(kind: type, low: float, strict: bool = False) -> Callable[[str], object]:
    """An argparse type: a finite `kind` (int or float) >= low (> low when `strict`); anything
    else is argparse's own usage error, exit 1."""
    def convert(text: str) -> object:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
        if not math.isfinite(value) or value < low or (strict and value == low):
            raise argparse.ArgumentTypeError(f"must be {'more than' if strict else 'at least'} {low}, got {text}")
        return value
    return convert
