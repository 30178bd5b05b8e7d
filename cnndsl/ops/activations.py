"""Element-wise activations: shape in = shape out, no MACs counted (fvcore counts none), no
parameters but prelu's slopes; with the rules that import torch's activation layers and
functions as them."""

from __future__ import annotations

from typing import Any

from . import lowering
from .importing import Called, CallRule, Mapped, ModuleRule, UnmappedError, import_call_rule, import_rule, on_first
from .registry import Attrs, Family, Op, Param, Shape, ShapeError, boolean, number, positive, register

# op name -> (torch class name, has `inplace`); each imports from its torch class as it is
_TORCH = {
    "relu": ("ReLU", True), "relu6": ("ReLU6", True), "sigmoid": ("Sigmoid", False), "tanh": ("Tanh", False),
    "silu": ("SiLU", True), "hardswish": ("Hardswish", True), "hardsigmoid": ("Hardsigmoid", True),
    "mish": ("Mish", True),
}


def _activation(name: str, torch_class: str, inplace: bool) -> Op:
    params = (Param("inplace", boolean, False, in_figures=False),) if inplace else ()

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
    params=(Param("slope", number(), 0.01, positional=True), Param("inplace", boolean, False, in_figures=False)),
    infer=lambda a, s: (s[0],), module=lambda nn, a, s: nn.LeakyReLU(a["slope"], a["inplace"]),
    examples=(("leaky_relu 0.2", (3, 4, 4)),),
)


def _prelu_slopes(a: Attrs, s: list[Shape]) -> int:
    """nn.PReLU's `num_parameters`: one slope, or one per channel (the input's first axis)."""
    if a["channels"] and not s[0]:
        raise ShapeError("prelu channels=true needs an input with a channel axis")
    return s[0][0] if a["channels"] else 1


PRELU = Op(
    "prelu", Family.ACT, "Parametric ReLU with a learned negative slope, one for all channels or one per channel "
    "with `channels=true` (`nn.PReLU`; the slopes start at `init`, a number or an initialiser).",
    params=(Param("channels", boolean, False), Param("init", number(), 0.25)),
    infer=lambda a, s: (_prelu_slopes(a, s) and s[0],), count_params=_prelu_slopes,
    module=lambda nn, a, s: nn.PReLU(_prelu_slopes(a, s), a["init"]), init_axes=lambda a: (1, 0),
    examples=(("prelu", (3, 4, 4)), ("prelu channels=true init=0.1", (5, 3, 3)), ("prelu channels=true", (6,))),
)
# alpha >= 0: torch's in-place ELU (which the backend chooses after conv, bn, ...) has no backward for alpha < 0
ELU = Op(
    "elu", Family.ACT, "The ELU activation with the given alpha (`nn.ELU`).",
    params=(Param("alpha", number(0.0), 1.0), Param("inplace", boolean, False, in_figures=False)),
    infer=lambda a, s: (s[0],), module=lambda nn, a, s: nn.ELU(a["alpha"], a["inplace"]),
    examples=(("elu", (3, 4, 4)), ("elu alpha=0.5", (5,))),
)
SOFTPLUS = Op(
    "softplus", Family.ACT, "Softplus, log(1 + exp(beta x)) / beta, linear above `threshold` (`nn.Softplus`).",
    params=(Param("beta", positive, 1.0), Param("threshold", number(), 20.0)),
    infer=lambda a, s: (s[0],), module=lambda nn, a, s: nn.Softplus(a["beta"], a["threshold"]),
    export_lowering=lowering.softplus_threshold,
    examples=(("softplus", (3, 4, 4)), ("softplus beta=2 threshold=1", (3, 4, 4))),
)
register(*ACTIVATIONS.values(), GELU, LEAKY_RELU, PRELU, ELU, SOFTPLUS)


@import_rule("torch.nn.GELU")
def _import_gelu(m: Any, shape: Shape) -> Mapped:
    if m.approximate != "none":
        raise UnmappedError(f"approximate={m.approximate!r}")
    return [(GELU.name, ())]


@import_rule("torch.nn.LeakyReLU")
def _import_leaky_relu(m: Any, shape: Shape) -> Mapped:
    return [(LEAKY_RELU.name, (("slope", m.negative_slope),))]


@import_rule("torch.nn.PReLU")
def _import_prelu(m: Any, shape: Shape) -> Mapped:
    if m.num_parameters != 1 and (not shape or m.num_parameters != shape[0]):
        raise UnmappedError(f"num_parameters={m.num_parameters} (prelu has one slope or one per channel)")
    return [(PRELU.name, (("channels", m.num_parameters != 1), ("init", float(m.init))))]


@import_rule("torch.nn.ELU")
def _import_elu(m: Any, shape: Shape) -> Mapped:
    if m.alpha < 0:
        raise UnmappedError(f"alpha={m.alpha} (elu takes alpha >= 0)")
    return [(ELU.name, (("alpha", float(m.alpha)),))]


@import_rule("torch.nn.Softplus")
def _import_softplus(m: Any, shape: Shape) -> Mapped:
    if m.beta <= 0:
        raise UnmappedError(f"beta={m.beta} (softplus takes beta > 0)")
    return [(SOFTPLUS.name, (("beta", float(m.beta)), ("threshold", float(m.threshold))))]


def _unary(op: Op) -> CallRule:
    """The rule for a function or method call that is the op on its first argument."""
    def rule(args: tuple, kwargs: dict, shape: Shape) -> Called:
        return on_first([(op.name, ())], args)
    return rule


import_call_rule("torch.nn.functional.relu", "torch.relu", "torch.Tensor.relu")(_unary(ACTIVATIONS["relu"]))
import_call_rule("torch.sigmoid", "torch.nn.functional.sigmoid", "torch.Tensor.sigmoid")(_unary(ACTIVATIONS["sigmoid"]))
