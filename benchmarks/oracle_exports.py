"""The differential oracle's comparisons of the files cnndsl exports with torch: ONNX
(`onnx`: every output's declared shape = onnxruntime's = torch's = cnndsl's, and onnxruntime's
values agree with torch's) and `export --format py` (`python`: the file's model, given the
compiled model's state_dict, computes the same outputs, and the file runs as a script). Values
agree by the export check's own rule (cnndsl/pytorch/agreement.py). The exporter compiles its
own model, so the comparison seeds torch alike before both; where the values differ,
`inplace_explains` tells an in-place layer overwriting a shared tensor from a wrong lowering.
"""

from __future__ import annotations

import contextlib
import io
import os
import runpy
import sys
import tempfile
import warnings
from collections.abc import Iterator
from copy import deepcopy
from pathlib import Path

import torch

import cnndsl
from benchmarks.oracle_checks import Case, outputs_of
from benchmarks.oracle_known import Finding
from cnndsl.errors import CnnError
from cnndsl.ir import Network
from cnndsl.pytorch.agreement import agree, allowed, computes_nan, difference


def onnx(case: Case) -> list[Finding]:
    """Every output: ONNX's declared shape = onnxruntime's = torch's = cnndsl's; values equal."""
    if not case.runs:
        return []
    import onnx as onnx_lib

    net = case.net
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "net.onnx"
        refused, failed = _export_onnx(net, path)
        if failed is not None:
            return [failed]
        data = path.read_bytes()
    declared = [tuple(d.dim_value if d.HasField("dim_value") else d.dim_param for d in
                      o.type.tensor_type.shape.dim)[1:] for o in onnx_lib.load_from_string(data).graph.output]
    x = case.example()
    ran = run_onnx(data, x)
    torch.manual_seed(0)
    model = cnndsl.compile(net).eval()
    ours = outputs_of(model, x.clone())  # the model may not change x, and the shape check says so if it does
    if not len(declared) == len(ran) == len(ours) == len(net.outputs):
        return [Finding("onnx_outputs", f"{len(net.outputs)} outputs; ONNX declares {len(declared)}, "
                                        f"onnxruntime gives {len(ran)}")]
    found = []
    limits, nan = allowed(model, x, ours), computes_nan(model, x)
    if refused is not None and agree(model, x, ran, ours):
        found.append(Finding("onnx_check", f"export refuses ({refused.message}) though onnxruntime's outputs "
                                           "agree with torch's by its rule (agreement.allowed)"))
    for k, (want, shape, got, mine, limit) in enumerate(zip(net.output_shapes, declared, ran, ours, limits,
                                                             strict=True)):
        if tuple(got.shape[1:]) != want or tuple(mine.shape[1:]) != want:
            found.append(Finding("onnx_lowering" if _lowering(net) else "onnx", f"output {k}: cnndsl {want}, "
                                 f"onnxruntime {tuple(got.shape[1:])}, torch {tuple(mine.shape[1:])}"))
        elif shape != want:
            found.append(Finding("onnx_shape", f"output {k}: ONNX declares {shape}, torch and cnndsl {want}"))
        elif not difference(got, mine, nan) <= limit:
            kind = ("onnx_rounding" if difference(got, mine, nan) <= ROUNDING_SLACK * limit else "onnx_lowering"
                    if _lowering(net) else _explained(net, model, x))
            found.append(Finding(kind, f"output {k}: onnxruntime's values differ from torch's by "
                                       f"{difference(got, mine, nan):.2g}, more than the {limit:.2g} allowed"))
    return found


# a difference within this many times the agreement rule's bound is reported as `onnx_rounding`, a finding
# like any other, but telling a rounding the rule's estimate r missed (agreement.py) from a wrong lowering,
# which differs by orders of magnitude more
ROUNDING_SLACK = 4.0


def _explained(net: Network, model: torch.nn.Module, x: torch.Tensor) -> str:
    """`onnx`, or the in-place kind when the out-of-place model's ONNX agrees; `onnx` also when torch.onnx
    cannot export the model as built (without cnndsl's lowerings), which leaves nothing to compare."""
    try:
        theirs = run_onnx(onnx_bytes(without_inplace(model), x), x)
    except Exception:  # noqa: BLE001 (torch.onnx refuses, e.g. instance_norm of an unknown channel count)
        return "onnx"
    return inplace_explains(net, model, x, theirs, "onnx")


def _lowering(net: Network) -> bool:
    """pad=same with dilation, or adaptive pooling that does not divide: lowered wrongly today."""
    return any(layer.attrs.get("pad") == "same" and layer.attrs.get("dilation", (1, 1)) != (1, 1) or
               isinstance(layer.attrs.get("size"), tuple) and len(layer.input_shapes[0]) == 3 and
               any(n % o for n, o in zip(layer.input_shapes[0][1:], layer.attrs["size"], strict=True))
               for layer in net.layers())


def _export_onnx(net: Network, path: Path) -> tuple[CnnError | None, Finding | None]:
    """`export(net, "onnx", path)` with torch seeded as the comparison's model is (the export
    compiles its own): its own check's error, if it refused (the file is then written without
    it), or the finding when torch cannot export at all."""
    from cnndsl.pytorch.export import export

    torch.manual_seed(0)
    try:
        with quiet():
            export(net, "onnx", path)
        return None, None
    except CnnError as exc:  # its own check of onnxruntime against torch; compared again by the caller
        torch.manual_seed(0)
        try:
            with quiet():
                export(net, "onnx", path, check_onnx=False)
        except CnnError as refused:  # before onnxruntime: torch.onnx, ONNX's shape rules or checker
            return None, Finding(_refusal_kind(net, refused.message), f"export refuses: {refused.message[:300]}")
        return exc, None
    except Exception as exc:  # noqa: BLE001 (torch cannot export it)
        return None, Finding(_refusal_kind(net, str(exc)), f"export fails: {type(exc).__name__}: {str(exc)[:300]}")


