"""Where training runs: this process's rank and the number of processes (torchrun's environment), its
torch device, the sums of all processes, and the precision autocast computes in."""

from __future__ import annotations

import os

import torch
import torch.distributed as dist

from ..errors import CnnError


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


def _reduce(values: list[float], device: torch.device) -> list[float]:
    if _world()[1] == 1:
        return values
    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return t.tolist()


def _amp_dtype(device: torch.device) -> torch.dtype:
    """bfloat16 where the device computes in it (CPU, Ampere and later GPUs): it keeps float32's range, so
    no loss scaling is needed; float16 with a GradScaler on older GPUs."""
    return torch.bfloat16 if device.type == "cpu" or torch.cuda.is_bf16_supported() else torch.float16
