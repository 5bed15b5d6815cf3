"""Network plumbing for the Yahoo source: one deadline, daemon worker threads, retries, pre-flight.

Nothing here knows about prices or the cache: :class:`Deadline` runs calls under one wall-clock
budget, :func:`retrying` retries one call with exponential backoff inside it,
:func:`preflight_check` fails fast on a dead network, and :func:`quiet_yfinance_logs` keeps
yfinance's own log lines off stderr. See "Network behaviour" in :mod:`exchina_index.data.yahoo`.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from exchina_index.errors import NetworkError

__all__ = [
    "MAX_DEADLINE_S",
    "REQUEST_TIMEOUT_S",
    "WORKERS",
    "YAHOO_HOST",
    "Deadline",
    "Outcome",
    "pending",
    "preflight_check",
    "quiet_yfinance_logs",
    "renew_warnings_filter",
    "retrying",
]

#: The host the pre-flight check connects to.
YAHOO_HOST = ("query1.finance.yahoo.com", 443)
PREFLIGHT_TIMEOUT_S = 3.0
#: Daemon worker threads for the per-symbol calls (prices, FX and share counts).
WORKERS = 8
#: Per-request timeout handed to yfinance, in seconds (never more than what is left of the deadline).
REQUEST_TIMEOUT_S = 30.0
#: Symbols named in a "still pending" message before it says how many in all.
_SHOWN = 8

#: Longest deadline accepted (a day), as on the command line's --deadline.
MAX_DEADLINE_S = 86_400.0


def _is_rate_limit(exc: BaseException) -> bool:
    return any(cls.__name__ == "YFRateLimitError" for cls in type(exc).__mro__)


class Deadline:
    """One wall-clock budget for a whole fetch; runs calls in daemon threads.

    Daemon threads only: a call stuck on a server that never answers is abandoned when the
    deadline passes and can never keep the interpreter alive (nor write to the cache: only the
    calling thread does).
    """

    def __init__(self, seconds: float, sleep: Callable[[float], None]) -> None:
        self.seconds = float(seconds)
        self.at = time.monotonic() + self.seconds
        self._sleep = sleep

    def remaining(self) -> float:
        return self.at - time.monotonic()

    def expired(self, pending: str) -> NetworkError:
        """The error raised when the deadline passes with ``pending`` still unanswered."""
        return NetworkError(
            f"Yahoo Finance did not answer within the {self.seconds:g} s deadline; still pending: {pending}. "
            "Try again later (what was fetched is cached), raise --deadline (deadline_s), "
            "or use --source demo or a CSV folder"
        )

    def run(self, fn: Callable[[], Any], pending: str) -> Any:
        """``fn()`` in a daemon thread; NetworkError naming ``pending`` if the deadline passes."""
        if self.remaining() <= 0:
            raise self.expired(pending)
        box: dict[str, Any] = {}

        def target() -> None:
            try:
                box["value"] = fn()
            except BaseException as exc:  # noqa: BLE001 - re-raised in the caller
                box["error"] = exc

        worker = threading.Thread(target=target, name="exchina-index-yahoo", daemon=True)
        worker.start()
        worker.join(max(self.remaining(), 0.0))
        if worker.is_alive():
            raise self.expired(pending)
        if "error" in box:
            raise box["error"]
        return box.get("value")

    def run_many(self, tasks: Mapping[str, Callable[[], Any]], workers: int) -> dict[str, Any]:
        """Run ``tasks`` on up to ``workers`` daemon threads until done or the deadline passes.

        Returns the value (or the exception) of every task that finished, by key; a key that is
        missing was still pending at the deadline. No task is started after the deadline.
        """
        keys = list(tasks)
        results: dict[str, Any] = {}
        if not keys or self.remaining() <= 0:
            return results
        lock = threading.Lock()
        cursor = iter(keys)
        done = threading.Event()

        def worker() -> None:
            while True:
                with lock:
                    key = next(cursor, None) if self.remaining() > 0 else None
                if key is None:
                    return
                try:
                    value: Any = tasks[key]()
                except BaseException as exc:  # noqa: BLE001 - returned to the caller
                    value = exc
                with lock:
                    results[key] = value
                    if len(results) == len(keys):
                        done.set()

        for _ in range(min(workers, len(keys))):
            threading.Thread(target=worker, name="exchina-index-yahoo", daemon=True).start()
        done.wait(max(self.remaining(), 0.0))
        with lock:
            return dict(results)

    def backoff(self, seconds: float) -> bool:
        """Sleep ``seconds`` unless that would pass the deadline (then return False at once)."""
        if seconds >= self.remaining():
            return False
        self._sleep(seconds)
        return True


def pending(what: str, keys: Iterable[str]) -> str:
    """``what for A, B, C`` -- at most :data:`_SHOWN` names, then how many in all."""
    keys = sorted(keys)
    shown = ", ".join(keys[:_SHOWN]) + (f" ... ({len(keys)} in all)" if len(keys) > _SHOWN else "")
    return f"{what} for {shown}"


@dataclass
class Outcome:
    """One per-symbol call: its value, or the last error after ``attempts`` tries."""

    value: Any = None
    error: BaseException | None = None
    attempts: int = 1
    notes: list[str] = field(default_factory=list)  # the retries, for MarketData.notes


def retrying(
    label: str,
    call: Callable[[], Any],
    *,
    deadline: Deadline,
    retries: int,
    backoff_s: float,
    rate_limits_only: bool = False,
) -> Outcome:
    """``call()`` retried ``retries`` times with exponential backoff, within ``deadline``.

    The wait is ``backoff_s`` x 1, 2, 4 ... (x4 for a rate limit). ``rate_limits_only`` retries
    only ``YFRateLimitError``. Never raises: a last failure is returned in the outcome.
    """
    out = Outcome()
    while True:
        try:
            out.value, out.error = call(), None
            return out
        except Exception as exc:  # noqa: BLE001 - any yfinance/transport failure
            out.error = exc
            limited = _is_rate_limit(exc)
            if rate_limits_only and not limited:
                return out
            wait = backoff_s * (2 ** (out.attempts - 1)) * (4 if limited else 1)
            if out.attempts > retries or not deadline.backoff(wait):
                return out
            msg = f"{label} attempt {out.attempts} failed ({type(exc).__name__}: {exc}); retried after {wait:g} s"
            out.notes.append(msg)
            out.attempts += 1


def quiet_yfinance_logs(debug: bool = False) -> None:
    """Keep yfinance's own log records (and its warnings) off stderr unless ``debug``.

    yfinance logs every failed request and symbol on the ``yfinance`` logger; without a handler
    Python prints them on stderr. This loader already turns failures into one error or a note,
    so the command line calls this once, at start-up: ``debug=False`` stops the records at the
    ``yfinance`` logger (a NullHandler, no propagation) and ignores warnings raised from
    yfinance's modules; ``debug=True`` lets the records propagate to the handlers configured for
    ``--debug`` (and removes the NullHandler of an earlier call).
    """
    global _quiet
    logger = logging.getLogger("yfinance")
    for handler in [h for h in logger.handlers if isinstance(h, _QuietHandler)]:
        logger.removeHandler(handler)
    logger.propagate = debug
    _quiet = not debug
    if _quiet:
        logger.addHandler(_QuietHandler())
        _ignore_yfinance_warnings()


#: Set by :func:`quiet_yfinance_logs`; :func:`renew_warnings_filter` reads it.
_quiet = False


def renew_warnings_filter() -> None:
    """Put the warnings filter of :func:`quiet_yfinance_logs` first again (call after ``import yfinance``)."""
    if _quiet:
        _ignore_yfinance_warnings()


def _ignore_yfinance_warnings() -> None:
    # ``import yfinance`` puts its own "default" filter for its DeprecationWarnings (pandas 3 says
    # a lot) first in the list; this one must come before it, so it is renewed after the import.
    warnings.filterwarnings("ignore", module=r"yfinance(\.|$)")


class _QuietHandler(logging.NullHandler):
    """The NullHandler :func:`quiet_yfinance_logs` installs (recognised when it is undone)."""


def preflight_check(timeout: float = PREFLIGHT_TIMEOUT_S) -> None:
    """Fail fast when Yahoo Finance (or the HTTPS proxy in the environment) is unreachable.

    Opens and closes one TCP connection to ``query1.finance.yahoo.com:443`` -- or to the host of
    ``$HTTPS_PROXY``/``$ALL_PROXY`` when set -- with a ``timeout`` in seconds.

    Raises
    ------
    NetworkError
        When DNS resolution or the connection fails.
    """
    host, port = YAHOO_HOST
    proxy = next(
        (os.environ[k] for k in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy") if os.environ.get(k)),
        None,
    )
    target = f"{host}:{port}"
    if proxy:
        parts = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
        if parts.hostname:
            host, port = parts.hostname, parts.port or (443 if parts.scheme == "https" else 8080)
            target = f"{host}:{port} (the HTTPS proxy)"
    try:
        with socket.create_connection((host, port), timeout=timeout):
            pass
    except OSError as exc:
        raise NetworkError(
            f"cannot reach Yahoo Finance ({target}: {exc}); check the network, or use --source demo or a CSV folder"
        ) from exc
