"""`cnndsl fmt`: one canonical layout that never changes the network, keeps comments, is idempotent,
and never loses or half-writes a file."""

from __future__ import annotations

import contextlib
import io
import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

import cnndsl
from cnndsl.cli import main
from cnndsl.lang.format import WIDTH, format_text
from cnndsl.ops import REGISTRY
from tests.conftest import ROOT


@pytest.fixture(autouse=True)
def registry():
    """The registry as it was: formatting cbam.cnn loads its plugin, whose ops would stay registered
    for the other test files (they read the whole registry)."""
    before = dict(REGISTRY)
    yield
    REGISTRY.clear()
    REGISTRY.update(before)


ZOO = sorted([*ROOT.glob("architectures/*.cnn"), *ROOT.glob("examples/*.cnn")])
TEST_FILES = sorted(ROOT.glob("tests/**/*.cnn"))


def run(*args: str, cwd: Path = ROOT, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cnndsl.cli", *args], cwd=cwd, capture_output=True, text=True,
                          input=stdin)


def parses(path: Path) -> bool:
    try:
        format_text(path.read_text(encoding="utf-8-sig"), str(path))
    except cnndsl.CnnError:
        return False
    return True


def mangled(text: str) -> str:
    """`text` with every line's indentation dropped and each space doubled, except on lines with a
    string or a comment (their text must stay): the same program, laid out badly."""
    lines = [line if '"' in line or "#" in line else line.strip().replace(" ", "  ") for line in text.splitlines()]
    return "\n".join(lines) + "\n"


def summaries(path: Path) -> dict[str, str]:
    """`cnndsl summary --format json` of every network `path` defines (the error for one that fails)."""
    found = {}
    plugin = ["--plugin", str(ROOT / "examples" / "cbam_plugin.py")] if path.name == "cbam.cnn" else []
    try:
        names = list(cnndsl.networks(path))
    except cnndsl.CnnError as exc:  # a file whose imports fail: the error is what it compiles to
        return {"": exc.message}
    for name in names:
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            status = main(["summary", str(path), "--net", name, "--format", "json", *plugin])
        # an error's message without its location and the quoted line: formatting moves columns
        message = re.sub(r"^\S+:\d+:\d+: ", "", err.getvalue()).split("\n")[0]
        found[name] = out.getvalue() if status == 0 else message
    return found


@pytest.mark.parametrize("path", ZOO, ids=lambda p: p.name)
def test_the_zoo_is_in_the_canonical_layout(path: Path):
    text = path.read_text()
    assert format_text(text, str(path)) == text, f"run `cnndsl fmt {path.relative_to(ROOT)}`"
    assert format_text(mangled(text), str(path)) == text  # the layout comes back from any spacing


@pytest.mark.parametrize("path", [p for p in ZOO + TEST_FILES if parses(p)], ids=lambda p: p.name)
def test_formatting_never_changes_the_network(path: Path, tmp_path: Path):
    if path.name == "cbam.cnn":
        pytest.importorskip("torch")  # its plugin builds a torch module
    copy = tmp_path / path.name
    for sibling in path.parent.glob("*.cnn"):  # the files it may import
        shutil.copy(sibling, tmp_path / sibling.name)
    copy.write_text(mangled(path.read_text(encoding="utf-8-sig")))
    assert main(["fmt", str(copy)]) == 0
    once = copy.read_text()
    assert summaries(copy) == summaries(path)
    assert main(["fmt", "--check", str(copy)]) == 0  # idempotent: a second run has nothing to change
    assert format_text(once) == once
    assert all(len(line) <= WIDTH for line in once.splitlines() if "#" not in line)


MESSY = """\
# a comment at the top


import   "lenet.cnn"
block res(c,s = 1 ,  k=(1,2)){
  let w=c*2//s   # trailing
    y=conv 3x3 / s c pad = 1,bn,relu  ,
  conv 3x3 w pad=-(-1), relu


  add{conv 1x1 c |identity
    |  relu}
  # before the brace

}
"""

CANONICAL = """\
# a comment at the top

import "lenet.cnn"
block res(c, s=1, k=(1, 2)) {
    let w = c * 2 // s  # trailing
    y = conv 3x3/s c pad=1, bn, relu,
        conv 3x3 w pad=-(-1), relu

    add { conv 1x1 c | identity
      | relu }
    # before the brace
}
"""


def test_the_canonical_layout():
    assert format_text(MESSY) == CANONICAL
    assert format_text(MESSY.replace("\n", "\r\n")) == CANONICAL


def test_closing_brackets_line_up_with_their_opening_line():
    messy = "block b(\n  c,   # channels\n  # the stride\n  s=1\n) {\nadd {\nrelu |\nidentity\n}\n  if s > 1 {\n" \
            "conv 1x1 c\n  }\n  else {\n identity\n }\n}\n"
    assert format_text(messy) == (
        "block b(\n    c,  # channels\n    # the stride\n    s=1\n) {\n"
        "    add {\n        relu |\n        identity\n    }\n    if s > 1 {\n"
        "        conv 1x1 c\n    }\n    else {\n        identity\n    }\n}\n")


