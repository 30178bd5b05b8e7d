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
    "explicit_inplace": "`inplace=true` written on a layer whose input another layer also reads (directly or "
                        "through an alias such as dropout) overwrites that input: `add { hardswish inplace=true "
                        "| identity }` computes 2 hardswish(x), the exported Python file hardswish(x) + x",
    "python_constructor": "`export --format py` writes layers from their repr, which drops settings "
                          "(AvgPool2d ceil_mode, Hardswish inplace) or is not Python (padding=same)",
    "python_parameter": "`export --format py` leaves out a layer_scale parameter at the network's top level",
    "python_main": "the exported file's `__main__` fails: it calls a parameter's name instead of the class, "
                   "runs one sample in training mode (batch norm refuses) or takes `.shape` of several outputs",
    "onnx_check": "export's own check refuses outputs near 0 by relative difference",
    "onnx_parameter_name": "a layer_scale named by a position (`as 3`) does not export to ONNX (\"Invalid "
                           "name: '3'\")",
    "onnx_adaptive_unknown_size": "adaptive pooling after lrn does not export (torch.onnx keeps no sizes after "
                                  "LocalResponseNorm); `cnndsl export` reports an internal error",
}
TOLERATED = KNOWN.keys() | FOUND.keys()
