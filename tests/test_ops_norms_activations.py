"""groupnorm, instancenorm, prelu, elu, mish, softplus, dropout2d, adaptive_maxpool and maxpool's
dilation: each layer computes what its torch module computes with the same weights and holds as
many parameters; the shape rules refuse exactly what torch refuses, at the layer; the receptive
field reaches what torch reaches; the importer maps the torch modules to them. Every expected
value is computed here by torch."""

from __future__ import annotations

import itertools

import pytest
import torch
from torch import nn

import cnndsl
from benchmarks.oracle_probe import positive
from cnndsl.analysis import analyse
from cnndsl.ir import Ref
from cnndsl.pytorch.fx_backend import compile_network
from tests.conftest import check_body, error_of, where, wrap
from tests.test_windows import disagreements

# (layer, input per sample, the torch module it is)
MODULES = [
    ("groupnorm 3 eps=0.001", (6, 5, 4), lambda: nn.GroupNorm(3, 6, eps=1e-3)),
    ("groupnorm 2 affine=false", (4, 3, 3), lambda: nn.GroupNorm(2, 4, affine=False)),
    ("groupnorm 5", (10,), lambda: nn.GroupNorm(5, 10)),
    ("instancenorm", (3, 4, 5), lambda: nn.InstanceNorm2d(3)),
    ("instancenorm affine=true eps=0.01", (4, 5, 5), lambda: nn.InstanceNorm2d(4, eps=0.01, affine=True)),
    ("instancenorm track_running_stats=true momentum=0.2", (3, 4, 4),
     lambda: nn.InstanceNorm2d(3, momentum=0.2, track_running_stats=True)),
    ("prelu", (3, 4, 4), lambda: nn.PReLU()),
    ("prelu channels=true init=0.1", (5, 3, 3), lambda: nn.PReLU(5, 0.1)),
    ("elu alpha=0.5", (3, 4, 4), lambda: nn.ELU(0.5)),
    ("mish", (3, 4, 4), lambda: nn.Mish()),
    ("softplus beta=2 threshold=1", (3, 4, 4), lambda: nn.Softplus(2.0, 1.0)),
    ("dropout2d 0.3", (3, 4, 4), lambda: nn.Dropout2d(0.3)),
    ("adaptive_maxpool 5x4", (3, 7, 9), lambda: nn.AdaptiveMaxPool2d((5, 4))),
    ("maxpool 3x3/2 pad=1 dilation=2 ceil=true", (2, 10, 9), lambda: nn.MaxPool2d(3, 2, 1, 2, ceil_mode=True)),
    ("maxpool 2x3/1 dilation=3x2", (2, 8, 9), lambda: nn.MaxPool2d((2, 3), 1, dilation=(3, 2))),
]


def randomised(module: nn.Module) -> nn.Module:
    """The module with random parameters and running statistics (not its initial ones, which hide
    a swapped weight and bias)."""
    with torch.no_grad():
        for tensor in itertools.chain(module.parameters(), module.buffers()):
            if tensor.is_floating_point():
                tensor.copy_(torch.rand_like(tensor) + 0.5)
    return module


@pytest.mark.parametrize("text,shape,build", MODULES, ids=[m[0] for m in MODULES])
def test_the_layer_is_its_torch_module(text, shape, build):
    torch.manual_seed(0)
    net = check_body(f"    {text}", "x".join(map(str, shape)))
    (layer,) = [layer for layer in net.layers() if layer.inputs]
    model = cnndsl.compile(net).eval()
    reference = randomised(build()).eval()
    assert layer.params == net.count_params() == sum(p.numel() for p in reference.parameters())
    model.get_submodule(layer.qualname).load_state_dict(reference.state_dict())
    x = torch.randn(3, *shape) * 3
    with torch.no_grad():
        got, want = model(x), reference(x)
    assert tuple(want.shape[1:]) == layer.shape
    torch.testing.assert_close(got, want)


