"""README.md's "From spec to deployed model" runs as written: its shell blocks with `cnndsl` on the
PATH, its Python blocks with this checkout's cnndsl, one after another in one folder."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT
from tests.test_training import needs_fmnist

SECTION = "## From spec to deployed model"


def blocks() -> list[tuple[str, str]]:
    """(language, code) of every fenced block of the section, in order."""
    text = (ROOT / "README.md").read_text()
    section = text[text.index(SECTION):]
    section = section[:section.index("\n## ", len(SECTION))]
    return re.findall(r"```(sh|python)\n(.*?)```", section, flags=re.S)


def test_the_section_trains_evaluates_predicts_exports_and_runs_onnx():
    kinds = [kind for kind, _ in blocks()]
    commands = " ".join(code for kind, code in blocks() if kind == "sh")
    assert kinds.count("sh") >= 2 and kinds.count("python") >= 2
    for command in ("cnndsl train", "cnndsl evaluate", "cnndsl predict", "--preprocess --format onnx"):
        assert command in commands


@needs_fmnist
def test_readme_deploy_section_runs_as_written(tmp_path: Path):
    shim = tmp_path / "bin" / "cnndsl"
    shim.parent.mkdir()
    shim.write_text(f"#!/bin/sh\nexec {sys.executable} -m cnndsl.cli \"$@\"\n")
    shim.chmod(0o755)
    (tmp_path / "architectures").symlink_to(ROOT / "architectures")
    env = {**os.environ, "PATH": f"{shim.parent}:{os.environ['PATH']}", "PYTHONPATH": str(ROOT)}
    outputs = []
    for kind, code in blocks():
        args = ["bash", "-euo", "pipefail", "-c", code] if kind == "sh" else [sys.executable, "-c", code]
        done = subprocess.run(args, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
        assert done.returncode == 0, f"{kind} block failed:\n{code}\n{done.stderr[-3000:]}"
        outputs.append(done.stdout)
    assert (tmp_path / "runs" / "LeNetBN" / "confusion.png").is_file() and (tmp_path / "lenet.onnx").is_file()
    predicted = re.search(r"shoe\.png: (.+?) \d\.\d{4}", outputs[-2]).group(1)  # the most probable class
    assert outputs[-1].strip() == predicted
