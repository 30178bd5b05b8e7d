"""The differential oracle's comparisons of cnndsl's numbers with torch's, one function per kind:
acceptance (`accept`), the input sizes `cnndsl inputs` calls valid (`inputs`), every layer's
shape (`shape`), parameters (`params`) and MACs (`macs`). What cnndsl reports and draws is
compared in benchmarks/oracle_views.py, the files it exports in oracle_exports.py;
benchmarks/oracle.py lists every kind in `CHECKS`.

Each check takes a `Case` (one drawn program, checked once) and returns `Finding`s, whose kind
names the comparison or a difference listed in benchmarks/oracle_known.py (tolerated there
until fixed). How each comparison is made sound:

- acceptance: cnndsl accepts exactly when torch runs the program. Where cnndsl refuses, the
  reference (benchmarks/oracle_torch.py) runs the program's own structure with the registry's
  torch builders and must stop at the very layer cnndsl's error points at. Two refusals are the
  language's by design and not compared: an input whose rank the op's own usage examples never
  give it (torch reads a 2-axis sample as an unbatched image, `nn.Linear` takes any rank), and
  the refusals of the ops in `BY_DESIGN` (`add` of unequal shapes, `split` into unequal parts).
- MACs: torch.utils.flop_counter.FlopCounterMode counts matrix products and convolutions
  (aten.convolution, mm, addmm, bmm): per layer module, cnndsl's MACs must be its FLOPs / 2
  per sample, and no FLOPs may fall outside a layer. Today that compares conv, fc and linear;
  the other ops' MAC conventions (docs/analysis.md) have nothing in torch to compare with.
"""

from __future__ import annotations

from functools import cached_property

import torch
from torch.fx.passes.shape_prop import ShapeProp
from torch.utils.flop_counter import FlopCounterMode

import cnndsl
from benchmarks.oracle_known import Finding
from benchmarks.oracle_programs import Item, Layer, Program, ranks, write
from benchmarks.oracle_torch import Reference, TorchRefusedError, every_tensor, output_nodes, reference
from cnndsl.analysis.inputs import scan
from cnndsl.errors import CnnError
from cnndsl.ir import LintError, Network
from cnndsl.lang.source import program_from_text
from cnndsl.ops import dims
from cnndsl.request import Request

FILE = "oracle.cnn"
# ops the language keeps stricter than their torch function, on purpose: their refusals where
# torch runs are not compared
BY_DESIGN = {"add": "needs equal shapes (docs/language.md §5); torch's + broadcasts",
             "split": "splits into equal parts; torch.tensor_split makes the last ones smaller"}


class Case:
    """One program, written and checked once; the compiled models are built when first used."""

    def __init__(self, program: Program) -> None:
        self.program = program
        self.text = write(program)
        self.net, self.error, self.crash = checked(self.text.source)

    @cached_property
    def model(self) -> torch.fx.GraphModule:
        return cnndsl.compile(self.net).eval()

    @cached_property
    def tensors_model(self) -> torch.fx.GraphModule:
        """The model with every layer's every output as an output (see `every_tensor`)."""
        return cnndsl.compile(self.net.with_outputs(every_tensor(self.net))).eval()

    @cached_property
    def runs(self) -> bool:
        """cnndsl accepts it and the compiled model runs (where it does not, only `accept` and
        `inputs` have something to compare)."""
        if self.net is None:
            return False
        try:
            outputs_of(self.model, self.example())
        except Exception:  # noqa: BLE001
            return False
        return True

    def example(self, batch: int = 2) -> torch.Tensor:
        return torch.randn(batch, *self.net.input_shape, generator=torch.Generator().manual_seed(0))

    def line(self, item: Item) -> str:
        """Where `item` is written, as `line:col`."""
        return "{}:{}".format(*self.text.where(item))


def checked(source: str, shape: tuple[int, ...] | None = None) -> tuple[Network | None, CnnError | None,
                                                                        Exception | None]:
    """cnndsl's verdict: the network, or its error, or anything else it raised (a bug)."""
    try:
        return cnndsl.check_text(source, file=FILE, input=shape), None, None
    except CnnError as exc:
        return None, exc, None
    except Exception as exc:  # noqa: BLE001 (anything but a CnnError is the finding)
        return None, None, exc


