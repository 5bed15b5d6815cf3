"""Reading the files a user names: regular files only, every failure one message.

Shared by the universe, China-link, price, portfolio, rulebook and spec loaders. A path that is
a folder, a device (``/dev/zero`` never ends), a pipe (a FIFO blocks until a writer appears) or a
socket is refused before it is opened; a missing file, a name too long for the file system, a
loop of symbolic links or a NUL character in the path become the caller's typed error.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Callable

__all__ = ["read_regular_file", "path_problem"]


def path_problem(path: str | os.PathLike[str]) -> str | None:
    """What stops ``path`` being read as a file, without advice (``None``: a regular file)."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return "file not found"
    except ValueError:  # a NUL character in the path
        return "not a valid file path (it holds a NUL character)"
    except OSError as exc:  # name too long, symlink loop, permission denied on a parent folder
        return f"cannot read the file ({exc.strerror})"
    if stat.S_ISDIR(mode):
        return "is a folder, not a file"
    if not stat.S_ISREG(mode):
        return "is not a regular file (a device, a pipe or a socket)"
    return None


def read_regular_file(path: Path, fail: Callable[[str], Exception]) -> bytes:
    """The bytes of the regular file ``path`` (symbolic links followed).

    ``fail(message)`` makes the exception raised when the path is not a readable regular file.
    """
    problem = path_problem(path)
    if problem is not None:
        raise fail(f"{problem}; check the path")
    try:
        return path.read_bytes()
    except OSError as exc:  # unreadable (permissions), or removed since the check
        raise fail(f"cannot read the file ({exc.strerror}); check the path") from None
