"""The few torch layers cnndsl defines itself, for ops torch.nn lacks. Each equals its
torchvision counterpart (same state_dict, same outputs); `cnndsl export --format py` copies
their source into the exported file, so it still needs only torch."""

from __future__ import annotations

import torch
from torch import nn


class StochasticDepth(nn.Module):
    """Randomly drops the input (a residual branch) per sample or per batch while training,
    scaling what is kept by 1/(1-p): Huang et al. 2016, as torchvision.ops.stochastic_depth."""

    def __init__(self, p: float, mode: str = "row") -> None:
        super().__init__()
        self.p, self.mode = p, mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """`x` unchanged in eval mode or with p = 0; while training, each sample (`row`) or the whole batch
        (`batch`) is zeroed with probability p and what is kept scaled by 1/(1-p)."""
        if not self.training or self.p == 0.0:
            return x
        shape = [x.shape[0]] + [1] * (x.ndim - 1) if self.mode == "row" else [1] * x.ndim
        keep = torch.empty(shape, dtype=x.dtype, device=x.device).bernoulli_(1.0 - self.p)
        return x * keep.div_(1.0 - self.p) if self.p < 1.0 else x * keep

    def extra_repr(self) -> str:
        """`p=0.2, mode='row'`: the repr is the constructor call the Python export writes."""
        return f"p={self.p}, mode={self.mode!r}"


class LayerNorm2d(nn.LayerNorm):
    """nn.LayerNorm over the channels of an NCHW tensor, at each position (ConvNeXt)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalise an (N, C, H, W) tensor over its channels at each position (channels-last layer_norm)."""
        x = x.permute(0, 2, 3, 1)
        x = nn.functional.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2)


CLASSES = (StochasticDepth, LayerNorm2d)