def test_an_activation_after_a_norm_is_in_place_and_trains():
    """The backend runs an activation in place on a norm's output; backward does not need it."""
    net = check_body("    conv 3x3 4, groupnorm 2, elu, instancenorm affine=true, mish", "3x8x8")
    model = cnndsl.compile(net).train()
    assert model.elu1.inplace and model.mish1.inplace
    model(torch.randn(2, 3, 8, 8)).sum().backward()
    assert all(p.grad is not None for p in model.parameters())


def test_dropout2d_drops_whole_channels_while_training():
    model = cnndsl.compile(check_body("    dropout2d 0.5", "6x4x4")).train()
    x = torch.rand(8, 6, 4, 4) + 1
    y = model(x)
    kept = y.flatten(2).amax(2) > 0
    assert torch.equal(y, x * 2 * kept[:, :, None, None]) and 0 < kept.sum() < kept.numel()


# ---- refusals at the layer, as torch refuses ------------------------------------------


def test_groupnorm_groups_must_divide_the_channels():
    with pytest.raises(ValueError):
        nn.GroupNorm(4, 6)
    exc = error_of(wrap("    conv 3x3 6\n    groupnorm 4", "3x8x8"))
    assert where(exc) == (5, 5) and "groupnorm 4 needs channels divisible by 4 (got 6 channels)" in exc.message


def test_instancenorm_on_one_position_is_refused_where_torch_refuses_it():
    x = torch.randn(3, 4, 1, 1)
    with pytest.raises(ValueError):
        nn.InstanceNorm2d(4).eval()(x)
    exc = error_of(wrap("    gap\n    instancenorm", "4x6x6"))
    assert where(exc) == (5, 5) and "one" in exc.message
    net = check_body("    gap\n    instancenorm track_running_stats=true", "4x6x6")
    assert nn.InstanceNorm2d(4, track_running_stats=True).eval()(x).shape == x.shape  # eval runs
    assert any("while training" in w.message for w in net.warnings)


def test_values_the_ops_do_not_take_are_refused():
    for body in ("elu alpha=-1", "softplus beta=0", "dropout2d 1.5", "groupnorm 0", "adaptive_maxpool 0x2",
                 "maxpool 2 dilation=0", "prelu channels=1"):
        with pytest.raises(cnndsl.CnnError):
            check_body(f"    {body}", "4x8x8")
    exc = error_of(wrap("    flatten\n    dropout2d", "4x8x8"))
    assert where(exc) == (5, 5) and "CxHxW" in exc.message


