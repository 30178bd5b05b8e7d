"""Writing files atomically: a temporary file in the target directory, then a rename, so a
failure never leaves a partial file behind or damages the one that was there."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from .errors import CnnError


def write_atomic(path: Path, data: bytes, sync: bool = False) -> None:
    """Write `data` to `path`; CnnError naming the path on any failure."""
    path = Path(path)
    directory = path.parent if str(path.parent) else Path(".")
    if not directory.is_dir():
        raise CnnError(f"cannot write '{path}': the directory '{directory}' does not exist")
    if path.is_dir():
        raise CnnError(f"cannot write '{path}': it is a directory")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=directory)
    except OSError as exc:
        raise CnnError(f"cannot write '{path}': {exc.strerror.lower()}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            if sync:
                f.flush()
                os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except OSError as exc:
        os.unlink(tmp)
        raise CnnError(f"cannot write '{path}': {exc.strerror.lower()}") from None
    except BaseException:
        os.unlink(tmp)
        raise
