"""Which input sizes a network accepts, at which no layer drops pixels (the lecture's AlexNet
224-versus-227 question), and at which it keeps the declared input's weights (a `flatten` then
`fc` changes its parameter count with the size), found by elaborating the network at each size."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from itertools import zip_longest

from ..errors import CnnError
from ..ir import Network
from ..request import Request

_ELIDED = 5  # repeats of a pattern written as `first, second, ..., last (every step)`

Weights = tuple[tuple[str, int], ...]  # every layer's qualified name and parameter count, in graph order


@dataclass(frozen=True)
class Fit:
    """One square input size `scan` tried: the side `size` in pixels, whether the network elaborates at it
    (`valid`), whether no layer then drops input rows or columns (`exact`), why not (`reason`: the first
    error, or warning that a layer drops pixels) and, where valid, every layer's parameter count (`weights`)."""

    size: int
    valid: bool
    exact: bool      # valid and no layer drops rows or columns
    reason: str = ""  # why not: the first error, or warning that a layer drops pixels
    weights: Weights = ()


def weights_of(net: Network) -> Weights:
    """Every layer's qualified name and number of parameters: two inputs at which these agree load the
    same state dict (a layer's parameter shapes follow from its arguments and its input's channels, and
    only a size-dependent count such as an fc's `in_features` changes with the input)."""
    return tuple((layer.qualname, layer.params) for layer in net.layers())


def scan(request: Request, channels: int, sizes: Iterable[int],
         progress: Callable[[int], None] | None = None) -> list[Fit]:
    """Elaborate the request's network at each square input `channels x s x s` (per sample; s > 0), calling
    `progress(s)` after each. An error at a size is recorded in its `Fit`, never raised."""
    out = []
    for s in sizes:
        try:
            checked = replace(request, input=(channels, s, s)).check()
        except CnnError as exc:
            out.append(Fit(s, False, False, exc.message))
        else:
            drops = checked.drops  # other warnings do not make a size inexact
            out.append(Fit(s, True, not drops, drops[0].message if drops else "", weights_of(checked)))
        if progress:
            progress(s)
    return out


@dataclass(frozen=True)
class InputSizes:
    """What `cnndsl inputs` reports of a scan: the sizes (square sides, ascending) at which the network
    runs (`valid`), at which no layer drops pixels (`exact`), and at which every layer has the parameter
    count it has at the declared input (`same_weights`: the declared input's weights load); `params`, the
    declared input's parameter count; `changed`, the first layer whose count differs at some valid size
    (None when none does: then `same_weights` is `valid`)."""

    valid: list[int]
    exact: list[int]
    same_weights: list[int]
    params: int
    changed: str | None


def input_sizes(fits: list[Fit], declared: Network) -> InputSizes:
    """Sum up `scan`'s fits against the network checked at its declared input."""
    reference = weights_of(declared)
    valid = [f for f in fits if f.valid]
    other = next((f.weights for f in valid if f.weights != reference), None)
    changed = None if other is None else next((a or b)[0] for a, b in zip_longest(reference, other) if a != b)
    return InputSizes([f.size for f in valid], [f.size for f in valid if f.exact],
                      [f.size for f in valid if f.weights == reference], declared.count_params(), changed)


def nearest_exact(request: Request, shape: tuple[int, ...], reach: int = 64) -> list[int]:
    """Square sizes within `reach` of the input's height at which every layer fits exactly,
    nearest first (at most two: the next below and above)."""
    if len(shape) != 3 or shape[1] != shape[2]:
        return []
    n = shape[1]
    below = [f.size for f in scan(request, shape[0], range(n - 1, max(n - reach, 0), -1)) if f.exact]
    above = [f.size for f in scan(request, shape[0], range(n + 1, n + reach)) if f.exact]
    return [*below[:1], *above[:1]]


def size_list(sizes: list[int]) -> str:
    """Ascending sizes as a person writes them: runs of consecutive sizes as `33-224 (all)` and a pattern of
    runs that repeats at a fixed step (five times or more: fewer are listed) by its first two and its last repeat:
    [32, 64, ..., 512] -> `32, 64, ..., 512 (every 32)`, [33..36, 65..68, ...] -> `33-36, 65-68, ...,
    481-484 (every 32)`; '' for no sizes. The text names every size and no other."""
    if not sizes:
        return ""
    runs, start = [], None
    for a, b in zip(sizes, [*sizes[1:], None], strict=True):
        start = a if start is None else start
        if b != a + 1:
            runs.append((start, a))
            start = None
    parts, i = [], 0
    while i < len(runs):
        width, step, repeats = _repeating(runs, i)
        if repeats >= _ELIDED:
            blocks = [runs[i + k * width:i + (k + 1) * width] for k in (0, 1, repeats - 1)]
            shown = [", ".join(_run(r) for r in block) for block in blocks]
            parts.append(f"{shown[0]}, {shown[1]}, ..., {shown[2]} (every {step})")
            i += width * repeats
        else:
            a, b = runs[i]
            parts.append(_run(runs[i]) + (" (all)" if b - a >= 2 else ""))
            i += 1
    return ", ".join(parts)


def _run(run: tuple[int, int]) -> str:
    return str(run[0]) if run[0] == run[1] else f"{run[0]}-{run[1]}"


def _repeating(runs: list[tuple[int, int]], i: int, longest: int = 4) -> tuple[int, int, int]:
    """The pattern of 1..`longest` runs from `runs[i]` that repeats the most sizes at a fixed step:
    (runs in the pattern, step, repeats including the first)."""
    best = (1, 0, 1)
    for width in range(1, longest + 1):
        if i + width >= len(runs):
            break
        step = runs[i + width][0] - runs[i][0]
        repeats = 1
        while i + (repeats + 1) * width <= len(runs) and all(
                runs[i + repeats * width + t] == (runs[i + t][0] + repeats * step, runs[i + t][1] + repeats * step)
                for t in range(width)):
            repeats += 1
        if repeats >= _ELIDED and width * repeats > best[0] * best[2]:
            best = (width, step, repeats)
    return best
