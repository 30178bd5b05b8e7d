"""Security: the parser cache cannot be planted, outputs never replace devices or unrelated
files, and downloaded data is checked against its published checksums."""

from __future__ import annotations

import functools
import gzip
import http.server
import os
import pickle
import socket
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from cnndsl.errors import CnnError
from cnndsl.files import write_atomic
from tests.conftest import ROOT

PARSE = "import cnndsl; cnndsl.check_text('network A {\\n input 1x4x4\\n relu\\n}\\n')"


def parse_with_cache(home: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "XDG_CACHE_HOME": str(home)}
    return subprocess.run([sys.executable, "-c", PARSE], cwd=ROOT, env=env, capture_output=True, text=True)


class _Payload:
    """Unpickling this writes the marker file: proof that a planted cache was loaded."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.write_text, (self.marker, "pwned"))


@pytest.fixture(scope="module")
def planted(tmp_path_factory) -> tuple[str, bytes]:
    """A real cache file's name and a planted copy: its header line (the hash Lark checks)
    followed by a pickle that runs code when loaded."""
    home = tmp_path_factory.mktemp("real")
    assert parse_with_cache(home).returncode == 0
    (real,) = (home / "cnndsl").glob("*.cache")
    header = real.read_bytes().split(b"\n", 1)[0]
    marker = tmp_path_factory.mktemp("marker") / "pwned"
    return real.name, header + b"\n" + pickle.dumps(_Payload(marker)), marker


def plant(home: Path, planted, folder_mode: int = 0o700, file_mode: int = 0o600) -> Path:
    name, data, marker = planted
    folder = home / "cnndsl"
    folder.mkdir(parents=True)
    (folder / name).write_bytes(data)
    os.chmod(folder / name, file_mode)
    os.chmod(folder, folder_mode)
    return marker


def test_the_cache_folder_is_private_and_reused(tmp_path: Path):
    assert parse_with_cache(tmp_path).returncode == 0
    folder = tmp_path / "cnndsl"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    (cache,) = folder.glob("*.cache")
    written = cache.stat().st_mtime_ns
    assert parse_with_cache(tmp_path).returncode == 0
    assert cache.stat().st_mtime_ns == written  # read, not rebuilt


def test_a_planted_cache_in_our_own_private_folder_would_run(tmp_path: Path, planted):
    """The control: the payload is real, so the refusals below are what stops it."""
    marker = plant(tmp_path, planted)
    parse_with_cache(tmp_path)
    assert marker.exists()
    marker.unlink()


@pytest.mark.parametrize("folder_mode, file_mode", [(0o777, 0o600), (0o700, 0o666), (0o770, 0o600)])
def test_a_cache_others_could_write_is_never_unpickled(tmp_path: Path, planted, folder_mode, file_mode):
    marker = plant(tmp_path, planted, folder_mode, file_mode)
    result = parse_with_cache(tmp_path)
    assert result.returncode == 0, result.stderr
    assert not marker.exists()


@pytest.mark.skipif(os.getuid() != 0, reason="changing a folder's owner needs root")
def test_a_cache_folder_owned_by_another_user_is_refused(tmp_path: Path, planted):
    marker = plant(tmp_path, planted)
    os.chown(tmp_path / "cnndsl", 65534, 65534)
    os.chown(tmp_path / "cnndsl" / planted[0], 65534, 65534)
    assert parse_with_cache(tmp_path).returncode == 0
    assert not marker.exists()


def test_a_link_in_place_of_the_cache_folder_is_refused(tmp_path: Path, planted):
    marker = plant(tmp_path / "elsewhere", planted)
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "cnndsl").symlink_to(tmp_path / "elsewhere" / "cnndsl")
    assert parse_with_cache(tmp_path / "home").returncode == 0
    assert not marker.exists()


def test_output_into_a_fifo_writes_into_it(tmp_path: Path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()))
    reader.start()
    write_atomic(fifo, b"hello")
    reader.join(timeout=10)
    assert received == [b"hello"]
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_output_into_a_character_device_keeps_the_device(tmp_path: Path):
    null = tmp_path / "null"
    try:
        os.mknod(null, stat.S_IFCHR | 0o666, os.makedev(1, 3))  # a copy of /dev/null
    except (PermissionError, OSError):
        pytest.skip("cannot make a device node here")
    result = subprocess.run([sys.executable, "-m", "cnndsl.cli", "export", "architectures/lenet.cnn", "--net",
                             "LeNet", "--format", "py", "-o", str(null)], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert stat.S_ISCHR(os.lstat(null).st_mode)


def test_a_link_is_followed_and_kept(tmp_path: Path):
    (tmp_path / "real.txt").write_text("old")
    (tmp_path / "link.txt").symlink_to(tmp_path / "real.txt")
    write_atomic(tmp_path / "link.txt", b"new")
    assert (tmp_path / "link.txt").is_symlink()
    assert (tmp_path / "real.txt").read_text() == "new"


def test_a_socket_or_a_folder_is_refused(tmp_path: Path):
    path = tmp_path / "sock"
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(path))
    with pytest.raises(CnnError, match="is a socket"):
        write_atomic(path, b"x")
    assert stat.S_ISSOCK(os.lstat(path).st_mode)
    server.close()
    with pytest.raises(CnnError, match="is a directory"):
        write_atomic(tmp_path, b"x")


def test_orphaned_temporary_files_of_a_killed_writer_are_removed(tmp_path: Path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    orphan = tmp_path / f".cnndsl-tmp-{dead.stdout.strip()}-big.onnx.abc123"
    orphan.write_bytes(b"x" * 1000)
    other = tmp_path / f".cnndsl-tmp-{dead.stdout.strip()}-other.onnx.abc123"
    other.write_bytes(b"x")
    write_atomic(tmp_path / "big.onnx", b"model")
    assert not orphan.exists() and other.exists()
    assert (tmp_path / "big.onnx").read_bytes() == b"model"


def test_draw_without_graphviz_writes_nothing(tmp_path: Path):
    (tmp_path / "fig.dot").write_text("a different file the user keeps")
    env = {**os.environ, "PATH": str(Path(sys.executable).parent)}  # python, but no `dot`
    result = subprocess.run([sys.executable, "-m", "cnndsl.cli", "draw", str(ROOT / "architectures/lenet.cnn"),
                             "--net", "LeNet", "-o", str(tmp_path / "fig.svg")], env=env, capture_output=True,
                            text=True)
    assert result.returncode == 1
    assert "Graphviz's `dot` is not installed" in result.stderr and "-o " in result.stderr
    assert (tmp_path / "fig.dot").read_text() == "a different file the user keeps"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fig.dot"]


class _Mirror(http.server.SimpleHTTPRequestHandler):
    served: list[str] = []

    def log_message(self, format: str, *args) -> None:  # noqa: A002 (the base class's name)
        if args and str(args[1]) == "200":
            self.served.append(self.path)


def test_a_download_with_a_wrong_checksum_is_refused(tmp_path: Path, monkeypatch):
    """The data set's own mirror serves tampered files (from a local server): nothing is kept."""
    import torchvision

    from cnndsl.training import data

    mirror = tmp_path / "mirror"
    mirror.mkdir()
    for stem in (*data.IDX_FILES["train"], *data.IDX_FILES["test"]):
        (mirror / f"{stem}.gz").write_bytes(gzip.compress(b"\x00\x00\x08\x01\x00\x00\x00\x01\x07"))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Mirror, directory=str(mirror)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setattr(torchvision.datasets.FashionMNIST, "mirrors", [f"http://127.0.0.1:{server.server_port}/"])
    monkeypatch.setenv("CNNDSL_DATA", str(tmp_path / "data"))
    try:
        with pytest.raises(OSError, match="corrupted"):  # torchvision's word for a wrong MD5 sum
            data._download("fashion-mnist")
    finally:
        server.shutdown()
    assert "/train-images-idx3-ubyte.gz" in _Mirror.served  # it was fetched, then refused
    assert data._idx_in(tmp_path / "data" / "fashion-mnist" / "FashionMNIST" / "raw") == {}


def test_output_to_dev_stdout_reaches_a_pipe():
    """`-o /dev/stdout | ...`: /dev/stdout links to the pipe's /proc entry, which is no file path."""
    code = ("from pathlib import Path; from cnndsl.files import write_atomic; "
            "write_atomic(Path('/dev/stdout'), b'hello')")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout == b"hello"
