"""The MAC conventions of all ops in words, from their registry entries (`Op.macs`): one
paragraph for the footer of `cnndsl summary`, and the groups docs/analysis.md tabulates
(cnndsl/ops/docs.py). Ops that count alike are listed together."""

from __future__ import annotations

from .registry import REGISTRY, Family, Op


def in_family_order() -> list[Op]:
    """The ops one writes in a network (not the input), by family, then in registry order."""
    order = list(Family)
    return sorted((op for op in REGISTRY.values() if not op.is_input), key=lambda op: order.index(op.family))


def by_convention() -> dict[str, list[str]]:
    """MAC convention -> the names of the ops that follow it; '' (last) for those that count none."""
    groups: dict[str, list[str]] = {}
    for op in in_family_order():
        groups.setdefault(op.macs, []).append(op.name)
    none = groups.pop("", [])
    return {**groups, **({"": none} if none else {})}


def _and(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def mac_conventions() -> str:
    """The conventions in one paragraph, for the footer of `cnndsl summary`."""
    parts = [f"{_and(names)} {convention}" for convention, names in by_convention().items() if convention]
    return "MACs (multiply-accumulates) per sample: " + "; ".join(parts) + "; every other op none."
