"""The package's layout is its pipeline: which stage may import which, and no import cycles.

Every `import` counts, also one inside a function. The stages, in pipeline order (a module
may import its own stage and any stage before it; docs/architecture.md explains each):
"""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx

from tests.conftest import ROOT

PACKAGE = ROOT / "cnndsl"

# stage -> the modules (dotted, below cnndsl) that form it, in pipeline order
STAGES = [
    ("base", ["version", "errors", "files", "cache"]),
    ("ops", ["ops"]),
    ("lang", ["lang"]),
    ("ir", ["ir"]),
    ("elaborate", ["elaborate"]),
    ("request", ["request"]),
    ("analysis", ["analysis"]),
    ("render", ["render"]),
    ("pytorch", ["pytorch"]),
    ("api", ["api"]),
    ("importer", ["importer"]),
    ("training", ["training"]),
    ("editor", ["editor"]),
    ("cli", ["cli"]),
    ("package", ["__init__"]),
]
# the stages that must never import torch, even inside a function
TORCH_FREE = {"base", "lang", "ir", "elaborate", "request", "analysis", "render", "editor"}


def stage_of(module: str) -> int:
    for rank, (_, prefixes) in enumerate(STAGES):
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return rank
    raise AssertionError(f"cnndsl.{module} belongs to no stage: add it to STAGES and docs/architecture.md")


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" and len(parts) > 1 else parts)


def is_module(dotted: list[str]) -> bool:
    where = PACKAGE.joinpath(*dotted)
    return where.with_suffix(".py").is_file() or (where / "__init__.py").is_file()


def imports_of(path: Path) -> set[str]:
    """Modules of cnndsl (dotted, below cnndsl) and top-level packages that `path` imports."""
    name = module_name(path)
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    if path.name == "__init__.py" and name == "__init__":
        package = []
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                target = [*base, *(node.module.split(".") if node.module else [])]
                # `from . import x` imports the submodule x, or else a name the package defines
                for alias in node.names:
                    candidate = [*target, alias.name]
                    found.add(".".join(candidate if is_module(candidate) else target) or "__init__")
            elif node.module:
                found.add("ext:" + node.module.split(".")[0] if not node.module.startswith("cnndsl")
                          else node.module.removeprefix("cnndsl.").removeprefix("cnndsl") or "__init__")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                found.add("ext:" + alias.name.split(".")[0] if not alias.name.startswith("cnndsl")
                          else alias.name.removeprefix("cnndsl.") or "__init__")
    found.discard(name)
    return found


def module_graph() -> nx.DiGraph:
    graph = nx.DiGraph()
    for path in sorted(PACKAGE.rglob("*.py")):
        name = module_name(path)
        graph.add_node(name)
        for target in imports_of(path):
            graph.add_edge(name, target)
    return graph


def test_there_is_no_import_cycle():
    graph = module_graph()
    inner = graph.subgraph(n for n in graph if not n.startswith("ext:"))
    cycles = list(nx.simple_cycles(inner))
    assert not cycles, "import cycles: " + "; ".join(" -> ".join([*c, c[0]]) for c in cycles)


def test_every_import_goes_down_the_pipeline():
    graph = module_graph()
    wrong = [f"cnndsl.{u} ({STAGES[stage_of(u)][0]}) imports cnndsl.{v} ({STAGES[stage_of(v)][0]})"
             for u, v in graph.edges if not v.startswith("ext:") and stage_of(v) > stage_of(u)]
    assert not wrong, "\n".join(wrong)


def test_front_end_and_analysis_never_import_torch():
    graph = module_graph()
    wrong = [f"cnndsl.{u} imports {v[4:]}" for u, v in graph.edges
             if v in ("ext:torch", "ext:torchvision") and STAGES[stage_of(u)][0] in TORCH_FREE]
    assert not wrong, "\n".join(wrong)


def test_at_most_eight_modules_at_the_top():
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(top) <= 8, top


def test_docs_architecture_lists_the_same_stages_in_the_same_order():
    text = (ROOT / "docs" / "architecture.md").read_text()
    table = text[text.index("## The stages"):text.index("## How data flows")]
    rows = [line.split("|")[1].strip() for line in table.splitlines() if line.startswith("| ") and "---" not in line]
    assert rows[1:] == [name for name, _ in STAGES]
    torch_free = {line.split("|")[1].strip() for line in table.splitlines()
                  if line.startswith("| ") and line.rstrip().endswith("| never |")}
    assert TORCH_FREE <= torch_free


def test_no_subpackage_shadows_a_public_function():
    """`cnndsl.train` is a function; a subpackage of that name would replace it on import."""
    import importlib

    import cnndsl

    for path in sorted(PACKAGE.rglob("*.py")):
        name = module_name(path)
        if name != "__init__" and not name.endswith("__main__"):  # __main__ would run the command
            importlib.import_module(f"cnndsl.{name}")
    for public in cnndsl.__all__:
        assert not isinstance(getattr(cnndsl, public), type(cnndsl)), f"cnndsl.{public} is a module"
