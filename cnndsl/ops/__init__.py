"""The op registry; importing this package registers every op."""

from . import activations, layers, merges, modern  # noqa: F401  (each module registers its ops)
from .registry import REGISTRY, ArgError, Op, Param, Shape, ShapeError, dims

__all__ = ["REGISTRY", "ArgError", "Op", "Param", "Shape", "ShapeError", "dims"]
