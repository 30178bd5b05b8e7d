"""Initialisation in the language: `init=` on a layer, the `init` statement's defaults, initialisers as
values, and what the compiled model, the summary and the exported Python make of them."""

from __future__ import annotations

import importlib.util
import json
import math

import pytest
import torch

import cnndsl
from cnndsl.errors import CnnError
from cnndsl.ops import REGISTRY
from cnndsl.ops.inits import LayerInit, make


def net(body: str, blocks: str = "", shape: str = "3x8x8"):
    return cnndsl.check_text(f"{blocks}\nnetwork N {{\n    input {shape}\n{body}\n}}\n")


def inits(network) -> dict[str, str | None]:
    return {layer.qualname: None if layer.init is None else str(layer.init) for layer in network.layers()}


def test_a_layers_own_init_and_the_defaults_of_op_and_family():
    got = inits(net("""
    init norm=(ones, zeros), conv=xavier_uniform
    conv 3x3 4, bn
    conv 1x1 4 init=normal(0, 0.5), bn
    init bn=(zeros, ones)
    bn, layernorm2d, gap, flatten, fc 2"""))
    assert got["conv1"] == "xavier_uniform"
    assert got["bn1"] == "(ones, zeros)"
    assert got["conv2"] == "normal(std=0.5)"  # the layer's own wins
    assert got["bn3"] == "(zeros, ones)"  # the op's rule wins over the family's
    assert got["layernorm2d1"] == "(ones, zeros)"  # the family's
    assert got["fc1"] is None and got["gap1"] is None  # no rule: PyTorch's default


def test_blocks_start_with_their_callers_defaults_and_theirs_end_with_them():
    blocks = """
block inner() { conv 1x1 4 }
block outer() {
    inner()
    init conv=zeros
    conv 1x1 4
    inner()
}"""
    got = inits(net("    init conv=ones\n    outer()\n    conv 1x1 4", blocks))
    assert got["outer1.inner1.conv1"] == "ones"
    assert got["outer1.conv1"] == "zeros"
    assert got["outer1.inner2.conv1"] == "zeros"
    assert got["conv1"] == "ones"  # the block's own statement ended with it


def test_initialisers_are_values():
    blocks = "block b(w, zero=false) { conv 1x1 4 init=w, bn init=(zeros if zero else ones, zeros) }"
    got = inits(net("    let w = kaiming_normal(mode=fan_out, nonlinearity=relu)\n    b(w, zero=true)", blocks))
    assert got["b1.conv1"] == "kaiming_normal(mode=fan_out, nonlinearity=relu)"
    assert got["b1.bn1"] == "(zeros, zeros)"
    layer = next(layer for layer in net("    conv 1x1 4 init=trunc_normal(0.02, a=-1, b=1)").layers()
                 if layer.op == "conv")
    assert layer.init == LayerInit(make("trunc_normal", 0.02, a=-1, b=1))
    assert layer.init.weight.kwargs == {"std": 0.02, "a": -1.0, "b": 1.0, "mean": 0.0}


def test_every_op_with_parameters_takes_init_and_no_other():
    takes = {name for name, op in REGISTRY.items() if op.initialisable}
    assert {"conv", "fc", "linear", "bn", "layernorm", "layernorm2d"} <= takes
    assert not takes & {"relu", "maxpool", "dropout", "flatten", "add", "identity", "layer_scale", "input"}
    with pytest.raises(CnnError, match="relu has no argument 'init'"):
        net("    relu init=zeros")
    # layer_scale's own argument named `init` is still its own
    assert net("    layer_scale init=0.5").layer("layer_scale1").attrs["init"] == 0.5


@pytest.mark.parametrize("text,message", [
    ("    init relu=zeros", "no op with parameters"),
    ("    init conv=3", "init conv must be an initialiser"),
    ("    conv 3x3 4 init=(zeros, ones, ones)", "or a pair"),
    ("    conv 3x3 4 init=kaiming_normal(mode=fan_up)", "mode must be one of fan_in, fan_out"),
    ("    conv 3x3 4 init=kaiming_normal(nonlinearity=swish)", "nonlinearity must be one of"),
    ("    conv 3x3 4 init=normal(std=0)", "std must be positive"),
    ("    conv 3x3 4 init=uniform(1, 0)", "needs a < b"),
    ("    conv 3x3 4 init=constant()", "constant\\(\\) needs val"),
    ("    conv 3x3 4 init=normal(0, 1, 2)", "takes 2 arguments"),
    ("    conv 3x3 4 init=normal(sd=1)", "has no argument 'sd'"),
    ("    conv 3x3 4 init=normal(std=1, std=2)", "given twice"),
    ("    conv 3x3 4 init=xavier", "undefined name 'xavier'"),
    ("    conv 3x3 4 init=zeros init=ones", "conv init is given twice"),
])
def test_bad_inits_are_located_errors(text, message):
    with pytest.raises(CnnError, match=message) as info:
        net(text)
    assert info.value.span is not None and info.value.span.line == 4


