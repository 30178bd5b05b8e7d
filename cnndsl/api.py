"""The Python API: `check`, `load`, `networks` (torch is imported only by `load`)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from .elaborator import Limits, elaborate
from .errors import CnnError
from .ir import Network
from .parser import parse_expr
from .source import Program, load_program, program_from_text
from .values import Scope, evaluate, show

if TYPE_CHECKING:
    import torch

PathLike = str | os.PathLike


def parse_shape(text: str) -> tuple[int, ...]:
    """`3x224x224` -> (3, 224, 224); a CnnError for anything else."""
    parts = str(text).strip().lower().split("x")
    if not all(p.isdigit() and int(p) > 0 for p in parts):
        raise CnnError(f"an input shape looks like 3x224x224, got '{text}'")
    return tuple(int(p) for p in parts)


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


def available_memory() -> int | None:
    """Bytes of memory available now (Linux's MemAvailable, else free physical pages)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def refuse_oversized(network: Network, max_bytes: int | None = None) -> None:
    """Refuse to build a model whose float32 parameters alone exceed the memory at hand,
    before allocating anything; `check` and `summary` still work on it."""
    limit = max_bytes if max_bytes is not None else available_memory()
    need = network.count_params() * 4
    if limit is not None and need > limit:
        raise CnnError(f"network '{network.name}' has {network.count_params():,} parameters "
                       f"({need / 2**30:.1f} GiB as float32) but only {limit / 2**30:.1f} GiB of memory is available",
                       hint="`cnndsl check` and `cnndsl summary` work without building it")


def load(path: PathLike, net: str | None = None, input: str | tuple | None = None, max_bytes: int | None = None,
         **params: object) -> torch.fx.GraphModule:
    """Compile a network to a trainable `torch.fx.GraphModule`. A network whose parameters
    would not fit in `max_bytes` (default: the memory available) is refused before allocation."""
    return compile(check(path, net, input, **params), max_bytes)


def compile(network: Network, max_bytes: int | None = None) -> torch.fx.GraphModule:  # noqa: A001
    """Compile an already checked network (from `check` or `check_text`)."""
    from .fx_backend import compile_network

    refuse_oversized(network, max_bytes)
    return compile_network(network)


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
    from .figure import draw_network

    return draw_network(check(path, net, input, **values), output, None if full else depth, rankdir, shapes,
                        params, theme)
