"""Every op in the registry: its static shape and parameter count equal what torch builds, its
MAC convention in words agrees with its MAC rule, its import rules name torch's objects; and no
module outside cnndsl/ops tests an op's name or family as a string."""

from __future__ import annotations

import ast
import pkgutil
import subprocess
import sys

import pytest
import torch

import cnndsl
from cnndsl.ops import INPUT, REGISTRY, Family
from tests.conftest import ARCH, ROOT, wrap

CASES = [(name, text, shape) for name, op in sorted(REGISTRY.items()) for text, shape in op.usage_examples()]


@pytest.mark.parametrize("name,text,shape", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_op_matches_torch(name, text, shape):
    net = cnndsl.check_text(wrap(text, "x".join(map(str, shape))))
    assert any(layer.op == name for layer in net.layers()), f"example for {name} does not use it"
    model = cnndsl.compile(net).eval()
    x = torch.randn(2, *shape)
    with torch.no_grad():
        out = model(x)
    outs = out if isinstance(out, tuple) else (out,)
    assert [tuple(o.shape[1:]) for o in outs] == net.output_shapes
    assert sum(p.numel() for p in model.parameters()) == net.count_params()


def test_every_op_has_a_family_and_a_backend():
    for name, op in REGISTRY.items():
        assert isinstance(op.family, Family) and op.family is not Family.BLOCK, name  # BLOCK marks block calls
        assert op.name == name
        has_torch = op.module is not None or op.function is not None
        assert has_torch or op.is_input, f"{name} has no torch builder"
    assert [op.name for op in REGISTRY.values() if op.is_input] == [INPUT.name]


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_the_mac_convention_says_whether_macs_are_counted(name):
    """An op with a MAC convention in words counts MACs on its examples; one without counts none."""
    op = REGISTRY[name]
    counts = []
    for text, shape in op.usage_examples():
        net = cnndsl.check_text(wrap(text, "x".join(map(str, shape))))
        counts += [REGISTRY[layer.op].count_macs(layer.attrs, list(layer.input_shapes), layer.shapes)
                   for layer in net.layers() if layer.op == name]
    assert counts, f"no example uses {name}"
    assert any(counts) == bool(op.macs), f"{name}: MACs {counts}, convention {op.macs!r}"


def test_per_op_param_rule_matches_module():
    """Per layer, not only in total: each module's parameters equal the op's rule."""
    net = cnndsl.check(ARCH / "googlenet.cnn", net="googlenet")
    model = cnndsl.compile(net)
    modules = dict(model.named_modules())
    for layer in net.layers():
        expected = REGISTRY[layer.op].count_params(layer.attrs, layer.input_shapes)
        got = sum(p.numel() for p in modules[layer.qualname].parameters()) if layer.qualname in modules else 0
        assert got == expected == layer.params, layer.qualname


# ---- import rules: registered with the ops, keyed by paths that name torch's objects ----------


def test_every_import_rule_names_a_torch_object():
    from torch import nn

    from cnndsl.ops.importing import CALL_RULES, MODULE_RULES

    for path in MODULE_RULES:
        target = pkgutil.resolve_name(path)
        assert isinstance(target, type) and issubclass(target, nn.Module), path
    for path in CALL_RULES:
        assert callable(pkgutil.resolve_name(path)), path


def test_the_registry_does_not_import_torch():
    code = "import sys, cnndsl.ops, cnndsl.ops.importing, cnndsl.ops.docs; assert 'torch' not in sys.modules"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


# ---- no module outside cnndsl/ops branches on an op's name or family --------------------------

OP_WORDS = set(REGISTRY) | {f.value for f in Family}  # op names and family names


def _strings(node: ast.AST) -> list[ast.Constant]:
    """The string literals a node is or holds: `"conv"`, `("add", "concat")`, `frozenset({...})`."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node]
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        return [c for e in node.elts for c in _strings(e)]
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("set", "frozenset", "tuple"):
        return [c for a in node.args for c in _strings(a)]
    return []


def op_word_tests(source: str) -> list[tuple[int, str]]:
    """(line, word) for each op or family name written as a string literal where it is tested:
    compared (`op == "conv"`), in a literal container something is tested against (directly or
    through a name bound to it: `HEAVY = {"conv", "fc"}` ... `f in HEAVY`), as a `case`, or as
    the keys of a dict keyed mostly by such names (a table by op or family)."""
    tree = ast.parse(source)
    bound: dict[str, list[ast.Constant]] = {}
    for node in ast.walk(tree):
        if isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for t in targets:
                if isinstance(t, ast.Name) and not isinstance(node.value, ast.Constant):
                    bound[t.id] = _strings(node.value)
    found: list[ast.Constant] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            for operand in (node.left, *node.comparators):
                found += _strings(operand) + (bound.get(operand.id, []) if isinstance(operand, ast.Name) else [])
        elif isinstance(node, ast.MatchValue):
            found += _strings(node.value)
        elif isinstance(node, ast.Dict):
            keys = [k for k in node.keys if k is not None and _strings(k)]
            if 2 * sum(k.value in OP_WORDS for k in keys) > len(node.keys):
                found += keys
    return sorted({(c.lineno, c.value) for c in found if c.value in OP_WORDS})


def test_the_scanner_finds_op_name_tests():
    source = """
if op == "conv" or layer.op != 'input':
    pass
ok = family in ("act", "norm") or kind not in {"merge"}
HEAVY = frozenset({"fc", "pool"})
heavy = family in HEAVY
COLOURS = {"conv": 1, "block": 2, "_line": 3}
match op:
    case "add":
        pass
meta = {"input": shape, "options": 1, "command": 2}  # a JSON key, not a table by op
fx = node.op == "placeholder"
"""
    words = [w for _, w in op_word_tests(source)]
    assert sorted(words) == sorted(["conv", "input", "act", "norm", "merge", "fc", "pool", "conv", "block", "add"])


def test_no_module_outside_ops_compares_op_names():
    """Op knowledge lives in cnndsl/ops: elsewhere an op is asked (`op.is_input`, `op.family is
    Family.MERGE`, `op.drawn`) or named by a constant exported from cnndsl.ops (`CONCAT.name`)."""
    package = ROOT / "cnndsl"
    found = [f"{path.relative_to(ROOT)}:{line}: {word!r}" for path in sorted(package.rglob("*.py"))
             if "ops" not in path.relative_to(package).parts[:1]
             for line, word in op_word_tests(path.read_text(encoding="utf-8"))]
    assert not found, "op or family names tested as strings (use the registry entry):\n" + "\n".join(found)
