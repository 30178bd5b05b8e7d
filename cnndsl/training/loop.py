"""`cnndsl.train`: a spec trained on real data, on CPU or CUDA, one process or several (DDP).

Resumable to the step: the checkpoint (see `checkpoint`) is taken at step boundaries only, at
each epoch's end and where Ctrl-C asked the loop to stop, so a resumed run gives the metrics an
uninterrupted one gives (on CPU, with the same seed).
"""

from __future__ import annotations

import contextlib
import os
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F  # noqa: N812

from ..api import check, compile, parse_shape
from ..errors import CnnError
from . import checkpoint, runs
from . import data as datasets
from .devices import _amp_dtype, _device, _reduce, _world
from .interrupt import StopRequest
from .progress import ProgressBar
from .watch import LossWatch


@dataclass
class Options:
    """The training settings, one per `cnndsl train` option: `data` (fashion-mnist, mnist, cifar10 or an
    image folder), `resize` (side in pixels), `epochs`, `batch_size`, `lr`, `optimizer` (sgd, adam,
    adamw), `momentum` (SGD's), `weight_decay`, `schedule` (none, cosine, step), `augment` (flip, crop),
    `device` (auto, cpu, cuda), `amp`, `channels_last`, `compile`, `seed`, `out` (the run folder),
    `resume`, `subset` (train on the first N images only), `force` (replace a run already in `out`)."""

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
    force: bool = False  # replace the run already in `out` (without it, or resume, such an `out` is refused)


class TrainingInterruptedError(Exception):
    """Ctrl-C: a checkpoint was saved; `--resume` continues from it."""


def _agree(net, train: datasets.Dataset, opts: Options) -> None:  # noqa: ANN001
    c, h, w = train.shape
    size = (opts.resize, opts.resize) if opts.resize else (h, w)
    if net.input_shape != (c, *size):
        got = f"{c}x{size[0]}x{size[1]}" + (f" after --resize {opts.resize}" if opts.resize else "")
        want = "x".join(map(str, net.input_shape))
        fix = f"--resize {net.input_shape[-1]}" if net.input_shape[0] == c else f"--input {got.split()[0]}"
        raise CnnError(f"{net.name} expects {want} inputs but {opts.data} gives {got}", hint=f"use {fix}")
    outs, n = net.output_shapes[0], train.classes
    if outs != (n,):
        # --set classes only fixes a network that ends in a vector as long as its `classes` parameter
        fix = (f"use --set classes={n}" if len(outs) == 1 and net.params.get("classes") == outs[0]
               else f"end the network in {n} values, e.g. `gap, flatten, fc {n}`")
        raise CnnError(f"{net.name} outputs {'x'.join(map(str, outs))} values per image but training on {opts.data} "
                       f"needs a vector of {n}, one score per class", hint=fix)


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


def _evaluate(model: torch.nn.Module, batches: datasets.Batches, opts: Options, device: torch.device) -> float:
    rank, world = _world()
    model.eval()
    correct, count = torch.zeros((), dtype=torch.int64, device=device), 0
    index = torch.arange(len(batches.ds.labels))[rank::world]
    with torch.no_grad(), _autocast(opts, device):
        for i in range(0, len(index), 1024):
            x, y = batches.batch(index[i:i + 1024], False, None)
            correct += (model(x).argmax(1) == y).sum()  # on the device: no wait per batch
            count += len(y)
    correct, count = _reduce([correct.item(), count], device)
    return correct / max(count, 1)


def _autocast(opts: Options, device: torch.device):  # noqa: ANN202
    return torch.autocast(device.type, dtype=_amp_dtype(device), enabled=opts.amp)


def _best(rows: list[dict]) -> int:
    """The index of the first epoch with the highest test accuracy (the one model.pt holds)."""
    return max(range(len(rows)), key=lambda i: rows[i]["test_acc"])


