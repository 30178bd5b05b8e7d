"""What a value of the language is, as messages tell it: the kind of each value (`type_name`), how the
language writes it (`show`), and `TensorRef`, the value a name bound to a tensor holds."""

from __future__ import annotations

from dataclasses import dataclass

from ..ops.inits import Init
from .limits import MAX_INT_BITS


@dataclass(frozen=True)
class TensorRef:
    """A tensor in the graph under construction: output `port` of node `node`."""

    node: int
    port: int = 0


# the built-in functions' names (cnndsl.lang.builtin_functions registers them; this module cannot import it)
_BUILTIN_NAMES: dict[int, str] = {}


def name_builtins(table: dict[str, object]) -> None:
    """Record the names the language gives its built-in functions, for `show`."""
    for name, fn in table.items():
        if callable(fn):
            _BUILTIN_NAMES.setdefault(id(fn), name)


def type_name(value: object) -> str:
    """A value's type as messages name it: int, float, bool, tuple, string, tensor."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, TensorRef):
        return "tensor"
    if callable(value):  # a built-in function written bare: `zeros` (an initialiser), `len`
        return "initialiser" if hasattr(value, "init_name") else "function"
    names = {int: "int", float: "float", tuple: "tuple", str: "string", Init: "initialiser"}
    return names.get(type(value), type(value).__name__)


def show(value: object, width: int = 200) -> str:
    """A value as the language writes it, abbreviated to about `width` characters: a long tuple
    shows its first items and its length, `(0, 0, ... 1000000 items)`, so that a message about
    a huge value stays short."""
    room = [width]

    def text(v: object) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, tuple):
            parts = []
            for item in v:
                if room[0] <= 0:
                    parts.append(f"... {len(v)} items")
                    break
                parts.append(text(item))
                room[0] -= len(parts[-1]) + 2
            return f"({parts[0]},)" if len(v) == 1 and len(parts) == 1 else f"({', '.join(parts)})"
        if isinstance(v, str):
            return repr(v) if len(v) <= width else f"{v[:width]!r}... ({len(v)} characters)"
        if isinstance(v, int) and v.bit_length() > MAX_INT_BITS:
            return f"<an integer of {v.bit_length()} bits>"
        if callable(v):  # a built-in function written bare: an initialiser by the name it is written with
            return _BUILTIN_NAMES.get(id(v)) or getattr(v, "init_name", None) or "a built-in function"
        return str(v)
    return text(value)


def _number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
