"""The `cnndsl` command: check and list, exit statuses, and errors without tracebacks."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ARCH, ROOT


def run(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cnndsl.cli", *args], cwd=cwd, capture_output=True, text=True)


def test_check_prints_every_layer_with_its_shape():
    result = run("check", "architectures/lenet.cnn", "--net", "LeNet")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "LeNet  (architectures/lenet.cnn)"
    rows = [line.split() for line in lines[3:16]]
    assert rows[1][:1] == ["conv1"] and rows[1][-1] == "6x28x28"
    assert rows[-1][0] == "fc3" and rows[-1][-1] == "10"
    assert lines[16].strip() == "13 layers, 61,706 parameters, output 10"


def test_check_set_and_input_overrides():
    result = run("check", "architectures/vgg.cnn", "--net", "VGG11", "--set", "ratio=4", "--input", "1x64x64")
    assert result.returncode == 0, result.stderr
    assert "vgg_block2.conv1" in result.stdout and "32x32x32" in result.stdout


def test_check_without_net_checks_every_network():
    result = run("check", "-q", "architectures/resnet.cnn")
    assert result.returncode == 0 and result.stdout == ""


def test_warnings_do_not_fail_check():
    result = run("check", "-q", "architectures/alexnet.cnn", "--net", "AlexNet")
    assert result.returncode == 0
    line = (ARCH / "alexnet.cnn").read_text().splitlines().index("    conv 11x11/4 96 pad=1, relu, maxpool 3x3/2") + 1
    assert result.stderr.startswith(f"architectures/alexnet.cnn:{line}:5: warning: conv1 (conv 11x11/4 96 pad=1) drops")


def test_errors_exit_1_with_a_located_message(tmp_path: Path):
    bad = tmp_path / "bad.cnn"
    bad.write_text("network A {\n    input 3x8x8\n    convolution 3x3 4\n}\n")
    result = run("check", str(bad))
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"{bad}:3:5: error: unknown op 'convolution'", "    convolution 3x3 4", "    ^~~~~~~~~~~",
        "  hint: did you mean 'conv'?"]
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("args,message", [
    (["check", "missing.cnn"], "cannot read 'missing.cnn': no such file or directory"),
    (["check", "architectures"], "'architectures' is not a regular file"),
    (["check", "architectures/vgg.cnn", "--net", "vgg12"], "no network 'vgg12'"),
    (["check", "architectures/vgg.cnn", "--set", "ratio=4"], "defines several networks"),
    (["check", "architectures/vgg.cnn", "--net", "VGG11", "--set", "ratio"], "--set takes NAME=VALUE"),
    (["check", "architectures/vgg.cnn", "--net", "VGG11", "--set", "ratio=(4"], "'(' is never closed"),
    (["check", "architectures/vgg.cnn", "--net", "VGG11", "--input", "1x2x2"], "leaves no output"),
    (["check", "architectures/vgg.cnn", "--net", "VGG11", "--input", "big"], "an input shape looks like"),
])
def test_bad_command_lines_exit_1(args, message):
    result = run(*args)
    assert result.returncode == 1, result.stdout
    assert message in result.stderr and "Traceback" not in result.stderr


def test_list_one_line_per_network():
    result = run("list", "architectures/lenet.cnn", "architectures/vgg.cnn")
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    assert lines[:3] == ["architectures/lenet.cnn  LeNet(classes=10)", "architectures/lenet.cnn  LeNetBN(classes=10)",
                         "architectures/vgg.cnn  VGG11(ratio=1, classes=10)"]
    assert len(lines) == 2 + 9


def test_help_for_every_command():
    for args in (["--help"], ["check", "--help"], ["list", "--help"]):
        result = run(*args)
        assert result.returncode == 0 and "usage: cnndsl" in result.stdout


def test_summary_table_and_formats():
    result = run("summary", "architectures/alexnet.cnn", "--net", "alexnet")
    assert result.returncode == 0, result.stderr
    assert "conv 11x11/4 64 pad=2" in result.stdout and "23.3K" in result.stdout and "61.1M" in result.stdout
    assert "training memory, adam" in result.stdout and "fvcore" in result.stdout
    csv_out = run("summary", "architectures/lenet.cnn", "--net", "LeNet", "--format", "csv").stdout.splitlines()
    assert csv_out[0].startswith("layer,op,output,params,macs")
    assert csv_out[2].startswith("conv1,conv 5x5 6 pad=2,6x28x28,156,117600")
    md = run("summary", "architectures/resnet.cnn", "--net", "resnet18", "--format", "markdown-layers", "--depth", "0")
    assert "| resnet_stage1 | resnet_stage(2, 64, 1, zero_init=false) | 64x56x56 |" in md.stdout
    tex = run("summary", "architectures/vgg.cnn", "--net", "vgg16", "--format", "latex").stdout
    assert r"\toprule" in tex and r"vgg\_block3 & 256$\times$28$\times$28" in tex and r"\bottomrule" in tex


def test_inputs_finds_227_for_the_papers_alexnet():
    result = run("inputs", "architectures/alexnet.cnn", "--net", "AlexNetPaper", "--range", "200:240")
    assert result.returncode == 0, result.stderr
    assert "no layer drops pixels at S = 227" in result.stdout
    assert "declared input 3x227x227 fits exactly" in result.stdout


def test_check_names_the_sizes_that_fit_after_a_drop_warning():
    result = run("check", "-q", "architectures/alexnet.cnn", "--net", "AlexNetPaper", "--input", "3x224x224")
    assert result.returncode == 0
    assert "at an input of 3x195x195 or 3x227x227" in result.stderr


def test_diff_of_two_settings_and_two_networks():
    result = run("diff", "architectures/vgg.cnn", "--net", "VGG11", "--set-b", "ratio=4")
    assert result.returncode == 0, result.stderr
    assert "vgg_block1                   64x112x112 -> 16x112x112" in result.stdout
    result = run("diff", "architectures/resnet.cnn", "architectures/resnet.cnn", "--net", "resnet18",
                 "--net-b", "resnet34")
    assert "resnet_stage2" in result.stdout and "+10.1M" in result.stdout


@pytest.mark.parametrize("args,message", [
    (["summary", "architectures/lenet.cnn", "--batch", "0"], "--batch must be a positive integer"),
    (["inputs", "architectures/lenet.cnn", "--range", "9-3"], "--range takes LOW:HIGH"),
    (["summary", "missing.cnn"], "cannot read 'missing.cnn'"),
])
def test_analysis_commands_reject_bad_input(args, message):
    result = run(*args)
    assert result.returncode == 1 and message in result.stderr


def test_cnndsl_alone_lists_the_commands():
    """A newcomer's first command: every subcommand with its one-line help, exit status 1."""
    from cnndsl.cli.main import build_parser

    result = run()
    assert result.returncode == 1
    commands = next(a for a in build_parser()._actions if a.dest == "command").choices
    assert all(f"    {name}" in result.stderr for name in commands)


