"""Applying a layer's initialisation (cnndsl/ops/inits.py) to its built module with torch.nn.init.

The language's initialiser names map to torch.nn.init's functions through a fixed table; an
Init's arguments are already checked keyword arguments in torch's own names. Which tensors are
the weight and the bias is the op's `init_params`; a tensor the module does not have (a
convolution with `bias=false`, batch norm with `affine=false`) is left out.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from ..ops import Op
from ..ops.inits import Init, LayerInit


def _constant(tensor: torch.Tensor, val: float) -> torch.Tensor:
    return nn.init.constant_(tensor, val)


def _trunc_normal(tensor: torch.Tensor, std: float, a: float, b: float, mean: float) -> torch.Tensor:
    # torch's a and b are absolute bounds, as torchvision's GoogLeNet passes them (a=-2, b=2 with std 0.01)
    return nn.init.trunc_normal_(tensor, mean=mean, std=std, a=a, b=b)


# the language's initialiser -> the torch.nn.init function that applies it (`default` applies nothing)
TORCH_INITS: dict[str, Callable[..., Any]] = {
    "zeros": nn.init.zeros_,
    "ones": nn.init.ones_,
    "constant": _constant,
    "normal": nn.init.normal_,
    "uniform": nn.init.uniform_,
    "trunc_normal": _trunc_normal,
    "xavier_uniform": nn.init.xavier_uniform_,
    "xavier_normal": nn.init.xavier_normal_,
    "kaiming_uniform": nn.init.kaiming_uniform_,
    "kaiming_normal": nn.init.kaiming_normal_,
    "orthogonal": nn.init.orthogonal_,
}


def apply_init(tensor: torch.Tensor, init: Init) -> None:
    """Initialise `tensor` in place by `init` (nothing for `default`: the module's own initialisation stays),
    without recording it for autograd."""
    if init.name == "default":
        return
    with torch.no_grad():
        TORCH_INITS[init.name](tensor, **init.kwargs)


def initialise(module: nn.Module, op: Op, init: LayerInit | None) -> None:
    """Apply a layer's init to its module: the weight's to `op.init_params[0]`, the bias's to the second,
    where the module has them."""
    if init is None:
        return
    for name, part in zip(op.init_params, (init.weight, init.bias), strict=True):
        tensor = getattr(module, name, None)
        if isinstance(tensor, torch.Tensor):
            apply_init(tensor, part)
