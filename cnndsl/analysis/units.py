"""Counts and sizes in the units the reports print."""

from __future__ import annotations


def human(n: float) -> str:
    """A count in decimal units: 23.3K, 72.3M, 4.1G, 1.2T (10^3, 10^6, 10^9, 10^12)."""
    for unit, scale in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.1f}{unit}"
    return f"{n:g}"


def human_bytes(n: float) -> str:
    """A size in bytes in binary units: `512 B`, `23.3 KiB`, `72.3 MiB`, `1.5 GiB`, ... `EiB` (2^10 to 2^60)."""
    for unit, scale in (("EiB", 2**60), ("PiB", 2**50), ("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20),
                        ("KiB", 2**10)):
        if abs(n) >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n:g} B"
