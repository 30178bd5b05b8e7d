"""What a training run keeps in its `--out` folder: metrics.csv/json, curves.png, model.pt,
checkpoint.pt and run.json. Every file is written atomically (temporary file, then rename),
so an interrupted run never leaves a half-written file or damages the last good one.

While a run trains, it holds `.lock` in the folder (an flock, which the system releases when the
process ends in any way, SIGKILL included), so a second run into the same folder stops at once
instead of mixing its files with the first's; the file says who holds it.
"""

from __future__ import annotations

import contextlib
import csv
import fcntl
import io
import json
import os
import platform
import shlex
import socket
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import torch

from .. import files
from ..errors import CnnError
from . import checkpoint


def prepare(out: Path) -> Path:
    """Create the output folder `out` (a run folder, evaluate's --out); refuse one that cannot be written before any
    work starts. Returns `out`."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = tempfile.NamedTemporaryFile(dir=out, prefix=".probe.", delete=True)
        probe.close()
    except OSError as exc:
        raise CnnError(f"cannot write to --out '{out}': {(exc.strerror or str(exc)).lower()}") from None
    return out


# the files a run writes into its folder (confusion.png: `cnndsl evaluate`'s, next to them): what
# `--force` removes from a folder that holds an earlier run, and nothing else in it
RUN_FILES = ("run.json", "model.pt", "checkpoint.pt", "metrics.json", "metrics.csv", "curves.png", "confusion.png")


def check_reuse(out: Path, resume: bool, force: bool) -> None:
    """Refuse to train into `out` when it holds an earlier run (any of run.json, model.pt, checkpoint.pt,
    metrics.json), unless `resume` (continue it) or `force` (replace it: `clear_run` then removes its files).
    CnnError naming the folder and what it holds."""
    held = [name for name in ("run.json", "model.pt", "checkpoint.pt", "metrics.json") if (out / name).is_file()]
    if held and not (resume or force):
        raise CnnError(f"--out '{out}' already holds a run ({', '.join(held)})",
                       hint="train into another --out; --resume continues that run; --force replaces it")


def clear_run(out: Path) -> None:
    """Remove an earlier run's files (RUN_FILES) from `out`, so that a replaced run leaves none of them
    stale; the folder's other files stay."""
    for name in RUN_FILES:
        with contextlib.suppress(FileNotFoundError):
            (out / name).unlink()


LOCK = ".lock"


@contextlib.contextmanager
def locked(out: Path) -> Iterator[None]:
    """Hold `out`'s lock for the `with` body. Raises CnnError, saying which process holds it
    (pid, host, start time, command), when another one does."""
    path = out / LOCK
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise CnnError(f"cannot lock --out '{out}': {exc.strerror.lower()}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            holder = os.pread(fd, 4096, 0)
            os.close(fd)
            if isinstance(exc, BlockingIOError):
                raise CnnError(f"--out '{out}' is in use by another training run{_who(holder)}",
                               hint="wait for it to finish, or train into another --out") from None
            raise CnnError(f"cannot lock --out '{out}': {exc.strerror.lower()}") from None
        if _same_file(fd, path):
            break
        os.close(fd)  # its holder removed it between our open and our lock: lock the new one
    try:
        info = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.strftime("%Y-%m-%d %H:%M:%S %z"),
                "command": shlex.join(sys.argv)}
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(info) + "\n").encode(), 0)
        yield
    finally:
        with contextlib.suppress(OSError):  # removed while still held, so no other run can lock a stale name
            path.unlink()
        os.close(fd)


def _same_file(fd: int, path: Path) -> bool:
    try:
        here, there = os.fstat(fd), os.stat(path)
    except OSError:
        return False
    return (here.st_dev, here.st_ino) == (there.st_dev, there.st_ino)


def _who(holder: bytes) -> str:
    try:
        info = json.loads(holder)
        return f": pid {int(info['pid'])} on {info['host']}, started {info['started']}, running `{info['command']}`"
    except (ValueError, KeyError, TypeError):  # the holder has only just locked it and not yet written
        return ""


def write_atomic(path: Path, data: bytes) -> None:
    """Write `data` to `path` atomically and synced to disk (`cnndsl.files.write_atomic`; CnnError when
    refused)."""
    files.write_atomic(path, data, sync=True)


