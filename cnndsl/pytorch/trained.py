"""A trained model: weights from a run folder or a state_dict file, and the run's preprocessing.

A run folder (`cnndsl train --out DIR`) holds `model.pt`, the best epoch's `state_dict` (a plain
dict of tensors, keyed by the layers' paths in the spec), and `run.json`, whose `preprocessing`
object says how training turned images into inputs (see docs/deploy.md). `with_preprocessing`
puts that step into the compiled model's own graph, so every export format carries it.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F  # noqa: N812
from torch import fx

from ..errors import CnnError
from ..ir import Network
from ..ops import dims

# where a compiled model (a GraphModule) keeps the input shape it takes when it is not the network's
INPUT_SHAPE = "cnndsl.input_shape"


def weights_file(path: str | os.PathLike) -> Path:
    """The state_dict file `path` names: `path/model.pt` for a run folder, else `path` itself.
    CnnError when it does not exist."""
    path = Path(path)
    file = path / "model.pt" if path.is_dir() else path
    if not file.is_file():
        what = f"run folder '{path}' has no model.pt" if path.is_dir() else f"weights file '{path}' does not exist"
        raise CnnError(what, hint="--weights takes a run folder (cnndsl train --out DIR) or a weights file such as "
                                  "its model.pt")
    return file


def read_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """The state_dict at `path` (a run folder or a file), read with `torch.load(weights_only=True)`, so
    no code in the file runs. CnnError for a missing, damaged or foreign file (one that is not a dict of
    tensors: a checkpoint.pt, a whole pickled model)."""
    file = weights_file(path)
    try:
        state = torch.load(file, map_location="cpu", weights_only=True)
    except Exception:  # noqa: BLE001 (torch raises many kinds for a damaged or foreign file; its texts are
        # paragraphs, one of which suggests weights_only=False, which would run the file's code)
        raise CnnError(f"'{file}' is not a state_dict saved by torch or cnndsl (another kind of file, or damaged)",
                       hint="model.pt of a run, or a file written by torch.save(model.state_dict())") from None
    if isinstance(state, dict) and state.get("format") == "cnndsl-model":  # a run's model.pt: weights + preprocessing
        state = state.get("model")
    if not isinstance(state, dict) or not all(isinstance(k, str) and isinstance(v, torch.Tensor)
                                              for k, v in state.items()):
        raise CnnError(f"weights '{file}' are not a state_dict (a dict of tensors by name)",
                       hint="checkpoint.pt is not one: use the run folder or its model.pt")
    return state


def load_weights(model: torch.nn.Module, path: str | os.PathLike, net: Network) -> torch.nn.Module:
    """Load the state_dict at `path` into `model` (compiled from `net`), strictly; returns `model`.
    CnnError, before anything is copied, naming the first keys missing or left over, or the first
    tensors whose shapes differ, when the weights belong to another network or other parameters."""
    state = read_state_dict(path)
    want = model.state_dict()
    missing = [k for k in want if k not in state]
    extra = [k for k in state if k not in want]
    shapes = [f"{k} is {_dims(state[k])} in the file, {_dims(want[k])} in the network"
              for k in want if k in state and state[k].shape != want[k].shape]
    problems = ([f"missing {_first(missing)}"] if missing else []) + ([f"unexpected {_first(extra)}"] if extra else [])
    problems += shapes[:3]
    if problems:
        raise CnnError(f"weights '{weights_file(path)}' do not fit network '{net.name}': " + "; ".join(problems),
                       hint="use the same file, --net, --input and --set values as the training run")
    model.load_state_dict(state, strict=True)
    return model


def _first(keys: list[str], count: int = 3) -> str:
    return ", ".join(keys[:count]) + (f" (and {len(keys) - count} more)" if len(keys) > count else "")


def _dims(t: torch.Tensor) -> str:
    return "x".join(map(str, t.shape)) or "a scalar"


@dataclass(frozen=True)
class Preprocess:
    """How training turned a data set's images into inputs: images of `channels`×`height`×`width` (the
    data set's size) as floats in [0, 1], resized to `resize`×`resize` when set (bilinear, no corner
    alignment, no antialiasing), then normalised per channel, `(x - mean[c]) / std[c]`. `classes` names each
    output class. `data` is the data set's name; `source` what `--data` named in training (a folder's
    path), where known."""

    data: str
    classes: list[str]
    channels: int
    height: int
    width: int
    resize: int | None
    mean: list[float]
    std: list[float]
    source: str | None = None

    @classmethod
    def of_run(cls, info: dict) -> Preprocess:
        """From the `preprocessing` object of run.json and model.pt (cnndsl/training/runs.py `preprocessing`).
        KeyError or TypeError for one without these fields."""
        channels, height, width = info["image"]
        prep = cls(data=info["dataset"], classes=list(info["classes"]), channels=channels, height=height,
                   width=width, resize=info["resize"], mean=list(info["mean"]), std=list(info["std"]),
                   source=info.get("data"))
        prep.validate()
        return prep

    def validate(self) -> None:
        """ValueError saying what is wrong when the fields cannot describe a training run's inputs (a
        hand-edited run.json): sizes and `resize` positive integers, one mean and one std per channel, each
        std positive and finite (else every output is NaN), class names as strings."""
        import math

        def number(v: object) -> bool:
            return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)

        sizes = (self.channels, self.height, self.width) + ((self.resize,) if self.resize is not None else ())
        if not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in sizes):
            raise ValueError(f"image {[self.channels, self.height, self.width]} and resize {self.resize} must be "
                             "positive integers")
        for name, values in (("mean", self.mean), ("std", self.std)):
            if len(values) != self.channels or not all(number(v) for v in values):
                raise ValueError(f"{name} must hold one finite number per channel ({self.channels}), got {values}")
        if not all(v > 0 for v in self.std):
            raise ValueError(f"std must be positive, got {self.std}")
        if not self.classes or not all(isinstance(c, str) for c in self.classes):
            raise ValueError(f"classes must be a list of names, got {self.classes}")


def read_preprocess(run: str | os.PathLike) -> Preprocess:
    """The `preprocessing` object of `run/run.json` (`run` a run folder, or a file in it). CnnError when the
    folder has no run.json, or one from before cnndsl recorded preprocessing."""
    folder = Path(run) if Path(run).is_dir() else Path(run).parent
    path = folder / "run.json"
    try:
        info = json.loads(path.read_text())
        return Preprocess.of_run(info["preprocessing"])
    except FileNotFoundError:
        raise CnnError(f"no run.json next to the weights '{run}', so the run's preprocessing is unknown",
                       hint="--weights takes a run folder of `cnndsl train --out DIR` (or the model.pt in one), "
                            "which holds run.json") from None
    except json.JSONDecodeError as exc:
        raise CnnError(f"'{path}' is not valid JSON: {exc}") from None
    except ValueError as exc:
        raise CnnError(f"'{path}' has invalid preprocessing: {exc}", hint="run.json is written by cnndsl train: "
                       "restore it, or retrain") from None
    except (OSError, KeyError, TypeError) as exc:
        raise CnnError(f"'{path}' holds no preprocessing ({type(exc).__name__}: {exc})",
                       hint="retrain with this version of cnndsl, which records it in run.json") from None


def with_preprocessing(model: fx.GraphModule, net: Network, prep: Preprocess) -> fx.GraphModule:
    """`model` with `prep` as the first operations of its graph (in place; returned), so that it takes
    images of floats in [0, 1] at the data set's size, N×`prep.channels`×`prep.height`×`prep.width`: resized
    as training resized them (`data.scaled`: bilinear, no corner alignment, no antialiasing) when the run
    used --resize, then normalised per channel. The layers and the state_dict are unchanged; the input's
    shape goes into `model.meta[INPUT_SHAPE]`, which the exports declare and check (`model_input_shape`).
    CnnError when the images, resized, are not the network's input (a run made for another --input)."""
    image_shape = (prep.channels, prep.height, prep.width)
    # `data.scaled` resizes when the width differs from the side, to a square
    resize = prep.resize if prep.resize and prep.width != prep.resize else None
    fed = (prep.channels, resize, resize) if resize else image_shape
    if fed != tuple(net.input_shape):
        got = f"{prep.data} gives {dims(image_shape)}" + (f", {dims(fed)} after --resize {resize}" if resize else "")
        raise CnnError(f"--preprocess cannot feed network '{net.name}': it takes {dims(net.input_shape)}, {got}",
                       hint="use the --net, --input and --set values of the training run")
    graph = model.graph
    image = next(n for n in graph.nodes if n.op == "placeholder")
    users = list(image.users)
    first = next(n for n in graph.nodes if n.op != "placeholder")
    with graph.inserting_before(first):  # each node goes before `first`: in the order made
        x = image
        if resize:
            x = graph.call_function(F.interpolate, (x,), {"size": (resize, resize), "mode": "bilinear",
                                                          "align_corners": False, "antialias": False})
        mean = prep.mean[0] if len(set(prep.mean)) == 1 else _per_channel(graph, prep.mean)
        centred = graph.call_function(torch.sub, (x, mean))
        std = prep.std[0] if len(set(prep.std)) == 1 else _per_channel(graph, prep.std)
        scaled = graph.call_function(torch.div, (centred, std))
    for user in users:
        user.replace_input_with(image, scaled)
    model.meta[INPUT_SHAPE] = image_shape
    model.recompile()
    return model