class _Run:
    """One training run: its data, model, optimizer and position (epoch, step, running sums)."""

    def __init__(self, checked, opts: Options, out: Path, device: torch.device) -> None:  # noqa: ANN001
        self.opts, self.out, self.device = opts, out, device
        self.rank, self.world = _world()
        train_set, test_set = datasets.load(opts.data, checked.input_shape[1:], checked.input_shape[0])
        if opts.subset:
            train_set = datasets.Dataset(train_set.name, train_set.images[:opts.subset],
                                         train_set.labels[:opts.subset], train_set.classes, train_set.class_names)
        _agree(checked, train_set, opts)
        torch.manual_seed(opts.seed)
        random.seed(opts.seed)
        self.model = compile(checked).to(device)
        if opts.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        mean, std = datasets.channel_statistics(train_set)
        self.preprocessing = runs.preprocessing(train_set, opts.data, opts.resize, checked.input_shape, mean, std)
        make = lambda ds: datasets.Batches(ds, opts.batch_size, device, opts.resize, set(opts.augment),  # noqa: E731
                                           mean, std, opts.channels_last)
        self.train_batches, self.test_batches = make(train_set), make(test_set)
        self.opt, self.schedule = _optimizer(self.model, opts)
        self.scaler = torch.amp.GradScaler(device.type, enabled=opts.amp and _amp_dtype(device) == torch.float16)
        # every batch but an epoch's last has one shape: let cuDNN time its algorithms once and keep the fastest
        torch.backends.cudnn.benchmark = device.type == "cuda"
        self.aug = torch.Generator().manual_seed(opts.seed + 1)
        self.images = len(train_set.labels)
        # every process takes the same number of steps (DDP waits for all at each step), so each
        # epoch the last images of the shuffled order that do not fill a share sit out
        self.share = self.images // self.world
        if not self.share:
            raise CnnError(f"{self.images} training images cannot be shared among {self.world} processes")
        self.steps = -(-self.share // opts.batch_size)
        self.epoch, self.step, self.sums, self.rows = 0, 0, self._zero_sums(), []
        self.watch = LossWatch(device)

    def resume(self) -> None:
        """Continue from checkpoint.pt; rewrite the files it is the source of."""
        reader = runs.load_checkpoint(self.out / "checkpoint.pt")
        self.epoch, self.step, self.rows, sums = checkpoint.restore(
            reader, model=self.model, opt=self.opt, schedule=self.schedule, scaler=self.scaler, aug=self.aug,
            device=self.device, rank=self.rank, world=self.world, optimizer=self.opts.optimizer,
            batch_size=self.opts.batch_size, steps=self.steps)
        self.sums = torch.tensor(sums, dtype=torch.float64, device=self.device)
        if self.opts.schedule == "none":  # a --lr given on resuming applies from here on
            for group in self.opt.param_groups:
                group["lr"] = self.opts.lr
        if self.rank == 0:
            self._write_copies()

    def _zero_sums(self) -> torch.Tensor:
        """The epoch's running sums (loss times images, correct, images), on the device."""
        return torch.zeros(3, dtype=torch.float64, device=self.device)

    def _save(self) -> None:
        """checkpoint.pt, at a step boundary: every process gives its part, the first writes. Only after a
        check of the loss, so that no checkpoint holds a step with a non-finite loss."""
        self.watch.check(self.out)
        mine = checkpoint.rank_state(self.sums.tolist(), self.aug, self.device)
        ranks = checkpoint.gather(mine, self.device, self.world)
        if self.rank == 0:
            runs.save_torch(self.out / "checkpoint.pt", checkpoint.pack(
                self.model, self.opt, self.schedule, self.scaler, epoch=self.epoch, step=self.step, rows=self.rows,
                batch_size=self.opts.batch_size, ranks=ranks))

    def _write_copies(self) -> None:
        """What follows from the checkpoint (written after it, so a kill in between loses nothing):
        model.pt when the epoch just finished is the best, and metrics.json/csv and curves.png."""
        if self.step == 0 and self.rows and _best(self.rows) == len(self.rows) - 1:
            runs.save_torch(self.out / "model.pt", runs.model_file(self.model, self.preprocessing))
        if self.rows:
            runs.write_metrics(self.out, self.rows)

    def loop(self, ddp: torch.nn.Module, show: bool) -> list[dict]:
        """Train to `opts.epochs`; raises TrainingInterruptedError after Ctrl-C, with a checkpoint saved."""
        with StopRequest(again_stops=self.world == 1, say=show) as stop:
            while self.epoch < self.opts.epochs:
                start = time.perf_counter()
                self._epoch(ddp, stop, show, start)
                self._end_epoch(start, show)
        return self.rows

    def _epoch(self, ddp: torch.nn.Module, stop: StopRequest, show: bool, start: float) -> None:
        seed = self.opts.seed * 7919 + self.epoch
        order = torch.randperm(self.images, generator=torch.Generator().manual_seed(seed))
        index = order[:self.share * self.world][self.rank::self.world]
        bar = ProgressBar(show, self.epoch, self.opts.epochs, self.steps)
        self.model.train()
        try:
            while self.step < self.steps:
                if stop.agreed(self.device, self.world):
                    self._save()
                    raise TrainingInterruptedError(
                        f"interrupted at epoch {self.epoch + 1}, step {self.step}; checkpoint saved in "
                        f"{self.out / 'checkpoint.pt'}; continue with --resume")
                self._step(ddp, index[self.step * self.opts.batch_size:(self.step + 1) * self.opts.batch_size])
                bar.update(self.step, self.sums, time.perf_counter() - start)
        finally:
            bar.close()

    def _step(self, ddp: torch.nn.Module, index: torch.Tensor) -> None:
        x, y = self.train_batches.batch(index, True, self.aug)
        with _autocast(self.opts, self.device):
            logits = ddp(x)
            loss = F.cross_entropy(logits, y)
        self.watch.record(loss, self.epoch, self.step)
        self.opt.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.opt)
        self.scaler.update()
        # the running sums stay on the device: reading them would wait for the step to finish
        self.sums += torch.stack([loss.detach().double() * len(y), (logits.argmax(1) == y).sum().double(),
                                  torch.tensor(float(len(y)), dtype=torch.float64, device=self.device)])
        self.step += 1
        if self.step % LossWatch.EVERY == 0:
            self.watch.check(self.out)

    def _end_epoch(self, start: float, progress: bool) -> None:
        self.watch.check(self.out)
        total = _reduce(self.sums.tolist(), self.device)
        train_seconds = time.perf_counter() - start
        test_acc = _evaluate(self.model, self.test_batches, self.opts, self.device)
        elapsed = time.perf_counter() - start
        row = {"epoch": self.epoch + 1, "train_loss": total[0] / total[2], "train_acc": total[1] / total[2],
               "test_acc": test_acc, "seconds": round(elapsed, 2), "train_seconds": round(train_seconds, 2),
               "images_per_second": round(total[2] / train_seconds, 1), "lr": self.opt.param_groups[0]["lr"]}
        self.rows.append(row)
        if self.schedule:
            self.schedule.step()
        self.epoch, self.step, self.sums = self.epoch + 1, 0, self._zero_sums()
        self._save()
        if self.rank == 0:
            self._write_copies()
            if progress:
                print(f"epoch {row['epoch']}/{self.opts.epochs}  train loss {row['train_loss']:.4f}  train acc "
                      f"{row['train_acc']:.4f}  test acc {test_acc:.4f}  {elapsed:.1f} s  "
                      f"{row['images_per_second']:.0f} img/s", flush=True)


