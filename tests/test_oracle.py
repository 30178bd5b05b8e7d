"""The differential oracle: programs drawn from the op registry (benchmarks/oracle_strategies.py)
compared with torch, computed here, one property per kind, so that a failure names its kind and
hypothesis shrinks it to a small program. About 300 programs in CI; benchmarks/oracle.py runs
20,000. Differences other changes are fixing (`KNOWN`) and those this oracle found and reported
(`FOUND`), both listed in benchmarks/oracle_known.py, are tolerated; any other finding fails."""

from __future__ import annotations

import pytest
import torch
from hypothesis import HealthCheck, assume, given, settings

import cnndsl
from benchmarks.oracle import CHECKS
from benchmarks.oracle_checks import Case
from benchmarks.oracle_known import FOUND, KNOWN, TOLERATED
from benchmarks.oracle_probe import positive, reached
from benchmarks.oracle_programs import Arg, Layer, Line, Merge, NamedMerge, Program, bind
from benchmarks.oracle_strategies import programs
from benchmarks.oracle_views import field_differences
from cnndsl.analysis import analyse
from cnndsl.ops import REGISTRY


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """The programs' tensors are tiny: torch's threads only contend (3x faster with one)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def oracle(n: int) -> settings:
    return settings(max_examples=n, deadline=None, derandomize=True, database=None,
                    suppress_health_check=list(HealthCheck))


def agrees(program: Program, *kinds: str) -> None:
    case = Case(program)
    bad = [f for kind in kinds for f in CHECKS[kind](case) if f.kind not in TOLERATED]
    assert not bad, "\n".join(f"{f.kind}: {f.message}" for f in bad) + "\n\n" + case.text.source


@oracle(40)
@given(programs())
def test_check_accepts_exactly_when_torch_runs(program):
    agrees(program, "accept")


@oracle(25)
@given(programs())
def test_inputs_calls_a_size_valid_exactly_when_torch_runs_it(program):
    agrees(program, "inputs")


@oracle(40)
@given(programs())
def test_every_layer_shape_is_the_fx_graphs(program):
    agrees(program, "shape")


@oracle(30)
@given(programs())
def test_every_layer_parameter_count_is_torchs(program):
    agrees(program, "params")


@oracle(30)
@given(programs())
def test_macs_are_half_the_flop_counters_flops(program):
    agrees(program, "macs")


@oracle(35)
@given(programs())
def test_receptive_fields_are_the_pixels_that_reach(program):
    agrees(program, "rf")


@oracle(30)
@given(programs())
def test_diff_names_the_layer_whose_argument_changed(program):
    agrees(program, "diff")


@oracle(30)
@given(programs())
def test_full_diagram_edges_are_the_fx_data_edges(program):
    agrees(program, "diagram")


@oracle(15)
@given(programs())
def test_onnx_shapes_and_values_are_torchs(program):
    agrees(program, "onnx")


@oracle(15)
@given(programs())
def test_python_export_computes_what_the_compiled_model_does(program):
    agrees(program, "python")


def uses(program: Program, name: str) -> bool:
    items = [*program.layers(), *(line.source for line in program.lines if isinstance(line.source, NamedMerge))]
    merges: list = []

    def walk(found: list) -> None:
        for item in found:
            if isinstance(item, Merge):
                merges.append(item)
                for branch in item.branches:
                    walk(branch)
    walk([line.item for line in program.lines] + [i for b in program.blocks for i in b.items])
    return any(item.op.name == name for item in [*items, *merges])


@pytest.mark.parametrize("name", sorted(n for n, op in REGISTRY.items() if not op.is_input))
def test_every_op_is_drawn_and_agrees_with_torch(name):
    """A new op in the registry is drawn and compared with no new test code."""
    @oracle(2)
    @given(programs(focus=REGISTRY[name]))
    def check(program):
        assume(uses(program, name))
        agrees(program, "accept", "shape", "params", "macs")
    check()


def test_known_and_found_kinds_are_described_and_distinct():
    assert not KNOWN.keys() & FOUND.keys()
    assert all(text.strip() for text in [*KNOWN.values(), *FOUND.values()])
    assert not TOLERATED & CHECKS.keys(), "a comparison's own kind is never tolerated"


# ---- receptive fields the oracle found differing, each kept as found (hypothesis shrank them) ----------

GROUPNORM_LAYERNORM = "network Net {\n    input 8x6x3\n    t0 = groupnorm 1\n    t1 = layernorm\n}\n"
FIELDS_FOUND = {
    # a norm's output is blind to a shift or scale of what it normalises: layernorm after groupnorm
    "layernorm_after_groupnorm": GROUPNORM_LAYERNORM,
    # the probe's earlier stand-in, x + mean, was such a shift
    "layernorm_after_instancenorm": "network Net {\n    input 4x5x2\n    instancenorm\n    mul {\n"
                                    "        layernorm\n      | identity\n    }\n}\n",
    # stand-ins that let values grow saturate sigmoid (and softmax) in float64
    "sigmoid_saturated": """network Net {
    input 1x8x3
    dropout
    gelu
    mish
    t0 = concat {
        identity
        relu6
      | identity
    }
    t1 = add(t0, t0, t0) -> mul {
        layernorm
      | linear 3 bias=true
        layernorm eps=7
    }
    t2 = sigmoid
    avgpool 3 stride=2x8
    output t2
    output t0
    output t1
}
""",
    "softmax_saturated": """block blk0() {
    conv 4x1 5 pad=3
    avgpool 2x4/3x3
}
block blk1(k1) {
    pixel_unshuffle k1
    softmax as named2
    stochastic_depth 0.0 mode=batch as 3
}
network Net {
    input 2x3x8
    layernorm eps=1.5
    blk0()
    t0 = mul {
        identity
      | add {
          identity
        | mul {
            elu alpha=3
          | instancenorm affine=false
            layernorm
        }
      }
        elu alpha=0
    }
    blk1(2)
    instancenorm momentum=0
    t4 = bn eps=1.5
    t5 = conv_transpose 1x2/3x3 1 pad=0x0
    output t5
    output t4
}
""",
    # a norm's stand-in must move zeros (the empty rows of a strided transposed convolution) as the norm does
    "norm_of_zeros": """network Net {
    input 8x7x6
    conv_transpose 3x2/5x5 9 output_pad=0x1 dilation=2x8 bias=false
    instancenorm momentum=0 track_running_stats=true
    upsample 2 mode=bilinear
    instancenorm eps=0.0 momentum=0.25 affine=true
    conv_transpose 1x3/3x1 1
    elu alpha=2
}
""",
    # a dilated window's field is its taps' (after a crop's padding, after a strided transposed convolution)
    "dilation_after_crop": "network Net {\n    input 8x5x7\n    center_crop 8x3\n    conv 3x1 3 dilation=3x3\n}\n",
    "dilation_after_stride": "network Net {\n    input 1x5x5\n    conv_transpose 1x1/2 2\n"
                             "    maxpool 3x3/1 dilation=2\n}\n",
    # a zero factor (a crop's padding) hides the other in torch; the product still reads both
    "zero_factor": "network Net {\n    input 2x3x3\n    center_crop 3x5\n    mul {\n        identity\n"
                   "      | groupnorm 1\n    }\n}\n",
    # rf_reshape: each output pixel's channels come from pixels of their own
    "reshape": "network Net {\n    input 3x4x6\n    reshape 6x4x3\n    conv 3x3 2 pad=1\n}\n",
}


@pytest.mark.parametrize("source", FIELDS_FOUND.values(), ids=FIELDS_FOUND.keys())
def test_the_fields_the_oracle_found_are_the_probes(source):
    """Every pixel of every C×H×W layer: cnndsl's field = the pixels that reach it in torch's probe."""
    assert field_differences(cnndsl.check_text(source)) == []


def test_fields_are_structural_where_torch_cancels_a_dependence():
    """layernorm along W (eps=0) after groupnorm 1 is layernorm of the input alone (groupnorm maps each row by
    one scale and shift), so torch's own gradient of output pixel (0, 0) stays in row 0; the data flow reads
    every row, and the field (docs/analysis.md: structural) and the probe say so."""
    net = cnndsl.check_text(GROUPNORM_LAYERNORM.replace("layernorm", "layernorm eps=0"))
    model = cnndsl.compile(net).double().eval()
    x = torch.rand(1, *net.input_shape, dtype=torch.float64, generator=torch.Generator().manual_seed(0)) + 0.5
    grad = torch.autograd.functional.jacobian(lambda t: model(t)[0, :, 0, 0].sum(), x)[0].abs().sum((0, 2))
    assert (grad > 1e-9 * grad.max()).nonzero()[:, 0].unique().tolist() == [0]
    hit = reached(positive(cnndsl.compile(net)), net.input_shape)[0][:, :, 0, 0]
    rows, cols = (hit.any(1 - axis).nonzero().flatten() for axis in (0, 1))
    assert rows.tolist() == list(range(net.input_shape[1]))  # the whole plane, each row
    field = analyse(net).rows[-1].field
    assert field.pixel(0, 0) == ((rows.min().item(), rows.max().item()), (cols.min().item(), cols.max().item()))


def layer(name: str, shape: tuple[int, ...], **values: object) -> Layer:
    op = REGISTRY[name]
    args = {k: Arg(v) for k, v in values.items()}
    return Layer(op, args, bind(op, args), shape)


def test_a_merge_over_a_split_is_compared_not_crashed_on():
    """`add { split 2 }` on 3 channels: torch splits them unequally and the merge got a tuple,
    where the oracle's torch runner crashed; cnndsl refuses the split, by design."""
    program = Program((3, 1, 8), [Line(Merge(REGISTRY["add"], [[layer("split", (3, 1, 8), parts=2)]]))], [], [], True)
    assert "split 2" in Case(program).text.source
    for kind in ("accept", "inputs"):
        agrees(program, kind)


