"""Reading `.cnn` files: parsing, following `import`, and collecting definitions."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import CnnError, Span
from ..ops import REGISTRY
from . import syntax as ast
from .parser import parse
from .values import show

MAX_FILE_BYTES = 10 * 1024 * 1024  # docs/errors.md, "Limits"
MAX_FILES = 1_000  # files one program reads: itself and everything it imports


def library_path() -> Path:
    """The bundled architectures: inside an installed wheel, or at the top of a checkout."""
    here = Path(__file__).resolve().parent.parent  # the cnndsl package
    for candidate in (here / "architectures", here.parent / "architectures"):
        if candidate.is_dir():
            return candidate
    return here / "architectures"


@dataclass
class Program:
    """The definitions visible from one file, its own and those it imports."""

    file: str
    blocks: dict[str, ast.BlockDef] = field(default_factory=dict)
    networks: dict[str, ast.NetworkDef] = field(default_factory=dict)
    own_networks: list[str] = field(default_factory=list)  # defined in `file` itself, in order
    sources: dict[str, str] = field(default_factory=dict)  # file -> text, for error rendering

    def define(self, d: ast.BlockDef | ast.NetworkDef) -> None:
        """Add a block or network definition. Raises CnnError when its name is an op's, is already defined
        (here or in an imported file), or it declares a parameter twice or a block parameter named
        `in_channels` or `in_shape`."""
        if d.name in REGISTRY:
            kind = "block" if isinstance(d, ast.BlockDef) else "network"
            raise CnnError(f"{kind} '{d.name}' would shadow the op '{d.name}'", d.span, "rename it")
        earlier = self.blocks.get(d.name) or self.networks.get(d.name)
        if earlier is not None:
            raise CnnError(f"'{d.name}' is already defined at {earlier.span}", d.span)
        _check_params(d)
        (self.blocks if isinstance(d, ast.BlockDef) else self.networks)[d.name] = d


# Every block body sees these as the shape of its input; a parameter of the same name would be
# silently replaced by them, so it is refused (docs/language.md, "Blocks, values and control").
BLOCK_INPUT_NAMES = {"in_channels": "the channels of its input", "in_shape": "the shape of its input"}


def _check_params(d: ast.BlockDef | ast.NetworkDef) -> None:
    seen: dict[str, ast.Param] = {}
    for p in d.params:
        if p.name in seen:
            raise CnnError(f"parameter '{p.name}' is declared twice (first at {seen[p.name].span})", p.span)
        seen[p.name] = p
        if isinstance(d, ast.BlockDef) and p.name in BLOCK_INPUT_NAMES:
            raise CnnError(f"a block parameter cannot be named '{p.name}': in every block it is "
                           f"{BLOCK_INPUT_NAMES[p.name]}", p.span, f"rename it, or drop it and use {p.name} as it is")


def read_text(path: Path, span: Span | None = None) -> str:
    """A regular file's text (UTF-8, BOM allowed); never a device, FIFO or directory. Raises CnnError (at
    `span`, the import that named it, if any) for a file that is missing or unreadable, not a regular
    file, over MAX_FILE_BYTES (10 MiB) or not UTF-8: reading errors never escape as OSError."""
    try:
        st = os.stat(path)
    except OSError as exc:
        raise CnnError(f"cannot read '{path}': {exc.strerror.lower()}", span) from None
    if not stat.S_ISREG(st.st_mode):
        raise CnnError(f"'{path}' is not a regular file", span)
    if st.st_size > MAX_FILE_BYTES:
        raise CnnError(f"'{path}' is {st.st_size} bytes; the limit is {MAX_FILE_BYTES}", span)
    try:
        return path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CnnError(f"'{path}' is not UTF-8 text (byte {exc.start})", span) from None
    except OSError as exc:
        raise CnnError(f"cannot read '{path}': {exc.strerror.lower()}", span) from None


def _resolve_import(imp: ast.Import, importer: Path) -> Path:
    """Relative to the importing file; it may not leave that directory tree, except for the
    bundled library, which is searched when the relative path names no file."""
    if not imp.path or "\x00" in imp.path:
        raise CnnError(f"import needs a file name, got {imp.path!r}", imp.span)
    base = importer.parent.resolve()
    library = library_path().resolve()
    try:
        for root in (base, library):
            candidate = (root / imp.path).resolve()
            inside = candidate.is_relative_to(base) or candidate.is_relative_to(library)
            if candidate.exists() and inside:
                return candidate
        candidate = (base / imp.path).resolve()
    except OSError as exc:  # a name too long for the file system, a loop of links, ...
        raise CnnError(f"cannot import {show(imp.path, 60)}: {(exc.strerror or str(exc)).lower()}", imp.span) from None
    if not (candidate.is_relative_to(base) or candidate.is_relative_to(library)):
        raise CnnError(f"import \"{imp.path}\" leaves the directory of the importing file", imp.span,
                       "imports may name files in the same directory tree or the bundled architectures")
    raise CnnError(f"cannot import \"{imp.path}\": no such file", imp.span)


def _load(path: Path, text: str, program: Program, loaded: set[Path]) -> None:
    """Parse a file and, depth first, every file it imports, each once. The walk keeps its own
    stack (a chain of a thousand imports must not exhaust Python's), and a program reads at
    most MAX_FILES files."""
    # the files being read, outermost first (dicts keep order), each with its definitions to go
    stack: dict[Path, Iterator[ast.BlockDef | ast.NetworkDef | ast.Import]] = {}
    _open(path, text, program, stack)
    while stack:
        current = next(reversed(stack))
        d = next(stack[current], None)
        if d is None:
            del stack[current]
        elif isinstance(d, ast.Import):
            target = _resolve_import(d, current)
            if target in stack:
                chain = list(stack)
                cycle = " -> ".join(p.name for p in [*chain[chain.index(target):], target])
                raise CnnError(f"import cycle: {cycle}", d.span)
            if target not in loaded:
                if len(program.sources) >= MAX_FILES:
                    raise CnnError(f"the program imports more than {MAX_FILES} files (the limit)", d.span)
                loaded.add(target)
                _open(target, read_text(target, d.span), program, stack)
        else:
            program.define(d)
            if len(stack) == 1 and isinstance(d, ast.NetworkDef):
                program.own_networks.append(d.name)


def _open(path: Path, text: str, program: Program, stack: dict[Path, Iterator]) -> None:
    module = parse(text, str(program.file if not stack else _display(path)))
    program.sources[module.file] = text
    stack[path] = iter(module.definitions)


def _display(path: Path) -> str:
    try:
        return os.path.relpath(path)
    except ValueError:
        return str(path)


def load_program(path: str | os.PathLike) -> Program:
    """Parse a file and everything it imports (each file once, at most MAX_FILES). Raises CnnError for a
    file that cannot be read (see `read_text`), a syntax error, an import that names no file, leaves the
    importing file's folder (the bundled architectures apart) or closes a cycle, and a definition
    `Program.define` refuses."""
    p = Path(path)
    text = read_text(p)
    program = Program(str(path))
    _load(p.resolve(), text, program, {p.resolve()})
    return program


def program_from_text(text: str, file: str = "<string>") -> Program:
    """A program from text in memory; imports resolve relative to the folder of `file` (the current
    directory for `<string>`). Raises CnnError as `load_program`."""
    program = Program(file)
    _load(Path(file).resolve(), text.removeprefix("\ufeff"), program, set())
    return program
