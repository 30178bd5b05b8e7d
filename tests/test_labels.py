"""A layer's label writes every argument that changes its module, as the source writes it:
parsed back as a layer it binds the same attributes; and `diff` names every layer whose module
differs, with both labels. Checked for every op of the registry on its usage examples and on
variations of each of its arguments, generated from the op's parameters."""

from __future__ import annotations

from pathlib import Path

import pytest

import cnndsl
from cnndsl.analysis.compare import compare
from cnndsl.cli import main
from cnndsl.ir import LintError
from cnndsl.ops import REGISTRY, Op, dims
from cnndsl.ops.registry import written
from tests.conftest import wrap

# values as the source may write them; each argument of each op is tried with those it takes
LITERALS = ("true", "false", "0", "1", "2", "3", "2x1", "1x3", "0.5", "0.25", "2.5", "-0.2", "2e-1",
            "(1, 0)", "(2, 0, 1)", "(0,)")


def typed(attrs: dict) -> dict:
    """Attributes with their types: 1 and 1.0, or 1 and true, are different arguments."""
    return {k: (type(v), v) for k, v in attrs.items()}


def network_text(op: Op, text: str, shape: tuple, outputs: int) -> str:
    """A network whose one layer of `op` is written `text`, on an input of `shape`."""
    if op.is_input:
        return f"network T {{\n    {text}\n}}\n"
    if op.merge:
        text += " { identity | identity }"
    elif outputs > 1:
        text = f"({', '.join(f't{i}' for i in range(outputs))}) = {text}\noutput t0"
    return wrap(text, dims(shape))


def build(op: Op, text: str, shape: tuple, outputs: int = 1) -> cnndsl.Network:
    return cnndsl.check_text(network_text(op, text, shape, outputs), net="T")


def the_layer(net: cnndsl.Network, op: Op):
    (layer,) = [layer for layer in net.layers() if layer.op == op.name]
    return layer


def example_layers(ops: list[Op] | None = None, own: bool = False) -> list[tuple[Op, dict, tuple]]:
    """(op, attrs, input shape) of every layer in the usage examples of `ops` (default: all),
    once each; with `own`, only the layers of the op whose example it is."""
    found, seen = [], set()
    for op in ops or REGISTRY.values():
        for text, shape in op.usage_examples():
            for layer in cnndsl.check_text(wrap(text, dims(shape))).layers():
                key = (layer.op, repr(typed(layer.attrs)), layer.input_shapes[:1])
                if key not in seen and (layer.op == op.name or not own):
                    seen.add(key)
                    found.append((layer.entry, layer.attrs, layer.input_shapes[0] if layer.inputs else ()))
    return found


def variant_text(op: Op, attrs: dict, name: str, literal: str, suffix: bool) -> str:
    """The layer with argument `name` written `literal` (a kernel's `/S` where `suffix`), its
    other positional arguments as they are and its other keywords left to their defaults."""
    words = [op.name]
    for p in op.params:
        if p.positional:
            words.append(literal if p.name == name else written(attrs[p.name], p.symbols))
            if p.stride and name == "stride" and suffix:
                words[-1] += "/" + literal
    if not suffix and any(p.name == name and not p.positional for p in op.params):
        words.append(f"{name}={literal}")
    return " ".join(words)


def variations() -> list[tuple[Op, str, dict, tuple, str, dict]]:
    """(op, argument, attrs, input shape, variant text, its attrs): for each layer of each op's
    own usage examples, each argument written with each literal it takes that changes it."""
    out = []
    for op, attrs, shape in example_layers(own=True):
        for p in op.params:
            for literal in (*LITERALS, *p.symbols):
                for suffix in (False, True) if p.name == "stride" and any(q.stride for q in op.params) else (False,):
                    text = variant_text(op, attrs, p.name, literal, suffix)
                    try:
                        layer = elaborated(op, text, shape, op.outputs(attrs) > 1)
                    except cnndsl.CnnError:
                        continue  # a value the argument does not take, or a shape it does not fit
                    except LintError as exc:  # see test_no_variation_breaks_the_ir
                        BROKEN.append(f"{text} on {dims(shape)}: {exc}")
                        continue
                    if typed(layer.attrs)[p.name] != typed(attrs)[p.name]:
                        out.append((op, p.name, attrs, shape, text, layer.attrs))
    return out


def elaborated(op: Op, text: str, shape: tuple, several: bool):
    """The layer `text` elaborates into; a layer of `several` outputs is bound to as many names
    as it has (the first count that elaborates)."""
    counts = range(2, 9) if several else range(1, 2)
    for outputs in counts:
        try:
            return the_layer(build(op, text, shape, outputs), op)
        except cnndsl.CnnError:
            if outputs == counts[-1]:
                raise


BROKEN: list[str] = []  # variations that elaborate into a graph the IR's lint refuses
EXAMPLES = example_layers()
VARIATIONS = variations()


def test_no_variation_breaks_the_ir():
    assert not BROKEN


def test_every_argument_of_every_op_has_variations():
    varied = {(op.name, name) for op, name, *_ in VARIATIONS}
    assert varied == {(op.name, p.name) for op in REGISTRY.values() for p in op.params}


