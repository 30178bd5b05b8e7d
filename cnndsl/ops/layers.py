"""Layers with weights or windows: conv, pools, norms, fc, and the shape-only layers."""

from __future__ import annotations

from math import prod

from .registry import (
    REQUIRED,
    Attrs,
    Op,
    Param,
    Shape,
    ShapeError,
    boolean,
    choice,
    dims,
    dropped,
    fitting_sizes,
    integer,
    number,
    pad_or_same,
    pair,
    register,
    spatial,
    window,
)


def _kernel(a: Attrs) -> str:
    k, s = a["kernel"], a["stride"]
    text = dims(k) if k[0] != k[1] else f"{k[0]}x{k[0]}"
    return text + (f"/{s[0]}" if s[0] == s[1] and s != (1, 1) else f"/{dims(s)}" if s != (1, 1) else "")


def _sliding(a: Attrs, shape: Shape) -> tuple[tuple[float, ...], ...]:
    pad = a["pad"] if a["pad"] != "same" else tuple((k - 1) * d / 2 for k, d in
                                                     zip(a["kernel"], a.get("dilation", (1, 1)), strict=True))
    dil = a.get("dilation", (1, 1))
    return tuple((a["kernel"][i], a["stride"][i], dil[i], pad[i]) for i in range(2))


def _whole(a: Attrs, shape: Shape) -> tuple[tuple[float, ...], ...]:
    """Global pooling: one window over the whole input."""
    return tuple((n, 1, 1, 0) for n in shape[1:])


