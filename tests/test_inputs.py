"""`cnndsl inputs`: the sizes it calls valid are those torch runs, the sizes at which it says the declared
input's weights load are those at which torch's model has the same parameter shapes, the smallest size
is not silently the floor of --range, and its lists of sizes are short and name exactly the sizes found.
Every expected value is computed here, by torch or from the sizes themselves."""

from __future__ import annotations

import json
import re

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

from cnndsl.analysis.inputs import size_list
from tests.test_cli import run

# the newcomer's networks: a VGG-style classifier (flatten then fc) and a small U-Net (fully convolutional)
NETS = """
block vgg_block(num_convs, channels) {
    repeat num_convs { conv 3x3 channels pad=1, relu }
    maxpool 2x2/2
}

network VGGish(classes=10) {
    input 3x32x32
    vgg_block(2, 16)
    vgg_block(2, 32)
    flatten, fc 64, relu, dropout 0.5, fc classes
}

block double_conv(c) { conv 3x3 c pad=1, bn, relu, conv 3x3 c pad=1, bn, relu }

network MiniUNet(classes=2) {
    input 3x16x16
    e1 = double_conv(4)
    e2 = maxpool 2x2, double_conv(8)
    b = maxpool 2x2, double_conv(16)
    u2 = b -> conv_transpose 2x2/2 8
    d2 = concat(e2, u2) -> double_conv(8)
    u1 = d2 -> conv_transpose 2x2/2 4
    concat(e1, u1) -> double_conv(4), conv 1x1 classes
}
"""
DECLARED = {"VGGish": 32, "MiniUNet": 16}
SIZES = range(1, 41)


def vggish() -> nn.Module:
    """VGGish in torch; the LazyLinear takes its in_features from the first input it sees."""
    def block(c_in: int, c: int) -> list[nn.Module]:
        return [nn.Conv2d(c_in, c, 3, padding=1), nn.ReLU(), nn.Conv2d(c, c, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)]
    return nn.Sequential(*block(3, 16), *block(16, 32), nn.Flatten(), nn.LazyLinear(64), nn.ReLU(), nn.Dropout(0.5),
                         nn.Linear(64, 10)).eval()


class MiniUNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()

        def double(c_in: int, c: int) -> nn.Sequential:
            return nn.Sequential(nn.Conv2d(c_in, c, 3, padding=1), nn.BatchNorm2d(c), nn.ReLU(),
                                 nn.Conv2d(c, c, 3, padding=1), nn.BatchNorm2d(c), nn.ReLU())
        self.e1, self.e2, self.b = double(3, 4), double(4, 8), double(8, 16)
        self.u2, self.d2 = nn.ConvTranspose2d(16, 8, 2, 2), double(16, 8)
        self.u1, self.d1, self.head = nn.ConvTranspose2d(8, 4, 2, 2), double(8, 4), nn.Conv2d(4, 2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        e1 = self.e1(x)
        e2 = self.e2(nn.functional.max_pool2d(e1, 2))
        d2 = self.d2(torch.cat([e2, self.u2(self.b(nn.functional.max_pool2d(e2, 2)))], 1))
        return self.head(self.d1(torch.cat([e1, self.u1(d2)], 1)))


def weight_shapes(make, size: int) -> dict[str, tuple[int, ...]] | None:
    """The parameter shapes of a fresh torch model after a forward pass at 3 x size x size; None if it fails."""
    model = make().eval()
    try:
        with torch.no_grad():
            model(torch.zeros(1, 3, size, size))
    except RuntimeError:
        return None
    return {name: tuple(p.shape) for name, p in model.named_parameters()}


def inputs_json(path, net: str, sizes: range) -> dict:
    result = run("inputs", str(path), "--net", net, "--range", f"{sizes[0]}:{sizes[-1]}", "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_valid_sizes_and_the_sizes_where_the_weights_load_are_torchs(tmp_path):
    path = tmp_path / "nets.cnn"
    path.write_text(NETS)
    for net, make in (("VGGish", vggish), ("MiniUNet", MiniUNet)):
        shapes = {s: weight_shapes(make, s) for s in SIZES}
        declared = weight_shapes(make, DECLARED[net])
        found = inputs_json(path, net, SIZES)
        assert found["valid"] == [s for s in SIZES if shapes[s] is not None], net
        assert found["same_weights"] == [s for s in SIZES if shapes[s] == declared], net
        assert found["params"] == sum(torch.Size(shape).numel() for shape in declared.values())
        text = run("inputs", str(path), "--net", net, "--range", f"{SIZES[0]}:{SIZES[-1]}").stdout
        assert f"at S = {size_list(found['valid'])}\n" in text
        if found["same_weights"] == found["valid"]:  # the U-Net: no layer's weights depend on the size
            assert found["params_change_at"] is None and "at every valid size" in text
        else:  # VGGish: flatten -> fc, whose in_features grow with the size
            assert found["params_change_at"] == "fc1"
            assert f"at S = {size_list(found['same_weights'])}\n" in text and "fc1's parameter count" in text


def test_a_smallest_size_at_the_floor_of_the_range_says_smaller_ones_were_not_tried(tmp_path):
    path = tmp_path / "nets.cnn"
    path.write_text(NETS)
    smallest = next(s for s in SIZES if weight_shapes(vggish, s) is not None)
    floor = smallest + 10
    text = run("inputs", str(path), "--net", "VGGish", "--range", f"{floor}:64").stdout
    assert f"smallest valid input: 3x{floor}x{floor}, the smallest size searched" in text
    assert "--range 1:64 searches them" in text
    text = run("inputs", str(path), "--net", "VGGish").stdout  # the default search starts at 1
    assert f"smallest valid input: 3x{smallest}x{smallest}\n" in text


def expand(text: str) -> list[int]:
    """The sizes a `size_list` text names: runs `a-b`, single sizes, and `A, B, ..., Z (every p)`
    where A, B and Z are blocks of equally many runs, B and Z being A moved by p and a multiple of p."""
    tokens = re.findall(r"(\d+)(?:-(\d+))?|(\.\.\.)|\(every (\d+)\)|\(all\)", text)
    runs: list[tuple[int, int]] = []
    dots = None
    for first, last, ellipsis, step in tokens:
        if first:
            runs.append((int(first), int(last or first)))
        elif ellipsis:
            dots = len(runs)
        elif step:
            width = len(runs) - dots
            block, second, end = runs[dots - 2 * width:dots - width], runs[dots - width:dots], runs[dots:]
            p = int(step)
            assert second == [(a + p, b + p) for a, b in block] and (end[0][0] - block[0][0]) % p == 0
            repeats = (end[0][0] - block[0][0]) // p + 1
            runs[dots - 2 * width:] = [(a + k * p, b + k * p) for k in range(repeats) for a, b in block]
            dots = None
    return [s for a, b in runs for s in range(a, b + 1)]


periodic = st.builds(lambda period, residues, low, high: [s for s in range(low, low + high)
                                                          if s % period in residues],
                     st.integers(1, 40), st.sets(st.integers(0, 39), min_size=1), st.integers(1, 50),
                     st.integers(0, 600))


@given(st.one_of(periodic, st.lists(st.integers(1, 200), unique=True).map(sorted)))
def test_a_size_list_names_exactly_the_sizes(sizes):
    assert expand(size_list(sizes)) == sizes


@pytest.mark.parametrize("period,low,run_length", [(32, 32, 1), (4, 4, 1), (32, 33, 4), (2, 1, 1), (7, 3, 5)])
def test_a_periodic_pattern_is_written_in_a_few_numbers_however_many_sizes_it_has(period, low, run_length):
    """The newcomer's `--range 1:100000` printed ~25,000 numbers; a pattern of one run per period prints its
    first two and last runs, the step and at most a cut-off last run."""
    sizes = [s for s in range(low, 100_001) if (s - low) % period < run_length]
    text = size_list(sizes)
    assert expand(text) == sizes
    assert len(re.findall(r"\d+", text)) <= 2 * 3 + 1 + 2  # 3 runs of two ends, the step, a cut-off last run


# every size warns here (groups of one value after the global pool; a branch nothing reads), but only the
# pool's dropped rows and columns make a size inexact
OTHER_WARNINGS = """network Net {
    input 4x8x8
    x = maxpool 2x2/2
    unused = conv 1x1 2
    x -> gap
    groupnorm 4
}
"""


def test_warnings_other_than_dropped_pixels_leave_a_size_exact(tmp_path):
    path = tmp_path / "w.cnn"
    path.write_text(OTHER_WARNINGS)
    checked = run("check", str(path))
    assert "warning: groupnorm1 (groupnorm 4) normalises groups of one value" in checked.stderr
    assert "drops pixels" not in checked.stderr and "note:" not in checked.stderr
    found = inputs_json(path, "Net", SIZES)
    pooled = {s: torch.nn.functional.max_pool2d(torch.zeros(1, 1, s, s), 2).shape[-1] if s > 1 else 0 for s in SIZES}
    assert found["exact"] == [s for s in SIZES if pooled[s] and 2 * pooled[s] == s]
    assert found["declared"]["exact"] is True
    assert "declared input 4x8x8 fits exactly" in run("inputs", str(path), "--range", "1:40").stdout
    odd = path.with_name("odd.cnn")
    odd.write_text(OTHER_WARNINGS.replace("4x8x8", "4x9x9"))
    assert "note: no layer of Net drops pixels at an input of 4x8x8 or 4x10x10" in run("check", str(odd)).stderr


def test_a_range_without_a_valid_size_says_so_and_the_default_reaches_the_declared_input():
    """No valid size: no line about weights (it printed `None's parameter count changes`); the default
    range reaches a declared input larger than 512 (U-Net's 572), so that it is not 'none in range'."""
    text = run("inputs", "architectures/lenet.cnn", "--net", "LeNet", "--range", "1:3").stdout
    assert "None" not in text and "weights" not in text and "valid (the network runs) at S = none in range" in text
    found = json.loads(run("inputs", "architectures/unet.cnn", "--net", "UNet", "--json").stdout)
    assert found["range"][1] >= found["declared"]["shape"][1] and found["declared"]["shape"][1] in found["valid"]
