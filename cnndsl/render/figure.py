"""Writing diagrams to files: `cnndsl.draw` and `cnndsl draw`, through Graphviz's `dot`
(atomically, by cnndsl.files)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from ..errors import CnnError
from ..files import write_atomic
from ..ir import Network
from .diagram import SHAPES, THEMES, WRAP, to_dot

FORMATS = ("svg", "pdf", "png", "dot")
DOT_TIMEOUT = 600  # seconds; the full densenet201 takes about one
INSTALL_DOT = "install Graphviz: sudo apt-get install graphviz (Debian/Ubuntu), brew install graphviz (macOS)"


def dot_available() -> bool:
    """Whether Graphviz's `dot` program is on the PATH."""
    return shutil.which("dot") is not None


def render(source: str, fmt: str) -> bytes:
    """DOT text -> bytes of `fmt` (svg, pdf, png) by the system `dot` (for `dot`, the text itself).
    CnnError when `dot` is not installed or fails."""
    if fmt == "dot":
        return source.encode()
    if not dot_available():
        raise CnnError(f"cannot render {fmt}: Graphviz's `dot` is not installed", hint=INSTALL_DOT)
    try:
        result = subprocess.run(["dot", f"-T{fmt}"], input=source.encode(), capture_output=True, timeout=DOT_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise CnnError(f"dot took more than {DOT_TIMEOUT} s to lay the diagram out",
                       hint="draw fewer layers: a smaller --depth instead of --full") from None
    if result.returncode != 0:
        raise CnnError(f"dot failed: {result.stderr.decode(errors='replace').strip()}")
    return result.stdout


def output_format(path: str | os.PathLike) -> str:
    """The format of an output path, from its extension (svg, pdf, png, dot); CnnError for any other."""
    if Path(path).is_dir():
        raise CnnError(f"'{path}' is a folder: -o takes the figure's file name",
                       hint=f"for example -o {Path(path) / 'net'}.svg")
    fmt = Path(path).suffix.lstrip(".").lower()
    if not fmt:
        raise CnnError(f"'{path}' has no extension: it names the figure's format", hint="use .svg, .pdf, .png or .dot")
    if fmt not in FORMATS:
        raise CnnError(f"unknown output format '.{fmt}' for '{path}'", hint="use .svg, .pdf, .png or .dot")
    return fmt


def draw_network(net: Network, output: str | os.PathLike, depth: int | None = 0, rankdir: str = "TB",
                 shapes: bool | str = True, params: bool = False, theme: str = "color", compact: bool = False,
                 names: bool = False, wrap: int = WRAP) -> Path:
    """Draw a checked network into `output` (format from its extension; see `cnndsl.draw` for the other
    arguments); returns the path. Raises CnnError for an unknown extension, theme, rankdir or shapes, a
    negative wrap, a missing or failing `dot` (nothing is written), or an output that cannot be written."""
    path = Path(output)
    fmt = output_format(path)
    if theme not in THEMES:
        raise CnnError(f"unknown theme '{theme}'", hint="themes: " + ", ".join(THEMES))
    if rankdir not in ("TB", "LR"):
        raise CnnError(f"--rankdir must be TB or LR, got '{rankdir}'")
    if depth is not None and (isinstance(depth, bool) or not isinstance(depth, int) or depth < 0):
        raise CnnError(f"depth must be 0 or more (or None for every layer), got {depth!r}")
    if shapes not in (True, False, *SHAPES):
        raise CnnError(f"--shapes must be one of {', '.join(SHAPES)}, got {shapes!r}")
    if isinstance(wrap, bool) or not isinstance(wrap, int) or wrap < 0:
        raise CnnError(f"--wrap must be 0 (never) or more, got {wrap!r}")
    source = to_dot(net, depth, rankdir, shapes, params, theme, compact, names, wrap)
    if fmt != "dot" and not dot_available():  # nothing is written: the user asked for another file
        raise CnnError(f"cannot render {fmt}: Graphviz's `dot` is not installed",
                       hint=f"{INSTALL_DOT}; or write the DOT text with -o {path.with_suffix('.dot')}")
    write_atomic(path, render(source, fmt))
    return path


def svg(net: Network, depth: int | None = 0) -> str | None:
    """The diagram as SVG text for Jupyter, or None without Graphviz."""
    if not dot_available():
        return None
    return render(to_dot(net, depth), "svg").decode()
