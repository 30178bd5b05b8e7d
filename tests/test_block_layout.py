"""Where block figures put their boxes (cnndsl.render.placement): one row when it fits, rows that wrap where no
skip arrow spans the cut, a U (one row per scale) for an encoder-decoder; nothing overlaps; the options of
`cnndsl draw --style blocks` that choose it."""

from __future__ import annotations

import math
from itertools import pairwise

import pytest

import cnndsl
from cnndsl.lang.source import load_program
from cnndsl.render.blocks import slabs
from cnndsl.render.placement import MAX_WIDTH, caption_lines, place, text_width
from cnndsl.render.tikz import to_tikz
from tests.conftest import ARCH
from tests.test_blocks_figure import run

ZOO = [(file.name, name) for file in sorted(ARCH.glob("*.cnn")) for name in load_program(file).own_networks]


def laid_out(file: str, name: str, depth: int | None = 0, **options):
    order, arrows = slabs(cnndsl.check(ARCH / file, net=name), depth)
    return order, arrows, place(order, arrows, **options)


def width(geo) -> float:
    return max(g.right for g in geo.values()) - min(g.left for g in geo.values())


def rows(geo) -> set[int]:
    return {g.row for g in geo.values()}


@pytest.mark.parametrize("file,name", ZOO)
def test_no_box_or_caption_overlaps_another(file, name):
    order, _, geo = laid_out(file, name)
    extents = []  # (x from, x to, y from, y to) of each slab with its caption
    for slab in order:
        g = geo[slab.key]
        half = 0.0 if slab.glyph else text_width(caption_lines(slab)) / 2
        assert g.half == half
        extents.append((min(g.left, g.centre - half), max(g.right, g.centre + half), g.y - g.depth, g.y + g.top))
    for i, a in enumerate(extents):
        for b in extents[i + 1:]:
            assert not (a[0] < b[1] and b[0] < a[1] and a[2] < b[3] and b[2] < a[3]), (order[i].label, a, b)


def test_a_figure_that_fits_stays_one_row_and_option_row_keeps_a_wide_one():
    _, _, geo = laid_out("vgg.cnn", "vgg16")
    assert rows(geo) == {0} and width(geo) <= MAX_WIDTH
    _, _, wide = laid_out("googlenet.cnn", "googlenet", layout="row")
    assert rows(wide) == {0} and width(wide) > MAX_WIDTH
    _, _, never = laid_out("googlenet.cnn", "googlenet", max_width=0)
    assert rows(never) == {0}


def test_a_wide_chain_wraps_into_rows_cut_where_no_skip_spans():
    order, arrows, one = laid_out("googlenet.cnn", "googlenet", layout="row")
    _, _, geo = laid_out("googlenet.cnn", "googlenet")
    # as few rows as the width takes, give or take one where the cuts that no skip spans fall
    assert math.ceil(width(one) / MAX_WIDTH) <= len(rows(geo)) <= math.ceil(width(one) / MAX_WIDTH) + 1
    for r in rows(geo):  # each row within the width and narrower than the one row, and they stack downwards
        row = {k: g for k, g in geo.items() if g.row == r}
        assert width(row) < width(one) and width(row) <= MAX_WIDTH
        assert len({g.y for g in row.values()}) == 1
    index = {s.key: i for i, s in enumerate(order)}
    for a in arrows:  # only the arrow from a row's last slab to the next row's first crosses rows
        if geo[a.src].row != geo[a.dst].row:
            assert index[a.dst] == index[a.src] + 1 and geo[a.dst].row == geo[a.src].row + 1
    tex = to_tikz(cnndsl.check(ARCH / "googlenet.cnn", net="googlenet"))
    assert tex.count(r"\draw[turn]") == len(rows(geo)) - 1


def test_unet_is_a_u_one_row_per_scale_with_its_skips_across():
    order, arrows, geo = laid_out("unet.cnn", "UNet")
    _, _, one = laid_out("unet.cnn", "UNet", layout="row")
    pools = sum(slab.label.startswith("maxpool") for slab in order)
    assert len(rows(geo)) == pools + 1 and width(geo) < 0.75 * width(one)
    index = {s.key: i for i, s in enumerate(order)}
    skips = [a for a in arrows if index[a.dst] > index[a.src] + 1]
    assert len(skips) == pools  # each copy-and-crop joins two slabs of one scale, on their row
    assert sorted(geo[a.src].row for a in skips) == list(range(pools))
    assert all(geo[a.src].y == geo[a.dst].y for a in skips)
    for before, slab in pairwise(order):  # a row down where the feature map halves, up where it doubles
        step = geo[slab.key].row - geo[before.key].row
        assert step == (1 if slab.shape[1] <= before.shape[1] / 1.5 else -1 if slab.shape[1] >= 1.5 * before.shape[1]
                        else 0), (before.label, slab.label)
    # asked for, a chain without skips is a U too: each pooling a row down
    _, _, vgg = laid_out("vgg.cnn", "vgg16", layout="u")
    assert len(rows(vgg)) > 1


def test_resnet_whose_skips_span_every_cut_stays_one_row():
    _, _, geo = laid_out("resnet.cnn", "resnet18", depth=2)
    assert rows(geo) == {0} and width(geo) > MAX_WIDTH


def test_layout_options_on_the_command_line(tmp_path):
    out = tmp_path / "u.tex"
    result = run("draw", "architectures/unet.cnn", "--net", "UNet", "--style", "blocks", "--layout", "row",
                 "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert out.read_text() == to_tikz(cnndsl.check(ARCH / "unet.cnn", net="UNet"), layout="row")
    result = run("draw", "architectures/unet.cnn", "--net", "UNet", "--style", "blocks", "--max-width", "-1",
                 "-o", str(tmp_path / "v.tex"))
    assert result.returncode == 1 and "maximum width" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "v.tex").exists()
    with pytest.raises(ValueError, match="layout"):
        to_tikz(cnndsl.check(ARCH / "unet.cnn", net="UNet"), layout="spiral")
