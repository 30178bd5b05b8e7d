"""`cnndsl.train`: a spec trained on real data, on CPU or CUDA, one process or several (DDP).

Resumable to the step: a checkpoint holds the model, optimizer, scheduler, the epoch and step
reached, the running sums of the epoch and every random state, so a resumed run gives the
metrics an uninterrupted one gives (on CPU, with the same seed).
"""

from __future__ import annotations

import json
import os
import platform
import random
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F  # noqa: N812

from ..api import check, compile, parse_shape
from ..errors import CnnError
from . import data as datasets
from . import runs


@dataclass
class Options:
    data: str = "fashion-mnist"
    resize: int | None = None
    epochs: int = 10
    batch_size: int = 256
    lr: float = 0.01
    optimizer: str = "adam"
    momentum: float = 0.9
    weight_decay: float = 0.0
    schedule: str = "none"
    augment: list[str] = field(default_factory=list)
    device: str = "auto"
    amp: bool = False
    channels_last: bool = False
    compile: bool = False
    seed: int = 0
    out: str = "runs/train"
    resume: bool = False
    subset: int | None = None  # train on the first N images only (quick runs, tests)


class TrainingInterruptedError(Exception):
    """Ctrl-C: a checkpoint was saved; `--resume` continues from it."""


def _world() -> tuple[int, int]:
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))


def _device(name: str) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise CnnError("--device cuda: no CUDA device is available")
    if name == "cuda" and _world()[1] > 1:
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
    return torch.device(name)


def _agree(net, train: datasets.Dataset, opts: Options) -> None:  # noqa: ANN001
    c, h, w = train.shape
    size = (opts.resize, opts.resize) if opts.resize else (h, w)
    if net.input_shape != (c, *size):
        got = f"{c}x{size[0]}x{size[1]}" + (f" after --resize {opts.resize}" if opts.resize else "")
        want = "x".join(map(str, net.input_shape))
        fix = f"--resize {net.input_shape[-1]}" if net.input_shape[0] == c else f"--input {got.split()[0]}"
        raise CnnError(f"{net.name} expects {want} inputs but {opts.data} gives {got}", hint=f"use {fix}")
    outs = net.output_shapes[0]
    if outs != (train.classes,):
        raise CnnError(f"{net.name} outputs {'x'.join(map(str, outs))} values but {opts.data} has "
                       f"{train.classes} classes", hint=f"use --set classes={train.classes}")