def outputs_of(model: torch.nn.Module, x: torch.Tensor) -> list[torch.Tensor]:
    with torch.no_grad():
        out = model(x)
    return list(out) if isinstance(out, (tuple, list)) else [out]


def _ceil(item: Item | None) -> bool:
    return isinstance(item, Layer) and item.attrs.get("ceil") is True


def _zero(net: Network | None, crash: Exception | None, program: Program | None = None,
          shape: tuple[int, ...] | None = None) -> bool:
    """A layer has an output size of 0: in the network, in the IR lint's complaint (with
    CNNDSL_DEBUG set), or, for any other crash, in torch's run of `program` at `shape`."""
    if isinstance(crash, LintError):
        return "bad shapes" in str(crash) and "0" in str(crash)
    if crash is not None and program is not None:
        return _empty(reference(program, shape)[1])
    return net is not None and any(0 in s for layer in net.layers() for s in layer.shapes)


def _empty(result: object) -> bool:
    """Torch stopped at a layer whose own shape rule gives it an output size of 0."""
    if not isinstance(result, TorchRefusedError):
        return False
    item = result.item
    try:
        out = item.op.infer(getattr(item, "attrs", {}), list(result.shapes))
    except Exception:  # noqa: BLE001 (the rule refuses: not an empty output)
        return False
    return any(0 in s for s in out)


# ---- acceptance ------------------------------------------------------------------------


def by_design(item: Item, shapes: tuple[tuple[int, ...], ...]) -> bool:
    """A refusal the language makes on purpose where torch runs (see the module docstring)."""
    op = getattr(item, "op", None)  # a layer's, a merge's; a block call is never refused itself
    if op is None:
        return False
    return any(len(s) not in ranks(op) for s in shapes) or op.name in BY_DESIGN


def compare_refusal(case: Case, error: CnnError, ref: Reference, result: object, kind: str,
                    where: str = "") -> list[Finding]:
    """cnndsl refused (with `error`): torch must stop at the same layer."""
    span = error.span
    item = case.text.item_at(span.line, span.col) if span is not None and span.file == FILE else None
    line = f"{span.line}:{span.col}" if span is not None else "?"
    if item is None:
        return [Finding(kind, f"{where}cnndsl's error is at no layer: {error.message}")]
    if isinstance(result, TorchRefusedError) and result.item is item:
        return []
    if id(item) in ref.ran:
        if by_design(item, ref.ran[id(item)]):
            return []
        shapes = " and ".join(dims(s) for s in ref.ran[id(item)])
        return [Finding("ceil_pool_shape" if _ceil(item) else kind,
                        f"{where}cnndsl refuses line {line} ({error.message}); torch runs it on {shapes}")]
    stopped = isinstance(result, TorchRefusedError)
    stop = f"line {case.line(result.item)} ({result.cause})" if stopped else "nowhere"
    if _empty(result):
        kind = "zero_output_dim"  # cnndsl accepted the empty output and refused a layer after it
    return [Finding(kind, f"{where}cnndsl refuses line {line} ({error.message}) but torch stops first at {stop}")]


def accept(case: Case) -> list[Finding]:
    """`check` accepts exactly when torch runs the forward pass, and refuses the layer torch stops at."""
    ref, result = reference(case.program)
    if case.crash is not None:
        kind = "zero_output_dim" if _zero(None, case.crash, case.program) else "crash"
        return [Finding(kind, f"cnndsl raised {type(case.crash).__name__}: {case.crash}")]
    if case.error is not None:
        return compare_refusal(case, case.error, ref, result, "accept")
    found = []
    kind = "zero_output_dim" if _zero(case.net, None) else "accept"
    try:
        outputs_of(case.model, case.example())
    except Exception as exc:  # noqa: BLE001
        found.append(Finding(kind, f"cnndsl accepts; the compiled model raises {type(exc).__name__}: {exc}"))
    if isinstance(result, TorchRefusedError):
        found.append(Finding("ceil_pool_shape" if _ceil(result.item) else kind,
                             f"cnndsl accepts; torch stops at line {case.line(result.item)}: {result.cause}"))
    return found


