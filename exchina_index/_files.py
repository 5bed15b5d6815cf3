"""Reading the files a user names: regular files only, every failure one message.

Shared by the universe, China-link, price, portfolio, rulebook and spec loaders. A path that is
a folder, a device (``/dev/zero`` never ends), a pipe (a FIFO blocks until a writer appears) or a
socket is refused before it is opened; a missing file, a name too long for the file system, a
loop of symbolic links or a NUL character in the path become the caller's typed error.
"""

from __future__ import annotations

import csv
import os
import stat
from collections.abc import Callable
from pathlib import Path

__all__ = ["read_regular_file", "path_problem", "decode_utf8", "read_utf8", "csv_problem"]


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


def decode_utf8(data: bytes, fail: Callable[[str, int | None], Exception], save_as: str = "UTF-8 CSV") -> str:
    """``data`` as text, a byte-order mark dropped (Excel's "CSV UTF-8" writes one).

    ``fail(message, line)`` makes the error for bytes that are not UTF-8, with the line of the
    first bad byte; the message advises saving the file as ``save_as``.
    """
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise fail(f"not UTF-8 text (byte 0x{data[exc.start]:02x}); save the file as {save_as}", line) from None


def read_utf8(path: Path, fail: Callable[[str, int | None], Exception], save_as: str = "UTF-8 CSV") -> str:
    """The text of the regular UTF-8 file ``path``: :func:`read_regular_file` then :func:`decode_utf8`
    (``fail(message, line)``, line None for a file that cannot be read)."""
    return decode_utf8(read_regular_file(path, lambda message: fail(message, None)), fail, save_as)


def csv_problem(exc: csv.Error) -> str:
    """Advice for an error of the csv module (a field over its 128 KiB limit, a stray quote)."""
    if "field larger than field limit" in str(exc):
        return (
            f"a field is longer than {csv.field_size_limit():,} characters (the CSV reader's limit): "
            "an unclosed quote or text pasted into a cell; check this row"
        )
    return f"not a readable CSV row ({exc}); check the quotes and commas"