def train(file: str | os.PathLike, net: str | None = None, input: str | None = None,
          options: Options | None = None, progress: bool = True, **params: object) -> list[dict]:
    """Train network `net` of `file` on real data; returns the per-epoch metrics, one dict per epoch
    (epoch, train_loss, train_acc, test_acc, seconds, train_seconds, images_per_second, lr), also
    written to `options.out` with model.pt, checkpoint.pt, curves.png and run.json.

    `input` replaces the declared input shape, as text per sample (`1x28x28`, no batch axis); the other
    keywords set network parameters, as for `cnndsl.check`. Under torchrun each process trains a share
    of every epoch (DistributedDataParallel) and the first writes the files.

    Raises CnnError for bad input (everything `check` refuses, no CUDA for device cuda, a dataset that
    cannot be found or whose image size or classes do not fit the network), a damaged or mismatched
    checkpoint, an `--out` another run is using, that cannot be written or that holds an earlier run
    (unless `resume` or `force`), and a loss that is not finite; TrainingInterruptedError after Ctrl-C
    (a checkpoint of the last completed step is saved).
    """
    opts = options or Options()
    rank, world = _world()
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if opts.device != "cpu" and torch.cuda.is_available() else "gloo")
    device = _device(opts.device)
    checked = check(file, net, parse_shape(input) if input else None, **params)
    out = runs.prepare(Path(opts.out)) if rank == 0 else Path(opts.out)
    with runs.locked(out) if rank == 0 else contextlib.nullcontext():  # one writer: the first process
        if rank == 0:  # under the lock: a run training there now is named as such
            runs.check_reuse(out, opts.resume, opts.force)
        run = _Run(checked, opts, out, device)
        if opts.resume:
            run.resume()
        elif opts.force and rank == 0:  # only now that the data fit: a refused run replaces nothing
            runs.clear_run(out)
        if rank == 0:
            runs.write_run_info(out, file, checked, asdict(opts), world, run.preprocessing)
        forward = torch.compile(run.model) if opts.compile else run.model
        ddp = torch.nn.parallel.DistributedDataParallel(forward, device_ids=[device.index] if device.type == "cuda"
                                                        else None) if world > 1 else forward
        rows = run.loop(ddp, progress and rank == 0)
    if world > 1:
        dist.destroy_process_group()
    return rows
