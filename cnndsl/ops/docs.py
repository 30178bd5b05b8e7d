"""The parts of the documentation that the registry states: docs/language.md's op table and
docs/analysis.md's table of MAC conventions (grouped as the footer of `cnndsl summary` words
them: cnndsl/ops/conventions.py).

`python -m cnndsl.ops.docs` rewrites the generated regions of the docs, which are marked
`<!-- begin generated: NAME ... -->` ... `<!-- end generated: NAME -->`; with `--check` it
only says whether they are current (tests/test_docs.py fails when they are not).
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable
from pathlib import Path

from .conventions import by_convention, in_family_order
from .registry import Param


def _value(v: object) -> str:
    """A default as the language writes it: true, 1e-5, 1 for (1, 1), `nearest`."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float) and v and abs(v) < 1e-3:  # 1e-4, not 0.0001
        mantissa, exponent = f"{v:.12e}".split("e")
        return f"{mantissa.rstrip('0').rstrip('.')}e{int(exponent)}"
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, tuple):
        return str(v[0]) if len(set(v)) == 1 else "x".join(map(str, v))
    if isinstance(v, str):
        return f"`{v}`"
    return str(v)


def _positional(p: Param) -> str:
    text = p.name + ("[/stride]" if p.stride else "")
    text = text if p.required else f"[{text}] ({_value(p.default)})"
    return text + (f" ({p.note})" if p.note else "")


def _keyword(p: Param) -> str:
    details = ["required"] if p.required else [] if p.default is None else [_value(p.default)]
    if p.note:
        details.append(p.note)
    elif p.symbols:
        details.append("one of " + ", ".join(f"`{s}`" for s in p.symbols))
    return f"`{p.name}` ({'; '.join(details)})"


def op_table() -> str:
    """docs/language.md §3: every op with its arguments and what it is."""
    rows = ["| op | positional | keywords (default) | what it is |", "|---|---|---|---|"]
    for op in in_family_order():
        positional = "branches" if op.merge else " ".join(_positional(p) for p in op.params if p.positional)
        keywords = ", ".join(_keyword(p) for p in op.params if not p.positional)
        rows.append(f"| `{op.name}` | {positional or '—'} | {keywords or '—'} | {op.doc} |")
    return "\n".join(rows)


def mac_table() -> str:
    """docs/analysis.md: which ops count MACs, and how."""
    rows = ["| ops | MACs |", "|---|---|"]
    for convention, names in by_convention().items():
        ops = ", ".join(f"`{n}`" for n in names)
        rows.append(f"| {ops} | {convention} |" if convention else f"| every other op: {ops} | none |")
    return "\n".join(rows)


# region name -> (file below the repository root, its content)
GENERATED: dict[str, tuple[str, Callable[[], str]]] = {
    "op-table": ("docs/language.md", op_table),
    "mac-table": ("docs/analysis.md", mac_table),
}


def fill(text: str, name: str, content: str) -> str:
    """`text` with the generated region `name` holding `content`. Raises ValueError when the
    region's markers are missing."""
    begin = re.search(rf"<!-- begin generated: {re.escape(name)}\b[^\n]*-->\n", text)
    end = text.find(f"<!-- end generated: {name} -->")
    if begin is None or end < begin.end():
        raise ValueError(f"no generated region '{name}' (<!-- begin generated: {name} --> ... "
                         f"<!-- end generated: {name} -->)")
    return text[:begin.end()] + content + "\n" + text[end:]


def stale(root: Path, write: bool = False) -> list[str]:
    """The files under `root` whose generated regions differ from the registry (rewritten
    when `write`)."""
    changed = []
    for name, (relative, content) in GENERATED.items():
        path = root / relative
        text = path.read_text(encoding="utf-8")
        new = fill(text, name, content())
        if new != text:
            changed.append(relative)
            if write:
                path.write_text(new, encoding="utf-8")
    return changed


def main(argv: list[str] | None = None) -> int:
    """`python -m cnndsl.ops.docs [ROOT] [--check]`: rewrite the generated regions of the docs under ROOT
    (default: here), or with --check only list the stale ones; returns the exit status (1 when --check
    finds one stale). ValueError when a region's markers are missing."""
    parser = argparse.ArgumentParser(prog="python -m cnndsl.ops.docs", description=__doc__.splitlines()[0])
    parser.add_argument("root", nargs="?", default=".", type=Path, help="the repository (default: here)")
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if a region is stale")
    args = parser.parse_args(argv)
    changed = stale(args.root, write=not args.check)
    for relative in changed:
        print(f"{relative}: {'stale' if args.check else 'rewritten'}")
    return 1 if args.check and changed else 0


if __name__ == "__main__":
    sys.exit(main())
