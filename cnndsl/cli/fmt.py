"""`cnndsl fmt`: rewrite .cnn files in the canonical layout (cnndsl.lang.format, docs/editors.md)."""

from __future__ import annotations

import argparse
import difflib
import os
import stat
import sys
from pathlib import Path

from ..errors import CnnError
from ..files import write_atomic
from ..lang.format import format_text
from ..lang.source import read_text


def formatted(text: str, file: str) -> str:
    """`text` formatted, with the line endings it was written with (CRLF stays CRLF).
    Raises CnnError when it does not parse."""
    result = format_text(text, file)
    return result.replace("\n", "\r\n") if "\r\n" in text else result


def _one(name: str, args: argparse.Namespace) -> bool:
    """Format one file (or standard input for `-`); returns whether it changed or would change.
    Raises CnnError for a file that cannot be read or does not parse: it is left untouched."""
    if name == "-":
        text = sys.stdin.read()
        result = formatted(text, "<stdin>")
        if args.diff:
            sys.stdout.writelines(difflib.unified_diff(text.splitlines(True), result.splitlines(True),
                                                       "<stdin>", "<stdin> (formatted)"))
        elif not args.check:
            sys.stdout.write(result)
        return result != text
    path = Path(name)
    text = read_text(path)  # a UTF-8 byte-order mark is read and dropped: the formatted file has none
    result = formatted(text, name)
    if result == text and not _has_bom(path):
        return False
    if args.diff:
        sys.stdout.writelines(difflib.unified_diff(text.splitlines(True), result.splitlines(True),
                                                   name, f"{name} (formatted)"))
    if args.check:
        print(f"would reformat {name}")
    if not (args.check or args.diff):
        # a temporary file renamed over the old one: a crash never leaves half a file; the mode stays
        write_atomic(path, result.encode("utf-8"), mode=stat.S_IMODE(os.stat(path).st_mode))
        print(f"reformatted {name}", file=sys.stderr)
    return True


def _has_bom(path: Path) -> bool:
    with path.open("rb") as file:
        return file.read(3) == b"\xef\xbb\xbf"


def _expanded(names: list[str]) -> list[str]:
    """The files named, a folder standing for the .cnn files under it (sorted)."""
    files = []
    for name in names:
        folder = Path(name)
        files += sorted(str(p) for p in folder.rglob("*.cnn")) if name != "-" and folder.is_dir() else [name]
    return files


def cmd_fmt(args: argparse.Namespace) -> int:
    """`cnndsl fmt`: format each FILE in place, or with --check/--diff only report. Returns 1 when a file
    could not be read or parsed (its error printed, the other files still done), or when --check/--diff
    found a file to change; else 0."""
    failed = changed = False
    for name in _expanded(args.files):
        try:
            changed |= _one(name, args)
        except CnnError as exc:
            print(exc.render(), file=sys.stderr)
            failed = True
    return 1 if failed or (changed and (args.check or args.diff)) else 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add `fmt` to the command line."""
    from .common import EPILOG

    p = sub.add_parser("fmt", help="rewrite .cnn files in the canonical layout",
                       description="Rewrite each FILE in the one canonical layout: 4-space indentation, one "
                                   "space between tokens (none in `pad=1` or `3x3/2`), lines over 120 columns "
                                   "broken after a comma, comments kept where they are. Only whitespace "
                                   "changes: the network is the same. A file that does not parse is reported "
                                   "and left untouched. A folder stands for the .cnn files under it; `-` reads "
                                   "standard input and writes standard output.",
                       epilog=EPILOG)
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--check", action="store_true",
                   help="change nothing; name the files that would change and exit 1 if there are any")
    p.add_argument("--diff", action="store_true",
                   help="change nothing; print a unified diff of the changes and exit 1 if there are any")
    p.set_defaults(run=cmd_fmt)
