"""A training run's checkpoint, the one source of truth of its `--out` folder.

It is taken at a step boundary only (the end of an epoch, or the step at which Ctrl-C asked the
loop to stop), so it holds the state after the last completed step: the model, optimizer,
scheduler and loss scaler, the epoch and step reached, the metrics of every finished epoch, and
each process's running sums and random states. A resumed run continues with the next step and
gives what an uninterrupted one gives (on CPU, with the same seed). metrics.json/csv and
curves.png are copies of the checkpoint's rows, rewritten on resuming, so a kill between two
writes never loses an epoch.

A checkpoint is loaded with `torch.load(weights_only=True)` (no code runs from the file) and
every field is checked before use: a wrong one is a CnnError naming the file and the field.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
import torch.distributed as dist

from ..errors import CnnError

FORMAT = 2
ROW_FIELDS = ("epoch", "train_loss", "train_acc", "test_acc", "seconds", "train_seconds", "images_per_second", "lr")
OPTIMIZER_NAMES = {"SGD": "sgd", "Adam": "adam", "AdamW": "adamw"}
HINT = "the file is damaged or was written by another version of cnndsl; train again without --resume"


def rank_state(sums: list[float], aug: torch.Generator, device: torch.device) -> dict:
    """This process's part: its running sums of the epoch (loss, correct, images) and random states."""
    cuda = torch.cuda.get_rng_state(device) if device.type == "cuda" else torch.empty(0, dtype=torch.uint8)
    return {"sums": [float(s) for s in sums], "rng": torch.get_rng_state(), "aug": aug.get_state(), "cuda_rng": cuda}


def gather(state: dict, device: torch.device, world: int) -> list[dict]:
    """Every process's `rank_state`, in rank order; all processes call this at the same step."""
    if world == 1:
        return [state]
    parts = [torch.tensor(state["sums"], dtype=torch.float64).view(torch.uint8), state["rng"], state["aug"],
             state["cuda_rng"]]
    flat = torch.cat(parts).to(device)
    everyone = [torch.empty_like(flat) for _ in range(world)]
    dist.all_gather(everyone, flat)
    states = []
    for each in everyone:
        sums, rng, aug, cuda = (p.clone() for p in each.cpu().split([len(p) for p in parts]))
        states.append({"sums": sums.view(torch.float64).tolist(), "rng": rng, "aug": aug, "cuda_rng": cuda})
    return states


def pack(model: torch.nn.Module, opt: torch.optim.Optimizer, schedule: object, scaler: torch.amp.GradScaler, *,
         epoch: int, step: int, rows: list[dict], batch_size: int, ranks: list[dict]) -> dict:
    """The checkpoint after `step` steps of epoch `epoch` (0-based; step 0: the epoch has not begun)."""
    return {"format": FORMAT, "model": model.state_dict(), "optimizer": opt.state_dict(),
            "optimizer_name": OPTIMIZER_NAMES[type(opt).__name__],
            "scheduler": schedule.state_dict() if schedule else None, "scaler": scaler.state_dict(),
            "epoch": epoch, "step": step, "batch_size": batch_size, "world_size": len(ranks),
            "rows": [dict(r) for r in rows], "ranks": ranks}


def _describe(value: object) -> str:
    if isinstance(value, torch.Tensor):
        return f"a {value.dtype} tensor of shape {list(value.shape)}"
    if isinstance(value, (list, tuple, dict)):
        return f"a {type(value).__name__} of {len(value)}"
    return f"{type(value).__name__} {value!r}"[:80]


def _whole(value: object, least: int = 0) -> bool:
    return type(value) is int and value >= least


def _number(value: object) -> bool:
    return type(value) in (int, float) and math.isfinite(value)


def _bytes(size: int | None = None):  # noqa: ANN202
    return lambda v: (isinstance(v, torch.Tensor) and v.dtype == torch.uint8 and v.dim() == 1
                      and (size is None or v.numel() == size))


