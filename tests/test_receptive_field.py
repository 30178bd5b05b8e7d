"""The receptive field of every output pixel of every C×H×W layer (`Field.pixel`) is exactly the
set of input pixels the compiled model's gradient reaches, for the kinds the differential oracle
found the closed form wrong on (squeeze-and-excitation gates, bilinear and nearest upsampling,
`linear`/`layernorm` along W, `permute`, adaptive pooling that does not divide) and the windows
around them (padding, dilation, `pad=same` with an even kernel, ceil mode, grouped channels)."""

from __future__ import annotations

import pytest
import torch

import cnndsl
from benchmarks.oracle_probe import positive
from cnndsl.analysis import analyse
from cnndsl.ir import Ref
from cnndsl.ops import REGISTRY
from cnndsl.ops.reach import from_window

torch.set_default_dtype(torch.float32)


def measured(net, layer) -> list[list[tuple[tuple[int, int], tuple[int, int]] | None]]:  # noqa: ANN001
    """Per output pixel of `layer`: the first and last input row and column where the gradient of
    the pixel (summed over channels) is not zero (beyond rounding), with positive weights and inputs (max pooling
    averaged over the same windows, so that no input pixel is hidden); None where none is."""
    model = positive(cnndsl.compile(net.with_outputs([Ref(layer)])))
    _, h, w = layer.shape
    x = (torch.rand(1, *net.input_shape, dtype=torch.float64, generator=torch.Generator().manual_seed(0)) + 0.5)
    jac = torch.autograd.functional.jacobian(lambda t: model(t)[0].sum(0), x)  # (h, w, 1, C, H, W)
    size = jac.abs().sum(dim=(2, 3))
    reach = size > 1e-12 * size.max()  # beyond rounding (a norm over one element has a gradient of 1e-17)
    out = []
    for i in range(h):
        row = []
        for j in range(w):
            hit = reach[i, j]
            rows, cols = hit.any(1).nonzero().flatten(), hit.any(0).nonzero().flatten()
            row.append(None if not len(rows) else ((rows.min().item(), rows.max().item()),
                                                   (cols.min().item(), cols.max().item())))
        out.append(row)
    return out


def fields_equal_gradients(body: str, shape: str) -> None:
    net = cnndsl.check_text(f"network Net {{\n    input {shape}\n    {body}\n}}\n")
    rows = {r.name: r for r in analyse(net).rows}
    checked = 0
    for layer in net.layers():
        field = rows[layer.qualname].field
        if not layer.inputs or field is None:
            continue
        got = measured(net, layer)
        for i, row in enumerate(got):
            for j, want in enumerate(row):
                assert field.pixel(i, j) == (want or (None, None)), (layer.qualname, layer.label, i, j)
                checked += want is not None
        # the summary's rf: the widest field over the pixels, per axis
        widest = tuple(max((p[a][1] - p[a][0] + 1 for row in got for p in row if p), default=0) for a in (0, 1))
        if any(widest):
            assert rows[layer.qualname].rf == widest, (layer.qualname, layer.label)
    assert checked


