"""`cnndsl export`: a checked network as ONNX, TorchScript, or one standalone Python file.

The Python file needs only torch: a class whose `__init__` builds the same modules under the
spec's names (so its state_dict matches the compiled model's) and whose `forward` is the
compiled model's own generated code.
"""

from __future__ import annotations

import builtins
import inspect
import io
import math
import os
import warnings
from pathlib import Path

import torch
from torch import fx, nn

from ..errors import CnnError
from ..files import write_atomic
from ..ir import Network
from ..ops import dims, torch_layers
from .agreement import allowed, computes_nan, difference
from .fx_backend import compile_network
from .initialise import init_code, init_lines
from .onnx_export import CHECK_BATCH, INPUT_NAME, OPSET, check_input, onnx_model, output_names, run_onnx
from .trained import model_input_shape

FORMATS = ("onnx", "torchscript", "py", "pt2")
# the names the Python file's code reads: a network named so is exported as class `NAME_`
SHADOWED = frozenset({"torch", "nn", "operator", *dir(builtins)})
# the file name endings each format's output may have: an -o named for another kind (shoe.png, a .onnx
# for Python code) is refused before anything is built, so an export never replaces a file of another kind
SUFFIXES = {"onnx": (".onnx",), "torchscript": (".pt", ".pth", ".ts", ".torchscript"), "py": (".py",),
            "pt2": (".pt2",)}


def check_output_name(fmt: str, output: str | os.PathLike) -> None:
    """CnnError unless `output` ends as a `fmt` file should (SUFFIXES, any case). A name without an
    extension says nothing of its kind: it is taken unless it is an existing regular file (a device such as
    /dev/null is taken)."""
    path = Path(output)
    suffix = path.suffix.lower()
    if suffix in SUFFIXES[fmt] or (not suffix and not path.is_file()):
        return
    kind = f"a '{suffix}' file" if suffix else "an existing file without an extension"
    raise CnnError(f"--format {fmt} writes {' or '.join(SUFFIXES[fmt])} files, and -o '{output}' is {kind}",
                   hint="name the output after its format, e.g. -o model" + SUFFIXES[fmt][0])


def _literal(value: object) -> str:
    """`value` as Python source: the constructor arguments torch keeps are numbers, strings,
    booleans, None and tuples of them."""
    if isinstance(value, float) and not math.isfinite(value):
        return f"float({str(value)!r})"
    if isinstance(value, list):
        return "[" + ", ".join(map(_literal, value)) + "]"
    if isinstance(value, tuple):
        return "(" + ", ".join(map(_literal, value)) + (",)" if len(value) == 1 else ")")
    if value is None or isinstance(value, (bool, int, float, str)):
        return repr(value)
    raise TypeError(type(value).__name__)


def _arguments(module: nn.Module, loose: bool) -> dict[str, object]:
    """The keyword arguments that rebuild `module`: each parameter of its class's constructor,
    read back from the attribute torch keeps under the same name (`bias`: whether it has one),
    where it is not the constructor's default (`loose`: nor what torch makes of it, `stride=1`
    for (1, 1), which not every class does). KeyError for a parameter it does not keep."""
    kwargs = {}
    for name, param in inspect.signature(type(module).__init__).parameters.items():
        if name in ("self", "device", "dtype") or param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        if name == "bias":
            value = module.bias is not None
        elif hasattr(module, name):
            value = getattr(module, name)
        else:
            raise KeyError(name)
        default = param.default
        if isinstance(value, tuple) and type(default) is int and loose:
            default = (default,) * len(value)
        if type(value) is not type(default) or value != default:
            kwargs[name] = value
    return kwargs


def _settings(module: nn.Module) -> tuple[dict, list]:
    """What makes two modules of one class compute alike: their settings (attributes that are
    not tensors) and the names and shapes of their parameters and buffers."""
    settings = {k: v for k, v in vars(module).items()
                if not k.startswith("_") and k != "training" and not torch.is_tensor(v)}
    tensors = [(k, tuple(v.shape)) for k, v in [*module.named_parameters(recurse=False),
                                                *module.named_buffers(recurse=False)] if v is not None]
    return settings, tensors


