"""Every op in the registry: its static shape and parameter count equal what torch builds."""

from __future__ import annotations

import pytest
import torch

import cnndsl
from cnndsl.ops import REGISTRY
from tests.conftest import ARCH, wrap

CASES = [(name, text, shape) for name, op in sorted(REGISTRY.items()) for text, shape in op.usage_examples()]


@pytest.mark.parametrize("name,text,shape", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_op_matches_torch(name, text, shape):
    net = cnndsl.check_text(wrap(text, "x".join(map(str, shape))))
    assert any(layer.op == name for layer in net.layers()), f"example for {name} does not use it"
    model = cnndsl.compile(net).eval()
    x = torch.randn(2, *shape)
    with torch.no_grad():
        out = model(x)
    outs = out if isinstance(out, tuple) else (out,)
    assert [tuple(o.shape[1:]) for o in outs] == net.output_shapes
    assert sum(p.numel() for p in model.parameters()) == net.count_params()


def test_every_op_has_a_family_and_a_backend():
    families = {"conv", "pool", "norm", "act", "fc", "merge", "io", "reshape", "other"}
    for name, op in REGISTRY.items():
        assert op.family in families, name
        assert op.name == name
        has_torch = op.module is not None or op.function is not None
        assert has_torch or op.family == "io", f"{name} has no torch builder"


def test_per_op_param_rule_matches_module():
    """Per layer, not only in total: each module's parameters equal the op's rule."""
    net = cnndsl.check(ARCH / "googlenet.cnn", net="googlenet")
    model = cnndsl.compile(net)
    modules = dict(model.named_modules())
    for layer in net.layers():
        expected = REGISTRY[layer.op].count_params(layer.attrs, layer.input_shapes)
        got = sum(p.numel() for p in modules[layer.qualname].parameters()) if layer.qualname in modules else 0
        assert got == expected == layer.params, layer.qualname