CASES = {
    # the oracle's kinds, each after a stride so that an offset would show
    "squeeze-and-excitation": ("conv 3x3/2 4 pad=1, mul { identity | gap, conv 1x1 2, relu, conv 1x1 4, sigmoid }",
                               "3x11x11"),
    "gate after a stride": ("conv 3x3/2 4, mul { conv 3x3 4 pad=1 | adaptive_avgpool 1x1, sigmoid }", "2x13x13"),
    "bilinear": ("conv 3x3/2 2, upsample 2 mode=bilinear", "1x12x11"),
    "bilinear 3": ("maxpool 2, upsample 3 mode=bilinear", "1x10x8"),
    "bilinear 1.5": ("conv 3x3 2, upsample 1.5 mode=bilinear", "1x9x10"),
    "nearest": ("maxpool 3x1, upsample 3", "1x6x5"),
    "nearest after a stride": ("conv 3x3/2 2 pad=1, upsample 2, conv 3x3 2", "1x11x9"),
    "nearest 2.5": ("avgpool 2, upsample 2.5", "1x10x8"),
    # a reshape gathers each output pixel's channels from pixels of their own: followed element by element
    "reshape": ("conv 3x3 4 pad=1, reshape 4x8x3, conv 3x3 2 groups=2", "2x4x6"),
    "reshape of a concat": ("concat { reshape 8x2x4 | reshape 8x4x2, permute (0, 2, 1) }, groupnorm 4, "
                            "reshape 4x8x4, lrn 3, adaptive_avgpool 3x3", "4x4x4"),
    "reshape in a merge": ("mul { reshape 7x3x5 | permute (2, 0, 1) }, upsample 2, conv_transpose 3x3/2 2, "
                           "reshape 6x7x13, layernorm, avgpool 2 ceil=true", "3x5x7"),
    # a dilated window reads its taps, not the rows between them (which read elsewhere or nothing)
    "dilation after a crop's padding": ("center_crop 8x3, conv 3x1 3 dilation=3x3", "8x5x7"),
    "dilated pool after a stride 2 transposed conv": ("conv_transpose 1x1/2 2, maxpool 3x3/1 dilation=2", "1x5x5"),
    "dilated transposed convs": ("conv_transpose 3x1/7 1 dilation=3, conv_transpose 2x3 1 pad=1x3 dilation=3x3",
                                 "2x5x8"),
    "linear along W": ("linear 2", "1x3x5"),
    "linear after a stride": ("conv 3x3/2 3, linear 4, conv 3x3 2 pad=1", "2x11x11"),
    "layernorm along W": ("conv 3x3 2, layernorm", "1x7x6"),
    "layernorm before a relu": ("layernorm, layer_scale 0.75, relu6, maxpool 2x3 pad=1 ceil=true, silu, linear 1",
                                "1x9x7"),
    "permute": ("conv 3x3 2 pad=1, permute (1, 2, 0)", "1x5x5"),
    "permute and back": ("conv 3x1/2 3, permute (2, 0, 1), conv 3x3 4 pad=1, permute (1, 2, 0)", "3x9x8"),
    "channels last": ("conv 2x2/2 4, permute (1, 2, 0), layernorm, linear 8, permute (2, 0, 1), conv 3x3 4",
                      "2x12x12"),
    "adaptive": ("adaptive_avgpool 3x4", "1x7x10"),
    "adaptive after a stride": ("conv 3x3/2 2, adaptive_avgpool 4x3", "1x15x11"),
    # windows
    "padding beyond the kernel": ("conv 1x1 2 pad=2, conv 3x3 2", "1x5x6"),
    "dilation and gaps": ("avgpool 1x1/3, conv 3x3 2 dilation=2 pad=1", "1x13x12"),
    "same with an even kernel": ("conv 4x2 2 pad=same, conv 2x2 2 pad=same dilation=3", "1x9x9"),
    "ceil mode": ("maxpool 3x3/2 pad=1 ceil=true, avgpool 2 ceil=true", "1x10x9"),
    "residual": ("conv 3x3 2 pad=1, add { identity | conv 3x3/1 2 pad=2 dilation=2 }", "1x8x8"),
    "concat and grouped channels": ("concat { conv 5x5 2 pad=2 | conv 1x1 2 }, conv 1x1 2 groups=2", "1x7x7"),
    "a constant norm beside a live branch": ("maxpool 1/2 ceil=true, mul { identity | layernorm, maxpool 1/2 }",
                                            "1x3x1"),
    "softmax over one channel": ("conv 3x3 1, add { softmax | conv 1x1 1 }", "1x6x6"),
    "lrn and softmax": ("conv 3x3 4, lrn 3, softmax", "1x7x7"),
    "split keeps its branch": ("x = concat { conv 3x3 2 pad=1 | conv 1x1 2 }\n    (a, b) = x -> split 2\n"
                               "    c = b -> relu\n    d = add(a, c)\n    output d", "1x6x6"),
    "channel shuffle": ("concat { conv 3x3 2 pad=1 | identity }, channel_shuffle 3, permute (1, 0, 2)",
                        "4x5x5"),
    # the ops of generators, U-Net and the newer norms and pools
    "conv_transpose": ("conv 3x3/2 2, conv_transpose 3x3/2 2 pad=1 output_pad=1", "1x11x9"),
    "conv_transpose dilated and grouped": ("conv_transpose 3x2/3 4 dilation=2x3 pad=2x1 groups=2", "2x5x6"),
    "conv_transpose 4x4/2 after a stride": ("avgpool 2, conv_transpose 4x4/2 2 pad=1", "1x8x10"),
    "pixel_shuffle": ("conv 3x3/2 8 pad=1, pixel_shuffle 2, conv 3x3 2", "1x9x8"),
    "pixel_unshuffle": ("conv 3x3 2 pad=1, pixel_unshuffle 3", "1x9x6"),
    "center_crop": ("conv 3x3 2, center_crop 3x4", "1x9x9"),
    "center_crop that pads": ("maxpool 2, center_crop 6x3", "1x6x8"),
    "groupnorm": ("conv 3x3/2 4, groupnorm 2", "1x9x9"),
    "instancenorm": ("conv 1x1 2, instancenorm, conv 3x3 2", "1x7x6"),
    "instancenorm with running statistics": ("conv 3x3 2, instancenorm track_running_stats=true", "1x7x6"),
    "dilated maxpool": ("maxpool 3x3/2 dilation=2 pad=1 ceil=true", "1x11x10"),
    "adaptive maxpool": ("conv 3x3/2 2, adaptive_maxpool 3x2", "1x15x11"),
    # segmentation heads: bilinear back to another tensor's size (PyTorch's step for a size)
    "resize_like up": ("conv 3x3/2 2, resize_like { conv 3x3/2 2 pad=1 | identity }", "1x11x9"),
    "resize_like by a ratio that is no integer": ("conv 3x3 2, resize_like { avgpool 3 | identity }", "1x12x9"),
    "resize_like down": ("resize_like { upsample 3 mode=bilinear | maxpool 2 }", "1x7x5"),
}


