"""A trained run in use: weights, recorded preprocessing, evaluate, predict, exports with both."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import torch
from PIL import Image

import cnndsl
from cnndsl.cli.main import main
from cnndsl.training import data as datasets
from cnndsl.training.loop import Options
from tests.conftest import ARCH
from tests.test_training import needs_fmnist

LENET = str(ARCH / "lenet.cnn")
SUBSET = 2000


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("run")
    cnndsl.train(LENET, net="LeNetBN", progress=False,
                 options=Options(epochs=1, subset=SUBSET, batch_size=64, device="cpu", out=str(out)))
    return out


@pytest.fixture(scope="module")
def test_set() -> datasets.Dataset:
    return datasets.load_idx_dataset("fashion-mnist", "test")


def cli(capsys: pytest.CaptureFixture, *args: str) -> tuple[int, str, str]:
    code = main([*args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def reference_logits(run: Path, images: torch.Tensor) -> torch.Tensor:
    """What the trained model gives uint8 images, normalised here as training does (its own statistics)."""
    pixels = datasets.load_idx_dataset("fashion-mnist", "train").images[:SUBSET].float().div(255)
    model = cnndsl.load(LENET, net="LeNetBN", weights=run).eval()
    with torch.no_grad():
        mean, std = (v.view(1, -1, 1, 1) for v in (pixels.mean(dim=(0, 2, 3)), pixels.std(dim=(0, 2, 3))))
        return model((images.float() / 255 - mean) / std)


@needs_fmnist
def test_run_json_records_the_preprocessing_training_used(run: Path):
    prep = json.loads((run / "run.json").read_text())["preprocessing"]
    pixels = datasets.load_idx_dataset("fashion-mnist", "train").images[:SUBSET].float().div(255)
    assert prep["mean"] == pixels.mean(dim=(0, 2, 3)).tolist() and prep["std"] == pixels.std(dim=(0, 2, 3)).tolist()
    assert (prep["dataset"], prep["image"], prep["input"], prep["resize"]) == ("fashion-mnist", [1, 28, 28],
                                                                               [1, 28, 28], None)
    assert len(prep["classes"]) == 10 and prep["classes"][9] == "Ankle boot"


@needs_fmnist
def test_load_with_weights_is_model_pt(run: Path):
    model = cnndsl.load(LENET, net="LeNetBN", weights=run / "model.pt")
    saved = torch.load(run / "model.pt", weights_only=True)["model"]
    assert saved.keys() == model.state_dict().keys()
    assert all(torch.equal(model.state_dict()[k], v) for k, v in saved.items())


@needs_fmnist
def test_evaluate_equals_the_test_accuracy_training_reported(run: Path, test_set, capsys, tmp_path: Path):
    code, out, _ = cli(capsys, "evaluate", LENET, "--net", "LeNetBN", "--weights", str(run), "--json",
                       "--out", str(tmp_path))
    assert code == 0
    result = json.loads(out)
    rows = json.loads((run / "metrics.json").read_text())
    assert result["top1"] == max(r["test_acc"] for r in rows)
    logits = reference_logits(run, test_set.images)
    images = len(test_set.labels)
    assert result["top1"] == (logits.argmax(1) == test_set.labels).sum().item() / images
    assert result["top5"] == (logits.topk(5, 1).indices == test_set.labels[:, None]).any(1).sum().item() / images
    confusion = torch.tensor(result["confusion"])
    assert confusion.sum() == images and confusion.diag().sum().item() / images == result["top1"]
    assert (tmp_path / "confusion.png").read_bytes()[:4] == b"\x89PNG"
    code, out, _ = cli(capsys, "evaluate", LENET, "--net", "LeNetBN", "--weights", str(run), "--out", str(tmp_path))
    assert code == 0 and f"top1 accuracy {result['top1']:.4f}" in out and "Ankle boot" in out


@needs_fmnist
def test_predict_classifies_images_of_any_size_and_names_bad_files(run: Path, test_set, capsys, tmp_path: Path):
    images = test_set.images[:3]
    grey, rgb = tmp_path / "grey.png", tmp_path / "rgb.jpg"
    Image.fromarray(images[0, 0].numpy()).save(grey)
    Image.fromarray(images[1, 0].numpy()).convert("RGB").save(rgb, quality=100)
    (tmp_path / "text.png").write_text("not an image")
    code, out, err = cli(capsys, "predict", LENET, "--net", "LeNetBN", "--weights", str(run), str(grey),
                         str(tmp_path / "missing.png"), str(tmp_path / "text.png"), str(rgb), "--top", "3", "--json")
    assert code == 1
    assert f"image '{tmp_path / 'missing.png'}' does not exist" in err
    assert f"cannot read image '{tmp_path / 'text.png'}'" in err
    result = json.loads(out)
    assert [r["image"] for r in result] == [str(grey), str(tmp_path / "missing.png"), str(tmp_path / "text.png"),
                                            str(rgb)]
    assert ["error" in r for r in result] == [False, True, True, False]
    result = [r for r in result if "error" not in r]
    classes = json.loads((run / "run.json").read_text())["preprocessing"]["classes"]
    probs = reference_logits(run, images[:1]).softmax(1)[0]
    want = probs.topk(3)
    assert [c["class"] for c in result[0]["top"]] == [classes[i] for i in want.indices]
    assert [c["probability"] for c in result[0]["top"]] == pytest.approx(want.values.tolist(), abs=1e-6)
    assert len(result[1]["top"]) == 3


@needs_fmnist
def test_predict_resizes_a_larger_image_as_training_loads_folders(run: Path, test_set, capsys, tmp_path: Path):
    big = tmp_path / "big.png"
    Image.fromarray(test_set.images[0, 0].numpy()).resize((56, 56), Image.NEAREST).save(big)
    code, out, _ = cli(capsys, "predict", LENET, "--net", "LeNetBN", "--weights", str(run), str(big), "--json")
    assert code == 0
    x = torch.from_numpy(__import__("numpy").array(Image.open(big)))[None, None].float()
    small = torch.nn.functional.interpolate(x, size=(28, 28), mode="bilinear", antialias=True).round().byte()
    want = reference_logits(run, small).softmax(1)[0].max().item()
    assert json.loads(out)[0]["top"][0]["probability"] == pytest.approx(want, abs=1e-6)


@needs_fmnist
def test_exports_with_preprocessing_take_images_in_0_1(run: Path, test_set, capsys, tmp_path: Path):
    images = test_set.images[:5]
    want = reference_logits(run, images)
    x = images.float() / 255
    for fmt in ("onnx", "torchscript", "pt2", "py"):
        out = tmp_path / f"model.{fmt}"
        code, _, err = cli(capsys, "export", LENET, "--net", "LeNetBN", "--weights", str(run), "--preprocess",
                           "--format", fmt, "-o", str(out))
        assert code == 0, err
        if fmt == "onnx":
            import onnxruntime

            got = torch.from_numpy(onnxruntime.InferenceSession(str(out)).run(None, {"input": x.numpy()})[0])
        elif fmt == "torchscript":
            got = torch.jit.load(out)(x)
        elif fmt == "pt2":
            got = torch.export.load(out).module()(x)
        else:  # the file holds no weights: model.pt's keys are its state_dict's
            spec = importlib.util.spec_from_file_location("exported", out)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            model = module.LeNetBN()
            model.load_state_dict(torch.load(run / "model.pt", weights_only=True)["model"])
            got = model.eval()(x)
        torch.testing.assert_close(got.detach(), want, rtol=1e-4, atol=1e-5)


@needs_fmnist
def test_python_export_matches_the_cli(run: Path, tmp_path: Path):
    line = cnndsl.export(LENET, "onnx", tmp_path / "a.onnx", net="LeNetBN", weights=run, preprocess=True)
    assert line.startswith(f"wrote {tmp_path / 'a.onnx'}") and "onnxruntime agrees" in line


@pytest.mark.parametrize(("args", "message"), [
    (["--net", "LeNet"], "do not fit network 'LeNet': unexpected bn1.weight"),
    (["--net", "LeNetBN", "--set", "classes=7"], "fc3.weight is 10x84 in the file, 7x84 in the network"),
    (["--net", "LeNetBN", "--weights", "CHECKPOINT"], "are not a state_dict"),
    (["--net", "LeNetBN", "--weights", "NOWHERE"], "does not exist"),
])
@needs_fmnist
def test_weights_that_do_not_fit_are_clear_errors(run: Path, capsys, tmp_path: Path, args, message):
    args = [{"CHECKPOINT": str(run / "checkpoint.pt"), "NOWHERE": str(tmp_path / "none.pt")}.get(a, a) for a in args]
    weights = [] if "--weights" in args else ["--weights", str(run)]
    out = tmp_path / "x.onnx"
    code, _, err = cli(capsys, "export", LENET, *args, *weights, "--format", "onnx", "-o", str(out))
    assert code == 1 and message in err and not out.exists()


def test_preprocess_needs_a_run(capsys, tmp_path: Path):
    code, _, err = cli(capsys, "export", LENET, "--net", "LeNet", "--preprocess", "--format", "py",
                       "-o", str(tmp_path / "x.py"))
    assert code == 1 and "--preprocess needs --weights RUN" in err
    weights = tmp_path / "w.pt"
    torch.save(cnndsl.load(LENET, net="LeNet").state_dict(), weights)
    code, _, err = cli(capsys, "export", LENET, "--net", "LeNet", "--weights", str(weights), "--preprocess",
                       "--format", "py", "-o", str(tmp_path / "x.py"))
    assert code == 1 and "no run.json next to the weights" in err
    code, _, err = cli(capsys, "export", LENET, "--net", "LeNet", "--weights", str(weights), "--format", "py",
                       "-o", str(tmp_path / "x.py"))
    assert code == 0, err


TINY = "network Tiny(classes=2) {\n    input 3x8x8\n    conv 3x3 4 pad=1, bn, relu, gap, flatten, fc classes\n}\n"


def fake_run(tmp_path: Path, **preprocess: object) -> tuple[Path, Path]:
    """A run folder for TINY made by hand: its weights, and run.json with `preprocessing`."""
    spec, run = tmp_path / "tiny.cnn", tmp_path / "run"
    spec.write_text(TINY)
    run.mkdir()
    torch.manual_seed(0)
    torch.save(cnndsl.load(spec).state_dict(), run / "model.pt")
    prep = {"data": "folder", "dataset": "folder", "classes": ["a", "b"], "image": [3, 8, 8], "input": [3, 8, 8],
            "resize": None, "resize_mode": None, "scale": 255, "mean": [0.5] * 3, "std": [0.25] * 3, **preprocess}
    (run / "run.json").write_text(json.dumps({"preprocessing": prep}))
    return spec, run


def test_per_channel_normalisation_is_baked_into_onnx(tmp_path: Path):
    import onnxruntime

    mean, std = [0.1, 0.2, 0.3], [0.5, 0.25, 0.125]
    spec, run = fake_run(tmp_path, mean=mean, std=std)
    cnndsl.export(spec, "onnx", tmp_path / "t.onnx", weights=run, preprocess=True)
    x = torch.rand(4, 3, 8, 8)
    model = cnndsl.load(spec, weights=run).eval()
    with torch.no_grad():
        want = model((x - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1))
    got = onnxruntime.InferenceSession(str(tmp_path / "t.onnx")).run(None, {"input": x.numpy()})[0]
    torch.testing.assert_close(torch.from_numpy(got), want, rtol=1e-4, atol=1e-5)

