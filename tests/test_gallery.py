"""The gallery (`make gallery`, cnndsl.render.gallery): three figures per network, a note instead of a figure
that cannot be made, the cache, and the page in headless Chromium with every image loaded."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from cnndsl.lang.source import load_program
from cnndsl.render import gallery
from cnndsl.render.figure import dot_available
from cnndsl.render.latex import latex_available
from tests.conftest import ARCH, headless_chromium, needs_chromium

SMALL = ("lenet.cnn", "dcgan.cnn")  # a few small networks, a second or two of dot and pdflatex each


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> tuple[Path, list[str]]:
    """A gallery of SMALL built into a temporary folder; the folder and the networks drawn."""
    library, out = tmp_path_factory.mktemp("zoo"), tmp_path_factory.mktemp("gallery")
    for name in SMALL:
        shutil.copy(ARCH / name, library / name)
    gallery.build(out, library, cache=out / "cache", jobs=2)
    return out, [net for name in SMALL for net in load_program(library / name).own_networks]


def test_every_network_has_its_three_figures_or_a_note_saying_why(small):
    out, nets = small
    page = (out / "index.html").read_text()
    for net in nets:
        for style, name in (("graph", f"{net}.svg"), ("print", f"{net}-print.svg"), ("blocks", f"{net}-blocks.png")):
            made = dot_available() if style != "blocks" else latex_available("png")
            assert (f'<img src="{name}"' in page) == made
            assert (out / name).exists() == made and (not made or (out / name).stat().st_size > 0)
            assert f"--net {net}" in page
    assert page.count('<article id="') == len(nets)
    assert "not made" not in page or not (dot_available() and latex_available("png"))


def test_a_block_figure_without_pdflatex_is_a_note_not_a_broken_image(tmp_path, monkeypatch):
    library = tmp_path / "zoo"
    library.mkdir()
    shutil.copy(ARCH / "lenet.cnn", library)
    which = shutil.which
    monkeypatch.setattr("cnndsl.render.latex.shutil.which", lambda name: None if name == "pdflatex" else which(name))
    gallery.build(tmp_path / "out", library, jobs=1)
    page = (tmp_path / "out" / "index.html").read_text()
    assert "-blocks.png" not in re.sub(r"<code>.*?</code>", "", page)  # named only in the commands
    assert page.count("not made: cannot write png: `pdflatex` is not installed") == 2
    assert not list((tmp_path / "out").glob("*.png"))


def test_a_print_figure_that_would_repeat_the_graph_is_a_note():
    import cnndsl

    unet = gallery.views(cnndsl.check(ARCH / "unet.cnn", net="UNet"))  # nothing folds, every shape changes
    assert [v.same_as for v in unet] == [None, "graph", None]
    page = gallery.page([(ARCH / "unet.cnn", [("UNet", unet)])])
    assert '<img src="UNet-print.svg"' not in page and "the same figure as the graph" in page
    assert '<img src="UNet.svg"' in page and '<img src="UNet-blocks.png"' in page
    lenet = gallery.views(cnndsl.check(ARCH / "lenet.cnn", net="LeNet"))  # its activations fold
    assert [v.same_as for v in lenet] == [None, None, None]


@pytest.mark.skipif(not dot_available(), reason="needs Graphviz's dot")
def test_a_second_build_takes_every_figure_from_the_cache(small, tmp_path, capsys):
    out, _ = small
    library = tmp_path / "zoo"
    library.mkdir()
    shutil.copy(ARCH / "lenet.cnn", library)
    capsys.readouterr()
    gallery.build(tmp_path / "again", library, cache=out / "cache", jobs=1)
    progress = capsys.readouterr().err.splitlines()
    assert len(progress) == 6 and all(line.endswith(")") and " cached " in line for line in progress)
    for path in (tmp_path / "again").glob("*.svg"):
        assert path.read_bytes() == (out / path.name).read_bytes()


@needs_chromium
def test_the_page_in_chromium_shows_every_image(small, tmp_path):
    out, nets = small
    with headless_chromium("--allow-file-access-from-files") as browser:
        from selenium.webdriver.support.ui import WebDriverWait

        browser.get((out / "index.html").as_uri())
        # the images load lazily: bring each into view, then wait for every one to be decoded
        browser.execute_script("for (const i of document.images) { i.loading = 'eager'; }")
        loaded = "return [...document.images].every(i => i.complete)"
        WebDriverWait(browser, 30).until(lambda b: b.execute_script(loaded))
        widths = browser.execute_script("return [...document.images].map(i => [i.getAttribute('src'), i.naturalWidth])")
        expected = 2 * dot_available() + latex_available("png")
        assert len(widths) == expected * len(nets)
        assert all(width > 0 for _, width in widths), widths
        notes = browser.execute_script("return document.querySelectorAll('.missing').length")
        assert notes == (3 - expected) * len(nets)
        shots = Path(os.environ.get("CNNDSL_SCREENSHOTS", tmp_path))
        assert browser.save_screenshot(str(shots / "gallery.png"))
