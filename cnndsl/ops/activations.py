"""Element-wise activations: shape in = shape out, no parameters, no MACs counted."""

from __future__ import annotations

from .registry import Op, Param, boolean, number, register

# op name -> (torch class name, has `inplace`)
_TORCH = {
    "relu": ("ReLU", True), "relu6": ("ReLU6", True), "sigmoid": ("Sigmoid", False), "tanh": ("Tanh", False),
    "gelu": ("GELU", False), "silu": ("SiLU", True), "hardswish": ("Hardswish", True),
    "hardsigmoid": ("Hardsigmoid", True),
}


def _activation(name: str, torch_class: str, inplace: bool) -> Op:
    params = (Param("inplace", boolean, False),) if inplace else ()

    def module(nn, a, s):  # noqa: ANN001, ANN202
        cls = getattr(nn, torch_class)  # a fixed table above, never user text
        return cls(inplace=a["inplace"]) if inplace else cls()
    return Op(name, "act", f"The {torch_class} activation (nn.{torch_class}).", params=params,
              infer=lambda a, s: (s[0],), module=module)


register(*(_activation(name, cls, inplace) for name, (cls, inplace) in _TORCH.items()))
register(Op(
    "leaky_relu", "act", "Leaky ReLU with the given negative slope (nn.LeakyReLU).",
    params=(Param("slope", number(), 0.01, positional=True), Param("inplace", boolean, False)),
    infer=lambda a, s: (s[0],), module=lambda nn, a, s: nn.LeakyReLU(a["slope"], a["inplace"]),
    label=lambda a: f"leaky_relu {a['slope']:g}", examples=(("leaky_relu 0.2", (3, 4, 4)),),
))
