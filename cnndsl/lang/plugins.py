"""User-defined ops from Python: plugin modules, loaded only when a command or call names them.

A plugin is a Python module that, when imported, calls `register` (public as
`cnndsl.register_ops`) with `cnndsl.ops.Op` entries built like the built-in ones. `load` imports
the plugins a user names (`--plugin NAME`, `cnndsl.load(..., plugins=[NAME])`): NAME is an installed
plugin's entry-point name (group `cnndsl.ops`), an importable module, or a `.py` file. Installed
plugins are never loaded unless named, so what a `.cnn` file means does not depend on what happens to
be installed, and no code runs that the user did not ask for; `.cnn` text itself never names Python
(docs/plugins.md). A plugin's op must be a word the language can write: an identifier that is not a
keyword and not a built-in op's name; it needs a shape rule and a torch builder. Every refusal is a
CnnError naming the plugin module.

This module belongs to the front end (the language's words are the grammar's), so it never imports
torch; a plugin module may, though it need not (builders receive `nn` / `torch` as arguments).
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import re
import sys
from collections.abc import Callable, Iterable
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path

from ..errors import CnnError
from ..ops import BUILTIN_OPS, REGISTRY, Family, Op, Param, ShapeError
from .grammar import keywords

ENTRY_POINT_GROUP = "cnndsl.ops"
GUIDE = "see docs/plugins.md"
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")  # the grammar's NAME: ASCII only

# module name -> the ops it registered (kept, so that a plugin imported once can be loaded again
# after the registry was reset, and so that two plugins claiming one name are both named)
_DECLARED: dict[str, tuple[Op, ...]] = {}
_LOADING: list[str] = []  # the plugin modules being imported by `load`, innermost last


def register(*ops: Op) -> None:
    """Add plugin ops to the registry, as `cnndsl.register_ops(op, ...)` in a plugin module.

    Raises CnnError, naming the plugin module, for an entry that is not an `Op`; a name that is not
    a word of the language (`[A-Za-z_][A-Za-z0-9_]*`), is a keyword (`for`, `block`, ...) or a
    built-in op's, or is registered already by another module; no shape rule (`infer`); no torch
    builder, or both (`module=` or `function=`); a family of its own kind (IO, BLOCK); a parameter that
    is not a `Param` with a callable kind, or two of one name. Nothing is registered when one fails.
    """
    module = _LOADING[-1] if _LOADING else sys._getframe(1).f_globals.get("__name__", "__main__")
    seen: set[str] = set()
    for op in ops:
        _validate(op, module)
        if op.name in seen:
            raise CnnError(f"plugin module '{module}' registers op '{op.name}' twice", hint=GUIDE)
        seen.add(op.name)
    ops = tuple(_guarded(op, module) for op in ops)
    _DECLARED[module] = (*(op for op in _DECLARED.get(module, ()) if op.name not in seen), *ops)
    for op in ops:
        REGISTRY[op.name] = op


def owner(name: str) -> str | None:
    """The plugin module whose op holds `name` in the registry now (None for a built-in, an unknown op,
    or one registered by hand into REGISTRY)."""
    return _owner(name)


# the rules of an entry that cnndsl calls while checking and analysing a network; a plugin's bug in
# one of them is reported as the plugin's, naming op and module, never as cnndsl's internal error
_RULES = ("count_params", "count_macs", "warn", "drops", "prepare", "reach", "window", "label", "outputs")


def _guarded(op: Op, module: str) -> Op:
    """`op` with its shape rule checked (a tuple of shapes of positive ints) and every rule's
    unexpected exception turned into a message that blames the plugin (ShapeError for `infer`, which
    the elaborator locates at the layer; CnnError for the others)."""
    where = f"op '{op.name}' of plugin module '{module}'"

    def infer(attrs, in_shapes):
        try:
            shapes = op.infer(attrs, in_shapes)
        except ShapeError:
            raise
        except Exception as exc:  # noqa: BLE001 (any bug of the plugin's code)
            raise ShapeError(f"{where} failed in its shape rule: {type(exc).__name__}: {exc}") from None
        if not _are_shapes(shapes):
            raise ShapeError(f"{where}: its shape rule returned {shapes!r:.60}, not a tuple of shapes "
                             "(give `(shape,)` for one output, each shape a tuple of positive ints)")
        return tuple(tuple(s) for s in shapes)

    rules = {name: _blaming(getattr(op, name), where, name) for name in _RULES
             if getattr(op, name) is not None and getattr(op, name) is not getattr(_DEFAULTS, name)}
    return dataclasses.replace(op, infer=infer, **rules)


def _blaming(rule: Callable, where: str, name: str) -> Callable:
    def call(*args):
        try:
            return rule(*args)
        except (ShapeError, CnnError):
            raise
        except Exception as exc:  # noqa: BLE001 (any bug of the plugin's code)
            raise CnnError(f"{where} failed in its rule `{name}`: {type(exc).__name__}: {exc}",
                           hint="this is a bug in the plugin, not in the network") from None
    call.__wrapped__ = rule
    return call


def _are_shapes(shapes: object) -> bool:
    return (isinstance(shapes, (tuple, list)) and len(shapes) > 0
            and all(isinstance(s, (tuple, list)) and len(s) > 0
                    and all(isinstance(d, int) and not isinstance(d, bool) for d in s) for s in shapes))


_DEFAULTS = Op("_defaults", Family.OTHER, "", infer=lambda a, s: ())


def _owner(name: str) -> str | None:
    current = REGISTRY.get(name)
    return next((module for module, ops in _DECLARED.items() if any(op is current for op in ops)), None)


def _validate(op: object, module: str) -> None:
    """CnnError naming `module` when `op` cannot be a plugin's op (see `register`)."""
    where = f"plugin module '{module}'"
    if not isinstance(op, Op):
        raise CnnError(f"{where} registers {type(op).__name__} {op!r:.60}, not a cnndsl.ops.Op", hint=GUIDE)
    name = op.name
    if not isinstance(name, str) or not _WORD.fullmatch(name):
        raise CnnError(f"{where} registers an op named {name!r}, which is not a name the language can write "
                       "(letters, digits and underscores, not starting with a digit)", hint=GUIDE)
    if name in keywords():
        raise CnnError(f"{where} registers an op named '{name}', a keyword of the language", hint="rename it")
    if name in BUILTIN_OPS:
        raise CnnError(f"{where} registers an op named '{name}', which clashes with the built-in op '{name}'",
                       hint="rename it")
    owner = _owner(name)
    if name in REGISTRY and owner != module:
        raise CnnError(f"{where} registers an op named '{name}', already registered by "
                       + (f"plugin module '{owner}'" if owner else "another module"),
                       hint="load only one of them, or rename one op")
    if not callable(op.infer):
        raise CnnError(f"{where}: op '{name}' has no shape rule", hint="give Op(infer=...); " + GUIDE)
    if (op.module is None) == (op.function is None):
        raise CnnError(f"{where}: op '{name}' needs one torch builder, "
                       + ("not both module= and function=" if op.module else "module= or function="), hint=GUIDE)
    if not isinstance(op.family, Family) or op.family in (Family.IO, Family.BLOCK):
        raise CnnError(f"{where}: op '{name}' has family {op.family!r}",
                       hint="one of " + ", ".join(f"Family.{f.name}" for f in Family if f not in (Family.IO,
                                                                                             Family.BLOCK)))
    _validate_params(op, where)


