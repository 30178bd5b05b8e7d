"""cnndsl: a language and compiler for convolutional network architectures.

    net = cnndsl.check("architectures/lenet.cnn", net="LeNet")   # shape-checked graph
    model = cnndsl.load("architectures/resnet.cnn", net="resnet50")  # torch.fx.GraphModule

Importing cnndsl never imports torch; `load`, `import_module` and `transfer_weights` do.
"""

from . import render  # noqa: F401 (installs Network._repr_svg_)
from .api import (
    check,
    check_text,
    compile,
    draw,
    export,
    load,
    load_plugins,
    networks,
    networks_in_text,
    parse_shape,
    register_ops,
)
from .errors import CnnError, Diagnostic, Span, explained
from .ir import Network
from .version import __version__  # noqa: F401 (cnndsl.__version__)


@explained
def train(*args, **kwargs):  # noqa: ANN002, ANN003, ANN201 (see cnndsl.training.loop.train)
    """Train network `net` of `file` on real data; returns one dict of metrics per epoch.

    See `cnndsl.training.loop.train` for the arguments (an `Options` with data, epochs, optimizer, ...;
    `input` as shape text per sample, `1x28x28`) and the files written, and `cnndsl train --help`.
    Raises CnnError for bad input (everything `check` refuses, data whose image size or classes do not
    fit the network, a missing dataset, an `--out` folder in use or not writable, a damaged checkpoint,
    a loss that is not finite) and `cnndsl.training.loop.TrainingInterruptedError` after Ctrl-C, once a
    checkpoint is saved. Imports torch.
    """
    from .training.loop import train as run

    return run(*args, **kwargs)


@explained
def import_module(module, example_input, name=None, verify=True):  # noqa: ANN001, ANN201
    """A torch model as `.cnn` text a person would write (torchvision's classification models and models
    built like them); see `cnndsl.importer.import_module`. Imports torch.

    `module` is a `torch.nn.Module`; `example_input` a batch it is traced on, shape (N, C, H, W); `name`
    the network's name (default: the class name); `verify` compiles the text, loads the module's
    state_dict by name (strict) and compares outputs in eval mode (1e-5 relative). Raises CnnError when
    torch.fx cannot trace the module, a layer or call has no exact op, a module takes or gives more than
    one tensor, weights are shared, or the round trip fails.
    """
    from .importer import import_module as run

    return run(module, example_input, name=name, verify=verify)


@explained
def transfer_weights(src, dst):  # noqa: ANN001, ANN201 (torch types; see cnndsl.pytorch.weights)
    """Copy `src`'s state_dict (a module or a mapping of tensors) into `dst` by position, checking every
    shape; returns the (source key, destination key) pairs. Raises ValueError (not CnnError: the
    arguments are torch objects, not user text) when the counts or a shape differ, before anything is
    copied. See `cnndsl.pytorch.weights.transfer_weights`; imports torch."""
    from .pytorch.weights import transfer_weights as transfer

    return transfer(src, dst)


__all__ = ["CnnError", "Diagnostic", "Network", "Span", "check", "check_text", "compile", "draw", "export", "load",
           "load_plugins", "networks", "import_module", "networks_in_text", "parse_shape", "register_ops", "train",
           "transfer_weights"]
