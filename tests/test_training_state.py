"""A training run's state on disk: Ctrl-C stops at a step boundary, a kill between two writes
loses nothing, a checkpoint with wrong contents is named field by field, and one run at a time
writes an `--out` folder. Everything trains a tiny network on a tiny image folder."""

from __future__ import annotations

import csv
import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import cnndsl
from cnndsl.training import data as datasets
from cnndsl.training import loop
from cnndsl.training.loop import Options, TrainingInterruptedError, train
from tests.conftest import ROOT

SPEC = """network Tiny(classes=2) {
    input 3x8x8
    conv 3x3 4 pad=1, bn, relu, gap, flatten, dropout 0.3, fc classes
}
"""
TIMING = ("seconds", "train_seconds", "images_per_second")


@pytest.fixture(scope="module")
def job(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """tiny.cnn and an image folder of 2 classes x 20 images (36 to train on: 9 steps of 4)."""
    import torchvision.io as io

    root = tmp_path_factory.mktemp("job")
    (root / "tiny.cnn").write_text(SPEC)
    images = torch.Generator().manual_seed(0)
    for label, cls in enumerate(("dark", "light")):
        (root / "imgs" / cls).mkdir(parents=True)
        for i in range(20):
            image = torch.randint(0, 160, (3, 8, 8), generator=images, dtype=torch.uint8) + 90 * label
            io.write_png(image, str(root / "imgs" / cls / f"{i}.png"))
    return root


def options(job: Path, out: Path, **changes: object) -> Options:
    return Options(**{"data": str(job / "imgs"), "epochs": 3, "batch_size": 4, "augment": ["flip", "crop"],
                      "device": "cpu", "seed": 3, "out": str(out), **changes})


def results(out: Path) -> tuple[list[dict], dict, dict]:
    """(metrics without timings, the best weights, the last checkpoint's weights) of a run."""
    rows = [{k: v for k, v in row.items() if k not in TIMING} for row in json.loads((out / "metrics.json").read_text())]
    best = torch.load(out / "model.pt", weights_only=True)["model"]
    last = torch.load(out / "checkpoint.pt", weights_only=True)["model"]
    return rows, best, last


def same(a: tuple, b: tuple) -> bool:
    rows_a, *weights_a = a
    rows_b, *weights_b = b
    return rows_a == rows_b and all(x.keys() == y.keys() and all(torch.equal(x[k], y[k]) for k in x)
                                    for x, y in zip(weights_a, weights_b, strict=True))


@pytest.fixture(scope="module")
def uninterrupted(job: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple:
    out = tmp_path_factory.mktemp("whole")
    train(job / "tiny.cnn", options=options(job, out), progress=False)
    return results(out)


# --- Ctrl-C: the checkpoint holds exactly the completed steps -------------------------------------------

def sigint_at(monkeypatch: pytest.MonkeyPatch, where: str, call: int) -> None:
    """Send this process SIGINT inside the `call`-th call of the loss (after the forward pass:
    batch-norm statistics updated, the optimizer not yet stepped), the batch maker or the
    evaluation, as a Ctrl-C could arrive."""
    owner, name = {"loss": (torch.nn.functional, "cross_entropy"), "batch": (datasets.Batches, "batch"),
                   "evaluate": (loop, "_evaluate")}[where]
    real, calls = getattr(owner, name), []

    def interrupting(*args, **kwargs):  # noqa: ANN202
        calls.append(1)
        if len(calls) == call:
            os.kill(os.getpid(), signal.SIGINT)
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, interrupting)


# (where, which call) -> the (epoch, step) checkpointed: the step in progress is finished first;
# the batch maker also makes the test batch after each epoch (call 10, 20)
@pytest.mark.parametrize("where,call,stop", [("loss", 1, (0, 1)), ("loss", 5, (0, 5)), ("loss", 9, (1, 0)),
                                             ("loss", 14, (1, 5)), ("batch", 22, (2, 2)), ("evaluate", 2, (2, 0))])
def test_ctrl_c_then_resume_equals_an_uninterrupted_run(job, uninterrupted, tmp_path, monkeypatch, where, call, stop):
    out = tmp_path / "run"
    with monkeypatch.context() as patch:
        sigint_at(patch, where, call)
        with pytest.raises(TrainingInterruptedError, match="checkpoint saved .* continue with --resume"):
            train(job / "tiny.cnn", options=options(job, out), progress=False)
    state = torch.load(out / "checkpoint.pt", weights_only=True)
    assert (state["epoch"], state["step"]) == stop
    train(job / "tiny.cnn", options=options(job, out, resume=True), progress=False)
    assert same(results(out), uninterrupted)


def test_ctrl_c_twice_stops_without_saving_and_the_last_checkpoint_stays_good(job, uninterrupted, tmp_path,
                                                                               monkeypatch):
    out = tmp_path / "run"
    calls = []
    real = torch.nn.functional.cross_entropy

    def twice(*args, **kwargs):  # noqa: ANN202 (in the 12th step: epoch 2, after its checkpoint)
        calls.append(1)
        if len(calls) == 12:
            os.kill(os.getpid(), signal.SIGINT)
            os.kill(os.getpid(), signal.SIGINT)
        return real(*args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(torch.nn.functional, "cross_entropy", twice)
        with pytest.raises(KeyboardInterrupt):
            train(job / "tiny.cnn", options=options(job, out), progress=False)
    state = torch.load(out / "checkpoint.pt", weights_only=True)
    assert (state["epoch"], state["step"]) == (1, 0)
    train(job / "tiny.cnn", options=options(job, out, resume=True), progress=False)
    assert same(results(out), uninterrupted)


def test_resuming_mid_epoch_with_another_batch_size_is_refused(job, tmp_path, monkeypatch):
    out = tmp_path / "run"
    with monkeypatch.context() as patch:
        sigint_at(patch, "loss", 3)
        with pytest.raises(TrainingInterruptedError):
            train(job / "tiny.cnn", options=options(job, out), progress=False)
    with pytest.raises(cnndsl.CnnError, match="middle of epoch 1 with --batch-size 4 on 1 process.*this run has 6"):
        train(job / "tiny.cnn", options=options(job, out, resume=True, batch_size=6), progress=False)


def cli(*args: str, code: str = "", **kwargs) -> subprocess.CompletedProcess | subprocess.Popen:
    """`cnndsl ARGS` in a new process, after running `code` in it (a patch that simulates a kill)."""
    program = f"import sys\n{code}\nfrom cnndsl.cli.main import main\nsys.exit(main(sys.argv[1:]))\n"
    command = [sys.executable, "-c", program, *args]
    if kwargs.pop("background", False):
        return subprocess.Popen(command, cwd=ROOT, text=True, **kwargs)
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, **kwargs)


def train_args(job: Path, out: Path, *more: str) -> list[str]:
    return ["train", str(job / "tiny.cnn"), "--data", str(job / "imgs"), "--epochs", "3", "--batch-size", "4",
            "--augment", "flip,crop", "--device", "cpu", "--seed", "3", "--out", str(out), *more]


def test_ctrl_c_on_the_command_line_exits_130_and_resumes(job, uninterrupted, tmp_path):
    out = tmp_path / "run"
    at_step_7 = ("import os, signal, torch\nreal, calls = torch.nn.functional.cross_entropy, []\n"
                 "def loss(*a, **k):\n    calls.append(1)\n"
                 "    if len(calls) == 7: os.kill(os.getpid(), signal.SIGINT)\n    return real(*a, **k)\n"
                 "torch.nn.functional.cross_entropy = loss")
    stopped = cli(*train_args(job, out), code=at_step_7)
    assert stopped.returncode == 130, stopped.stderr
    assert "stopping after this step to save a checkpoint" in stopped.stderr
    assert "interrupted at epoch 1, step 7; checkpoint saved" in stopped.stderr and "Traceback" not in stopped.stderr
    resumed = cli(*train_args(job, out, "--resume"))
    assert resumed.returncode == 0, resumed.stderr
    assert results(out)[0] == uninterrupted[0]


# --- a kill between two writes ---------------------------------------------------------------------------

class Killed(BaseException):
    """Raised where a kill would strike; no `except` in cnndsl catches it, and nothing writes on the way out."""


def kill_at(monkeypatch: pytest.MonkeyPatch, name: str, count: int, after: bool) -> None:
    """Stop training at the `count`-th write of the run folder's file `name`, before or after it."""
    from cnndsl.training import runs

    real, seen = runs.write_atomic, []

    def write(path, data):  # noqa: ANN001, ANN202
        seen.append(Path(path).name)
        dies = seen.count(name) == count
        if dies and not after:
            raise Killed
        real(path, data)
        if dies:
            raise Killed

    monkeypatch.setattr(runs, "write_atomic", write)


@pytest.mark.parametrize("name,count,after", [
    ("checkpoint.pt", 1, True),  # epoch 1 checkpointed, its model.pt and metrics not yet written
    ("checkpoint.pt", 2, True),  # epoch 2 checkpointed, metrics.json still says 1 epoch
    ("metrics.json", 2, True),  # metrics.json written, metrics.csv and curves.png not
    ("checkpoint.pt", 2, False),  # epoch 2 ends but is not checkpointed: it is trained again
])
def test_a_kill_between_writes_loses_no_epoch(job, uninterrupted, tmp_path, monkeypatch, name, count, after):
    out = tmp_path / "run"
    with monkeypatch.context() as patch:
        kill_at(patch, name, count, after)
        with pytest.raises(Killed):
            train(job / "tiny.cnn", options=options(job, out), progress=False)
    rows = train(job / "tiny.cnn", options=options(job, out, resume=True), progress=False)
    assert same(results(out), uninterrupted)
    assert [r["epoch"] for r in rows] == [1, 2, 3]
    with open(out / "metrics.csv") as f:
        assert [row["epoch"] for row in csv.DictReader(f)] == ["1", "2", "3"]


def test_a_process_killed_after_its_checkpoint_resumes_with_every_epoch_and_the_right_best(job, uninterrupted,
                                                                                         tmp_path):
    out = tmp_path / "run"
    after_checkpoint_2 = ("import os\nfrom cnndsl.training import runs\nreal = runs.save_torch\nseen = []\n"
                          "def save(path, obj):\n    real(path, obj)\n    seen.append(path.name)\n"
                          "    if seen.count('checkpoint.pt') == 2: os._exit(9)\n"
                          "runs.save_torch = save")
    killed = cli(*train_args(job, out), code=after_checkpoint_2)
    assert killed.returncode == 9, killed.stderr
    assert len(json.loads((out / "metrics.json").read_text())) == 1  # the kill came between the two files
    resumed = cli(*train_args(job, out, "--resume"))
    assert resumed.returncode == 0, resumed.stderr
    rows = uninterrupted[0]
    assert f"test accuracy {rows[-1]['test_acc']:.4f} (best {max(r['test_acc'] for r in rows):.4f})" \
        in resumed.stdout
    assert same(results(out), uninterrupted)


# --- a checkpoint that loads but holds wrong contents -----------------------------------------------------

@pytest.fixture(scope="module")
def checkpoint_run(job: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("checkpoint")
    train(job / "tiny.cnn", options=options(job, out, epochs=1), progress=False)
    return out


def _adam_average(state: dict) -> None:
    state["optimizer"]["state"][0]["exp_avg"] = torch.zeros(5)


CORRUPTIONS = {
    "a string epoch": (lambda s: s.update(epoch="1"), "field 'epoch' must be a whole number >= 0, not str '1'"),
    "no random state": (lambda s: s["ranks"][0].pop("rng"), "field 'ranks[0].rng' is missing"),
    "a short random state": (lambda s: s["ranks"][0].update(rng=s["ranks"][0]["rng"][:100]),
                             "field 'ranks[0].rng' must be a uint8 tensor of"),
    "short sums": (lambda s: s["ranks"][0].update(sums=[1.0]), "field 'ranks[0].sums' must be a list of 3"),
    "short rows": (lambda s: s.update(rows=[]), "field 'rows' must be a list of one row per finished epoch (1)"),
    "a string accuracy": (lambda s: s["rows"][0].update(test_acc="high"), "field 'rows[0].test_acc' must be a finite"),
    "a list for the model": (lambda s: s.update(model=list(s["model"].values())),
                             "field 'model' must be a dict of named tensors, not a list of"),
    "a wrong-sized weight": (lambda s: s["model"].update({next(iter(s["model"])): torch.zeros(3)}),
                             "field 'model' does not fit this network"),
    "a string learning rate": (lambda s: s["optimizer"]["param_groups"][0].update(lr="fast"),
                               "field 'optimizer.param_groups[0].lr' does not fit"),
    "a wrong-sized Adam average": (_adam_average, "field 'optimizer.state[0].exp_avg' does not fit"),
    "a step past the epoch": (lambda s: s.update(step=99), "field 'step' must be less than the 9 steps of an epoch"),
    "fewer process states": (lambda s: s.update(world_size=2), "field 'ranks' must be a list of one state per "
                                                               "process (2)"),
    "no format": (lambda s: s.pop("format"), "is not a cnndsl checkpoint of format 2"),
}


@pytest.mark.parametrize("corruption", list(CORRUPTIONS))
def test_a_checkpoint_with_wrong_contents_names_the_field(job, checkpoint_run, tmp_path, corruption):
    change, message = CORRUPTIONS[corruption]
    out = tmp_path / "run"
    out.mkdir()
    state = torch.load(checkpoint_run / "checkpoint.pt", weights_only=True)
    change(state)
    torch.save(state, out / "checkpoint.pt")
    with pytest.raises(cnndsl.CnnError) as info:
        train(job / "tiny.cnn", options=options(job, out, resume=True), progress=False)
    assert message in info.value.message and f"checkpoint '{out / 'checkpoint.pt'}'" in info.value.message


def test_a_checkpoint_that_is_no_dict_is_an_error_on_the_command_line(job, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    torch.save([1, 2, 3], out / "checkpoint.pt")
    result = cli(*train_args(job, out, "--resume"))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert f"error: checkpoint '{out / 'checkpoint.pt'}' is not a cnndsl checkpoint: it holds a list of 3" \
        in result.stderr


# --- one run at a time in a folder ------------------------------------------------------------------------

WAIT_IN_EPOCH_1 = ("from cnndsl.training import runs\nreal = runs.write_metrics\n"
                   "def write(out, rows):\n"
                   "    if len(rows) == 1:\n        print('waiting', flush=True)\n        sys.stdin.readline()\n"
                   "    real(out, rows)\n"
                   "runs.write_metrics = write")


def test_a_second_run_into_the_same_folder_is_refused_while_the_first_trains(job, uninterrupted, tmp_path):
    out = tmp_path / "run"
    first = cli(*train_args(job, out), code=WAIT_IN_EPOCH_1, background=True, stdin=subprocess.PIPE,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert first.stdout.readline() == "waiting\n"
        second = cli(*train_args(job, out, "--epochs", "1"))
        assert second.returncode == 1 and "Traceback" not in second.stderr
        assert f"--out '{out}' is in use by another training run: pid {first.pid} on {socket.gethostname()}" \
            in second.stderr and "train " in second.stderr
        first.stdin.write("\n")
        first.stdin.close()
        assert first.wait() == 0, first.stderr.read()
    finally:
        first.kill()
        first.wait()
    assert same(results(out), uninterrupted)  # the first run's files, unmixed
    assert not (out / ".lock").exists()


def test_the_lock_of_a_killed_run_does_not_block_the_next(job, tmp_path):
    out = tmp_path / "run"
    first = cli(*train_args(job, out), code=WAIT_IN_EPOCH_1, background=True, stdin=subprocess.PIPE,
                stdout=subprocess.PIPE)
    try:
        assert first.stdout.readline() == "waiting\n"
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    assert str(first.pid) in (out / ".lock").read_text()  # left behind, but nobody holds it
    resumed = cli(*train_args(job, out, "--resume"))
    assert resumed.returncode == 0 and "in use" not in resumed.stderr, resumed.stderr
    assert [r["epoch"] for r in json.loads((out / "metrics.json").read_text())] == [1, 2, 3]


# --- DDP: the processes stop at the same step, the first one writes -------------------------------------------

def torchrun(tmp_path: Path, args: list[str], code: str = "") -> subprocess.CompletedProcess:
    script = tmp_path / "worker.py"
    script.write_text(f"import sys\n{code}\nfrom cnndsl.cli.main import main\nsys.exit(main(sys.argv[1:]))\n")
    return subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                           str(script), *args], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)})