def inputs(case: Case, extra: int = 4) -> list[Finding]:
    """`cnndsl inputs` calls a square size valid exactly when torch runs the program at it."""
    if case.net is None or len(case.program.input_shape) != 3:
        return []
    c, h, w = case.program.input_shape
    request = Request.of(program_from_text(case.text.source, FILE))
    found = []
    for size in range(1, max(h, w) + extra + 1):
        shape = (c, size, size)
        where = f"at {dims(shape)}: "
        try:
            valid = scan(request, c, [size])[0].valid
        except Exception as exc:  # noqa: BLE001
            found.append(Finding("zero_output_dim" if _zero(None, exc, case.program, shape) else "inputs",
                                 f"{where}the scan raised {type(exc).__name__}: {exc}"))
            continue
        ref, result = reference(case.program, shape)
        if valid and isinstance(result, TorchRefusedError):
            net, _, _ = checked(case.text.source, shape)
            kind = "zero_output_dim" if _zero(net, None) else "ceil_pool_shape" if _ceil(result.item) else "inputs"
            found.append(Finding(kind, f"{where}valid, but torch stops at line {case.line(result.item)}: "
                                       f"{result.cause}"))
        elif not valid:
            _, error, _ = checked(case.text.source, shape)
            if error is not None and not isinstance(result, TorchRefusedError):
                found += compare_refusal(case, error, ref, result, "inputs", where)
    return found


# ---- shapes, parameters, MACs --------------------------------------------------------------


def shape(case: Case) -> list[Finding]:
    """Every layer's static shape equals the compiled fx graph's (ShapeProp), every output too; and
    the compiled model leaves the caller's input as it was (`input_overwritten`: an in-place layer)."""
    if not case.runs:
        return []
    model, x = case.tensors_model, case.example()
    outs = outputs_of(case.model, x)
    found = [] if torch.equal(x, case.example()) else [Finding("input_overwritten", "the compiled model "
                                                               "changed the tensor it was called with")]
    ShapeProp(model).propagate(case.example())
    for ref, node in zip(every_tensor(case.net), output_nodes(model), strict=True):
        got, want = tuple(node.meta["tensor_meta"].shape[1:]), ref.shape
        if got != want:
            layer = ref.layer
            found.append(Finding("ceil_pool_shape" if layer.attrs.get("ceil") is True else "shape",
                                 f"{layer.qualname} ({layer.label}): cnndsl {dims(want)}, torch {dims(got)}"))
    got_outputs = [tuple(o.shape[1:]) for o in outs]
    if got_outputs != case.net.output_shapes and not found:
        found.append(Finding("shape", f"outputs: cnndsl {case.net.output_shapes}, torch {got_outputs}"))
    return found


def _torch_params(model: torch.nn.Module, qualname: str) -> int:
    try:
        return sum(p.numel() for p in model.get_submodule(qualname).parameters())
    except AttributeError:
        pass
    try:
        return model.get_parameter(qualname).numel()
    except AttributeError:
        return 0


def params(case: Case) -> list[Finding]:
    """Every layer's parameter count equals its torch module's (or parameter's); so does the total."""
    if case.net is None:
        return []
    model = case.model
    found = [Finding("params", f"{layer.qualname} ({layer.label}): cnndsl {layer.params}, torch {n}")
             for layer in case.net.layers() if (n := _torch_params(model, layer.qualname)) != layer.params]
    total = sum(p.numel() for p in model.parameters())
    if total != case.net.count_params():
        found.append(Finding("params", f"total: cnndsl {case.net.count_params()}, torch {total}"))
    return found


def macs(case: Case, batch: int = 2) -> list[Finding]:
    """Per layer, MACs = FlopCounterMode's FLOPs / 2 per sample where torch counts any."""
    if not case.runs:
        return []
    counter = FlopCounterMode(display=False)
    with counter:
        outputs_of(case.model, case.example(batch))
    counts = counter.get_flop_counts()
    root = type(case.model).__name__
    found, attributed = [], 0
    for step in case.net.walk():
        layer = step.layer
        flops = sum(counts.get(f"{root}.{layer.qualname}", {}).values())
        attributed += flops
        ours = step.entry.count_macs(layer.attrs, list(layer.input_shapes), layer.shapes)
        if flops and ours * 2 * batch != flops:
            found.append(Finding("macs", f"{layer.qualname} ({layer.label}): cnndsl {ours}, "
                                         f"torch {flops / 2 / batch:g} (FLOPs / 2 per sample)"))
    total = sum(counts.get("Global", {}).values())
    if total != attributed:
        found.append(Finding("macs", f"torch counts {total - attributed} FLOPs outside any layer's module"))
    return found