LAYERS = EXAMPLES + [(op, new, shape) for op, _, _, shape, _, new in VARIATIONS]


@pytest.mark.parametrize("op,attrs,shape", LAYERS, ids=[op.describe(attrs) for op, attrs, _ in LAYERS])
def test_a_label_parsed_back_binds_the_same_layer(op, attrs, shape):
    label = op.describe(attrs)
    again = the_layer(build(op, label, shape, op.outputs(attrs)), op)
    assert typed(again.attrs) == typed(attrs), label
    assert again.label == label


@pytest.mark.parametrize("text,label", [
    ("avgpool 3x3/1 pad=1", "avgpool 3x3/1 pad=1"),  # the stride is not the kernel: written
    ("maxpool 3x3", "maxpool 3x3"),                  # the stride is the kernel: inferred, left out
    ("maxpool 3x3/3", "maxpool 3x3"),
    ("maxpool 2x3 stride=2x3", "maxpool 2x3"),
    ("conv 3x3 8 pad=2 dilation=2", "conv 3x3 8 pad=2 dilation=2"),
    ("conv 3 8 stride=2x1 pad=(0, 1) groups=1", "conv 3x3/2x1 8 pad=0x1"),
    ("bn eps=1e-5 momentum=0.5", "bn momentum=0.5"),
    ("relu inplace=true", "relu inplace=true"),
])
def test_labels_write_what_changes_the_module(text, label):
    assert cnndsl.check_text(wrap(text, "4x9x9")).layer(text.split()[0] + "1").label == label


@pytest.mark.parametrize("op,name,attrs,shape,text,new", VARIATIONS,
                         ids=[f"{v[0].name}-{v[1]}-{v[4]}" for v in VARIATIONS])
def test_diff_names_each_layer_whose_module_differs(op, name, attrs, shape, text, new):
    outputs = op.outputs(attrs)
    base = build(op, op.describe(attrs), shape, outputs)
    changed = build(op, text, shape, op.outputs(new))
    qualname = the_layer(base, op).qualname
    rows = {d.name: d for d in compare(base, changed).differences}
    assert qualname in rows, f"{op.describe(attrs)} -> {text}"
    assert rows[qualname].labels == (op.describe(attrs), op.describe(new))


def test_diff_of_modules_that_agree_in_shape_and_counts(tmp_path: Path, capsys):
    """The issue's case: padding and dilation, and a norm's eps, change no shape or count."""
    a, b = tmp_path / "a.cnn", tmp_path / "b.cnn"
    a.write_text(wrap("conv 3x3 8 pad=1, bn", "3x16x16"))
    b.write_text(wrap("conv 3x3 8 pad=2 dilation=2, bn eps=0.001", "3x16x16"))
    assert main(["diff", str(a), str(b)]) == 0
    lines = [line.split() for line in capsys.readouterr().out.splitlines()]
    assert ["(no", "layer", "differs)"] not in lines
    assert lines[2][0] == "conv1" and lines[3] == "conv 3x3 8 pad=1 -> conv 3x3 8 pad=2 dilation=2".split()
    assert lines[4][0] == "bn1" and lines[5] == "bn -> bn eps=0.001".split()


def test_diff_names_the_layer_inside_a_block_whose_call_reads_the_same(tmp_path: Path, capsys):
    block = "block unit(c) {{ conv 3x3 c pad=1, bn{} }}\n"
    a, b = tmp_path / "a.cnn", tmp_path / "b.cnn"
    a.write_text(block.format("") + wrap("unit(4)", "3x8x8"))
    b.write_text(block.format(" momentum=0.3") + wrap("unit(4)", "3x8x8"))
    assert main(["diff", str(a), str(b)]) == 0
    out = capsys.readouterr().out
    assert "unit1.bn1: bn  ->  bn momentum=0.3" in out and "(no layer differs)" not in out


def test_diff_lists_rows_in_the_order_of_both_networks():
    """A row only the second network has stands where that network has it, not after every row of the
    first (a newcomer's diff showed B's conv1 after A's fc2)."""
    text = ("network A {\n    input 3x32x32\n    conv 3x3 16 pad=1, relu, maxpool 2x2\n"
            "    conv 3x3 32 pad=1, relu, maxpool 2x2\n    flatten, fc 10\n}\n"
            "network B {\n    input 3x32x32\n    conv 3x3 16 pad=1, relu, maxpool 2x2\n"
            "    conv 3x3 32 pad=1, bn, relu, maxpool 2x2\n    conv 3x3 32 pad=1, relu\n    flatten, fc 10\n}\n")
    a, b = cnndsl.check_text(text, net="A"), cnndsl.check_text(text, net="B")
    names = [d.name for d in compare(a, b).differences]
    for net in (a, b):
        order = [layer.qualname for layer in net.layers()]
        mine = [n for n in names if n in order]
        assert mine == sorted(mine, key=order.index), (net.name, names)
    assert {"bn1", "conv3"} <= set(names) and names.index("bn1") < names.index("conv3")
