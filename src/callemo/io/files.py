"""Crash-safe file writing: the one atomic writer of callemo.

The data goes to a temporary file in the target's folder (``.tmp-<pid>-<random>-<name>``: unique
per writer, and the writer's process id lets a later run remove what an interrupted one left), is
flushed to disk, then ``os.replace`` puts it in place. A reader sees the old file or the complete
new one, never a part.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

TMP_PREFIX = ".tmp-"


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (temporary file in the same folder, fsync, os.replace).

    The parent folder is created. On failure the temporary file is removed and the ``OSError``
    (naming the file) propagates; the previous content of ``path``, if any, is untouched.
    """
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(f"{TMP_PREFIX}{os.getpid()}-{secrets.token_hex(4)}-{p.name}")
    # O_EXCL: never share a temporary file; mode 0o666 minus the umask, like any new file
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, p)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    return p


def atomic_write_text(path: str | os.PathLike[str], text: str, encoding: str = "utf-8") -> Path:
    """:func:`atomic_write_bytes` for text (written as given: no newline translation)."""
    return atomic_write_bytes(path, text.encode(encoding))


def tmp_writer_pid(path: str | os.PathLike[str]) -> int | None:
    """The process id in the name of a temporary file of :func:`atomic_write_bytes` (None if the
    name is not one)."""
    name = Path(path).name
    if not name.startswith(TMP_PREFIX):
        return None
    pid = name[len(TMP_PREFIX):].split("-", 1)[0]
    return int(pid) if pid.isdigit() else None


__all__ = ["TMP_PREFIX", "atomic_write_bytes", "atomic_write_text", "tmp_writer_pid"]
