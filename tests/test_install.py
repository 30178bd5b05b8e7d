"""An installed wheel (not only this checkout) carries the grammar and the zoo."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

from tests.conftest import ROOT


def test_wheel_carries_grammar_and_architectures(tmp_path: Path):
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                            "-w", str(tmp_path), str(ROOT)], capture_output=True, text=True)
    assert build.returncode == 0, build.stderr
    (wheel,) = tmp_path.glob("cnndsl-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "cnndsl/grammars/cnn.lark" in names and "cnndsl/architectures/resnet.cnn" in names
    target = tmp_path / "site"
    install = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target),
                              str(wheel)], capture_output=True, text=True)
    assert install.returncode == 0, install.stderr
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "m.cnn").write_text('import "resnet.cnn"\nnetwork M {\n input 3x32x32\n basic(8, stride=2)\n}\n')
    code = ("import cnndsl, cnndsl.lang.grammar as g, cnndsl.lang.source as s\n"
            f"assert str(g.grammar_path()).startswith({str(target)!r}), g.grammar_path()\n"
            f"assert str(s.library_path()).startswith({str(target)!r}), s.library_path()\n"
            "print(cnndsl.check('m.cnn').output_shapes)\n")
    run = subprocess.run([sys.executable, "-c", code], cwd=elsewhere, capture_output=True, text=True,
                         env={"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"})
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "[(8, 16, 16)]"
    # the Pygments lexer is found through the wheel's entry point, as `pygmentize -l cnn` finds it
    env = {"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"}
    guess = subprocess.run([sys.executable, "-m", "pygments", "-N", "m.cnn"], cwd=elsewhere, capture_output=True,
                           text=True, env=env)
    assert guess.stdout.strip() == "cnn", guess.stderr
    tokens = subprocess.run([sys.executable, "-m", "pygments", "-l", "cnn", "-f", "raw", "m.cnn"], cwd=elsewhere,
                            capture_output=True, text=True, env=env)
    assert tokens.returncode == 0, tokens.stderr
    assert "Token.Name.Function\t'basic'" in tokens.stdout and "Token.Literal.Number.Dims\t'3x32x32'" in tokens.stdout
