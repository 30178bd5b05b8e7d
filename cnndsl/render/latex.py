"""Writing block figures (`cnndsl draw --style blocks`): the TikZ source as `.tex`, or compiled by the
system's `pdflatex` to PDF and by poppler's `pdftoppm` to PNG (atomically, by cnndsl.files)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from ..errors import CnnError
from ..files import write_atomic
from ..ir import Network
from .placement import LAYOUTS, MAX_WIDTH
from .tikz import to_tikz

BLOCK_FORMATS = ("tex", "pdf", "png")
LATEX_TIMEOUT = 300  # seconds; a figure of every layer of densenet201 takes a few
PNG_DPI = 200
INSTALL_LATEX = ("install LaTeX with TikZ: sudo apt-get install texlive-latex-base texlive-latex-extra "
                 "texlive-pictures (Debian/Ubuntu; the standalone class is in texlive-latex-extra)")
INSTALL_PDFTOPPM = "install poppler's pdftoppm: sudo apt-get install poppler-utils (Debian/Ubuntu)"


def blocks_format(path: str | os.PathLike) -> str:
    """The format of a block figure's output path, from its extension (tex, pdf, png); CnnError for any
    other."""
    if Path(path).is_dir():
        raise CnnError(f"'{path}' is a folder: -o takes the figure's file name",
                       hint=f"for example -o {Path(path) / 'net'}.pdf")
    fmt = Path(path).suffix.lstrip(".").lower()
    if not fmt:
        raise CnnError(f"'{path}' has no extension: it names the figure's format", hint="use .tex, .pdf or .png")
    if fmt not in BLOCK_FORMATS:
        raise CnnError(f"unknown output format '.{fmt}' for '{path}' with --style blocks",
                       hint="use .tex, .pdf or .png")
    return fmt


def latex_available(fmt: str = "pdf") -> bool:
    """Whether the programs `fmt` (pdf: pdflatex; png: pdflatex and pdftoppm) needs are on the PATH."""
    return _missing(fmt, Path("figure")) is None


def _missing(fmt: str, path: Path) -> CnnError | None:
    """The error for a format whose programs are not installed, or None."""
    keep = f"; or write the LaTeX source with -o {path.with_suffix('.tex')}"
    if shutil.which("pdflatex") is None:
        return CnnError(f"cannot write {fmt}: `pdflatex` is not installed", hint=INSTALL_LATEX + keep)
    if fmt == "png" and shutil.which("pdftoppm") is None:
        return CnnError("cannot write png: poppler's `pdftoppm` is not installed", hint=INSTALL_PDFTOPPM + keep)
    return None


def _run(command: list[str], folder: str, what: str) -> None:
    try:
        result = subprocess.run(command, cwd=folder, capture_output=True, timeout=LATEX_TIMEOUT,
                                stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise CnnError(f"{what} took more than {LATEX_TIMEOUT} s", hint="draw fewer boxes: a smaller --depth") from None
    if result.returncode != 0:
        log = Path(folder, "figure.log")
        text = log.read_text(errors="replace") if log.exists() else result.stdout.decode(errors="replace")
        errors = [line for line in text.splitlines() if line.startswith("!")] or text.strip().splitlines()[-5:]
        raise CnnError(f"{what} failed: " + " ".join(errors[:3]), hint="the LaTeX log: write -o FIG.tex and run "
                       "pdflatex FIG.tex")


def compile_tex(source: str, fmt: str, dpi: int = PNG_DPI) -> bytes:
    """LaTeX source -> bytes of `fmt` (pdf by pdflatex, png by pdflatex and pdftoppm at `dpi`; for
    `tex`, the text itself). CnnError when a program is missing or fails. pdflatex runs without shell
    escape, in a temporary folder."""
    if fmt == "tex":
        return source.encode()
    error = _missing(fmt, Path("figure"))
    if error:
        raise error
    with tempfile.TemporaryDirectory(prefix="cnndsl-tex-") as folder:
        Path(folder, "figure.tex").write_text(source, encoding="utf-8")
        _run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "-no-shell-escape", "figure.tex"], folder,
             "pdflatex")
        if fmt == "png":
            _run(["pdftoppm", "-png", "-r", str(dpi), "-singlefile", "figure.pdf", "figure"], folder, "pdftoppm")
        return Path(folder, f"figure.{fmt}").read_bytes()


def draw_blocks(net: Network, output: str | os.PathLike, depth: int | None = 0, max_width: float = MAX_WIDTH,
                layout: str = "auto") -> Path:
    """Draw `net` as a block figure (see cnndsl.render.blocks) into `output`, a .tex, .pdf or .png file, with
    blocks folded below `depth` (None: every layer), wrapped as cnndsl.render.placement says when wider than
    `max_width` cm (0: never) or when `layout` (auto, row, rows, u) asks; returns the path. Raises CnnError
    for another extension, a negative depth or width, an unknown layout, a missing or failing
    pdflatex/pdftoppm (nothing is written), or an output that cannot be written."""
    path = Path(output)
    fmt = blocks_format(path)
    if depth is not None and (isinstance(depth, bool) or not isinstance(depth, int) or depth < 0):
        raise CnnError(f"depth must be 0 or more (or None for every layer), got {depth!r}")
    if not max_width >= 0:
        raise CnnError(f"the maximum width must be 0 (never wrap) or more centimetres, got {max_width}")
    if layout not in LAYOUTS:
        raise CnnError(f"unknown layout '{layout}' for a block figure", hint=f"use one of {', '.join(LAYOUTS)}")
    if fmt != "tex" and (error := _missing(fmt, path)):  # before any work; nothing is written
        raise error
    write_atomic(path, compile_tex(to_tikz(net, depth, max_width, layout), fmt))
    return path
