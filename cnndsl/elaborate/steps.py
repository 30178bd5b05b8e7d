"""Elaboration steps: generators that yield the sub-steps whose results they need, and `_run`, which
drives them on an explicit stack instead of Python's (cnndsl.elaborate.elaborator)."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

from ..lang.values import TensorRef
from .frames import Multi

Flowing = TensorRef | Multi | None
# One elaboration step: it yields the sub-steps whose results it needs (`cur = yield self.body(...)`)
# and returns its own; `_run` drives them on an explicit stack (see there).
Step = Generator["Step", Any, Any]


def _run(step: Step) -> Any:
    """Run an elaboration step to its result with an explicit stack instead of Python's: a step
    yields the sub-step whose result it needs and is resumed with that result, or with its error
    thrown in at that `yield` (so `except` in a step sees errors from below it as before). Nested
    block calls, branches and loops then cost heap, not Python frames: nesting up to the limits
    ends in their located errors, never a RecursionError, and the process-wide recursion limit
    is left alone."""
    stack = [step]
    result: Any = None
    error: BaseException | None = None
    while stack:
        try:
            sub = stack[-1].send(result) if error is None else stack[-1].throw(error)
        except StopIteration as done:
            stack.pop()
            result, error = done.value, None
        except BaseException as exc:  # handed to the step that waits for this one
            stack.pop()
            if not stack:
                raise
            result, error = None, exc
        else:
            stack.append(sub)
            result, error = None, None
    return result
