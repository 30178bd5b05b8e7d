"""The torch backend: IR graph -> `torch.fx.GraphModule` (no interpreter at run time).

Each layer with state becomes a submodule at its IR path (`residual3.conv2`), so the module
tree, state_dict keys and `model.code` follow the spec's names; ops without state emit
plain torch calls (`torch.cat`, `+`). The generated `forward` is ordinary Python, so the
model works with torch.compile, TorchScript and ONNX export.
"""

from __future__ import annotations

import contextlib
import io
import keyword
import os

import torch
from torch import fx, nn
from torch.fx.passes.shape_prop import ShapeProp

from ..errors import CnnError
from ..ir import Layer, Network, Ref, Step
from ..lang.plugins import owner
from ..ops import dims
from .initialise import initialise, initialise_parameter

# names a layer may not take: they would shadow what torch.nn.Module / GraphModule need
RESERVED = set(dir(fx.GraphModule)) | set(vars(nn.Module()))


def _check_names(layer: Layer) -> None:
    """`as` names become attributes and code: refuse keywords and torch's own attributes."""
    for part in layer.path:
        why = ("a Python keyword" if keyword.iskeyword(part) else
               "an attribute of torch.nn.Module" if part in RESERVED else None)
        if why:
            raise CnnError(f"'{part}' cannot name a layer: it is {why}", layer.span, "choose another `as` name",
                           layer.chain)


def _node_name(layer: Layer) -> str:
    """The variable in the generated code: the path with dots as underscores, never `self`."""
    name = layer.qualname.replace(".", "_")
    return f"{name}_" if name == "self" or keyword.iskeyword(name) else name


def _install(root: nn.Module, path: tuple[str, ...], module: nn.Module | nn.Parameter) -> None:
    parent = root
    for part in path[:-1]:
        child = getattr(parent, part, None)
        if child is None:
            child = nn.Module()
            parent.add_module(part, child)
        parent = child
    if isinstance(module, nn.Parameter):
        parent.register_parameter(path[-1], module)
    else:
        parent.add_module(path[-1], module)


def _inplace_activations(net: Network, steps: list[Step], root: nn.Module, values: dict[int, fx.Proxy],
                         allowed: bool) -> None:
    """Let an activation overwrite its input exactly where that is safe (`Network.not_in_place`:
    a fresh conv/bn/fc/add/concat output nothing else reads; the fx users of the producer are
    counted too), whether or not the program wrote `inplace=true`: where it is not safe, an
    `inplace=true` is not honoured (check warns), since overwriting a tensor another layer reads
    changes what the network computes. `allowed=False` keeps every activation out of place."""
    for step in steps:
        if "inplace" not in {p.name for p in step.entry.params}:
            continue
        safe = allowed and net.not_in_place(step.layer) is None
        safe = safe and len(values[step.inputs[0].layer.id].node.users) == 1
        root.get_submodule(step.layer.qualname).inplace = safe


def compile_network(net: Network, max_bytes: int | None = None, inplace: bool = True) -> fx.GraphModule:
    """Build the model; parameters are initialised by each layer's `init` (cnndsl/pytorch/initialise.py), else
    by torch's default layer initialisers, in the order of the layers (so a seed makes it reproducible). The
    model takes a
    batch (N, *net.input_shape): the network's shapes are per sample. Submodules sit at the layers'
    paths, so state_dict keys follow the spec's names. A layer whose result reaches no output (check warns)
    keeps its module and parameters (state_dict keys and parameter counts follow the text) but is not
    computed: the forward pass computes only what reaches an output.

    A network whose float32 parameters would not fit in `max_bytes` (default: the memory available now)
    is refused with a CnnError before anything is allocated; so is an `as` name that is a Python keyword
    or an attribute of torch.nn.Module. `inplace=False` keeps every activation out of place (for
    debugging).
    """
    refuse_oversized(net, max_bytes)
    root = nn.Module()
    graph = fx.Graph()
    tracer = fx.proxy.GraphAppendingTracer(graph)
    values: dict[int, fx.Proxy] = {}
    ports: dict[tuple[int, int], fx.Proxy] = {}

    def read(ref: Ref) -> fx.Proxy:
        node, port = ref.layer.id, ref.port
        if len(ref.layer.shapes) == 1:
            return values[node]
        if (node, port) not in ports:
            ports[node, port] = values[node][port]
        return ports[node, port]

    steps = list(net.walk())
    for step in steps:
        layer, op, in_shapes = step.layer, step.entry, step.input_shapes
        inputs = [read(ref) for ref in step.inputs]
        if not inputs:
            values[layer.id] = fx.Proxy(graph.placeholder("x"), tracer)
        elif op.module is not None:
            _check_names(layer)
            module = op.module(nn, layer.attrs, in_shapes)
            initialise(module, layer)
            _install(root, layer.path, module)
            node = graph.create_node("call_module", layer.qualname, (inputs[0].node,), name=_node_name(layer))
            values[layer.id] = fx.Proxy(node, tracer)
        else:
            if op.parameter is not None:  # a parameter stored at the layer's own name
                _check_names(layer)
                shape, value = op.parameter(layer.attrs, in_shapes)
                parameter = nn.Parameter(torch.full(shape, float(value)))
                initialise_parameter(parameter, layer)
                _install(root, layer.path, parameter)
                inputs.append(fx.Proxy(graph.get_attr(layer.qualname), tracer))
            result = op.function(torch, inputs, layer.attrs)
            if all(result is not i for i in inputs) and hasattr(result.node, "_rename"):
                result.node._rename(_node_name(layer))  # `concat1`, not `cat`
            values[layer.id] = result
    outs = [read(ref).node for ref in net.outputs]
    graph.output(outs[0] if len(outs) == 1 else tuple(outs))
    graph.lint()
    _inplace_activations(net, steps, root, values, inplace)
    name = net.name if net.name.isidentifier() else "Network"
    model = fx.GraphModule(root, graph, class_name=name)
    _check_plugin_layers(net, steps, model, values)
    model.graph.eliminate_dead_code()  # layers no output reads (check warns): their modules stay, uncomputed
    model.recompile()
    return model


