"""Pausing Python's cyclic garbage collector while the front end builds big structures."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Parsing and elaborating a big file make hundreds of thousands of objects that live on
    and form no garbage cycles, so the collector would scan them again and again for nothing:
    it took half to three quarters of the time (docs/performance.md, "Big files"). Nested
    pauses and a collector the caller disabled are left as they were."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