def _refusal_kind(net: Network, why: str) -> str:
    """The kind of a failure to export `net`, from its message."""
    # ONNX sizes a ceil-mode pool without torch's rule that the last window starts inside
    # the input: its shapes differ (onnx_shape), and onnxruntime may refuse what follows
    ceil = any(layer.attrs.get("ceil") is True for layer in net.layers())
    return ("onnx_lowering" if _lowering(net) or "not factor of input size" in why else
            "onnx_adaptive_unknown_size" if "input size not accessible" in why else
            "onnx_parameter_name" if "Invalid name" in why else
            "onnx_shape" if ceil and "ShapeInferenceError" in why else "onnx")


def onnx_bytes(model: torch.nn.Module, x: torch.Tensor) -> bytes:
    """`model` as ONNX, exported as `cnndsl export` does (batch axis dynamic)."""
    buffer = io.BytesIO()
    with quiet():
        torch.onnx.export(model, (x,), buffer, input_names=["x"], output_names=["y"], dynamo=False,
                          dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}})
    return buffer.getvalue()


def run_onnx(data: bytes, x: torch.Tensor) -> list[torch.Tensor]:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3  # its warning that a declared shape differs is a finding of ours
    session = onnxruntime.InferenceSession(data, options)
    feed = {session.get_inputs()[0].name: x.numpy()}  # `input` in cnndsl's files, `x` in the oracle's own
    return [torch.from_numpy(a) for a in session.run(None, feed)]


def without_inplace(model: torch.nn.Module) -> torch.nn.Module:
    """A copy of `model` with every in-place layer out of place."""
    model = deepcopy(model)
    for module in model.modules():
        if getattr(module, "inplace", False) is True:
            module.inplace = False
    return model


def inplace_explains(net: Network, model: torch.nn.Module, x: torch.Tensor, theirs: list[torch.Tensor],
                     otherwise: str) -> str:
    """The kind of a difference between `model`'s outputs and another's (ONNX's, the exported
    file's): where, with every layer of both out of place (`theirs`), they agree, an in-place
    layer overwrote a tensor another layer reads: `explicit_inplace` where the program wrote
    `inplace=true`, `auto_inplace` where only the compiler chose it; else `otherwise`."""
    if not agree(without_inplace(model), x, theirs):
        return otherwise
    return "explicit_inplace" if any(layer.attrs.get("inplace") is True for layer in net.layers()) else "auto_inplace"


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Silence torch.onnx while it exports: its warnings, and the graph it prints from C++ at an
    error (file descriptors 1 and 2 go to /dev/null meanwhile)."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(fd) for fd in (1, 2)]
    with open(os.devnull, "w") as null, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for fd in (1, 2):
            os.dup2(null.fileno(), fd)
        try:
            yield
        finally:
            for fd, copy in zip((1, 2), saved, strict=True):
                os.dup2(copy, fd)
                os.close(copy)


def python(case: Case) -> list[Finding]:
    """`export --format py` writes a file whose model, given the compiled state_dict, computes
    what the compiled model does, and which runs as a script."""
    if not case.runs:
        return []
    from cnndsl.pytorch.export import export

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "exported_net.py"
        export(case.net, "py", path)
        try:
            exported = run_file(path, "exported_net")[type(case.model).__name__]().eval()
        except Exception as exc:  # noqa: BLE001
            return [Finding("python_constructor", f"the exported model cannot be built: {type(exc).__name__}: "
                                                  f"{str(exc)[:300]}")]
        try:
            exported.load_state_dict(case.model.state_dict())
            theirs = outputs_of(exported, case.example())
        except (RuntimeError, AttributeError) as exc:
            return [Finding("python_parameter", f"the exported model lacks a parameter: {str(exc)[:300]}")]
        try:
            run_file(path, "__main__")
            main = []
        except Exception as exc:  # noqa: BLE001
            main = [Finding("python_main", f"the exported file fails as a script: {type(exc).__name__}: "
                                           f"{str(exc)[:300]}")]
    ours = outputs_of(case.model, case.example())
    if agree(case.model, case.example(), theirs, ours):
        return main
    lost = [d for d in constructor_differences(case.model, exported) if not d.startswith("inplace ")]
    if lost:
        return [*main, Finding("python_constructor", "the exported file builds its layers differently: "
                               + "; ".join(lost))]
    x = case.example()
    kind = inplace_explains(case.net, case.model, x, outputs_of(without_inplace(exported), x), "python")
    return [*main, Finding(kind, "the exported model's outputs differ from the compiled model's")]


def run_file(path: Path, name: str) -> dict:
    """Run a Python file as module `name` (`__main__`: as a script), quietly."""
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return runpy.run_path(str(path), run_name=name)


def constructor_differences(model: torch.nn.Module, exported: torch.nn.Module) -> list[str]:
    """Module settings (not tensors) that differ between two models with the same module tree."""
    found = []
    for name, module in model.named_modules():
        if not name:
            continue  # the root: a GraphModule and a plain Module differ anyway
        other = exported.get_submodule(name)
        mine, theirs = ({k: v for k, v in vars(m).items() if not k.startswith("_") and not torch.is_tensor(v)}
                        for m in (module, other))
        found += [f"{k} of {name}: {mine.get(k)!r} -> {theirs.get(k)!r}" for k in sorted(set(mine) | set(theirs))
                  if mine.get(k) != theirs.get(k)]
    return found