class Reader:
    """Checks a loaded checkpoint's fields, each error naming the file and the field."""

    def __init__(self, path: Path, state: object) -> None:
        self.path = path
        if not isinstance(state, dict):
            self.fail(f"checkpoint '{path}' is not a cnndsl checkpoint: it holds {_describe(state)}")
        self.state = state

    def fail(self, message: str) -> None:
        """Raise CnnError with `message` and the hint that the file is damaged or from another version."""
        raise CnnError(message, hint=HINT)

    def wrong(self, field: str, value: object, what: str) -> None:
        """Raise CnnError saying that checkpoint field `field` must be `what`, not `value`."""
        self.fail(f"checkpoint '{self.path}': field '{field}' must be {what}, not {_describe(value)}")

    def get(self, field: str, ok, what: str, within: dict | None = None, name: str | None = None):  # noqa: ANN001, ANN201
        """`within[field]` (the top level by default) when `ok(value)`, else a CnnError naming it
        (`name`: its path from the top, as `rows[0].epoch`)."""
        where = self.state if within is None else within
        if field not in where:
            self.fail(f"checkpoint '{self.path}': field '{name or field}' is missing")
        if not ok(where[field]):
            self.wrong(name or field, where[field], what)
        return where[field]

    def read(self) -> dict:
        """The top-level fields and the parts every resume uses, checked; `restore` checks the rest
        against the network and optimizer."""
        if self.state.get("format") != FORMAT:
            self.fail(f"checkpoint '{self.path}' is not a cnndsl checkpoint of format {FORMAT} "
                      f"(field 'format' is {self.state.get('format')!r})")
        self.get("model", lambda v: isinstance(v, dict) and all(isinstance(k, str) and isinstance(t, torch.Tensor)
                                                                for k, t in v.items()),
                 "a dict of named tensors")
        self.get("optimizer", lambda v: isinstance(v, dict) and isinstance(v.get("state"), dict)
                 and isinstance(v.get("param_groups"), list) and all(isinstance(g, dict) for g in v["param_groups"]),
                 "a dict with 'state' and 'param_groups' (a list of dicts)")
        self.get("optimizer_name", lambda v: v in OPTIMIZER_NAMES.values(), "sgd, adam or adamw")
        self.get("scheduler", lambda v: v is None or isinstance(v, dict), "a dict or None")
        self.get("scaler", lambda v: isinstance(v, dict), "a dict")
        epoch = self.get("epoch", _whole, "a whole number >= 0")
        self.get("step", _whole, "a whole number >= 0")
        self.get("batch_size", lambda v: _whole(v, 1), "a whole number >= 1")
        world = self.get("world_size", lambda v: _whole(v, 1), "a whole number >= 1")
        rows = self.get("rows", lambda v: isinstance(v, list) and len(v) == epoch,
                        f"a list of one row per finished epoch ({epoch})")
        for i, row in enumerate(rows):
            if not isinstance(row, dict):
                self.wrong(f"rows[{i}]", row, "a dict")
            for key in ROW_FIELDS:
                self.get(key, _number, "a finite number", row, f"rows[{i}].{key}")
            self.get("epoch", lambda v, e=i + 1: type(v) is int and v == e, f"{i + 1}", row, f"rows[{i}].epoch")
        ranks = self.get("ranks", lambda v: isinstance(v, list) and len(v) == world,
                         f"a list of one state per process ({world})")
        rng_size, aug_size = torch.get_rng_state().numel(), torch.Generator().get_state().numel()
        for i, part in enumerate(ranks):
            if not isinstance(part, dict):
                self.wrong(f"ranks[{i}]", part, "a dict")
            self.get("sums", lambda v: isinstance(v, list) and len(v) == 3 and all(map(_number, v)),
                     "a list of 3 finite numbers", part, f"ranks[{i}].sums")
            self.get("rng", _bytes(rng_size), f"a uint8 tensor of {rng_size}", part, f"ranks[{i}].rng")
            self.get("aug", _bytes(aug_size), f"a uint8 tensor of {aug_size}", part, f"ranks[{i}].aug")
            self.get("cuda_rng", _bytes(), "a 1-D uint8 tensor", part, f"ranks[{i}].cuda_rng")
        return self.state


def _mismatch(saved: object, fresh: object, where: str) -> str | None:
    """The first place where `saved` differs in kind from `fresh` (the state of a freshly made
    optimizer or scheduler), or None; None on either side and missing flags are left to torch."""
    if fresh is None or saved is None:
        return None
    if isinstance(fresh, bool):
        return None if isinstance(saved, bool) else where
    if isinstance(fresh, (int, float)):
        return None if _number(saved) else where
    if isinstance(fresh, str):
        return None if isinstance(saved, str) else where
    if isinstance(fresh, torch.Tensor):
        return None if isinstance(saved, torch.Tensor) and saved.shape == fresh.shape else where
    if isinstance(fresh, (list, tuple)):
        if not isinstance(saved, (list, tuple)) or len(saved) != len(fresh):
            return where
        pairs = enumerate(zip(saved, fresh, strict=True))
        return next(filter(None, (_mismatch(s, f, f"{where}[{i}]") for i, (s, f) in pairs)), None)
    if isinstance(fresh, dict):
        if not isinstance(saved, dict):
            return where
        for key, value in fresh.items():
            if key not in saved and not (value is None or isinstance(value, bool)):
                return f"{where}.{key}"
            found = _mismatch(saved.get(key), value, f"{where}.{key}")
            if found:
                return found
    return None