def _constructor(module: nn.Module, qualname: str) -> str:
    """`nn.Conv2d(in_channels=3, out_channels=64, kernel_size=(7, 7), ...)`: the call that builds
    `module` again with every argument that changes it. It is checked here: the class built with
    these arguments (on the meta device, allocating nothing) has the same settings, parameters and
    buffers. CnnError for a layer that cannot be written so, and for a module from elsewhere (a plugin
    op's, docs/plugins.md): its class lives in a module the file would need."""
    cls = type(module)
    prefix = "" if cls in torch_layers.CLASSES else "nn."
    if prefix and getattr(nn, cls.__name__, None) is not cls:
        raise CnnError(f"cannot export layer '{qualname}' as Python: its module {cls.__name__} comes "
                       f"from '{cls.__module__}', not torch.nn, so the file would not stand alone",
                       hint="a plugin op's layer exports with --format onnx or --format torchscript")
    try:
        for loose in (True, False):  # the shorter call where it rebuilds the module, else every argument
            kwargs = _arguments(module, loose)
            with torch.device("meta"):
                if _settings(cls(**kwargs)) == _settings(module):
                    return f"{prefix}{cls.__name__}(" + ", ".join(f"{k}={_literal(v)}" for k, v in kwargs.items()) + ")"
    except (KeyError, TypeError, ValueError) as exc:
        raise CnnError(f"cannot export {cls.__name__} as Python ({type(exc).__name__}: {exc})") from None
    raise CnnError(f"cannot export {cls.__name__} as Python: its constructor does not rebuild it")


def _parameter(p: nn.Parameter) -> str:
    """A parameter a layer stores at its own name (layer_scale) as the compiled model creates it:
    `nn.Parameter(torch.full((4, 1, 1), 1e-06))`, its one initial value."""
    values = p.detach().flatten()
    if values.numel() and bool((values == values[0]).all()):
        return f"nn.Parameter(torch.full({_literal(tuple(p.shape))}, {_literal(values[0].item())}))"
    return f"nn.Parameter(torch.zeros({_literal(tuple(p.shape))}))  # load the state_dict for its values"


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
    if cls in SHADOWED:  # a class named `torch` or `getattr` would hide what the file's code calls
        cls += "_"
    names = output_names(net)
    shape = model_input_shape(net, model)
    doc = (f"{net.name}, exported by `cnndsl export --format py`; needs only torch.\n\n"
           f"Input: N x {dims(shape)}. Output{'s' if len(names) > 1 else ''} of forward"
           + (", a tuple in this order" if len(names) > 1 else "") + ": "
           + ", ".join(f"{n} (N x {dims(s)})" for n, s in zip(names, net.output_shapes, strict=True)) + ".\n")
    lines = ['"""' + doc + '"""',
             "", "import operator  # noqa: F401 (the generated forward may use it)", "", "import torch",
             "from torch import nn", "", "", *(c + "\n\n" for c in _own_classes(model)),
             f"class {cls}(nn.Module):", "    def __init__(self) -> None:", "        super().__init__()"]
    layers = {layer.qualname: layer for layer in net.layers()}
    for qualname, module in model.named_modules():
        container = not qualname or type(module) is nn.Module  # the root, or a block instance
        if qualname:
            lines.append("        " + _assign(qualname, "nn.Module()" if container else _constructor(module, qualname)))
            layer = None if container else layers.get(qualname)
            if layer is not None:  # its `init`, as the compiled model applied it
                codes = init_lines(module, layer.entry, layer.init, _reference(qualname))
                lines += ["        " + code for code in codes]
        for name, p in module.named_parameters(recurse=False) if container else ():  # layer_scale's
            path = f"{qualname}.{name}" if qualname else name
            lines.append("        " + _assign(path, _parameter(p)))
            owner = layers.get(path)
            code = None if owner is None or owner.init is None else init_code(_reference(path), owner.init.weight)
            lines += ["        " + code] if code else []
    forward = model.code.strip("\n")
    lines += ["", *("    " + line if line.strip() else "" for line in forward.splitlines()), ""]
    outputs = "(outputs,)" if len(names) == 1 else "outputs"
    lines += ["", "if __name__ == \"__main__\":", f"    model = {cls}().eval()",
              # two samples: torch refuses one for a group norm of one value per group, eval mode too
              f"    outputs = model(torch.zeros(2, {', '.join(map(str, shape))}))",
              f"    for name, value in zip({tuple(names)!r}, {outputs}):",
              "        print(name, tuple(value.shape))", ""]
    return "\n".join(lines)