def save_torch(path: Path, obj: object) -> None:
    """`torch.save(obj)` into `path`, atomically (as `write_atomic`)."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    write_atomic(path, buffer.getvalue())


def load_checkpoint(path: Path) -> checkpoint.Reader:
    """A checkpoint, loaded with weights_only=True (no code runs from the file), its fields checked."""
    if not path.exists():
        raise CnnError(f"no checkpoint to resume from: '{path}' does not exist")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 (torch raises many kinds for a damaged file)
        raise CnnError(f"checkpoint '{path}' is damaged or not a cnndsl checkpoint: {exc}".split("\n")[0]) from None
    reader = checkpoint.Reader(path, state)
    reader.read()
    return reader


def preprocessing(train_set, data: str, resize: int | None, input_shape: tuple[int, ...],  # noqa: ANN001
                  mean: list[float], std: list[float]) -> dict:
    """What an input needs before the trained model sees it (docs/training.md): the data set and its class
    names by label, its image size (`image`: C, H, W), the resize (bilinear, to `resize` x `resize`; None:
    none), and the per-channel mean and
    std subtracted and divided after dividing the pixels by `scale` (255, to [0, 1])."""
    return {"data": data, "dataset": train_set.name, "classes": list(train_set.class_names),
            "image": list(train_set.shape), "input": list(input_shape), "resize": resize,
            "resize_mode": "bilinear" if resize else None,
            "scale": 255, "mean": list(mean), "std": list(std)}


def model_file(model: torch.nn.Module, preprocessing: dict) -> dict:
    """model.pt's content: the weights (`model`, a state_dict) and the `preprocessing` they were trained with;
    `torch.load(path, weights_only=True)` reads it."""
    return {"format": "cnndsl-model", "version": 1, "model": model.state_dict(), "preprocessing": preprocessing}


def write_run_info(out: Path, file: str | os.PathLike, net, options: dict, world: int,  # noqa: ANN001
                   preprocessing: dict | None = None) -> None:
    """run.json: the spec, the network, the options and command, the preprocessing of its inputs, and the
    versions that trained it."""
    import torchvision

    from ..version import __version__

    info = {"spec": Path(file).read_text(), "file": str(file), "network": net.name,
            "params": {k: v for k, v in net.params.items() if isinstance(v, (int, float, bool, tuple))},
            "input": list(net.input_shape), "options": options, "command": sys.argv, "world_size": world,
            "preprocessing": preprocessing,
            "versions": {"cnndsl": __version__, "torch": torch.__version__, "torchvision": torchvision.__version__,
                         "python": platform.python_version()}}
    write_atomic(out / "run.json", (json.dumps(info, indent=2, default=list) + "\n").encode())


def write_metrics(out: Path, rows: list[dict]) -> None:
    """metrics.json, metrics.csv (one row per epoch) and curves.png in `out`, each written atomically."""
    write_atomic(out / "metrics.json", (json.dumps(rows, indent=2) + "\n").encode())
    buffer = io.StringIO()
    if rows:
        writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    write_atomic(out / "metrics.csv", buffer.getvalue().encode())
    write_curves(out / "curves.png", rows)


def write_curves(path: Path, rows: list[dict]) -> None:
    """Loss and accuracy per epoch, as d2l plots them: train loss, train acc, test acc (`curves_figure`)."""
    import matplotlib.pyplot as plt

    fig = curves_figure(rows)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    write_atomic(path, buffer.getvalue())


def curves_figure(rows: list[dict]):  # noqa: ANN201 (a matplotlib Figure; matplotlib is imported here only)
    """The figure of `write_curves`: one line per metric, each epoch a marker, so that a run of one epoch
    (a line of one point draws nothing) shows its values too."""
    import matplotlib
    import matplotlib.ticker

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [r["epoch"] for r in rows]
    fig, ax = plt.subplots(figsize=(4.5, 3.2), dpi=120)
    ax.plot(epochs, [r["train_loss"] for r in rows], "o-", label="train loss", color="#1f77b4", markersize=4)
    ax.plot(epochs, [r["train_acc"] for r in rows], "s--", label="train acc", color="#9467bd", markersize=4)
    ax.plot(epochs, [r["test_acc"] for r in rows], "^-.", label="test acc", color="#2ca02c", markersize=4)
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    ax.set_xlim(0.5 if len(epochs) == 1 else 1, max(epochs) + (0.5 if len(epochs) == 1 else 0))
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    return fig
