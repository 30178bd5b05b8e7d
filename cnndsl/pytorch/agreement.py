"""When another runtime's outputs agree with torch's: the one rule of every export's check
(onnxruntime, a saved TorchScript or torch.export program) and of the differential oracle's
comparisons (benchmarks/oracle_exports.py); docs/export.md states it.

An output agrees where every |runtime - torch| <= ATOL + RTOL x m + MARGIN x r: m is the output's
largest finite |torch value| (float32 rounding grows with the values; ATOL is a floor for
outputs near 0), and r its rounding spread: how far the output moves when what rounding can
change is moved, at random signs per element and then all one way:
- the input and every layer's result by ROUNDING of its tensor's largest |value|. Where a later sum
  cancels (a conv whose terms are much larger than their total) what is left is mostly rounding, in
  torch and in any runtime, and moves with it; and runtimes approximate sigmoid, tanh and exp to a
  few epsilons of their range, so a tiny sigmoid in the tail is off by about its own size, which a
  later product can make large; elsewhere r stays far below RTOL x m;
- the output of every normalisation that uses its own input's statistics (groupnorm, layernorm,
  layernorm2d, instancenorm without running statistics) by NORM_ROUNDING x the largest |value| of
  the group it normalises x its gain 1/sqrt(var + eps) (x |its weight|): a rounding of the group's
  mean moves the whole group. The gain is a few units for an ordinary group; where a group's
  values (nearly) agree (groupnorm over one value per group, layernorm2d over channels equal
  after a pool) it reaches 1/sqrt(eps), about 316 for eps = 1e-5, and the output carries that
  much of the rounding of the mean, in torch and in any runtime alike; r says how much.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn.modules.instancenorm import _InstanceNorm

from ..ops.torch_layers import LayerNorm2d

RTOL, ATOL = 1e-4, 1e-5
# a normalisation's mean and variance are rounded to a few float32 epsilons (2**-23) of its
# group's largest |value| (sums of many values: more); 8 of them bounds what torch and
# onnxruntime were seen to differ by (0.4 of one epsilon at most)
NORM_ROUNDING = 8 * torch.finfo(torch.float32).eps
# any other layer's result (and the input) moves by this much of its tensor's largest |value| (or of
# its input element's, for an elementwise layer, where that is more): where a
# later sum cancels (a conv's terms much larger than their total) what is left of the output is mostly
# rounding, in torch and in any runtime; and a runtime computes sigmoid, tanh, exp by approximations
# good to a few epsilons of their range, not of each value (onnxruntime's sigmoid of -17, 4e-8, is off
# by about its own size, which a product with 280 x 17 makes 2e-4)
ROUNDING = 8 * torch.finfo(torch.float32).eps
# the moves above estimate the rounding, they do not bound it: an output made of amplified rounding
# alone (lrn with k=0 of an instancenorm's mean, 1/sqrt of values near 0) differs between runtimes by
# up to about 1.3 r (the 1,500-program oracle run of 2026-11-30); twice r leaves room
MARGIN = 2.0


def _batch_statistics(module: nn.Module) -> bool:
    """Whether `module` normalises by statistics of its own input (not running ones)."""
    if isinstance(module, _InstanceNorm):
        return module.training or not module.track_running_stats
    return isinstance(module, (nn.GroupNorm, nn.LayerNorm))


def _gain_scale(module: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Per element of the output: max |x| over the element's group x 1/sqrt(var + eps) of the
    group x |its affine weight|: how much of a rounding relative to its group's largest value
    the output carries."""
    if isinstance(module, LayerNorm2d):  # over the channels at each position
        grouped, back = x.permute(0, 2, 3, 1), (lambda g: g.permute(0, 3, 1, 2))
    elif isinstance(module, nn.LayerNorm):
        grouped, back = x.flatten(x.dim() - len(module.normalized_shape)), (lambda g: g.reshape(x.shape))
    elif isinstance(module, nn.GroupNorm):
        grouped, back = x.reshape(x.shape[0], module.num_groups, -1), (lambda g: g.reshape(x.shape))
    else:  # instancenorm: over each sample's channel
        grouped, back = x.flatten(2), (lambda g: g.reshape(x.shape))
    grouped = grouped.double()
    gain = (grouped.var(-1, unbiased=False, keepdim=True) + module.eps).rsqrt()
    scale = back((grouped.abs().amax(-1, keepdim=True) * gain).expand_as(grouped))
    weight = module.weight
    if weight is None:
        return scale
    if not isinstance(module, nn.LayerNorm) or isinstance(module, LayerNorm2d):  # one weight per channel
        weight = weight.reshape(-1, *[1] * (x.dim() - 2))
    return scale * weight.detach().double().abs()


def _outputs(out: object) -> list[torch.Tensor]:
    return list(out) if isinstance(out, (tuple, list)) else [out]


def rounding_spreads(model: nn.Module, x: torch.Tensor, want: list[torch.Tensor]) -> list[float]:
    """Each output's rounding spread on the batch `x` (see the module docstring); `want` are
    `model`'s outputs on `x`. `model` is left as it was."""
    spreads = [0.0] * len(want)
    for shift in (False, True):  # rounding per element, and of the group's mean (one shift for the group)
        spreads = [max(a, b) for a, b in zip(spreads, _moved(model, x, want, shift), strict=True)]
    return spreads


