"""The one rule by which exports (and the differential oracle) call a runtime's outputs equal to
torch's (cnndsl/pytorch/agreement.py, docs/export.md): normalisations over nearly equal values
carry their input's rounding times 1/sqrt(eps), and the rule allows that much; elsewhere it stays
ATOL + RTOL x the output's scale, tight enough to refuse a wrong lowering. Expected values come
from torch and onnxruntime, run in the test."""

from __future__ import annotations

import copy

import pytest
import torch

import cnndsl
from cnndsl.errors import CnnError
from cnndsl.pytorch.agreement import ATOL, MARGIN, NORM_ROUNDING, RTOL, agree, allowed, difference, rounding_spreads
from cnndsl.pytorch.export import compare, export
from cnndsl.pytorch.onnx_export import check_input
from tests.conftest import ROOT

ort = pytest.importorskip("onnxruntime")

GROUPNORM_OF_ONE = "network Net {\n    input 4\n    groupnorm 4\n}\n"
# the 20,000-program oracle's second program: layernorm2d over two channels the pool made equal
POOLED_LAYERNORM = """network Net {
    input 2x5x3
    layernorm2d
    adaptive_maxpool 3x1
    stochastic_depth 0.75
    bn as named0
    t1 = concat { gelu | layernorm2d }
    t1 -> identity
    t2 = bn
    output t2
}
"""
WELL_CONDITIONED = """network Net {
    input 3x16x16
    conv 3x3 8 pad=1
    groupnorm 2
    relu
    conv 3x3 8 pad=1
    layernorm2d
    instancenorm
}
"""


def model_and_outputs(text: str) -> tuple[cnndsl.Network, torch.nn.Module, torch.Tensor, list[torch.Tensor]]:
    net = cnndsl.check_text(text)
    torch.manual_seed(0)
    model = cnndsl.compile(net).eval()
    x = check_input(net.input_shape)
    with torch.no_grad():
        out = model(x)
    return net, model, x, list(out) if isinstance(out, tuple) else [out]


# an output of amplified rounding alone: lrn without k of an instancenorm's mean (the oracle, seed 2029)
ROUNDING_ONLY = """block blk0() {
    instancenorm
    dropout2d
    gap
}
network Net {
    input 2x5x8
    blk0()
    resize_like {
        identity
    }
    bn eps=2.0 momentum=0.5
    adaptive_avgpool 3x3
    lrn 1 k=0.0
}
"""


@pytest.mark.parametrize("text", [GROUPNORM_OF_ONE, POOLED_LAYERNORM, ROUNDING_ONLY])
def test_norms_over_equal_values_export_and_agree_by_the_rule(tmp_path, text):
    """Export's own check accepts them, and onnxruntime's outputs, compared here, are within
    what the rule allows (the oracle found both refused by 1.4e-5 and 1.9e-5 over 1.0e-5)."""
    net, model, x, want = model_and_outputs(text)
    torch.manual_seed(0)
    export(net, "onnx", tmp_path / "m.onnx")
    session = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    got = [torch.from_numpy(a) for a in session.run(None, {"input": x.numpy()})]
    limits = allowed(model, x, want)
    assert all(difference(g, w) <= limit for g, w, limit in zip(got, want, limits, strict=True))
    assert agree(model, x, got)


def test_the_spread_of_a_groupnorm_over_one_value_is_its_gain_times_the_rounding():
    """One value per group: var is 0, the gain 1/sqrt(eps), and each output moves by
    NORM_ROUNDING x |x| / sqrt(eps) (weight 1), nothing after it; give or take torch's own output,
    which is rounding alone here (the input moves by ROUNDING too, and the norm rounds it anew)."""
    net, model, x, want = model_and_outputs(GROUPNORM_OF_ONE)
    eps = model.groupnorm1.eps
    expected = NORM_ROUNDING * x.double().abs().max().item() / eps ** 0.5
    own = want[0].abs().max().item()
    assert 0 < own < expected / 10
    spread = rounding_spreads(model, x, want)[0]
    assert abs(spread - expected) <= own
    assert allowed(model, x, want)[0] == pytest.approx(ATOL + RTOL * own + MARGIN * spread)


def test_well_conditioned_norms_keep_the_tight_rule():
    """Groups of several values: the spread stays below RTOL x the output's scale (a few of the
    768 positions layernorm2d normalises have channels close together)."""
    _, model, x, want = model_and_outputs(WELL_CONDITIONED)
    tight = ATOL + RTOL * want[0].abs().max().item()
    assert tight <= allowed(model, x, want)[0] <= 1.5 * tight


