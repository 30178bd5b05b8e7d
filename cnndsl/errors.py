"""The one error type of cnndsl, its source spans, and compiler-style rendering.

Every problem in a user's text becomes a :class:`CnnError` carrying a :class:`Span` and
an optional hint; :func:`render` prints it the way a C compiler would::

    alexnet.cnn:7:5: error: `add` branches disagree: 256x13x13 vs 384x13x13
        add { conv 3x3 384 pad=1 | identity }
        ^~~
      in block `residual` called at alexnet.cnn:12:9
"""

from __future__ import annotations

import difflib
import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")


@dataclass(frozen=True)
class Span:
    """A region of a source file; lines and columns are 1-based, `end_col` exclusive."""

    file: str
    line: int
    col: int
    end_line: int
    end_col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


# A block call chain: (block name, span of the call), outermost first.
CallChain = tuple[tuple[str, Span], ...]


@dataclass
class Diagnostic:
    """One located message: an error or a warning."""

    message: str
    span: Span | None = None
    hint: str | None = None
    chain: CallChain = ()
    severity: str = "error"
    drops: bool = False  # a warning that a layer leaves input rows or columns out (`Op.drops`)

    def render(self, sources: dict[str, str] | None = None) -> str:
        """This diagnostic as the compiler prints it (see `render`); `sources` maps file -> text, else the file
        is read."""
        return render(self, sources)


class CnnError(Exception):
    """The single exception type for problems in user input: `.cnn` text, and the values, shapes and paths
    given for it from Python or the command line. It carries a `Diagnostic` (message, optional `Span`,
    hint, block call chain); `str()` is `file:line:col: message` and `render()` the full compiler-style
    report. The CLI prints it and exits with status 1."""

    def __init__(self, message: str, span: Span | None = None, hint: str | None = None,
                 chain: CallChain = ()) -> None:
        super().__init__(message)
        self.diagnostic = Diagnostic(message, span, hint, chain)

    @property
    def message(self) -> str:
        """The message, without location or hint."""
        return self.diagnostic.message

    @property
    def span(self) -> Span | None:
        """Where in the source the problem is; None for a value given from Python or the command line."""
        return self.diagnostic.span

    def with_chain(self, chain: CallChain) -> CnnError:
        """Attach a block call chain unless a deeper one is already there."""
        if not self.diagnostic.chain:
            self.diagnostic.chain = chain
        return self

    def render(self, sources: dict[str, str] | None = None) -> str:
        """The error as the compiler prints it (see `render`); `sources` maps file -> text, else the file is
        read."""
        return render(self.diagnostic, sources)

    def __str__(self) -> str:
        where = f"{self.span}: " if self.span else ""
        return printable(f"{where}{self.message}")


def add_context(exc: CnnError, sources: dict[str, str] | None = None) -> CnnError:
    """Attach to `exc`, once, what `render` shows under its first line (the source line, a caret, the block
    call chain, the hint) as a note (PEP 678), which Python's traceback prints under `str(exc)`: a
    notebook sees what the command line prints. Returns `exc`."""
    if not getattr(exc, "__notes__", None):
        rest = exc.render(sources).partition("\n")[2]
        if rest:
            exc.add_note(rest)
    return exc


def explained(fn: Callable[P, R]) -> Callable[P, R]:
    """A public API function whose CnnError carries its context as a note (`add_context`)."""
    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except CnnError as exc:
            add_context(exc)
            raise
    return wrapper


def closest(word: str, candidates: object) -> str | None:
    """The candidate `word` most likely misspells, or None."""
    names = sorted(str(c) for c in candidates)
    close = difflib.get_close_matches(word, names, n=1, cutoff=0.6)
    if not close:
        # prefixes: 'convolution' -> 'conv'
        close = [n for n in names if len(n) >= 2 and word.startswith(n)][:1]
    return close[0] if close else None


def suggest(word: str, candidates: object) -> str | None:
    """`did you mean 'conv'?` for the closest candidate, or None."""
    close = closest(word, candidates)
    return f"did you mean '{close}'?" if close else None


# characters that a terminal obeys rather than shows: C0 and C1 controls and DEL, and the bidirectional
# overrides that reorder what follows ("trojan source"); user text shows them escaped (the line under a
# message as '?', so that the caret stays under its column)
_UNSHOWN = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def printable(text: str) -> str:
    """`text` with its control characters escaped as Python writes them (`\\x1b`), line breaks kept."""
    return _UNSHOWN.sub(lambda m: repr(m.group())[1:-1], text)


def _source_line(span: Span, sources: dict[str, str] | None) -> str | None:
    text = (sources or {}).get(span.file)
    if text is None:
        try:
            text = Path(span.file).read_text(encoding="utf-8-sig", errors="replace")
        except OSError:
            return None
    # lines end at "\n" only, as the lexer counts them (str.splitlines would also break at
    # U+2028, NEL or form feed and show the wrong line)
    lines = text.split("\n")
    if 1 <= span.line <= len(lines):
        return _UNSHOWN.sub("?", lines[span.line - 1].removesuffix("\r").expandtabs(1))
    return None


SHOWN_LINE = 160  # characters of a source line shown under a message; a longer line is cut


def _window(line: str, col: int) -> tuple[str, int]:
    """A long line cut to SHOWN_LINE characters around `col`, and `col` in what is shown."""
    if len(line) <= SHOWN_LINE:
        return line, col
    start = max(0, min(col - 1 - SHOWN_LINE // 4, len(line) - SHOWN_LINE))
    head, tail = ("..." if start else ""), ("..." if start + SHOWN_LINE < len(line) else "")
    return head + line[start:start + SHOWN_LINE] + tail, col - start + len(head)


def _chain_lines(chain: CallChain) -> list[str]:
    """Innermost call first; a run of identical calls (recursion) is shown once with a count."""
    lines: list[str] = []
    calls = list(reversed(chain))
    i = 0
    while i < len(calls):
        j = i
        while j + 1 < len(calls) and calls[j + 1] == calls[i]:
            j += 1
        name, span = calls[i]
        lines.append(f"  in block `{name}` called at {span}" + (f" ({j - i + 1} times)" if j > i else ""))
        i = j + 1
    return lines


def render(diag: Diagnostic, sources: dict[str, str] | None = None) -> str:
    """`file:line:col: severity: message`, the line, a caret under the span, the call chain."""
    span = diag.span
    head = f"{span}: " if span else "cnndsl: "
    out = [printable(f"{head}{diag.severity}: {diag.message}")]
    if span is not None:
        line = _source_line(span, sources)
        if line is not None:
            width = span.end_col - span.col if span.end_line == span.line else len(line) - span.col + 1
            line, col = _window(line, span.col)
            width = max(1, min(width, len(line) - col + 1))
            # the line as written, the caret under the span's column (LANGUAGE.md §8)
            out.append(line)
            out.append(" " * (col - 1) + "^" + "~" * (width - 1))
    out += map(printable, _chain_lines(diag.chain))
    if diag.hint:
        out.append(printable(f"  hint: {diag.hint}"))
    return "\n".join(out)
