"""The bad-input corpora's checks: the command line run in-process (exit code, stdout, stderr), and
API calls that must raise one typed error."""

from __future__ import annotations

import contextlib
import io
import signal
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from exchina_index.cli import main
from exchina_index.errors import ExchinaIndexError


@contextlib.contextmanager
def deadline(seconds: int = 20) -> Iterator[None]:
    """Fail (instead of hanging the suite) when a loader blocks, e.g. on a pipe."""

    def boom(*_: object) -> None:
        raise TimeoutError(f"blocked for {seconds} s (reading a pipe?)")

    old = signal.signal(signal.SIGALRM, boom)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def run_cli(argv: list[Any]) -> tuple[int, str, str]:
    """``main(argv)`` in-process: (exit code, stdout, stderr); argparse's SystemExit counts too."""
    out, err = io.StringIO(), io.StringIO()
    with deadline(), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main([str(a) for a in argv])
        except SystemExit as exc:
            code = exc.code
    return code, out.getvalue(), err.getvalue()


def assert_one_line_exit_2(argv: list[Any], *words: str) -> str:
    """Exit 2 with exactly one line on stderr, no traceback, naming every one of ``words``."""
    code, _, err = run_cli(argv)
    assert code == 2, (code, err)
    assert err.count("\n") == 1 and err.endswith("\n"), err
    assert "Traceback" not in err and "internal error" not in err, err
    for w in words:
        assert w in err, (w, err)
    return err


def raises_typed(call: Callable[[], Any], expected: type[ExchinaIndexError], match: str = "") -> ExchinaIndexError:
    """``call()`` must raise ``expected`` (a typed error of one line holding ``match``), with no warning."""
    with warnings.catch_warnings(record=True) as caught, deadline():
        warnings.simplefilter("always")
        with pytest.raises(ExchinaIndexError) as info:
            call()
    assert isinstance(info.value, expected), f"{type(info.value).__name__}: {info.value}"
    assert match in str(info.value), str(info.value)
    assert "\n" not in str(info.value)
    assert not caught, [str(w.message) for w in caught]
    return info.value
