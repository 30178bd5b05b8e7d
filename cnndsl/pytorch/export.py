"""`cnndsl export`: a checked network as ONNX, TorchScript, or one standalone Python file.

The Python file needs only torch: a class whose `__init__` builds the same modules under the
spec's names (so its state_dict matches the compiled model's) and whose `forward` is the
compiled model's own generated code.
"""

from __future__ import annotations

import inspect
import io
import os
import warnings
from pathlib import Path

import torch
from torch import fx, nn

from ..errors import CnnError
from ..files import write_atomic
from ..ir import Network
from ..ops import dims, torch_layers
from .fx_backend import compile_network
from .initialise import init_lines
from .onnx_export import CHECK_BATCH, INPUT_NAME, OPSET, TOLERANCE, check_input, onnx_model, output_names, run_onnx

FORMATS = ("onnx", "torchscript", "py")


def _constructor(module: nn.Module) -> str:
    """`nn.Conv2d(3, 64, kernel_size=(7, 7), ...)`: torch's repr of a layer is its constructor call
    (cnndsl's own layers, whose source goes into the file, print theirs the same way)."""
    text = repr(module)
    padding = getattr(module, "padding", None)
    if isinstance(padding, str):  # torch prints `padding=same`, a name; the constructor wants the string
        text = text.replace(f"padding={padding}", f"padding={padding!r}")
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
    """One Python file needing only torch: a class whose `__init__` builds the compiled model's
    modules under the same names and whose `forward` is its generated code (a tuple for
    several outputs, in `output` order); its docstring lists the input and outputs, and run as
    a script it prints each output's shape."""
    cls = model.__class__.__name__
    names = output_names(net)
    doc = (f"{net.name}, exported by `cnndsl export --format py`; needs only torch.\n\n"
           f"Input: N x {dims(net.input_shape)}. Output{'s' if len(names) > 1 else ''} of forward"
           + (", a tuple in this order" if len(names) > 1 else "") + ": "
           + ", ".join(f"{n} (N x {dims(s)})" for n, s in zip(names, net.output_shapes, strict=True)) + ".\n")
    lines = ['"""' + doc + '"""',
             "", "import operator  # noqa: F401 (the generated forward may use it)", "", "import torch",
             "from torch import nn", "", "", *(c + "\n\n" for c in _own_classes(model)),
             f"class {cls}(nn.Module):", "    def __init__(self) -> None:", "        super().__init__()"]
    layers = {layer.qualname: layer for layer in net.layers()}
    for qualname, module in model.named_modules():
        if not qualname:
            continue
        if type(module) is nn.Module:  # a block instance: a plain container, as in the compiled model
            lines.append("        " + _assign(qualname, "nn.Module()"))
        else:
            lines.append("        " + _assign(qualname, _constructor(module)))
            layer = layers.get(qualname)
            if layer is not None:  # its `init`, as the compiled model applied it
                codes = init_lines(module, layer.entry, layer.init, _reference(qualname))
                lines += ["        " + code for code in codes]
        for name, p in module.named_parameters(recurse=False) if type(module) is nn.Module else ():
            lines.append("        " + _assign(f"{qualname}.{name}", f"nn.Parameter(torch.empty({tuple(p.shape)}))"))
    forward = model.code.strip("\n")
    lines += ["", *("    " + line if line.strip() else "" for line in forward.splitlines()), ""]
    outputs = "(outputs,)" if len(names) == 1 else "outputs"
    lines += ["", "if __name__ == \"__main__\":", f"    model = {cls}().eval()",
              f"    outputs = model(torch.zeros(1, {', '.join(map(str, net.input_shape))}))",
              f"    for name, value in zip({tuple(names)!r}, {outputs}):",
              "        print(name, tuple(value.shape))", ""]
    return "\n".join(lines)


def _signature(net: Network, onnx: bool) -> str:
    """What the file takes and gives: `'input' Nx3x8x8 -> 'a' Nx4x8x8, 'b' Nx4x8x8` (ONNX's
    names), `forward(Nx3x8x8) -> (a Nx4x8x8, b Nx4x8x8)` (a tuple in output order)."""
    outs = [(f"'{n}'" if onnx else n, f"Nx{dims(s)}") for n, s in zip(output_names(net), net.output_shapes,
                                                                         strict=True)]
    gives = ", ".join(f"{n} {s}" for n, s in outs)
    if onnx:
        return f"'{INPUT_NAME}' Nx{dims(net.input_shape)} -> {gives}"
    return f"forward(Nx{dims(net.input_shape)}) -> " + (f"({gives})" if len(outs) > 1 else gives)


