"""Initialisation in the language: `init=` on a layer, the `init` statement's defaults, initialisers as
values, and what the compiled model, the summary and the exported Python make of them."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import math
import re

import pytest
import torch
from torch import nn

import cnndsl
from cnndsl.errors import CnnError
from cnndsl.ops import REGISTRY
from cnndsl.ops.inits import REQUIRED_ARG, SIGNATURES, LayerInit, make


def net(body: str, blocks: str = "", shape: str = "3x8x8"):
    return cnndsl.check_text(f"{blocks}\nnetwork N {{\n    input {shape}\n{body}\n}}\n")


def inits(network) -> dict[str, str | None]:
    return {layer.qualname: None if layer.init is None else str(layer.init) for layer in network.layers()}



def exported_state(path, name: str) -> dict:  # noqa: ANN001
    """The state_dict of network N in an exported Python file, built after seeding torch with 0."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    torch.manual_seed(0)
    return module.N().state_dict()

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
    assert {"conv", "fc", "linear", "bn", "layernorm", "layernorm2d", "prelu", "layer_scale"} <= takes
    assert not takes & {"relu", "maxpool", "dropout", "flatten", "add", "identity", "input"}
    with pytest.raises(CnnError, match="relu has no argument 'init'"):
        net("    relu init=zeros")
    # layer_scale's own argument named `init` is still its own, given a number
    assert net("    layer_scale init=0.5").layer("layer_scale1").attrs["init"] == 0.5


def error_saying(text: str, message: str) -> CnnError:
    """The error `net(text)` raises, its message (alone: pytest's `match` also reads the exception's note)
    searched for `message`."""
    with pytest.raises(CnnError) as info:
        net(text)
    assert re.search(message, info.value.message), info.value.message
    return info.value