@pytest.mark.parametrize("body,shape", CASES.values(), ids=CASES.keys())
def test_every_pixels_field_is_what_the_gradient_reaches(body, shape):
    fields_equal_gradients(body, shape)


def test_summary_reports_the_largest_field_and_the_jump():
    net = cnndsl.check_text("network Net {\n    input 1x16x16\n    conv 3x3/2 2 pad=1, conv 3x3 2 pad=1\n"
                            "    mul { identity | gap }\n}\n")
    rows = {r.name: r for r in analyse(net).rows}
    for layer in net.layers():
        if layer.op in ("conv", "mul"):
            field = measured(net, layer)
            widest = [max(p[axis][1] - p[axis][0] + 1 for row in field for p in row if p) for axis in (0, 1)]
            assert rows[layer.qualname].rf == tuple(widest), layer.qualname
    assert rows["mul1"].rf == net.input_shape[1:]  # the gate reads the whole input
    assert rows["conv2"].jump == rows["mul1"].jump == (2, 2)  # the first conv's stride


def test_the_older_window_rule_of_plugins_reads_as_the_window():
    """A plugin op written against the older `window` rule ((k, s, d, p) per spatial axis) reads
    as a conv with that window does."""
    conv = REGISTRY["conv"]
    attrs = {"kernel": (3, 5), "stride": (2, 1), "pad": (1, 2), "dilation": (1, 2), "groups": 1}
    shape, out = (3, 9, 11), (3, 5, 7)
    older = from_window(((3, 2, 1, 1), (5, 1, 2, 2)), [shape], out)
    rule = conv.reach(attrs, [shape], out, 0)
    assert [[r.spans() for r in axes[1:]] for axes in older] == [[r.spans() for r in axes[1:]] for axes in rule]
