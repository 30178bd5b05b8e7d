"""Element-wise activations: shape in = shape out, no parameters, no MACs counted; with the
rules that import torch's activation layers and functions as them."""

from __future__ import annotations

from typing import Any

from .importing import Called, CallRule, Mapped, ModuleRule, UnmappedError, import_call_rule, import_rule, on_first
from .registry import Family, Op, Param, Shape, boolean, number, register

# op name -> (torch class name, has `inplace`); each imports from its torch class as it is
_TORCH = {
    "relu": ("ReLU", True), "relu6": ("ReLU6", True), "sigmoid": ("Sigmoid", False), "tanh": ("Tanh", False),
    "silu": ("SiLU", True), "hardswish": ("Hardswish", True), "hardsigmoid": ("Hardsigmoid", True),
}


def _activation(name: str, torch_class: str, inplace: bool) -> Op:
    params = (Param("inplace", boolean, False),) if inplace else ()

    def module(nn, a, s):  # noqa: ANN001, ANN202
        cls = getattr(nn, torch_class)  # a fixed table above, never user text
        return cls(inplace=a["inplace"]) if inplace else cls()
    return Op(name, Family.ACT, f"The {torch_class} activation (`nn.{torch_class}`).", params=params,
              infer=lambda a, s: (s[0],), module=module)


def _same(op: Op) -> ModuleRule:
    """The rule for a torch layer that is the op with no values."""
    def rule(m: Any, shape: Shape) -> Mapped:
        return [(op.name, ())]
    return rule


ACTIVATIONS = {name: _activation(name, cls, inplace) for name, (cls, inplace) in _TORCH.items()}
for name, (cls, _) in _TORCH.items():
    import_rule(f"torch.nn.{cls}")(_same(ACTIVATIONS[name]))
GELU = _activation("gelu", "GELU", False)
LEAKY_RELU = Op(
    "leaky_relu", Family.ACT, "Leaky ReLU with the given negative slope (`nn.LeakyReLU`).",
    params=(Param("slope", number(), 0.01, positional=True), Param("inplace", boolean, False)),
    infer=lambda a, s: (s[0],), module=lambda nn, a, s: nn.LeakyReLU(a["slope"], a["inplace"]),
    examples=(("leaky_relu 0.2", (3, 4, 4)),),
)
register(*ACTIVATIONS.values(), GELU, LEAKY_RELU)


@import_rule("torch.nn.GELU")
def _import_gelu(m: Any, shape: Shape) -> Mapped:
    if m.approximate != "none":
        raise UnmappedError(f"approximate={m.approximate!r}")
    return [(GELU.name, ())]


@import_rule("torch.nn.LeakyReLU")
def _import_leaky_relu(m: Any, shape: Shape) -> Mapped:
    return [(LEAKY_RELU.name, (("slope", m.negative_slope),))]


def _unary(op: Op) -> CallRule:
    """The rule for a function or method call that is the op on its first argument."""
    def rule(args: tuple, kwargs: dict, shape: Shape) -> Called:
        return on_first([(op.name, ())], args)
    return rule


import_call_rule("torch.nn.functional.relu", "torch.relu", "torch.Tensor.relu")(_unary(ACTIVATIONS["relu"]))
import_call_rule("torch.sigmoid", "torch.nn.functional.sigmoid", "torch.Tensor.sigmoid")(_unary(ACTIVATIONS["sigmoid"]))
