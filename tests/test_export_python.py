"""`cnndsl export --format py`: the file's model is the compiled one. For every op's registry
examples (and each activation written `inplace=true`), the file builds every module with the
compiled module's settings, the same state_dict keys and shapes, and computes the same outputs;
parameters at the top level are in it; and it runs as a script. Expected values come from the
compiled model, run in the test."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import cnndsl
from cnndsl.ops import REGISTRY
from cnndsl.pytorch.export import export
from tests.conftest import wrap

EXAMPLES = [(op.name, body, shape) for op in REGISTRY.values() if not op.is_input
            for body, shape in op.usage_examples()]
# each activation with `inplace`, written so, where it is applied (after conv) and where it is not
INPLACE = [(op.name, f"{prefix}{op.name} inplace=true", (4, 5, 5)) for op in REGISTRY.values()
           if "inplace" in {p.name for p in op.params} for prefix in ("", "conv 1x1 4, ")]


def load(net: cnndsl.Network, path: Path) -> torch.nn.Module:
    """Export `net` as Python to `path` and build the file's model, in eval mode."""
    export(net, "py", path)
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, net.name)().eval()


def settings(module: torch.nn.Module) -> dict:
    """A module's settings: its attributes that are not tensors (kernel_size, ceil_mode, inplace, ...)."""
    return {k: v for k, v in vars(module).items() if not k.startswith("_") and not torch.is_tensor(v)}


