"""The limits of one elaboration (`Limits`), checked twice: before an expansion, from the size
estimate.py gives it, so that an input past a limit is refused at once; and as the graph
grows, for what no estimate could see (a block whose size depends on its input's shape)."""

from __future__ import annotations

import math

from ..errors import CallChain, CnnError, Span
from ..lang import syntax as ast
from ..lang.limits import Meter
from ..lang.source import Program
from ..lang.values import Scope
from .estimate import CALL, Estimator, Size
from .frames import Limits

HINT = "the limits are listed in docs/errors.md"


class Budget:
    """Steps (a meter the elaboration's scopes charge too), block calls, and the look ahead."""

    def __init__(self, program: Program, limits: Limits) -> None:
        self.limits = limits
        self.meter = Meter(limits.max_steps)
        self.estimator = Estimator(program, limits)
        self.blocks = 0
        self.bounded = False  # whether the estimate bounds the whole network within the limits

    def network(self, body: tuple[ast.Stmt, ...], scope: Scope) -> None:
        """Estimate the network's body, statement by statement, before any of it is expanded."""
        ahead, estimate = Size(), self.estimator.scope(scope)
        for stmt in body:
            ahead += self.estimator.statement(stmt, estimate)
            self.expect(ahead, (0, self.meter.used, self.blocks), stmt.span, "this statement")
        # at most this much in all (the zoo's case): no block call needs a look ahead
        self.bounded = ahead.fits(self.limits, (0, 0, 0))

    def block(self, block: ast.BlockDef, args: dict[str, object], in_shape: tuple | None, depth: int,
              layers: int, span: Span) -> None:
        """Count a block call made `depth` calls deep with `layers` built; refuse it first if it
        would pass a limit. Its size with the input unknown is remembered by arguments; only when
        that could pass a limit is the body estimated again with the input shape, which decides
        more of its `if`s."""
        if not self.bounded:
            used = (layers, self.meter.used, self.blocks)
            size = self.estimator.call_size(block, args, depth)
            if not size.fits(self.limits, used):
                size = CALL + self.estimator.block_body(block, args, in_shape, depth + 1)
            self.expect(size, used, span, f"`{block.name}(...)`")
        self.blocks += 1
        if self.blocks > self.limits.max_blocks:
            raise CnnError(f"the network has more than {self.limits.max_blocks} block calls (the limit)", span)
        self.meter.charge(1, span)

    def tensors(self, op: str, shapes: list[tuple[int, ...]], span: Span, chain: CallChain) -> None:
        """Refuse a layer's output past `max_elements` per sample (it could not be allocated, and
        torch's sizes are 64-bit) or `max_rank` dimensions."""
        for shape in shapes:
            if len(shape) > self.limits.max_rank:
                raise CnnError(f"`{op}` would give a tensor of {len(shape)} dimensions per sample; the limit is "
                               f"{self.limits.max_rank}", span, HINT, chain)
            elements = math.prod(shape)
            if elements > self.limits.max_elements:
                raise CnnError(f"`{op}` would give a tensor of {_dims(shape)} = {_count(elements)} elements per "
                               f"sample; the limit is {self.limits.max_elements}", span, HINT, chain)

    def expect(self, ahead: Size, used: tuple[int, int, int], span: Span, what: str) -> None:
        """Refuse what would pass a limit, its lower bound added to what is `used`."""
        layers, steps, blocks = (now + n for now, n in zip(used, ahead.low, strict=True))
        limits = self.limits
        for n, most, unit in ((layers, limits.max_layers, "layers"), (blocks, limits.max_blocks, "block calls"),
                              (steps, limits.max_steps, "steps of building")):
            if n > most:
                raise CnnError(f"{what} would bring the network to at least {n} {unit}, more than the limit of "
                               f"{most}", span, HINT)


def _dims(shape: tuple[int, ...]) -> str:
    return "x".join(map(_count, shape))


def _count(n: int) -> str:
    """A size as a number, or a power of two past 64 bits (`upsample 1e300` makes sizes of
    300 digits, and Python refuses to print past 4300)."""
    return str(n) if n.bit_length() <= 64 else f"~2^{n.bit_length() - 1}"
