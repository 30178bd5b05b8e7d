"""Initialisers: the values `init=` and the `init` statement take (docs/language.md, "Initialisation").

An :class:`Init` names one of torch.nn.init's functions with its arguments, as plain data: the
front end builds and checks it (no torch here) and the torch backend applies it through a
table of torch.nn.init functions (cnndsl/pytorch/initialise.py). A layer's init is a
:class:`LayerInit`: one Init for its weight and one for its bias (either may be PyTorch's
default). Which tensors of an op's module are its weight and bias is the op's
`Op.init_params` (`("weight", "bias")` unless the op says otherwise), so every op with
parameters takes `init=` without code of its own.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

# the words `mode=` and `nonlinearity=` take bare, as torch.nn.init's strings
MODES = ("fan_in", "fan_out")
NONLINEARITIES = ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
                  "conv_transpose3d", "sigmoid", "tanh", "relu", "leaky_relu", "selu")


@dataclass(frozen=True)
class Init:
    """One initialiser: `name` is the language's (a key of the backend's table of torch.nn.init functions),
    `args` its keyword arguments in torch's names, every one given (defaults filled in)."""

    name: str
    args: tuple[tuple[str, object], ...] = ()

    @property
    def kwargs(self) -> dict[str, object]:
        """The arguments as a dict (torch.nn.init's keyword names)."""
        return dict(self.args)

    def __str__(self) -> str:
        """As the language writes it: `xavier_uniform`, `kaiming_normal(mode=fan_out, nonlinearity=relu)`,
        `normal(0, 0.01)`; arguments equal to their defaults are left out."""
        spec = SIGNATURES[self.name]
        shown = [(k, v) for (k, v), (_, d) in zip(self.args, spec, strict=True) if v != d]
        if not shown:
            return self.name
        return f"{self.name}(" + ", ".join(f"{k}={_word(v)}" for k, v in shown) + ")"


def _word(v: object) -> str:
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


DEFAULT = Init("default")


@dataclass(frozen=True)
class LayerInit:
    """A layer's initialisation: its weight's and its bias's (for batch norm: gamma and beta)."""

    weight: Init = DEFAULT
    bias: Init = DEFAULT

    def __str__(self) -> str:
        return str(self.weight) if self.bias == DEFAULT else f"({self.weight}, {self.bias})"

    @property
    def is_default(self) -> bool:
        """Whether both are PyTorch's own initialisation (nothing to apply)."""
        return self.weight == DEFAULT and self.bias == DEFAULT


# name -> its parameters in order (torch.nn.init's names) with defaults (REQUIRED_ARG: none)
REQUIRED_ARG = object()
SIGNATURES: dict[str, tuple[tuple[str, object], ...]] = {
    "default": (),
    "zeros": (),
    "ones": (),
    "constant": (("val", REQUIRED_ARG),),
    "normal": (("mean", 0.0), ("std", 1.0)),
    "uniform": (("a", 0.0), ("b", 1.0)),
    "trunc_normal": (("std", 1.0), ("a", -2.0), ("b", 2.0), ("mean", 0.0)),
    "xavier_uniform": (("gain", 1.0),),
    "xavier_normal": (("gain", 1.0),),
    "kaiming_uniform": (("a", 0.0), ("mode", "fan_in"), ("nonlinearity", "leaky_relu")),
    "kaiming_normal": (("a", 0.0), ("mode", "fan_in"), ("nonlinearity", "leaky_relu")),
    "orthogonal": (("gain", 1.0),),
}
_POSITIVE = {"std", "gain"}


def _checked(name: str, key: str, value: object) -> object:
    """One argument, checked: `mode` and `nonlinearity` are words, the others finite numbers (std and gain
    positive). Raises ValueError (the caller locates it)."""
    if key == "mode" or key == "nonlinearity":
        options = MODES if key == "mode" else NONLINEARITIES
        if value not in options:
            raise ValueError(f"{name}() {key} must be one of {', '.join(options)}, got {value!r}")
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name}() {key} must be a number, got {value!r}")
    if key in _POSITIVE and value <= 0:
        raise ValueError(f"{name}() {key} must be positive, got {value}")
    return float(value)


