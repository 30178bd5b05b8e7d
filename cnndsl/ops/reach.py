"""Receptive-field rules: which input elements each output element of an op reads, per axis.

An op's `reach(attrs, in_shapes, out_shape)` rule gives, for each input (each branch of a
merge), one `Reads` per output axis (C, H, W): the input axis that output axis indexes, and for
every output index the interval of input indices it reads. The analysis (cnndsl/analysis/
fields.py) composes them layer by layer into the exact input pixels of every output pixel. The
intervals are computed only when the analysis asks (`Reads.spans`), so a rule costs nothing for
an axis no field depends on (the channel axis, unless a `permute` moved H or W there).
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from math import floor
from typing import NamedTuple

Span = tuple[int, int]  # inclusive input indices lo..hi; lo > hi reads nothing
NOTHING: Span = (1, 0)


class Reads(NamedTuple):
    """What one output axis reads of one input: input axis `axis` (0, 1, 2 for C, H, W), and
    `spans()` one `Span` per output index along the output axis. `stride` is the input indices
    between neighbouring output indices (the summary's jump)."""

    axis: int
    spans: Callable[[], list[Span]]
    stride: float = 1
    # how `spans` reads, where the analysis has a shortcut: "same" (index i reads i), "whole"
    # (every index reads the whole input axis), "shift" (index i reads i - shift, none outside
    # the input: a concat branch's channels), "flat" (no per-axis form: `flat`), "" any other
    kind: str = ""
    shift: int = 0
    # a span lo..hi reads lo, lo + step, ..., hi: the taps of a dilated window, whose gaps a field
    # must skip (a tap between reads something else there, as after a strided transposed convolution)
    step: int = 1


def same(axis: int, n: int) -> Reads:
    """Output index i reads input index i (element-wise ops, per-channel norms)."""
    return Reads(axis, lambda: [(i, i) for i in range(n)], kind="same")


def point(axis: int, n_out: int, index: int = 0) -> Reads:
    """Every output index reads input index `index` (a size-1 axis broadcast)."""
    return Reads(axis, lambda: [(index, index)] * n_out)


def whole(axis: int, n_in: int, n_out: int) -> Reads:
    """Every output index reads the whole input axis (global pooling, `linear` along W, softmax
    over channels)."""
    return Reads(axis, lambda: [(0, n_in - 1)] * n_out, kind="whole")


def normalised(axis: int, n: int) -> Reads:
    """Normalisation over the axis (softmax, layer norm): every index reads the whole axis, and
    none of it when the axis has one index (the output is then a constant: 1, or the bias)."""
    return whole(axis, n, n) if n > 1 else Reads(axis, lambda: [NOTHING])


def shifted(axis: int, n_in: int, n_out: int, shift: int) -> Reads:
    """Output index i reads input index i - shift, and nothing outside the input (the channels of
    one branch of a concat)."""
    return Reads(axis, lambda: [(i - shift, i - shift) if 0 <= i - shift < n_in else NOTHING for i in range(n_out)],
                 kind="shift", shift=shift)


def flat() -> tuple[Reads, ...]:
    """A reshape: output element k reads input element k, both counted in C order. No output axis
    reads one input axis, so the analysis follows it element by element (cnndsl/analysis/boxes.py)."""
    return tuple(Reads(a, lambda: [], kind="flat") for a in range(3))


def table(axis: int, spans: Callable[[], list[Span]], step: int = 1) -> Reads:
    """Any per-index intervals (grouped convolution's channels, channel shuffle, concat), each read
    every `step` indices."""
    return Reads(axis, spans, step=step)


def window(axis: int, n_in: int, n_out: int, k: int, s: int, d: int, left: int) -> Reads:
    """A window of `k` taps `d` apart, the i-th starting at `i * s - left` (left padding),
    clipped to the input: the first and last tap inside it (nothing when none is)."""
    span = (k - 1) * d
    if k == 1 and s == 1 and left == 0 and n_in == n_out:
        return same(axis, n_out)

    def spans() -> list[Span]:
        out = []
        for i in range(n_out):
            first = i * s - left
            last = first + span
            if first >= 0 and last < n_in:
                out.append((first, last))
                continue
            lo = first + _taps(-first, d) * d  # the first tap at or after index 0
            hi = last - _taps(last - (n_in - 1), d) * d  # the last tap at or before n - 1
            out.append((lo, hi) if 0 <= lo <= hi <= n_in - 1 else NOTHING)
        return out
    return Reads(axis, spans, s, step=d)


def _taps(excess: int, d: int) -> int:
    """Taps of spacing `d` to skip to move `excess` indices back inside the input (0 if inside)."""
    return -(-excess // d) if excess > 0 else 0


def adaptive(axis: int, n_in: int, n_out: int) -> Reads:
    """PyTorch's adaptive pooling: output i averages [floor(i n / out), ceil((i + 1) n / out))."""
    return Reads(axis, lambda: [(i * n_in // n_out, -(-(i + 1) * n_in // n_out) - 1) for i in range(n_out)],
                 n_in / n_out)


def _float32(x: float) -> float:
    return struct.unpack("f", struct.pack("f", x))[0]


def nearest(axis: int, n_in: int, n_out: int, scale: float) -> Reads:
    """Nearest upsampling by `scale`: output i reads input min(floor(i * (1 / scale)), n - 1), as
    PyTorch's `nearest_idx` computes it, in single precision (ATen/native/UpSample.h)."""
    def spans() -> list[Span]:
        if n_out == n_in:
            return [(i, i) for i in range(n_out)]
        if n_out == 2 * n_in:
            return [(i >> 1, i >> 1) for i in range(n_out)]
        step = _float32(1.0 / scale)  # the product of two floats, exact in double, rounded once as C++ does
        return [(j, j) for j in (min(floor(_float32(i * step)), n_in - 1) for i in range(n_out))]
    return Reads(axis, spans, 1 / scale)


def bilinear(axis: int, n_in: int, n_out: int, scale: float) -> Reads:
    """Bilinear upsampling (align_corners=False): output i reads the two inputs around
    max((i + 0.5) / scale - 0.5, 0), the second only where its weight is not 0 (a source on an
    input pixel, or the last one). In double precision, as PyTorch computes it for float64."""
    return _bilinear(axis, n_in, n_out, 1.0 / scale)


def bilinear_to_size(axis: int, n_in: int, n_out: int) -> Reads:
    """Bilinear resizing to a given size (align_corners=False, `F.interpolate(size=...)`): as
    `bilinear`, with PyTorch's step for a size, `n_in / n_out` (not the inverse of a scale)."""
    return _bilinear(axis, n_in, n_out, n_in / n_out)


def nothing(axis: int, n_out: int) -> Reads:
    """No output index reads this input along the axis (a tensor whose size alone is used)."""
    return Reads(axis, lambda: [NOTHING] * n_out)


def _bilinear(axis: int, n_in: int, n_out: int, step: float) -> Reads:
    """Output i reads the two inputs around max(step * (i + 0.5) - 0.5, 0) (see `bilinear`)."""
    def spans() -> list[Span]:
        out = []
        for i in range(n_out):
            src = max(step * (i + 0.5) - 0.5, 0.0)
            lo = min(int(src), n_in - 1)
            out.append((lo, lo + 1 if lo < n_in - 1 and src > lo else lo))
        return out
    return Reads(axis, spans, step)


def elementwise(in_shapes: list, out_shape: tuple) -> tuple[tuple[Reads, ...], ...]:
    """The rule of an op that reads each input element at its own position, broadcasting
    size-1 axes (activations, norms per channel, add, mul; the default when an op names none):
    an axis of the input's size reads index i, a size-1 axis index 0, any other the whole axis."""
    def one(axis: int, n_in: int, n_out: int) -> Reads:
        return same(axis, n_out) if n_in == n_out else point(axis, n_out) if n_in == 1 else whole(axis, n_in, n_out)
    return tuple(tuple(one(a, s[a], out_shape[a]) for a in range(len(out_shape))) for s in in_shapes)


def from_window(windows: tuple[tuple[float, ...], ...], in_shapes: list,
                out_shape: tuple) -> tuple[tuple[Reads, ...], ...]:
    """The rule of an op that gives the older `window` form, ((k, s, d, p), (k, s, d, p)): each
    spatial axis of every input a window (the whole axis where a value is not a whole number), the
    channels element-wise."""
    rules = []
    for rule, shape in zip(elementwise(in_shapes, out_shape), in_shapes, strict=True):
        axes = []
        for axis, (k, s, d, p) in zip((1, 2), windows, strict=True):
            whole_numbers = all(float(v).is_integer() for v in (k, s, d)) and k >= 1 and s >= 1 and d >= 1
            axes.append(window(axis, shape[axis], out_shape[axis], int(k), int(s), int(d), floor(p)) if whole_numbers
                        else whole(axis, shape[axis], out_shape[axis]))
        rules.append((rule[0], *axes))
    return tuple(rules)


def replace_axis(rule: tuple[Reads, ...], axis: int, reads: Reads) -> tuple[Reads, ...]:
    """`rule` (one input's Reads per output axis) with output axis `axis` reading as `reads`."""
    return tuple(reads if a == axis else r for a, r in enumerate(rule))
