"""Which torch layer or function becomes which cnndsl op, with which values.

The rules live with their ops (cnndsl/ops/, registered with `import_rule` and
`import_call_rule`, keyed by dotted paths because the registry never imports torch); this
module resolves those paths to torch's objects and looks rules up by the object a traced
node calls. A layer or call without a rule raises :class:`UnmappedError` with an empty
message; one that has a rule but no exact op raises it with the reason.
"""

from __future__ import annotations

import pkgutil
from typing import Any

import torch
from torch import nn

from ..ops.importing import CALL_RULES, MODULE_RULES, Called, CallRule, Mapped, ModuleRule, UnmappedError

__all__ = ["LEAVES", "UnmappedError", "map_function", "map_module"]


def _resolved(rules: dict[str, Any]) -> dict[Any, Any]:
    """{torch object: rule} from {dotted path: rule}; each path names a fixed object of torch,
    torchvision or cnndsl (never user text)."""
    return {pkgutil.resolve_name(path): rule for path, rule in rules.items()}


def _pass_through(args: tuple, kwargs: dict, shape: tuple) -> Called:
    return [], [args[0]], 1


MODULES: dict[type, ModuleRule] = _resolved(MODULE_RULES)
LEAVES = frozenset(MODULES)
# `x.contiguous()` changes the memory layout only: the value passes through (importer plumbing, no op)
CALLS: dict[Any, CallRule] = {**_resolved(CALL_RULES), torch.Tensor.contiguous: _pass_through}


def map_module(module: nn.Module, in_shape: tuple) -> Mapped:
    """The ops of one torch layer (exact type; a subclass may compute something else)."""
    rule = MODULES.get(type(module))
    if rule is None:
        raise UnmappedError("")
    return rule(module, in_shape)


def map_function(target: Any, args: tuple, kwargs: dict, shape: tuple) -> Called:
    """-> ([(op, slots), ...] in order, empty for a pass-through; tensor arguments; number of outputs).
    `target` is an fx node's: a function, or the name of a tensor method."""
    rule = CALLS.get(getattr(torch.Tensor, target, None) if isinstance(target, str) else target)
    if rule is None:
        raise UnmappedError("")
    return rule(args, kwargs, shape)
