"""What a training run keeps in its `--out` folder: metrics.csv/json, curves.png, model.pt,
checkpoint.pt and run.json. Every file is written atomically (temporary file, then rename),
so an interrupted run never leaves a half-written file or damages the last good one."""

from __future__ import annotations

import csv
import io
import json
import tempfile
from pathlib import Path

import torch

from .. import files
from ..errors import CnnError


def prepare(out: Path) -> Path:
    """Create the run folder; refuse one that cannot be written before any training starts."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = tempfile.NamedTemporaryFile(dir=out, prefix=".probe.", delete=True)
        probe.close()
    except OSError as exc:
        raise CnnError(f"cannot write to --out '{out}': {exc.strerror.lower()}") from None
    return out


def write_atomic(path: Path, data: bytes) -> None:
    files.write_atomic(path, data, sync=True)


def save_torch(path: Path, obj: object) -> None:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    write_atomic(path, buffer.getvalue())


def load_checkpoint(path: Path) -> dict:
    """A checkpoint, loaded with weights_only=True (no code runs from the file)."""
    if not path.exists():
        raise CnnError(f"no checkpoint to resume from: '{path}' does not exist")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 (torch raises many kinds for a damaged file)
        raise CnnError(f"checkpoint '{path}' is damaged or not a cnndsl checkpoint: {exc}".split("\n")[0]) from None
    if not isinstance(state, dict) or not {"model", "optimizer", "epoch", "step"} <= state.keys():
        raise CnnError(f"checkpoint '{path}' is not a cnndsl checkpoint")
    return state


def write_metrics(out: Path, rows: list[dict]) -> None:
    write_atomic(out / "metrics.json", (json.dumps(rows, indent=2) + "\n").encode())
    buffer = io.StringIO()
    if rows:
        writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    write_atomic(out / "metrics.csv", buffer.getvalue().encode())
    write_curves(out / "curves.png", rows)


def write_curves(path: Path, rows: list[dict]) -> None:
    """Loss and accuracy per epoch, as d2l plots them: train loss, train acc, test acc."""
    import matplotlib
    import matplotlib.ticker

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [r["epoch"] for r in rows]
    fig, ax = plt.subplots(figsize=(4.5, 3.2), dpi=120)
    ax.plot(epochs, [r["train_loss"] for r in rows], "-", label="train loss", color="#1f77b4")
    ax.plot(epochs, [r["train_acc"] for r in rows], "--", label="train acc", color="#9467bd")
    ax.plot(epochs, [r["test_acc"] for r in rows], "-.", label="test acc", color="#2ca02c")
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    ax.set_xlim(0.5 if len(epochs) == 1 else 1, max(epochs) + (0.5 if len(epochs) == 1 else 0))
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    write_atomic(path, buffer.getvalue())


def read_metrics(out: Path) -> list[dict]:
    path = out / "metrics.json"
    if not path.exists():
        return []
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise CnnError(f"'{path}' is damaged: {exc}") from None
