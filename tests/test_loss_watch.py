"""The loss is watched on the device (cnndsl/training/watch.py): the first non-finite loss and
its step are kept without a host wait, and reported when checked."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from cnndsl.errors import CnnError
from cnndsl.training.watch import LossWatch


def test_the_first_non_finite_loss_and_its_step_are_reported():
    watch = LossWatch(torch.device("cpu"))
    losses = [1.0, 0.5, float("inf"), float("nan"), 2.0]
    for step, value in enumerate(losses):
        watch.record(torch.tensor(value), epoch=1, step=step)
    with pytest.raises(CnnError) as caught:
        watch.check(Path("runs/x"))
    first = next(i for i, v in enumerate(losses) if not torch.isfinite(torch.tensor(v)))
    assert str(caught.value).startswith(f"the loss is inf at epoch 2, step {first + 1}: training stopped")
    assert "runs/x/checkpoint.pt" in caught.value.diagnostic.hint


def test_finite_losses_pass_the_check():
    watch = LossWatch(torch.device("cpu"))
    for step in range(3 * LossWatch.EVERY):
        watch.record(torch.tensor(1.0 / (step + 1)), epoch=0, step=step)
    watch.check(Path("runs/x"))  # raises if any recorded loss were taken for non-finite
    assert watch.at.tolist() == [-1, -1]
