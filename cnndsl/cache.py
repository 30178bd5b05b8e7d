"""The user's private cache folder, `$XDG_CACHE_HOME/cnndsl` (default `~/.cache/cnndsl`).

The parser tables cached there are a pickle, and loading a pickle runs code, so a path is
handed out only when nobody but this user (or root) could have written it: the folder is
created with mode 0700, and a folder or file that is not ours, is a link, or is writable by
group or others is refused. A refused cache is simply not used; it never stops the compiler.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path


def cache_folder() -> Path:
    """Where the cache lives: `$XDG_CACHE_HOME/cnndsl`, else `~/.cache/cnndsl`."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "cnndsl"


def is_private(st: os.stat_result, kind: int) -> bool:
    """True when a stat result is of `kind` (stat.S_IFDIR, S_IFREG), owned by this user, and
    writable by nobody else."""
    return (stat.S_IFMT(st.st_mode) == kind and st.st_uid == os.getuid()
            and not st.st_mode & (stat.S_IWGRP | stat.S_IWOTH))


def private_folder() -> Path | None:
    """The cache folder, created 0700 when missing; None when it cannot be trusted or made."""
    folder = cache_folder()
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        try:
            folder.mkdir(mode=0o700)
        except FileExistsError:
            pass
        st = os.lstat(folder)  # lstat: a symbolic link planted in its place is refused
    except OSError:
        return None
    return folder if is_private(st, stat.S_IFDIR) else None


def private_file(name: str) -> Path | None:
    """A file path in the private cache folder that is safe to read and write: missing, or a
    regular file of ours that only we can write. None otherwise."""
    folder = private_folder()
    if folder is None:
        return None
    path = folder / name
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return path
    except OSError:
        return None
    return path if is_private(st, stat.S_IFREG) else None