def _adaptive(a: Attrs, shape: Shape) -> tuple[tuple[float, ...], ...]:
    # PyTorch's adaptive windows span ceil(n / out) inputs, starting every n / out
    return tuple((-(-n // o), n / o, 1, 0) for n, o in zip(shape[1:], a["size"], strict=True))


def _window_warnings(a: Attrs, shapes: list[Shape]) -> list[str]:
    """LANGUAGE.md §7: a floor division that drops input rows or columns is a warning."""
    _, h, w = shapes[0]
    pad = a["pad"] if a["pad"] != "same" else (0, 0)
    dil = a.get("dilation", (1, 1))
    lost = [dropped(n, a["kernel"][i], a["stride"][i], pad[i], dil[i]) for i, n in enumerate((h, w))]
    if not any(lost):
        return []
    fits = [fitting_sizes(n, a["kernel"][i], a["stride"][i], pad[i], dil[i]) for i, n in enumerate((h, w))]
    words = zip(lost, ("row", "column"), strict=True)
    what = " and ".join(f"{n} {word}{'s' if n > 1 else ''}" for n, word in words if n)
    return [f"drops the last {what} of its {dims(shapes[0])} input; an input of "
            f"{fits[0][0]}x{fits[1][0]} or {fits[0][1]}x{fits[1][1]} here would fit exactly"]


def _windowed_shape(op: str, a: Attrs, shape: Shape, channels: int, ceil: bool = False) -> Shape:
    c, h, w = spatial(op, shape)
    if a["pad"] == "same":
        if a["stride"] != (1, 1):
            raise ShapeError(f"pad=same needs stride 1 (got stride {dims(a['stride'])})")
        return channels, h, w
    dil = a.get("dilation", (1, 1))
    out = tuple(window(n, a["kernel"][i], a["stride"][i], a["pad"][i], dil[i], ceil) for i, n in enumerate((h, w)))
    if min(out) < 1:
        raise ShapeError(f"{op} {_kernel(a)} leaves no output on a {dims(shape)} input "
                         f"(output would be {dims((channels, *out))})")
    return (channels, *out)


# ---- conv ---------------------------------------------------------------------------


def _conv_shape(a: Attrs, shapes: list[Shape]) -> tuple[Shape, ...]:
    c = spatial("conv", shapes[0])[0]
    g = a["groups"]
    if c % g or a["out"] % g:
        raise ShapeError(f"groups={g} must divide both the input channels ({c}) and the output channels ({a['out']})")
    return (_windowed_shape("conv", a, shapes[0], a["out"]),)


def _conv_params(a: Attrs, shapes: list[Shape]) -> int:
    c = shapes[0][0]
    return a["out"] * (c // a["groups"]) * prod(a["kernel"]) + (a["out"] if a["bias"] else 0)


def _conv_macs(a: Attrs, shapes: list[Shape], outs: tuple[Shape, ...]) -> int:
    # one multiply-accumulate per weight per output position; bias not counted (fvcore, torchinfo)
    return prod(outs[0]) * (shapes[0][0] // a["groups"]) * prod(a["kernel"])


def _conv_module(nn, a: Attrs, shapes: list[Shape]):  # noqa: ANN001, ANN202
    return nn.Conv2d(shapes[0][0], a["out"], a["kernel"], a["stride"], a["pad"], a["dilation"],
                     a["groups"], a["bias"])


CONV = Op(
    "conv", "conv", "2-D convolution (nn.Conv2d); input channels come from the input shape.",
    params=(Param("kernel", pair(1), positional=True, stride=True),
            Param("out", integer(1), positional=True),
            Param("stride", pair(1), (1, 1)), Param("pad", pad_or_same, (0, 0), symbols=("same",)),
            Param("dilation", pair(1), (1, 1)), Param("groups", integer(1), 1), Param("bias", boolean, True)),
    infer=_conv_shape, count_params=_conv_params, count_macs=_conv_macs, module=_conv_module,
    label=lambda a: f"conv {_kernel(a)}, {a['out']}" + (f" g{a['groups']}" if a["groups"] > 1 else ""),
    warn=_window_warnings,
    examples=(("conv 3x3/2 8 pad=1 groups=2 bias=false", (4, 9, 9)), ("conv 2x3 6 pad=same dilation=2", (3, 8, 7))),
    inplace_after=True,
    window=_sliding,
)

# ---- pooling ------------------------------------------------------------------------


def _pool_prepare(a: Attrs) -> Attrs:
    return {**a, "stride": a["kernel"] if a["stride"] is None else a["stride"]}


def _pool_shape(op: str):  # noqa: ANN202
    def infer(a: Attrs, shapes: list[Shape]) -> tuple[Shape, ...]:
        if a["pad"] != "same" and any(2 * p > k for p, k in zip(a["pad"], a["kernel"], strict=False)):
            raise ShapeError(f"pad={dims(a['pad'])} must be at most half the kernel {dims(a['kernel'])}")
        return (_windowed_shape(op, a, shapes[0], spatial(op, shapes[0])[0], a["ceil"]),)
    return infer


def _pool_params() -> tuple[Param, ...]:
    return (Param("kernel", pair(1), positional=True, stride=True), Param("stride", pair(1), None),
            Param("pad", pair(0), (0, 0)), Param("ceil", boolean, False))


MAXPOOL = Op(
    "maxpool", "pool", "Max pooling (nn.MaxPool2d); the stride defaults to the kernel.",
    params=_pool_params(), prepare=_pool_prepare, infer=_pool_shape("maxpool"),
    module=lambda nn, a, s: nn.MaxPool2d(a["kernel"], a["stride"], a["pad"], ceil_mode=a["ceil"]),
    label=lambda a: f"maxpool {_kernel(a)}", warn=lambda a, s: [] if a["ceil"] else _window_warnings(a, s),
    examples=(("maxpool 3x3/2 pad=1 ceil=true", (4, 10, 10)), ("maxpool 2", (3, 7, 7))),
    window=_sliding,
)
AVGPOOL = Op(
    "avgpool", "pool", "Average pooling (nn.AvgPool2d); the stride defaults to the kernel.",
    params=_pool_params(), prepare=_pool_prepare, infer=_pool_shape("avgpool"),
    module=lambda nn, a, s: nn.AvgPool2d(a["kernel"], a["stride"], a["pad"], ceil_mode=a["ceil"]),
    label=lambda a: f"avgpool {_kernel(a)}", warn=lambda a, s: [] if a["ceil"] else _window_warnings(a, s),
    examples=(("avgpool 3/2 ceil=true", (4, 10, 10)), ("avgpool 2x2/1 pad=1", (3, 6, 6))),
    window=_sliding,
)
GAP = Op(
    "gap", "pool", "Global average pooling to Cx1x1 (nn.AdaptiveAvgPool2d(1)).",
    infer=lambda a, s: ((spatial("gap", s[0])[0], 1, 1),),
    count_macs=lambda a, s, o: prod(s[0]),  # one add per input element (fvcore's adaptive_avg_pool2d)
    module=lambda nn, a, s: nn.AdaptiveAvgPool2d(1), label=lambda a: "global avgpool",
    examples=(("gap", (4, 5, 5)),),
    window=_whole,
)


def _adaptive_shape(a: Attrs, s: list[Shape]) -> tuple[Shape, ...]:
    return ((spatial("adaptive_avgpool", s[0])[0], *a["size"]),)


ADAPTIVE_AVGPOOL = Op(
    "adaptive_avgpool", "pool", "Adaptive average pooling to CxHxW (nn.AdaptiveAvgPool2d).",
    params=(Param("size", pair(1), positional=True),), infer=_adaptive_shape,
    count_macs=lambda a, s, o: prod(s[0]),
    module=lambda nn, a, s: nn.AdaptiveAvgPool2d(a["size"]), label=lambda a: f"adaptive avgpool {dims(a['size'])}",
    examples=(("adaptive_avgpool 2x3", (4, 9, 9)),),
    window=_adaptive,
)

# ---- normalisation ------------------------------------------------------------------


def _bn_shape(a: Attrs, s: list[Shape]) -> tuple[Shape, ...]:
    if len(s[0]) not in (1, 3):
        raise ShapeError(f"bn expects a CxHxW or flat input (got {dims(s[0])})")
    return (s[0],)


BN = Op(
    "bn", "norm", "Batch normalisation: nn.BatchNorm2d on CxHxW inputs, nn.BatchNorm1d on flat ones.",
    params=(Param("eps", number(0.0), 1e-5), Param("momentum", number(0.0, 1.0), 0.1)),
    infer=_bn_shape, count_params=lambda a, s: 2 * s[0][0],
    count_macs=lambda a, s, o: prod(s[0]),  # one multiply-add per element in eval mode (fvcore counts 2)
    module=lambda nn, a, s: (nn.BatchNorm2d if len(s[0]) == 3 else nn.BatchNorm1d)(
        s[0][0], eps=a["eps"], momentum=a["momentum"]),
    examples=(("bn eps=0.001", (4, 5, 5)), ("bn momentum=0.2", (6,))),
    inplace_after=True,
)
LRN = Op(
    "lrn", "norm", "Local response normalisation across channels (nn.LocalResponseNorm).",
    params=(Param("size", integer(1), positional=True), Param("alpha", number(0.0), 1e-4),
            Param("beta", number(0.0), 0.75), Param("k", number(0.0), 1.0)),
    infer=lambda a, s: (s[0],), module=lambda nn, a, s: nn.LocalResponseNorm(a["size"], a["alpha"], a["beta"], a["k"]),
    label=lambda a: f"lrn {a['size']}",
    examples=(("lrn 3 k=2", (6, 5, 5)),),
)

# ---- fully connected and shape-only layers ---------------------------------------------


def _fc_shape(a: Attrs, s: list[Shape]) -> tuple[Shape, ...]:
    if len(s[0]) != 1:
        raise ShapeError(f"fc expects a flat input (got {dims(s[0])}); add 'flatten' before it")
    return ((a["out"],),)


FC = Op(
    "fc", "fc", "Fully-connected layer (nn.Linear); input features come from the input shape.",
    params=(Param("out", integer(1), positional=True), Param("bias", boolean, True)),
    infer=_fc_shape, count_params=lambda a, s: s[0][0] * a["out"] + (a["out"] if a["bias"] else 0),
    count_macs=lambda a, s, o: s[0][0] * a["out"],
    module=lambda nn, a, s: nn.Linear(s[0][0], a["out"], a["bias"]), label=lambda a: f"fc {a['out']}",
    examples=(("fc 7", (12,)), ("fc 3 bias=false", (5,))),
    inplace_after=True,
)
FLATTEN = Op(
    "flatten", "reshape", "Flattens CxHxW to C*H*W features (nn.Flatten).",
    infer=lambda a, s: ((prod(s[0]),),), module=lambda nn, a, s: nn.Flatten(),
    examples=(("flatten", (4, 3, 3)),),
    stores_output=False,
)
DROPOUT = Op(
    "dropout", "other", "Dropout with probability p (nn.Dropout).",
    params=(Param("p", number(0.0, 1.0), 0.5, positional=True),),
    infer=lambda a, s: (s[0],), module=lambda nn, a, s: nn.Dropout(a["p"]), label=lambda a: f"dropout {a['p']:g}",
    examples=(("dropout 0.3", (4, 3, 3)),),
)
SOFTMAX = Op(
    "softmax", "act", "Softmax over channels (nn.Softmax(dim=1)).",
    infer=lambda a, s: (s[0],), module=lambda nn, a, s: nn.Softmax(dim=1),
    examples=(("softmax", (5,)),),
)
IDENTITY = Op(
    "identity", "other", "Passes its input on; the empty branch of a merge.",
    infer=lambda a, s: (s[0],), function=lambda torch, xs, a: xs[0],
    stores_output=False,
    diagram="skip",
)


def _upsample_shape(a: Attrs, s: list[Shape]) -> tuple[Shape, ...]:
    c, h, w = spatial("upsample", s[0])
    return ((c, int(h * a["scale"]), int(w * a["scale"])),)


UPSAMPLE = Op(
    "upsample", "other", "Upsampling by a scale factor (nn.Upsample).",
    params=(Param("scale", number(0.0), REQUIRED, positional=True),
            Param("mode", choice("nearest", "bilinear"), "nearest", symbols=("nearest", "bilinear"))),
    infer=_upsample_shape,
    module=lambda nn, a, s: nn.Upsample(scale_factor=a["scale"], mode=a["mode"],
                                        **({"align_corners": False} if a["mode"] == "bilinear" else {})),
    label=lambda a: f"upsample {a['scale']:g}",
    examples=(("upsample 2", (3, 4, 4)), ("upsample 2 mode=bilinear", (3, 4, 5))),
    window=lambda a, s: ((1, 1 / a['scale'], 1, 0),) * 2,
    count_macs=lambda a, s, o: prod(o[0]) * (4 if a['mode'] == 'bilinear' else 1),
)

INPUT = Op(
    "input", "io", "The network input, per sample (`input 3x224x224`); the compiled model's argument.",
    infer=lambda a, s: (a["shape"],), label=lambda a: f"input {dims(a['shape'])}",
    examples=(("identity", (3, 4, 4)),),  # the input is a placeholder; it has no module
    diagram="io",
)

register(INPUT, CONV, MAXPOOL, AVGPOOL, GAP, ADAPTIVE_AVGPOOL, BN, LRN, FC, FLATTEN, DROPOUT, SOFTMAX, IDENTITY,
         UPSAMPLE)
