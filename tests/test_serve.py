"""`cnndsl serve`: the preview server over HTTP, and the page in headless Chromium (selenium)."""

from __future__ import annotations

import html
import json
import os
import re
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from cnndsl.editor.preview import make_server
from cnndsl.render.figure import dot_available
from tests.conftest import headless_chromium, needs_chromium

SOURCE = """\
network Small(classes=10) {
    input 1x28x28
    conv 5x5 6 pad=2, relu, maxpool 2x2/2
    flatten
    fc classes
}
"""


def _torch_params(channels: int) -> int:
    """Parameters of SOURCE with `channels` in its conv, counted by torch."""
    torch = pytest.importorskip("torch")
    nn = torch.nn
    model = nn.Sequential(nn.Conv2d(1, channels, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2, 2), nn.Flatten(),
                          nn.Linear(channels * 14 * 14, 10))
    return sum(p.numel() for p in model.parameters())


@pytest.fixture
def preview(tmp_path):
    """A preview of tmp_path/small.cnn, served from a thread; yields (url, file)."""
    file = tmp_path / "small.cnn"
    file.write_text(SOURCE)
    server = make_server(str(file))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/", file
    server.shutdown()
    server.server_close()


def _get(url: str, host: str | None = None) -> dict:
    request = urllib.request.Request(url, headers={"Host": host} if host else {})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


def _post(url: str, text: str) -> dict:
    with urllib.request.urlopen(urllib.request.Request(url + "source", data=text.encode()), timeout=30) as response:
        return json.load(response)


def test_the_state_holds_the_text_the_table_and_no_diagnostic(preview):
    url, _ = preview
    state = _get(url + "state")
    assert state["text"] == SOURCE and state["diagnostics"] == []
    (network,) = state["networks"]
    assert network["name"] == "Small" and f"<th>{_torch_params(6):,}</th>" in network["table"]
    assert (network["svg"] is not None) == dot_available()
    assert _get(url + f"state?version={state['version']}") == {"version": state["version"]}


def test_an_edit_posted_shows_its_error_escaped(preview):
    url, _ = preview
    state = _post(url, SOURCE.replace("relu", "<script>"))
    (diagnostic,) = state["diagnostics"]
    assert diagnostic["severity"] == "error" and ":3:" in diagnostic["text"]
    # escaped: no tag in the page's HTML, and the text it shows (tags stripped, entities read) has it
    assert "<script" not in state["source"]
    assert "<script>" in html.unescape(re.sub(r"<[^>]*>", "", state["source"]))
    assert state["networks"] == []


def test_a_change_on_disk_replaces_the_text(preview):
    url, file = preview
    before = _get(url + "state")["version"]
    changed = SOURCE.replace("fc classes", "fc 84, relu, fc classes")
    file.write_text(changed)
    os.utime(file, ns=(time.time_ns(), time.time_ns() + 10**9))  # a new mtime even on a coarse clock
    state = _get(url + f"state?version={before}")
    assert state["version"] > before and state["text"] == changed


def test_only_local_host_names_are_served(preview):
    url, _ = preview
    with pytest.raises(urllib.error.HTTPError) as caught:
        _get(url + "state", host="attacker.example:80")
    assert caught.value.code == 403


def test_a_missing_file_or_busy_port_is_a_clear_error(tmp_path, preview):
    from cnndsl.errors import CnnError

    with pytest.raises(CnnError, match="cannot read"):
        make_server(str(tmp_path / "nothing.cnn"))
    port = int(preview[0].rsplit(":", 1)[1].strip("/"))
    with pytest.raises(CnnError, match="cannot listen"):
        make_server(None, port)
    with pytest.raises(CnnError, match="between 0 and 65535"):
        make_server(None, 70000)


@needs_chromium
def test_the_page_in_chromium_shows_an_error_then_the_new_diagram(preview, tmp_path):
    url, _ = preview
    with headless_chromium() as browser:
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support.ui import WebDriverWait

        browser.get(url)
        wait = WebDriverWait(browser, 30)
        wait.until(lambda b: "no errors" in b.find_element(By.ID, "diagnostics").text)
        editor = browser.find_element(By.ID, "editor")
        assert editor.get_attribute("value") == SOURCE
        # introduce an error by typing: `relu` becomes `reluu`
        editor.click()
        browser.execute_script("const e = arguments[0]; const i = e.value.indexOf('relu') + 4;"
                               "e.setSelectionRange(i, i);", editor)
        editor.send_keys("u")
        wait.until(lambda b: "unknown op 'reluu'" in b.find_element(By.ID, "diagnostics").text)
        assert "did you mean 'relu'?" in browser.find_element(By.ID, "diagnostics").text
        assert browser.find_elements(By.CSS_SELECTOR, "#networks table") == []
        shots = Path(os.environ.get("CNNDSL_SCREENSHOTS", tmp_path))
        assert browser.save_screenshot(str(shots / "serve-error.png"))
        # fix it with a wider layer: the new diagram and table appear
        browser.execute_script("arguments[0].value = arguments[1];"
                               "arguments[0].dispatchEvent(new Event('input'));", editor,
                               SOURCE.replace("5x5 6", "5x5 12"))
        wait.until(lambda b: "no errors" in b.find_element(By.ID, "diagnostics").text)
        table = browser.find_element(By.CSS_SELECTOR, "#networks table").text
        assert f"{_torch_params(12):,}" in table and "12x28x28" in table
        if dot_available():
            image = browser.find_element(By.CSS_SELECTOR, "img.diagram")
            assert browser.execute_script("return arguments[0].naturalWidth", image) > 0
        assert browser.save_screenshot(str(shots / "serve-fixed.png"))
