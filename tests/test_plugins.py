"""Plugin ops from Python (docs/plugins.md): examples/cbam_plugin.py end to end through every command and
the Python API, the refusals of a bad plugin (each a CnnError naming the module, exit 1), and the
discovery of an installed plugin through its entry point, in a subprocess."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import cnndsl
from cnndsl.cli.main import main
from cnndsl.errors import CnnError
from cnndsl.ops import REGISTRY
from tests.conftest import ROOT, wrap

PLUGIN = str(ROOT / "examples" / "cbam_plugin.py")
CNN = str(ROOT / "examples" / "cbam.cnn")
PLUGIN_OPS = ("channel_attention", "spatial_attention")


@pytest.fixture(autouse=True)
def registry():
    """Each test starts and ends with the built-in ops only: other test files read the whole registry
    (the docs' op table), and a plugin's ops stay registered for the process once loaded."""
    before = dict(REGISTRY)
    yield
    REGISTRY.clear()
    REGISTRY.update(before)


def run_cli(*argv: str, capsys) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# ---- the reference: CBAM as Woo et al. 2018 and their code build it, written here independently ----

def reference_cbam_net():
    import torch
    from torch import nn

    class Channel(nn.Module):
        def __init__(self, c: int, r: int) -> None:
            super().__init__()
            self.fc1, self.fc2 = nn.Linear(c, c // r), nn.Linear(c // r, c)

        def forward(self, x):
            def mlp(v):
                return self.fc2(torch.relu(self.fc1(v.flatten(1))))
            gate = torch.sigmoid(mlp(x.mean((2, 3))) + mlp(x.amax((2, 3))))
            return x * gate.view(x.shape[0], -1, 1, 1)

    class Spatial(nn.Module):
        def __init__(self, k: int) -> None:
            super().__init__()
            self.conv, self.bn = nn.Conv2d(2, 1, k, padding=(k - 1) // 2, bias=False), nn.BatchNorm2d(1)

        def forward(self, x):
            return x * torch.sigmoid(self.bn(self.conv(torch.stack([x.max(1).values, x.mean(1)], 1))))

    class Residual(nn.Module):
        def __init__(self, cin: int, c: int, stride: int = 1, r: int = 4) -> None:
            super().__init__()
            self.body = nn.Sequential(nn.Conv2d(cin, c, 3, stride, 1, bias=False), nn.BatchNorm2d(c), nn.ReLU(),
                                      nn.Conv2d(c, c, 3, 1, 1, bias=False), nn.BatchNorm2d(c),
                                      Channel(c, r), Spatial(7))
            self.short = (nn.Sequential(nn.Conv2d(cin, c, 1, stride, bias=False), nn.BatchNorm2d(c))
                          if stride > 1 or cin != c else nn.Identity())

        def forward(self, x):
            return torch.relu(self.body(x) + self.short(x))

    return nn.Sequential(nn.Conv2d(3, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU(),
                         Residual(16, 16), Residual(16, 32, 2), Residual(32, 64, 2),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10))


# ---- the example plugin, end to end -------------------------------------------------------------

def test_check_knows_the_plugin_ops_only_when_named(capsys):
    code, _, err = run_cli("check", CNN, capsys=capsys)
    assert code == 1 and "unknown op 'channel_attention'" in err and "Traceback" not in err
    code, out, _ = run_cli("check", CNN, "--plugin", PLUGIN, capsys=capsys)
    assert code == 0
    assert "cbam_residual3.spatial_attention1" in out and "spatial_attention 7" in out
    assert "output 10" in out


def test_summary_counts_the_parameters_the_torch_modules_hold(capsys):
    code, out, _ = run_cli("summary", CNN, "--plugin", PLUGIN, "--format", "json", capsys=capsys)
    assert code == 0
    summary = json.loads(out)
    net = cnndsl.check(CNN, plugins=[PLUGIN])
    model = cnndsl.compile(net)
    assert summary["totals"]["params"] == sum(p.numel() for p in model.parameters())
    plugin_layers = [layer for layer in net.layers() if layer.op in PLUGIN_OPS]
    assert {layer.op for layer in plugin_layers} == set(PLUGIN_OPS)
    for layer in plugin_layers:
        module = model.get_submodule(layer.qualname)
        assert layer.params == sum(p.numel() for p in module.parameters()), layer.qualname
    rows = {row["name"]: row for row in summary["layers"]}
    assert all(rows[layer.qualname]["params"] == layer.params for layer in plugin_layers if layer.qualname in rows)
    assert "channel_attention and spatial_attention one per weight" in summary["conventions"]


def test_load_gives_the_outputs_of_a_reference_torch_module():
    import torch

    model = cnndsl.load(CNN, plugins=[PLUGIN]).eval()
    reference = reference_cbam_net().eval()
    with torch.no_grad():
        for module in reference.modules():  # batch-norm statistics that are not the identity
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 1.5)
    cnndsl.transfer_weights(reference, model)  # the state_dict by position, every shape checked
    x = torch.randn(3, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(model(x), reference(x), rtol=1e-5, atol=1e-6)


def test_the_example_ops_build_what_their_rules_state():
    """As tests/test_registry.py does for the built-in ops: each example's shapes and parameters are
    what torch builds, and the MAC rule counts where the convention says so."""
    import torch

    cnndsl.load_plugins([PLUGIN])
    for name in PLUGIN_OPS:
        op = REGISTRY[name]
        for text, shape in op.usage_examples():
            net = cnndsl.check_text(wrap(text, "x".join(map(str, shape))))
            model = cnndsl.compile(net).eval()
            with torch.no_grad():
                out = model(torch.randn(2, *shape))
            assert [tuple(out.shape[1:])] == net.output_shapes
            assert sum(p.numel() for p in model.parameters()) == net.count_params()
            layer = next(layer for layer in net.layers() if layer.op == name)
            assert op.count_macs(layer.attrs, list(layer.input_shapes), layer.shapes) > 0 and op.macs


def test_draw_writes_the_plugin_layers(tmp_path, capsys):
    out = tmp_path / "cbam.dot"
    code, _, _ = run_cli("draw", CNN, "--plugin", PLUGIN, "--full", "-o", str(out), capsys=capsys)
    assert code == 0
    dot = out.read_text()
    assert "channel_attention 4" in dot and "spatial_attention 7" in dot
    if shutil.which("dot"):
        svg = tmp_path / "cbam.svg"
        cnndsl.draw(CNN, svg, plugins=[PLUGIN], full=True)
        assert svg.read_text().lstrip().startswith("<")


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
def test_export_checks_the_plugin_ops(fmt, tmp_path, capsys):
    if fmt == "onnx":
        pytest.importorskip("onnx")
    out = tmp_path / f"cbam.{fmt}"
    code, _, err = run_cli("export", CNN, "--plugin", PLUGIN, "--format", fmt, "-o", str(out), capsys=capsys)
    assert code == 0, err
    assert out.stat().st_size > 0 and "agrees with torch" in err


def test_python_export_refuses_a_plugin_module_clearly(tmp_path, capsys):
    out = tmp_path / "cbam.py"
    code, _, err = run_cli("export", CNN, "--plugin", PLUGIN, "--format", "py", "-o", str(out), capsys=capsys)
    assert code == 1 and not out.exists()
    assert "cannot export layer 'cbam_residual1.channel_attention1' as Python" in err
    assert "--format onnx" in err and "Traceback" not in err


def test_a_function_op_of_torch_calls_exports_as_python(tmp_path, capsys):
    import torch

    plugin = tmp_path / "coords.py"
    plugin.write_text(HEADER + textwrap.dedent("""
        def _coords(torch, xs, a):  # CoordConv's extra channels (Liu et al. 2018): y and x in [-1, 1]
            x = xs[0]
            n, _, h, w = x.shape
            ys = torch.linspace(-1.0, 1.0, h).view(1, 1, h, 1).expand(n, 1, h, w)
            xs_ = torch.linspace(-1.0, 1.0, w).view(1, 1, 1, w).expand(n, 1, h, w)
            return torch.cat([x, ys, xs_], 1)

        cnndsl.register_ops(Op("add_coords", Family.RESHAPE, "CoordConv's coordinate channels.",
                               infer=lambda a, s: ((s[0][0] + 2, *s[0][1:]),), function=_coords))
    """))
    spec = tmp_path / "coord.cnn"
    spec.write_text("network Coord {\n    input 3x8x8\n    add_coords, conv 3x3 4 pad=1\n}\n")
    out = tmp_path / "coord_export.py"
    code, _, err = run_cli("export", str(spec), "--plugin", str(plugin), "--format", "py", "-o", str(out),
                           capsys=capsys)
    assert code == 0, err
    namespace: dict = {}
    exec(compile(out.read_text(), str(out), "exec"), namespace)  # noqa: S102 (the file we just exported)
    exported = namespace["Coord"]().eval()
    model = cnndsl.load(str(spec), plugins=[str(plugin)]).eval()
    exported.load_state_dict(model.state_dict())
    x = torch.randn(2, 3, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(exported(x), model(x))
    assert model.state_dict()["conv1.weight"].shape[1] == 5  # the conv sees the two coordinate channels


def test_the_plugins_command_lists_installed_plugins_and_the_ops_of_named_ones(capsys):
    code, out, _ = run_cli("plugins", "--plugin", PLUGIN, capsys=capsys)
    assert code == 0 and "loaded only when named by --plugin" in out
    assert "channel_attention [reduction]" in out and "spatial_attention [kernel]" in out


def test_inputs_and_diff_take_plugins(capsys):
    code, out, _ = run_cli("inputs", CNN, "--plugin", PLUGIN, "--range", "28:32", capsys=capsys)
    assert code == 0 and "32" in out
    code, out, _ = run_cli("diff", CNN, "--plugin", PLUGIN, "--set-b", "classes=5", capsys=capsys)
    assert code == 0 and "fc1" in out


def test_ops_registered_after_the_parser_is_built_parse_and_get_spelling_hints():
    text = "network N {\n    input 8x6x6\n    channel_atention 2\n}\n"
    with pytest.raises(CnnError) as first:
        cnndsl.check_text(text)  # parses (and caches the parse) before the plugin exists
    assert "did you mean" not in (first.value.diagnostic.hint or "")
    with pytest.raises(CnnError) as second:
        cnndsl.check_text(text, plugins=[PLUGIN])
    assert second.value.diagnostic.hint == "did you mean 'channel_attention'?"
    net = cnndsl.check_text(text.replace("atention", "attention"))
    assert [layer.op for layer in net.layers()][-1] == "channel_attention"


def test_loading_twice_or_after_a_reset_gives_the_same_ops():
    assert cnndsl.load_plugins([PLUGIN]) == list(PLUGIN_OPS)
    for name in PLUGIN_OPS:
        del REGISTRY[name]  # as the fixture does between tests
    assert cnndsl.load_plugins([PLUGIN, PLUGIN]) == [*PLUGIN_OPS, *PLUGIN_OPS]
    assert all(name in REGISTRY for name in PLUGIN_OPS)


# ---- refusals ---------------------------------------------------------------------------------------

HEADER = "import cnndsl\nfrom cnndsl.ops import Family, Op, Param, integer\n"
GOOD = "Op('NAME', Family.OTHER, 'doc', infer=lambda a, s: (s[0],), function=lambda torch, xs, a: xs[0])"

BAD_PLUGINS = {
    "builtin": (GOOD.replace("NAME", "conv"), "registers an op named 'conv', which clashes with the built-in op"),
    "keyword": (GOOD.replace("NAME", "repeat"), "registers an op named 'repeat', a keyword of the language"),
    "not_a_word": (GOOD.replace("NAME", "my-op"), "registers an op named 'my-op', which is not a name the language"),
    "non_ascii": (GOOD.replace("NAME", "café"), "registers an op named 'café', which is not a name"),
    "no_infer": (GOOD.replace("infer=lambda a, s: (s[0],)", "infer=None").replace("NAME", "x"),
                 "op 'x' has no shape rule"),
    "no_builder": (GOOD.replace(", function=lambda torch, xs, a: xs[0]", "").replace("NAME", "x"),
                   "op 'x' needs one torch builder, module= or function="),
    "two_builders": (GOOD.replace("function=", "module=lambda nn, a, s: nn.Identity(), function=")
                     .replace("NAME", "x"), "op 'x' needs one torch builder, not both"),
    "input_family": (GOOD.replace("Family.OTHER", "Family.IO").replace("NAME", "x"), "op 'x' has family"),
    "not_an_op": ("'relu'", "registers str 'relu', not a cnndsl.ops.Op"),
    "twin_params": (GOOD.replace("'doc',", "'doc', params=(Param('k', integer(1)), Param('k', integer(1))),")
                    .replace("NAME", "x"), "op 'x' has two parameters named 'k'"),
}


@pytest.mark.parametrize("case", sorted(BAD_PLUGINS))
def test_a_bad_entry_is_a_clear_error_naming_the_plugin_module(case, tmp_path, capsys):
    entry, message = BAD_PLUGINS[case]
    plugin = tmp_path / f"bad_{case}.py"
    plugin.write_text(HEADER + f"cnndsl.register_ops({entry})\n", encoding="utf-8")
    code, _, err = run_cli("check", CNN, "--plugin", str(plugin), capsys=capsys)
    assert code == 1 and "Traceback" not in err
    assert f"plugin module 'cnndsl_plugin_bad_{case}'" in err and message in err, err
    assert set(REGISTRY) == set(cnndsl.ops.BUILTIN_OPS)  # nothing of it was registered


def test_a_missing_failing_or_empty_plugin_is_a_clear_error(tmp_path, capsys):
    code, _, err = run_cli("summary", CNN, "--plugin", "no_such_plugin_module", capsys=capsys)
    assert code == 1 and "no plugin named 'no_such_plugin_module'" in err
    code, _, err = run_cli("check", CNN, "--plugin", str(tmp_path / "missing.py"), capsys=capsys)
    assert code == 1 and "does not exist" in err
    failing = tmp_path / "failing.py"
    failing.write_text("import no_such_dependency_of_a_plugin\n")
    code, _, err = run_cli("check", CNN, "--plugin", str(failing), capsys=capsys)
    assert code == 1 and "failed to import: ModuleNotFoundError" in err and "Traceback" not in err
    empty = tmp_path / "empty.py"
    empty.write_text("x = 1\n")
    code, _, err = run_cli("check", CNN, "--plugin", str(empty), capsys=capsys)
    assert code == 1 and "registers no op" in err
    for bad in ("examples/cbam_plugin.py", 3):  # a string where a list belongs; not a list at all
        with pytest.raises(CnnError, match="plugins takes a list of names"):
            cnndsl.check(CNN, plugins=bad)


def test_two_plugins_claiming_one_name_are_both_named(tmp_path):
    first, second = tmp_path / "first.py", tmp_path / "second.py"
    first.write_text(HEADER + f"cnndsl.register_ops({GOOD.replace('NAME', 'gate')})\n")
    second.write_text(HEADER + f"cnndsl.register_ops({GOOD.replace('NAME', 'gate')})\n")
    with pytest.raises(CnnError, match="plugin module 'cnndsl_plugin_second' registers an op named 'gate', "
                                       "already registered by plugin module 'cnndsl_plugin_first'"):
        cnndsl.load_plugins([str(first), str(second)])


# ---- an installed plugin: found through its entry point, loaded only when named --------------------

def test_an_installed_plugin_is_listed_and_loaded_by_its_entry_point_name(tmp_path):
    site = tmp_path / "site"
    (site / "cbam_ep-1.0.dist-info").mkdir(parents=True)
    (site / "cbam_ep-1.0.dist-info" / "METADATA").write_text("Metadata-Version: 2.1\nName: cbam-ep\nVersion: 1.0\n")
    (site / "cbam_ep-1.0.dist-info" / "entry_points.txt").write_text("[cnndsl.ops]\ncbam = cbam_ep_plugin\n")
    shutil.copy(PLUGIN, site / "cbam_ep_plugin.py")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(ROOT)])}

    def cli(*argv: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "cnndsl.cli", *argv], env=env, cwd=tmp_path,
                              capture_output=True, text=True, timeout=120)

    listed = cli("plugins", "--plugin", "cbam")
    assert listed.returncode == 0, listed.stderr
    assert "cbam  (cbam_ep_plugin)" in listed.stdout and "channel_attention [reduction]" in listed.stdout
    not_named = cli("check", CNN)
    assert not_named.returncode == 1 and "unknown op 'channel_attention'" in not_named.stderr
    named = cli("check", CNN, "--plugin", "cbam", "-q")
    assert named.returncode == 0, named.stderr
    script = textwrap.dedent(f"""
        import cnndsl
        print(cnndsl.load({CNN!r}, plugins=["cbam"]).__class__.__name__)
    """)
    loaded = subprocess.run([sys.executable, "-c", script], env=env, cwd=tmp_path, capture_output=True, text=True,
                            timeout=120)
    assert loaded.returncode == 0 and loaded.stdout.strip() == "CbamNet", loaded.stderr


def test_the_example_plugin_does_not_import_torch():
    script = f"import sys, cnndsl; cnndsl.check({CNN!r}, plugins=[{PLUGIN!r}]); print('torch' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0 and done.stdout.strip() == "False", done.stderr


def test_the_docs_name_every_public_plugin_name():
    text = (ROOT / "docs" / "plugins.md").read_text()
    for name in ("register_ops", "load_plugins", "--plugin", "cnndsl.ops", "Op", "Param", "Family", "integer",
                 "pair", "number", "boolean", "choice"):
        assert name in text, name
    assert "docs/plugins.md" in (ROOT / "README.md").read_text()
    assert "plugins.md" in (ROOT / "docs" / "language.md").read_text()
    assert Path(PLUGIN).is_file()


# a plugin's own bug: each a located error naming the op and its module (exit 1), never cnndsl's
# internal error, and never torch's shape error at a later layer
BUGGY_PLUGINS = {
    "raises": ("infer=lambda a, s: 1 // 0", "check",
               "op 'buggy' of plugin module 'cnndsl_plugin_buggy_raises' failed in its shape rule: ZeroDivisionError"),
    "not_a_tuple": ("infer=lambda a, s: s[0]", "check", "its shape rule returned (1, 8, 8), not a tuple of shapes"),
    "macs_raise": ("infer=lambda a, s: (s[0],), count_macs=lambda a, s, o: [][1]", "summary",
                   "failed in its rule `count_macs`: IndexError"),
    "rule_lies": ("infer=lambda a, s: ((2 * s[0][0], *s[0][1:]),)", "export",
                  "layer 'buggy1' (buggy) gives 1x8x8 per sample in torch, but its shape rule says 2x8x8"),
}


@pytest.mark.parametrize("case", sorted(BUGGY_PLUGINS))
def test_a_plugins_bug_is_located_and_blames_the_plugin(case, tmp_path, capsys):
    rule, command, message = BUGGY_PLUGINS[case]
    plugin = tmp_path / f"buggy_{case}.py"
    plugin.write_text(HEADER + f"cnndsl.register_ops(Op('buggy', Family.OTHER, 'doc', {rule}, "
                      "function=lambda torch, xs, a: xs[0]))\n", encoding="utf-8")
    spec = tmp_path / "net.cnn"
    spec.write_text("network N { input 1x8x8, buggy, flatten, fc 2 }\n", encoding="utf-8")
    extra = ["--format", "onnx", "-o", str(tmp_path / "n.onnx")] if command == "export" else []
    code, _, err = run_cli(command, str(spec), "--plugin", str(plugin), *extra, capsys=capsys)
    assert code == 1 and "internal error" not in err and "Traceback" not in err, err
    assert message in err, err
    assert "net.cnn:1:" in err or command == "summary", err
    assert not (tmp_path / "n.onnx").exists()
