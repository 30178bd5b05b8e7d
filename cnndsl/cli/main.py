"""The `cnndsl` command line: one parser, each command from its own module. `check` and
`list` never import torch."""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from collections.abc import Callable, Sequence

from ..errors import CnnError
from .common import load_plugins_of


class _Parser(argparse.ArgumentParser):
    """Bad command lines exit 1 like every other bad input (argparse's own status is 2)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        """Print the usage and the message, then exit with status 1."""
        self.print_usage(sys.stderr)
        self.exit(1, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    """The `cnndsl` argument parser, with each command module's subcommands."""
    parser = _Parser(
        prog="cnndsl", description="A language and compiler for convolutional network architectures.",
        epilog="Run `cnndsl COMMAND --help` for a command's options.")
    parser.add_argument("--version", action="version", version=f"cnndsl {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for register in _extensions():
        register(sub)
    return parser


def _extensions() -> list[Callable[[argparse._SubParsersAction], None]]:
    """Each command module adds its own subcommands, in the order `--help` lists them."""
    from . import analysis, check, draw, editor, evaluate, export, fmt, importing, predict, train

    return [check.register, analysis.register, draw.register, export.register, importing.register,
            train.register, evaluate.register, predict.register, fmt.register, editor.register]


def _version() -> str:
    from ..version import __version__
    return __version__


def main(argv: Sequence[str] | None = None) -> int:
    """Run the `cnndsl` command line on `argv` (default: sys.argv[1:]); returns the exit status: 0, 1 for a
    CnnError (printed as `file:line:col: error: message`), 130 after Ctrl-C, 70 for an internal error
    (re-raised when CNNDSL_DEBUG is set). A bad command line exits with 1 (SystemExit)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv:  # `cnndsl` alone: the commands, not only a usage error
        build_parser().print_help(sys.stderr)
        return 1
    args = build_parser().parse_args(argv)
    # torch's note that `pad=same` with an even kernel copies the input padded: how torch computes what the
    # file says, nothing the user can act on (the results are exact, tests/test_windows.py)
    warnings.filterwarnings("ignore", "Using padding='same' with even kernel lengths", UserWarning)
    try:
        load_plugins_of(args)  # before the command reads its file: the file may use the plugins' ops
        return args.run(args)
    except CnnError as exc:
        print(exc.render(), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("cnndsl: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `cnndsl ... | head`: the reader has gone, nothing more to say
        sys.stderr.close()
        return 0
    except Exception as exc:  # a bug in cnndsl, not in the user's text
        if os.environ.get("CNNDSL_DEBUG"):
            raise
        print(f"cnndsl: internal error: {type(exc).__name__}: {exc}\n"
              "  please report it with the input file; set CNNDSL_DEBUG=1 for the traceback", file=sys.stderr)
        return 70


if __name__ == "__main__":
    sys.exit(main())
