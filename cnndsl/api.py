"""The Python API: `check`, `load`, `export`, `networks` (torch is imported only by `load`, `compile`, `export`)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from .elaborate.frames import Limits
from .errors import CnnError, add_context, explained
from .ir import Network
from .lang import plugins as plugin_modules
from .lang.source import Program, load_program, program_from_text
from .lang.values import Scope, evaluate, show
from .request import Request, parse_shape

if TYPE_CHECKING:
    import torch

PathLike = str | os.PathLike
Shape = str | tuple[int, ...] | list[int]
Plugins = list[str] | tuple[str, ...] | None

__all__ = ["Request", "check", "check_text", "compile", "draw", "export", "load", "load_plugins", "networks",
           "networks_in_text", "parse_shape", "register_ops"]

register_ops = plugin_modules.register


@explained
def load_plugins(plugins: Plugins) -> list[str]:
    """Load plugin ops (docs/plugins.md): each of `plugins` is an installed plugin's entry-point name
    (group `cnndsl.ops`), an importable module or a `.py` file; each is loaded once, and its ops stay
    registered for the process. Returns the names of the ops they provide. Raises CnnError for a
    plugin that cannot be found, fails to import, registers no op or an op `register_ops` refuses
    (the message names the plugin module)."""
    if plugins is None:
        return []
    if not isinstance(plugins, (list, tuple)):
        raise CnnError(f"plugins takes a list of names, got {type(plugins).__name__} {plugins!r:.60}",
                       hint="plugins=['NAME']")
    return plugin_modules.load(plugins)



@explained
def check(path: PathLike, net: str | None = None, input: Shape | None = None,
          limits: Limits | None = None, plugins: Plugins = None, **params: object) -> Network:
    """Parse, elaborate and shape-check network `net` of the `.cnn` file at `path`; returns the graph.

    Shapes are per sample, with no batch axis: C×H×W for images (`3x224x224` is (3, 224, 224)),
    (features,) once flattened.

    Args: `net` names the network (it may be left out when the file defines only one); `input` replaces
    the declared input shape, as text `"3x224x224"` or a tuple or list of positive ints, per sample;
    `limits` bounds the work of elaboration (`cnndsl.elaborate.Limits`; docs/errors.md, "Limits");
    `plugins` names plugin modules whose ops the file uses, loaded first (`load_plugins`); every
    other keyword sets a network parameter (an int, float, bool, or a tuple or list of them) in place of
    its default.

    Returns: the shape-checked `Network`; its `warnings` hold what elaboration warned about (a layer
    that drops input rows or columns, with the input sizes that would fit).

    Raises: CnnError, located at `file:line:col` where the problem is in the text, for every error in
    the file or the arguments: a file that cannot be read (missing, not a regular file, over 10 MiB, not
    UTF-8; a CnnError, not an OSError), a syntax error, an import that leaves the file's folder or names
    no file, an unknown network or parameter, a bad `input` or parameter value, a shape that does not
    fit an op, a layer that leaves no output, a limit passed, a plugin that cannot be loaded. With
    CNNDSL_DEBUG set, the graph is linted too: LintError (`cnndsl.ir.LintError`) means a bug in cnndsl,
    never in the text.
    """
    load_plugins(plugins)
    return Request.of(load_program(path), net, input, params, limits).check()


def check_text(text: str, net: str | None = None, input: Shape | None = None, file: str = "<string>",
               limits: Limits | None = None, plugins: Plugins = None, **params: object) -> Network:
    """`check` for source text in memory. `file` names it in messages, and its `import`s resolve relative
    to `file`'s folder (the current directory for the default `<string>`). Arguments, shapes (per
    sample, no batch axis), result and errors (CnnError) as `check`."""
    load_plugins(plugins)
    try:
        return Request.of(program_from_text(text, file), net, input, params, limits).check()
    except CnnError as exc:
        add_context(exc, {file: text})  # the text is in no file
        raise


@explained
def load(path: PathLike, net: str | None = None, input: Shape | None = None, max_bytes: int | None = None,
         weights: PathLike | None = None, plugins: Plugins = None, seed: int | None = None,
         **params: object) -> torch.fx.GraphModule:
    """Check a network (as `check`) and compile it to a trainable `torch.fx.GraphModule`; imports torch.

    Shapes in the spec are per sample; the model takes a batch: a float tensor of shape (N, C, H, W) for
    a declared C×H×W input. Its submodules and state_dict keys are the layers' paths in the spec
    (`residual3.conv2.weight`), and its parameters are initialised as the layers' `init` says, else by
    torch's default initialisers, or loaded from `weights`.

    Args: `path`, `net`, `input`, `plugins` and the parameter keywords as `check`; `max_bytes` is the
    memory the parameters may take, 4 bytes each (float32); the default is the memory available now (Linux's
    MemAvailable); `seed`, as in `compile`; `weights` a run folder (`cnndsl train --out DIR`: its model.pt,
    the best epoch's weights) or a state_dict file, read with `torch.load(weights_only=True)`. The model is
    in training mode; call `.eval()` to classify. It takes inputs normalised as training did (docs/deploy.md).

    Raises: CnnError for everything `check` refuses; for a network whose parameters would not fit in
    `max_bytes`, refused before anything is allocated; for an `as` name that cannot name a torch
    submodule (a Python keyword or an attribute of `torch.nn.Module`); for weights that are missing,
    damaged, not a state_dict, or of another network (naming the first keys or shapes that differ).
    """
    network = check(path, net, input, plugins=plugins, **params)
    model = compile(network, max_bytes, seed)
    if weights is not None:
        from .pytorch.trained import load_weights

        load_weights(model, weights, network)
    return model


@explained
def export(path: PathLike, format: str, output: PathLike, net: str | None = None,  # noqa: A002
           input: Shape | None = None, weights: PathLike | None = None, preprocess: bool = False,
           plugins: Plugins = None, **params: object) -> str:
    """Write network `net` of the `.cnn` file at `path` to `output` as `format`: "onnx" (opset 17),
    "torchscript", "py" (one Python file needing only torch; it holds no weights) or "pt2" (a
    `torch.export` program); returns the line `cnndsl export` prints. The file is checked (every output
    against torch) before it is written atomically; on any error nothing is written. See docs/export.md.

    Args: `net`, `input`, `plugins` and the parameter keywords as `check`; `weights` as in `load`; `preprocess`
    (needs `weights`, a run folder) bakes the run's resize and normalisation into the model, which then takes
    images as floats in [0, 1] (N×C×H×W at the data set's size, also for a run trained with --resize;
    docs/deploy.md).

    Raises: CnnError for everything `load` refuses, an unknown format, `preprocess` without a run folder
    or for a run whose resized images are not the network's input, an output that cannot be written, and
    an exported file that disagrees with torch.
    """
    from .pytorch.export import export as write
    from .pytorch.trained import trained_model

    network = check(path, net, input, plugins=plugins, **params)
    return write(network, format, output, model=trained_model(network, weights, preprocess))


@explained
def compile(network: Network, max_bytes: int | None = None,  # noqa: A001
            seed: int | None = None) -> torch.fx.GraphModule:
    """Compile an already checked network (from `check` or `check_text`) to a trainable
    `torch.fx.GraphModule`; imports torch.

    The model takes a batch (N, *network.input_shape), shapes being per sample in the network; its
    submodules and state_dict keys are the layers' paths, its parameters initialised as the layers' `init`
    says, else by torch's default initialisers. `max_bytes` as in `load`. With a `seed` (an int) the
    initial parameters are the same on every call (torch's global generator is seeded for the build
    and restored after it); without one they come from torch's global generator as it stands. Raises
    CnnError for a network whose float32 parameters (4 bytes each) exceed `max_bytes` (default: the
    memory available now), before anything is allocated, for an `as` name that cannot name a torch
    submodule, for an initialiser torch refuses on a layer's tensor, and for a seed that is not an int.
    """
    from .pytorch.fx_backend import compile_network

    if not isinstance(network, Network):
        raise CnnError(f"compile takes a checked Network (from cnndsl.check), got {type(network).__name__}",
                       hint="for a file, cnndsl.load(path, net=...) checks and compiles it")
    if seed is None:
        return compile_network(network, max_bytes)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise CnnError(f"seed must be an integer, got {type(seed).__name__}")
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return compile_network(network, max_bytes)


@explained
def networks(path: PathLike) -> dict[str, dict[str, str | None]]:
    """The networks the file at `path` defines itself (not those it imports), in order: name -> {parameter:
    its default value as the language writes it (`10`, `true`, `(1, 2)`), None for a required one}. A
    default that reads another parameter shows as `...`. Nothing is elaborated. Raises CnnError when the
    file or a file it imports cannot be read or parsed, or defines a name twice."""
    return _networks(load_program(path))


@explained
def networks_in_text(text: str, file: str = "<string>") -> dict[str, dict[str, str | None]]:
    """`networks` for source text in memory (`file` names it in messages; imports resolve relative to its
    folder). Raises CnnError as `networks`."""
    return _networks(program_from_text(text, file))


def _networks(program: Program) -> dict[str, dict[str, str | None]]:
    return {name: {p.name: None if p.default is None else _default_text(p.default)
                   for p in program.networks[name].params} for name in program.own_networks}


def _default_text(expr: object) -> str:
    try:
        return show(evaluate(expr, Scope()))
    except CnnError:
        return "..."


@explained
def draw(path: PathLike, output: PathLike, net: str | None = None, input: Shape | None = None,
         depth: int | None = 0, full: bool = False, rankdir: str = "TB", shapes: bool | str = True,
         params: bool = False, theme: str = "color", plugins: Plugins = None, compact: bool = False,
         names: bool = False, **values: object) -> os.PathLike:
    """Draw a network (checked as `check`) into `output`; returns the path written (a `pathlib.Path`).

    The format is `output`'s extension: .svg, .pdf, .png (through Graphviz's `dot` program) or .dot (the
    DOT text, no Graphviz needed). The file is replaced atomically.

    Args: `net`, `input`, `plugins` and the parameter keywords (`values`) as `check`; `depth` (0 or more): block
    calls nested deeper are drawn as one box each (0: one box per top-level call), None draws every
    layer, as does `full=True`; `rankdir` "TB" (top to bottom) or "LR" (long chains wrap into rows);
    `shapes` labels each edge with its tensor's shape per sample (`64×56×56`, no batch axis): True or "all"
    every edge, "changes" only where a layer changes the shape, False or "none" no edge; `params` writes
    each box's parameter count; `theme` "color" or "mono" (print-friendly); `compact` folds norms and
    activations into the layer before them (`conv 3x3 64 · bn · relu`); `names` shows the `as` names.

    Raises: CnnError for everything `check` refuses, an unknown extension, theme or rankdir, a missing
    or failing `dot` for .svg/.pdf/.png (nothing is written then), and an output that cannot be written
    (a missing folder, a directory, a refused write).
    """
    from .render.figure import draw_network

    return draw_network(check(path, net, input, plugins=plugins, **values), output, None if full else depth, rankdir,
                        shapes, params, theme, compact, names)