def skip_the_mean(norm: torch.nn.GroupNorm) -> None:
    """The norm computed as x / sqrt(var + eps) without subtracting the mean (var 0 here)."""
    norm.forward = lambda t: t / norm.eps ** 0.5


@pytest.mark.parametrize(("text", "layer", "wrong"), [
    (WELL_CONDITIONED, "groupnorm1", lambda norm: setattr(norm, "eps", 1e-3)),
    (WELL_CONDITIONED, "instancenorm1", lambda norm: setattr(norm, "eps", 1e-3)),
    (GROUPNORM_OF_ONE, "groupnorm1", skip_the_mean)])
def test_a_wrong_lowering_is_refused(text, layer, wrong):
    """A runtime that computed one norm wrongly (another eps; without the mean) disagrees by
    more than the rule allows, in export's check too: also the degenerate norm."""
    net, model, x, want = model_and_outputs(text)
    broken = copy.deepcopy(model)
    wrong(broken.get_submodule(layer))
    with torch.no_grad():
        got = broken(x)
    assert not agree(model, x, [got], want)
    with pytest.raises(CnnError, match="disagrees with torch"):
        compare(net, model, [got], "onnxruntime")


def test_the_rule_is_documented():
    text = (ROOT / "docs/export.md").read_text()
    assert all(f"{value:g}" in text for value in (RTOL, ATOL)) and "1/sqrt(var + eps)" in text
    assert f"{NORM_ROUNDING / torch.finfo(torch.float32).eps:g} float32 epsilons" in text


def test_where_torch_gives_nan_the_runtime_may_give_anything_else_must_match():
    """`layernorm eps=0` of a row that relu made zeros is 0/0 in torch; its max-pool keeps the NaN,
    onnxruntime's skips it (the oracle, in the full suite). Torch's numbers still bind the runtime."""
    want = torch.tensor([[1.0, float("nan"), float("inf")]])
    assert difference(torch.tensor([[1.0, 1.0, float("inf")]]), want) == 0.0
    assert difference(torch.tensor([[float("nan"), 1.0, float("inf")]]), want) == float("inf")
    assert difference(torch.tensor([[1.0, 1.0, 5.0]]), want) == float("inf")
    source = ("network Net {\n    input 1x2x2\n    relu\n    layernorm eps=0\n    maxpool 2/1\n}\n")
    net, model, x, wants = model_and_outputs(source)
    assert wants[0].isnan().any() and not wants[0].isnan().all()
    assert agree(model, x, [torch.nan_to_num(wants[0], nan=1.0)], wants)


CANCELLING = "network Net {\n    input 2x8x8\n    conv 3x3 4 pad=1\n    relu\n    conv 1x1 2\n}\n"


def test_a_sum_that_cancels_agrees_by_its_rounding_spread(tmp_path):
    """A conv whose terms nearly cancel (channels of 1e4 that differ by 1e-3, weights of opposite
    signs) leaves an output of rounding: onnxruntime differs from torch by more than
    ATOL + RTOL x m (here by 15 to 40 times), and the rule allows it through r."""
    net = cnndsl.check_text(CANCELLING)
    torch.manual_seed(0)
    model = cnndsl.compile(net).eval()
    with torch.no_grad():
        model.conv1.weight[:, 1] = -model.conv1.weight[:, 0]
    g = torch.Generator().manual_seed(1)
    base = 1e4 * torch.randn(2, 1, 8, 8, generator=g)
    x = torch.cat([base, base + 1e-3 * torch.randn(2, 1, 8, 8, generator=g)], 1)
    torch.onnx.export(model, (x,), tmp_path / "c.onnx", dynamo=False, input_names=["input"])
    session = ort.InferenceSession(str(tmp_path / "c.onnx"), providers=["CPUExecutionProvider"])
    got = torch.from_numpy(session.run(None, {"input": x.numpy()})[0])
    with torch.no_grad():
        want = model(x)
    plain = ATOL + RTOL * want.abs().max().item()
    assert difference(got, want) > 2 * plain  # the rule without r would refuse it
    assert difference(got, want) <= allowed(model, x, [want])[0] and agree(model, x, [got], [want])
    with torch.no_grad():  # and torch's own float32 output is that far from float64 too
        exact = copy.deepcopy(model).double()(x.double())
    assert (want.double() - exact).abs().max().item() > plain


