"""The differential oracle's probe of receptive fields: a compiled model made a probe (`positive`)
and the input pixels that change each output pixel of it (`reached`).

cnndsl's fields are structural (docs/analysis.md): the input pixels the data flow of each op reaches,
whatever the values, as in Araujo, Norris and Sim (Distill 2019). The probe measures that with values
chosen so that nothing cancels a change on its way: positive weights and inputs, and every layer
whose output can be blind to a change of what it reads made one that is not, with the same reach:
max pools by means over the same windows, saturating activations by identities, norms over each
sample's statistics by `Statistics`, products by `_mul`. A norm's output does not change when its
input is shifted or scaled as a whole: layernorm along W after groupnorm (an affine map of each
row, per sample) is layernorm of the input alone, so torch's gradient outside the row is zero where
the data flow reads the whole group; and a product with a zero (a padded pixel) is zero.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from functools import partial
from math import prod

import torch
from torch import fx, nn

from cnndsl.ops import Shape
from cnndsl.ops.sliding import output_length
from cnndsl.ops.torch_layers import LayerNorm2d

Mean = Callable[[torch.Tensor], tuple[torch.Tensor, int]]  # (the mean each element reads, how many it averages)


class WindowMean(nn.Module):
    """The mean over each window of a max pool, dilated ones and ceil mode's last windows included:
    a depthwise convolution of equal weights, after zero padding at the end for the windows ceil
    mode keeps (those taps stay outside the input, as torch's, and reach no pixel)."""

    def __init__(self, pool: nn.MaxPool2d) -> None:
        super().__init__()
        self.k, self.s, self.p, self.d = (_pair(v) for v in (pool.kernel_size, pool.stride, pool.padding,
                                                              pool.dilation))
        self.ceil = pool.ceil_mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        extra = []
        for n, k, s, p, d in zip(x.shape[2:], self.k, self.s, self.p, self.d, strict=True):
            out = output_length(n, k, s, p, d, self.ceil)
            extra.append(max(0, (out - 1) * s + d * (k - 1) + 1 - (n + 2 * p)))
        x = nn.functional.pad(x, (self.p[1], self.p[1] + extra[1], self.p[0], self.p[0] + extra[0]))
        weight = torch.full((x.shape[1], 1, *self.k), 1.0 / (self.k[0] * self.k[1]), dtype=x.dtype)
        return nn.functional.conv2d(x, weight, stride=self.s, dilation=self.d, groups=x.shape[1])


class Statistics(nn.Module):
    """A norm over each sample's own statistics made a probe with its reach and none of its invariance:
    `(x + m (1 + log(1 + |x|))) / (1 + |m|)`, m the mean of what the norm's statistics read at x
    (`mean`). A change of m moves each element by its own amount, so no later norm cancels it as it
    cancels a shift or a scale of the whole (`x + m`, the earlier stand-in, was such a shift), and
    moves a zero element too (a norm moves it: zeros are where a strided transposed convolution
    without bias put no tap); positive values stay positive (a later relu hides no change), and the
    division keeps them near the input's scale, as the norm does (growing values saturate a later
    sigmoid or softmax in float64). Where the statistics hold one element (`single`) the norm's
    output is a constant, its bias, that reads nothing, as cnndsl's field says: ones (not zeros,
    which would hide the other factor of a later mul)."""

    def __init__(self, mean: Mean, single: bool = True) -> None:
        super().__init__()
        self.mean, self.single = mean, single

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m, n = self.mean(x)
        if n == 1 and self.single:
            return torch.ones_like(x)
        return (x + m * (1 + torch.log1p(x.abs()))) / (1 + m.abs())


def _group_mean(x: torch.Tensor, groups: int) -> tuple[torch.Tensor, int]:
    """Group norm's statistics (instance norm's with a group per channel): the group's channels at every position."""
    n, c = x.shape[:2]
    grouped = x.reshape(n, groups, -1)
    means = grouped.mean(-1).repeat_interleave(c // groups, 1)
    return means.reshape(n, c, *[1] * (x.dim() - 2)), grouped.shape[-1]


def _last_mean(x: torch.Tensor, axes: int) -> tuple[torch.Tensor, int]:
    """Layer norm's statistics: the last `axes` axes."""
    dims = tuple(range(-axes, 0))
    return x.mean(dims, keepdim=True), prod(x.shape[-axes:])


def _channel_mean(x: torch.Tensor) -> tuple[torch.Tensor, int]:
    """layernorm2d's statistics: the channels at each position."""
    return x.mean(1, keepdim=True), x.shape[1]


def _window_mean(x: torch.Tensor, size: int) -> tuple[torch.Tensor, int]:
    """Local response norm's: channels c - size // 2 .. c + (size - 1) // 2, zeros outside, as torch pads."""
    zeros = x.new_zeros(x.shape[0], 1, *x.shape[2:])
    padded = torch.cat([zeros.expand(-1, size // 2, *x.shape[2:]), x,
                        zeros.expand(-1, (size - 1) // 2, *x.shape[2:])], dim=1)
    return padded.unfold(1, size, 1).mean(-1), size


def _stand_in(module: nn.Module) -> nn.Module | None:
    """What `positive` swaps `module` for, None to keep it."""
    if isinstance(module, (nn.Hardsigmoid, nn.ReLU6, nn.Hardtanh, nn.Sigmoid, nn.Tanh)):
        return nn.Identity()
    if isinstance(module, nn.Softmax):  # over the channels, as a norm over them
        return Statistics(_channel_mean)
    if isinstance(module, nn.AdaptiveMaxPool2d):
        return nn.AdaptiveAvgPool2d(module.output_size)
    if isinstance(module, nn.MaxPool2d):
        if module.dilation not in (1, (1, 1)):
            return WindowMean(module)
        return nn.AvgPool2d(module.kernel_size, module.stride, module.padding, module.ceil_mode)
    if isinstance(module, nn.GroupNorm):
        return Statistics(partial(_group_mean, groups=module.num_groups))
    if isinstance(module, nn.InstanceNorm2d) and not module.track_running_stats:  # else element-wise in eval
        return Statistics(partial(_group_mean, groups=module.num_features))
    if isinstance(module, LayerNorm2d):
        return Statistics(_channel_mean)
    if isinstance(module, nn.LayerNorm):
        return Statistics(partial(_last_mean, axes=len(module.normalized_shape)))
    if isinstance(module, nn.LocalResponseNorm):  # of size 1 too: each channel reads itself
        return Statistics(partial(_window_mean, size=module.size), single=False)
    return None


def _mul(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """A product made a probe: a b + a + b reads what a b reads (broadcasting alike), but a factor
    that is zero (a center_crop's padding, the empty rows of a strided transposed convolution
    without bias) does not hide the other."""
    return a * b + a + b


def _pair(v: int | tuple[int, int]) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else tuple(v)


def positive(model: nn.Module) -> nn.Module:
    """The model made a probe of which pixels reach which (the module docstring): float64, eval,
    every parameter positive (scaled by its fan-in) so that a change of an input pixel is not
    cancelled on its way. Max pooling becomes average pooling over the same windows (a max passes
    on one pixel of its window, so a raised pixel that does not become the maximum would go unseen);
    a dilated one, which AvgPool2d cannot be, `WindowMean`, an adaptive one adaptive averages.
    Activations that saturate (hardsigmoid and relu6 are flat above 3 and 6, sigmoid and tanh are 1
    in float64 above about 37 and 19) become identities: element-wise either way, but a raised pixel past
    the flat part would change nothing. Norms over each sample's statistics (groupnorm, instancenorm
    without running statistics, layernorm, layernorm2d, lrn) and softmax over the channels (flat
    where one channel leads by 40) become `Statistics`; bn, in eval mode, is a per-channel scale
    and shift. Products in the graph become `_mul`, which a zero factor does not make blind."""
    for name, module in list(model.named_modules()):
        if (swapped := _stand_in(module)) is not None:
            parent, _, leaf = name.rpartition(".")
            setattr(model.get_submodule(parent) if parent else model, leaf, swapped)
    if isinstance(model, fx.GraphModule):  # products (mul, layer_scale, gates) become `_mul`
        for node in model.graph.nodes:
            if node.op == "call_function" and node.target in (operator.mul, torch.mul):
                node.target = _mul
        model.recompile()
    with torch.no_grad():
        generator = torch.Generator().manual_seed(0)
        for p in model.parameters():
            fan_in = p[0].numel() if p.dim() > 1 else 1
            p.copy_((torch.rand(p.shape, generator=generator) + 0.5) / fan_in)
    return model.double().eval()


def reached(model: nn.Module, shape: Shape, bump: float = 10.0, seeds: int = 2) -> list[torch.Tensor]:
    """For each output of `model` (each of shape C×H×W): a boolean (H, W, h, w) tensor, true
    where output pixel (h, w) changes when input pixel (H, W) is raised by `bump` in every
    channel, for either of `seeds` random inputs."""
    c, h, w = shape
    found: list[torch.Tensor] | None = None
    for seed in range(seeds):
        base = torch.rand(1, c, h, w, dtype=torch.float64, generator=torch.Generator().manual_seed(seed)) + 0.5
        batch = base.repeat(h * w + 1, 1, 1, 1)
        for i in range(h * w):
            batch[i + 1, :, i // w, i % w] += bump
        with torch.no_grad():
            outs = model(batch)
        outs = outs if isinstance(outs, tuple) else (outs,)
        hits = []
        for out in outs:
            change = (out[1:] - out[:1]).abs()
            scale = out[:1].abs().amax().clamp(min=1.0)
            hits.append((change > 1e-9 * scale).any(dim=1).reshape(h, w, *out.shape[2:]))
        found = hits if found is None else [a | b for a, b in zip(found, hits, strict=True)]
    return found or []