def test_the_compiled_model_is_initialised_as_written():
    model = cnndsl.compile(net("""
    init conv=(kaiming_normal(mode=fan_out, nonlinearity=relu), constant(0.25)), norm=(zeros, ones)
    conv 3x3 64, bn, conv 3x3 64 bias=false, flatten, fc 10 init=(ones, default)"""), seed=0)
    sd = model.state_dict()
    assert torch.equal(sd["conv1.bias"], torch.full((64,), 0.25))
    assert torch.equal(sd["bn1.weight"], torch.zeros(64)) and torch.equal(sd["bn1.bias"], torch.ones(64))
    assert torch.equal(sd["fc1.weight"], torch.ones(10, 64 * 4 * 4))
    # fc1's bias keeps PyTorch's default: uniform within 1/sqrt(fan_in)
    bound = 1 / math.sqrt(64 * 4 * 4)
    assert sd["fc1.bias"].abs().max() <= bound and sd["fc1.bias"].std() > 0
    # kaiming_normal, fan_out, relu: std sqrt(2 / (64 * 9)), here on 64*64*9 draws (5 standard errors: 3%)
    std = math.sqrt(2 / (64 * 9))
    assert abs(sd["conv2.weight"].std().item() - std) < 0.03 * std


def test_a_seed_makes_the_initialisation_reproducible_and_leaves_torchs_generator_alone():
    network = net("    init conv=xavier_uniform\n    conv 3x3 8, gap, flatten, fc 2")
    torch.manual_seed(123)
    before = torch.random.get_rng_state()
    a, b = cnndsl.compile(network, seed=7), cnndsl.compile(network, seed=7)
    assert torch.equal(torch.random.get_rng_state(), before)
    c = cnndsl.compile(network, seed=8)
    for key, value in a.state_dict().items():
        assert torch.equal(value, b.state_dict()[key])
    assert not torch.equal(a.state_dict()["conv1.weight"], c.state_dict()["conv1.weight"])
    with pytest.raises(CnnError, match="seed must be an integer"):
        cnndsl.compile(network, seed="7")


def test_torch_refusing_an_initialiser_is_a_located_error():
    with pytest.raises(CnnError, match=r"bn1 \(bn\): xavier_uniform cannot initialise its weight of shape \(4,\)"):
        cnndsl.compile(net("    conv 3x3 4, bn init=xavier_uniform"))


def test_summary_json_shows_each_layers_init(tmp_path):
    path = tmp_path / "n.cnn"
    path.write_text("network N {\n    input 3x8x8\n    init conv=kaiming_normal(mode=fan_out)\n"
                    "    conv 3x3 4, relu, gap, flatten, fc 2 init=(normal(0, 0.01), zeros)\n}\n")
    from cnndsl.analysis import analyse
    from cnndsl.analysis.report import to_json

    doc = json.loads(to_json(analyse(cnndsl.check(path))))
    got = {row["name"]: row["init"] for row in doc["layers"]}
    assert got == {"input": None, "conv1": "kaiming_normal(mode=fan_out)", "relu1": None, "gap1": None,
                   "flatten1": None, "fc1": "(normal(std=0.01), zeros)"}


def test_exported_python_initialises_as_the_compiled_model(tmp_path):
    network = net("    init conv=(xavier_normal(gain=2), constant(0.5)), bn=(constant(2), zeros)\n"
                  "    conv 3x3 16, bn, gap, flatten, fc 2 init=zeros")
    from cnndsl.pytorch.export import export

    out = tmp_path / "model.py"
    export(network, "py", out)
    text = out.read_text()
    assert "nn.init.xavier_normal_(self.conv1.weight, gain=2.0)" in text
    spec = importlib.util.spec_from_file_location("exported", out)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    torch.manual_seed(0)
    exported = module.N().state_dict()
    torch.manual_seed(0)
    compiled = cnndsl.compile(network).state_dict()
    for key in ("conv1.bias", "bn1.weight", "bn1.bias", "fc1.weight"):
        assert torch.equal(exported[key], compiled[key]), key
    std = 2 * math.sqrt(2 / (3 * 9 + 16 * 9))
    assert abs(exported["conv1.weight"].std().item() - std) < 0.25 * std  # 432 draws
