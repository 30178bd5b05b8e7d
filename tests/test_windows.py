"""Output sizes agree with torch: cnndsl accepts a conv, pool or upsample exactly when torch runs
it, with torch's output shape, and an op that leaves no output is refused at that op. Every
expected value is computed here by running the torch module on a tensor of that shape."""

from __future__ import annotations

import itertools
import re
import warnings
from dataclasses import replace

import pytest
import torch
from torch import nn
from torch.nn.utils import skip_init
from torchvision import models

import cnndsl
from cnndsl.analysis.inputs import scan
from cnndsl.lang.source import program_from_text
from cnndsl.request import Request
from tests.conftest import ARCH, check_body, error_of, where, wrap
from tests.test_cli import run

CHANNELS = 2
SIZES = range(1, 7)  # with kernels up to 4: outputs of 0 and 1, kernels larger than the input
STRIDES = (1, 2, 3)

# one program per op, elaborated once per setting with `replace` (no parsing in the loop)
POOL = "network P(k=1, s=1, p=0, c=false) {{\n    input {c}x8x8\n    {op} k/s pad=p ceil=c\n}}\n"
CONV = "network P(k=1, s=1, p=0, d=1) {{\n    input {c}x8x8\n    conv k/s 3 pad=p dilation=d\n}}\n"


def network(body: str, shape: str = "3x32x32") -> str:
    """A network whose body starts at line 3, column 5."""
    return f"network A {{\n    input {shape}\n    {body}\n}}\n"


def torch_shape(module: nn.Module, n: int) -> tuple[int, ...] | None:
    """The per-sample output shape torch gives on a CHANNELS x n x n input, or None if it refuses."""
    try:
        with torch.no_grad():
            return tuple(module(torch.zeros(1, CHANNELS, n, n)).shape[1:])
    except (RuntimeError, ValueError):
        return None


def cnndsl_shape(request: Request, n: int, **params: object) -> tuple[int, ...] | None:
    try:
        net = replace(request, input=(CHANNELS, n, n), params=params).check()
    except cnndsl.CnnError:
        return None
    return net.output_shapes[0]


def disagreements(text: str, settings: list[dict], build) -> list[str]:  # noqa: ANN001
    """Each setting (the program's parameters) at every input size in SIZES, torch's
    module `build(**setting)` against cnndsl; a line per size where the two differ."""
    request = Request.of(program_from_text(text, "p.cnn"), "P")
    wrong = []
    for setting in settings:
        module = build(**setting)
        for n in SIZES:
            want, got = torch_shape(module, n), cnndsl_shape(request, n, **setting)
            if want != got:
                wrong.append(f"input {n}, {setting}: torch {want}, cnndsl {got}")
    return wrong