def compare(net: Network, model: nn.Module, got: list[torch.Tensor], runtime: str) -> float:
    """Check `got`, a runtime's outputs on `check_input(net)`, against the compiled model's:
    every output must have cnndsl's shape and torch's values (within TOLERANCE). Returns the
    largest relative difference; CnnError, naming the output and its layer, otherwise."""
    with torch.no_grad():
        want = model(check_input(net))
    want = list(want) if isinstance(want, tuple) else [want]
    names = output_names(net)
    if len(got) != len(want):
        raise CnnError(f"{runtime} gives {len(got)} outputs, torch {len(want)}")
    worst = 0.0
    for name, ref, g, w in zip(names, net.outputs, got, want, strict=True):
        where = {"span": ref.layer.span, "chain": ref.layer.chain}
        expected = (CHECK_BATCH, *ref.shape)
        if tuple(g.shape) != expected or tuple(w.shape) != expected:
            raise CnnError(f"output '{name}' (layer '{ref.layer.qualname}') is {dims(tuple(g.shape))} in {runtime} "
                           f"and {dims(tuple(w.shape))} in torch, but cnndsl computed {dims(expected)}", **where)
        diff = (g.float() - w).abs().max().item() / max(w.abs().max().item(), 1e-12)
        if not diff <= TOLERANCE:  # also NaN
            raise CnnError(f"{runtime} disagrees with torch on output '{name}' (layer '{ref.layer.qualname}'): "
                           f"relative difference {diff:.1e}", **where)
        worst = max(worst, diff)
    return worst


def _torchscript(net: Network, model: fx.GraphModule) -> tuple[bytes, str]:
    """The scripted model's bytes, loaded back and checked on every output."""
    with warnings.catch_warnings():  # torch.jit's deprecation notices: the check below is what counts
        warnings.simplefilter("ignore")
        try:  # scripting, saving, loading back and running: TorchScript may refuse at any of them
            scripted = torch.jit.script(model)
            buffer = io.BytesIO()
            torch.jit.save(scripted, buffer)
            loaded = torch.jit.load(io.BytesIO(buffer.getvalue())).eval()
            with torch.no_grad():
                got = loaded(check_input(net))
        except Exception as exc:  # noqa: BLE001 (TorchScript's errors are of many kinds)
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise CnnError(f"TorchScript cannot take network '{net.name}': {reason}",
                           hint="export it with --format onnx or --format py") from None
    diff = compare(net, model, list(got) if isinstance(got, tuple) else [got], "the saved TorchScript")
    return buffer.getvalue(), f"; loaded back, it agrees with torch (relative difference {diff:.1e})"


def _onnx(net: Network, model: fx.GraphModule, run: bool) -> tuple[bytes, str]:
    """The checked ONNX file's bytes, and whether onnxruntime agreed."""
    data = onnx_model(net, model)
    got = run_onnx(data, net, model) if run else None
    if got is None:
        return data, " (onnxruntime is not installed: not run)" if run else ""
    diff = compare(net, model, got, "onnxruntime")
    return data, f"; onnxruntime agrees with torch on every output (largest relative difference {diff:.1e})"


def export(net: Network, fmt: str, output: str | os.PathLike, check_onnx: bool = True) -> str:
    """Write the network in `fmt` (one of FORMATS) to `output`; returns a line saying what was
    written and checked. The file is built and checked in memory and written atomically only
    then: on any CnnError nothing is written and an existing file is left as it was.

    onnx: opset OPSET, input `input` (N×C×H×W), outputs named by `output_names` with cnndsl's
    shapes declared (N dynamic); run in onnxruntime, when it is installed and `check_onnx`,
    where every output must agree with torch. torchscript: saved, loaded back and checked
    the same way. py: see `to_python`.
    """
    if fmt not in FORMATS:
        raise CnnError(f"unknown export format '{fmt}'", hint="formats: " + ", ".join(FORMATS))
    model = compile_network(net).eval()
    if fmt == "onnx":
        data, note = _onnx(net, model, check_onnx)
        what = f"ONNX opset {OPSET}: {_signature(net, onnx=True)}"
    elif fmt == "torchscript":
        data, note = _torchscript(net, model)
        what = f"TorchScript: {_signature(net, onnx=False)}"
    else:
        data, note = to_python(net, model).encode(), ""
        what = f"Python: {_signature(net, onnx=False)}"
    write_atomic(Path(output), data)
    return f"wrote {output} ({what}){note}"