@pytest.mark.parametrize("text,message", [
    ("    init relu=zeros", "no op with parameters"),
    ("    init conv=3", "init conv must be an initialiser"),
    ("    conv 3x3 4 init=(zeros, ones, ones)", r"or a pair \(weight, bias\), got tuple \(zeros, ones, ones\)$"),
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
    error = error_saying(text, message)
    assert error.span is not None and error.span.line == 4


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


def test_torch_refusing_an_initialiser_is_a_located_error(monkeypatch):
    """Where an op does not declare its tensors' axes (a plugin's), torch's refusal is located when built."""
    monkeypatch.setitem(REGISTRY, "bn", dataclasses.replace(REGISTRY["bn"], init_axes=None))
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
    exported = exported_state(out, "exported")
    torch.manual_seed(0)
    compiled = cnndsl.compile(network).state_dict()
    for key in ("conv1.bias", "bn1.weight", "bn1.bias", "fc1.weight"):
        assert torch.equal(exported[key], compiled[key]), key
    std = 2 * math.sqrt(2 / (3 * 9 + 16 * 9))
    assert abs(exported["conv1.weight"].std().item() - std) < 0.25 * std  # 432 draws


# ---- a newcomer's findings (issue 14 item 1)

def test_a_bare_initialiser_that_needs_arguments_is_an_error_at_the_word():
    with pytest.raises(CnnError, match=r"constant\(\) needs val") as info:
        net("    conv 3x3 4 init=(zeros, constant)")
    span = info.value.span
    assert (span.line, span.col) == (4, 29) and info.value.diagnostic.hint.endswith("constant(0.1)")
    with pytest.raises(CnnError, match=r"constant\(\) needs val") as info:
        net("    init conv=constant\n    conv 3x3 4")
    assert (info.value.span.line, info.value.span.col) == (4, 15) and "constant(0.1)" in info.value.diagnostic.hint


@pytest.mark.parametrize("name", sorted(SIGNATURES))
def test_every_initialiser_written_bare_is_its_defaults_or_a_located_error(name):
    needs = [k for k, d in SIGNATURES[name] if d is REQUIRED_ARG]
    if not needs:
        assert net(f"    conv 3x3 4 init={name}").layer("conv1").init in (LayerInit(make(name)), None)
        return
    with pytest.raises(CnnError, match=f"{name}\\(\\) needs {needs[0]}") as info:
        net(f"    conv 3x3 4 init={name}")
    assert info.value.span.col == 21 and info.value.diagnostic.hint is not None


def _weights(body: str) -> dict[str, torch.Tensor]:
    return cnndsl.compile(net(body, shape="4x6x6"), seed=0).state_dict()


@pytest.mark.parametrize("default", ["zeros", "constant(0.1)"])
def test_a_layers_own_number_for_prelu_and_layer_scale_wins_over_the_init_statement(default):
    sd = _weights(f"    init act={default}, other={default}\n"
                  "    prelu init=0.5, layer_scale init=0.25, prelu, layer_scale")
    assert torch.equal(sd["prelu1.weight"], nn.PReLU(1, 0.5).weight.detach())
    assert torch.equal(sd["layer_scale1"], torch.full((4, 1, 1), 0.25))
    value = 0.0 if default == "zeros" else 0.1  # the statement's, where the layer says nothing
    assert torch.equal(sd["prelu2.weight"], torch.full((1,), value))
    assert torch.equal(sd["layer_scale2"], torch.full((4, 1, 1), value))


def test_prelu_and_layer_scale_take_initialisers(tmp_path):
    body = "    prelu channels=true init=zeros, layer_scale init=constant(0.1), layer_scale normal(0, 2), prelu"
    sd = _weights(body)
    assert torch.equal(sd["prelu1.weight"], torch.zeros(4))
    assert torch.equal(sd["prelu2.weight"], nn.PReLU().weight.detach())  # PyTorch's default, 0.25
    assert torch.equal(sd["layer_scale1"], torch.full((4, 1, 1), 0.1))
    assert abs(sd["layer_scale2"].std().item() - 2) < 2  # four draws: not the constant default
    network = net(body, shape="4x6x6")
    assert inits(network)["prelu1"] == "zeros" and inits(network)["layer_scale2"] == "normal(std=2)"
    from cnndsl.pytorch.export import export

    out = tmp_path / "model.py"
    export(net("    init act=zeros\n    prelu init=0.5, prelu, layer_scale init=normal(0, 2)", shape="4x6x6"),
           "py", out)
    text = out.read_text()
    assert "nn.init.zeros_(self.prelu1.weight)" not in text and "nn.init.zeros_(self.prelu2.weight)" in text
    exported = exported_state(out, "exported_scale")
    torch.manual_seed(0)
    compiled = cnndsl.compile(net("    init act=zeros\n    prelu init=0.5, prelu, layer_scale init=normal(0, 2)",
                                  shape="4x6x6")).state_dict()
    for key, value in compiled.items():
        assert torch.equal(exported[key], value), key
    assert torch.equal(compiled["prelu1.weight"], torch.full((1,), 0.5))


@pytest.mark.parametrize("text,message", [
    ("    prelu init=(1, 2)", r"prelu init must be a number or an initialiser .* got tuple \(1, 2\)$"),
    ("    layer_scale init=true", r"layer_scale init must be a number or an initialiser .* got bool true$"),
    ("    conv 3x3 4 init=(zeros, len)", r"got tuple \(zeros, len\)$"),
    ("    conv 3x3 zeros", r"conv out must be a positive integer, got initialiser zeros$"),
    ("    prelu init=0.5 init=zeros", "prelu init is given twice"),
    ("    layer_scale 0.5 init=zeros", "layer_scale init is given twice"),
])
def test_messages_show_values_as_the_source_writes_them(text, message):
    error = error_saying(text, message)
    assert "<function" not in str(error) and error.span.line == 4


@pytest.mark.parametrize("body,tensor", [
    ("conv 3x3 4 init=(xavier_uniform, kaiming_normal)", "bias"),
    ("conv 3x3 4, bn init=xavier_uniform", "weight"),
    ("init norm=orthogonal\n    conv 3x3 4, groupnorm 2", "weight"),
    ("prelu init=kaiming_uniform", "weight"),
    ("flatten, fc 3 init=(ones, xavier_normal)", "bias"),
])
def test_initialisers_torch_refuses_on_a_tensor_are_errors_at_check(body, tensor):
    """What check refuses, torch refuses too (on the same layer, built without the init)."""
    with pytest.raises(CnnError, match=f"cannot initialise its {tensor}, a tensor of one axis") as info:
        net("    " + body)
    assert info.value.span is not None and info.value.diagnostic.hint is not None
    layer = info.value.message.split(" ")[0]
    init = re.search(r": (\S+) cannot", info.value.message).group(1)
    plain = re.sub(r" init=(\([^)]*\)|\S+)|    init .*\n", "", "    " + body)
    module = cnndsl.compile(net(plain), seed=0).get_submodule(layer)
    with pytest.raises(ValueError):
        getattr(torch.nn.init, init + "_")(getattr(module, tensor).detach().clone())


def test_inits_that_fit_pass_check_and_parts_a_layer_lacks_are_left_out():
    network = net("    conv 3x3 4 bias=false init=(kaiming_normal, kaiming_normal), groupnorm 2 affine=false "
                  "init=xavier_uniform, prelu init=(zeros, kaiming_normal), layer_scale init=kaiming_normal")
    assert inits(network)["conv1"] == "(kaiming_normal, kaiming_normal)"
    sd = cnndsl.compile(network, seed=0).state_dict()
    assert "conv1.bias" not in sd and torch.equal(sd["prelu1.weight"], torch.zeros(1))


@pytest.mark.parametrize("body", ["conv 3x3 4 init=(zeros, constant)", "init conv=constant\n    conv 3x3 4",
                                  "conv 3x3 4 init=(xavier_uniform, kaiming_normal)"])
def test_check_exits_1_with_a_located_message(tmp_path, capsys, body):
    from cnndsl.cli.main import main

    path = tmp_path / "n.cnn"
    path.write_text(f"network N {{\n    input 1x8x8\n    {body}\n}}\n")
    assert main(["check", str(path)]) == 1
    err = capsys.readouterr().err
    assert f"{path}:" in err and "error:" in err and "internal error" not in err


def test_precedence_layer_then_block_then_network_then_pytorch():
    blocks = "block b() {\n    init act=ones\n    prelu, prelu init=0.5\n}"
    network = net("    init act=zeros\n    prelu, b(), prelu, prelu init=0.5", blocks, shape="4x6x6")
    sd = cnndsl.compile(network, seed=0).state_dict()
    expected = {"prelu1.weight": torch.zeros(1), "b1.prelu1.weight": torch.ones(1),
                "b1.prelu2.weight": nn.PReLU(1, 0.5).weight.detach(), "prelu2.weight": torch.zeros(1),
                "prelu3.weight": nn.PReLU(1, 0.5).weight.detach()}
    for key, value in expected.items():
        assert torch.equal(sd[key], value), key
    without = cnndsl.compile(net("    prelu", shape="4x6x6")).state_dict()["prelu1.weight"]
    assert torch.equal(without, nn.PReLU().weight.detach())  # no statement: PyTorch's default
