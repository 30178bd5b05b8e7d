"""The zoo initialises as its sources: each torchvision network as torchvision's constructor
(weights=None), each d2l network as the book's `init_cnn` (xavier_uniform_ on every Conv2d and
Linear weight, the rest PyTorch's default). Both models are built fresh and compared tensor by
tensor: a tensor the source fills with one value must be equal; a random one must come from
the same family, with its standard deviation within 5% of the source's (or within what the
sampling error of a small tensor allows; see `_std_tolerance`)."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import cnndsl
from tests.conftest import ARCH
from tests.test_zoo_d2l import CASES as D2L_CASES
from tests.test_zoo_torchvision import CASES as TV_CASES
from tests.test_zoo_torchvision import reference

LARGE = {"vgg16", "vgg19", "vgg16_bn", "vgg19_bn", "resnet101", "resnet152", "wide_resnet50_2", "densenet161",
         "densenet201"}


def _std_tolerance(n: int) -> float:
    """The relative difference allowed between two sample standard deviations of `n` draws each.
    One sample std of a normal has a relative standard error of about 1/sqrt(2(n-1)), so the
    difference of two has about 1/sqrt(n-1); five of those make a false failure about one in
    a million per tensor (uniform and truncated draws vary less than normal ones). That is
    below 5% from n = 10,000 on; smaller tensors (a 64-wide batch norm, a 10-class fc bias)
    get the wider bound their size allows."""
    return max(0.05, 5 / math.sqrt(max(n - 1, 1)))


def _tails(t: torch.Tensor) -> float:
    """The share of entries beyond 1.8 standard deviations of the mean: about 7% for a normal,
    none for a uniform (its bound is 1.73 standard deviations): which family a tensor is from."""
    centred = t - t.mean()
    return (centred.abs() > 1.8 * t.std()).float().mean().item()


def _compare(name: str, want: torch.Tensor, got: torch.Tensor) -> None:
    assert got.shape == want.shape, name
    want, got = want.double().flatten(), got.double().flatten()
    if want.numel() < 2 or bool((want == want[0]).all()):  # a constant: ones, zeros, running statistics
        assert torch.equal(got, want), f"{name}: want the constant {want[0].item()}"
        return
    assert not bool((got == got[0]).all()), f"{name}: constant, but the source draws it at random"
    n = want.numel()
    relative = abs(got.std().item() - want.std().item()) / want.std().item()
    assert relative <= _std_tolerance(n), f"{name}: std {got.std().item():.5g} vs {want.std().item():.5g}"
    if n >= 10_000:  # the family: the tail share's standard error is below 0.004 at this size
        assert abs(_tails(got) - _tails(want)) < 0.03, f"{name}: another distribution than the source's"


def _kind(module: nn.Module) -> str | None:
    """Modules are paired by kind in order (a block may declare its layers in another order than
    it runs them: d2l's Residual declares conv3 before bn1)."""
    for kind in (nn.Conv2d, nn.Linear, nn.BatchNorm2d, nn.BatchNorm1d):
        if type(module) is kind:
            return kind.__name__
    return None


def _compare_models(ref: nn.Module, model: nn.Module) -> int:
    def by_kind(m: nn.Module) -> dict[str, list[tuple[str, nn.Module]]]:
        out: dict[str, list[tuple[str, nn.Module]]] = {}
        for name, module in m.named_modules():
            kind = _kind(module)
            if kind is not None:
                out.setdefault(kind, []).append((name, module))
        return out
    want, got = by_kind(ref), by_kind(model)
    assert want.keys() == got.keys()
    compared = 0
    for kind in want:
        assert len(want[kind]) == len(got[kind]), kind
        for (ref_name, a), (name, b) in zip(want[kind], got[kind], strict=True):
            sa, sb = a.state_dict(), b.state_dict()
            assert sa.keys() == sb.keys(), name
            for key in sa:
                _compare(f"{name}.{key} (source {ref_name}.{key})", sa[key], sb[key])
                compared += 1
    return compared


@pytest.mark.parametrize("file,name", [pytest.param(*c, marks=pytest.mark.slow) if c[1] in LARGE else c
                                       for c in TV_CASES], ids=[c[1] for c in TV_CASES])
def test_torchvision_networks_initialise_as_torchvision(file, name):
    torch.manual_seed(0)
    ref = reference(name)
    model = cnndsl.load(ARCH / file, net=name, seed=1)
    assert _compare_models(ref, model) == len(ref.state_dict())


def init_cnn(module: nn.Module) -> None:
    """d2l's `init_cnn` (d2l.ai, section 7.6), applied with `module.apply`."""
    if type(module) is nn.Linear or type(module) is nn.Conv2d:
        nn.init.xavier_uniform_(module.weight)


@pytest.mark.parametrize("case", list(D2L_CASES))
def test_d2l_networks_initialise_as_the_book(case):
    file, build, shape, params = D2L_CASES[case]
    torch.manual_seed(0)
    ref = nn.Sequential(*build())
    ref.eval()(torch.zeros(2, *shape))  # the book's apply_init: materialise the lazy layers, then init_cnn
    ref.apply(init_cnn)
    model = cnndsl.load(ARCH / file, net=case.split("-")[0], seed=1, **params)
    assert _compare_models(ref, model) == len(ref.state_dict())


def test_zero_init_residual_zeroes_each_blocks_last_batch_norm():
    torch.manual_seed(0)
    import torchvision

    for name in ("resnet18", "resnet50"):
        ref = getattr(torchvision.models, name)(weights=None, zero_init_residual=True)
        model = cnndsl.load(ARCH / "resnet.cnn", net=name, seed=1, zero_init_residual=True)
        zero = [k for k, v in ref.state_dict().items() if k.endswith(".weight") and v.ndim == 1 and not v.any()]
        assert len(zero) == (8 if name == "resnet18" else 16)
        _compare_models(ref, model)


def test_every_recognised_family_statement_checks():
    from cnndsl.importer.inits import TORCHVISION

    for statement in TORCHVISION.values():
        network = cnndsl.check_text(f"network N {{\n    input 3x8x8\n    {statement}\n    conv 3x3 4, bn, gap, "
                                    "flatten, fc 2\n}\n")
        assert network.layer("conv1").init is not None, statement  # every family sets its convolutions


IMPORTED = [pytest.param("resnet18", 64), pytest.param("mobilenet_v3_small", 64, marks=pytest.mark.slow),
            pytest.param("convnext_tiny", 64, marks=pytest.mark.slow),
            pytest.param("mnasnet0_5", 64, marks=pytest.mark.slow)]


@pytest.mark.parametrize("name,size", IMPORTED)
def test_imported_torchvision_models_initialise_as_torchvision(name, size):
    import warnings

    import torchvision

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        torch.manual_seed(0)
        ref = torchvision.models.get_model(name, weights=None).eval()
    text = cnndsl.import_module(ref, torch.randn(2, 3, size, size), name=name, verify=False)
    assert "\n    init " in text
    model = cnndsl.compile(cnndsl.check_text(text), seed=1)
    assert _compare_models(ref, model) > 0
