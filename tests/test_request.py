"""One request per command: the file is loaded and parsed once, the arguments are checked once,
and no pass changes process-wide state (the recursion limit) or the values it is given."""

from __future__ import annotations

import copy
import sys
from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest

import cnndsl
import cnndsl.lang.source
from cnndsl.cli import main
from cnndsl.elaborate import Limits, elaborate
from cnndsl.lang.source import load_program, program_from_text
from cnndsl.request import Request
from tests.conftest import error_of, where

LIB = "block unit(c) { conv 3x3 c pad=1, relu }\n"
# A drops a row and a column (3x9x9 through a 2x2/2 conv), so `check` adds its exact-input hint
TWO = ('import "lib.cnn"\n'
       "network A(c=4) {\n    input 3x9x9\n    conv 2x2/2 c, unit(c)\n}\n"
       "network B {\n    input 3x8x8\n    unit(2)\n}\n")


@pytest.fixture
def parses(monkeypatch: pytest.MonkeyPatch) -> Counter:
    """How often each file is handed to the parser (a cached parse counts too)."""
    counts: Counter = Counter()
    real = cnndsl.lang.source.parse

    def counting(text: str, file: str = "<string>") -> object:
        counts[Path(file).name] += 1
        return real(text, file)
    monkeypatch.setattr(cnndsl.lang.source, "parse", counting)
    return counts


@pytest.fixture
def two(tmp_path: Path) -> str:
    (tmp_path / "lib.cnn").write_text(LIB)
    (tmp_path / "two.cnn").write_text(TWO)
    return str(tmp_path / "two.cnn")


@pytest.mark.parametrize("command", [
    ["check"],  # both networks, and the exact-input hint for A
    ["inputs", "--net", "A", "--range", "4:40"],
    ["diff", "--net", "A", "--set-b", "c=8", "--input-b", "3x17x17"],  # one file, two settings
    ["summary", "--net", "B"],
])
def test_a_command_parses_its_file_and_imports_once(command, two, parses, capsys):
    assert main([command[0], two, *command[1:]]) == 0
    assert parses == {"two.cnn": 1, "lib.cnn": 1}
    if command == ["check"]:
        out, err = capsys.readouterr()
        assert "A  (" in out and "B  (" in out
        assert "note: no layer of A drops pixels at an input of 3x8x8 or 3x10x10" in err


def test_diff_of_a_file_with_itself_loads_it_once(two, parses):
    assert main(["diff", two, two, "--net", "A", "--net-b", "B"]) == 0
    assert parses == {"two.cnn": 1, "lib.cnn": 1}


def test_request_checks_its_arguments_once_where_they_are_given():
    program = program_from_text(TWO.replace('import "lib.cnn"\n', LIB), "t.cnn")
    params = {"c": 6}
    request = Request.of(program, "A", "3x10x10", params)
    assert request.input == (3, 10, 10) and request.params == {"c": 6}
    with pytest.raises(TypeError):
        request.params["c"] = 7  # read-only: a pass cannot change what the caller asked for
    params["c"] = 8
    assert request.params == {"c": 6}  # nor can the caller, afterwards
    assert request.check().output_shapes == [(6, 5, 5)]
    assert replace(request, input=(3, 12, 12)).check().output_shapes == [(6, 6, 6)]
    for bad in ["3x0x8", (3, 0, 8), (3, True, 8), (), [3.0, 8, 8], 5]:
        with pytest.raises(cnndsl.CnnError, match="an input shape looks like 3x224x224"):
            Request.of(program, "A", bad)
    assert Request.of(program, "A", [3, 12, 12]).input == (3, 12, 12)


def test_elaboration_changes_neither_program_nor_arguments(tmp_path):
    (tmp_path / "lib.cnn").write_text(LIB)
    (tmp_path / "two.cnn").write_text(TWO)
    program = load_program(tmp_path / "two.cnn")
    before = copy.deepcopy(program)
    overrides, shape = {"c": 8}, (3, 13, 13)
    net = elaborate(program, "A", overrides, shape)
    assert program == before and overrides == {"c": 8} and shape == (3, 13, 13)
    assert net.params == {"c": 8}


# one level: a block call, an `if` and a merge; a hundred of them (the default limit on block
# calls) took ~1,800 Python frames when elaboration recursed, nearly twice the default limit
COUNTDOWN = """block down(n) {
    if n > 0 { add { down(n - 1) | identity } }
    else { relu }
}
network N {
    input 2x4x4
    down(DEPTH)
}
"""


def test_deep_nesting_leaves_the_recursion_limit_alone(monkeypatch):
    limit = sys.getrecursionlimit()

    def refuse(n: int) -> None:
        raise AssertionError(f"sys.setrecursionlimit({n}) called")
    monkeypatch.setattr(sys, "setrecursionlimit", refuse)
    net = cnndsl.check_text(COUNTDOWN.replace("DEPTH", "99"))
    assert sum(layer.op == "add" for layer in net.layers()) == 99
    assert max(len(layer.path) for layer in net.layers()) == 101  # 100 nested calls of `down`, then relu
    deeper = cnndsl.check_text(COUNTDOWN.replace("DEPTH", "1999"), limits=Limits(max_depth=2000))
    assert sum(layer.op == "add" for layer in deeper.layers()) == 1999
    assert sys.getrecursionlimit() == limit


def test_too_deep_nesting_is_the_located_limit_error():
    """A recursive block nested in 40 merges per call: the limit on block calls, located at the
    innermost call, not a RecursionError (~19,000 frames when elaboration recursed)."""
    inner = "b(x)"
    for _ in range(40):
        inner = f"add {{ {inner} | identity }}"
    text = f"block b(x) {{ {inner} }}\nnetwork A {{\n    input 3x8x8\n    b(1)\n}}\n"
    exc = error_of(text)
    assert exc.message == "block calls nest deeper than 100 (is 'b' recursive?)"
    assert where(exc) == (1, text.index("b(x) |") + 1)
    assert "(99 times)" in exc.render({"t.cnn": text})


def test_the_exact_input_note_follows_only_a_drop_warning(tmp_path, capsys):
    from cnndsl.cli.main import main

    spec = tmp_path / "g.cnn"
    spec.write_text("network N { input 6x1x1, groupnorm 6 }\n", encoding="utf-8")
    assert main(["check", str(spec)]) == 0
    err = capsys.readouterr().err
    assert "warning: groupnorm1" in err and "note:" not in err, err
