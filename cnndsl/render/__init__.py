"""Figures: the Graphviz diagram of a network (`diagram`), rendering to files (`figure`), the gallery."""

from ..ir import set_svg_drawer
from .figure import svg

set_svg_drawer(svg)