def test_memory_beyond_gib_is_written_in_larger_units():
    from cnndsl.analysis.units import human_bytes

    assert human_bytes(3 * 2**40) == "3.0 TiB" and human_bytes(2**50 * 1.5) == "1.5 PiB"
    assert human_bytes(35865977.4 * 2**30) == f"{35865977.4 * 2**30 / 2**50:.1f} PiB"


def test_torchs_note_on_even_same_padding_does_not_reach_the_user(tmp_path):
    """torch warns (twice) that `pad=same` with an even kernel copies the input padded: nothing to act on."""
    path = tmp_path / "s.cnn"
    path.write_text("network N {\n    input 3x8x8\n    conv 4x4 8 pad=same\n}\n")
    result = run("export", str(path), "--format", "onnx", "-o", str(tmp_path / "s.onnx"))
    assert result.returncode == 0 and "UserWarning" not in result.stderr, result.stderr


def test_check_takes_several_files_and_reports_each(tmp_path):
    """As `list` and `fmt` do: a file that fails is reported, the others checked; exit 1 if any failed."""
    bad = tmp_path / "bad.cnn"
    bad.write_text("network N {\n    input 3x8x8\n    conv 3x3 4, rleu\n}\n")
    result = run("check", "architectures/lenet.cnn", str(bad), "architectures/nin.cnn")
    assert result.returncode == 1
    assert "LeNet  (architectures/lenet.cnn)" in result.stdout and "NiN  (architectures/nin.cnn)" in result.stdout
    assert f"{bad}:3:17: error: unknown op 'rleu'" in result.stderr
    assert run("check", "architectures/lenet.cnn", "architectures/nin.cnn", "-q").returncode == 0


def test_an_input_a_parameter_sizes_says_to_set_the_parameter():
    """U-Net's input is `(1, size, size)` and its crops follow `size`: --input alone cannot fit, and the
    error says to --set size (a newcomer's report), which works."""
    result = run("check", "architectures/unet.cnn", "--input", "1x252x252")
    assert result.returncode == 1
    hint = "hint: UNet's input is written with size, which other layers read too: set that (--set size=N"
    assert hint in result.stderr
    assert run("check", "architectures/unet.cnn", "--set", "size=252", "-q").returncode == 0
