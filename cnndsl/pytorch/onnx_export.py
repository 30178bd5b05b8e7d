"""ONNX export, built in memory and checked before anything is written.

The compiled model is copied and each layer whose op has an export lowering
(`Op.export_lowering`, cnndsl/ops/lowering.py) is replaced by that exact equivalent; the copy
is exported with torch.onnx (opset `OPSET`, one input `input`, the outputs named by
`output_names`, a dynamic batch axis); the file's declared output shapes are cnndsl's static
shapes, after ONNX's own shape inference has been checked to give the same; and onnxruntime,
when installed, runs it on another batch size than the traced one, and every output must have
cnndsl's shape and torch's values. Any failure is a CnnError, naming the layer when one can be
found, and leaves no file.
"""

from __future__ import annotations

import contextlib
import copy
import io
import os
import sys
import warnings
from collections.abc import Iterator

import torch
from torch import fx, nn

from ..errors import CnnError
from ..ir import Layer, Network
from ..ops import dims
from .agreement import ATOL, RTOL  # noqa: F401 (the rule's constants, read here by tests and callers)
from .trained import model_input_shape

OPSET = 17            # widely deployed (onnxruntime >= 1.11, TensorRT >= 8.6); pinned, not torch's default
INPUT_NAME = "input"
TRACE_BATCH, CHECK_BATCH = 2, 3  # checked on another batch size than traced: the batch axis must be dynamic


def output_names(net: Network) -> list[str]:
    """The outputs' names in files: the network's `output` names, else `output`, `output_1`, ...
    A name the spec gives is kept; one it does not (an unnamed output, a name used twice, which
    gets a suffix: `a`, `a_1`) is never another output's, the input's (`input`) nor a layer's
    name, so that no name in the file reads as something it is not: `e1_1` is never the second
    `e1` output when the network has a layer `e1_1` (nor the layer_scale parameter there)."""
    given = set(net.output_names) - {""}
    taken = given | {INPUT_NAME} | {layer.qualname for layer in net.layers()}
    names: list[str] = []
    for name in net.output_names:
        if name and name not in names and name != INPUT_NAME:
            names.append(name)
            continue
        base, n = name or "output", 1 if name else 0  # a repeated name takes a suffix from _1
        unique = f"{base}_{n}" if n else base
        while unique in names or unique in taken:
            n += 1
            unique = f"{base}_{n}"
        names.append(unique)
    return names


class _Lowered(nn.Module):
    """A layer computed by its op's export lowering. It holds the built module's parameters and
    buffers under their own names, so the ONNX initializers keep the state_dict's names."""

    def __init__(self, plain: nn.Module, forward) -> None:  # noqa: ANN001 (a lowering's forward)
        super().__init__()
        for name, value in plain.named_parameters(recurse=False):
            self.register_parameter(name, value)
        for name, value in plain.named_buffers(recurse=False):
            self.register_buffer(name, value)
        self.plain = (plain,)  # a tuple: not a submodule, whose state would appear twice
        self.lowered = forward

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The lowering's result for a batch `x` (N×C×H×W): what the plain module computes."""
        return self.lowered(torch, self.plain[0], x)


def lowered_for_export(net: Network, model: fx.GraphModule) -> fx.GraphModule:
    """A copy of the compiled model with every layer that has an export lowering replaced by it;
    `model` itself (for training and the other exports) keeps its plain modules. The copy has
    its own containers and graph but shares the layers (and their parameters) it keeps: those the
    forward computes, so not those of layers that reach no output (docs/language.md, "Unused layers")."""
    copied = fx.GraphModule(model, copy.deepcopy(model.graph), class_name=model.__class__.__name__)
    kept = _kept_layers(net, copied)
    for step in net.walk():
        if step.layer.qualname not in kept:
            continue
        lowering = step.entry.export_lowering
        forward = lowering(step.layer.attrs, list(step.input_shapes)) if lowering else None
        if forward is not None:
            path = step.layer.path
            parent = copied.get_submodule(".".join(path[:-1]))
            setattr(parent, path[-1], _Lowered(getattr(parent, path[-1]), forward))
    _rename_numbered_parameters(copied)
    return copied


def _kept_layers(net: Network, copied: fx.GraphModule) -> set[str]:
    """The paths of the layers whose module or parameter the copy holds (every computed one)."""
    held = {name for name, _ in copied.named_modules()} | {name for name, _ in copied.named_parameters()}
    return {layer.qualname for layer in net.layers() if layer.qualname in held}


