"""Export lowerings (`Op.export_lowering`): for layers that torch.onnx or onnxruntime cannot take
as built, or would take with other semantics, a forward that computes exactly what the built
module computes, from its own parameters, with ops whose ONNX form means the same everywhere.

Each lowering decides from the layer's attributes and static input shape (C×H×W) and returns
`forward(torch, module, x) -> tensor`, or None when the module exports as it is. Only
`cnndsl export --format onnx` applies them, to a copy of the compiled model; training, the fx
code and the other exports keep the plain modules. Like every builder in cnndsl/ops, they
receive the `torch` module as an argument and never import it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .registry import Attrs, Shape
from .sliding import output_length as window

Forward = Callable[[Any, Any, Any], Any]


def same_conv(a: Attrs, shapes: list[Shape]) -> Forward | None:
    """`pad=same` as explicit zero padding, as PyTorch pads for padding='same': a total of
    dilation*(k-1) per axis, half of it (rounded down) before. ONNX's `auto_pad=SAME_UPPER`,
    torch's export of it, is refused by onnxruntime with dilation; explicit pads never are.
    An odd total pads its larger half on both sides and drops the first output row (or column),
    which is the output of the extra padding: same stride-1 windows, no Pad op (torch exports
    F.pad with pads computed at run time, which hides every shape after it from ONNX)."""
    if a["pad"] != "same":
        return None
    totals = [d * (k - 1) for k, d in zip(a["kernel"], a["dilation"], strict=True)]
    larger = tuple(t - t // 2 for t in totals)
    drop_h, drop_w = (t % 2 for t in totals)

    def forward(torch: Any, conv: Any, x: Any) -> Any:
        y = torch.nn.functional.conv2d(x, conv.weight, conv.bias, 1, larger, a["dilation"], a["groups"])
        return y[:, :, drop_h:, drop_w:] if drop_h or drop_w else y
    return forward


def _ceil_extra(a: Attrs, shape: Shape) -> list[int]:
    """Per axis, the input rows (columns) to add at the end for floor mode to give the windows
    of PyTorch's ceil mode: the last one starts inside the input or its left padding. A dilated
    window (maxpool `dilation=`) spans d(k-1)+1 rows."""
    extra = []
    dilation = a.get("dilation", (1, 1))
    for n, k, s, p, d in zip(shape[1:], a["kernel"], a["stride"], a["pad"], dilation, strict=True):
        out = window(n, k, s, p, d, ceil=True)
        extra.append(max(0, (out - 1) * s + d * (k - 1) + 1 - (n + 2 * p)))
    return extra


def _extend(torch: Any, x: Any, shape: Shape, extra: list[int], fill: Any) -> Any:
    """x (per sample `shape`) with `extra` rows and columns of `fill(its last row or column)`
    appended, as concatenated slices, whose shapes ONNX can infer."""
    for axis, count in ((3, extra[1]), (2, extra[0])):
        if count:
            last = x.narrow(axis, shape[axis - 1] - 1, 1)
            x = torch.cat([x, *[fill(last)] * count], axis)
    return x


def ceil_maxpool(a: Attrs, shapes: list[Shape]) -> Forward | None:
    """`ceil=true` as floor mode over the input with its last row and column repeated at the
    end: every window that reaches them holds the originals, so its max is unchanged. ONNX's own
    ceil rule keeps windows that start in the right padding, which PyTorch and onnxruntime
    drop: the file would declare a shape it does not compute (maxpool 1x1/2 on 12x12: 7x7, not 6x6).
    A dilated window may skip the last row and reach its copy, so with dilation the rows added
    are -inf, which no max takes (torch pads a max pool with -inf too): the last row clipped to
    -inf, whose shape ONNX infers (a constant of the row's shape it would not)."""
    if not a["ceil"]:
        return None
    extra = _ceil_extra(a, shapes[0])
    dilated = a["dilation"] != (1, 1)

    def forward(torch: Any, pool: Any, x: Any) -> Any:
        fill = (lambda last: last.clamp(max=float("-inf"))) if dilated else (lambda last: last)
        x = _extend(torch, x, shapes[0], extra, fill)
        return torch.nn.functional.max_pool2d(x, a["kernel"], a["stride"], a["pad"], a["dilation"])
    return forward


def _in_padding(n: int, k: int, s: int, p: int, d: int, ceil: bool) -> list[bool]:
    """Per output row (column) of a max pool: whether every tap of its window lies outside the
    input (in the padding, or past it in ceil mode), which a dilated window can."""
    return [all(not 0 <= j * s - p + t * d < n for t in range(k)) for j in range(window(n, k, s, p, d, ceil))]


def maxpool(a: Attrs, shapes: list[Shape]) -> Forward | None:
    """A max pool as `ceil_maxpool` lowers it, with -inf where a window lies wholly in the
    padding: torch's max over padding alone is -inf, onnxruntime's the lowest float (-3.4e38).
    Those outputs are known from the shapes alone, a constant mask (`maxpool 1x2 pad=0x1
    dilation=3x2` on a 1x1 input: its taps at columns -1 and 1)."""
    ceil = ceil_maxpool(a, shapes)
    if len(shapes[0]) != 3:
        return ceil
    rows, cols = (_in_padding(n, k, s, p, d, a["ceil"]) for n, k, s, p, d in
                  zip(shapes[0][1:], a["kernel"], a["stride"], a["pad"], a["dilation"], strict=True))
    empty = [[r or c for c in cols] for r in rows]
    if not any(map(any, empty)):
        return ceil

    def forward(torch: Any, pool: Any, x: Any) -> Any:
        y = ceil(torch, pool, x) if ceil else pool(x)
        return y.masked_fill(torch.tensor(empty), float("-inf"))
    return forward


def ceil_avgpool(a: Attrs, shapes: list[Shape]) -> Forward | None:
    """`ceil=true` as floor mode over the input with zeros appended, times the correction of the
    divisor: PyTorch divides a window that runs past the padding by its part inside input plus
    padding, floor mode by the whole kernel."""
    if not a["ceil"]:
        return None
    k, s, p = a["kernel"], a["stride"], a["pad"]
    extra = _ceil_extra(a, shapes[0])
    # per axis: the kernel over the window's length inside [-p, n + p)
    factors = [[k[i] / (min(j * s[i] - p[i] + k[i], n + p[i]) - (j * s[i] - p[i]))
                for j in range(window(n, k[i], s[i], p[i], 1, ceil=True))] for i, n in enumerate(shapes[0][1:])]
    scale = [[fh * fw for fw in factors[1]] for fh in factors[0]]
    rescale = any(v != 1.0 for row in scale for v in row)

    def forward(torch: Any, pool: Any, x: Any) -> Any:
        # zeros as the last row clamped to 0: torch.onnx folds zeros_like into a constant of the traced
        # batch size, which onnxruntime then refuses to concatenate at any other batch
        zeros = lambda last: last.clamp(min=0.0, max=0.0)  # noqa: E731
        y = torch.nn.functional.avg_pool2d(_extend(torch, x, shapes[0], extra, zeros), k, s, p)
        return y * torch.tensor(scale, dtype=y.dtype) if rescale else y
    return forward


def _adaptive_windows(n: int, out: int) -> list[tuple[int, int]]:
    """PyTorch's adaptive pooling windows on one axis: [floor(i*n/out), ceil((i+1)*n/out))."""
    return [(i * n // out, -(-(i + 1) * n // out)) for i in range(out)]


def _as_sliding(windows: list[tuple[int, int]]) -> tuple[int, int] | None:
    """(kernel, stride) when the windows are one window sliding by a fixed stride."""
    sizes = {end - start for start, end in windows}
    steps = {b[0] - a[0] for a, b in zip(windows, windows[1:], strict=False)} or {1}
    if len(sizes) != 1 or len(steps) != 1 or min(steps) < 1:
        return None
    return sizes.pop(), steps.pop()


def adaptive_avgpool(a: Attrs, shapes: list[Shape]) -> Forward | None:
    """Adaptive average pooling with the windows written out: one sliding average pool when
    the windows have one size and stride (alexnet's 6x6 of 7x7: 2x2/1), else the mean over each
    axis as a product with a constant matrix (row i: 1/len over window i), y = A_h x A_w^T, the
    same sums divided by the same counts. torch.onnx refuses sizes that do not divide."""
    windows = [_adaptive_windows(n, o) for n, o in zip(shapes[0][1:], a["size"], strict=True)]
    sliding = [_as_sliding(w) for w in windows]
    if all(sliding):
        kernel, stride = zip(*sliding, strict=True)
        return lambda torch, pool, x: torch.nn.functional.avg_pool2d(x, kernel, stride)
    rows, cols = ([[1.0 / (end - start) if start <= j < end else 0.0 for j in range(n)] for start, end in w]
                  for w, n in zip(windows, shapes[0][1:], strict=True))

    def forward(torch: Any, pool: Any, x: Any) -> Any:
        mean_h = torch.tensor(rows, dtype=x.dtype)     # out_h x H
        mean_w = torch.tensor(cols, dtype=x.dtype).t()  # W x out_w
        return torch.matmul(torch.matmul(mean_h, x), mean_w)
    return forward


def adaptive_maxpool(a: Attrs, shapes: list[Shape]) -> Forward | None:
    """Adaptive max pooling with the windows written out: one sliding max pool when the windows
    have one size and stride, else the max over each axis's windows in turn (a maximum over a
    rectangle is the maximum over its rows of the maximum over its columns), as slices, ReduceMax
    and Concat. torch.onnx refuses sizes that do not divide."""
    windows = [_adaptive_windows(n, o) for n, o in zip(shapes[0][1:], a["size"], strict=True)]
    sliding = [_as_sliding(w) for w in windows]
    if all(sliding):
        kernel, stride = zip(*sliding, strict=True)
        return lambda torch, pool, x: torch.nn.functional.max_pool2d(x, kernel, stride)

    def forward(torch: Any, pool: Any, x: Any) -> Any:
        for axis, spans in ((2, windows[0]), (3, windows[1])):
            x = torch.cat([x.narrow(axis, start, end - start).amax(axis, keepdim=True) for start, end in spans], axis)
        return x
    return forward


def softplus_threshold(a: Attrs, shapes: list[Shape]) -> Forward | None:
    """Softplus with its threshold written out: torch's softplus is x where beta x > threshold,
    but torch.onnx exports ONNX's Softplus, which has no threshold. Kept at a threshold of 20
    (torch's default) or more: there the two differ by less than exp(-20), below float32's
    resolution of x."""
    if a["threshold"] >= 20:
        return None

    def forward(torch: Any, module: Any, x: Any) -> Any:
        smooth = torch.nn.functional.softplus(x, a["beta"], 1e9)  # exported as Softplus(beta x) / beta
        return torch.where(x * a["beta"] > a["threshold"], x, smooth)
    return forward


def instancenorm(a: Attrs, shapes: list[Shape]) -> Forward | None:
    """An instance norm with running statistics as what it computes in eval mode, a batch norm on
    those statistics (BatchNormalization); torch.onnx refuses instance_norm with them. Without
    affine parameters, either norm with a scale of ones and a shift of zeros: for want of a
    weight torch.onnx makes them itself from the channel count, which it loses after some layers
    (lrn, center_crop), and refuses ("unknown channel size")."""
    channels = shapes[0][0]
    if a["track_running_stats"]:
        def forward(torch: Any, norm: Any, x: Any) -> Any:
            ones, zeros = torch.ones(channels, dtype=x.dtype), torch.zeros(channels, dtype=x.dtype)
            return torch.nn.functional.batch_norm(x, norm.running_mean, norm.running_var,
                                                  ones if norm.weight is None else norm.weight,
                                                  zeros if norm.bias is None else norm.bias, False, 0.0, norm.eps)
        return forward
    if a["eps"] == 0:
        return _instancenorm_without_eps
    if a["affine"]:
        return None
    return lambda torch, norm, x: torch.nn.functional.instance_norm(
        x, weight=torch.ones(channels, dtype=x.dtype), bias=torch.zeros(channels, dtype=x.dtype), eps=norm.eps)


def _instancenorm_without_eps(torch: Any, norm: Any, x: Any) -> Any:
    """Instance norm with eps = 0, as torch computes it: a channel whose positions all hold one value
    normalises to 0 (torch's batch-norm kernel takes 1/sqrt(var + eps) as 0 where both are 0), where
    ONNX's InstanceNormalization divides 0 by 0 (NaN). The max and min tell a constant channel exactly
    (a computed variance may round to a tiny number)."""
    mean = x.mean((2, 3), keepdim=True)
    var = (x - mean).square().mean((2, 3), keepdim=True)
    constant = x.amax((2, 3), keepdim=True) == x.amin((2, 3), keepdim=True)
    y = (x - mean) * torch.where(constant, torch.zeros_like(var), var.rsqrt())
    if norm.weight is None:
        return y
    return y * norm.weight.view(1, -1, 1, 1) + norm.bias.view(1, -1, 1, 1)


def lrn(a: Attrs, shapes: list[Shape]) -> Forward | None:
    """Local response normalisation of a CxHxW input, with the mean of squares over each window
    of channels written as a 1x1 convolution by a constant band matrix (row c: 1/size over
    channels c - size//2 .. c + (size-1)//2, those outside the input counted as zeros, as
    PyTorch pads them), then x / (k + alpha * mean)^beta as torch computes it. PyTorch's own
    form reshapes by the traced batch size (`view(N, 1, C, H, -1)`), which ONNX keeps as a
    constant: the file refused any other batch, and nothing after it had a known size."""
    if len(shapes[0]) != 3:
        return None  # CxL: PyTorch's form for 3-D tensors needs no reshape
    size, channels = a["size"], shapes[0][0]
    band = [[[[1.0 / size]] if c - size // 2 <= j <= c + (size - 1) // 2 else [[0.0]] for j in range(channels)]
            for c in range(channels)]

    def forward(torch: Any, norm: Any, x: Any) -> Any:
        mean = torch.nn.functional.conv2d(x * x, torch.tensor(band, dtype=x.dtype))
        return x / (mean * a["alpha"] + a["k"]).pow(a["beta"])
    return forward
