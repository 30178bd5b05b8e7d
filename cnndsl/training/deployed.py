"""Using a trained run: what it records about its inputs, its evaluation on the test set, and the
classes it predicts for image files, every input prepared exactly as training prepared it."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F  # noqa: N812

from ..errors import CnnError
from ..ir import Network
from ..pytorch.fx_backend import compile_network
from ..pytorch.trained import Preprocess, load_weights, read_preprocess
from . import data as datasets

if TYPE_CHECKING:
    import PIL.Image


@dataclass
class Trained:
    """A network with a run's weights, in eval mode, and the run's preprocessing."""

    net: Network
    model: torch.nn.Module
    prep: Preprocess
    run: Path
    device: torch.device

    @classmethod
    def of(cls, net: Network, weights: str | os.PathLike, device: torch.device) -> Trained:
        """`net` compiled with the weights at `weights` (a run folder, or its model.pt). CnnError as
        `load_weights` and `read_preprocess` (the weights are read first, so a missing or foreign file is
        named as such), and when run.json's channels or classes are not the network's input and outputs."""
        model = load_weights(compile_network(net), weights, net).to(device).eval()
        prep = read_preprocess(weights)
        run = Path(weights) if Path(weights).is_dir() else Path(weights).parent
        channels, outputs = net.input_shape[0], net.output_shapes[0]
        if prep.channels != channels or outputs != (len(prep.classes),):
            raise CnnError(f"'{run / 'run.json'}' does not fit network '{net.name}': its preprocessing gives "
                           f"{prep.channels} channels and names {len(prep.classes)} classes; the network takes "
                           f"{channels} channels and outputs {'x'.join(map(str, outputs))} values",
                           hint="run.json is written by cnndsl train: restore it, or retrain")
        return cls(net, model, prep, run, device)

    def normalise(self, x: torch.Tensor) -> torch.Tensor:
        """uint8 images (N, C, H, W) at the data set's size -> the model's inputs, as `data.Batches` makes them."""
        x = datasets.scaled(x, self.prep.resize)
        mean, std = (torch.tensor(v, dtype=torch.float32, device=x.device).view(1, -1, 1, 1)
                     for v in (self.prep.mean, self.prep.std))
        return (x - mean) / std


def evaluate(trained: Trained, data: str | None, device: torch.device) -> dict:
    """The test set of `data` (default: the run's) through the model: `top1`, `top5` accuracy, `per_class`
    accuracy by class name, `confusion` (rows: true class, columns: predicted), `classes`, `images`."""
    prep = trained.prep
    data = data or prep.source or prep.data  # an image folder by the path training was given
    _, test = datasets.load(data, (prep.height, prep.width), prep.channels)
    check_fits(test, data, prep)
    k = min(5, len(prep.classes))
    top1 = topk = 0
    confusion = torch.zeros(len(prep.classes), len(prep.classes), dtype=torch.int64)
    with torch.no_grad():
        for i in range(0, len(test.labels), 1024):  # the batches training evaluates in
            x = trained.normalise(test.images[i:i + 1024].to(device))
            y = test.labels[i:i + 1024].to(device)
            best = trained.model(x).topk(k, dim=1).indices
            top1 += (best[:, 0] == y).sum().item()
            topk += (best == y[:, None]).any(1).sum().item()
            confusion += torch.bincount(y.cpu() * len(prep.classes) + best[:, 0].cpu(),
                                        minlength=len(prep.classes) ** 2).view(len(prep.classes), -1)
    per_class = (confusion.diag() / confusion.sum(1).clamp(min=1)).tolist()
    return {"images": len(test.labels), "top1": top1 / len(test.labels), f"top{k}": topk / len(test.labels),
            "classes": prep.classes, "per_class": dict(zip(prep.classes, per_class, strict=True)),
            "confusion": confusion.tolist()}


def check_fits(test: datasets.Dataset, name: str, prep: Preprocess) -> None:
    """CnnError unless the data set `test` (called `name`) has the run's image size and the run's classes, by
    name and in the same order: the labels are positions in that list, so another class under the same
    position would be counted against the wrong output."""
    size = "x".join(map(str, test.shape))
    if test.shape != (prep.channels, prep.height, prep.width):
        raise CnnError(f"'{name}' has images of {size}, the run was trained on {prep.channels}x{prep.height}x"
                       f"{prep.width}")
    names = list(test.class_names)
    if not names and test.classes != len(prep.classes):  # a data set without names: the count is all we know
        raise CnnError(f"'{name}' has {test.classes} classes, the run was trained on {len(prep.classes)}")
    if names and names != prep.classes:
        data_only = [c for c in names if c not in prep.classes]
        run_only = [c for c in prep.classes if c not in names]
        differ = "; ".join(part for part in (f"only in '{name}': {_listed(data_only)}" if data_only else "",
                                             f"only in the run: {_listed(run_only)}" if run_only else "") if part)
        raise CnnError(f"the classes of '{name}' are not the run's ({differ or 'the same names in another order'})",
                       hint=f"the run was trained on {len(prep.classes)} classes: {_listed(prep.classes)}")


def _listed(names: list[str], count: int = 10) -> str:
    return ", ".join(names[:count]) + (f" (and {len(names) - count} more)" if len(names) > count else "")


def read_image(path: str | os.PathLike, prep: Preprocess) -> torch.Tensor:
    """The image file at `path` (PNG, JPEG, ... as PIL reads it) as uint8 (C, H, W): grey or RGB as the run's
    channels, resized to the data set's size as `data.load_folder` does. CnnError naming a missing,
    unreadable or non-image file."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            pixels = _eight_bit(image).convert("L" if prep.channels == 1 else "RGB")
            pixels.load()
    except FileNotFoundError:
        raise CnnError(f"image '{path}' does not exist") from None
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        reason = "not an image PIL can read" if isinstance(exc, UnidentifiedImageError) else str(exc)
        raise CnnError(f"cannot read image '{path}': {reason}") from None
    x = torch.frombuffer(bytearray(pixels.tobytes()), dtype=torch.uint8)
    x = x.view(pixels.height, pixels.width, -1).permute(2, 0, 1)
    if tuple(x.shape[1:]) != (prep.height, prep.width):
        x = F.interpolate(x[None].float(), size=(prep.height, prep.width), mode="bilinear",
                          antialias=True).round().clamp(0, 255).byte()[0]
    return x


def _eight_bit(image: PIL.Image.Image) -> PIL.Image.Image:
    """`image` with 8 bits per pixel. PIL reads a 16-bit grey PNG or TIFF as mode I;16 (values 0-65535) and
    its convert() to L or RGB clips them at 255; they are scaled here instead by keeping the high byte, v >> 8,
    as torchvision's `to_dtype(uint8, scale=True)` does: 65535 is 255, and a 16-bit copy of an 8-bit image
    (each value times 256 or 257) gives the 8-bit image back. Other modes (PIL reads 16-bit colour PNGs as
    8-bit RGB already; float F) are left to convert()."""
    if not image.mode.startswith("I;16"):
        return image
    import numpy as np
    from PIL import Image

    return Image.fromarray((np.asarray(image).astype(np.uint16) >> 8).astype(np.uint8))


def predict(trained: Trained, image: torch.Tensor, top: int) -> list[tuple[str, float]]:
    """The `top` most probable classes of one uint8 image (C, H, W) at the data set's size, with their
    probabilities (softmax of the outputs), most probable first."""
    with torch.no_grad():
        logits = trained.model(trained.normalise(image[None].to(trained.device)))
    probs = logits.float().softmax(1)[0]
    values, indices = probs.topk(min(top, len(probs)))
    return [(trained.prep.classes[i], v) for i, v in zip(indices.tolist(), values.tolist(), strict=True)]
