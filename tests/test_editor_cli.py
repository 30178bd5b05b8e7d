"""`cnndsl lsp` and `cnndsl serve` from the command line: missing pieces and bad input are clear errors."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import ROOT

WITHOUT_PYGLS = """
import sys
sys.modules["pygls"] = None  # as if pygls were not installed: importing it raises ImportError
sys.modules["lsprotocol"] = None
from cnndsl.cli.main import main
sys.exit(main(["lsp"]))
"""


def test_lsp_without_pygls_says_what_to_install():
    done = subprocess.run([sys.executable, "-c", WITHOUT_PYGLS], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 1
    assert "needs pygls" in done.stderr and "pip install 'cnndsl[lsp]'" in done.stderr
    assert "Traceback" not in done.stderr


def test_serve_of_a_missing_file_exits_1(tmp_path):
    done = subprocess.run([sys.executable, "-m", "cnndsl.cli", "serve", str(tmp_path / "none.cnn"), "--no-browser"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and "cannot read" in done.stderr and "Traceback" not in done.stderr