@pytest.mark.slow
def test_ctrl_c_in_one_ddp_process_stops_both_at_one_step_and_resume_is_exact(job, tmp_path):
    whole = torchrun(tmp_path, train_args(job, tmp_path / "whole"))
    assert whole.returncode == 0, whole.stderr[-2000:]
    out = tmp_path / "run"
    second_process_at_step_3 = (
        "import os, signal, torch\nreal, calls = torch.nn.functional.cross_entropy, []\n"
        "def loss(*a, **k):\n    calls.append(1)\n"
        "    if len(calls) == 3 and os.environ['RANK'] == '1': os.kill(os.getpid(), signal.SIGINT)\n"
        "    return real(*a, **k)\n"
        "torch.nn.functional.cross_entropy = loss")
    stopped = torchrun(tmp_path, train_args(job, out), code=second_process_at_step_3)
    assert stopped.returncode != 0 and "interrupted at epoch 1, step 3; checkpoint saved" in stopped.stderr
    state = torch.load(out / "checkpoint.pt", weights_only=True)
    assert (state["epoch"], state["step"], state["world_size"], len(state["ranks"])) == (0, 3, 2, 2)
    resumed = torchrun(tmp_path, train_args(job, out, "--resume"))
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert same(results(out), results(tmp_path / "whole"))
