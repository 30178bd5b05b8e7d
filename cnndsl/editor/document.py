"""One `.cnn` text as an editor holds it: checked as a whole, with every diagnostic kept, each own
network shape-checked and summarised, and the syntax tree walked for definitions and names.

Positions here are the compiler's (`Span`: 1-based lines and columns counted in characters); `lsp.py`
turns them into LSP's (0-based, UTF-16 code units).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ..analysis.costs import Row, Summary, analyse
from ..errors import CnnError, Diagnostic, Span
from ..ir import Network
from ..lang import syntax as ast
from ..lang.parser import parse
from ..lang.source import Program, library_path, program_from_text
from ..request import Request

WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass
class Checked:
    """What checking one text found: its program (None when it does not parse or define), every
    diagnostic (errors, then warnings), and each own network that could be checked with its summary."""

    file: str
    text: str
    program: Program | None = None
    diagnostics: list[Diagnostic] = field(default_factory=list)
    networks: dict[str, tuple[Network, Summary]] = field(default_factory=dict)


def check_document(text: str, file: str) -> Checked:
    """Parse `text` (named `file`, its imports relative to `file`'s folder) and shape-check each network it
    defines itself with its default parameters; a network with a required parameter is parsed only (it has no
    values to check with). Never raises CnnError: each one becomes a diagnostic, and the other networks are
    still checked."""
    checked = Checked(file, text)
    try:
        checked.program = program_from_text(text, file)
    except CnnError as exc:
        checked.diagnostics.append(exc.diagnostic)
        return checked
    for name in checked.program.own_networks:
        if any(p.default is None for p in checked.program.networks[name].params):
            continue
        try:
            net = Request.of(checked.program, name).check()
        except CnnError as exc:
            checked.diagnostics.append(exc.diagnostic)
            continue
        checked.diagnostics += [dataclasses.replace(w, severity="warning") if w.severity == "error" else w
                                for w in net.warnings]
        checked.networks[name] = (net, analyse(net))
    return checked


def contains(span: Span, line: int, col: int) -> bool:
    """Whether 1-based (`line`, `col`) lies in `span` (its end column exclusive, but a cursor just after
    the last character still counts, as editors place it there)."""
    return (span.line, span.col) <= (line, col) <= (span.end_line, span.end_col)


def word_at(text: str, line: int, col: int) -> tuple[str, Span] | None:
    """The name (letters, digits, `_`) at 1-based (`line`, `col`) of `text`, with its span, or None."""
    lines = text.split("\n")
    if not 1 <= line <= len(lines):
        return None
    for m in WORD.finditer(lines[line - 1]):
        if m.start() + 1 <= col <= m.end() + 1:
            return m.group(), Span("", line, m.start() + 1, line, m.end() + 1)
    return None


def nodes(node: object) -> Iterator[object]:
    """Every syntax node in `node` (a node, or a tuple of them), `node` first, depth first."""
    if isinstance(node, tuple):
        for item in node:
            yield from nodes(item)
    elif dataclasses.is_dataclass(node) and not isinstance(node, (Span, type)):
        yield node
        for f in dataclasses.fields(node):
            yield from nodes(getattr(node, f.name))


@dataclass(frozen=True)
class Hover:
    """What one layer or block call at the cursor computes, per instance: the network, its path there, the
    layer or call with its values, output shape per sample (no batch axis), trainable parameters and
    multiply-accumulates per sample."""

    span: Span
    title: str
    rows: list[tuple[str, str, str, tuple, int, int]]  # (network, path, label, shape, params, MACs)


def hover_at(checked: Checked, line: int, col: int) -> Hover | None:
    """The layer whose op name, or the block call whose text, holds the cursor, in every checked network (a
    layer inside a block appears once per call of the block), or None."""
    found: list[tuple[str, str, str, tuple, int, int]] = []
    span = title = None
    for name, (net, summary) in checked.networks.items():
        before = len(found)
        for block_path, block in net.blocks.items():
            if block.span.file == checked.file and contains(block.span, line, col):
                folded = {r.name: r for r in summary.at_depth(len(block_path) - 1)}
                row = folded.get(".".join(block_path))
                if row is not None:
                    found.append((name, row.name, row.label, row.shape, row.params, row.macs))
                    span, title = span or block.span, title or f"call of block `{block.block}`"
        if len(found) > before:
            continue
        rows: dict[str, Row] = {r.name: r for r in summary.rows}
        for layer in net.layers():
            if layer.span.file == checked.file and contains(layer.span, line, col) and layer.qualname in rows:
                r = rows[layer.qualname]
                found.append((name, r.name, r.label, r.shape, r.params, r.macs))
                span, title = span or layer.span, title or f"layer `{r.op}`"
    return Hover(span, title, found) if found and span else None


def definitions(checked: Checked) -> Iterator[ast.BlockDef | ast.NetworkDef]:
    """Every block and network the program sees, its own and imported ones."""
    if checked.program is not None:
        yield from checked.program.blocks.values()
        yield from checked.program.networks.values()


def definition_of(checked: Checked, line: int, col: int) -> Span | None:
    """Where the thing at the cursor is defined: the file an `import` names (its first line), the block or
    network a call names, or, inside a definition, the flow, `as` layer, `let` or parameter that binds the
    name at the cursor. None when the cursor is on nothing defined."""
    for imp in imports(checked):
        if contains(imp.span, line, col):
            target = import_target(imp.path, checked.file)
            return Span(str(target), 1, 1, 1, 1) if target else None
    hit = word_at(checked.text, line, col)
    if hit is None or checked.program is None:
        return None
    word = hit[0]
    named = checked.program.blocks.get(word) or checked.program.networks.get(word)
    if named is not None:
        return named.span
    enclosing = [d for d in definitions(checked) if d.span.file == checked.file and contains(d.span, line, col)]
    return _binding(enclosing[0], word, checked.text) if enclosing else None


def _binding(d: ast.BlockDef | ast.NetworkDef, word: str, text: str) -> Span | None:
    for p in d.params:
        if p.name == word:
            return p.span
    for node in nodes(d.body):
        if isinstance(node, ast.Let) and node.name == word:
            return node.span
        if isinstance(node, ast.Layer) and node.alias == word:
            return node.span
        if isinstance(node, ast.CallItem) and node.alias == word:
            return node.span
        if isinstance(node, ast.Flow) and node.targets and word in node.targets:
            return _word_in(text, node.span, word) or node.span
    return None


def _word_in(text: str, span: Span, word: str) -> Span | None:
    """The first occurrence of `word` as a whole name in the first line of `span`."""
    line = text.split("\n")[span.line - 1]
    for m in WORD.finditer(line, span.col - 1):
        if m.group() == word:
            return Span(span.file, span.line, m.start() + 1, span.line, m.end() + 1)
    return None


def imports(checked: Checked) -> Iterator[ast.Import]:
    """The `import`s of the document itself (none when it does not parse)."""
    try:
        module = parse(checked.text, checked.file)
    except CnnError:
        return
    yield from (d for d in module.definitions if isinstance(d, ast.Import))


def import_target(path: str, importer: str) -> Path | None:
    """The file `import "path"` in `importer` reads: next to it, else in the bundled architectures."""
    for root in (Path(importer).resolve().parent, library_path()):
        candidate = root / path
        if candidate.is_file():
            return candidate.resolve()
    return None
