"""The diagrams' colours: one fill per op family that stays distinct for colour-blind readers and
in greyscale print.

The hues are Okabe and Ito's colour-universal palette (orange, sky blue, bluish green, yellow, blue,
vermillion, reddish purple, black), each tinted towards white to a lightness of its own: CIE L*
55.5 to 100 in steps of about 5 (at least 4.4; `lightness`), so that two families differ in lightness even where
a reader cannot tell their hues apart, and the boxes stay light enough for black text. The `mono`
theme is the same lightness levels in grey.
"""

from __future__ import annotations

from ..ops import Family

# family -> fill; "_line" and "_text" are the strokes. Okabe-Ito hue tinted to the L* in the comment.
THEMES = {
    "color": {Family.MERGE: "#ffffff",    # white, L* 100
              Family.NORM: "#f9f4b2",     # yellow, 95
              Family.RESHAPE: "#d3e7f2",  # blue, 90.5
              Family.IO: "#d5d5d5",       # black (grey), 85.5
              Family.ACT: "#efc35e",      # orange, 81
              Family.CONV: "#7bc5ee",     # sky blue, 76
              Family.BLOCK: "#e69f66",    # vermillion, 71
              Family.POOL: "#39b492",     # bluish green, 66
              Family.FC: "#cc79a7",       # reddish purple, 61 (untinted)
              Family.OTHER: "#858585",    # black (grey), 55.5
              "_line": "#333333", "_text": "#000000"},
    "mono": {Family.MERGE: "#ffffff", Family.NORM: "#f2f2f2", Family.RESHAPE: "#e3e3e3", Family.IO: "#d5d5d5",
             Family.ACT: "#c9c9c9", Family.CONV: "#bcbcbc", Family.BLOCK: "#aeaeae", Family.POOL: "#a0a0a0",
             Family.FC: "#939393", Family.OTHER: "#858585", "_line": "#000000", "_text": "#000000"},
}


def lightness(colour: str) -> float:
    """CIE L* (0 black to 100 white) of an sRGB colour `#rrggbb`: the lightness a greyscale print keeps."""
    def linear(c: float) -> float:
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4
    r, g, b = (linear(int(colour[i:i + 2], 16) / 255) for i in (1, 3, 5))
    y = 0.2126 * r + 0.7152 * g + 0.0722 * b  # relative luminance (sRGB, D65)
    return 116 * y ** (1 / 3) - 16 if y > 216 / 24389 else y * 24389 / 27