def test_a_one_tensor_mul_before_an_undrawn_layer_is_the_edge_the_diagram_draws():
    """`mul { identity }` passes its input on (the compiled model computes nothing), and the
    stochastic_depth after it is an edge: draw --full joins the input to relu, as fx does."""
    shape = (1,)
    program = Program(shape, [Line(Merge(REGISTRY["mul"], [[layer("identity", shape)]])),
                              Line(layer("stochastic_depth", shape, p=0.001)),
                              Line(layer("relu", shape, inplace=False)), Line(layer("dropout", shape))],
                      [], [], False)
    agrees(program, "diagram")


def test_a_groupnorm_over_one_value_per_group_exports_and_agrees():
    """The export check and the oracle agree by one rule (cnndsl/pytorch/agreement.py): neither
    refuses onnxruntime's rounding of a norm over one value, amplified by 1/sqrt(eps)."""
    agrees(Program((4,), [Line(layer("groupnorm", (4,), groups=4))], [], [], False), "onnx")


RESIZE_LIKE_DIAGRAMS = {  # the oracle, seed 2029: resize_like reads its reference's size only
    "size_reference": "network Net {\n    input 3x3x1\n    t0 = resize_like {\n        avgpool 1x3/3x2 pad=0x1 "
                      "ceil=true\n        bn\n      | identity\n    }\n    relu\n    output t0\n}\n",
    "itself_as_reference": "network Net {\n    input 4x3x2\n    t0 = instancenorm affine=false\n"
                           "    t2 = resize_like(t0, t0) -> conv 2 3 stride=2x1\n}\n",
}


@pytest.mark.parametrize("source", RESIZE_LIKE_DIAGRAMS.values(), ids=RESIZE_LIKE_DIAGRAMS.keys())
def test_a_size_reference_is_a_data_edge_in_the_diagram_and_in_fx(source):
    """`draw --full` draws resize_like's reference as an edge; in the fx graph the reference is read
    through `shape[2:]`, which the oracle follows back to the tensor (one edge per use)."""
    from collections import Counter

    from benchmarks.oracle_torch import data_edges, every_tensor
    from benchmarks.oracle_views import drawn_edges
    from cnndsl.render.diagram import to_dot

    net = cnndsl.check_text(source)
    drawn = drawn_edges(to_dot(net, depth=None))
    assert drawn == Counter(data_edges(net, cnndsl.compile(net.with_outputs(every_tensor(net))).eval()))
    assert sum(n for (a, b), n in drawn.items() if b == "resize_like1") == 2
