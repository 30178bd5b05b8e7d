"""`cnndsl import`: every torchvision classification model torch.fx can trace goes through
.cnn text and back, with torchvision's weights loaded by name and the same outputs."""

from __future__ import annotations

import re
import warnings

import pytest
import torch
from torch import nn
from torchvision import models

import cnndsl
from cnndsl.importer import unsupported
from cnndsl.importer.text import WIDTH
from tests.conftest import ROOT

NAMES = models.list_models(module=models)
IMPORTABLE = [n for n in NAMES if not unsupported(n)]
DOCS = (ROOT / "docs" / "import.md").read_text()
SIZE = 96  # small and fast; the round trip holds at any size (the text's `input` is the traced size)
LARGER = {"inception_v3": 299}  # its auxiliary head (traced: its weights must load) needs 17x17 at Mixed_6e


def _documented_lines() -> dict[str, int]:
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^\| `(\w+)` \| (\d+) \|", DOCS, re.M)}


def _model(name: str) -> nn.Module:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # googlenet/inception_v3 init notices
        return models.get_model(name, weights=None).eval()


def import_and_run(original: torch.nn.Module, x: torch.Tensor, name: str) -> tuple[str, cnndsl.Network, object, object]:
    """Import without the importer's own check, then check here: the parameter count, strict loading of
    `original`'s state_dict by name; returns the text, the network, and both models' outputs on `x`."""
    text = cnndsl.import_module(original, x, name=name, verify=False)
    net = cnndsl.check_text(text)
    compiled = cnndsl.compile(net).eval()
    assert net.count_params() == sum(p.numel() for p in original.parameters())
    compiled.load_state_dict(original.state_dict(), strict=True)
    with torch.no_grad():
        return text, net, original(x), compiled(x)


@pytest.mark.slow
@pytest.mark.parametrize("name", IMPORTABLE)
def test_round_trip(name):
    torch.manual_seed(0)
    original = _model(name)
    size = LARGER.get(name, SIZE)
    x = torch.randn(2, 3, size, size)
    text, net, want, got = import_and_run(original, x, name)
    got = got[0] if isinstance(got, tuple) else got  # models with auxiliary heads: logits first
    assert torch.allclose(got, want, rtol=1e-5, atol=1e-5 * want.abs().max().item())
    lines = text.splitlines()
    assert _documented_lines()[name] == len(lines), "docs/import.md is stale: run python -m benchmarks.import_report"
    assert max(map(len, lines)) <= WIDTH


def test_every_model_is_documented():
    documented = _documented_lines()
    assert sorted(documented) == sorted(IMPORTABLE)
    for name in NAMES:
        if unsupported(name):
            assert f"`{name}`" in DOCS, name
    assert f"`resnet50` is {documented['resnet50']} lines" in (ROOT / "README.md").read_text()


def test_readable_families_stay_short():
    """The issue's target of 60 lines holds for every ResNet, DenseNet and MobileNetV2; MobileNetV3
    and EfficientNet are over it (docs/import.md says by how much), so they are not asserted."""
    documented = _documented_lines()
    for name, lines in documented.items():
        if name.startswith(("resnet", "densenet", "mobilenet_v2", "wide_resnet", "resnext")):
            assert lines <= 60, (name, lines)


def test_resnet_blocks_are_blocks():
    text = cnndsl.import_module(_model("resnet50"), torch.randn(1, 3, 64, 64), name="resnet50")
    assert text.count("block Bottleneck(") == 1
    assert re.search(r"for i in range\(1, n\) \{ Bottleneck\(.*\) as \"\{i\}\" \}", text)
    assert "layer(256, 6) as layer3" in text


def test_a_loop_block_is_called_with_the_number_of_layers_it_makes():
    """DenseNet's blocks: `DenseBlock(6)` makes torchvision's 6 layers (`range(1, n + 1)`, its names
    count from 1), not `DenseBlock(7)` (a newcomer's report)."""
    original = _model("densenet121")
    text = cnndsl.import_module(original, torch.randn(1, 3, 64, 64), name="densenet121")
    assert "for i in range(1, n + 1)" in text
    for name, block in original.features.named_children():
        if name.startswith("denseblock"):
            assert f"DenseBlock({len(list(block.children()))}) as {name}" in text
    # a loop whose count no parameter takes writes its end as a number (`range(5, 7)`, not `range(5, 2 + 5)`)
    text = cnndsl.import_module(_model("mobilenet_v3_small"), torch.randn(1, 3, 64, 64), name="m")
    assert re.search(r"range\(\d+, \d+\)", text) and not re.search(r"range\(\d+, \d+ \+ \d+\)", text)


