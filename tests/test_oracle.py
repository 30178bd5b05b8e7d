"""The differential oracle: programs drawn from the op registry (benchmarks/oracle_strategies.py)
compared with torch, computed here, one property per kind, so that a failure names its kind and
hypothesis shrinks it to a small program. About 300 programs in CI; benchmarks/oracle.py runs
20,000. Differences other changes are fixing (`KNOWN`) and those this oracle found and reported
(`FOUND`), both listed in benchmarks/oracle_known.py, are tolerated; any other finding fails."""

from __future__ import annotations

import pytest
import torch
from hypothesis import HealthCheck, assume, given, settings

from benchmarks.oracle import CHECKS
from benchmarks.oracle_checks import Case
from benchmarks.oracle_known import FOUND, KNOWN, TOLERATED
from benchmarks.oracle_programs import Arg, Layer, Line, Merge, NamedMerge, Program, bind
from benchmarks.oracle_strategies import programs
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
