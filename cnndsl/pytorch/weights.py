"""Copying weights between models whose state_dicts hold the same tensors in the same order."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn


def transfer_weights(src: nn.Module | Mapping[str, torch.Tensor], dst: nn.Module) -> list[tuple[str, str]]:
    """Copy `src` into `dst` by walking both state_dicts in order (parameters and buffers).

    Names may differ (`layer1.0.conv1.weight` -> `residual1.conv1.weight`); every shape must
    match, and so must the number of tensors. Returns the (source key, destination key) pairs.
    Raises ValueError naming the first pair that does not fit, before anything is copied.
    """
    source = src.state_dict() if isinstance(src, nn.Module) else dict(src)
    target = dst.state_dict()
    if len(source) != len(target):
        raise ValueError(f"the source has {len(source)} tensors, the destination {len(target)}")
    pairs, update = [], {}
    for (sk, sv), (dk, dv) in zip(source.items(), target.items(), strict=False):
        if tuple(sv.shape) != tuple(dv.shape):
            raise ValueError(f"source {sk} {tuple(sv.shape)} does not fit destination {dk} {tuple(dv.shape)}")
        pairs.append((sk, dk))
        update[dk] = sv
    dst.load_state_dict(update, strict=True)
    return pairs
