"""A trained run in a newcomer's hands (issue 15): data, images, weights and run.json that do not fit are
refused clearly, nothing of the user's is overwritten, and the outputs say what happened."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import cnndsl
from cnndsl.cli.main import main
from cnndsl.training import runs
from cnndsl.training.loop import Options

TINY = "network Tiny(classes=2) {\n    input 3x8x8\n    conv 3x3 4 pad=1, bn, relu, gap, flatten, fc classes\n}\n"
TWO = TINY + "network Other {\n    input 3x8x8\n    gap, flatten, fc 2\n}\n"


def make_folder(root: Path, classes: tuple[str, ...] = ("cats", "dogs"), count: int = 10) -> Path:
    """An image folder ROOT/CLASS/i.png of random 3x8x8 images (each class a different mean brightness)."""
    generator = torch.Generator().manual_seed(0)
    for k, cls in enumerate(classes):
        (root / cls).mkdir(parents=True)
        for i in range(count):
            pixels = (torch.rand(8, 8, 3, generator=generator) * 128 + 100 * k).clamp(0, 255).byte()
            Image.fromarray(pixels.numpy()).save(root / cls / f"{i}.png")
    return root


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """(the spec, its image folder, the run folder of one epoch of training on it)."""
    root = tmp_path_factory.mktemp("deploy")
    spec = root / "tiny.cnn"
    spec.write_text(TINY)
    data = make_folder(root / "imgs")
    cnndsl.train(spec, progress=False, options=Options(data=str(data), epochs=1, batch_size=4, device="cpu",
                                                       out=str(root / "run")))
    return spec, data, root / "run"


def cli(capsys: pytest.CaptureFixture, *args: str) -> tuple[int, str, str]:
    code = main([*args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def copy_run(run: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    return copy


# 1. evaluate checks the classes by name -------------------------------------------------------------------------

def test_evaluate_refuses_data_whose_classes_are_not_the_runs(trained, capsys, tmp_path: Path):
    spec, data, run = trained
    code, out, err = cli(capsys, "evaluate", str(spec), "--weights", str(run), "--data", str(data), "--json",
                         "--out", str(tmp_path / "same"))
    assert code == 0, err
    assert json.loads(out)["classes"] == ["cats", "dogs"]
    renamed = tmp_path / "renamed"
    shutil.copytree(data, renamed)
    (renamed / "cats").rename(renamed / "zebras")
    code, out, err = cli(capsys, "evaluate", str(spec), "--weights", str(run), "--data", str(renamed), "--json")
    assert code == 1 and out == ""
    assert f"the classes of '{renamed}' are not the run's (only in '{renamed}': zebras; only in the run: cats)" in err
    extra = tmp_path / "extra"
    shutil.copytree(data, extra)
    make_folder(extra / "more", ("birds",))
    shutil.move(extra / "more" / "birds", extra / "birds")
    (extra / "more").rmdir()
    code, _, err = cli(capsys, "evaluate", str(spec), "--weights", str(run), "--data", str(extra))
    assert code == 1 and f"only in '{extra}': birds" in err and "None" not in err


# 2. 16-bit images --------------------------------------------------------------------------------------------------

def test_predict_scales_16_bit_png_as_its_8_bit_original(trained, capsys, tmp_path: Path):
    spec, _, run = trained
    grey = (np.arange(64, dtype=np.uint16).reshape(8, 8) * 4).clip(0, 255)  # 0 .. 252: every shade differs
    paths = {"8": tmp_path / "a8.png", "257": tmp_path / "a257.png", "256": tmp_path / "a256.png"}
    Image.fromarray(grey.astype(np.uint8)).save(paths["8"])
    Image.fromarray(grey * 257).save(paths["257"])
    Image.fromarray(grey * 256).save(paths["256"])
    assert Image.open(paths["257"]).mode == "I;16" and np.asarray(Image.open(paths["257"])).max() == 252 * 257
    code, out, err = cli(capsys, "predict", str(spec), "--weights", str(run), *map(str, paths.values()), "--json",
                         "--top", "2")
    assert code == 0, err
    probabilities = [[c["probability"] for c in r["top"]] for r in json.loads(out)]
    assert probabilities[1] == pytest.approx(probabilities[0], abs=1e-6)
    assert probabilities[2] == pytest.approx(probabilities[0], abs=1e-6)
    # what the run's model gives the 8-bit pixels, prepared here as training prepares them
    prep = json.loads((run / "run.json").read_text())["preprocessing"]
    x = torch.from_numpy(grey.astype(np.float32) / 255).expand(1, 3, 8, 8)
    x = (x - torch.tensor(prep["mean"]).view(1, 3, 1, 1)) / torch.tensor(prep["std"]).view(1, 3, 1, 1)
    with torch.no_grad():
        want = cnndsl.load(spec, weights=run).eval()(x).softmax(1)[0].sort(descending=True).values
    assert probabilities[1] == pytest.approx(want.tolist(), abs=1e-5)


# 3. nothing of the user's is overwritten ---------------------------------------------------------------------------

def test_train_refuses_a_folder_holding_a_run_unless_resume_or_force(trained, capsys, tmp_path: Path):
    spec, data, run = trained
    out = copy_run(run, tmp_path)
    (out / "confusion.png").write_bytes(b"old evaluation")
    (out / "notes.txt").write_text("mine")
    before = (out / "model.pt").read_bytes()
    args = ["train", str(spec), "--data", str(data), "--epochs", "1", "--batch-size", "4", "--device", "cpu",
            "--out", str(out)]
    code, _, err = cli(capsys, *args)
    assert code == 1 and f"--out '{out}' already holds a run (run.json, model.pt, checkpoint.pt, metrics.json)" in err
    assert "--force replaces it" in err and (out / "model.pt").read_bytes() == before
    code, _, err = cli(capsys, *args, "--seed", "1", "--force")
    assert code == 0, err
    assert not (out / "confusion.png").exists() and (out / "notes.txt").read_text() == "mine"
    assert json.loads((out / "run.json").read_text())["options"]["seed"] == 1
    assert (out / "model.pt").read_bytes() != before and len(json.loads((out / "metrics.json").read_text())) == 1


def test_export_refuses_an_output_named_for_another_format(trained, capsys, tmp_path: Path):
    spec, _, run = trained
    image = tmp_path / "shoe.png"
    image.write_bytes(b"\x89PNG a photo")
    (tmp_path / "README").write_text("mine")
    for fmt, name in (("onnx", image), ("py", tmp_path / "x.onnx"), ("pt2", tmp_path / "README")):
        code, _, err = cli(capsys, "export", str(spec), "--weights", str(run), "--format", fmt, "-o", str(name))
        assert code == 1 and f"--format {fmt} writes" in err and f"-o '{name}' is" in err, err
    assert image.read_bytes() == b"\x89PNG a photo" and not (tmp_path / "x.onnx").exists()
    assert (tmp_path / "README").read_text() == "mine"
    for fmt, name in (("torchscript", "m.ts"), ("py", "m.PY"), ("py", "new_name_without_extension")):
        code, _, err = cli(capsys, "export", str(spec), "--format", fmt, "-o", str(tmp_path / name))
        assert code == 0, err


# 4. one epoch's curves are visible ---------------------------------------------------------------------------------

def test_curves_of_one_epoch_show_each_value(tmp_path: Path):
    import matplotlib.pyplot as plt

    row = {"epoch": 1, "train_loss": 0.6, "train_acc": 0.3, "test_acc": 0.45}
    fig = runs.curves_figure([row])
    fig.canvas.draw()
    pixels = np.asarray(fig.canvas.buffer_rgba())[..., :3].astype(int)
    ax = fig.axes[0]
    for line in ax.get_lines():
        x, y = ax.transData.transform((1, line.get_ydata()[0]))
        colour = np.array([int(line.get_color()[i:i + 2], 16) for i in (1, 3, 5)])
        row_, col = pixels.shape[0] - int(round(y)), int(round(x))
        patch = pixels[row_ - 1:row_ + 2, col - 1:col + 2]
        assert (np.abs(patch - colour).sum(-1) < 30).any(), line.get_label()
    plt.close(fig)
    runs.write_curves(tmp_path / "curves.png", [row])
    assert (tmp_path / "curves.png").read_bytes()[:4] == b"\x89PNG"


# 5. --weights that are no run ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("command", ["predict", "evaluate", "export"])
def test_weights_that_are_no_run_say_what_they_are(trained, capsys, tmp_path: Path, command):
    spec, _, run = trained
    image = tmp_path / "shoe.png"
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(image)
    truncated = copy_run(run, tmp_path)
    (truncated / "model.pt").write_bytes((run / "model.pt").read_bytes()[:500])
    tail = {"predict": [str(image)], "evaluate": [], "export": ["--format", "onnx", "-o", str(tmp_path / "x.onnx")]}
    cases = [(tmp_path / "nope", f"weights file '{tmp_path / 'nope'}' does not exist"),
             (image, f"'{image}' is not a state_dict saved by torch or cnndsl"),
             (truncated, f"'{truncated / 'model.pt'}' is not a state_dict saved by torch or cnndsl")]
    for weights, message in cases:
        code, _, err = cli(capsys, command, str(spec), "--weights", str(weights), *tail[command])
        assert code == 1 and message in err and "weights_only" not in err and "miniz" not in err, err
        shown = [line for line in err.strip().splitlines() if not line.startswith("note: as trained")]
        assert len(shown) <= 2  # the error and its hint (after the note of what run.json gave, for a run)
    plain = tmp_path / "plain.pt"
    torch.save(cnndsl.load(spec).state_dict(), plain)
    code, _, err = cli(capsys, command, str(spec), "--weights", str(plain), *tail[command])
    if command == "export":  # a state_dict is all export needs without --preprocess
        assert code == 0, err
    else:
        assert code == 1 and f"no run.json next to the weights '{plain}'" in err


def test_help_says_what_weights_predict_and_evaluate_take(capsys):
    for command in ("predict", "evaluate"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        text = " ".join(capsys.readouterr().out.split())
        assert "or the model.pt in one" in text and "state_dict file" not in text


# 6. evaluate --out is made first -------------------------------------------------------------------------------------

def test_evaluate_creates_its_out_folder(trained, capsys, tmp_path: Path):
    spec, _, run = trained
    out = tmp_path / "new" / "eval"
    code, text, err = cli(capsys, "evaluate", str(spec), "--weights", str(run), "--json", "--out", str(out))
    assert code == 0, err
    assert json.loads(text)["images"] == 2 and (out / "confusion.png").read_bytes()[:4] == b"\x89PNG"
    (tmp_path / "file").write_text("")
    code, text, err = cli(capsys, "evaluate", str(spec), "--weights", str(run), "--out", str(tmp_path / "file" / "x"))
    assert code == 1 and "cannot write to --out" in err and text == ""


# 7. predict --json lists the failures ------------------------------------------------------------------------------

def test_predict_json_lists_failed_images_with_their_error(trained, capsys, tmp_path: Path):
    spec, data, run = trained
    good = data / "cats" / "0.png"
    code, out, err = cli(capsys, "predict", str(spec), "--weights", str(run), str(tmp_path / "missing.png"),
                         str(good), "--json")
    assert code == 1 and "does not exist" in err
    result = json.loads(out)
    assert result[0] == {"image": str(tmp_path / "missing.png"),
                         "error": f"image '{tmp_path / 'missing.png'}' does not exist"}
    assert result[1]["image"] == str(good) and len(result[1]["top"]) == 2


# 8. a hand-edited run.json -------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("change", "message"), [
    ({"std": [0.0, 0.2, 0.2]}, "has invalid preprocessing: std must be positive, got [0.0, 0.2, 0.2]"),
    ({"std": [0.2]}, "has invalid preprocessing: std must hold one finite number per channel (3), got [0.2]"),
    ({"mean": [0.5, "a", 0.5]}, "mean must hold one finite number per channel (3)"),
    ({"image": [3, 0, 8]}, "image [3, 0, 8] and resize None must be positive integers"),
    ({"classes": ["cats"]}, "does not fit network 'Tiny': its preprocessing gives 3 channels and names 1 classes"),
    ({"image": [1, 8, 8], "mean": [0.5], "std": [0.2]}, "gives 1 channels and names 2 classes; the network takes 3"),
])
def test_a_run_json_that_cannot_be_the_runs_is_refused(trained, capsys, tmp_path: Path, change, message):
    spec, data, run = trained
    copy = copy_run(run, tmp_path)
    info = json.loads((copy / "run.json").read_text())
    info["preprocessing"].update(change)
    (copy / "run.json").write_text(json.dumps(info))
    for command in (["predict", str(data / "cats" / "0.png")], ["evaluate"]):
        code, out, err = cli(capsys, command[0], str(spec), "--weights", str(copy), *command[1:])
        assert code == 1 and f"'{copy / 'run.json'}'" in err and message in err, err
        assert "internal error" not in err and out == ""


# 9. hints in the command line's words --------------------------------------------------------------------------------

def test_several_networks_ask_for_net_name(trained, capsys, tmp_path: Path):
    """Without a run to say which network was trained (a plain state_dict file), --net is asked for."""
    _, data, run = trained
    spec = tmp_path / "two.cnn"
    spec.write_text(TWO)
    state = tmp_path / "weights.pt"
    torch.save(torch.load(run / "model.pt", weights_only=True)["model"], state)
    code, _, err = cli(capsys, "export", str(spec), "--weights", str(state), "--format", "py", "-o",
                       str(tmp_path / "m.py"))
    assert code == 1 and "choose one with --net NAME" in err and "networks: Tiny, Other" in err and "net=" not in err


WIDE = ("network Tiny(classes=2, width=4) {\n    input 3x8x8\n    conv 3x3 width pad=1, bn, relu, gap, flatten, "
        "fc classes\n}\nnetwork Other {\n    input 3x8x8\n    gap, flatten, fc 2\n}\n")


def test_commands_on_a_run_build_the_network_it_trained(capsys, tmp_path: Path):
    """--net, --input and --set default to the run's (run.json): a run of `Tiny` with --set width=6 at
    --input 3x12x12 is predicted, evaluated and exported from the file and the run folder alone (a
    newcomer's report: predict refused the weights, 16x1x3x3 in the file and 16x3x3x3 in the network)."""
    spec = tmp_path / "wide.cnn"
    spec.write_text(WIDE)
    data = make_folder(tmp_path / "imgs")
    cnndsl.train(spec, net="Tiny", input="3x12x12", progress=False, width=6,
                 options=Options(data=str(data), resize=12, epochs=1, batch_size=4, device="cpu",
                                 out=str(tmp_path / "run")))
    run = tmp_path / "run"
    code, out, err = cli(capsys, "predict", str(spec), "--weights", str(run), "--json", str(data / "dogs" / "1.png"))
    assert code == 0, err
    assert f"note: as trained ({run / 'run.json'}): --net Tiny --input 3x12x12" in err and "--set width=6" in err
    assert json.loads(out)[0]["top"][0]["class"] in ("cats", "dogs")
    assert cli(capsys, "evaluate", str(spec), "--weights", str(run))[0] == 0
    code, _, err = cli(capsys, "predict", str(spec), "--weights", str(run), "--set", "width=4",
                       str(data / "dogs" / "1.png"))
    assert code == 1 and "--set width=6" not in err  # what the command line says wins


@pytest.mark.parametrize(("body", "message", "hint"), [
    ("gap, flatten, fc 5", "outputs 5 values per image but training on DATA needs a vector of 2, one score per class",
     "end the network in 2 values, e.g. `gap, flatten, fc 2`"),
    ("conv 3x3 classes", "outputs 7x6x6 values per image but training on DATA needs a vector of 2",
     "end the network in 2 values"),
    ("gap, flatten, fc classes", "outputs 7 values per image", "use --set classes=2"),
])
def test_training_a_network_without_a_class_vector_says_what_it_needs(trained, tmp_path: Path, body, message, hint):
    _, data, _ = trained
    spec = tmp_path / "n.cnn"
    spec.write_text(f"network N(classes=7) {{\n    input 3x8x8\n    {body}\n}}\n")
    with pytest.raises(cnndsl.CnnError) as caught:
        cnndsl.train(spec, progress=False, options=Options(data=str(data), epochs=1, out=str(tmp_path / "r")))
    assert caught.value.message.startswith("N outputs") and message.replace("DATA", str(data)) in caught.value.message
    assert hint in (caught.value.diagnostic.hint or "")
