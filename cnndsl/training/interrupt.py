"""Ctrl-C during training: stop at the next step boundary, where a checkpoint holds exactly the
completed steps (a KeyboardInterrupt in the middle of a step would save a model whose batch-norm
statistics or weights already had part of the next step in them)."""

from __future__ import annotations

import os
import signal
import threading
from types import FrameType

import torch
import torch.distributed as dist


class StopRequest:
    """While entered, SIGINT sets `requested` instead of raising KeyboardInterrupt.

    With `again_stops`, a second Ctrl-C raises KeyboardInterrupt at once: the user gives up the
    step in progress, the last checkpoint stays as it was. Under torchrun that is off: its agent
    passes the terminal's SIGINT on to the workers a second time. Outside the main thread (where
    Python allows no signal handlers) Ctrl-C keeps its usual meaning.
    """

    def __init__(self, again_stops: bool, say: bool) -> None:
        self.requested = False
        self.again_stops, self.say = again_stops, say
        self.previous: object = None
        self.installed = False

    def __enter__(self) -> StopRequest:
        if threading.current_thread() is threading.main_thread():
            self.previous = signal.signal(signal.SIGINT, self._ask)
            self.installed = True
        return self

    def __exit__(self, *exc: object) -> None:
        if self.installed:
            signal.signal(signal.SIGINT, self.previous if self.previous is not None else signal.SIG_DFL)
            self.installed = False

    def _ask(self, signum: int, frame: FrameType | None) -> None:
        if self.requested and self.again_stops:
            raise KeyboardInterrupt
        if self.say and not self.requested:  # os.write: print() may be in the middle of a write itself
            again = "; Ctrl-C again stops without saving" if self.again_stops else ""
            os.write(2, f"\ncnndsl: stopping after this step to save a checkpoint{again}\n".encode())
        self.requested = True

    def agreed(self, device: torch.device, world: int) -> bool:
        """Whether any process was asked to stop; all processes call this before each step, so
        under DDP they stop at the same step."""
        if world == 1:
            return self.requested
        flag = torch.tensor([float(self.requested)], device=device)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        return bool(flag.item())
