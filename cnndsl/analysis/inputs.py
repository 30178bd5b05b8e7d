"""Which input sizes a network accepts, and at which no layer drops pixels (the lecture's
AlexNet 224-versus-227 question), found by elaborating the network at each size."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

from ..errors import CnnError
from ..request import Request


@dataclass(frozen=True)
class Fit:
    """One square input size `scan` tried: the side `size` in pixels, whether the network elaborates at it
    (`valid`), whether no layer then drops input rows or columns (`exact`), and why not (`reason`: the
    first error or warning)."""

    size: int
    valid: bool
    exact: bool      # valid and no layer drops rows or columns
    reason: str = ""  # why not: the first error or warning


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
            warnings = checked.warnings
            out.append(Fit(s, True, not warnings, warnings[0].message if warnings else ""))
        if progress:
            progress(s)
    return out


def nearest_exact(request: Request, shape: tuple[int, ...], reach: int = 64) -> list[int]:
    """Square sizes within `reach` of the input's height at which every layer fits exactly,
    nearest first (at most two: the next below and above)."""
    if len(shape) != 3 or shape[1] != shape[2]:
        return []
    n = shape[1]
    below = [f.size for f in scan(request, shape[0], range(n - 1, max(n - reach, 0), -1)) if f.exact]
    above = [f.size for f in scan(request, shape[0], range(n + 1, n + reach)) if f.exact]
    return [*below[:1], *above[:1]]
