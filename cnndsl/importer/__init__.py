"""`cnndsl import`: a torch model as `.cnn` text a person would write.

trace (torch.fx, `trace.py`) -> map layers to ops (`rules.py`) -> normalise the graph (a
module instance that takes or gives several tensors is dissolved into dotted names) and
write each module instance as items (`graph.py`) -> loops (`loops.py`) -> blocks with
parameters (`blocks.py`) -> text (`text.py`) -> check: the text is compiled, must load the
model's state_dict by name (strict) and give the same outputs, or nothing is returned.
"""

from __future__ import annotations

import difflib
import warnings
from copy import deepcopy as copy_module
from typing import Any

from ..errors import CnnError

TOLERANCE = 1e-5  # relative, eval mode (the round-trip bound)
# torchvision classification models the language cannot express, and why (docs/import.md)
UNSUPPORTED = {
    "vit_": "a vision transformer: multi-head self-attention over patch tokens and a class token; "
            "the language has no attention and no token sequences",
    "swin_": "a transformer: shifted-window self-attention with relative position biases",
    "maxvit_": "a transformer hybrid: block and grid self-attention with relative position biases",
}


def unsupported(name: str) -> str | None:
    """Why torchvision's model `name` cannot be imported (a transformer; see UNSUPPORTED), or None."""
    return next((why for prefix, why in UNSUPPORTED.items() if name.startswith(prefix)), None)


def importable() -> list[tuple[str, str | None]]:
    """torchvision's classification models, each with the reason it cannot be imported (or None)."""
    from torchvision import models

    return [(name, unsupported(name)) for name in models.list_models(module=models)]


def import_module(module: Any, example_input: Any, name: str | None = None, verify: bool = True) -> str:
    """The `.cnn` text of `module` (a torch.nn.Module), traced on `example_input` (a batch, shape (N, C, H,
    W); the text's input is its shape per sample). The module's train/eval mode is restored afterwards.

    A module instance that takes or gives several tensors is written into its caller's body under
    dotted names (`as "backbone.6"`); a model that returns a dict (torchvision's segmentation models)
    has outputs named after its keys (`output out`).

    Raises CnnError when the model cannot be traced or run on the example, has a layer or call with no
    exact op, or shared weights, or (with `verify`) when the compiled text does not reproduce the model
    (weights by name, each output to 1e-5 relative; a dict's outputs by name).
    """
    from .blocks import structure
    from .inits import init_statement
    from .text import write
    from .trace import trace

    name = name or type(module).__name__
    if not name.isidentifier():
        name = "imported"
    was_training = module.training
    module.eval()
    try:
        gm, graph = trace(module, example_input, name)
        if _unused_state(gm, module):  # auxiliary heads run only in training (GoogLeNet, Inception v3)
            copy = copy_module(module).train()  # a copy: a training-mode pass updates batch-norm statistics
            gm, graph = trace(copy, example_input, name)
        init = init_statement(module)  # torchvision's initialisation, where the family's is recognised
        header = (f"{name}: imported from {type(module).__module__}.{type(module).__qualname__} by `cnndsl import`"
                  + ("\ninitialised as its constructor initialises it" if init else ""))
        text = write(structure(graph, name), header, init)
        if verify:
            verify_text(text, module, example_input)
    finally:
        module.train(was_training)
    return text


def _unused_state(gm: Any, module: Any) -> bool:
    """Whether some weights belong to layers the traced graph never calls."""
    used = {n.target for n in gm.graph.nodes if n.op in ("call_module", "get_attr")}
    return any(k not in used and k.rsplit(".", 1)[0] not in used for k in module.state_dict())