def test_unknown_name_lists_close_matches(capsys, tmp_path):
    from cnndsl.cli import main

    out = tmp_path / "r.cnn"
    assert main(["import", "torchvision:resnet5", "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert "no classification or segmentation model 'resnet5'" in err and "'resnet50'" in err
    assert not out.exists()


def test_transformers_are_refused_with_the_reason(capsys):
    from cnndsl.cli import main

    assert main(["import", "torchvision:vit_b_16"]) == 1
    assert "attention" in capsys.readouterr().err


def test_an_existing_file_is_kept(capsys, tmp_path):
    from cnndsl.cli import main

    out = tmp_path / "keep.cnn"
    out.write_text("mine")
    assert main(["import", "torchvision:alexnet", "-o", str(out), "--input", "3x64x64"]) == 1
    assert out.read_text() == "mine"
    assert main(["import", "torchvision:alexnet", "-o", str(out), "--input", "3x64x64", "--force"]) == 0
    assert cnndsl.check(out).count_params() == sum(p.numel() for p in _model("alexnet").parameters())


class _Gate(nn.Module):
    def forward(self, x):  # noqa: ANN001, ANN201
        return x if x.sum() > 0 else -x  # data-dependent control flow: torch.fx cannot trace it


def test_untraceable_model_names_the_module():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Sequential(nn.ReLU(), _Gate()))
    with pytest.raises(cnndsl.CnnError, match=r"stopped in module `1\.1` \(_Gate\)"):
        cnndsl.import_module(model, torch.randn(1, 3, 8, 8))


def test_unmapped_layer_names_type_and_place(tmp_path):
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Sequential(nn.BatchNorm2d(4), nn.Softsign()))
    with pytest.raises(cnndsl.CnnError, match=r"no mapping for Softsign at `1\.1`"):
        cnndsl.import_module(model, torch.randn(1, 3, 8, 8))


def test_shared_weights_are_refused():
    conv = nn.Conv2d(4, 4, 3, padding=1)

    class Twice(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = conv

        def forward(self, x):  # noqa: ANN001, ANN201
            return self.conv(self.conv(x))
    with pytest.raises(cnndsl.CnnError, match="called twice"):
        cnndsl.import_module(Twice(), torch.randn(1, 4, 8, 8))


def test_import_leaves_the_model_as_it_was():
    model = _model("googlenet").train()  # traced in training mode too, for its auxiliary heads
    before = {k: v.clone() for k, v in model.state_dict().items()}
    cnndsl.import_module(model, torch.randn(2, 3, 64, 64), name="googlenet")
    assert model.training
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_stochastic_depth_rates_follow_torchvision():
    """EfficientNet's rates grow block by block; the loops write them as progressions."""
    from cnndsl.ops.torch_layers import StochasticDepth

    original = _model("efficientnet_b0")
    text = cnndsl.import_module(original, torch.randn(1, 3, 64, 64), name="efficientnet_b0")
    assert "for i in range(" in text
    ours = [m.p for m in cnndsl.compile(cnndsl.check_text(text)).modules() if isinstance(m, StochasticDepth)]
    # torchvision gives every MBConv one; only those with a residual connection use it
    theirs = [m.stochastic_depth.p for m in original.modules() if getattr(m, "use_res_connect", False)]
    assert len(ours) == len(theirs) == 9  # efficientnet_b0: 16 MBConv blocks, 9 with a residual connection
    assert all(abs(a - b) <= 1e-9 * max(abs(b), 1e-12) for a, b in zip(ours, theirs, strict=True))


def test_the_documented_example_is_what_import_writes():
    start = DOCS.index("block downsample(c, stride=2)")
    example = DOCS[start:DOCS.index("```", start)].strip()
    text = cnndsl.import_module(_model("resnet50"), torch.randn(1, 3, 224, 224), name="resnet50", verify=False)
    assert example in text


def test_finish_returns_a_new_block_and_changes_neither_argument(monkeypatch):
    """Every block of an import is finished into a new value; the half-built block and the
    finished blocks it reads are left as they were."""
    from cnndsl.importer import blocks as structure
    from cnndsl.importer.parameters import finish

    calls = []

    def checked(block, blocks):  # noqa: ANN001, ANN202
        before = repr(block), repr(blocks)
        done = finish(block, blocks)
        assert (repr(block), repr(blocks)) == before
        calls.append((block, done))
        return done
    monkeypatch.setattr(structure, "finish", checked)
    text = cnndsl.import_module(_model("resnet18"), torch.randn(1, 3, 64, 64), name="resnet18", verify=False)
    assert "block BasicBlock(" in text
    assert calls and all(done is not block and block.body == () and done.body for block, done in calls)
    assert any(done.params for _, done in calls)  # BasicBlock's channels and stride


def test_importing_a_torchvision_model_does_not_reseed_torch():
    """The example input comes from a generator of its own: the caller's random state moves on
    only by the model's initialisation, as it would by building the model itself."""
    from cnndsl.importer import import_torchvision, torchvision_model

    torch.manual_seed(5)
    torchvision_model("resnet18")
    expected = torch.get_rng_state()
    torch.manual_seed(5)
    import_torchvision("resnet18", (3, 32, 32), verify=False)
    assert torch.equal(torch.get_rng_state(), expected)
