"""The op registry; importing this package registers every op and its import rules."""

from . import activations, layers, merges, modern, norms, windowed  # noqa: F401  (each module registers its ops)
from .layers import IDENTITY, INPUT
from .merges import CONCAT
from .modern import LAYER_SCALE
from .registry import REGISTRY, ArgError, Family, Op, Param, Shape, ShapeError, dims

# the ops that passes outside cnndsl.ops create themselves (the elaborator its input, the
# importer the empty branch, a layer scale, DenseNet's concatenations); they refer to them by
# these constants, never by their names
__all__ = ["CONCAT", "IDENTITY", "INPUT", "LAYER_SCALE", "REGISTRY", "ArgError", "Family", "Op", "Param", "Shape",
           "ShapeError", "dims"]
