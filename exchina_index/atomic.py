"""Atomic writes: a file or a whole folder appears complete, or not at all.

* :func:`write_bytes` / :func:`write_text` write a temporary file beside the target, ``fsync`` it and
  ``os.replace`` it over the target, then ``fsync`` the folder. A reader never sees half a file.
* :func:`staged_folder` is a context manager that yields a temporary folder *inside the parent of*
  the destination (``.tmp-<name>-<pid>-<token>``). Everything is written there; when the ``with``
  block ends normally the folder is moved into place with **one** ``os.rename``. If the block raises
  (including ``KeyboardInterrupt``) the temporary folder is removed and the destination is untouched.
  An existing destination is never overwritten: without ``force`` it is an
  :class:`~exchina_index.errors.OutputError`; with ``force`` the old folder is first renamed to the
  next free versioned name (``<name>.v1``, ``<name>.v2``, ...) and kept, never deleted. With
  ``replace=True`` (backtest outputs, which are regenerated on every run) the new folder takes the
  old one's place in one atomic exchange (:func:`exchange`) and the old one is then deleted.
  Missing parent folders are created, and removed again if nothing is published.
* :func:`clean_stale` removes temporary folders left by processes that were killed (``SIGKILL``,
  power loss): a temporary folder whose process id no longer runs.

Only the standard library is used.

Examples
--------
>>> import tempfile, pathlib
>>> root = pathlib.Path(tempfile.mkdtemp())
>>> with staged_folder(root / "2025-12-19") as tmp:
...     _ = write_text(tmp / "a.txt", "hello\\n")
>>> sorted(p.name for p in root.iterdir())
['2025-12-19']
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import functools
import os
import re
import secrets
import shutil
import stat
import sys
from collections.abc import Iterator
from pathlib import Path

from exchina_index.errors import OutputError

__all__ = [
    "write_bytes",
    "write_text",
    "staged_folder",
    "clean_stale",
    "next_version_name",
    "exchange",
    "TEMP_PREFIX",
]

#: Prefix of every temporary file or folder made by this module (hidden on POSIX).
TEMP_PREFIX = ".tmp-"
_TEMP_RE = re.compile(r"^\.tmp-(?P<name>.+)-(?P<pid>\d+)-(?P<token>[0-9a-f]{8})$")


def _fsync_dir(path: Path) -> None:
    """fsync a directory so a rename inside it is durable (best effort where unsupported)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _why(exc: OSError) -> str:
    """The system's reason for ``exc`` (its ``strerror``), or its message when it has none."""
    return exc.strerror or str(exc)


def _temp_name(name: str) -> str:
    return f"{TEMP_PREFIX}{name}-{os.getpid()}-{secrets.token_hex(4)}"


def write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (temporary file + fsync + ``os.replace``).

    Parameters
    ----------
    path
        Target file; its folder must exist.
    data
        The bytes to write.

    Returns
    -------
    pathlib.Path
        The target path.

    Raises
    ------
    OutputError
        When the folder is missing or not writable; no partial file is left behind.
    """
    target = Path(path)
    _check_replaceable(target)
    tmp = target.with_name(_temp_name(target.name))
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except OSError as exc:
        raise OutputError(
            f"cannot write {target} ({_why(exc)}); check that the folder exists and is writable"
        ) from None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise OutputError(f"cannot write {target} ({_why(exc)}); check the disk and permissions") from None
        raise
    _fsync_dir(target.parent)
    return target


def _check_replaceable(target: Path) -> None:
    """Refuse a target that exists and is not a regular file: ``os.replace`` would swap a folder's
    name, a pipe or a device (``/dev/null`` when run as root) for the new file."""
    try:
        mode = os.stat(target).st_mode
    except (OSError, ValueError):  # missing (or a dangling link, replaced like a file); os.open says the rest
        return
    if not stat.S_ISREG(mode):
        kind = "a folder" if stat.S_ISDIR(mode) else "not a regular file (a device, a pipe or a socket)"
        raise OutputError(f"cannot write {target}: it is {kind}; give the path of a file")


def write_text(path: str | os.PathLike[str], text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` atomically, encoded as ``encoding``, with line endings exactly as given.

    A character the encoding cannot hold (a path's undecodable byte, kept by Python as a lone
    surrogate) is written as its backslash escape rather than failing after the computation.
    """
    return write_bytes(path, text.encode(encoding, "backslashreplace"))


def next_version_name(dest: Path) -> Path:
    """The first free ``<dest>.vN`` (N = 1, 2, ...) beside ``dest``."""
    n = 1
    while True:
        candidate = dest.with_name(f"{dest.name}.v{n}")
        if not os.path.lexists(candidate):
            return candidate
        n += 1


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    except OSError:
        return True
    return True


