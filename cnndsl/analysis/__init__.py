"""Analysis of a checked network: parameters, MACs, memory and receptive field (`costs`),
the input sizes it accepts (`inputs`), and the report formats (`report`). No torch."""

from .costs import DTYPE_BYTES, Row, Summary, analyse

__all__ = ["DTYPE_BYTES", "Row", "Summary", "analyse"]
