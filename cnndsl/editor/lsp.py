"""`cnndsl lsp`: a language server over stdio, on pygls (the `lsp` extra).

Each open document is checked as a whole on open and on every change (`document.check_document`);
the result serves diagnostics, hover, go to definition, completion and document symbols. Formatting is
offered only when `cnndsl.lang.format.format_text` exists. Positions: LSP counts lines from 0 and
columns in UTF-16 code units; cnndsl's spans count both from 1, columns in characters.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote, urlparse

from lsprotocol import types as lsp

from ..errors import Diagnostic, Span
from ..lang import syntax as ast
from ..ops import REGISTRY
from .document import Checked, check_document, definitions, hover_at, import_target, imports

KEYWORDS = ("network", "block", "input", "output", "let", "import", "if", "else", "for", "in", "repeat", "as",
            "true", "false", "and", "or", "not")
HOVER_ROWS = 12  # instances listed in a hover; a block called more often says how many more


def _utf16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _line(text: str, number: int) -> str:
    lines = text.split("\n")
    return lines[number - 1] if 1 <= number <= len(lines) else ""


def to_position(text: str, line: int, col: int) -> lsp.Position:
    """1-based (line, character column) in `text` -> LSP's 0-based line and UTF-16 column."""
    return lsp.Position(line=max(line - 1, 0), character=_utf16(_line(text, line)[:max(col - 1, 0)]))


def to_range(text: str, span: Span) -> lsp.Range:
    """A span of `text` as an LSP range."""
    return lsp.Range(start=to_position(text, span.line, span.col), end=to_position(text, span.end_line, span.end_col))


def from_position(text: str, pos: lsp.Position) -> tuple[int, int]:
    """An LSP position -> 1-based (line, character column) in `text`."""
    line = _line(text, pos.line + 1)
    units = col = 0
    while col < len(line) and units < pos.character:
        units += _utf16(line[col])
        col += 1
    return pos.line + 1, col + 1


def path_of(uri: str) -> str:
    """The file an URI names (its imports resolve next to it); an unsaved document keeps its URI."""
    parsed = urlparse(uri)
    return unquote(parsed.path) if parsed.scheme == "file" else uri


class Documents:
    """The last check of each open document, by URI."""

    def __init__(self) -> None:
        self.checked: dict[str, Checked] = {}

    def update(self, uri: str, text: str) -> Checked:
        """Check `text` as the document at `uri` now reads, and keep the result."""
        self.checked[uri] = check_document(text, path_of(uri))
        return self.checked[uri]


def _uri(checked: Checked, uri: str, file: str) -> str:
    return uri if file == checked.file else Path(file).resolve().as_uri()


def location(checked: Checked, uri: str, span: Span) -> lsp.Location:
    """Where `span` is, as an LSP location (another file by its absolute URI)."""
    return lsp.Location(uri=_uri(checked, uri, span.file), range=to_range(_text_of(checked, span.file), span))


def _text_of(checked: Checked, file: str) -> str:
    """The text of `file`: this document, a file its program read, else the file on disk (for UTF-16 columns)."""
    if file == checked.file:
        return checked.text
    if checked.program is not None and file in checked.program.sources:
        return checked.program.sources[file]
    try:
        return Path(file).read_text(encoding="utf-8-sig", errors="replace")
    except OSError:
        return ""


def to_diagnostic(checked: Checked, uri: str, diag: Diagnostic) -> lsp.Diagnostic:
    """An LSP diagnostic: at its span when that is in this document, else at the outermost block call or
    import of this document that leads there (else the first line); the block call chain as related
    information, innermost call first, and the hint after the message."""
    related = [lsp.DiagnosticRelatedInformation(location=location(checked, uri, span),
                                                message=f"in block `{name}` called here")
               for name, span in reversed(diag.chain)]
    where, message = diag.span, diag.message
    if where is not None and where.file != checked.file:
        related.insert(0, lsp.DiagnosticRelatedInformation(location=location(checked, uri, where), message=message))
        message = f"{where}: {message}"
        where = next((span for _, span in diag.chain if span.file == checked.file), None) or _import_of(checked, where)
    if diag.hint:
        message += f"\nhint: {diag.hint}"
    severity = lsp.DiagnosticSeverity.Warning if diag.severity == "warning" else lsp.DiagnosticSeverity.Error
    empty = lsp.Range(start=lsp.Position(line=0, character=0), end=lsp.Position(line=0, character=0))
    return lsp.Diagnostic(range=to_range(checked.text, where) if where else empty, message=message,
                          severity=severity, source="cnndsl", related_information=related or None)