def make(name: str, *args: object, **kwargs: object) -> Init:
    """The Init `name(args, kwargs)`, its arguments bound to its signature and checked; TypeError for a
    wrong count or an unknown keyword, ValueError for a value it refuses (trunc_normal's a >= b)."""
    spec = SIGNATURES[name]
    if len(args) > len(spec):
        raise TypeError(f"{name}() takes {len(spec)} argument{'s' if len(spec) != 1 else ''}, got {len(args)}")
    values = dict(zip((k for k, _ in spec), args, strict=False))
    for key, value in kwargs.items():
        if key not in dict(spec):
            raise TypeError(f"{name}() has no argument '{key}'" + (f" (its arguments: {', '.join(k for k, _ in spec)})"
                                                                  if spec else " (it takes none)"))
        if key in values:
            raise TypeError(f"{name}() {key} is given twice")
        values[key] = value
    bound = []
    for key, default in spec:
        if key not in values and default is REQUIRED_ARG:
            raise TypeError(f"{name}() needs {key}")
        bound.append((key, _checked(name, key, values.get(key, default))))
    init = Init(name, tuple(bound))
    if name in ("uniform", "trunc_normal") and not init.kwargs["a"] < init.kwargs["b"]:
        raise ValueError(f"{name}() needs a < b")
    return init


def _constructor(name: str) -> Callable[..., Init]:
    def construct(*args: object, **kwargs: object) -> Init:
        return make(name, *args, **kwargs)
    construct.init_name = name  # type: ignore[attr-defined]
    construct.symbols = MODES + NONLINEARITIES  # type: ignore[attr-defined]  (bare words taken literally)
    construct.words = ("mode", "nonlinearity")  # type: ignore[attr-defined]  (keywords whose values are words)
    construct.__name__ = name
    return construct


# the language's built-in initialiser functions; a bare name (`xavier_uniform`) is the call without arguments
CONSTRUCTORS: dict[str, Callable[..., Init]] = {name: _constructor(name) for name in SIGNATURES}


# how a call of an initialiser with required arguments is written, for hints (`constant` bare is no initialiser)
_EXAMPLES = {"constant": "constant(0.1)"}

# initialisers whose torch function computes fans or a matrix: they need a tensor of two or more axes
NEEDS_TWO_AXES = ("xavier_uniform", "xavier_normal", "kaiming_uniform", "kaiming_normal", "orthogonal")


class InitError(ValueError):
    """A value refused as a layer's init: `hint` a likely fix, `part` the item of a (weight, bias) pair that
    is wrong (0 or 1; None: the value as a whole), so that the caller can point at it."""

    def __init__(self, message: str, hint: str | None = None, part: int | None = None) -> None:
        super().__init__(message)
        self.hint, self.part = hint, part


def initialiser_name(value: object) -> str | None:
    """The name of a built-in initialiser function given as a value (`zeros` written bare); else None."""
    name = getattr(value, "init_name", None)
    return name if name is not None and CONSTRUCTORS.get(name) is value else None


def as_init(value: object) -> Init | None:
    """An Init from a language value: an Init, or an initialiser function named bare (`zeros`); else None.
    InitError for a bare one that needs arguments (`constant`), with the call as the hint."""
    if isinstance(value, Init):
        return value
    name = initialiser_name(value)
    if name is None:
        return None
    try:
        return make(name)
    except TypeError as exc:  # a required argument: `constant` needs its value
        needed = ", ".join(k for k, d in SIGNATURES[name] if d is REQUIRED_ARG)
        raise InitError(str(exc), f"write it with its arguments: {_EXAMPLES.get(name, f'{name}({needed})')}") \
            from None


def layer_init(value: object) -> LayerInit:
    """A layer's init from a language value: one initialiser (the weight's; the bias keeps PyTorch's
    default) or a pair `(weight, bias)`. InitError when it is neither (its `part` says which item of a pair
    is wrong, where one is)."""
    if isinstance(value, LayerInit):
        return value
    single = as_init(value)
    if single is not None:
        return LayerInit(single)
    if isinstance(value, tuple) and len(value) == 2:
        parts = []
        for i, item in enumerate(value):
            try:
                parts.append(as_init(item))
            except InitError as exc:
                raise InitError(str(exc), exc.hint, i) from None
        if parts[0] is not None and parts[1] is not None:
            return LayerInit(parts[0], parts[1])
    raise InitError("an initialiser (`xavier_uniform`, `normal(0, 0.01)`, ...) or a pair (weight, bias)")


def misfit(init: LayerInit, axes: tuple[int, int]) -> str | None:
    """Why `init` cannot initialise a layer whose weight and bias have `axes` axes (0: the layer has no such
    tensor, and its part is left out), or None when it can: xavier, kaiming and orthogonal need two or more
    axes (torch computes fans or a matrix), which no bias and no norm's gamma has."""
    for what, part, n in (("weight", init.weight, axes[0]), ("bias", init.bias, axes[1])):
        if n and n < 2 and part.name in NEEDS_TWO_AXES:
            return f"{part} cannot initialise its {what}, a tensor of one axis"
    return None