@pytest.mark.parametrize("op,module", [("maxpool", nn.MaxPool2d), ("avgpool", nn.AvgPool2d)])
def test_pools_accept_exactly_what_torch_runs(op, module):
    """Pads up to one past half the kernel (torch's limit), with and without ceil."""
    settings = [{"k": k, "s": s, "p": p, "c": c}
                for k, s, c in itertools.product(range(1, 5), STRIDES, (False, True)) for p in range(k // 2 + 2)]
    def build(k, s, p, c):  # noqa: ANN001, ANN202, E306
        return module(k, s, p, ceil_mode=c)
    assert disagreements(POOL.format(c=CHANNELS, op=op), settings, build) == []


def test_avgpool_shape_ignores_count_include_pad():
    """cnndsl's avgpool counts the padding (torch's default); the other setting has the same shape."""
    for n, k, s, p, c in itertools.product(SIZES, range(1, 4), STRIDES, range(2), (False, True)):
        if 2 * p <= k:
            assert torch_shape(nn.AvgPool2d(k, s, p, c, count_include_pad=False), n) == \
                torch_shape(nn.AvgPool2d(k, s, p, c), n)


def test_convs_accept_exactly_what_torch_runs():
    settings = [{"k": k, "s": s, "p": p, "d": d}
                for k, s, p, d in itertools.product(range(1, 5), STRIDES, range(3), range(1, 4))]
    def build(k, s, p, d):  # noqa: ANN001, ANN202, E306
        return skip_init(nn.Conv2d, CHANNELS, 3, k, s, p, d)  # weights' values do not matter to the shape
    assert disagreements(CONV.format(c=CHANNELS), settings, build) == []


def test_a_ceil_pool_keeps_a_window_that_overhangs_the_input():
    """The issue's case: torch keeps the one window starting at the input's first pixel."""
    with torch.no_grad():
        want = tuple(nn.MaxPool2d(3, 2, ceil_mode=True)(torch.zeros(1, 8, 2, 2)).shape[1:])
    assert check_body("maxpool 3x3/2 ceil=true", "8x2x2").output_shapes[0] == want


# ---- the smallest input `cnndsl inputs` reports is torch's --------------------------


def smallest_input(*args: str) -> int:
    result = run("inputs", *args, "--range", "1:40")
    assert result.returncode == 0, result.stderr
    assert "is invalid" not in result.stdout  # the declared input checks, even outside --range
    found = re.search(r"smallest valid input: \d+x(\d+)x\1", result.stdout)
    assert found, result.stdout
    return int(found.group(1))


def runs_in_torch(model: nn.Module, size: int) -> bool:
    try:
        with torch.no_grad():
            model(torch.zeros(1, 3, size, size))
    except RuntimeError:
        return False
    return True


def torchvision_model(name: str) -> nn.Module:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # googlenet's initialisation notice
        return models.get_model(name, weights=None).eval()


def test_inputs_reports_torchs_smallest_input_for_the_zoos_googlenet():
    smallest = smallest_input(str(ARCH / "googlenet.cnn"), "--net", "googlenet")
    model = torchvision_model("googlenet")
    assert runs_in_torch(model, smallest) and not runs_in_torch(model, smallest - 1)


def test_inputs_reports_torchs_smallest_input_for_an_imported_squeezenet(tmp_path):
    model = torchvision_model("squeezenet1_0")
    path = tmp_path / "squeezenet.cnn"
    path.write_text(cnndsl.import_module(model, torch.zeros(1, 3, 64, 64), name="squeezenet1_0", verify=False))
    smallest = smallest_input(str(path))
    assert runs_in_torch(model, smallest) and not runs_in_torch(model, smallest - 1)


def test_the_scan_agrees_with_torch_at_every_size_around_a_ceil_pool():
    request = Request.of(program_from_text(wrap("conv 3x3/2 4 pad=1, maxpool 3x3/2 ceil=true", "3x8x8"), "t.cnn"))
    model = nn.Sequential(nn.Conv2d(3, 4, 3, 2, 1), nn.MaxPool2d(3, 2, ceil_mode=True)).eval()
    for fit in scan(request, 3, range(1, 20)):
        assert fit.valid == runs_in_torch(model, fit.size), fit


# ---- every output dimension >= 1, checked at the op that empties the tensor ---------


@pytest.mark.parametrize("scale", [0.01, 0.1, 0.2, 0.25, 0.3, 0.5, 1, 1.5, 2])
@pytest.mark.parametrize("mode", ["nearest", "bilinear"])
def test_upsample_is_refused_exactly_when_torch_gives_no_output(scale, mode):
    module = nn.Upsample(scale_factor=scale, mode=mode, **({"align_corners": False} if mode == "bilinear" else {}))
    for h, w in ((4, 4), (3, 5), (1, 7)):
        try:
            want = tuple(module(torch.zeros(1, 3, h, w)).shape[1:])
        except RuntimeError:
            want = None
        if want is not None and min(want) < 1:
            want = None
        text = network(f"upsample {scale} mode={mode}", f"3x{h}x{w}")
        if want is None:
            exc = error_of(text)
            label = f"upsample {scale:g}" + ("" if mode == "nearest" else f" mode={mode}")  # the default unwritten
            assert where(exc) == (3, 5) and f"`{label}` leaves no output" in exc.message
        else:
            assert cnndsl.check_text(text).output_shapes[0] == want


@pytest.mark.parametrize("scale", ["0", "0.0", "-1", "-0.5", "1e400"])
def test_a_scale_of_zero_or_less_or_infinite_is_refused_where_it_is_written(scale):
    with pytest.raises((RuntimeError, ValueError)):  # torch refuses these too
        nn.Upsample(scale_factor=float(scale))(torch.zeros(1, 3, 4, 4))
    exc = error_of(network(f"upsample ({scale})"))
    if scale == "1e400":  # refused as a literal, before it is converted (docs/errors.md, "Limits")
        assert where(exc) == (3, 15) and exc.message.startswith("number too large")
    else:
        assert where(exc) == (3, 14) and "upsample scale must be a positive number" in exc.message


def test_the_op_that_empties_the_tensor_is_blamed_not_the_next_one():
    exc = error_of(network("relu\n    upsample 0.01\n    conv 1x1 4", "3x4x4"))
    assert where(exc) == (4, 5)
    assert exc.message == "`upsample 0.01` leaves no output on a 3x4x4 input (3x0x0)"
    exc = error_of(network("maxpool 3x3/2\n    conv 1x1 4", "3x2x2"))
    assert where(exc) == (3, 5) and "`maxpool 3x3/2` leaves no output on a 3x2x2 input (3x0x0)" in exc.message
