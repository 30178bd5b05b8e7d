"""Shared helpers: compile text, and catch a CnnError with its location. Sets CNNDSL_DEBUG=1,
so that the IR lint runs after every elaboration."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

import cnndsl

# every elaboration in every test (and in the commands tests run) checks the IR's schema
os.environ["CNNDSL_DEBUG"] = "1"

ROOT = Path(__file__).resolve().parent.parent
ARCH = ROOT / "architectures"


def wrap(body: str, input: str = "3x32x32", header: str = "") -> str:
    """A network around a body: `network T { input ... <body> }`."""
    return f"{header}\nnetwork T {{\n    input {input}\n{body}\n}}\n"


def check_body(body: str, input: str = "3x32x32", header: str = "", **params) -> cnndsl.Network:
    return cnndsl.check_text(wrap(body, input, header), net="T", file="t.cnn", **params)


def error_of(text: str, **kwargs) -> cnndsl.CnnError:
    with pytest.raises(cnndsl.CnnError) as info:
        cnndsl.check_text(text, file="t.cnn", **kwargs)
    return info.value


def where(exc: cnndsl.CnnError) -> tuple[int, int]:
    assert exc.span is not None, exc.message
    return exc.span.line, exc.span.col


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
needs_chromium = pytest.mark.skipif(
    not (CHROMIUM and CHROMEDRIVER),
    reason="headless Chromium is not installed (apt-get install chromium chromium-driver; make system)")


@contextmanager
def headless_chromium(*flags: str) -> Iterator[object]:
    """A headless Chromium driven by selenium (skips when selenium is missing), quit afterwards."""
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (the test extra)")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1000", *flags):
        options.add_argument(flag)
    browser = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=CHROMEDRIVER))
    try:
        yield browser
    finally:
        browser.quit()
