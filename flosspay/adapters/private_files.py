"""Files only the server's user may read: the data dir (0700) and every secret in it (0600).

A secret file is created with its final mode in the one ``os.open`` call that creates it (never
written first and chmod'ed after), so there is no moment at which another local user could read it.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600


def ensure_private_dir(path: Path) -> Path:
    """Create ``path`` (and missing parents) as 0700; an existing directory is left as it is."""
    if not path.is_dir():
        path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        path.chmod(DIR_MODE)  # mkdir's mode is filtered by the umask; a fresh empty dir has nothing to expose
    return path


def create_private_file(path: Path, data: bytes) -> None:
    """Create ``path`` as 0600 holding ``data``; ``FileExistsError`` if it exists (never overwritten)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), FILE_MODE)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        with contextlib.suppress(OSError):
            path.unlink()
        raise


def replace_private_file(path: Path, data: bytes) -> None:
    """Atomically make ``path`` a 0600 file holding ``data``: readers see the old or the new, whole."""
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    create_private_file(temporary, data)
    os.replace(temporary, path)


def touch_private_file(path: Path) -> None:
    """Make sure ``path`` exists; if this call creates it, it is created 0600 (e.g. a SQLite file)."""
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
