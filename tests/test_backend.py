"""The torch.fx backend: readable code, spec names in the module tree, and the model works
with TorchScript, torch.compile and ONNX export (checked by running it in onnxruntime)."""

from __future__ import annotations

import io

import pytest
import torch

import cnndsl
from tests.conftest import ARCH, check_body


@pytest.fixture(scope="module")
def googlenet():
    torch.manual_seed(0)
    return cnndsl.load(ARCH / "googlenet.cnn", net="GoogLeNet").eval()


def test_generated_code_reads_like_the_spec():
    model = cnndsl.load(ARCH / "resnet.cnn", net="ResNet18")
    code = model.code
    assert "def forward(self, x):" in code
    assert "resnet_block2_residual1_conv1 = self.resnet_block2.residual1.conv1(" in code
    assert "resnet_block2_residual1_add1 = " in code and "torch.cat" not in code
    keys = list(model.state_dict())
    assert keys[:2] == ["conv1.weight", "conv1.bias"]
    assert "resnet_block2.residual1.conv3.weight" in keys  # the 1x1 projection of the shortcut
    assert type(model).__name__ == "ResNet18"


def test_merges_are_plain_torch_calls():
    model = cnndsl.compile(check_body("concat { conv 1x1 2 | identity }\nadd { identity | relu }", "3x4x4"))
    assert "concat1 = torch.cat([conv1, x], 1)" in model.code
    assert "concat1 + relu1" in model.code


def test_torchscript(googlenet):
    x = torch.randn(2, 1, 96, 96)
    scripted = torch.jit.script(googlenet)
    torch.testing.assert_close(scripted(x), googlenet(x))


def test_torchscript_with_several_outputs():
    model = cnndsl.compile(check_body("(a, b) = split 2\noutput b\noutput a", "4x2x2"))
    x = torch.randn(1, 4, 2, 2)
    b, a = torch.jit.script(model)(x)
    assert torch.equal(a, x[:, :2]) and torch.equal(b, x[:, 2:])


@pytest.mark.slow
def test_torch_compile(googlenet):
    x = torch.randn(2, 1, 96, 96)
    compiled = torch.compile(googlenet)
    torch.testing.assert_close(compiled(x), googlenet(x), rtol=1e-4, atol=1e-5)


def test_onnx_export_runs_in_onnxruntime(googlenet):
    ort = pytest.importorskip("onnxruntime")
    x = torch.randn(2, 1, 96, 96)
    buffer = io.BytesIO()
    torch.onnx.export(googlenet, (x,), buffer, dynamo=False, input_names=["x"])
    session = ort.InferenceSession(buffer.getvalue())
    (got,) = session.run(None, {"x": x.numpy()})
    torch.testing.assert_close(torch.from_numpy(got), googlenet(x).detach(), rtol=1e-4, atol=1e-5)


def test_training_step_updates_weights():
    model = cnndsl.load(ARCH / "lenet.cnn", net="LeNetBN")
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x, y = torch.randn(8, 1, 28, 28), torch.randint(0, 10, (8,))
    before = model.fc3.weight.detach().clone()
    loss = torch.nn.functional.cross_entropy(model(x), y)
    loss.backward()
    opt.step()
    assert not torch.equal(before, model.fc3.weight)


@pytest.mark.parametrize("file,name", [("resnet.cnn", "ResNet18"), ("densenet.cnn", "DenseNet"),
                                       ("googlenet.cnn", "GoogLeNet"), ("resnet.cnn", "resnet18")])
def test_inplace_activations_keep_gradients_exact(file, name):
    """The backend makes activations in place where safe; training gives the same gradients."""
    from cnndsl.pytorch.fx_backend import compile_network

    net = cnndsl.check(ARCH / file, net=name, input=(3, 64, 64) if name == "resnet18" else None)
    fast, plain = compile_network(net), compile_network(net, inplace=False)
    plain.load_state_dict(fast.state_dict())
    assert any(getattr(m, "inplace", False) for m in fast.modules())
    assert not any(getattr(m, "inplace", False) for m in plain.modules())
    x = torch.randn(2, *net.input_shape)
    for model in (fast, plain):
        model.train()
        model(x).square().sum().backward()
    for (key, a), (_, b) in zip(fast.named_parameters(), plain.named_parameters(), strict=True):
        torch.testing.assert_close(a.grad, b.grad, msg=key)


def test_inplace_is_never_applied_to_a_shared_tensor():
    from cnndsl.pytorch.fx_backend import compile_network

    net = check_body("conv 1x1 4\nadd { relu | identity }\nx = conv 1x1 4\nrelu\noutput x\n", "3x4x4")
    model = compile_network(net)
    assert not model.get_submodule("relu1").inplace  # conv1 also feeds the identity branch
    assert not model.get_submodule("relu2").inplace  # conv2 is a network output


@pytest.mark.parametrize("body", ["add { identity }\nsilu", "add { identity }\nrelu inplace=true"])
def test_an_add_of_one_branch_makes_no_tensor_to_overwrite(body):
    """`add { identity }` is its branch's own tensor (the fx model has no node for it): an activation
    after it overwrote the caller's input (the differential oracle, `add { identity }` then `silu`).
    Nothing is computed in place after it, and the outputs are those of the model without in-place."""
    from cnndsl.pytorch.fx_backend import compile_network

    net = check_body(body, "3x4x4")
    model, plain = compile_network(net).eval(), compile_network(net, inplace=False).eval()
    plain.load_state_dict(model.state_dict())
    x = torch.randn(2, 3, 4, 4)
    kept = x.clone()
    with torch.no_grad():
        got = model(x)
    assert torch.equal(x, kept)
    assert not any(getattr(m, "inplace", False) for m in model.modules())
    with torch.no_grad():
        torch.testing.assert_close(got, plain(kept))


@pytest.mark.parametrize("name,why", [("class", "a Python keyword"), ("forward", "an attribute of torch.nn.Module"),
                                      ("_modules", "an attribute of torch.nn.Module")])
def test_names_that_would_break_the_generated_code_are_refused(name, why):
    net = check_body(f"conv 1x1 2 as {name}", "3x4x4")
    with pytest.raises(cnndsl.CnnError, match=f"'{name}' cannot name a layer: it is {why}") as info:
        cnndsl.compile(net)
    assert (info.value.span.line, info.value.span.col) == (4, 1)  # the layer, in wrap()'s text


@pytest.mark.parametrize("name", ["self", "x", "torch", "operator", "getattr", "inf"])
def test_names_the_generated_code_uses_are_renamed_not_shadowed(name):
    model = cnndsl.compile(check_body(f"conv 1x1 2 as {name}, relu\nadd {{ identity | relu as {name}2 }}", "3x4x4"))
    x = torch.randn(1, 3, 4, 4)
    torch.testing.assert_close(torch.jit.script(model)(x), model(x))
    assert hasattr(model, name)


def test_load_refuses_a_model_larger_than_memory_before_allocating():
    net = check_body("flatten\nfc 1000000\nfc 1000000", "512x7x7")
    with pytest.raises(cnndsl.CnnError, match=r"has 1,025,090,000,000 parameters \(3818.8 GiB as float32\)"):
        cnndsl.compile(net)
    with pytest.raises(cnndsl.CnnError, match="but max_bytes is 100 bytes"):
        cnndsl.compile(check_body("fc 10", "10"), max_bytes=100)