def outputs(model: torch.nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
    with torch.no_grad():
        got = model(x.clone())  # clone: an in-place first layer would change the caller's x
    return got if isinstance(got, tuple) else (got,)


@pytest.mark.parametrize("op,body,shape", EXAMPLES + INPLACE, ids=[f"{o}:{b}" for o, b, _ in EXAMPLES + INPLACE])
def test_every_op_is_rebuilt_with_the_compiled_modules_settings(tmp_path, op, body, shape):
    net = cnndsl.check_text(wrap(f"    {body}", "x".join(map(str, shape))), net="T", file="t.cnn")
    compiled = cnndsl.compile(net).eval()
    mine = load(net, tmp_path / "exported.py")
    modules = dict(mine.named_modules())
    for name, module in compiled.named_modules():
        if name:
            # the same class: torch's own, or the copy of cnndsl's the file defines
            assert type(modules[name]).__qualname__ == type(module).__qualname__, name
            assert settings(modules[name]) == settings(module), name
    assert {k: v.shape for k, v in mine.state_dict().items()} == {k: v.shape for k, v in compiled.state_dict().items()}
    mine.load_state_dict(compiled.state_dict(), strict=True)
    x = torch.randn(3, *shape)
    for got, want in zip(outputs(mine, x), outputs(compiled, x), strict=True):
        torch.testing.assert_close(got, want, rtol=0, atol=0)


def test_the_settings_a_repr_dropped_are_written(tmp_path):
    """What the oracle found: AvgPool2d's ceil_mode, Hardswish's inplace, conv's padding='same'."""
    net = cnndsl.check_text(wrap("    conv 3x3 4 pad=same, hardswish inplace=true, avgpool 3/2 ceil=true", "2x4x4"),
                            net="T", file="t.cnn")
    export(net, "py", tmp_path / "m.py")
    text = (tmp_path / "m.py").read_text()
    assert "padding='same'" in text and "nn.Hardswish(inplace=True)" in text and "ceil_mode=True" in text
    assert tuple(outputs(load(net, tmp_path / "m.py"), torch.randn(1, 2, 4, 4))[0].shape[1:]) == net.output_shapes[0]


LAYER_SCALES = """
block Scaled() {
    conv 1x1 3
    layer_scale 0.5
}
network T {
    input 3x4x4
    layer_scale 0.25
    layer_scale 2 as 3
    Scaled()
}
"""


def test_parameters_at_the_top_level_are_in_the_file_with_their_initial_values(tmp_path):
    net = cnndsl.check_text(LAYER_SCALES, net="T", file="t.cnn")
    torch.manual_seed(0)
    compiled = cnndsl.compile(net).eval()
    mine = load(net, tmp_path / "m.py")
    assert list(mine.state_dict()) == list(compiled.state_dict())
    mine.Scaled1.conv1.load_state_dict(compiled.Scaled1.conv1.state_dict())  # only the conv's weights are random
    x = torch.randn(2, 3, 4, 4)
    torch.testing.assert_close(outputs(mine, x), outputs(compiled, x), rtol=0, atol=0)


SCRIPT = """
network Heads {
    input 3x6x6
    conv 3x3 4 pad=1
    bn
    layer_scale as 3
    (a, b) = split 2
    c = a -> flatten, fc 5
    output b
    output c
    output a
}
"""


def test_the_file_runs_as_a_script_printing_each_outputs_shape(tmp_path):
    """Several outputs, batch norm (refuses one sample in training mode) and numbered parameters."""
    net = cnndsl.check_text(SCRIPT, net="Heads", file="t.cnn")
    export(net, "py", tmp_path / "heads.py")
    result = subprocess.run([sys.executable, str(tmp_path / "heads.py")], capture_output=True, text=True,
                            cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    shapes = [tuple(o.shape) for o in outputs(cnndsl.compile(net).eval(), torch.zeros(2, *net.input_shape))]
    printed = [(line.split()[0], tuple(map(int, re.findall(r"\d+", line.split(" ", 1)[1]))))
               for line in result.stdout.splitlines()]
    assert printed == list(zip(["b", "c", "a"], shapes, strict=True))


def test_the_script_runs_a_group_norm_of_one_value_per_group(tmp_path):
    """The oracle's python_main program: torch's GroupNorm refuses a batch of one sample when each
    group holds one value (in eval mode too), so the script runs two."""
    net = cnndsl.check_text(wrap("    groupnorm 4", "4"), net="T", file="t.cnn")
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        cnndsl.compile(net).eval()(torch.zeros(1, 4))  # what the script did before
    export(net, "py", tmp_path / "t.py")
    result = subprocess.run([sys.executable, str(tmp_path / "t.py")], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["output", "(2,", "4)"]


def test_explicit_inplace_on_a_shared_input_computes_what_the_text_means(tmp_path):
    """`add { hardswish inplace=true | identity }` is hardswish(x) + x, in the compiled model and
    in the exported file; check warns that the layer is computed out of place."""
    net = cnndsl.check_text(wrap("    conv 1x1 2\n    add { hardswish inplace=true | identity }", "2x1x4"),
                            net="T", file="t.cnn")
    assert any("hardswish1" in w.message and "out of place" in w.message for w in net.warnings)
    compiled = cnndsl.compile(net).eval()
    assert compiled.hardswish1.inplace is False
    x = torch.randn(3, 2, 1, 4)
    with torch.no_grad():
        y = compiled.conv1(x)
        want = torch.nn.functional.hardswish(y) + y
    torch.testing.assert_close(outputs(compiled, x)[0], want)
    mine = load(net, tmp_path / "m.py")
    mine.load_state_dict(compiled.state_dict())
    torch.testing.assert_close(outputs(mine, x)[0], want)


@pytest.mark.parametrize("body,applied", [
    ("conv 1x1 2, relu inplace=true", True),                 # the conv's fresh output, read once
    ("relu inplace=true", False),                            # the caller's tensor
    ("conv 1x1 2, add { relu inplace=true | dropout 0.1 }", False),  # also read through an alias
    ("conv 1x1 2, sigmoid, relu inplace=true", False),       # sigmoid's backward needs its output
])
def test_inplace_is_applied_exactly_where_it_is_safe_and_check_says_where_not(body, applied):
    net = cnndsl.check_text(wrap(f"    {body}", "2x3x3"), net="T", file="t.cnn")
    assert compiled_inplace(net) == applied
    assert any("relu1" in w.message and "out of place" in w.message for w in net.warnings) == (not applied)


def compiled_inplace(net: cnndsl.Network) -> bool:
    return cnndsl.compile(net).relu1.inplace


@pytest.mark.parametrize("name", ["torch", "getattr"])
def test_a_network_named_like_what_the_file_uses_gets_a_class_beside_it(tmp_path, name):
    net = cnndsl.check_text(f"network {name} {{\n    input 2x3x3\n    layer_scale as 3\n    relu\n}}\n",
                            net=name, file="t.cnn")
    export(net, "py", tmp_path / "m.py")
    result = subprocess.run([sys.executable, str(tmp_path / "m.py")], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0 and result.stdout.split() == ["output", "(2,", "2,", "3,", "3)"], result.stderr
    spec = importlib.util.spec_from_file_location("m", tmp_path / "m.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    x = torch.randn(2, 2, 3, 3)
    torch.testing.assert_close(outputs(getattr(module, f"{name}_")().eval(), x), outputs(cnndsl.compile(net), x))
