"""Applying a layer's initialisation (cnndsl/ops/inits.py) to its built module with torch.nn.init.

The language's initialiser names map to torch.nn.init's functions through a fixed table; an
Init's arguments are already checked keyword arguments in torch's own names. Which tensors are
the weight and the bias is the op's `init_params`; a tensor the module does not have (a
convolution with `bias=false`, batch norm with `affine=false`) is left out.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch import nn

from ..errors import CnnError
from ..ir import Layer
from ..ops import Op
from ..ops.inits import Init, LayerInit

# the language's initialiser -> the torch.nn.init function that applies it (`default` applies nothing)
TORCH_INITS: dict[str, Callable[..., Any]] = {
    "zeros": nn.init.zeros_,
    "ones": nn.init.ones_,
    "constant": nn.init.constant_,
    "normal": nn.init.normal_,
    "uniform": nn.init.uniform_,
    "trunc_normal": nn.init.trunc_normal_,  # a and b are absolute bounds, as torchvision passes them
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


def initialise(module: nn.Module, layer: Layer) -> None:
    """Apply a layer's init to its built module: the weight's to its op's `init_params[0]`, the bias's to the
    second, where the module has them. CnnError at the layer for an initialiser torch refuses on that tensor
    (`xavier_uniform` needs two dimensions: not a bias or a batch norm's gamma)."""
    if layer.init is None:
        return
    for name, part in zip(layer.entry.init_params, (layer.init.weight, layer.init.bias), strict=True):
        tensor = getattr(module, name, None)
        if isinstance(tensor, torch.Tensor):
            _apply_located(tensor, part, layer, name)


def initialise_parameter(parameter: torch.Tensor, layer: Layer) -> None:
    """Apply a layer's init to the one tensor an op stores at the layer's own name (`Op.parameter`,
    layer_scale's): its weight's part (it has no bias). CnnError as `initialise`."""
    if layer.init is not None:
        _apply_located(parameter, layer.init.weight, layer, "weight")


def _apply_located(tensor: torch.Tensor, part: Init, layer: Layer, name: str) -> None:
    try:
        apply_init(tensor, part)
    except (ValueError, RuntimeError) as exc:
        raise CnnError(f"{layer.qualname} ({layer.label}): {part} cannot initialise its {name} of shape "
                       f"{tuple(tensor.shape)}: {exc}", layer.span,
                       "xavier, kaiming and orthogonal need a weight of two or more dimensions", layer.chain) \
            from None


def init_code(tensor: str, init: Init) -> str | None:
    """The Python statement that applies `init` to the tensor the expression `tensor` names
    (`nn.init.kaiming_normal_(self.conv1.weight, a=0.0, mode='fan_out', nonlinearity='relu')`); None for
    `default`."""
    if init.name == "default":
        return None
    args = "".join(f", {k}={v!r}" for k, v in init.args)
    return f"nn.init.{TORCH_INITS[init.name].__name__}({tensor}{args})"


def init_lines(module: nn.Module, op: Op, init: LayerInit | None, reference: str) -> Iterator[str]:
    """The statements that initialise a built layer as `initialise` does, its module named by `reference`."""
    if init is None:
        return
    for name, part in zip(op.init_params, (init.weight, init.bias), strict=True):
        code = init_code(f"{reference}.{name}", part)
        if code is not None and isinstance(getattr(module, name, None), torch.Tensor):
            yield code
