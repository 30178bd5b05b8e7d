"""The Python API: `check`, `load`, `networks` (torch is imported only by `load`)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from .elaborate.frames import Limits
from .errors import CnnError
from .ir import Network
from .lang.source import Program, load_program, program_from_text
from .lang.values import Scope, evaluate, show
from .request import Request, parse_shape

if TYPE_CHECKING:
    import torch

PathLike = str | os.PathLike
Shape = str | tuple[int, ...] | list[int]

__all__ = ["Request", "check", "check_text", "compile", "draw", "load", "networks", "networks_in_text", "parse_shape"]


def check(path: PathLike, net: str | None = None, input: Shape | None = None,
          limits: Limits | None = None, **params: object) -> Network:
    """Parse, elaborate and shape-check a network; returns the graph with its warnings.
    `input` replaces the declared input shape (`"3x224x224"` or (3, 224, 224)); CnnError for
    any error in the file or the arguments."""
    return Request.of(load_program(path), net, input, params, limits).check()


def check_text(text: str, net: str | None = None, input: Shape | None = None, file: str = "<string>",
               limits: Limits | None = None, **params: object) -> Network:
    """`check` for source text in memory (imports resolve from the current directory)."""
    return Request.of(program_from_text(text, file), net, input, params, limits).check()


def load(path: PathLike, net: str | None = None, input: Shape | None = None, max_bytes: int | None = None,
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


def draw(path: PathLike, output: PathLike, net: str | None = None, input: Shape | None = None,
         depth: int | None = 0, full: bool = False, rankdir: str = "TB", shapes: bool = True, params: bool = False,
         theme: str = "color", **values: object) -> os.PathLike:
    """Draw a network into `output` (.svg, .pdf, .png or .dot); `full=True` draws every layer."""
    from .render.figure import draw_network

    return draw_network(check(path, net, input, **values), output, None if full else depth, rankdir, shapes,
                        params, theme)
