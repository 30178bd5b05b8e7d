"""Ops of generators and segmentation networks: the transposed convolution (DCGAN's generator,
U-Net's up-convolutions), sub-pixel shuffles (ESPCN), `reshape` (a generator's projected noise
vector) and the `center_crop` of U-Net's skip connections, with the rules that import torch's
layers and calls as them."""

from __future__ import annotations

from math import gcd, prod
from typing import Any

from . import reach
from .importing import Mapped, UnmappedError, canon, import_rule
from .registry import (
    ArgError,
    Attrs,
    Family,
    Op,
    Param,
    Shape,
    ShapeError,
    boolean,
    dims,
    integer,
    pair,
    register,
    spatial,
    weight_and_bias,
)
from .windowed import check_groups, group_channels  # also registers conv before conv_transpose (the table's order)


def _transposed_reads(axis: int, n_in: int, n_out: int, k: int, s: int, p: int, d: int) -> reach.Reads:
    """Output index o of a transposed convolution reads the inputs i with o = i s - p + t d for a tap t
    of the kernel (each input scatters its kernel to i s - p + t d): from the first to the last such i
    inside the input, every d / gcd(s, d) (the taps whose i is whole are s / gcd(s, d) apart), nothing
    where there is none."""
    def spans() -> list[reach.Span]:
        out = []
        for o in range(n_out):
            starts = (o + p - t * d for t in range(k))  # i s for the input i that tap t would come from
            hits = [x // s for x in starts if x % s == 0 and 0 <= x < n_in * s]
            out.append((min(hits), max(hits)) if hits else reach.NOTHING)
        return out
    return reach.table(axis, spans, step=d // gcd(s, d))


def _conv_transpose_reach(a: Attrs, shapes: list[Shape], out: Shape, port: int) -> tuple[tuple[reach.Reads, ...], ...]:
    axes = [_transposed_reads(i + 1, shapes[0][i + 1], out[i + 1], a["kernel"][i], a["stride"][i], a["pad"][i],
                              a["dilation"][i]) for i in range(2)]
    return ((group_channels(a, shapes[0][0], out[0]), *axes),)


def _shuffle_reach(a: Attrs, shapes: list[Shape], out: Shape, port: int) -> tuple[tuple[reach.Reads, ...], ...]:
    """pixel_shuffle r: output (c, h, w) reads input channel c r r + (h mod r) r + (w mod r) at (h // r, w // r);
    per axis, the r r channels of c and the row and column h // r, w // r."""
    r = a["factor"]
    spatial_axes = [reach.table(i, lambda n=out[i]: [(o // r, o // r) for o in range(n)]) for i in (1, 2)]
    return ((reach.table(0, lambda: [(c * r * r, c * r * r + r * r - 1) for c in range(out[0])]), *spatial_axes),)


def _unshuffle_reach(a: Attrs, shapes: list[Shape], out: Shape, port: int) -> tuple[tuple[reach.Reads, ...], ...]:
    """pixel_unshuffle r: output (c', h, w) reads input channel c' // (r r) in rows h r .. h r + r - 1 and columns
    w r .. w r + r - 1 (the row and column within them set by c', so the union over c' is the whole block)."""
    r = a["factor"]
    spatial_axes = [reach.window(i, shapes[0][i], out[i], r, r, 1, 0) for i in (1, 2)]
    return ((reach.table(0, lambda: [(c // (r * r), c // (r * r)) for c in range(out[0])]), *spatial_axes),)


def _crop_reach(a: Attrs, shapes: list[Shape], out: Shape, port: int) -> tuple[tuple[reach.Reads, ...], ...]:
    """center_crop: output index i reads input i + offset, nothing where zeros were added."""
    offsets = crop_offsets(a, shapes[0])
    return ((reach.same(0, out[0]), *(reach.shifted(i, shapes[0][i], out[i], -offsets[i - 1]) for i in (1, 2))),)


def _reshape_reach(a: Attrs, shapes: list[Shape], out: Shape, port: int) -> tuple[tuple[reach.Reads, ...], ...]:
    """An output element of a reshape reads the input element at its flat position (an output pixel's
    elements come from rows and columns of their own: the analysis follows them element by element)."""
    return (reach.flat(),)

# ---- conv_transpose -------------------------------------------------------------------


def transposed_length(n: int, k: int, s: int, p: int, d: int = 1, extra: int = 0) -> int:
    """The output length of a transposed convolution along an axis of length n, as PyTorch's
    nn.ConvTranspose2d documents it: (n - 1) s - 2p + d (k - 1) + output_padding + 1. Below 1 where
    torch refuses the input (the elaborator reports it at the layer)."""
    return (n - 1) * s - 2 * p + d * (k - 1) + extra + 1


def _conv_transpose_shape(a: Attrs, shapes: list[Shape]) -> tuple[Shape, ...]:
    c, h, w = spatial("conv_transpose", shapes[0])
    check_groups(a, c)
    for extra, s, d in zip(a["output_pad"], a["stride"], a["dilation"], strict=True):
        if extra >= s and extra >= d:  # torch's own condition
            raise ShapeError(f"output_pad={dims(a['output_pad'])} must be smaller than the stride "
                             f"({dims(a['stride'])}) or the dilation ({dims(a['dilation'])}) on each axis")
    return ((a["out"], *(transposed_length(n, a["kernel"][i], a["stride"][i], a["pad"][i], a["dilation"][i],
                                           a["output_pad"][i]) for i, n in enumerate((h, w)))),)


def _conv_transpose_params(a: Attrs, shapes: list[Shape]) -> int:
    # nn.ConvTranspose2d's weight is in x out/groups x kh x kw
    return shapes[0][0] * (a["out"] // a["groups"]) * prod(a["kernel"]) + (a["out"] if a["bias"] else 0)


def _conv_transpose_macs(a: Attrs, shapes: list[Shape], outs: tuple[Shape, ...]) -> int:
    # every input pixel is multiplied by every weight once (fvcore's conv_flop_jit, torch's flop counter)
    return prod(shapes[0][1:]) * _conv_transpose_params({**a, "bias": False}, shapes)


def _conv_transpose_module(nn, a: Attrs, shapes: list[Shape]):  # noqa: ANN001, ANN202
    return nn.ConvTranspose2d(shapes[0][0], a["out"], a["kernel"], a["stride"], a["pad"], a["output_pad"],
                              a["groups"], a["bias"], a["dilation"])


def _output_pad_lowering(a: Attrs, shapes: list[Shape]) -> Any:
    """ONNX export (cnndsl/ops/lowering.py) of an output_pad of at least the stride, which torch takes
    where it is under the dilation and onnxruntime refuses: the full transposed convolution (no pad,
    no output_pad), zero rows and columns appended where output_pad reaches past it, the kept window
    cut out, then the bias. Torch computes the same (its extra rows are what the full result holds
    there: zeros past it) with shapes ONNX knows statically; None when output_pad < stride."""
    if all(e < s for e, s in zip(a["output_pad"], a["stride"], strict=True)):
        return None
    _, h, w = shapes[0]
    out = [transposed_length(n, a["kernel"][i], a["stride"][i], a["pad"][i], a["dilation"][i], a["output_pad"][i])
           for i, n in enumerate((h, w))]
    full = [transposed_length(n, a["kernel"][i], a["stride"][i], 0, a["dilation"][i]) for i, n in enumerate((h, w))]
    extra = [max(0, p + n - f) for p, n, f in zip(a["pad"], out, full, strict=True)]

    def forward(torch: Any, conv: Any, x: Any) -> Any:
        y = torch.nn.functional.conv_transpose2d(x, conv.weight, None, a["stride"], 0, 0, a["groups"], a["dilation"])
        for axis, count in ((2, extra[0]), (3, extra[1])):
            if count:
                zeros = y.narrow(axis, 0, 1).clamp(min=0.0, max=0.0)  # not zeros_like: see lowering.ceil_avgpool
                y = torch.cat([y, *[zeros] * count], axis)
        y = y[:, :, a["pad"][0]:a["pad"][0] + out[0], a["pad"][1]:a["pad"][1] + out[1]]
        return y + conv.bias.view(1, -1, 1, 1) if conv.bias is not None else y
    return forward


CONV_TRANSPOSE = Op(
    "conv_transpose", Family.CONV,
    "Transposed 2-D convolution (`nn.ConvTranspose2d`): H becomes (H-1)*stride - 2*pad + dilation*(k-1) + "
    "output_pad + 1.", paper_word="up-conv",
    params=(Param("kernel", pair(1), positional=True, stride=True),
            Param("out", integer(1), positional=True),
            Param("stride", pair(1), (1, 1)),
            Param("pad", pair(0), (0, 0)),
            Param("output_pad", pair(0), (0, 0), note="int or `HxW`, < stride or dilation"),
            Param("dilation", pair(1), (1, 1)), Param("groups", integer(1), 1),
            Param("bias", boolean, True, in_figures=False)),
    infer=_conv_transpose_shape, count_params=_conv_transpose_params, count_macs=_conv_transpose_macs,
    macs="one per weight per input position, bias not counted (as fvcore and torch's flop counter)",
    module=_conv_transpose_module, init_axes=weight_and_bias(4),
    examples=(("conv_transpose 4x4/2 6 pad=1 bias=false", (8, 4, 4)),
              ("conv_transpose 3x3/2 4 pad=1 output_pad=1 groups=2", (4, 5, 5)),
              ("conv_transpose 2x3 3 pad=1x0 dilation=2 output_pad=1", (2, 3, 4))),
    inplace_after=True,
    reach=_conv_transpose_reach,
    export_lowering=_output_pad_lowering,
)

# ---- pixel shuffles -------------------------------------------------------------------


def _pixel_shuffle_shape(a: Attrs, shapes: list[Shape]) -> tuple[Shape, ...]:
    c, h, w = spatial("pixel_shuffle", shapes[0])
    r = a["factor"]
    if c % (r * r):
        raise ShapeError(f"pixel_shuffle {r} needs channels divisible by {r * r} ({r}x{r}; got {c})")
    return ((c // (r * r), h * r, w * r),)


def _pixel_unshuffle_shape(a: Attrs, shapes: list[Shape]) -> tuple[Shape, ...]:
    c, h, w = spatial("pixel_unshuffle", shapes[0])
    r = a["factor"]
    if h % r or w % r:
        raise ShapeError(f"pixel_unshuffle {r} needs a height and width divisible by {r} (got {h}x{w})")
    return ((c * r * r, h // r, w // r),)


PIXEL_SHUFFLE = Op(
    "pixel_shuffle", Family.RESHAPE,
    "Moves channels to space: C*r*r x H x W becomes C x H*r x W*r (`nn.PixelShuffle`; ESPCN, Shi et al. 2016).",
    params=(Param("factor", integer(1), positional=True),), infer=_pixel_shuffle_shape,
    module=lambda nn, a, s: nn.PixelShuffle(a["factor"]),
    examples=(("pixel_shuffle 2", (8, 3, 4)),),
    reach=_shuffle_reach,
)
PIXEL_UNSHUFFLE = Op(
    "pixel_unshuffle", Family.RESHAPE,
    "Moves space to channels: C x H x W becomes C*r*r x H/r x W/r (`nn.PixelUnshuffle`).",
    params=(Param("factor", integer(1), positional=True),), infer=_pixel_unshuffle_shape,
    module=lambda nn, a, s: nn.PixelUnshuffle(a["factor"]),
    examples=(("pixel_unshuffle 2", (3, 4, 6)),),
    reach=_unshuffle_reach,
)

# ---- reshape --------------------------------------------------------------------------


def _target(v: object) -> tuple[int, ...]:
    """A shape per sample: `CxHxW`, `HxW`, or one integer (flat features)."""
    v = v if isinstance(v, tuple) else (v,)
    if not 1 <= len(v) <= 3 or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 1 for n in v):
        raise ArgError("a shape of one to three positive integers such as 512x4x4, or a number of features")
    return v


def _reshape_shape(a: Attrs, shapes: list[Shape]) -> tuple[Shape, ...]:
    want, have = prod(a["shape"]), prod(shapes[0])
    if want != have:
        raise ShapeError(f"reshape {dims(a['shape'])} needs {want:,} elements per sample; "
                         f"its input, {dims(shapes[0])}, has {have:,}")
    return (a["shape"],)


RESHAPE = Op(
    "reshape", Family.RESHAPE,
    "Gives each sample a new shape with the same elements, the batch kept (`x.flatten(1).unflatten(1, shape)`, "
    "`nn.Unflatten` on a flat input): `fc 8192, reshape 512x4x4`.",
    params=(Param("shape", _target, positional=True, note="`CxHxW` or a number of features"),),
    infer=_reshape_shape, label=lambda a: f"reshape {dims(a['shape'])}",
    function=lambda torch, xs, a: xs[0].flatten(1).unflatten(1, a["shape"]),
    stores_output=False,
    reach=_reshape_reach,
    examples=(("reshape 4x2x3", (24,)), ("reshape 6x2x2", (3, 2, 4)), ("reshape 12", (3, 2, 2)),
              ("reshape 3x1x1", (3,))),
)

# ---- center_crop -----------------------------------------------------------------------------


def crop_offsets(a: Attrs, shape: Shape) -> tuple[int, int]:
    """Rows and columns cut before the kept window (negative: zeros added before it), as torchvision's
    center_crop computes them: int(round((n - size) / 2)) with Python's rounding (half to even) where
    the size fits, else (size - n) // 2 zeros, the other half after."""
    return tuple(int(round((n - m) / 2.0)) if m <= n else -((m - n) // 2)  # type: ignore[return-value]
                 for n, m in zip(shape[1:], a["size"], strict=True))


def _crop_module(nn, a: Attrs, shapes: list[Shape]):  # noqa: ANN001, ANN202
    """nn.ZeroPad2d with the negative padding that crops (positive where the size is larger: torchvision
    pads with zeros there): a torch.nn layer, which traces, exports to ONNX as a Pad with constant
    pads, and whose repr is its constructor for the Python export."""
    top, left = crop_offsets(a, shapes[0])
    bottom, right = (n - m - o for n, m, o in zip(shapes[0][1:], a["size"], (top, left), strict=True))
    return nn.ZeroPad2d((-left, -right, -top, -bottom))


CROP = Op(
    "center_crop", Family.RESHAPE,
    "Keeps the centre HxW of a CxHxW input, padding with zeros where it is smaller, as "
    "`torchvision.transforms.functional.center_crop` (built as `nn.ZeroPad2d`): U-Net's skip connections, "
    "`c = skip -> center_crop 56x56`, `concat(c, up)`.",
    params=(Param("size", pair(1), positional=True, note="HxW"),),
    infer=lambda a, s: ((spatial("center_crop", s[0])[0], *a["size"]),),
    module=_crop_module,
    examples=(("center_crop 3x3", (2, 7, 7)), ("center_crop 2x5", (3, 5, 8)), ("center_crop 4x4", (1, 9, 9)),
              ("center_crop 8x3", (2, 5, 6))),
    reach=_crop_reach,
)

register(CONV_TRANSPOSE, PIXEL_SHUFFLE, PIXEL_UNSHUFFLE, RESHAPE, CROP)


# ---- import rules -------------------------------------------------------------------


@import_rule("torch.nn.ConvTranspose2d")
def _import_conv_transpose(m: Any, shape: Shape) -> Mapped:
    if m.padding_mode != "zeros":
        raise UnmappedError(f"padding_mode={m.padding_mode!r} (cnndsl pads with zeros)")
    return [(CONV_TRANSPOSE.name, (("kernel", canon(m.kernel_size)), ("out", m.out_channels),
                                   ("stride", canon(m.stride)), ("pad", canon(m.padding)),
                                   ("output_pad", canon(m.output_padding)), ("dilation", canon(m.dilation)),
                                   ("groups", m.groups), ("bias", m.bias is not None)))]


@import_rule("torch.nn.PixelShuffle")
def _import_pixel_shuffle(m: Any, shape: Shape) -> Mapped:
    return [(PIXEL_SHUFFLE.name, (("factor", m.upscale_factor),))]


@import_rule("torch.nn.PixelUnshuffle")
def _import_pixel_unshuffle(m: Any, shape: Shape) -> Mapped:
    return [(PIXEL_UNSHUFFLE.name, (("factor", m.downscale_factor),))]


@import_rule("torch.nn.Unflatten")
def _import_unflatten(m: Any, shape: Shape) -> Mapped:
    if m.dim not in (1, -len(shape)) or len(shape) != 1:
        raise UnmappedError(f"unflatten of axis {m.dim} (cnndsl reshapes a flat sample)")
    return [(RESHAPE.name, (("shape", tuple(m.unflattened_size)),))]


def _crop_slots(size: Any, shape: Shape) -> Mapped:
    size = canon(tuple(size) if isinstance(size, list) else size)
    hw = (size, size) if isinstance(size, int) else size
    if len(shape) != 3 or not isinstance(hw, tuple) or len(hw) != 2:
        raise UnmappedError(f"center crop to {size} (cnndsl crops a CxHxW input to HxW)")
    return [(CROP.name, (("size", size),))]


@import_rule("torchvision.transforms.CenterCrop")
def _import_center_crop(m: Any, shape: Shape) -> Mapped:
    """The transform as a layer (torchvision's functional center_crop reads sizes torch.fx cannot trace)."""
    return _crop_slots(m.size, shape)