def _validate_params(op: Op, where: str) -> None:
    names = [p.name for p in op.params if isinstance(p, Param)]
    for p in op.params:
        if not isinstance(p, Param) or not callable(p.kind):
            raise CnnError(f"{where}: op '{op.name}' has a parameter {p!r:.60} that is not a Param with a callable "
                           "kind", hint="Param(name, integer(1)), with a kind from cnndsl.ops")
        if not isinstance(p.name, str) or not _WORD.fullmatch(p.name) or p.name in keywords():
            raise CnnError(f"{where}: op '{op.name}' has a parameter named {p.name!r}, which the language cannot "
                           "write as a keyword argument", hint="rename it")
        if names.count(p.name) > 1:
            raise CnnError(f"{where}: op '{op.name}' has two parameters named '{p.name}'")


def installed() -> dict[str, str]:
    """The installed plugins, not loaded: entry-point name -> module (group `cnndsl.ops`)."""
    return {ep.name: ep.value for ep in entry_points(group=ENTRY_POINT_GROUP)}


def load(names: Iterable[str]) -> list[str]:
    """Load the plugins `names` (entry-point names, module names or `.py` files), each once; returns
    the names of the ops they provide, in order. Loading is idempotent: a plugin loaded before (or
    imported by hand) has its ops put back if the registry lost them.

    Raises CnnError for a name that is neither an installed plugin nor an importable module or file,
    a plugin whose import fails (its exception named), one that registers no op, and everything
    `register` refuses.
    """
    provided: list[str] = []
    for name in names:
        module = _import(name)
        ops = _DECLARED.get(module)
        if not ops:
            raise CnnError(f"plugin '{name}' (module '{module}') registers no op",
                           hint="a plugin module calls cnndsl.register_ops(Op(...)) when imported; " + GUIDE)
        for op in ops:
            if REGISTRY.get(op.name) is not op:
                _validate(op, module)
                REGISTRY[op.name] = op
        provided += [op.name for op in ops]
    return provided


