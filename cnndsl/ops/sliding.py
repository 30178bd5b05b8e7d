"""The one window-size rule: how many positions a sliding window takes along one axis, exactly
as PyTorch computes it. Every op that slides a window (conv, maxpool, avgpool) sizes its output
with `output_length`, a dilated one (conv's and maxpool's `dilation=`) by its span d(k-1)+1,
and the "drops pixels" warning and `cnndsl inputs` read it through them, so cnndsl accepts an
input exactly when torch runs on it (tests/test_windows.py and tests/test_ops_norms_activations.py
sweep them)."""

from __future__ import annotations


def output_length(n: int, k: int, s: int, p: int, d: int = 1, ceil: bool = False) -> int:
    """Window positions along an axis of length n (kernel k, stride s, padding p on each side, dilation d):
    torch's `pooling_output_shape` (aten/src/ATen/native/Pool.h), which Conv2d's shape also follows
    (ceil False; the H_out formula of PyTorch's nn.Conv2d docs). That is floor((n + 2p - d(k-1) - 1) /
    s) + 1, or with `ceil` rounded up, where a last window that starts inside the input or its left
    padding is kept even when it overhangs the end, and dropped only when it starts in the right
    padding. 0 where no window fits (torch refuses those inputs)."""
    span = n + 2 * p - d * (k - 1) - 1
    out = (-(-span // s) if ceil else span // s) + 1  # floor division rounds towards -inf, as torch's div_rtn
    if ceil and (out - 1) * s >= n + p:
        out -= 1
    return max(out, 0)


def dropped(n: int, k: int, s: int, p: int, d: int = 1) -> int:
    """Input rows at the end that no window touches (the floor of `output_length` drops them).
    Only meaningful when windows tile the input (k >= s); a 1x1/2 conv skips rows by design."""
    out = output_length(n, k, s, p, d)
    last = -p + (out - 1) * s + d * (k - 1)
    return max(0, n - 1 - last) if d * (k - 1) + 1 >= s else 0


def fitting_sizes(n: int, k: int, s: int, p: int, d: int = 1) -> tuple[int, int]:
    """The nearest input lengths below and above n for which the window fits exactly."""
    r = (n + 2 * p - d * (k - 1) - 1) % s
    return n - r, n - r + s
