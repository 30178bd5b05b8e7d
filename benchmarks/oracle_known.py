"""The differences the differential oracle knows, in one place: `KNOWN`, those other changes
are fixing, and `FOUND`, those the oracle found and reported that nothing fixes yet. A finding
of a kind listed here is tolerated by tests/test_oracle.py and marked in benchmarks/oracle.py's
table; any other kind fails. Remove an entry once its fix is merged, and the oracle enforces it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Finding:
    kind: str     # the comparison (`shape`), or the listed difference it is an instance of
    message: str


# being fixed by other changes: the ceil-pool and zero-size shape rules; ONNX; labels, diff and
# diagrams
KNOWN: dict[str, str] = {}  # every kind listed here before has its fix merged
# found by this oracle, reported with minimal programs in docs/performance.md, not fixed yet
FOUND: dict[str, str] = {}  # onnx_rounding: closed by the rounding spread of every layer (agreement.py)
TOLERATED = KNOWN.keys() | FOUND.keys()
