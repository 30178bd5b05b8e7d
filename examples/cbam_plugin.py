"""A cnndsl plugin: CBAM's two attention modules as ops (Woo et al., "CBAM: Convolutional Block
Attention Module", ECCV 2018), as the authors' code builds them (github.com/Jongchan/attention-module).

    channel_attention [reduction]   x * sigmoid(mlp(avgpool(x)) + mlp(maxpool(x))), the MLP
                                    C -> C/reduction -> C (nn.Linear with bias, ReLU) shared by both
    spatial_attention [kernel]      x * sigmoid(bn(conv kxk([max over C, mean over C])))), the conv
                                    2 -> 1 without bias, padded to keep HxW

Use it by name, never from the .cnn text: `cnndsl check examples/cbam.cnn --plugin
examples/cbam_plugin.py`, `cnndsl.load("examples/cbam.cnn", plugins=["examples/cbam_plugin.py"])`,
or install it with an entry point `[project.entry-points."cnndsl.ops"] cbam = "cbam_plugin"` and
name it `--plugin cbam` (docs/plugins.md).

Importing this module does not import torch: the torch modules are built by `_modules()`, which
runs only when cnndsl builds a model, so `cnndsl check` and `summary` stay torch-free.
"""

from __future__ import annotations

import functools

import cnndsl
from cnndsl.ops import ArgError, Attrs, Family, Op, Param, Shape, ShapeError, integer


def _spatial(op: str, shape: Shape) -> tuple[int, int, int]:
    if len(shape) != 3:
        raise ShapeError(f"{op} expects a CxHxW input (got {'x'.join(map(str, shape))})")
    return shape  # type: ignore[return-value]


def _hidden(a: Attrs, shape: Shape) -> int:
    """The MLP's hidden width, C // reduction, as the authors' code computes it."""
    return _spatial("channel_attention", shape)[0] // a["reduction"]


def _channel_shape(a: Attrs, s: list[Shape]) -> tuple[Shape, ...]:
    if _hidden(a, s[0]) < 1:
        raise ShapeError(f"channel_attention {a['reduction']} needs at least {a['reduction']} channels "
                         f"(got {s[0][0]})")
    return (s[0],)


def _odd(v: object) -> int:
    """A parameter kind: an odd positive kernel size (the padding keeps HxW only then)."""
    if isinstance(v, bool) or not isinstance(v, int) or v < 1 or v % 2 == 0:
        raise ArgError("an odd positive integer")
    return v


def _whole_input(a: Attrs, shape: Shape) -> tuple[tuple[float, ...], ...]:
    """Each output position sees the whole input (through the global pools): a centred window
    2n-1 wide, stride 1, padded n-1."""
    return tuple((2 * n - 1, 1, 1, n - 1) for n in shape[1:])


@functools.cache
def _modules():  # noqa: ANN202 (torch classes, made on first use)
    import torch
    from torch import nn

    class ChannelAttention(nn.Module):
        """CBAM's channel gate (Woo et al. 2018, section 3)."""

        def __init__(self, channels: int, reduction: int) -> None:
            super().__init__()
            self.mlp = nn.Sequential(nn.Flatten(), nn.Linear(channels, channels // reduction), nn.ReLU(),
                                     nn.Linear(channels // reduction, channels))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            avg = self.mlp(torch.nn.functional.adaptive_avg_pool2d(x, 1))
            top = self.mlp(torch.nn.functional.adaptive_max_pool2d(x, 1))
            return x * torch.sigmoid(avg + top)[:, :, None, None]

    class SpatialAttention(nn.Module):
        """CBAM's spatial gate (Woo et al. 2018, section 3)."""

        def __init__(self, kernel: int) -> None:
            super().__init__()
            self.conv = nn.Conv2d(2, 1, kernel, padding=kernel // 2, bias=False)
            self.bn = nn.BatchNorm2d(1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            pooled = torch.cat([x.amax(dim=1, keepdim=True), x.mean(dim=1, keepdim=True)], dim=1)
            return x * torch.sigmoid(self.bn(self.conv(pooled)))

    return ChannelAttention, SpatialAttention


PER_WEIGHT_USE = "one per weight per position it is applied at (the MLP twice), gating not counted"

CHANNEL_ATTENTION = Op(
    "channel_attention", Family.OTHER,
    "CBAM's channel attention (Woo et al. 2018): the input times a per-channel sigmoid gate from an MLP "
    "shared by its average and max pools.",
    params=(Param("reduction", integer(1), 16, positional=True, note="C / hidden width"),),
    infer=_channel_shape,
    count_params=lambda a, s: 2 * s[0][0] * _hidden(a, s[0]) + _hidden(a, s[0]) + s[0][0],
    count_macs=lambda a, s, o: 2 * 2 * s[0][0] * _hidden(a, s[0]), macs=PER_WEIGHT_USE,
    module=lambda nn, a, s: _modules()[0](s[0][0], a["reduction"]),
    window=_whole_input,
    examples=(("channel_attention 2", (4, 3, 3)),),
)

SPATIAL_ATTENTION = Op(
    "spatial_attention", Family.OTHER,
    "CBAM's spatial attention (Woo et al. 2018): the input times a sigmoid gate from a kxk conv and batch "
    "norm over its channel max and mean.",
    params=(Param("kernel", _odd, 7, positional=True, note="odd int"),),
    infer=lambda a, s: (_spatial("spatial_attention", s[0]) and s[0],),
    count_params=lambda a, s: 2 * a["kernel"] ** 2 + 2,
    count_macs=lambda a, s, o: 2 * a["kernel"] ** 2 * s[0][1] * s[0][2], macs=PER_WEIGHT_USE,
    module=lambda nn, a, s: _modules()[1](a["kernel"]),
    window=lambda a, shape: ((a["kernel"], 1, 1, a["kernel"] // 2),) * 2,
    examples=(("spatial_attention 3", (4, 5, 5)),),
)

cnndsl.register_ops(CHANNEL_ATTENTION, SPATIAL_ATTENTION)
