"""`export --preprocess` of a run trained with --resize: the exported model takes images in [0, 1] at the
data set's size and resizes them inside, as training did, in every format."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import torch
from PIL import Image

import cnndsl
from cnndsl.training import data as datasets
from cnndsl.training.deployed import Trained
from cnndsl.training.loop import Options
from tests.test_deploy import LENET, cli, fake_run
from tests.test_training import needs_fmnist

FORMATS = ("onnx", "torchscript", "pt2", "py")
SIDE = 36  # LeNetBN trained on Fashion-MNIST's 28x28 images resized to 36x36


@pytest.fixture(scope="module")
def resized_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("resized")
    cnndsl.train(LENET, net="LeNetBN", input=f"1x{SIDE}x{SIDE}", progress=False,
                 options=Options(epochs=1, subset=500, batch_size=64, resize=SIDE, device="cpu", out=str(out)))
    return out


def run_exported(fmt: str, path: Path, x: torch.Tensor, weights: dict[str, torch.Tensor], cls: str) -> torch.Tensor:
    """The exported file at `path` run on `x` by its own runtime (the Python file with `weights` loaded)."""
    if fmt == "onnx":
        import onnxruntime

        return torch.from_numpy(onnxruntime.InferenceSession(str(path)).run(None, {"input": x.numpy()})[0])
    if fmt == "torchscript":
        model = torch.jit.load(path)
    elif fmt == "pt2":
        model = torch.export.load(path).module()
    else:
        spec = importlib.util.spec_from_file_location(f"exported_{cls}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        model = getattr(module, cls)()
        model.load_state_dict(weights)
        model.eval()
    with torch.no_grad():
        return model(x)


def as_evaluated(spec: str | Path, run: Path, images: torch.Tensor, **net: str) -> torch.Tensor:
    """The logits `cnndsl evaluate` computes for uint8 images at the data set's size (its own code path)."""
    trained = Trained.of(cnndsl.check(spec, **net), run, torch.device("cpu"))
    with torch.no_grad():
        return trained.model(trained.normalise(images))


@needs_fmnist
def test_a_resized_run_exports_in_every_format_taking_the_data_sets_images(resized_run: Path, capsys,
                                                                           tmp_path: Path):
    images = datasets.load_idx_dataset("fashion-mnist", "test").images[:6]
    assert json.loads((resized_run / "run.json").read_text())["preprocessing"]["resize"] == SIDE
    want = as_evaluated(LENET, resized_run, images, net="LeNetBN", input=f"1x{SIDE}x{SIDE}")
    weights = torch.load(resized_run / "model.pt", weights_only=True)["model"]
    for fmt in FORMATS:
        out = tmp_path / f"model.{fmt}"
        code, _, err = cli(capsys, "export", LENET, "--net", "LeNetBN", "--input", f"1x{SIDE}x{SIDE}", "--weights",
                           str(resized_run), "--preprocess", "--format", fmt, "-o", str(out))
        assert code == 0, err
        assert "Nx1x28x28" in err  # the line says what the file takes
        got = run_exported(fmt, out, images.float() / 255, weights, "LeNetBN")
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5, msg=lambda m, fmt=fmt: f"{fmt}: {m}")


@needs_fmnist
def test_the_onnx_file_of_a_resized_run_declares_the_data_sets_size_and_agrees_with_predict(
        resized_run: Path, capsys, tmp_path: Path):
    import onnx
    import onnxruntime

    out = tmp_path / "lenet.onnx"
    code, _, err = cli(capsys, "export", LENET, "--net", "LeNetBN", "--input", f"1x{SIDE}x{SIDE}", "--weights",
                       str(resized_run), "--preprocess", "--format", "onnx", "-o", str(out))
    assert code == 0, err
    graph = onnx.load(out).graph
    declared = [[d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim] for v in (*graph.input,
                                                                                               *graph.output)]
    assert declared == [["batch", 1, 28, 28], ["batch", 10]]
    images = datasets.load_idx_dataset("fashion-mnist", "test").images[10:13]
    files = []
    for i, image in enumerate(images):
        files.append(str(tmp_path / f"{i}.png"))
        Image.fromarray(image[0].numpy()).save(files[-1])
    code, printed, err = cli(capsys, "predict", LENET, "--net", "LeNetBN", "--input", f"1x{SIDE}x{SIDE}",
                             "--weights", str(resized_run), "--top", "10", "--json", *files)
    assert code == 0, err
    classes = json.loads((resized_run / "run.json").read_text())["preprocessing"]["classes"]
    probs = torch.from_numpy(onnxruntime.InferenceSession(str(out)).run(None, {"input": (images.float() / 255)
                                                                                .numpy()})[0]).softmax(1)
    for row, result in zip(probs, json.loads(printed), strict=True):
        predicted = {c["class"]: c["probability"] for c in result["top"]}
        assert [predicted[c] for c in classes] == pytest.approx(row.tolist(), abs=1e-5)


def test_a_downscaling_run_bakes_the_resize_and_per_channel_normalisation(tmp_path: Path):
    spec, run = fake_run(tmp_path, image=[3, 13, 13], resize=8, resize_mode="bilinear", mean=[0.1, 0.2, 0.3],
                         std=[0.5, 0.25, 0.125])
    images = torch.randint(0, 256, (4, 3, 13, 13), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    want = as_evaluated(spec, run, images)
    # what training does to them (data.Batches without augmentation), written out here
    resized = torch.nn.functional.interpolate(images.float() / 255, size=(8, 8), mode="bilinear", align_corners=False)
    normalised = (resized - torch.tensor([0.1, 0.2, 0.3]).view(1, 3, 1, 1)) / torch.tensor([0.5, 0.25, 0.125]).view(
        1, 3, 1, 1)
    with torch.no_grad():
        torch.testing.assert_close(cnndsl.load(spec, weights=run).eval()(normalised), want)
    for fmt in FORMATS:
        line = cnndsl.export(spec, fmt, tmp_path / f"t.{fmt}", weights=run, preprocess=True)
        assert "Nx3x13x13" in line
        got = run_exported(fmt, tmp_path / f"t.{fmt}", images.float() / 255, torch.load(run / "model.pt"), "Tiny")
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5, msg=lambda m, fmt=fmt: f"{fmt}: {m}")


@pytest.mark.parametrize(("image", "resize", "message"), [
    ([3, 5, 5], 6, "--preprocess cannot feed network 'Tiny': it takes 3x8x8, folder gives 3x5x5, 3x6x6 after "
                   "--resize 6"),
    ([1, 8, 8], None, "--preprocess cannot feed network 'Tiny': it takes 3x8x8, folder gives 1x8x8"),
])
def test_a_run_whose_images_do_not_become_the_networks_input_is_refused(tmp_path: Path, image, resize, message):
    channels = image[0]  # run.json itself is consistent: one mean and std per channel of its images
    spec, run = fake_run(tmp_path, image=image, resize=resize, mean=[0.5] * channels, std=[0.25] * channels)
    with pytest.raises(cnndsl.CnnError, match=message):
        cnndsl.export(spec, "onnx", tmp_path / "t.onnx", weights=run, preprocess=True)
    assert not (tmp_path / "t.onnx").exists()
