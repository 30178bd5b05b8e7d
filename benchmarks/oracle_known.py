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
FOUND: dict[str, str] = {
    "rf_broadcast_merge": "a merge with a broadcast gate (squeeze-and-excitation) takes the gate's field, "
                          "misplaced for every output pixel but the first",
    "rf_bilinear": "bilinear upsampling reads two input pixels; its field says one",
    "rf_last_axis": "linear and layernorm on a CxHxW input act along W; the field does not widen",
    "rf_permute": "after permute the field still reads the tensor's axes as C, H, W",
    "rf_upsample": "nearest upsampling's output pixel i reads input floor(i / scale); the field centres it at "
                   "i / scale, pixels off once an earlier stride multiplies the offset",
    "rf_transposed": "conv_transpose and pixel_shuffle's output pixel reads the inputs at a floor division by the "
                     "stride; the field centres and sizes them on average (docs/analysis.md), pixels off where the "
                     "rounding falls the other way and more once an earlier stride multiplies the offset",
    "rf_reshape": "a reshape of a CxHxW tensor gathers each output pixel's elements from rows and columns of "
                  "its own; the field is taken as the whole input",
    "rf_adaptive": "adaptive pooling that does not divide is approximated by even windows (docs/analysis.md); "
                   "the true windows start up to a pixel or two earlier",
}
TOLERATED = KNOWN.keys() | FOUND.keys()