def test_long_lines_break_after_a_comma_and_stay_broken():
    items = ", ".join(["relu"] * 60)
    text = f"network T {{\n    input 3x8x8\n    for i in range(2) {{ conv 3x3 4 pad=1, {items} }}\n}}\n"
    once = format_text(text)
    lines = once.splitlines()
    assert len(lines) > 4 and all(len(line) <= WIDTH for line in lines)
    assert all(line.rstrip().endswith(",") for line in lines[2:-2])  # each break is after a comma
    assert format_text(once) == once
    first, second = cnndsl.check_text(text, net="T"), cnndsl.check_text(once, net="T")
    assert [layer.name for layer in first.layers()] == [layer.name for layer in second.layers()]


def test_check_names_the_files_that_would_change_and_changes_nothing(tmp_path: Path):
    messy, tidy = tmp_path / "messy.cnn", tmp_path / "tidy.cnn"
    messy.write_text(mangled((ROOT / "architectures/lenet.cnn").read_text()))
    shutil.copy(ROOT / "architectures/lenet.cnn", tidy)
    before = messy.read_bytes()
    result = run("fmt", "--check", str(messy), str(tidy))
    assert result.returncode == 1
    assert result.stdout.splitlines() == [f"would reformat {messy}"]
    assert messy.read_bytes() == before
    assert run("fmt", "--check", str(tidy)).returncode == 0


def test_diff_prints_a_unified_diff_and_changes_nothing(tmp_path: Path):
    path = tmp_path / "t.cnn"
    path.write_text("network T {\ninput 3x8x8\n  relu\n}\n")
    result = run("fmt", "--diff", str(path))
    assert result.returncode == 1
    assert f"--- {path}\n+++ {path} (formatted)\n" in result.stdout
    assert "-input 3x8x8\n-  relu\n+    input 3x8x8\n+    relu\n" in result.stdout
    assert path.read_text() == "network T {\ninput 3x8x8\n  relu\n}\n"


def test_fmt_rewrites_in_place_keeping_mode_and_line_endings(tmp_path: Path):
    path = tmp_path / "t.cnn"
    path.write_bytes(b"network T {\r\ninput 3x8x8\r\n  relu # r\r\n}\r\n")
    path.chmod(0o600)
    result = run("fmt", str(path))
    assert result.returncode == 0, result.stderr
    assert path.read_bytes() == b"network T {\r\n    input 3x8x8\r\n    relu  # r\r\n}\r\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert not [p for p in os.listdir(tmp_path) if p != "t.cnn"]  # no temporary file left


def test_a_file_that_does_not_parse_is_a_located_error_and_stays_untouched(tmp_path: Path):
    bad, good = tmp_path / "bad.cnn", tmp_path / "good.cnn"
    bad.write_text("network T {\n  input 3x8x8\n  relu)\n}\n")
    good.write_text("network T {\ninput 3x8x8\n}\n")
    before = bad.read_bytes()
    result = run("fmt", str(bad), str(good))
    assert result.returncode == 1
    assert result.stderr.startswith(f"{bad}:3:7: error: ")
    assert "Traceback" not in result.stderr
    assert bad.read_bytes() == before
    assert good.read_text() == "network T {\n    input 3x8x8\n}\n"  # the other files are still formatted


def test_a_folder_stands_for_its_cnn_files(tmp_path: Path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.cnn").write_text("network A {\ninput 3x8x8\n}\n")
    (tmp_path / "notes.txt").write_text("network  untouched\n")
    result = run("fmt", "--check", str(tmp_path))
    assert result.returncode == 1 and result.stdout == f"would reformat {tmp_path / 'sub' / 'a.cnn'}\n"


def test_standard_input_to_standard_output():
    result = run("fmt", "-", stdin="network T {\ninput 3x8x8\n}\n")
    assert result.returncode == 0
    assert result.stdout == "network T {\n    input 3x8x8\n}\n"


def test_format_text_raises_cnnerror_with_the_location():
    with pytest.raises(cnndsl.CnnError) as info:
        format_text("network T {\n  input 3x8x8 +\n}\n", "t.cnn")
    assert (info.value.span.file, info.value.span.line) == ("t.cnn", 2)


def test_a_byte_order_mark_is_dropped_and_flagged_by_check(tmp_path: Path):
    path = tmp_path / "t.cnn"
    tidy = (ROOT / "architectures/lenet.cnn").read_bytes()
    path.write_bytes(b"\xef\xbb\xbf" + tidy)
    result = run("fmt", "--check", str(path))
    assert result.returncode == 1 and result.stdout.splitlines() == [f"would reformat {path}"]
    assert run("fmt", str(path)).returncode == 0
    assert path.read_bytes() == tidy