def _optimizer(model: torch.nn.Module, opts: Options) -> tuple:
    params = model.parameters()
    if opts.optimizer == "sgd":
        opt = torch.optim.SGD(params, lr=opts.lr, momentum=opts.momentum, weight_decay=opts.weight_decay)
    elif opts.optimizer == "adam":
        opt = torch.optim.Adam(params, lr=opts.lr, weight_decay=opts.weight_decay)
    else:
        opt = torch.optim.AdamW(params, lr=opts.lr, weight_decay=opts.weight_decay)
    schedule = None
    if opts.schedule == "cosine":
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=opts.epochs)
    elif opts.schedule == "step":
        schedule = torch.optim.lr_scheduler.StepLR(opt, step_size=max(1, opts.epochs // 3), gamma=0.1)
    return opt, schedule


def _reduce(values: list[float], device: torch.device) -> list[float]:
    if _world()[1] == 1:
        return values
    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return t.tolist()


def _evaluate(model: torch.nn.Module, batches: datasets.Batches, opts: Options, device: torch.device) -> float:
    rank, world = _world()
    model.eval()
    correct = count = 0
    index = torch.arange(len(batches.ds.labels))[rank::world]
    with torch.no_grad(), _autocast(opts, device):
        for i in range(0, len(index), 1024):
            x, y = batches.batch(index[i:i + 1024], False, None)
            correct += (model(x).argmax(1) == y).sum().item()
            count += len(y)
    correct, count = _reduce([correct, count], device)
    return correct / max(count, 1)


def _autocast(opts: Options, device: torch.device):  # noqa: ANN202
    dtype = torch.bfloat16 if device.type == "cpu" or torch.cuda.is_bf16_supported() else torch.float16
    return torch.autocast(device.type, dtype=dtype, enabled=opts.amp)


def _state(model, opt, schedule, epoch: int, step: int, sums: list, best: float, aug: torch.Generator) -> dict:  # noqa: ANN001
    return {"model": model.state_dict(), "optimizer": opt.state_dict(), "optimizer_name": _name(opt),
            "scheduler": schedule.state_dict() if schedule else None, "epoch": epoch, "step": step,
            "sums": list(sums), "best": best, "rng": torch.get_rng_state(), "aug": aug.get_state(),
            "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []}


class _Bar:
    """The per-epoch progress bar (rich, on stderr) with loss, accuracy and images/s."""

    def __init__(self, show: bool, epoch: int, epochs: int, total: int) -> None:
        self.progress = None
        if show and sys.stderr.isatty():
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self.progress = Progress(TextColumn(f"epoch {epoch + 1}/{epochs}"), BarColumn(), MofNCompleteColumn(),
                                     TextColumn("{task.fields[stats]}"), TimeRemainingColumn(), transient=True)
            self.task = self.progress.add_task("train", total=total, stats="")
            self.progress.start()

    def update(self, step: int, sums: list, seconds: float) -> None:
        if self.progress and step % 5 == 0:
            stats = f"loss {sums[0] / sums[2]:.4f}  acc {sums[1] / sums[2]:.4f}  {sums[2] / seconds:.0f} img/s"
            self.progress.update(self.task, completed=step, stats=stats)

    def close(self) -> None:
        if self.progress:
            self.progress.stop()
            self.progress = None


def _write_run(out: Path, file: str | os.PathLike, net, opts: Options, world: int) -> None:  # noqa: ANN001
    import torchvision

    from ..version import __version__

    info = {"spec": Path(file).read_text(), "file": str(file), "network": net.name,
            "params": {k: v for k, v in net.params.items() if isinstance(v, (int, float, bool, tuple))},
            "input": list(net.input_shape), "options": asdict(opts), "command": sys.argv, "world_size": world,
            "versions": {"cnndsl": __version__, "torch": torch.__version__, "torchvision": torchvision.__version__,
                         "python": platform.python_version()}}
    runs.write_atomic(out / "run.json", (json.dumps(info, indent=2, default=list) + "\n").encode())


def _name(opt: torch.optim.Optimizer) -> str:
    return {"SGD": "sgd", "Adam": "adam", "AdamW": "adamw"}[type(opt).__name__]


def train(file: str | os.PathLike, net: str | None = None, input: str | None = None,
          options: Options | None = None, progress: bool = True, **params: object) -> list[dict]:
    """Train a network; returns the per-epoch metrics (also written to `options.out`)."""
    opts = options or Options()
    rank, world = _world()
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if opts.device != "cpu" and torch.cuda.is_available() else "gloo")
    device = _device(opts.device)
    checked = check(file, net, parse_shape(input) if input else None, **params)
    out = runs.prepare(Path(opts.out)) if rank == 0 else Path(opts.out)
    train_set, test_set = datasets.load(opts.data, checked.input_shape[1:], checked.input_shape[0])
    if opts.subset:
        train_set = datasets.Dataset(train_set.name, train_set.images[:opts.subset], train_set.labels[:opts.subset],
                                     train_set.classes)
    _agree(checked, train_set, opts)
    torch.manual_seed(opts.seed)
    random.seed(opts.seed)
    model = compile(checked).to(device)
    if opts.channels_last:
        model = model.to(memory_format=torch.channels_last)
    pixels = train_set.images.float().div(255)
    mean, std = pixels.mean().item(), pixels.std().item()
    make = lambda ds: datasets.Batches(ds, opts.batch_size, device, opts.resize, set(opts.augment),  # noqa: E731
                                       mean, std, opts.channels_last)
    train_batches, test_batches = make(train_set), make(test_set)
    opt, schedule = _optimizer(model, opts)
    rows, epoch, step, sums, best = [], 0, 0, [0.0, 0.0, 0.0], -1.0
    aug = torch.Generator().manual_seed(opts.seed + 1)
    if opts.resume:
        state = runs.load_checkpoint(out / "checkpoint.pt")
        made_with = state.get("optimizer_name", opts.optimizer)
        if made_with != opts.optimizer:
            raise CnnError(f"the checkpoint was made with --optimizer {made_with}, not {opts.optimizer}",
                           hint=f"resume with --optimizer {made_with}")
        try:
            model.load_state_dict(state["model"])
            opt.load_state_dict(state["optimizer"])
            if schedule and state["scheduler"]:
                schedule.load_state_dict(state["scheduler"])
        except (KeyError, ValueError, RuntimeError) as exc:
            raise CnnError(f"the checkpoint does not fit this network and optimizer: {exc}".split("\n")[0]) from None
        if opts.schedule == "none":  # a --lr given on resuming applies from here on
            for group in opt.param_groups:
                group["lr"] = opts.lr
        epoch, step, sums, best = state["epoch"], state["step"], state["sums"], state["best"]
        torch.set_rng_state(state["rng"])
        aug.set_state(state["aug"])
        rows = runs.read_metrics(out)[:epoch]
    if rank == 0:
        _write_run(out, file, checked, opts, world)
    forward = torch.compile(model) if opts.compile else model
    ddp = torch.nn.parallel.DistributedDataParallel(forward, device_ids=[device.index] if device.type == "cuda"
                                                    else None) if world > 1 else forward
    scaler = torch.amp.GradScaler(device.type, enabled=opts.amp and device.type == "cuda")
    show = progress and rank == 0
    while epoch < opts.epochs:
        start = time.perf_counter()
        order = torch.randperm(len(train_set.labels), generator=torch.Generator().manual_seed(opts.seed * 7919 + epoch))
        index = order[rank::world]
        per_rank = -(-len(index) // opts.batch_size)
        bar = _Bar(show, epoch, opts.epochs, per_rank)
        model.train()
        try:
            while step < per_rank:
                x, y = train_batches.batch(index[step * opts.batch_size:(step + 1) * opts.batch_size], True, aug)
                with _autocast(opts, device):
                    logits = ddp(x)
                    loss = F.cross_entropy(logits, y)
                if not torch.isfinite(loss):
                    raise CnnError(f"the loss is {loss.item()} at epoch {epoch + 1}, step {step + 1}: training stopped",
                                   hint=f"the last good checkpoint is {out / 'checkpoint.pt'}; try a smaller --lr")
                opt.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                scaler.step(opt)
                scaler.update()
                correct = (logits.argmax(1) == y).sum().item()
                sums = [sums[0] + loss.item() * len(y), sums[1] + correct, sums[2] + len(y)]
                step += 1
                bar.update(step, sums, time.perf_counter() - start)
        except KeyboardInterrupt:
            bar.close()
            if rank == 0:
                runs.save_torch(out / "checkpoint.pt", _state(model, opt, schedule, epoch, step, sums, best, aug))
            raise TrainingInterruptedError(f"interrupted at epoch {epoch + 1}, step {step}; checkpoint saved in "
                              f"{out / 'checkpoint.pt'}; continue with --resume") from None
        bar.close()
        total = _reduce(sums, device)
        train_seconds = time.perf_counter() - start
        test_acc = _evaluate(model, test_batches, opts, device)
        elapsed = time.perf_counter() - start
        row = {"epoch": epoch + 1, "train_loss": total[0] / total[2], "train_acc": total[1] / total[2],
               "test_acc": test_acc, "seconds": round(elapsed, 2), "train_seconds": round(train_seconds, 2),
               "images_per_second": round(total[2] / train_seconds, 1), "lr": opt.param_groups[0]["lr"]}
        rows.append(row)
        if schedule:
            schedule.step()
        epoch, step, sums = epoch + 1, 0, [0.0, 0.0, 0.0]
        if rank == 0:
            if test_acc > best:
                best = test_acc
                runs.save_torch(out / "model.pt", model.state_dict())
            runs.save_torch(out / "checkpoint.pt", _state(model, opt, schedule, epoch, step, sums, best, aug))
            runs.write_metrics(out, rows)
            if progress:
                print(f"epoch {row['epoch']}/{opts.epochs}  train loss {row['train_loss']:.4f}  train acc "
                      f"{row['train_acc']:.4f}  test acc {test_acc:.4f}  {elapsed:.1f} s  "
                      f"{row['images_per_second']:.0f} img/s", flush=True)
    if world > 1:
        dist.destroy_process_group()
    return rows