def verify_text(text: str, module: Any, example_input: Any) -> None:
    """The round trip: compile the text, load the module's weights by name, compare outputs."""
    import torch

    from ..api import check_text, compile

    try:
        net = check_text(text)
    except CnnError as e:
        raise CnnError(f"the imported text does not check (an importer bug): {e}") from None
    model = compile(net).eval()
    try:
        model.load_state_dict(module.state_dict(), strict=True)
    except RuntimeError as e:
        raise CnnError(f"the imported network does not take the model's weights by name: {str(e)[:400]}") from None
    with torch.no_grad():
        want, got = module.eval()(example_input), model(example_input)
    for name, (w, g) in _paired(want, got, net.output_names).items():
        diff = ((g - w).abs().max() / w.abs().max().clamp_min(1e-12)).item()
        if diff > TOLERANCE:
            raise CnnError(f"the imported network's output{' ' + name if name else 's'} differ"
                           f"{'s' if name else ''} from the model's by {diff:.1e} (relative)")


def _paired(want: Any, got: Any, names: list[str]) -> dict[str, tuple[Any, Any]]:
    """The model's outputs and the compiled network's, paired: a dict's by name (the network's `output`
    names), else the first of each (GoogLeNet's logits; its auxiliary outputs run in training only)."""
    gots = list(got) if isinstance(got, (tuple, list)) else [got]
    if isinstance(want, dict):
        by_name = dict(zip(names, gots, strict=True))
        return {k: (v, by_name[k]) for k, v in want.items()}
    return {"": (want[0] if isinstance(want, (tuple, list)) else want, gots[0])}


def segmentation_models() -> list[str]:
    """torchvision's semantic segmentation models (FCN, DeepLabV3, LR-ASPP), all importable."""
    from torchvision import models

    return models.list_models(module=models.segmentation)


def check_name(name: str) -> str:
    """`name` if torchvision has such a classification or segmentation model we can import; else CnnError."""
    from torchvision import models

    names = models.list_models(module=models) + segmentation_models()
    if name not in names:
        close = difflib.get_close_matches(name, names, n=4, cutoff=0.5)
        raise CnnError(f"torchvision has no classification or segmentation model '{name}'",
                       hint=(f"did you mean {', '.join(repr(c) for c in close)}?" if close
                             else "`cnndsl import --list` lists them"))
    why = unsupported(name)
    if why:
        raise CnnError(f"cannot import {name}: {why}", hint="nothing was written; docs/import.md lists such models")
    return name


def torchvision_model(name: str) -> Any:
    """torchvision's classification or segmentation model `name`, randomly initialised (no download: a
    segmentation model's backbone too), with its default heads (no auxiliary classifier)."""
    from torchvision import models

    backbone = {"weights_backbone": None} if name in segmentation_models() else {}
    with warnings.catch_warnings():  # googlenet, inception_v3: a notice about future initialisation
        warnings.simplefilter("ignore", FutureWarning)
        return models.get_model(check_name(name), weights=None, **backbone)


def default_input(name: str) -> tuple[int, int, int]:
    """The input size torchvision's weights for `name` were trained at: the crop of a classification
    model's transforms, the resize of a segmentation model's (520); 224 when unknown."""
    from torchvision import models

    try:
        keywords = models.get_model_weights(name).DEFAULT.transforms.keywords
        size = keywords.get("crop_size", keywords.get("resize_size", 224))
    except (ValueError, AttributeError):
        size = 224
    return (3, size, size)


def import_torchvision(name: str, input_shape: tuple[int, ...] | None = None, verify: bool = True) -> str:
    """The `.cnn` text of torchvision's classification or segmentation model `name`, randomly initialised, traced on two
    random samples of `input_shape` (per sample, C×H×W; default: the size its weights were trained at)
    and verified as `import_module` does. Raises CnnError for a name torchvision lacks or the language
    cannot express, and as `import_module`."""
    import torch

    model = torchvision_model(name)
    shape = input_shape or default_input(name)
    example = torch.randn(2, *shape, generator=torch.Generator().manual_seed(0))  # not reseeding the caller's RNG
    return import_module(model, example, name=name, verify=verify)