def test_dilated_maxpool_accepts_exactly_what_torch_runs():
    """Kernels 1 to 3, strides 1 to 3, dilations 2 and 3, pads up to one past half the kernel
    (torch's limit, which the undilated kernel sets), with and without ceil, on inputs 1 to 6."""
    program = "network P(k=1, s=1, p=0, d=1, c=false) {\n    input 2x8x8\n    maxpool k/s pad=p dilation=d ceil=c\n}\n"
    settings = [{"k": k, "s": s, "p": p, "d": d, "c": c} for k, s, d, c in
                itertools.product(range(1, 4), (1, 2, 3), (2, 3), (False, True)) for p in range(k // 2 + 2)]

    def build(k, s, p, d, c):  # noqa: ANN001, ANN202
        return nn.MaxPool2d(k, s, p, d, ceil_mode=c)
    assert disagreements(program, settings, build) == []


# ---- labels and receptive fields ------------------------------------------------------


def test_the_label_shows_the_dilation():
    net = check_body("    maxpool 3x3/2 dilation=2, maxpool 2 dilation=1", "3x32x32")
    assert [layer.label for layer in net.layers() if layer.inputs] == ["maxpool 3x3/2 dilation=2", "maxpool 2x2"]


def test_a_dilated_maxpool_widens_the_field_as_the_dilated_conv():
    pool, conv = (analyse(check_body(f"    {body}", "1x16x16")).rows[1]
                  for body in ("maxpool 3x3/2 pad=1 dilation=3", "conv 3x3/2 1 pad=1 dilation=3"))
    _, h, w = pool.shape
    assert all(pool.field.pixel(i, j) == conv.field.pixel(i, j) for i in range(h) for j in range(w))
    assert pool.rf == conv.rf == (7, 7)  # three taps 3 apart: 1 + (3 - 1) * 3 pixels


@pytest.mark.parametrize("body", ["conv 3x3/2 4, groupnorm 2", "conv 3x3 4 pad=1, instancenorm",
                                  "maxpool 3x3/1 pad=1 dilation=2", "conv 3x3 2, adaptive_maxpool 3x3"])
def test_the_field_holds_every_pixel_that_reaches_the_centre(body):
    """Per-sample statistics reach every pixel (in eval mode too); torch's gradient says which, with
    positive weights and max pools made means over the same windows (a max passes one pixel on;
    the oracle's probe, which would also replace the norms)."""
    net = check_body(f"    {body}", "2x11x11")
    last = list(net.layers())[-1]
    field = analyse(net).rows[-1].field
    model = compile_network(net.with_outputs([Ref(last)]))
    if "maxpool" in body:
        model = positive(model)
    else:
        with torch.no_grad():
            for p in model.parameters():
                p.copy_(torch.rand_like(p) + 0.5)
        model = model.double().eval()
    x = (torch.rand(1, 2, 11, 11, dtype=torch.float64) + 0.5).requires_grad_()
    _, h, w = last.shape
    model(x)[0, :, h // 2, w // 2].sum().backward()
    hit = x.grad[0].abs().sum(0) > 0
    for axis, want in enumerate(field.pixel(h // 2, w // 2)):
        along = hit.any(dim=1 - axis).nonzero().flatten()
        assert (along.min().item(), along.max().item()) == want, axis


# ---- import -------------------------------------------------------------------------


def test_the_importer_maps_the_torch_modules():
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 6, 3, padding=1), nn.GroupNorm(3, 6, eps=1e-3), nn.PReLU(6, 0.2), nn.Conv2d(6, 6, 1),
        nn.InstanceNorm2d(6, affine=True), nn.ELU(0.5), nn.Mish(), nn.Softplus(2.0, 5.0), nn.Dropout2d(0.1),
        nn.MaxPool2d(3, 1, 1, dilation=2), nn.PReLU(), nn.AdaptiveMaxPool2d((3, 2)), nn.Flatten(), nn.Linear(36, 4))
    randomised(model).eval()
    x = torch.randn(2, 3, 12, 12)
    net = cnndsl.check_text(cnndsl.import_module(model, x, name="m"))
    labels = [layer.label for layer in net.layers()]
    assert labels[2:-2] == ["groupnorm 3 eps=0.001", "prelu channels=true init=0.2", "conv 1x1 6",
                            "instancenorm affine=true", "elu alpha=0.5", "mish", "softplus beta=2 threshold=5",
                            "dropout2d 0.1", "maxpool 3x3/1 pad=1 dilation=2", "prelu", "adaptive_maxpool 3x2"]
    compiled = cnndsl.compile(net).eval()
    compiled.load_state_dict(model.state_dict(), strict=True)
    with torch.no_grad():
        torch.testing.assert_close(compiled(x), model(x))


@pytest.mark.parametrize("module,why", [(nn.Softplus(-1.0), "beta=-1"), (nn.ELU(-0.5), "alpha=-0.5"),
                                        (nn.AdaptiveMaxPool2d(2, return_indices=True), "return_indices")])
def test_the_importer_names_what_has_no_exact_op(module, why):
    with pytest.raises(cnndsl.CnnError, match=why):
        cnndsl.import_module(nn.Sequential(nn.Conv2d(3, 6, 1), module), torch.randn(1, 3, 8, 8))


def test_the_importer_maps_the_functional_pools():
    class Functional(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return nn.functional.adaptive_max_pool2d(nn.functional.max_pool2d(self.conv(x), 2, dilation=2), (2, 3))
    net = cnndsl.check_text(cnndsl.import_module(Functional(), torch.randn(1, 3, 16, 16), name="f"))
    assert [layer.label for layer in net.layers()][2:] == ["maxpool 2x2 dilation=2", "adaptive_maxpool 2x3"]
