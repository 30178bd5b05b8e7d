"""`make gallery`: the SVG of every zoo network at the default level, the block figures (PNG) of a few
(BLOCK_FIGURES; when pdflatex is installed), and a page that shows each beside its source text
(docs/gallery/index.html)."""

from __future__ import annotations

import sys
from pathlib import Path

from ..elaborate import elaborate
from ..files import write_atomic
from ..lang.highlight import highlight_css, highlight_html
from ..lang.source import library_path, load_program
from .diagram import to_dot
from .figure import render
from .latex import compile_tex, latex_available
from .tikz import to_tikz

# the networks drawn as block figures too (`draw --style blocks`), each at the depth that fits a page
BLOCK_FIGURES = {"AlexNet": 0, "vgg16": 0, "resnet18": 1, "UNet": 0}


def build(out: Path, library: Path | None = None) -> list[Path]:
    """Write into `out` the SVG of every network the .cnn files of `library` define (default: the bundled
    architectures), at the default level, and index.html showing each beside its source; returns the
    paths written. Raises CnnError for a network that does not check, a missing `dot`, or a refused
    write; OSError when `out` cannot be made."""
    library = library or library_path()
    out.mkdir(parents=True, exist_ok=True)
    written, sections = [], []
    for file in sorted(library.glob("*.cnn")):
        figures = []
        program = load_program(file)
        for name in program.own_networks:
            svg_path = out / f"{name}.svg"
            net = elaborate(program, name, {})
            write_atomic(svg_path, render(to_dot(net, 0), "svg"))
            written.append(svg_path)
            figures.append(f'<figure id="{name}"><img src="{name}.svg" alt="{name}"><figcaption>{name}'
                           f'</figcaption></figure>')
            if name in BLOCK_FIGURES and latex_available("png"):
                png = out / f"{name}-blocks.png"
                write_atomic(png, compile_tex(to_tikz(net, BLOCK_FIGURES[name]), "png"))
                written.append(png)
                figures.append(f'<figure class="blocks"><img src="{png.name}" alt="{name} as blocks"><figcaption>'
                               f'{name}, <code>--style blocks --depth {BLOCK_FIGURES[name]}</code></figcaption>'
                               '</figure>')
        # the file's text once, beside every network it defines
        sections.append(f'<section><h2>{file.name}</h2><div class="row"><div class="figures">{"".join(figures)}'
                        f'</div>{highlight_html(file.read_text())}</div></section>')
    index = out / "index.html"
    toc = " · ".join(f'<a href="#{p.stem}">{p.stem}</a>' for p in written if p.suffix == ".svg")
    write_atomic(index, PAGE.format(toc=toc, sections="\n".join(sections), css=highlight_css()).encode())
    return [*written, index]


PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>cnndsl gallery</title>
<style>
body {{ font-family: Helvetica, Arial, sans-serif; margin: 2em; color: #222; }}
.row {{ display: flex; gap: 2em; align-items: flex-start; }}
.figures {{ display: flex; flex-wrap: wrap; gap: 1em; max-width: 55%; align-items: flex-start; }}
figure {{ margin: 0; }} figure.blocks {{ flex-basis: 100%; }}
figure img {{ max-width: 100%; height: auto; border: 1px solid #ddd; padding: 0.5em; }}
figcaption {{ text-align: center; color: #555; font-size: 13px; }}
pre {{ margin: 0; }}
.highlight {{ flex: 1; font-size: 12px; background: #f7f7f7; padding: 1em; overflow: auto; max-height: 60em; }}
section {{ margin-bottom: 3em; }} small {{ color: #888; font-weight: normal; }}
{css}
</style></head><body>
<h1>cnndsl gallery</h1><p>Every network of the bundled zoo at the default level of detail
(<code>cnndsl draw FILE --net NAME -o NAME.svg</code>), beside the file it comes from; a few also as
the block figures of papers (<code>cnndsl draw FILE --net NAME --style blocks -o NAME.pdf</code>).</p>
<p>{toc}</p>
{sections}
</body></html>
"""

if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("docs/gallery")
    for path in build(target):
        print(path)
