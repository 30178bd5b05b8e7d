"""Writing output files without hurting what was there.

A regular file is written atomically: a temporary file in the target's folder, then a rename,
so a failure or a kill never leaves a partial file or damages the old one. A symbolic link is
followed (the link stays, its target is replaced). A character device or a FIFO (`-o /dev/null`,
`-o /dev/stdout`, a named pipe) is written into, never replaced by a regular file. A block
device, a socket or a folder is refused.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from glob import escape as glob_escape
from pathlib import Path

from .errors import CnnError

# Temporary files are named `.cnndsl-tmp-<pid>-<name>.<random>`: one left by a process that was
# killed (SIGKILL cannot be caught) is removed by the next write of the same name.
TEMPORARY_PREFIX = ".cnndsl-tmp-"


def write_atomic(path: Path, data: bytes, sync: bool = False, mode: int = 0o644) -> None:
    """Write `data` to `path` (see the module docstring for what each kind of path gets); a regular
    file gets permissions `mode`.

    Raises CnnError naming the path when the folder is missing, the path is a folder, a block
    device or a socket, or the system refuses the write.
    """
    kind = _kind(Path(path))  # through links: /dev/stdout names a pipe's /proc entry, which no path reaches
    if kind in (stat.S_IFCHR, stat.S_IFIFO):
        _write_stream(Path(path), data)
        return
    path = Path(os.path.realpath(path)) if os.path.islink(path) else Path(path)
    if kind is not None and kind != stat.S_IFREG:
        what = {stat.S_IFDIR: "a directory", stat.S_IFBLK: "a block device", stat.S_IFSOCK: "a socket"}
        raise CnnError(f"cannot write '{path}': it is {what.get(kind, 'not a regular file')}")
    directory = path.parent if str(path.parent) else Path(".")
    if not directory.is_dir():
        raise CnnError(f"cannot write '{path}': the directory '{directory}' does not exist")
    _remove_orphans(directory, path.name)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f"{TEMPORARY_PREFIX}{os.getpid()}-{path.name}.", dir=directory)
    except OSError as exc:
        raise CnnError(f"cannot write '{path}': {_reason(exc)}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            if sync:
                f.flush()
                os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except OSError as exc:
        os.unlink(tmp)
        raise CnnError(f"cannot write '{path}': {_reason(exc)}") from None
    except BaseException:
        os.unlink(tmp)
        raise


def _remove_orphans(directory: Path, name: str) -> None:
    """Delete our temporary files for `name` whose writing process no longer runs."""
    for tmp in directory.glob(f"{TEMPORARY_PREFIX}*-{glob_escape(name)}.*"):
        pid = tmp.name[len(TEMPORARY_PREFIX):].split("-", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and not _running(int(pid)):
            with contextlib.suppress(OSError):
                tmp.unlink()


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # it exists but is another user's
        return True
    return True


def _kind(path: Path) -> int | None:
    """The file type bits of an existing path (stat.S_IFREG, ...), None when it does not exist."""
    try:
        return stat.S_IFMT(os.stat(path).st_mode)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise CnnError(f"cannot write '{path}': {_reason(exc)}") from None


def _write_stream(path: Path, data: bytes) -> None:
    """Write into an existing character device or FIFO, as `cp` and `gcc -o` do."""
    try:
        fd = os.open(path, os.O_WRONLY | getattr(os, "O_NOCTTY", 0))
        with os.fdopen(fd, "wb") as f:
            f.write(data)
    except OSError as exc:
        raise CnnError(f"cannot write '{path}': {_reason(exc)}") from None


def _reason(exc: OSError) -> str:
    return (exc.strerror or str(exc)).lower()
