"""Public code says what it does: every public function, class and method of cnndsl has a
docstring, and the central API's docstrings state the two things a user relies on most: that
shapes are per sample (no batch axis) and which errors are raised.

Public means a module-level function or class, or a method of any class (a private helper
class's public methods too), whose name does not start with `_`; dunder methods and functions
nested in functions are not counted.
"""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

import cnndsl
from cnndsl.analysis import analyse
from cnndsl.api import Request, compile
from tests.conftest import ROOT

PACKAGE = ROOT / "cnndsl"
DEFINITIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


def undocumented(path: Path, root: Path = ROOT) -> list[str]:
    """`file:line: Qualified.name` (the file relative to `root`) for each public definition in
    `path` without a docstring."""
    missing: list[str] = []

    def visit(body: list[ast.stmt], prefix: str) -> None:
        for node in body:
            if not isinstance(node, DEFINITIONS):
                continue
            if isinstance(node, ast.ClassDef):
                visit(node.body, f"{prefix}{node.name}.")
            if not node.name.startswith("_") and ast.get_docstring(node) is None:
                missing.append(f"{path.relative_to(root)}:{node.lineno}: {prefix}{node.name}")

    visit(ast.parse(path.read_text(encoding="utf-8")).body, "")
    return missing


def test_the_walk_counts_what_the_rule_says(tmp_path: Path) -> None:
    source = tmp_path / "sample.py"
    source.write_text('''
def bare():
    pass


def _private():
    pass


class Open:
    """Documented."""

    def method(self):
        def nested():
            pass

    def __len__(self):
        return 0


class _Hidden:
    def visible(self):
        pass

    def _helper(self):
        pass
''', encoding="utf-8")
    names = [entry.rsplit(": ", 1)[1] for entry in undocumented(source, tmp_path)]
    assert names == ["bare", "Open.method", "_Hidden.visible"]


def test_every_public_function_class_and_method_has_a_docstring() -> None:
    missing = [entry for path in sorted(PACKAGE.rglob("*.py")) for entry in undocumented(path)]
    assert not missing, f"{len(missing)} public definitions without a docstring:\n" + "\n".join(missing)


# the functions a user calls first; each docstring must say that shapes are per sample and name
# the error it raises (those that raise none say so, naming CnnError too)
CENTRAL = [cnndsl.check, cnndsl.check_text, cnndsl.load, compile, cnndsl.draw, Request.check, analyse]


@pytest.mark.parametrize("function", CENTRAL, ids=lambda f: f.__qualname__)
def test_central_api_docstrings_say_per_sample_and_the_errors(function: object) -> None:
    text = " ".join((inspect.getdoc(function) or "").split())  # a phrase may break across lines
    assert "per sample" in text, f"{function.__qualname__}: its docstring does not say shapes are per sample"
    assert "CnnError" in text, f"{function.__qualname__}: its docstring does not name CnnError"