def _check_plugin_layers(net: Network, steps: list[Step], model: fx.GraphModule, values: dict[int, fx.Proxy]) -> None:
    """Run a network with plugin ops once (two zero samples) and check that each plugin layer's torch
    output has the shapes its shape rule stated: a plugin whose rule and builder disagree is a CnnError at
    that layer (naming the op and its module), not a shape error of torch's at some later layer.
    Networks of built-in ops only are not run (their rules are checked against torch by the tests)."""
    plugin = [step.layer for step in steps if step.inputs and owner(step.layer.op)]
    if not plugin:
        return
    failure = None
    try:  # ShapeProp prints the traceback of a failure itself; the CnnError below says it once
        with torch.no_grad(), contextlib.redirect_stderr(io.StringIO()):
            ShapeProp(model).propagate(torch.zeros(2, *net.input_shape))
    except Exception as exc:  # noqa: BLE001 (torch raises many kinds)
        failure = exc.__cause__ or exc
    for layer in plugin:  # a plugin layer that ran with other shapes than its rule's is the cause
        meta = values[layer.id].node.meta.get("tensor_meta")
        metas = (meta,) if hasattr(meta, "shape") else meta or ()  # TensorMetadata, or one per output
        got = tuple(tuple(m.shape[1:]) for m in metas if hasattr(m, "shape"))
        if meta is not None and got != tuple(layer.shapes):
            raise CnnError(f"layer '{layer.qualname}' ({layer.op}) gives {' and '.join(map(dims, got))} per sample in "
                           f"torch, but its shape rule says {' and '.join(map(dims, layer.shapes))}", layer.span,
                           chain=layer.chain, hint=_plugin_hint([layer]))
    if failure is not None:
        failed = next((s.layer for s in steps if s.inputs and "tensor_meta" not in values[s.layer.id].node.meta),
                      plugin[0])
        reason = str(failure).strip().splitlines()[0] if str(failure).strip() else ""
        raise CnnError(f"network '{net.name}' fails in torch at layer '{failed.qualname}': "
                       f"{type(failure).__name__}: {reason}", failed.span, chain=failed.chain,
                       hint=_plugin_hint(plugin))


def _plugin_hint(layers: list[Layer]) -> str:
    ops = sorted({(layer.op, owner(layer.op)) for layer in layers})
    named = ", ".join(f"'{op}' (plugin module '{module}')" for op, module in ops)
    return f"check that the shape rule (infer) of {named} states what its torch builder returns"


def available_memory() -> int | None:
    """Bytes of memory available now (Linux's MemAvailable, else free physical pages)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def refuse_oversized(network: Network, max_bytes: int | None = None) -> None:
    """Refuse to build a model whose float32 parameters alone (4 bytes each) exceed `max_bytes`, by default
    the memory available now, before allocating anything: a CnnError naming both sizes in GiB. `check`
    and `summary` still work on such a network."""
    limit = max_bytes if max_bytes is not None else available_memory()
    need = network.count_params() * 4
    if limit is not None and need > limit:
        raise CnnError(f"network '{network.name}' has {network.count_params():,} parameters "
                       f"({need / 2**30:.1f} GiB as float32) but " + (f"max_bytes is {limit:,} bytes" if max_bytes
                       is not None else f"only {limit / 2**30:.1f} GiB of memory is available"),
                       hint="`cnndsl check` and `cnndsl summary` work without building it")