def _signature(net: Network, onnx: bool, shape: tuple[int, ...]) -> str:
    """What the file takes and gives: `'input' Nx3x8x8 -> 'a' Nx4x8x8, 'b' Nx4x8x8` (ONNX's
    names), `forward(Nx3x8x8) -> (a Nx4x8x8, b Nx4x8x8)` (a tuple in output order); `shape` is the input's."""
    outs = [(f"'{n}'" if onnx else n, f"Nx{dims(s)}") for n, s in zip(output_names(net), net.output_shapes,
                                                                         strict=True)]
    gives = ", ".join(f"{n} {s}" for n, s in outs)
    if onnx:
        return f"'{INPUT_NAME}' Nx{dims(shape)} -> {gives}"
    return f"forward(Nx{dims(shape)}) -> " + (f"({gives})" if len(outs) > 1 else gives)


def compare(net: Network, model: nn.Module, got: list[torch.Tensor], runtime: str) -> float:
    """Check `got`, a runtime's outputs on `check_input` of the model's input shape, against the compiled
    model's: every output must have cnndsl's shape and torch's values (`agreement.allowed`: the rule of
    docs/export.md). Returns the largest difference; CnnError, naming the output and its layer,
    otherwise."""
    x = check_input(model_input_shape(net, model))
    with torch.no_grad():
        want = model(x)
    want = list(want) if isinstance(want, tuple) else [want]
    names = output_names(net)
    if len(got) != len(want):
        raise CnnError(f"{runtime} gives {len(got)} outputs, torch {len(want)}")
    worst, limits, nan = 0.0, allowed(model, x, want), computes_nan(model, x)
    for k, (name, ref, g, w) in enumerate(zip(names, net.outputs, got, want, strict=True)):
        where = {"span": ref.layer.span, "chain": ref.layer.chain}
        expected = (CHECK_BATCH, *ref.shape)
        if tuple(g.shape) != expected or tuple(w.shape) != expected:
            raise CnnError(f"output '{name}' (layer '{ref.layer.qualname}') is {dims(tuple(g.shape))} in {runtime} "
                           f"and {dims(tuple(w.shape))} in torch, but cnndsl computed {dims(expected)}", **where)
        diff = difference(g, w, nan)
        if not diff <= limits[k]:
            raise CnnError(f"{runtime} disagrees with torch on output '{name}' (layer '{ref.layer.qualname}'): "
                           f"difference {diff:.1e}, more than the {limits[k]:.1e} allowed", **where)
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
                got = loaded(check_input(model_input_shape(net, model)))
        except Exception as exc:  # noqa: BLE001 (TorchScript's errors are of many kinds)
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise CnnError(f"TorchScript cannot take network '{net.name}': {reason}",
                           hint="export it with --format onnx or --format py") from None
    diff = compare(net, model, list(got) if isinstance(got, tuple) else [got], "the saved TorchScript")
    return buffer.getvalue(), f"; loaded back, it agrees with torch (largest difference {diff:.1e})"


