"""Elaboration: a parsed program and a network name become a shape-checked IR graph
(blocks inlined, loops unrolled, every shape computed as its layer is added)."""

from .elaborator import elaborate
from .frames import Limits

__all__ = ["Limits", "elaborate"]
