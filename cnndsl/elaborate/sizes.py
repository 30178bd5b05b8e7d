"""Sizes of expansions as the estimate counts them: layers, steps and block calls, each a pair of
bounds (cnndsl.elaborate.estimate explains what the bounds mean and how they are found)."""

from __future__ import annotations

from .frames import Limits

CAP = 2 ** 62  # an upper bound that is not known


class Size:
    """Layers, steps (statements, loop iterations, block calls) and block calls an expansion
    makes: at least `low`, at most `high`. Immutable; a plain class, as the walk makes many."""

    __slots__ = ("low", "high")

    def __init__(self, low: tuple[int, int, int] = (0, 0, 0), high: tuple[int, int, int] = (0, 0, 0)) -> None:
        self.low, self.high = low, high

    @staticmethod
    def of(layers: int = 0, steps: int = 0, blocks: int = 0) -> Size:
        """An exact size: as many layers, steps and block calls as given, at least and at most."""
        return Size((layers, steps, blocks), (layers, steps, blocks))

    def __add__(self, other: Size) -> Size:
        (a, b, c), (d, e, f) = self.low, other.low
        (g, h, i), (j, k, m) = self.high, other.high
        return Size((a + d, b + e, c + f), (min(CAP, g + j), min(CAP, h + k), min(CAP, i + m)))

    def times(self, n: int) -> Size:
        """The size of `n` expansions of this one in sequence (upper bounds capped at CAP)."""
        return Size(tuple(a * n for a in self.low), tuple(min(CAP, a * n) for a in self.high))

    def either(self, other: Size) -> Size:
        """One of two sizes, not known which."""
        return Size(tuple(map(min, self.low, other.low)), tuple(map(max, self.high, other.high)))

    def unbounded(self) -> Size:
        """This size with its upper bound unknown (CAP); the lower bound stays."""
        return Size(self.low, (CAP, CAP, CAP))

    def beyond(self, limits: Limits, used: tuple[int, int, int] = (0, 0, 0)) -> bool:
        """Whether the lower bound, added to what is `used`, passes a limit."""
        (a, b, c), (d, e, f) = used, self.low
        return a + d > limits.max_layers or b + e > limits.max_steps or c + f > limits.max_blocks

    def fits(self, limits: Limits, used: tuple[int, int, int]) -> bool:
        """Whether the upper bound, added to what is `used`, keeps within every limit."""
        (a, b, c), (d, e, f) = used, self.high
        return a + d <= limits.max_layers and b + e <= limits.max_steps and c + f <= limits.max_blocks


UNBOUNDED = Size().unbounded()
LAYER, STEP, CALL = Size.of(layers=1), Size.of(steps=1), Size.of(steps=1, blocks=1)