def model_input_shape(net: Network, model: torch.nn.Module) -> tuple[int, ...]:
    """The per-sample shape `model` takes: the data set's image size when `with_preprocessing` baked
    a resize in, else the network's input shape."""
    meta = getattr(model, "meta", None)
    return tuple(meta.get(INPUT_SHAPE, net.input_shape)) if isinstance(meta, dict) else tuple(net.input_shape)


def _per_channel(graph: fx.Graph, values: list[float]) -> fx.Node:
    """A (1, C, 1, 1) constant in the graph, written into the code as `torch.tensor([...])`."""
    flat = graph.call_function(torch.tensor, (list(values),))
    return graph.call_method("view", (flat, 1, -1, 1, 1))


def trained_model(net: Network, weights: str | os.PathLike | None, preprocess: bool) -> fx.GraphModule:
    """`net` compiled, with the state_dict at `weights` when given and, with `preprocess`, the run's
    normalisation baked in (`with_preprocessing`). CnnError as `load_weights`, `read_preprocess`, and for
    `preprocess` without `weights`."""
    from .fx_backend import compile_network

    model = compile_network(net)
    if weights is not None:
        load_weights(model, weights, net)
    if preprocess:
        if weights is None:
            raise CnnError("--preprocess needs --weights RUN: the preprocessing comes from the training run",
                           hint="cnndsl export FILE --weights RUN_FOLDER --preprocess --format onnx -o OUT")
        with_preprocessing(model, net, read_preprocess(weights))
    return model
