"""The per-epoch progress bar of `cnndsl train`."""

from __future__ import annotations

import sys

import torch


class ProgressBar:
    """The per-epoch progress bar (rich, on stderr) with loss, accuracy and images/s."""

    def __init__(self, show: bool, epoch: int, epochs: int, total: int) -> None:
        self.progress = None
        if show and sys.stderr.isatty():
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self.progress = Progress(TextColumn(f"epoch {epoch + 1}/{epochs}"), BarColumn(), MofNCompleteColumn(),
                                     TextColumn("{task.fields[stats]}"), TimeRemainingColumn(), transient=True)
            self.task = self.progress.add_task("train", total=total, stats="")
            self.progress.start()

    def update(self, step: int, sums: torch.Tensor, seconds: float) -> None:
        """Show the running loss, accuracy and images per second (every fifth step; reading the sums waits
        for the device, so only a bar that is shown reads them)."""
        if self.progress and step % 5 == 0:
            sums = sums.tolist()
            stats = f"loss {sums[0] / sums[2]:.4f}  acc {sums[1] / sums[2]:.4f}  {sums[2] / seconds:.0f} img/s"
            self.progress.update(self.task, completed=step, stats=stats)

    def close(self) -> None:
        """Remove the bar from the terminal."""
        if self.progress:
            self.progress.stop()
            self.progress = None