def _onnx(net: Network, model: fx.GraphModule, run: bool) -> tuple[bytes, str]:
    """The checked ONNX file's bytes, and whether onnxruntime agreed."""
    data = onnx_model(net, model)
    got = run_onnx(data, net, model) if run else None
    if got is None:
        return data, " (onnxruntime is not installed: not run)" if run else ""
    diff = compare(net, model, got, "onnxruntime")
    return data, f"; onnxruntime agrees with torch on every output (largest difference {diff:.1e})"


def _pt2(net: Network, model: fx.GraphModule) -> tuple[bytes, str]:
    """A `torch.export` program (batch axis dynamic) saved, loaded back and checked on every output."""
    from .onnx_export import TRACE_BATCH

    try:
        batch = torch.export.Dim("batch", min=1)
        program = torch.export.export(model, (torch.randn(TRACE_BATCH, *model_input_shape(net, model)),),
                                      dynamic_shapes=({0: batch},))
        buffer = io.BytesIO()
        torch.export.save(program, buffer)
        loaded = torch.export.load(io.BytesIO(buffer.getvalue())).module()
        with torch.no_grad():
            got = loaded(check_input(model_input_shape(net, model)))
    except Exception as exc:  # noqa: BLE001 (torch.export's errors are of many kinds)
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CnnError(f"torch.export cannot take network '{net.name}': {reason}",
                       hint="export it with --format onnx, torchscript or py") from None
    diff = compare(net, model, list(got) if isinstance(got, (tuple, list)) else [got], "the saved torch.export program")
    return buffer.getvalue(), f"; loaded back, it agrees with torch (relative difference {diff:.1e})"


def export(net: Network, fmt: str, output: str | os.PathLike, check_onnx: bool = True,
           model: fx.GraphModule | None = None) -> str:
    """Write the network in `fmt` (one of FORMATS) to `output`; returns a line saying what was
    written and checked. The file is built and checked in memory and written atomically only
    then: on any CnnError nothing is written and an existing file is left as it was. `output` must end
    as a `fmt` file does (SUFFIXES: .onnx; .pt, .pth, .ts or .torchscript; .py; .pt2) or have no extension
    and be no existing regular file (`check_output_name`), else CnnError.

    onnx: opset OPSET, input `input` (N×C×H×W), outputs named by `output_names` with cnndsl's
    shapes declared (N dynamic); run in onnxruntime, when it is installed and `check_onnx`,
    where every output must agree with torch. torchscript: saved, loaded back and checked
    the same way. py: see `to_python` (the file holds no weights: load a state_dict into it).
    pt2: a `torch.export` program (`torch.export.load(OUT).module()`), checked the same way.
    `model` is the compiled network to write (with trained weights, preprocessing); by default
    a freshly compiled one. The file takes `model_input_shape` inputs: the network's, or the data set's
    image size when `trained.with_preprocessing` baked a resize in.
    """
    if fmt not in FORMATS:
        raise CnnError(f"unknown export format '{fmt}'", hint="formats: " + ", ".join(FORMATS))
    check_output_name(fmt, output)
    model = (model if model is not None else compile_network(net)).eval()
    shape = model_input_shape(net, model)
    if fmt == "onnx":
        data, note = _onnx(net, model, check_onnx)
        what = f"ONNX opset {OPSET}: {_signature(net, onnx=True, shape=shape)}"
    elif fmt == "torchscript":
        data, note = _torchscript(net, model)
        what = f"TorchScript: {_signature(net, onnx=False, shape=shape)}"
    elif fmt == "pt2":
        data, note = _pt2(net, model)
        what = f"torch.export program: {_signature(net, onnx=False, shape=shape)}"
    else:
        data, note = to_python(net, model).encode(), "; the file holds code, no weights: load a state_dict into it"
        what = f"Python: {_signature(net, onnx=False, shape=shape)}"
    write_atomic(Path(output), data)
    return f"wrote {output} ({what}){note}"
