"""The Python API: `check`, `load`, `networks` (torch is imported only by `load`)."""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING

from .elaborate.elaborator import Limits, elaborate
from .errors import CnnError
from .ir import Network
from .lang.limits import int_literal
from .lang.parser import parse_expr
from .lang.source import Program, load_program, program_from_text
from .lang.values import Scope, evaluate, show

if TYPE_CHECKING:
    import torch

PathLike = str | os.PathLike


def parse_shape(text: str) -> tuple[int, ...]:
    """`3x224x224` -> (3, 224, 224); a CnnError for anything else (ASCII digits only: `²8`
    passes str.isdigit but is no number; sizes past 64 bits are refused unconverted)."""
    shape = str(text).strip().lower()
    if not re.fullmatch(r"[0-9]+(x[0-9]+)*", shape, flags=re.ASCII):
        raise CnnError(f"an input shape looks like 3x224x224, got {show(str(text), 40)}")
    try:
        dims = tuple(int_literal(p, None) for p in shape.split("x"))
    except CnnError as exc:
        raise CnnError(f"input shape {show(shape, 40)}: {exc.message}") from None
    if not all(dims):
        raise CnnError(f"an input shape looks like 3x224x224, got {show(str(text), 40)}")
    return dims


def parse_value(text: str) -> object:
    """A `--set` value: any expression of the language without names (`4`, `(1, 2)`, `true`)."""
    return evaluate(parse_expr(text), Scope())


def _python_value(key: str, value: object) -> object:
    if isinstance(value, list):
        value = tuple(value)
    if isinstance(value, tuple):
        return tuple(_python_value(key, v) for v in value)
    if isinstance(value, (bool, int, float)):
        return value
    raise CnnError(f"parameter '{key}' must be a number, bool or tuple, got {type(value).__name__}")


def _pick(program: Program, net: str | None) -> str:
    if net is not None:
        if net not in program.networks:
            from .errors import suggest
            raise CnnError(f"no network '{net}' in {program.file}",
                           hint=suggest(net, program.networks) or f"networks: {', '.join(program.networks)}")
        return net
    if len(program.own_networks) == 1:
        return program.own_networks[0]
    if not program.own_networks:
        raise CnnError(f"{program.file} defines no network")
    raise CnnError(f"{program.file} defines several networks; choose one with net=",
                   hint="networks: " + ", ".join(program.own_networks))


def _elaborate(program: Program, net: str | None, input: str | tuple | None, limits: Limits | None,
               params: dict[str, object]) -> Network:
    shape = parse_shape(input) if isinstance(input, str) else (tuple(input) if input is not None else None)
    values = {k: _python_value(k, v) for k, v in params.items()}
    return elaborate(program, _pick(program, net), values, shape, limits)


def check(path: PathLike, net: str | None = None, input: str | tuple | None = None,
          limits: Limits | None = None, **params: object) -> Network:
    """Parse, elaborate and shape-check a network; returns the graph with its warnings."""
    return _elaborate(load_program(path), net, input, limits, params)


def check_text(text: str, net: str | None = None, input: str | tuple | None = None, file: str = "<string>",
               limits: Limits | None = None, **params: object) -> Network:
    """`check` for source text in memory (imports resolve from the current directory)."""
    return _elaborate(program_from_text(text, file), net, input, limits, params)


def load(path: PathLike, net: str | None = None, input: str | tuple | None = None, max_bytes: int | None = None,
         **params: object) -> torch.fx.GraphModule:
    """Compile a network to a trainable `torch.fx.GraphModule`. A network whose parameters
    would not fit in `max_bytes` (default: the memory available) is refused before allocation."""
    return compile(check(path, net, input, **params), max_bytes)


def compile(network: Network, max_bytes: int | None = None) -> torch.fx.GraphModule:  # noqa: A001
    """Compile an already checked network (from `check` or `check_text`)."""
    from .pytorch.fx_backend import compile_network

    return compile_network(network, max_bytes)


def networks(path: PathLike) -> dict[str, dict[str, str | None]]:
    """The networks a file defines: name -> {parameter: default as written, or None}."""
    return _networks(load_program(path))


def networks_in_text(text: str, file: str = "<string>") -> dict[str, dict[str, str | None]]:
    """`networks` for source text in memory."""
    return _networks(program_from_text(text, file))


def _networks(program: Program) -> dict[str, dict[str, str | None]]:
    return {name: {p.name: None if p.default is None else _default_text(p.default)
                   for p in program.networks[name].params} for name in program.own_networks}


def _default_text(expr: object) -> str:
    try:
        return show(evaluate(expr, Scope()))
    except CnnError:
        return "..."


def draw(path: PathLike, output: PathLike, net: str | None = None, input: str | tuple | None = None,
         depth: int | None = 0, full: bool = False, rankdir: str = "TB", shapes: bool = True, params: bool = False,
         theme: str = "color", **values: object) -> os.PathLike:
    """Draw a network into `output` (.svg, .pdf, .png or .dot); `full=True` draws every layer."""
    from .render.figure import draw_network

    return draw_network(check(path, net, input, **values), output, None if full else depth, rankdir, shapes,
                        params, theme)
