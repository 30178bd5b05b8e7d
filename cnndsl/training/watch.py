"""Watching the training loss without waiting for the device at every step.

Reading a loss on the host (`loss.item()`, `torch.isfinite(loss)` in an `if`) makes the host wait
for the GPU to finish the step, so the GPU idles while the next step is queued. `LossWatch` keeps
the first non-finite loss and its step in device tensors and reads them every `EVERY` steps, at an
epoch's end and before a checkpoint is written, so training stops at most `EVERY` steps after the
loss stopped being finite, with the step where it did (a checkpoint is only written after a check,
so the last one saved holds no non-finite step).
"""

from __future__ import annotations

from pathlib import Path

import torch

from ..errors import CnnError


class LossWatch:
    """The first non-finite training loss of a run, kept on `device`."""

    EVERY = 25  # steps between reads on the host: one wait per 25 steps instead of three per step

    def __init__(self, device: torch.device) -> None:
        self.at = torch.full((2,), -1, dtype=torch.int64, device=device)  # (epoch, step) of the first
        self.loss = torch.zeros((), dtype=torch.float32, device=device)

    def record(self, loss: torch.Tensor, epoch: int, step: int) -> None:
        """Keep `loss` and its position if it is the first that is not finite (no host wait)."""
        first = ~torch.isfinite(loss.detach()) & (self.at[0] < 0)
        self.at = torch.where(first, torch.tensor([epoch, step], device=self.at.device), self.at)
        self.loss = torch.where(first, loss.detach().float(), self.loss)

    def check(self, out: Path) -> None:
        """Raise CnnError (`the loss is nan at epoch E, step S: training stopped`) if a recorded loss was
        not finite; this waits for the device."""
        epoch, step = self.at.tolist()
        if epoch >= 0:
            raise CnnError(f"the loss is {self.loss.item()} at epoch {epoch + 1}, step {step + 1}: training stopped",
                           hint=f"the last good checkpoint is {out / 'checkpoint.pt'}; try a smaller --lr")
