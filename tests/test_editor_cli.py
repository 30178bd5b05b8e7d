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


def test_serve_prints_its_local_address_and_stops_on_ctrl_c(tmp_path):
    import json
    import re
    import signal
    import urllib.request

    file = tmp_path / "small.cnn"
    file.write_text("network Small {\n    input 1x8x8\n    conv 3x3 4\n}\n")
    # Ctrl-C as in a terminal: a job a shell started in the background (`make test &`) inherits SIGINT
    # ignored, and Python then never raises KeyboardInterrupt
    server = subprocess.Popen([sys.executable, "-m", "cnndsl.cli", "serve", str(file), "--no-browser"], cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        line = server.stdout.readline()
        url = re.search(r"http://127\.0\.0\.1:\d+/", line).group()
        with urllib.request.urlopen(url + "state", timeout=60) as response:
            state = json.load(response)
        assert state["text"] == file.read_text() and state["diagnostics"] == []
    finally:
        server.send_signal(signal.SIGINT)
        out, err = server.communicate(timeout=60)
    assert server.returncode == 0 and "stopped" in out and "Traceback" not in err