def _moved(model: nn.Module, x: torch.Tensor, want: list[torch.Tensor], shift: bool) -> list[float]:
    """How far each output moves when the input and every layer's output move by their rounding, at
    random signs per element, or (`shift`) all one way, as a rounding of a norm's mean moves its group."""
    generator = torch.Generator().manual_seed(0)

    def signs(shape: torch.Size) -> torch.Tensor:
        return torch.ones(shape, dtype=torch.float64) if shift else \
            torch.randint(0, 2, shape, generator=generator).double() * 2 - 1

    def rounded(t: torch.Tensor, source: object = None) -> torch.Tensor:
        """`t` off by ROUNDING of its tensor's largest |value|, or of |its source element| where that is
        more (an elementwise layer: silu(x) = x sigmoid(x) is off by |x| times sigmoid's error)."""
        scale = _largest_abs(t)
        if torch.is_tensor(source) and source.shape == t.shape and source.is_floating_point():
            scale = torch.maximum(source.double().abs().nan_to_num(0.0, 0.0, 0.0), torch.tensor(scale))
        return (t.double() + ROUNDING * scale * signs(t.shape)).to(t.dtype)

    def move(module: nn.Module, inputs: tuple, out: object) -> object:
        if not torch.is_tensor(out) or not out.is_floating_point():
            return out
        if _batch_statistics(module):
            return (out.double() + NORM_ROUNDING * signs(out.shape) * _gain_scale(module, inputs[0])).to(out.dtype)
        return rounded(out, inputs[0] if inputs else None)

    layers = [m for m in model.modules() if not any(True for _ in m.children())]  # fx calls these
    hooks = [m.register_forward_hook(move) for m in layers]
    try:
        with torch.no_grad():
            moved = _outputs(model(rounded(x)))
    finally:
        for hook in hooks:
            hook.remove()
    spreads = []
    for a, b in zip(moved, want, strict=True):
        moves = (a.double() - b.double()).abs()[a.isfinite() & b.isfinite()]
        spreads.append(moves.max().item() if moves.numel() else 0.0)
    return spreads


def difference(got: torch.Tensor, want: torch.Tensor, nan_inside: bool = False) -> float:
    """The largest |got - want| over one output (shapes equal). Infinities must sit in the same places
    with the same signs (they count 0 there; inf where they do not); so must torch's numbers (a NaN of
    the runtime's there is inf). Where torch's value is NaN (0/0 upstream: `layernorm eps=0` of a
    constant row) anything is accepted: how a NaN propagates is the runtime's (torch's max keeps
    it, onnxruntime's MaxPool skips it). `nan_inside` (`computes_nan`): torch's model made a NaN in some
    layer on this input; a runtime's NaN is then accepted where torch has a number too, since a NaN
    reaches further in another implementation (a GEMM multiplies it by a zero of the padding, where
    torch's transposed convolution never reads it)."""
    got, want = got.double(), want.double()
    undefined = want.isnan() | (got.isnan() if nan_inside else False)
    same = (got == want) | undefined  # infinities where both have them; torch's NaN
    if not bool((same | (got.isfinite() & want.isfinite())).all()):
        return math.inf
    return (got - want).abs().masked_fill(same, 0.0).max().item() if got.numel() else 0.0


def computes_nan(model: nn.Module, x: torch.Tensor) -> bool:
    """Whether some layer of `model` gives a NaN on the batch `x` (0/0: a norm with eps = 0 over equal
    values), or an output does; the model is left as it was."""
    found = []

    def look(module: nn.Module, inputs: tuple, out: object) -> None:
        if torch.is_tensor(out) and out.is_floating_point() and bool(out.isnan().any()):
            found.append(module)

    hooks = [m.register_forward_hook(look) for m in model.modules() if not any(True for _ in m.children())]
    try:
        with torch.no_grad():
            outs = _outputs(model(x.clone()))
    finally:
        for hook in hooks:
            hook.remove()
    return bool(found) or any(bool(o.isnan().any()) for o in outs)


def allowed(model: nn.Module, x: torch.Tensor, want: list[torch.Tensor]) -> list[float]:
    """What each output of `model` on `x` (`want`) may differ by in another runtime:
    ATOL + RTOL x its largest finite |value| + MARGIN x its rounding spread."""
    spreads = rounding_spreads(model, x, want)
    return [ATOL + RTOL * _largest_abs(w) + MARGIN * r for w, r in zip(want, spreads, strict=True)]


def _largest_abs(t: torch.Tensor) -> float:
    """The largest finite |value| of a tensor, in float64 (0 where it has none)."""
    finite = t[t.isfinite()]
    return finite.abs().max().double().item() if finite.numel() else 0.0



def agree(model: nn.Module, x: torch.Tensor, got: list[torch.Tensor], want: list[torch.Tensor] | None = None) -> bool:
    """Whether a runtime's outputs `got` on `x` agree with `model`'s (`want`, computed when not
    given): same count and shapes, every difference within `allowed`."""
    if want is None:
        with torch.no_grad():
            want = _outputs(model(x))
    if len(got) != len(want) or any(g.shape != w.shape for g, w in zip(got, want, strict=True)):
        return False
    if all(difference(g, w) <= ATOL + RTOL * _largest_abs(w) for g, w in zip(got, want, strict=True)):
        return True  # within the rule without r (r >= 0): the spreads' forward passes are not needed
    nan = computes_nan(model, x)
    return all(difference(g, w, nan) <= limit for g, w, limit in zip(got, want, allowed(model, x, want), strict=True))