def _import_of(checked: Checked, span: Span) -> Span | None:
    """The `import` of this document that reads the file `span` is in, if it imports it directly."""
    target = Path(span.file).resolve()
    return next((imp.span for imp in imports(checked) if import_target(imp.path, checked.file) == target), None)


def hover_text(checked: Checked, line: int, col: int) -> lsp.Hover | None:
    """Markdown: the layer or block call, then one table row per instance of it in each checked network."""
    found = hover_at(checked, line, col)
    if found is None:
        return None
    out = [f"**{found.title}**", "", "| network | layer | as | output | params | MACs |",
           "|---|---|---|---|---:|---:|"]
    for net, path, label, shape, params, macs in found.rows[:HOVER_ROWS]:
        cell = label.replace("|", "\\|")  # a merge's label holds `|`, which would end the cell
        out.append(f"| {net} | `{path}` | `{cell}` | {'x'.join(map(str, shape))} | {params:,} | {macs:,} |")
    if len(found.rows) > HOVER_ROWS:
        out.append(f"\n… and {len(found.rows) - HOVER_ROWS} more")
    return lsp.Hover(contents=lsp.MarkupContent(kind=lsp.MarkupKind.Markdown, value="\n".join(out)),
                     range=to_range(checked.text, found.span))


# the op that begins the layer being written: after the line's start, `{`, `|`, `,` or `->`
_LAYER_START = re.compile(r"(?:^|[{|,]|->)\s*([A-Za-z_][A-Za-z0-9_]*)[^{|,>]*$")


def completions(checked: Checked, line: int, col: int) -> list[lsp.CompletionItem]:
    """The keywords of the op being written first, then every op (with its signature), block and keyword."""
    items: list[lsp.CompletionItem] = []
    before = _line(checked.text, line)[:col - 1]
    current = _LAYER_START.search(before)
    op = REGISTRY.get(current.group(1)) if current and current.end(1) < len(before) else None
    if op is not None:
        items += [lsp.CompletionItem(label=f"{p.name}=", kind=lsp.CompletionItemKind.Property, detail=op.signature(),
                                     sort_text=f"0{p.name}") for p in op.params if not p.positional]
    items += [lsp.CompletionItem(label=name, kind=lsp.CompletionItemKind.Function, detail=entry.signature(),
                                 documentation=entry.doc, sort_text=f"1{name}") for name, entry in REGISTRY.items()]
    for d in definitions(checked):
        if isinstance(d, ast.BlockDef):
            params = ", ".join(p.name if p.default is None else f"{p.name}=" for p in d.params)
            items.append(lsp.CompletionItem(label=d.name, kind=lsp.CompletionItemKind.Class,
                                            detail=f"block {d.name}({params})", sort_text=f"1{d.name}"))
    items += [lsp.CompletionItem(label=k, kind=lsp.CompletionItemKind.Keyword, sort_text=f"2{k}") for k in KEYWORDS]
    return items


def symbols(checked: Checked) -> list[lsp.DocumentSymbol]:
    """The networks and blocks this document defines, in order."""
    own = [d for d in definitions(checked) if d.span.file == checked.file]
    out = []
    for d in sorted(own, key=lambda d: (d.span.line, d.span.col)):
        kind = lsp.SymbolKind.Class if isinstance(d, ast.NetworkDef) else lsp.SymbolKind.Function
        whole = to_range(checked.text, d.span)
        head = _line(checked.text, d.span.line)
        start = head.find(d.name, d.span.col - 1)
        name = to_range(checked.text, Span(d.span.file, d.span.line, start + 1, d.span.line, start + 1 + len(d.name)))
        detail = "network" if isinstance(d, ast.NetworkDef) else "block"
        out.append(lsp.DocumentSymbol(name=d.name, kind=kind, range=whole, selection_range=name, detail=detail))
    return out


def formatter():
    """`cnndsl.lang.format.format_text` when this cnndsl has it, else None (formatting is then not offered)."""
    try:
        from ..lang.format import format_text  # type: ignore[import-not-found]
    except ImportError:
        return None
    return format_text
