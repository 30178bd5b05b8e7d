"""`make gallery`: every network of the zoo in the three styles of `cnndsl draw` (the Graphviz graph, the
print-ready graph with --compact, --shapes changes and, but for networks with merges at the top level,
--rankdir LR (wrapped into rows), the block figure as PNG), and a page showing them
with each file's source (docs/gallery/index.html). A figure that cannot be made (no pdflatex, a failing
`dot`) is a note on the page saying why, not a broken image. The figures are made in parallel (the work
is in `dot` and `pdflatex` subprocesses) and cached by a hash of their source text, so that a second run
only remakes what changed; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import hashlib
import html
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

from ..elaborate import elaborate
from ..errors import CnnError
from ..files import write_atomic
from ..ir import Network
from ..lang.highlight import highlight_css, highlight_html
from ..lang.source import library_path, load_program
from ..ops import Family
from .diagram import layout, to_dot
from .figure import render
from .latex import compile_tex
from .tikz import to_tikz

BLOCK_DEPTH = {"resnet18": 1}  # block figures drawn deeper than the default 0, to show what a block holds
PNG_DPI = 150                  # the gallery's block figures: captions legible at 1:1 on screen, small in git


@dataclass
class View:
    """One figure of a network: the file it is written to, the options of `cnndsl draw` that make it, the
    source text `dot` or `pdflatex` compiles, the view whose figure it would repeat (then it is not made),
    and after `make_all` the error that stopped it, if any."""

    name: str
    style: str
    options: str
    source: str
    fmt: str  # svg (from DOT) or png (from LaTeX)
    same_as: str | None = None
    error: str | None = None

    def make(self) -> bytes:
        """The figure's bytes; CnnError when `dot` or `pdflatex` is missing or fails."""
        return render(self.source, "svg") if self.fmt == "svg" else compile_tex(self.source, "png", PNG_DPI)

    @property
    def key(self) -> str:
        """A hash of everything the figure is made from, naming it in the cache."""
        return hashlib.sha256(f"{self.fmt} {PNG_DPI}\n{self.source}".encode()).hexdigest()[:32]


def views(net: Network) -> list[View]:
    """The three figures of `net`: graph, print and blocks."""
    depth = BLOCK_DEPTH.get(net.name, 0)
    # left to right in rows, unless merges join distant boxes (U-Net's skips): their edges would cross the rows
    rankdir = "TB" if any(box.family is Family.MERGE for box in layout(net, 0).boxes.values()) else "LR"
    graph = View(f"{net.name}.svg", "graph", "", to_dot(net, 0), "svg")
    printed = View(f"{net.name}-print.svg", "print", "--compact --shapes changes" + " --rankdir LR" * (rankdir == "LR"),
                   to_dot(net, 0, rankdir, shapes="changes", compact=True), "svg")
    if printed.source == graph.source:  # U-Net at depth 0: nothing folds and every shape changes
        printed.same_as = graph.style
    blocks = View(f"{net.name}-blocks.png", "blocks", "--style blocks" + f" --depth {depth}" * bool(depth),
                  to_tikz(net, depth), "png")
    return [graph, printed, blocks]


def make_all(todo: list[View], out: Path, cache: Path | None, jobs: int) -> list[Path]:
    """Write each view into `out` (from `cache` when a figure of the same source is there), `jobs` at a
    time; a view that fails keeps its error (and its stale file is removed). Returns the paths written."""
    if cache:
        cache.mkdir(parents=True, exist_ok=True)

    def one(view: View) -> tuple[bytes | None, bool]:
        hit = cache / f"{view.key}.{view.fmt}" if cache else None
        if hit and hit.exists():
            return hit.read_bytes(), True
        try:
            data = view.make()
        except CnnError as error:
            view.error = error.message + (f" ({error.diagnostic.hint})" if error.diagnostic.hint else "")
            return None, False
        if hit:
            write_atomic(hit, data)
        return data, False

    written, start = [], time.monotonic()
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = {pool.submit(one, view): view for view in todo}
        for done, future in enumerate(as_completed(futures), 1):
            view, (data, cached) = futures[future], future.result()
            path = out / view.name
            if data is None:
                path.unlink(missing_ok=True)
            else:
                write_atomic(path, data)
                written.append(path)
            note = "cached" if cached else "not made: " + view.error if data is None else "made"
            print(f"gallery: {done}/{len(todo)} {view.name} {note} ({time.monotonic() - start:.1f} s)",
                  file=sys.stderr)
    return written


def build(out: Path, library: Path | None = None, cache: Path | None = None, jobs: int | None = None) -> list[Path]:
    """Write into `out` the three figures (see `views`) of every network the .cnn files of `library` define
    (default: the bundled architectures) and index.html showing them with each file's source; returns the
    paths written. `cache`: a folder of figures by content hash (None: none); `jobs`: figures made at once
    (default: one per CPU). Raises CnnError for a network that does not check or a refused write; OSError
    when `out` cannot be made. A figure that cannot be made is a note on the page."""
    library = library or library_path()
    out.mkdir(parents=True, exist_ok=True)
    files = []  # (file, [(network, its views)])
    for file in sorted(library.glob("*.cnn")):
        program = load_program(file)
        files.append((file, [(name, views(elaborate(program, name, {}))) for name in program.own_networks]))
    todo = [view for _, nets in files for _, vs in nets for view in vs if not view.same_as]
    for _, nets in files:  # a repeat is not drawn: no stale file of it either
        for view in (view for _, vs in nets for view in vs if view.same_as):
            (out / view.name).unlink(missing_ok=True)
    written = make_all(todo, out, cache, jobs or os.cpu_count() or 1)
    index = out / "index.html"
    write_atomic(index, page(files).encode())
    return [*written, index]


