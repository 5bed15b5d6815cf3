"""The ``exchina-index`` command line.

Exit codes: 0 success, 2 bad input (one line on stderr, no traceback, nothing written), 1 internal
error, 130 interrupted, 141 when stdout's reader closed the pipe (``| head``). Results go to stdout;
progress bars (only when stderr is a terminal) and errors go to stderr. Every note the market data
carries (a repair, a calendar extended with weekdays, a listing without a price file, what was
served from the cache) is printed on stdout as ``note: ...`` after the result, and is recorded in
the run's report and manifest.

Heavy libraries (pandas, cvxpy, yfinance, quantstats) are imported inside the command that needs
them so that ``exchina-index --help`` starts fast.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
import threading
from collections.abc import Callable, Sequence

from exchina_index.cli.parser import build_parser

__all__ = ["main", "run", "build_parser", "BROKEN_PIPE"]

#: Exit code when stdout's reader closed the pipe early (128 + SIGPIPE, as the shell reports a
#: program that SIGPIPE ended).
BROKEN_PIPE = 141


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (also used as the console script)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    _configure_logging(args.debug)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        code = func(args)
        sys.stdout.flush()  # here, not at exit: a closed pipe must be seen while it can be handled
        return code
    except KeyboardInterrupt:
        print("exchina-index: interrupted; nothing was published", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # the reader of stdout left (``| head``): it had what it asked for; no traceback, and no
        # second error when the interpreter flushes stdout at exit
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return BROKEN_PIPE
    except Exception as exc:  # noqa: BLE001 - the one place that turns errors into exit codes
        from exchina_index.errors import ExchinaIndexError

        if isinstance(exc, ExchinaIndexError):
            print(f"exchina-index: error: {' '.join(str(exc).split())}", file=sys.stderr)
            return 2
        if args.debug:
            raise
        print(
            f"exchina-index: internal error: {type(exc).__name__}: {exc} (rerun with --debug for the traceback)",
            file=sys.stderr,
        )
        return 1


def _configure_logging(debug: bool) -> None:
    """Log records to stderr only with ``--debug``: otherwise what matters is the one-line error
    or a ``note:`` line on stdout, which the package's log records (and yfinance's) would repeat."""
    package = logging.getLogger("exchina_index")
    package.propagate = debug  # set on every call: main() may run several times in one process
    if not any(type(h) is logging.NullHandler for h in package.handlers):
        package.addHandler(logging.NullHandler())  # keeps logging's last-resort handler off stderr
    if debug:
        logging.basicConfig(level=logging.DEBUG, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")


def run() -> None:
    """The console script: :func:`main`, then exit even if a library left a worker thread behind.

    A backstop: the Yahoo loader runs its downloads on daemon threads, but a non-daemon thread
    stuck on a server that never answers (from any library) would keep the interpreter alive
    after the error was printed. Once the result is printed there is nothing left to wait for, so
    the process then ends with ``os._exit``.
    """
    try:
        code = main()
    except SystemExit as exc:  # argparse: --help, bad arguments (already printed)
        code = exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 2
    if any(t.is_alive() and not t.daemon for t in threading.enumerate() if t is not threading.main_thread()):
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)