def _import(name: object) -> str:
    """Import plugin `name`; returns its module's name."""
    if not isinstance(name, str) or not name:
        raise CnnError(f"a plugin is named by a string (an installed plugin, a module or a .py file), got {name!r}")
    if name.endswith(".py"):
        return _run_file(Path(name))
    entry = next((ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name == name), None)
    module = entry.module if isinstance(entry, EntryPoint) else name
    if not all(part.isidentifier() for part in module.split(".")):
        raise CnnError(f"no plugin named '{name}'", hint=_known())
    if module in sys.modules and module in _DECLARED:
        return module
    _LOADING.append(module)
    try:
        importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name and (module == exc.name or module.startswith(exc.name + ".")):
            raise CnnError(f"no plugin named '{name}': no installed plugin or importable module has that name",
                           hint=_known()) from None
        raise _failed(name, exc, f"python -c 'import {module}'") from None
    except CnnError:
        raise
    except Exception as exc:  # noqa: BLE001 (a plugin's own bug: any exception, reported without a traceback)
        raise _failed(name, exc, f"python -c 'import {module}'") from None
    finally:
        _LOADING.pop()
    return module


def _run_file(path: Path) -> str:
    """Import a plugin given as a file, as module `cnndsl_plugin_<stem>` (its own name is not imported)."""
    if not path.is_file():
        raise CnnError(f"plugin file '{path}' does not exist or is not a file")
    module = "cnndsl_plugin_" + re.sub(r"\W", "_", path.stem)
    loaded = sys.modules.get(module)
    if loaded is not None and Path(getattr(loaded, "__file__", "")).resolve() == path.resolve():
        return module
    spec = importlib.util.spec_from_file_location(module, path)
    if spec is None or spec.loader is None:
        raise CnnError(f"plugin file '{path}' cannot be imported as Python")
    code = importlib.util.module_from_spec(spec)
    sys.modules[module] = code
    _LOADING.append(module)
    try:
        spec.loader.exec_module(code)
    except CnnError:
        sys.modules.pop(module, None)
        raise
    except Exception as exc:  # noqa: BLE001 (as in _import)
        sys.modules.pop(module, None)
        raise _failed(str(path), exc, f"python {path}") from None
    finally:
        _LOADING.pop()
    return module


def _failed(name: str, exc: BaseException, command: str) -> CnnError:
    """The CnnError for a plugin whose import raised `exc`: its type and first line, and the
    `command` that shows the traceback."""
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return CnnError(f"plugin '{name}' failed to import: {type(exc).__name__}" + (f": {first}" if first else ""),
                    hint=f"`{command}` shows the traceback")


def _known() -> str:
    names = sorted(installed())
    return ("installed plugins: " + ", ".join(names) if names else "no plugin is installed (entry-point group "
            f"'{ENTRY_POINT_GROUP}')") + "; a module must be importable (on PYTHONPATH) and a file end in .py"
