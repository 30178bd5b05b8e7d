"""The CPU-feasible part of benchmarks/d2l_chapter.py: LeNet and LeNetBN trained with the book's
settings (batch 128, plain SGD, lr 0.1) on the real Fashion-MNIST. The accuracy after each epoch
is recorded (printed, `-s` shows it); the test asks only that the networks learn (better than
chance, 0.1 for ten classes, by a clear margin), as the book's curves do from the first epoch."""

from __future__ import annotations

import pytest

from benchmarks.d2l_chapter import CHAPTER, train
from tests.test_training import needs_fmnist

CHANCE = 0.1


@needs_fmnist
@pytest.mark.parametrize("setting", [s for s in CHAPTER if s.net in ("LeNet", "LeNetBN")], ids=lambda s: s.net)
def test_the_chapter_on_the_cpu_learns(setting, tmp_path):  # noqa: ANN001
    # the whole training set: LeNet with sigmoids stays at chance for most of its first epoch, as the
    # book's curve does, and learns in the second
    rows = train(setting, epochs=2, device="cpu", out=str(tmp_path / "run"))
    print(setting.net, "test accuracy per epoch:", [round(r["test_acc"], 4) for r in rows])
    assert len(rows) == 2
    assert rows[-1]["test_acc"] > 3 * CHANCE, f"{setting.net} did not learn: {rows}"
