"""`cnndsl lsp` (a language server over stdio) and `cnndsl serve` (a live preview page on 127.0.0.1)."""

from __future__ import annotations

import argparse

from ..errors import CnnError


def cmd_lsp(args: argparse.Namespace) -> int:
    """`cnndsl lsp`: serve the Language Server Protocol on stdin/stdout until the editor exits; returns 0.
    Raises CnnError when pygls (the `lsp` extra) is not installed."""
    try:
        from ..editor.server import serve_stdio
    except ImportError:
        raise CnnError("`cnndsl lsp` needs pygls (the `lsp` extra), which is not installed",
                       hint="pip install 'cnndsl[lsp]'") from None
    serve_stdio()
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    """`cnndsl serve`: the live preview of FILE on 127.0.0.1 until Ctrl-C; returns 0 (Ctrl-C is how it ends).
    Raises CnnError for a file that cannot be read and a port that cannot be bound."""
    from ..editor.preview import serve

    try:
        serve(args.file, args.port, args.no_browser)
    except KeyboardInterrupt:
        print("cnndsl serve: stopped", flush=True)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add `lsp` and `serve` to the command line."""
    p = sub.add_parser("lsp", help="a language server for editors, over stdio (needs cnndsl[lsp])",
                       description="Serve the Language Server Protocol on stdin/stdout: diagnostics, hover with "
                                   "shapes, parameters and MACs, go to definition, completion, symbols.")
    p.set_defaults(run=cmd_lsp)
    p = sub.add_parser("serve", help="a live preview page: source, diagnostics, diagram and summary",
                       description="Serve a page on 127.0.0.1 showing FILE highlighted, its diagnostics, diagram and "
                                   "summary table, updated when the file changes or is edited in the page.")
    p.add_argument("file", nargs="?", help="the .cnn file to preview (default: an empty page to write in)")
    p.add_argument("--port", type=int, default=0, help="the port (default: a free one, printed)")
    p.add_argument("--no-browser", action="store_true", help="do not open a browser")
    p.set_defaults(run=cmd_serve)
