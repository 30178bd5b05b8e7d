"""The zoo against torchvision: same parameter count, and with torchvision's weights copied
in by `cnndsl.transfer_weights`, the same outputs (1e-5 relative) in eval mode."""

from __future__ import annotations

import pytest
import torch
import torchvision

import cnndsl
from tests.conftest import ARCH

ZOO = {
    "alexnet.cnn": ["alexnet"],
    "vgg.cnn": ["vgg11", "vgg13", "vgg16", "vgg19", "vgg11_bn", "vgg13_bn", "vgg16_bn", "vgg19_bn"],
    "googlenet.cnn": ["googlenet"],
    "resnet.cnn": ["resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "resnext50_32x4d",
                   "wide_resnet50_2"],
    "densenet.cnn": ["densenet121", "densenet161", "densenet169", "densenet201"],
}
CASES = [(file, name) for file, names in ZOO.items() for name in names]
BUILD_ARGS = {"googlenet": {"aux_logits": False, "init_weights": True}}


def reference(name: str) -> torch.nn.Module:
    return getattr(torchvision.models, name)(weights=None, **BUILD_ARGS.get(name, {})).eval()


@pytest.mark.parametrize("file,name", CASES, ids=[c[1] for c in CASES])
def test_matches_torchvision(file, name):
    torch.manual_seed(0)
    ref = reference(name)
    net = cnndsl.check(ARCH / file, net=name)
    model = cnndsl.compile(net).eval()
    expected = sum(p.numel() for p in ref.parameters())
    assert net.count_params() == expected
    assert sum(p.numel() for p in model.parameters()) == expected
    pairs = cnndsl.transfer_weights(ref, model)
    assert len(pairs) == len(ref.state_dict())
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        want, got = ref(x), model(x)
    assert got.shape == want.shape
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5 * want.abs().max().item())
    assert net.warnings == [], [w.message for w in net.warnings]


def test_every_torchvision_family_member_is_in_the_zoo():
    listed = set(torchvision.models.list_models(module=torchvision.models))
    for _, name in CASES:
        assert name in listed


def test_transfer_weights_rejects_a_mismatch():
    ref = reference("resnet18")
    model = cnndsl.load(ARCH / "resnet.cnn", net="resnet34")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(ValueError, match="tensors|does not fit"):
        cnndsl.transfer_weights(ref, model)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items()), "nothing may be copied"