def clean_stale(folder: str | os.PathLike[str]) -> list[Path]:
    """Remove temporary files and folders left in ``folder`` by processes that no longer run.

    Only names made by this module (``.tmp-<name>-<pid>-<token>``) whose process id is not alive are
    removed; anything else is left alone. Returns what was removed (sorted).
    """
    root = Path(folder)
    removed: list[Path] = []
    try:
        entries = sorted(root.iterdir())
    except OSError:
        return removed
    for p in entries:
        m = _TEMP_RE.match(p.name)
        if m is None or _pid_alive(int(m.group("pid"))):
            continue
        try:
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p)
            else:
                p.unlink()
            removed.append(p)
        except OSError:
            pass  # not ours to fight over; it is ignored by readers anyway
    return removed


_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


@functools.lru_cache(maxsize=1)
def _renameat2() -> object | None:
    """glibc's ``renameat2`` (Linux 3.15+, glibc 2.28+), or None where it does not exist."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    fn.restype = ctypes.c_int
    return fn


def exchange(a: str | os.PathLike[str], b: str | os.PathLike[str]) -> bool:
    """Swap two existing paths in one atomic step (Linux ``renameat2(RENAME_EXCHANGE)``).

    Returns False, having changed nothing, where the platform or file system cannot do it; the
    caller then falls back to two renames.
    """
    fn = _renameat2()
    if fn is None:
        return False
    if fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:  # type: ignore[operator]
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.EXDEV):
        return False
    raise OSError(err, os.strerror(err), str(b))


def _missing_parents(folder: Path) -> list[Path]:
    """The folders above (and including) ``folder`` that do not exist yet, innermost first."""
    missing: list[Path] = []
    probe = folder
    while not os.path.lexists(probe) and probe.parent != probe:
        missing.append(probe)
        probe = probe.parent
    return missing


@contextlib.contextmanager
def staged_folder(dest: str | os.PathLike[str], *, force: bool = False, replace: bool = False) -> Iterator[Path]:
    """Build a folder in a temporary sibling and publish it with one rename.

    Parameters
    ----------
    dest
        The folder to publish. Its parent must exist and be writable.
    force
        Replace an existing ``dest``: it is first renamed to :func:`next_version_name` (kept).
    replace
        Replace an existing ``dest`` and delete it (for regenerated outputs such as a backtest's):
        one atomic exchange where the platform allows, else two renames.

    Yields
    ------
    pathlib.Path
        The temporary folder to write into.

    Raises
    ------
    OutputError
        ``dest`` exists and neither ``force`` nor ``replace`` is set (checked on entry and again
        just before the rename), or the parent cannot be created or written. Nothing is left
        behind in either case.
    """
    dest = Path(dest)
    parent = dest.parent
    if os.path.lexists(dest) and not (force or replace):
        raise OutputError(
            f"{dest} already exists; a published review is never overwritten (use --force / force=True "
            f"to keep the old one as {next_version_name(dest).name} and write a new one)"
        )
    created = _missing_parents(parent)
    tmp = parent / _temp_name(dest.name)
    try:
        parent.mkdir(parents=True, exist_ok=True)
        os.mkdir(tmp, 0o755)
    except OSError as exc:
        _remove_empty(created)
        raise OutputError(
            f"cannot create a folder in {parent} ({_why(exc)}); choose a writable output folder"
        ) from None
    moved_old: Path | None = None
    published = False
    try:
        yield tmp
        for p in sorted(tmp.rglob("*")):
            if p.is_file():
                with open(p, "rb") as fh:
                    os.fsync(fh.fileno())
        _fsync_dir(tmp)
        if replace and os.path.isdir(dest) and not os.path.islink(dest):
            try:
                swapped = exchange(tmp, dest)
            except OSError as exc:
                raise OutputError(f"cannot publish {dest} ({_why(exc)})") from None
            if swapped:  # the old folder now sits at the temporary name, removed below
                published = True
                _fsync_dir(parent)
                return
        if os.path.lexists(dest):
            if not (force or replace):
                raise OutputError(f"{dest} appeared while this run was writing; nothing was published")
            # kept as a version with force; out of sight (and deleted below) with replace
            moved_old = parent / _temp_name(f"{dest.name}.old") if replace else next_version_name(dest)
            os.rename(dest, moved_old)
        try:
            os.rename(tmp, dest)  # fails (ENOTEMPTY/EEXIST) if a non-empty dest appeared meanwhile
        except OSError as exc:
            if exc.errno in (errno.ENOTEMPTY, errno.EEXIST):
                raise OutputError(f"{dest} appeared while this run was writing; nothing was published") from None
            raise OutputError(f"cannot publish {dest} ({_why(exc)})") from None
        published = True
        if replace and moved_old is not None:
            shutil.rmtree(moved_old, ignore_errors=True)
        moved_old = None
        _fsync_dir(parent)
    finally:
        if moved_old is not None and not os.path.lexists(dest):
            with contextlib.suppress(OSError):
                os.rename(moved_old, dest)  # put the old review back: the new one was not published
        if os.path.lexists(tmp):
            shutil.rmtree(tmp, ignore_errors=True)
        if not published:
            _remove_empty(created)


def _remove_empty(folders: list[Path]) -> None:
    """Remove ``folders`` (innermost first) while they are empty: a failed run leaves none behind."""
    for p in folders:
        try:
            p.rmdir()
        except OSError:
            break
