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
