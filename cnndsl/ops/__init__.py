"""The op registry; importing this package registers every op and its import rules.

The names a plugin needs to write an op (docs/plugins.md) are public here: `Op`, `Param`, `Family`,
the parameter kinds `integer`, `pair`, `number`, `boolean`, `choice`, `ShapeError` and `ArgError`,
and the MAC conventions `PER_WEIGHT` and `PER_ELEMENT`. A plugin registers its ops with
`cnndsl.register_ops` (cnndsl/lang/plugins.py), which validates them first.
"""

from . import activations, generative, layers, merges, modern, norms, windowed  # noqa: F401  (each module registers its ops)
from .generative import CONV_TRANSPOSE
from .layers import FLATTEN, IDENTITY, INPUT
from .merges import CONCAT
from .modern import LAYER_SCALE
from .registry import (
    PER_ELEMENT,
    PER_WEIGHT,
    REGISTRY,
    ArgError,
    Attrs,
    Family,
    Op,
    Param,
    Shape,
    ShapeError,
    boolean,
    choice,
    dims,
    integer,
    number,
    pair,
)

# the ops cnndsl itself defines: a plugin's op may not take one of these names
BUILTIN_OPS = frozenset(REGISTRY)

# the ops that passes outside cnndsl.ops create themselves (the elaborator its input, the
# importer the empty branch, a layer scale, DenseNet's concatenations); they refer to them by
# these constants, never by their names
__all__ = ["BUILTIN_OPS", "CONCAT", "CONV_TRANSPOSE", "FLATTEN", "IDENTITY", "INPUT", "LAYER_SCALE",
           "PER_ELEMENT", "PER_WEIGHT", "REGISTRY",
           "ArgError", "Attrs", "Family", "Op", "Param", "Shape", "ShapeError", "boolean", "choice", "dims", "integer",
           "number", "pair"]
