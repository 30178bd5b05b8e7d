"""`cnndsl export`: a checked network as ONNX, TorchScript, or one standalone Python file.

The Python file needs only torch: a class whose `__init__` builds the same modules under the
spec's names (so its state_dict matches the compiled model's) and whose `forward` is the
compiled model's own generated code.
"""

from __future__ import annotations

import inspect
import io
import os
from pathlib import Path

import torch
from torch import nn

from ..errors import CnnError
from ..files import write_atomic
from ..ir import Network
from ..ops import torch_layers
from .fx_backend import compile_network

FORMATS = ("onnx", "torchscript", "py")


def _constructor(module: nn.Module) -> str:
    """`nn.Conv2d(3, 64, kernel_size=(7, 7), ...)`: torch's repr of a layer is its constructor call
    (cnndsl's own layers, whose source goes into the file, print theirs the same way)."""
    text = repr(module)
    if "\n" not in text and type(module) in torch_layers.CLASSES:
        return text
    if "\n" in text or getattr(nn, type(module).__name__, None) is not type(module):
        raise CnnError(f"cannot export {type(module).__name__} as Python")
    return f"nn.{text}"


def _own_classes(model: nn.Module) -> list[str]:
    used = {type(m) for m in model.modules()}
    return [inspect.getsource(cls) for cls in torch_layers.CLASSES if cls in used]


def _reference(path: str) -> str:
    """`self.layer1`, `getattr(self.layer1, "0")`: attribute access as torch.fx writes it, for
    names that are not identifiers (positions, `block1-0`)."""
    text = "self"
    for part in path.split("."):
        text = f"{text}.{part}" if part.isidentifier() else f'getattr({text}, "{part}")'
    return text


def _assign(path: str, value: str) -> str:
    parent, _, last = path.rpartition(".")
    if last.isidentifier():
        return f"{_reference(parent) if parent else 'self'}.{last} = {value}"
    return f'setattr({_reference(parent) if parent else "self"}, "{last}", {value})'


def to_python(net: Network, model: torch.fx.GraphModule) -> str:
    """The network as one Python file that needs only torch: the source of cnndsl's own layer classes the
    model uses, a class named as the compiled model whose `__init__` builds the same modules at the same
    paths (so its state_dict matches) and whose `forward` is the compiled model's generated code, and a
    `__main__` that runs one zero sample (shape (1, *net.input_shape), the network's shape being per
    sample). CnnError for a module that cannot be written as its constructor call."""
    name = model.__class__.__name__
    lines = ['"""' + f"{net.name}, exported by `cnndsl export --format py`; needs only torch." + '"""',
             "", "import operator  # noqa: F401 (the generated forward may use it)", "", "import torch",
             "from torch import nn", "", "", *(c + "\n\n" for c in _own_classes(model)),
             f"class {name}(nn.Module):", "    def __init__(self) -> None:", "        super().__init__()"]
    for qualname, module in model.named_modules():
        if not qualname:
            continue
        if type(module) is nn.Module:  # a block instance: a plain container, as in the compiled model
            lines.append("        " + _assign(qualname, "nn.Module()"))
        else:
            lines.append("        " + _assign(qualname, _constructor(module)))
        for name, p in module.named_parameters(recurse=False) if type(module) is nn.Module else ():
            lines.append("        " + _assign(f"{qualname}.{name}", f"nn.Parameter(torch.empty({tuple(p.shape)}))"))
    forward = model.code.strip("\n")
    lines += ["", *("    " + line if line.strip() else "" for line in forward.splitlines()), ""]
    lines += ["", "if __name__ == \"__main__\":", f"    model = {name}()",
              f"    print(model(torch.zeros(1, {', '.join(map(str, net.input_shape))})).shape)", ""]
    return "\n".join(lines)


def export(net: Network, fmt: str, output: str | os.PathLike, check_onnx: bool = True) -> str:
    """Write the network; returns a line describing what was written (and checked)."""
    if fmt not in FORMATS:
        raise CnnError(f"unknown export format '{fmt}'", hint="formats: " + ", ".join(FORMATS))
    path = Path(output)
    model = compile_network(net).eval()
    example = torch.randn(2, *net.input_shape)
    if fmt == "py":
        write_atomic(path, to_python(net, model).encode())
        return f"wrote {path}"
    buffer = io.BytesIO()
    if fmt == "torchscript":
        torch.jit.save(torch.jit.script(model), buffer)
        write_atomic(path, buffer.getvalue())
        return f"wrote {path}"
    torch.onnx.export(model, (example,), buffer, input_names=["x"], output_names=["y"], dynamo=False,
                      dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}})
    write_atomic(path, buffer.getvalue())
    return f"wrote {path}" + (_onnx_check(buffer.getvalue(), model, example) if check_onnx else "")


def _onnx_check(data: bytes, model: nn.Module, example: torch.Tensor) -> str:
    try:
        import onnxruntime
    except ImportError:
        return " (onnxruntime is not installed: not checked)"
    session = onnxruntime.InferenceSession(data)
    got = session.run(None, {"x": example.numpy()})[0]
    with torch.no_grad():
        want = model(example)
    want = want[0] if isinstance(want, tuple) else want
    diff = (torch.from_numpy(got) - want).abs().max().item() / max(want.abs().max().item(), 1e-12)
    if diff > 1e-4:
        raise CnnError(f"onnxruntime disagrees with torch: relative difference {diff:.1e}")
    return f"; onnxruntime agrees with torch (relative difference {diff:.1e})"