def _optimizer_state_mismatch(saved: dict, opt: torch.optim.Optimizer) -> str | None:
    """Where the per-parameter state (momentum, Adam's averages) does not fit the parameters."""
    shapes = [p.shape for group in opt.param_groups for p in group["params"]]
    for index, values in saved["state"].items():
        if not _whole(index) or index >= len(shapes) or not isinstance(values, dict):
            return f"optimizer.state[{index!r}]"
        for key, value in values.items():
            if not (value is None or _number(value) or isinstance(value, torch.Tensor)
                    and (value.dim() == 0 or value.shape == shapes[index])):
                return f"optimizer.state[{index}].{key}"
    return None


def restore(reader: Reader, *, model: torch.nn.Module, opt: torch.optim.Optimizer, schedule: object,
            scaler: torch.amp.GradScaler, aug: torch.Generator, device: torch.device, rank: int, world: int,
            optimizer: str, batch_size: int, steps: int) -> tuple[int, int, list[dict], list[float]]:
    """Load a checked checkpoint into the run's objects and random states; returns this process's
    (epoch, step, rows, sums). `steps`: the steps of one epoch in this run."""
    state, path = reader.state, reader.path
    if state["optimizer_name"] != optimizer:
        raise CnnError(f"the checkpoint was made with --optimizer {state['optimizer_name']}, not {optimizer}",
                       hint=f"resume with --optimizer {state['optimizer_name']}")
    epoch, step = state["epoch"], state["step"]
    if step and (state["batch_size"], state["world_size"]) != (batch_size, world):
        raise CnnError(f"checkpoint '{path}' was taken in the middle of epoch {epoch + 1} with --batch-size "
                       f"{state['batch_size']} on {state['world_size']} process(es); this run has {batch_size} on "
                       f"{world}", hint="resume with the same batch size and number of processes")
    if step >= steps:
        reader.wrong("step", step, f"less than the {steps} steps of an epoch")
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as exc:
        raise CnnError(f"checkpoint '{path}': field 'model' does not fit this network: {exc}".split("\n")[0],
                       hint=HINT) from None
    fresh = {"param_groups": opt.state_dict()["param_groups"]}
    wrong = (_mismatch({"param_groups": state["optimizer"]["param_groups"]}, fresh, "optimizer")
             or _optimizer_state_mismatch(state["optimizer"], opt))
    if schedule and state["scheduler"] is not None:
        wrong = wrong or _mismatch(state["scheduler"], schedule.state_dict(), "scheduler")
    if scaler.is_enabled() and state["scaler"]:
        wrong = wrong or _mismatch(state["scaler"], scaler.state_dict(), "scaler")
    if wrong:
        reader.fail(f"checkpoint '{path}': field '{wrong}' does not fit this network and --optimizer/--schedule")
    try:
        opt.load_state_dict(state["optimizer"])
    except (KeyError, ValueError, TypeError, IndexError, RuntimeError) as exc:
        reader.fail(f"checkpoint '{path}': field 'optimizer' does not fit this network: {exc}".split("\n")[0])
    if schedule and state["scheduler"] is not None:
        schedule.load_state_dict(state["scheduler"])
    if scaler.is_enabled() and state["scaler"]:
        scaler.load_state_dict(state["scaler"])
    # the same processes continue their own states; other counts (only at an epoch's start) take the first's
    mine = state["ranks"][rank] if world == state["world_size"] else state["ranks"][0]
    torch.set_rng_state(mine["rng"])
    aug.set_state(mine["aug"])
    if device.type == "cuda" and mine["cuda_rng"].numel() == torch.cuda.get_rng_state(device).numel():
        torch.cuda.set_rng_state(mine["cuda_rng"], device)
    return epoch, step, [dict(r) for r in state["rows"]], list(mine["sums"])
