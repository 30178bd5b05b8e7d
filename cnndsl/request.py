"""A request: the network a command line or an API call names, built once and read by every pass.

A command loads its file once and turns FILE, --net, --input and --set (an API call: the path or
text, `net=`, `input=` and keyword values) into one `Request`, checking each argument here, once.
Every network and input size the command elaborates is then a `dataclasses.replace` of that
request: no pass loads, parses or validates the arguments again, and none changes them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

from .elaborate.elaborator import elaborate
from .elaborate.frames import Limits
from .errors import CnnError, suggest
from .ir import Network
from .lang import syntax as ast
from .lang.limits import int_literal
from .lang.parser import parse_expr
from .lang.source import Program
from .lang.values import Scope, evaluate, show


@dataclass(frozen=True)
class Request:
    """One network of a loaded program with the caller's settings, all already checked.

    `params` are parameter values (ints, floats, bools, tuples) that override the network's defaults,
    read-only; `input` replaces the declared input shape (per sample, no batch axis, e.g. C×H×W);
    `limits` bounds elaboration. Build one with `Request.of`, which checks them (CnnError), and derive
    others with `dataclasses.replace`.
    """

    program: Program
    net: str
    params: Mapping[str, object] = field(default_factory=dict)
    input: tuple[int, ...] | None = None
    limits: Limits = field(default_factory=Limits)

    def __post_init__(self) -> None:
        object.__setattr__(self, "params", MappingProxyType(dict(self.params)))  # the caller's dict stays theirs

    @classmethod
    def of(cls, program: Program, net: str | None = None, input: str | Sequence[int] | None = None,
           params: Mapping[str, object] | None = None, limits: Limits | None = None) -> Request:
        """Check the caller's arguments: `input` as `3x224x224` or (3, 224, 224) (per sample, no batch axis),
        `params` as numbers, bools or tuples (lists become tuples), `net` as one of the program's networks
        (optional when the file defines one). Raises CnnError for any that is not, and when `net` is left
        out of a file that defines several networks or none."""
        shape = input_shape(input)
        values = {k: _python_value(k, v) for k, v in (params or {}).items()}
        if limits is not None and not isinstance(limits, Limits):
            raise CnnError(f"limits= takes a cnndsl.elaborate.Limits, got {type(limits).__name__}",
                           hint="cnndsl.elaborate.Limits(max_layers=...)")
        return cls(program, _pick(program, net), values, shape, limits or Limits())

    def check(self) -> Network:
        """Elaborate and shape-check the network with these settings; returns the `Network` (shapes per sample,
        no batch axis), its warnings attached. Each call elaborates anew. Raises CnnError for any error in
        the network's text with these values (a shape that does not fit, an unknown name, a missing
        parameter, a limit passed, ...); LintError only under CNNDSL_DEBUG, for a bug in cnndsl."""
        try:
            return elaborate(self.program, self.net, self.params, self.input, self.limits)
        except CnnError as exc:
            if self.input is not None and exc.diagnostic.hint is None:
                exc.diagnostic.hint = self._sized_by()
            raise

    def _sized_by(self) -> str | None:
        """Where the input was replaced and the network's own `input` is written with its parameters
        (U-Net's `input (1, size, size)`, whose crops follow `size`), a hint to set those instead."""
        definition = self.program.networks.get(self.net or next(iter(self.program.own_networks), ""))
        if definition is None:
            return None
        params = {p.name for p in definition.params}
        shapes = tuple(stmt.shape for stmt in definition.body if isinstance(stmt, ast.Input))
        used = sorted({name.id for name in ast.names_read(shapes)} & params)
        if not used:
            return None
        sets = " ".join(f"--set {name}=N" for name in used)
        return (f"{definition.name}'s input is written with {', '.join(used)}, which other layers read too: "
                f"set {'that' if len(used) == 1 else 'those'} ({sets}; {used[0]}=N in Python) rather than the input")


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


def input_shape(value: str | Sequence[int] | None) -> tuple[int, ...] | None:
    """An input override as a shape: text for `parse_shape`, or a tuple or list of positive ints."""
    if value is None:
        return None
    if isinstance(value, str):
        return parse_shape(value)
    shape = tuple(value) if isinstance(value, (tuple, list)) else ()
    if not shape or not all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in shape):
        raise CnnError(f"an input shape looks like 3x224x224 or (3, 224, 224), got {value!r}")
    return shape


def parse_value(text: str) -> object:
    """A `--set` value: any expression of the language without names (`4`, `(1, 2)`, `true`); CnnError for
    a syntax error, a name, or an expression that fails."""
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
            raise CnnError(f"no network '{net}' in {program.file}",
                           hint=suggest(net, program.networks) or f"networks: {', '.join(program.networks)}")
        return net
    if len(program.own_networks) == 1:
        return program.own_networks[0]
    if not program.own_networks:
        raise CnnError(f"{program.file} defines no network")
    raise CnnError(f"{program.file} defines several networks; choose one with net=",
                   hint="networks: " + ", ".join(program.own_networks))

