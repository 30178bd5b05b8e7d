"""The language's value limits, and the step meter that bounds the work of one elaboration.

Every limit is checked before the work it bounds is done: a literal before it is converted, a
tuple before it is built (`(0,) * 10 ** 9` is refused from the sizes of its operands), so no
input can make the compiler spend minutes or gigabytes on its way to an error. docs/errors.md,
"Limits", lists them all (a test compares that table with these constants).
"""

from __future__ import annotations

import math

from ..errors import CnnError, Span

MAX_INT_BITS = 64  # an integer, whether written or computed; no real size needs more
MAX_LITERAL_DIGITS = 20  # the digits of a 64-bit integer: longer literals are refused unconverted
MAX_SEQUENCE = 1_000_000  # items of one tuple value, those of the tuples inside it included
MAX_TUPLE_DEPTH = 100  # tuples inside one another, as for brackets (cnndsl.lang.grammar.MAX_NESTING)


ITEMS_PER_STEP = 8  # tuple items built per step of the meter: building one costs about 1/8 of a statement


class Meter:
    """Counts the steps of one elaboration (statements, loop iterations, block calls, evaluated
    expressions, tuple items built: steps of about equal cost) and refuses to go past `limit`."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0

    def charge(self, steps: int, span: Span | None) -> None:
        """Count `steps` more; CnnError at `span` once more than `limit` are used."""
        self.used += steps
        if self.used > self.limit:
            raise CnnError(f"building the network takes more than {self.limit} steps (the limit)", span,
                           "the limits are listed in docs/errors.md")


def int_literal(digits: str, span: Span | None) -> int:
    """An integer as written; refused unconverted when it cannot fit MAX_INT_BITS (Python's own
    conversion stops at 4300 digits with an exception)."""
    significant = digits.lstrip("0") or "0"
    if len(significant) > MAX_LITERAL_DIGITS:
        raise CnnError(f"integer too large ({len(significant)} digits; the limit is {MAX_INT_BITS} bits)", span)
    return check_int(int(significant), span)


def float_literal(text: str, span: Span) -> float:
    """A number with a point or exponent as written; `1e999` would be infinity."""
    value = float(text)
    if not math.isfinite(value):
        raise CnnError(f"number too large: {text[:20]}{'...' if len(text) > 20 else ''} is beyond a float's range",
                       span)
    return value


def check_int(value: int, span: Span | None) -> int:
    """`value` when it fits MAX_INT_BITS (64 bits, sign apart); else a CnnError at `span`."""
    if value.bit_length() > MAX_INT_BITS:
        raise CnnError(f"integer too large ({value.bit_length()} bits; the limit is {MAX_INT_BITS})", span)
    return value


def tuple_items(value: object, span: Span | None) -> int:
    """How many tuple items `value` holds, those of nested tuples included; a CnnError past
    MAX_SEQUENCE items or MAX_TUPLE_DEPTH levels. The walk stops at the first tuple past a
    limit, so it costs at most MAX_SEQUENCE steps however the value was built (`(t, t, t)`
    counts `t` three times, as a message or a comparison would walk it three times)."""
    if not isinstance(value, tuple):
        return 0
    items = 0
    stack: list[tuple[tuple, int]] = [(value, 1)]
    while stack:
        v, depth = stack.pop()
        items += len(v)
        if items > MAX_SEQUENCE:
            raise CnnError(f"tuple too large: more than {MAX_SEQUENCE} items, counting those of nested "
                           "tuples (the limit)", span)
        if depth > MAX_TUPLE_DEPTH:
            raise CnnError(f"tuples nested deeper than {MAX_TUPLE_DEPTH}", span)
        stack.extend((t, depth + 1) for t in v if type(t) is tuple)
    return items


def check_value(value: object, span: Span | None) -> None:
    """A value from outside the language (`cnndsl.check(path, c=...)`) within the limits the
    language's own values keep: integer size, finite floats, tuple items and depth."""
    tuple_items(value, span)
    bound, stack = 1 << MAX_INT_BITS, [(value,)]
    while stack:
        for v in stack.pop():
            kind = type(v)
            if kind is tuple:
                stack.append(v)
            elif kind is int and not -bound < v < bound:
                check_int(v, span)
            elif kind is float and not math.isfinite(v):
                raise CnnError(f"{v} is not a finite number", span)
