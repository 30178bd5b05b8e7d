"""Several shapes of one module class as one block with `if`s.

torchvision's Bottleneck has a `downsample` branch in the first block of a stage and none in
the others; MobileNetV3's inverted residual has an expansion layer or not, and a
squeeze-excitation or not. A family's shapes are merged into one *template*: a sequence of
slots that every shape embeds into (a shortest common supersequence built by repeated
longest-common-subsequence alignment, descending into merges with the same op). A slot not
every shape has becomes `if flag { ... }` (neighbouring slots that come and go together
share one `if`); an instance takes the slots it has, and the constants of the ones it lacks
are WILD (any value fits them).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .items import WILD, Cond, Const, Merge, shape_of, values_of, wild


@dataclass(eq=False)
class Slot:
    """One position of a template: the shape of the item there (or a merge's op and branch count, with a
    template per branch), the first item seen there, and which of the family's shapes have it."""

    shape: object  # shape_of((item,)), or ("merge", op, branches) for a merge
    item: object  # the first item seen here (its wild copy stands in where an instance lacks it)
    branches: list[list[Slot]] | None = None
    seen: list[int] = field(default_factory=list)  # which of the family's shapes have it


def _key(item: object) -> object:
    return ("merge", item.op, len(item.branches)) if isinstance(item, Merge) else shape_of((item,))


def _agreement(slot: Slot, item: object) -> int:
    """How many numbers two items of one shape share: among equally long alignments, the one
    that pairs a depthwise convolution with a depthwise convolution wins."""
    if isinstance(item, Merge):
        return 0
    return sum(x == y for x, y in zip(values_of((slot.item,)), values_of((item,)), strict=False))


def _pairs(slots: list[Slot], items: tuple) -> list[tuple[int | None, int | None]]:
    """Longest common subsequence of slots and items (ties: the most numbers in common),
    as (slot, item) pairs in order."""
    n, m = len(slots), len(items)
    keys = [_key(i) for i in items]
    best = [[(0, 0)] * (m + 1) for _ in range(n + 1)]
    for a in range(n - 1, -1, -1):
        for b in range(m - 1, -1, -1):
            options = [best[a + 1][b], best[a][b + 1]]
            if slots[a].shape == keys[b]:
                after = best[a + 1][b + 1]
                options.append((after[0] + 1, after[1] + _agreement(slots[a], items[b])))
            best[a][b] = max(options)
    out, a, b = [], 0, 0
    while a < n or b < m:
        if a < n and b < m and slots[a].shape == keys[b] and best[a][b] == (
                best[a + 1][b + 1][0] + 1, best[a + 1][b + 1][1] + _agreement(slots[a], items[b])):
            out.append((a, b))
            a, b = a + 1, b + 1
        elif b < m and (a == n or best[a][b + 1] >= best[a + 1][b]):
            out.append((None, b))
            b += 1
        else:
            out.append((a, None))
            a += 1
    return out


def extend(slots: list[Slot], items: tuple, shape_id: int) -> list[Slot]:
    """The template grown so that `items` embed into it."""
    out: list[Slot] = []
    for a, b in _pairs(slots, items):
        if b is None:
            out.append(slots[a])
            continue
        item = items[b]
        slot = slots[a] if a is not None else Slot(_key(item), item, [[] for _ in item.branches]
                                                   if isinstance(item, Merge) else None)
        if slot.branches is not None:
            slot.branches = [extend(s, br, shape_id) for s, br in zip(slot.branches, item.branches, strict=True)]
        slot.seen.append(shape_id)
        out.append(slot)
    return out


def similar(a: tuple, b: tuple) -> bool:
    """Worth one block: they share at least half of the longer body, and not nothing."""
    common = sum(1 for x, y in _pairs([Slot(_key(i), i) for i in a], b) if x is not None and y is not None)
    return common >= 1 and 2 * common >= max(len(a), len(b))


def realize(slots: list[Slot], items: tuple, shapes: frozenset[int]) -> tuple:
    """`items` in the template's shape: its own items where it has them, WILD copies where it
    does not, `Cond(present, ...)` around the slots only some shapes have."""
    mine = {a: items[b] for a, b in _pairs(slots, items) if a is not None and b is not None}
    out: list = []
    group: list = []
    pattern: tuple | None = None
    for a, slot in enumerate(slots):
        item = mine.get(a)
        if slot.branches is not None:
            branches = item.branches if item is not None else [()] * len(slot.branches)
            inside = frozenset(slot.seen)
            body = Merge(slot.shape[1], tuple(realize(s, br, inside) for s, br in zip(slot.branches, branches,
                                                                                       strict=True)))
        else:
            body = item if item is not None else wild(slot.item)
        optional = frozenset(slot.seen) != shapes
        here = tuple(sorted(set(slot.seen))) if optional else None
        if group and here != pattern:
            out.append(Cond(Const(group[0][0]), tuple(x for _, x in group)))
            group = []
        if optional:
            group.append((item is not None, body))
            pattern = here
        else:
            out.append(body)
    if group:
        out.append(Cond(Const(group[0][0]), tuple(x for _, x in group)))
    return tuple(out)


def template(bodies: list[tuple]) -> list[Slot]:
    """The template of several bodies: slots that each body embeds into, `seen` marking which body has
    which."""
    slots: list[Slot] = []
    for k, body in enumerate(bodies):
        slots = extend(slots, body, k)
    _clear(slots)
    for k, body in enumerate(bodies):  # which shape has which slot, as `realize` will match them
        _mark(slots, body, k)
    return slots


def _clear(slots: list[Slot]) -> None:
    for slot in slots:
        slot.seen = []
        for branch in slot.branches or ():
            _clear(branch)


def _mark(slots: list[Slot], items: tuple, k: int) -> None:
    for a, b in _pairs(slots, items):
        if a is not None and b is not None:
            slots[a].seen.append(k)
            for branch, inner in zip(slots[a].branches or (), getattr(items[b], "branches", ()), strict=False):
                _mark(branch, inner, k)


__all__ = ["WILD", "Slot", "realize", "similar", "template"]