def _rename_numbered_parameters(copied: fx.GraphModule) -> None:
    """A parameter at the top level named by a number (`layer_scale as 3`) moves to `_3` (`__3`
    where that is taken): TorchScript, which torch.onnx traces through, refuses a value named by
    a number ("Invalid name: '3'"), and the initializer takes the parameter's name."""
    for node in copied.graph.nodes:
        if node.op == "get_attr" and node.target.isdigit():
            name = "_" + node.target
            while hasattr(copied, name):
                name = "_" + name
            copied.register_parameter(name, getattr(copied, node.target))
            delattr(copied, node.target)
            node.target = name
    copied.recompile()


@contextlib.contextmanager
def _quiet_stdout() -> Iterator[None]:
    """torch.onnx prints the whole TorchScript graph to the process's stdout (from C++, so
    sys.stdout cannot catch it) when an export fails; the CnnError says what went wrong."""
    sys.stdout.flush()
    try:
        saved = os.dup(1)
    except OSError:  # no stdout at all: nothing to keep clean
        yield
        return
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 1)
            try:
                yield
            finally:
                os.dup2(saved, 1)
    finally:
        os.close(saved)


def _reason(exc: Exception) -> str:
    """The first line of a torch.onnx or onnxruntime message, without onnxruntime's status
    prefix nor torch's request for a pull request and its TorchScript value."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if text.startswith("[ONNXRuntimeError]"):
        text = text.split(" : ")[-1]
    return text.split(" Please feel free to request support")[0].split(" [Caused by")[0].strip()


def _to_onnx(model: nn.Module, shape: tuple[int, ...], names: list[str]) -> bytes:
    buffer = io.BytesIO()
    # torch.onnx warns about what lowerings do on purpose (constants in the trace); the checks
    # after the export are what counts
    with _quiet_stdout(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.randn(TRACE_BATCH, *shape),), buffer, input_names=[INPUT_NAME],
                          output_names=names, opset_version=OPSET, dynamo=False,
                          dynamic_axes={name: {0: "batch"} for name in [INPUT_NAME, *names]})
    return buffer.getvalue()


def _session(data: bytes):  # noqa: ANN202 (an onnxruntime.InferenceSession)
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.log_severity_level = 4  # its warnings and errors become our CnnError instead
    return onnxruntime.InferenceSession(data, options, providers=["CPUExecutionProvider"])


def _fails(module: nn.Module, shape: tuple[int, ...], run: bool) -> bool:
    """Whether one layer's module alone fails to export (or, with `run`, to run in onnxruntime)."""
    try:
        data = _to_onnx(module, shape, ["output"])
        if run:
            _session(data).run(None, {INPUT_NAME: torch.randn(CHECK_BATCH, *shape).numpy()})
    except Exception:  # noqa: BLE001 (any failure of the layer alone is what we look for)
        return True
    return False


def _failing_layer(net: Network, lowered: fx.GraphModule, run: bool) -> Layer | None:
    """The first layer whose module alone fails, when another kind of layer does not (when
    every one fails, the cause is not a layer): the whole network's error rarely says which
    layer it came from. Layers alike (op, attributes, input shape) are tried once."""
    failing, tried, fine = None, set(), False
    kept = _kept_layers(net, lowered)
    for step in net.walk():
        key = repr((step.entry.name, step.layer.attrs, step.input_shapes))
        if step.entry.module is None or key in tried or step.layer.qualname not in kept:
            continue
        tried.add(key)
        if _fails(lowered.get_submodule(step.layer.qualname), step.input_shapes[0], run):
            failing = failing or step.layer
        else:
            fine = True
        if failing and fine:
            break
    return failing if fine or len(tried) == 1 else None


def _export_error(net: Network, lowered: fx.GraphModule, exc: Exception, stage: str) -> CnnError:
    layer = _failing_layer(net, lowered, run=stage == "onnxruntime")
    what = f"{stage} cannot take " + (f"layer '{layer.qualname}' ({layer.label})" if layer else f"network '{net.name}'")
    hint = "`--format torchscript` or `--format py` export the network without ONNX"
    return CnnError(f"{what}: {_reason(exc)}", layer.span if layer else None, hint, layer.chain if layer else ())


def _known_dims(value) -> list[int | None]:  # noqa: ANN001 (an onnx ValueInfoProto)
    """The sizes ONNX's inference knows; None for a symbolic or unknown one (the batch)."""
    return [d.dim_value if d.HasField("dim_value") else None for d in value.type.tensor_type.shape.dim]


