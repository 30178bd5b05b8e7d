"""cnndsl: a language and compiler for convolutional network architectures.

    net = cnndsl.check("architectures/lenet.cnn", net="LeNet")   # shape-checked graph
    model = cnndsl.load("architectures/resnet.cnn", net="resnet50")  # torch.fx.GraphModule

Importing cnndsl never imports torch; `load`, `import_module` and `transfer_weights` do.
"""

from . import render  # noqa: F401 (installs Network._repr_svg_)
from .api import check, check_text, compile, draw, load, networks, networks_in_text, parse_shape
from .errors import CnnError, Diagnostic, Span
from .ir import Network
from .version import __version__  # noqa: F401 (cnndsl.__version__)


def train(*args, **kwargs):  # noqa: ANN002, ANN003, ANN201 (see cnndsl.training.train)
    """Train a network on real data; see `cnndsl.training.train` and `cnndsl train --help`."""
    from .train.loop import train as run

    return run(*args, **kwargs)


def import_module(module, example_input, name=None, verify=True):  # noqa: ANN001, ANN201
    """A torch model as `.cnn` text (torchvision's and models like them); see cnndsl.importer."""
    from .importer import import_module as run

    return run(module, example_input, name=name, verify=verify)


def transfer_weights(src, dst):  # noqa: ANN001, ANN201 (torch types; see cnndsl.weights)
    """Copy `src`'s state_dict into `dst` in order, checking every shape; see cnndsl.weights."""
    from .pytorch.weights import transfer_weights as transfer

    return transfer(src, dst)


__all__ = ["CnnError", "Diagnostic", "Network", "Span", "check", "check_text", "compile", "draw", "load", "networks",
           "import_module", "networks_in_text", "parse_shape", "train",
           "transfer_weights"]