def test_onnxruntime_stays_within_the_rule_where_rounding_is_amplified():
    """benchmarks/agreement_margin.py's family of norms, pools and products (where the oracle came
    closest to the bound): every output of 40 programs agrees, compared in onnxruntime here."""
    from benchmarks.agreement_margin import ratios, rounding_family

    found = []
    for text in rounding_family(7, 40):
        try:
            net = cnndsl.check_text(text)
        except CnnError:
            continue
        found += ratios(net, torch.randn(2, *net.input_shape, generator=torch.Generator().manual_seed(0)))
    assert len(found) > 30 and max(found) < 1


def test_instancenorm_without_eps_exports_torchs_zero_for_a_constant_channel(tmp_path):
    """torch's instance norm takes 1/sqrt(var + eps) as 0 where both are 0 (a channel relu made zeros):
    the output is 0 (or the bias), where ONNX's InstanceNormalization gives 0/0. The export lowers it
    (the 20,000-program oracle, seed 2032): onnxruntime gives torch's numbers, no NaN."""
    from cnndsl.pytorch.onnx_export import lowered_for_export

    for affine in ("false", "true"):
        net = cnndsl.check_text("network N {\n    input 3x4x4\n    conv 1x1 3\n    relu\n"
                                f"    instancenorm eps=0 affine={affine}\n}}\n")
        torch.manual_seed(0)
        model = cnndsl.compile(net).eval()
        with torch.no_grad():
            model.conv1.weight[0] = 0.0
            model.conv1.bias[0] = -1.0  # channel 0 is relu(-1) = 0 everywhere
            if affine == "true":
                model.instancenorm1.bias.uniform_(0.5, 1.0)
        x = torch.randn(2, 3, 4, 4)
        torch.onnx.export(lowered_for_export(net, model), (x,), tmp_path / "n.onnx", dynamo=False,
                          input_names=["input"])
        session = ort.InferenceSession(str(tmp_path / "n.onnx"), providers=["CPUExecutionProvider"])
        got = torch.from_numpy(session.run(None, {"input": x.numpy()})[0])
        with torch.no_grad():
            want = model(x)
        shift = 0.0 if affine == "false" else model.instancenorm1.bias[0].item()
        assert not want.isnan().any() and (want[:, 0] == shift).all()
        assert not got.isnan().any() and agree(model, x, [got], [want])
        assert (got[:, 0] == shift).all()


def test_a_runtimes_nan_is_accepted_where_torch_computed_a_nan_upstream():
    """`layernorm eps=0` over one value is 0/0 in torch too; torch's transposed convolution never reads
    the padding it multiplies by zero, onnxruntime's does and spreads the NaN (the 20,000-program
    oracle, seed 2032). A runtime's NaN where torch has a number is accepted only then."""
    want, got = torch.tensor([[1.0, -0.5]]), torch.tensor([[1.0, float("nan")]])
    assert difference(got, want) == float("inf") and difference(got, want, nan_inside=True) == 0.0
    source = "network N {\n    input 1x2x1\n    layernorm eps=0\n    conv_transpose 1x3 4 stride=3 pad=1\n}\n"
    _, model, x, wants = model_and_outputs(source)
    from cnndsl.pytorch.agreement import computes_nan

    assert computes_nan(model, x) and not computes_nan(*model_and_outputs(WELL_CONDITIONED)[1:3])


def test_a_sigmoid_in_its_tail_agrees_by_its_inputs_scale(tmp_path):
    """onnxruntime approximates sigmoid to a few epsilons of its range: silu(-17) = -17 sigmoid(-17), about
    -7e-7, is off by about its own size there, and a product with x^2 (289) makes that 1e-4 (CI's hypothesis
    draw: mul { identity | add { identity } | silu } refused by 1.9e-4 against 1.8e-4). The rule moves an
    elementwise layer's result by ROUNDING of its input element's size, and allows it."""
    net = cnndsl.check_text("network N {\n    input 1x2x2\n    mul { identity | identity | silu }\n}\n")
    model = cnndsl.compile(net).eval()
    x = torch.tensor([[[[-16.8, -17.0], [-16.5, -18.0]]]])
    torch.onnx.export(model, (x,), tmp_path / "s.onnx", dynamo=False, input_names=["input"])
    session = ort.InferenceSession(str(tmp_path / "s.onnx"), providers=["CPUExecutionProvider"])
    got = torch.from_numpy(session.run(None, {"input": x.numpy()})[0])
    with torch.no_grad():
        want = model(x)
        exact = model.double()(x.double())
    plain = ATOL + RTOL * want.abs().max().item()
    assert difference(got, want) > 2 * plain  # the rule without r would refuse it
    assert (want.double() - exact).abs().max().item() < plain  # torch's own sigmoid is exact there
    assert agree(model.float(), x, [got], [want])