def _figure(view: View, file: str, name: str) -> str:
    """A view as a figure with the command that draws it, or the note saying why it is missing."""
    command = f"cnndsl draw {file} --net {name} {view.options} -o {view.name}".replace("  ", " ")
    if view.same_as:
        shown = f'<div class="same">the same figure as the {view.same_as}: nothing folds, every shape changes</div>'
    elif view.error:
        shown = f'<div class="missing">not made: {html.escape(view.error)}</div>'
    else:
        shown = f'<a href="{view.name}"><img src="{view.name}" alt="{name}, {view.style}" loading="lazy"></a>'
    return (f'<figure class="{view.style}">{shown}<figcaption><b>{view.style}</b> '
            f'<code>{html.escape(command)}</code></figcaption></figure>')


def page(files: list[tuple[Path, list[tuple[str, list[View]]]]]) -> str:
    """The gallery's HTML: a table of contents, then per file its source (folded) and per network its views."""
    toc, sections = [], []
    for file, nets in files:
        toc.append(f"<li><b>{file.name}</b>: " + " · ".join(f'<a href="#{n}">{n}</a>' for n, _ in nets) + "</li>")
        articles = "".join(f'<article id="{name}"><h3>{name}</h3><div class="views">{_figure(graph, file.name, name)}'
                           f'<div class="wide">{"".join(_figure(v, file.name, name) for v in wide)}</div></div>'
                           '</article>' for name, (graph, *wide) in nets)
        sections.append(f'<section><h2>{file.name}</h2><details><summary>source</summary>'
                        f'{highlight_html(file.read_text())}</details>{articles}</section>')
    return PAGE.format(toc="\n".join(toc), sections="\n".join(sections), css=highlight_css())


PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>cnndsl gallery</title>
<style>
body {{ font-family: Helvetica, Arial, sans-serif; margin: 2em; color: #222; }}
.views {{ display: flex; gap: 2em; align-items: flex-start; }}
.views > figure {{ flex: none; max-width: 30%; }} .wide {{ flex: 1; min-width: 0; }}
.wide figure + figure {{ margin-top: 1.5em; }}
figure {{ margin: 0; }}
figure img {{ display: block; max-width: 100%; height: auto; border: 1px solid #ddd; padding: 0.5em;
              box-sizing: border-box; }}
figure.graph img, figure.print img {{ max-height: 900px; width: auto; }}
figcaption {{ color: #555; font-size: 13px; margin-top: 0.3em; contain: inline-size; }}
.missing {{ border: 1px dashed #c66; background: #fff6f6; color: #933; padding: 1em; max-width: 60em;
            font-size: 14px; }}
.same {{ border: 1px dashed #bbb; color: #666; padding: 0.6em 1em; font-size: 14px; }}
details {{ margin: 0.5em 0 1em; }} summary {{ cursor: pointer; color: #555; }}
pre {{ margin: 0; }}
.highlight {{ font-size: 12px; background: #f7f7f7; padding: 1em; overflow: auto; max-height: 40em; }}
article {{ margin: 1em 0 2.5em; }} section {{ border-top: 2px solid #ccc; margin-top: 2em; }}
{css}
</style></head><body>
<h1>cnndsl gallery</h1><p>Every network of the bundled zoo in the three styles of <code>cnndsl draw</code>: the
Graphviz <b>graph</b> at the default level of detail, the <b>print</b>-ready graph (norms and activations
folded into the layer before them, shapes only where they change, left to right in rows) and the
<b>blocks</b> figure of papers (TikZ compiled by pdflatex; shown as PNG, <code>-o NAME.pdf</code> gives the
vector figure). Click a figure for its full size; <a href="../figures.md">docs/figures.md</a> says what each shows.</p>
<ul>
{toc}
</ul>
{sections}
</body></html>
"""


def main(argv: list[str] | None = None) -> None:
    """`python -m cnndsl.render.gallery [OUT] [--cache DIR] [--jobs N]`."""
    parser = argparse.ArgumentParser(prog="python -m cnndsl.render.gallery", description=__doc__.split("\n")[0])
    parser.add_argument("out", nargs="?", default="docs/gallery", type=Path)
    parser.add_argument("--cache", type=Path, default=Path("build/gallery-cache"),
                        help="figures by content hash (default build/gallery-cache)")
    parser.add_argument("--no-cache", dest="cache", action="store_const", const=None)
    parser.add_argument("--jobs", type=int, default=None, help="figures made at once (default: one per CPU)")
    args = parser.parse_args(argv)
    start = time.monotonic()
    try:
        written = build(args.out, cache=args.cache, jobs=args.jobs)
    except CnnError as error:
        sys.exit(f"gallery: {error}")
    print(f"gallery: wrote {len(written)} files into {args.out} in {time.monotonic() - start:.1f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