def declare_shapes(proto, net: Network, names: list[str],  # noqa: ANN001 (an onnx ModelProto)
                   input_shape: tuple[int, ...] | None = None) -> None:
    """Declare the input's shape (`input_shape`, per sample; the network's by default) and each output's
    as cnndsl computed it (batch axis `batch`), after checking that the outputs are named `names` and
    that ONNX's own shape inference, which other runtimes follow, gives the same shapes; CnnError
    otherwise. The intermediate shapes torch wrote are dropped: they are optional, and ONNX's rules give
    them."""
    import onnx

    graph = proto.graph
    if [out.name for out in graph.output] != names:
        raise CnnError(f"torch.onnx named the outputs of network '{net.name}' "
                       f"{', '.join(out.name for out in graph.output)}, not {', '.join(names)}")
    del graph.value_info[:]
    for out in graph.output:
        out.type.tensor_type.ClearField("shape")
    try:
        inferred = onnx.shape_inference.infer_shapes(proto, check_type=True, strict_mode=True)
    except onnx.shape_inference.InferenceError as exc:
        raise CnnError(f"ONNX's shape inference rejects the exported network '{net.name}': {_reason(exc)}") from None
    for value, ref, name in zip(inferred.graph.output, net.outputs, names, strict=True):
        want = [None, *ref.shape]
        got = _known_dims(value)
        if len(got) not in (0, len(want)) or any(g is not None and g != w for g, w in zip(got, want, strict=False)):
            raise CnnError(f"ONNX's shape rules give output '{name}' of layer '{ref.layer.qualname}' the shape "
                           f"{'x'.join(str(g or '?') for g in got[1:])}, not {dims(ref.shape)}",
                           ref.layer.span, chain=ref.layer.chain)
    declared = [(graph.input[0], input_shape or net.input_shape), *zip(graph.output, net.output_shapes, strict=True)]
    for value, shape in declared:
        value.type.tensor_type.shape.CopyFrom(onnx.helper.make_tensor_type_proto(
            onnx.TensorProto.FLOAT, ["batch", *shape]).tensor_type.shape)
    try:
        onnx.checker.check_model(proto, full_check=True)
    except onnx.checker.ValidationError as exc:
        raise CnnError(f"the ONNX file of network '{net.name}' fails ONNX's checker: {_reason(exc)}") from None


def onnx_model(net: Network, model: fx.GraphModule) -> bytes:
    """The network as a checked ONNX file's bytes (see the module docstring); its input is
    `model_input_shape` (the data set's image size where preprocessing with a resize is baked in)."""
    try:
        import onnx
    except ImportError:
        raise CnnError("ONNX export needs the `onnx` package", hint="pip install onnx onnxruntime") from None
    names = output_names(net)
    lowered = lowered_for_export(net, model).eval()
    try:
        data = _to_onnx(lowered, model_input_shape(net, model), names)
    except Exception as exc:  # noqa: BLE001 (torch.onnx raises many kinds; each becomes a located CnnError)
        raise _export_error(net, lowered, exc, "torch.onnx") from None
    proto = onnx.load_from_string(data)
    declare_shapes(proto, net, names, model_input_shape(net, model))
    return proto.SerializeToString()


def run_onnx(data: bytes, net: Network, model: fx.GraphModule) -> list[torch.Tensor] | None:
    """Every output of the file run in onnxruntime on a batch of `CHECK_BATCH` (the seeded
    random input of `check_input`), or None when onnxruntime is not installed; a failure to
    load or run it is a CnnError naming the layer when one can be found."""
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return None
    try:
        feed = {INPUT_NAME: check_input(model_input_shape(net, model)).numpy()}
        outputs = _session(data).run(output_names(net), feed)
    except Exception as exc:  # noqa: BLE001 (onnxruntime's errors are its own classes)
        raise _export_error(net, lowered_for_export(net, model).eval(), exc, "onnxruntime") from None
    return [torch.from_numpy(o) for o in outputs]


def check_input(shape: tuple[int, ...]) -> torch.Tensor:
    """The input every export is checked on: a seeded random batch of `CHECK_BATCH` inputs of `shape` (per
    sample: the model's input, `model_input_shape`)."""
    return torch.randn(CHECK_BATCH, *shape, generator=torch.Generator().manual_seed(0))
