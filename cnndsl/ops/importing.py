"""The rules `cnndsl import` applies to turn torch layers and calls into ops, registered by
the op modules beside the ops they produce, as onnx2torch registers one converter per ONNX
op type with `@add_converter`: an op's torch builder and its inverse are read and changed
together.

A rule is keyed by the dotted path of the torch object it reads: a layer class
(`torch.nn.Conv2d`), a function (`torch.cat`, `operator.add`) or a tensor method
(`torch.Tensor.chunk`). The paths are strings because cnndsl.ops never imports torch; the
importer (cnndsl/importer/rules.py) resolves them when it runs, and tests/test_registry.py
checks that each resolves.

A rule returns the ops it maps to, each with its *slots*: every argument of the op in the
registry's order, defaults included (the writer leaves out what equals the default), so that
two layers that differ only in values have the same slots. A layer that cannot be expressed
exactly (a padding mode, a count_include_pad=False pool, ...) raises :class:`UnmappedError`
with the reason.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from .registry import Shape

Slots = tuple[tuple[str, Any], ...]
Mapped = list[tuple[str, Slots]]  # (op name, slots), in the order the ops run
# a layer: (the module, its input's shape per sample) -> ops
ModuleRule = Callable[[Any, Shape], Mapped]
# what a call becomes: (ops, the tensors they read, number of outputs); no ops means the value
# passes through (a cat of one tensor)
Called = tuple[Mapped, list, int]
# a call: (args, kwargs, shape of the first argument) -> what it becomes
CallRule = Callable[[tuple, dict, Shape], Called]

MODULE_RULES: dict[str, ModuleRule] = {}
CALL_RULES: dict[str, CallRule] = {}

Rule = TypeVar("Rule", bound=Callable[..., Any])


@dataclass(frozen=True)
class SizeOf:
    """A call's argument that is the height and width of a traced tensor, `x.shape[-2:]`
    (`F.interpolate(y, size=x.shape[-2:])`): the importer passes it in place of the size, and a
    rule reads `tensor` (what the importer follows) as one of the call's inputs."""

    tensor: Any


class UnmappedError(Exception):
    """This layer or call has no exact cnndsl op; the message says what does not fit."""


def _registrar(table: dict[str, Rule], paths: tuple[str, ...]) -> Callable[[Rule], Rule]:
    def register(rule: Rule) -> Rule:
        for path in paths:
            if path in table:
                raise ValueError(f"two import rules for {path}")
            table[path] = rule
        return rule
    return register


def import_rule(*classes: str) -> Callable[[ModuleRule], ModuleRule]:
    """Registers a rule for the torch layers of these classes (dotted paths such as
    `torch.nn.Conv2d`); the importer traces them as leaves and calls the rule on each."""
    return _registrar(MODULE_RULES, classes)


def import_call_rule(*targets: str) -> Callable[[CallRule], CallRule]:
    """Registers a rule for calls of these functions or tensor methods (`torch.cat`,
    `torch.Tensor.chunk`) in a traced forward."""
    return _registrar(CALL_RULES, targets)


def canon(v: Any) -> Any:
    """One value for one meaning: (3, 3) -> 3, [1, 1] -> 1, tuples stay tuples otherwise."""
    if isinstance(v, (list, tuple)):
        v = tuple(canon(x) for x in v)
        return v[0] if len(v) == 2 and v[0] == v[1] else v
    return v


def arg(args: tuple, kwargs: dict, i: int, name: str, default: Any = None) -> Any:
    """A call's argument given by position `i` or by keyword `name`."""
    return args[i] if len(args) > i else kwargs.get(name, default)


def on_first(mapped: Mapped, args: tuple) -> Called:
    """The ops of a call that reads its first argument and gives one output."""
    return mapped, [args[0] if args else None], 1


def unmapped(why: str) -> Any:
    """Raises UnmappedError (for rules written as one expression)."""
    raise UnmappedError(why)
