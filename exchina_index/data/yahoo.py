"""Market data from Yahoo Finance (yfinance), through the local append-only cache.

:func:`load_yahoo` returns a :class:`~exchina_index.data.market.MarketData`; :func:`fetch` fills
the cache for the ``exchina-index data fetch`` command. yfinance is imported lazily, inside the
function, and can be replaced by any object with the same ``Ticker`` API (tests use
``tests/fixtures/fake_yfinance.py``, and the real yfinance against a local stand-in for Yahoo in
``tests/data/test_yahoo_http.py``). :func:`quiet_yfinance_logs` keeps yfinance's own log lines
off stderr.

What is fetched
---------------
* **Prices** -- ``yf.Ticker(symbol).history(start, end, interval="1d", auto_adjust=False,
  actions=True, timeout=...)`` for every listing whose cache does not cover the requested window,
  on up to :data:`WORKERS` daemon threads of our own (not ``yf.download``, whose ``threads=True``
  workers are not daemon threads: one stuck on a silent server keeps the interpreter alive after
  the deadline). From it: ``Close`` (Yahoo's close, split-adjusted, **not** dividend-adjusted;
  ``Adj Close`` is ignored), ``Dividends`` (cash per share on the ex-date), ``Volume`` and
  ``Stock Splits``, picked by name. yfinance puts daily bars at midnight in the exchange time
  zone; the time zone is dropped, so every row is on its exchange-local date.
* **FX** -- the same call for the Yahoo pairs of the currencies in use (see
  :data:`FX_PAIRS`): ``GBPUSD=X`` etc. quote USD per unit; ``JPY=X`` (and the other pairs marked
  inverted) quote units per USD and are inverted. ``MarketData.fx`` is USD per unit, USD = 1.0.
* **Share counts** -- ``yf.Ticker(t).get_shares_full(start, end)`` per listing (parallel, under
  the same deadline). yfinance attaches the exchange time zone to Yahoo's UTC timestamps
  without converting them, so a count is dated on its UTC date; several counts on one date keep
  the last. If that fails or is empty, ``Ticker(t).fast_info['shares']`` (today's count)
  is used as a **constant over the whole history** (a note says so: it carries today's share count
  into the past). If that fails too, the listing has no share count: its ``shares`` column is
  NaN, ``market_cap_usd`` is NaN and the size screen gives it ``NO_DATA``; a note says so.
  Counts are asked from ``SHARES_LOOKBACK_DAYS`` before ``start`` (or from ``listed_since``) so a
  count is known at ``start`` when Yahoo has one; earlier dates stay NaN (never back-filled).
  ``MarketData.shares`` receives the observations on their own dates; ``MarketData`` carries
  each count forward. A fallback or a missing count is cached like a history (no new call for
  the same window); it is asked again, from the start of the window, when the window grows.

Units and repairs (each one logged and added to ``MarketData.notes``; nothing is filled with zeros)
------------------------------------------------------------------------------------------------
* ``price_unit`` GBp/GBX/ZAc (quoted in pence/cents): ``Close`` **and** ``Dividends`` are divided
  by 100. Yahoo quotes ``.L`` dividends in the same unit as the price (pence; yfinance's own
  dividend repair assumes the same and looks for occasional 100x mix-ups). A dividend above 50 %
  of the close, or (minor-unit lines) below 0.05 % of it, is flagged as a possible unit mix-up
  (kept as is, noted); ``repair=True`` is not used (it costs extra requests).
* Sessions a listing did not trade (other exchanges' dates in the combined frame, halts) stay NaN.
* A duplicated date keeps Yahoo's last row; zero or negative closes and FX rates become NaN;
  negative volumes become NaN; negative dividends become 0 (no dividend). Values outside the
  plausible ranges of the CSV source (:data:`~exchina_index.data.csv_source.BOUNDS` and
  ``FX_BOUNDS``: a close of 1e300 or 1e-300, an infinite dividend, a volume of 9e18, an FX rate
  of 1e9) are dropped the same way (closes, volumes and rates NaN, dividends 0). Share counts
  that are missing or outside 1 to 1e15 are dropped, from ``fast_info`` too. A column given
  twice keeps the last one. A close column that is all NaN (dividends only) is an empty answer.
* Rows before ``listed_since`` (SPAC shells: MP before 2020-11, USAR before 2025-03, ...) and
  on or after ``delisted`` (the first date it no longer trades) are dropped.
* A listing whose download comes back empty or all-NaN raises :class:`DataError` naming exactly
  those tickers, unless ``allow_missing=True`` (they are dropped, with a note; a listing with
  cached rows keeps them). If *every* symbol asked for (two or more) comes back empty,
  :class:`NetworkError` is raised instead. A listing that came back empty is remembered in the
  cache for ``NEGATIVE_TTL`` (24 h): with ``allow_missing=True`` it is not asked again before
  then (so a second run makes no call); without it, it is always asked again.
* Every listing of the universe gets a column; listings without data are all-NaN.

Cache policy (append-only; files and layout in :mod:`exchina_index.data.cache`)
-----------------------------------------------------------------------------
Each series records the window ``[start, end)`` it covers. A load inside that window makes no
network call. Otherwise only the missing part is fetched: the **tail** from
``covered_end - TAIL_OVERLAP_DAYS`` (a one-week overlap, so at least one cached session of every
exchange is fetched again), or the head up to ``covered_start + TAIL_OVERLAP_DAYS``. Overlapping
rows are compared with the cache, not rewritten. Existing rows are never rewritten, except:

1. *provisional rows*: sessions dated today (UTC) or later may be unfinished, so the covered
   window never extends past today; rows on or after the covered end are replaced by the next
   fetch. (Consequence: a range that *explicitly* includes today is refetched on every run;
   the default ``end`` stops before today, see below.)
2. *re-adjusted history*: if the overlap shows a different close (more than 0.5 %), or the new
   rows contain a stock split, Yahoo has re-adjusted the whole history; that listing is
   downloaded again over its full cached window and its file is replaced (noted).

An empty answer is accepted when no session was expected in the uncovered part of the window
(the listing's exchange calendar from :mod:`exchina_index.rules.calendar`; weekdays for FX and unknown
MICs; nothing after today). An answer with no new row for a listing that has cached rows (a
holiday, a trading halt, a delisting not yet in the universe) keeps the cached rows, does not
advance the covered window (asked again next time) and is noted; it is not an error.

Offline reruns
--------------
``end=None`` (what the command line passes unless told otherwise) means **the last complete
day: yesterday, UTC**. Today's session may be unfinished, and today is never covered (rule 1),
so a default range never asks for it: a cache filled today -- by ``data fetch`` (any ``end``) or
by any earlier run -- covers the default range of every run later today, which then makes no
network call at all (no pre-flight either; it works without a network). To include today's
unfinished session, pass ``end`` explicitly (it is then asked again on every run). The first
note of every load says in one line what was served from the cache and up to which date, e.g.
``yahoo: all 133 series served from the cache, no network call; prices to 2026-11-30 (asked up
to 2026-11-30, the last complete UTC day)``.

Network behaviour
-----------------
* A pre-flight TCP connection to ``query1.finance.yahoo.com:443`` (or the HTTPS proxy) with a 3 s
  timeout runs before the first network call, so a dead network fails in seconds with
  :class:`NetworkError`. It is skipped when nothing needs fetching; ``preflight=False`` (or a
  callable) replaces it.
* Every call runs in a daemon worker thread (up to :data:`WORKERS` at once); the whole load has
  one wall-clock ``deadline_s``. When it passes, :class:`NetworkError` names what was still
  pending, no further call is started, and the workers are abandoned: being daemon threads they
  never keep the process alive, and they never write to the cache (only the calling thread does).
  So against a server that accepts connections and never answers, the load fails within the
  deadline and the process can exit at once.
* yfinance gets a per-request ``timeout`` of :data:`REQUEST_TIMEOUT_S` (30 s: a ten-year daily
  history is a few hundred kB), never more than what is left of the deadline, so an abandoned
  price request ends soon after the deadline. yfinance's cookie/crumb (30 s), time-zone (10 s)
  and share-count (30 s) requests have fixed timeouts that no argument reaches: the deadline is
  what bounds them.
* Exceptions from yfinance (including ``YFRateLimitError`` from ``yfinance.exceptions``, matched
  by class name so a stand-in module works) are retried ``retries`` times with exponential
  backoff (``backoff_s`` x 1, 2, 4 ...; rate limits 4x longer), within the deadline. yfinance
  turns other failed requests (a timeout, HTTP 500, a truncated answer) into an empty frame
  without raising, so tickers that came back empty are asked again once (``EMPTY_RETRIES``) after
  a backoff. (yfinance memoises in-process the answers for ranges ending over 30 minutes ago, a
  failed one included, so that second ask only helps for ranges that reach the present; the next
  run asks again.)
* Series that came in are written to the cache even when the load then fails for other symbols
  or at the deadline, so a rerun continues where the last one stopped.
"""

from __future__ import annotations

import logging
import math
import numbers
import os
import socket
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import pandas as pd

from exchina_index.dates import parse_date
from exchina_index.errors import DataError, NetworkError, ReviewDateError
from exchina_index.data.cache import YahooCache
from exchina_index.data.csv_source import BOUNDS, FX_BOUNDS
from exchina_index.data.market import identical_close_notes

__all__ = [
    "DEFAULT_START",
    "FX_PAIRS",
    "TAIL_OVERLAP_DAYS",
    "YAHOO_HOST",
    "fetch",
    "fx_pair",
    "load_yahoo",
    "preflight_check",
    "quiet_yfinance_logs",
]

log = logging.getLogger(__name__)

#: First date requested when ``start`` is not given.
DEFAULT_START = "2015-01-01"
#: Days of overlap when extending a cached series (see the module docstring).
TAIL_OVERLAP_DAYS = 7
#: A short tail (at most this many weekdays) may legitimately be empty (holidays).
HOLIDAY_TOLERANCE_BDAYS = 5
#: Relative tolerance when comparing overlapping closes with the cache.
OVERLAP_RTOL = 5e-3
#: The host the pre-flight check connects to.
YAHOO_HOST = ("query1.finance.yahoo.com", 443)
PREFLIGHT_TIMEOUT_S = 3.0
#: Daemon worker threads for the per-symbol calls (prices, FX and share counts).
WORKERS = 8
#: Per-request timeout handed to yfinance, in seconds (never more than what is left of the deadline).
REQUEST_TIMEOUT_S = 30.0
#: Symbols named in a "still pending" message before it says how many in all.
_SHOWN = 8
#: How long a listing that came back empty is remembered (used with ``allow_missing=True`` only).
NEGATIVE_TTL = pd.Timedelta(hours=24)
#: Re-asks for listings that came back empty (yfinance turns per-ticker errors into empty blocks).
EMPTY_RETRIES = 1
#: Share counts are requested from this many days before ``start`` (so a count is known at
#: ``start``), or from ``listed_since`` if later.
SHARES_LOOKBACK_DAYS = 400
#: FX pairs are requested from this many days before ``start`` (a rate on or before the first close).
FX_LOOKBACK_DAYS = 10
_DIRECT = (
    "AUD", "BRL", "CAD", "CHF", "CNY", "CZK", "DKK", "EUR", "GBP", "HKD", "ILS", "MXN", "MYR", "NOK",
    "NZD", "PHP", "PLN", "SEK", "SGD", "THB", "TRY", "ZAR",
)
_INVERTED = ("CLP", "COP", "HUF", "IDR", "INR", "JPY", "KRW", "TWD")
#: ISO currency -> (Yahoo symbol, inverted?). ``XXXUSD=X`` quotes USD per XXX; ``XXX=X`` quotes
#: XXX per USD (used where the direct pair has too few digits) and is inverted.
FX_PAIRS: dict[str, tuple[str, bool]] = {
    **{c: (f"{c}USD=X", False) for c in _DIRECT},
    **{c: (f"{c}=X", True) for c in _INVERTED},
}
#: Quote units in minor currency units -> divisor (merged with ``universe.PRICE_UNITS``).
_MINOR_UNITS: dict[str, int] = {"GBp": 100, "GBX": 100, "ZAc": 100, "ZAC": 100, "ILA": 100}
_PRICE_COLUMNS = {"Close": "close", "Dividends": "dividends", "Volume": "volume", "Stock Splits": "splits"}
_ONE_DAY = pd.Timedelta(days=1)


def fx_pair(currency: str) -> tuple[str, bool] | None:
    """The Yahoo FX symbol for ``currency`` and whether its quote must be inverted (None: unknown)."""
    return FX_PAIRS.get(str(currency).upper())


# ------------------------------------------------------------------------------------------------
# Small helpers: listings, clock, deadline, progress
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Listing:
    ticker: str  # as spelled in the universe (the MarketData column)
    symbol: str  # upper-cased Yahoo symbol (the cache key)
    currency: str
    divisor: float
    start: pd.Timestamp  # first date that counts (inclusive): max(start, listed_since)
    end: pd.Timestamp  # exclusive: min(end + 1 day, delisted)
    shares_from: pd.Timestamp  # share counts are asked from here (a count known at `start`)
    exchange: str = ""  # MIC, for the sessions expected in a window


def _universe_frame(universe: Any) -> pd.DataFrame:
    frame = getattr(universe, "frame", universe)
    if not isinstance(frame, pd.DataFrame):
        raise DataError("load_yahoo needs a Universe (or its .frame DataFrame indexed by ticker)")
    missing = [c for c in ("currency", "price_unit") if c not in frame.columns]
    if missing:
        raise DataError(f"the universe frame lacks column(s) {missing}; load it with xi.load_universe()")
    return frame


def _unit_divisor(ticker: str, unit: Any, currency: str) -> float:
    if unit is None or (isinstance(unit, float) and np.isnan(unit)) or str(unit) in ("", currency):
        return 1.0
    units = dict(_MINOR_UNITS)
    try:  # the universe module's table is authoritative when present
        from exchina_index.universe.loading import PRICE_UNITS

        units.update({k: int(v[1]) for k, v in PRICE_UNITS.items()})
    except Exception:  # pragma: no cover - universe module unavailable
        pass
    if str(unit) in units:
        return float(units[str(unit)])
    raise DataError(f"{ticker}: unknown price_unit {unit!r} for currency {currency}; use {currency} or a subunit such as GBp")


def _bdays(start: pd.Timestamp, end: pd.Timestamp) -> int:
    """Weekdays in ``[start, end)``."""
    if end <= start:
        return 0
    return int(np.busday_count(start.date(), end.date()))


def _is_rate_limit(exc: BaseException) -> bool:
    return any(cls.__name__ == "YFRateLimitError" for cls in type(exc).__mro__)


class _Deadline:
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


def _pending(what: str, keys: Iterable[str]) -> str:
    """``what for A, B, C`` -- at most :data:`_SHOWN` names, then how many in all."""
    keys = sorted(keys)
    shown = ", ".join(keys[:_SHOWN]) + (f" ... ({len(keys)} in all)" if len(keys) > _SHOWN else "")
    return f"{what} for {shown}"


@dataclass
class _Outcome:
    """One per-symbol call: its value, or the last error after ``attempts`` tries."""

    value: Any = None
    error: BaseException | None = None
    attempts: int = 1
    notes: list[str] = field(default_factory=list)  # the retries, for MarketData.notes


def _retrying(run: _Run, label: str, call: Callable[[], Any], *, rate_limits_only: bool = False) -> _Outcome:
    """``call()`` retried ``run.retries`` times with exponential backoff, within the deadline.

    The wait is ``backoff_s`` x 1, 2, 4 ... (x4 for a rate limit). ``rate_limits_only`` retries
    only ``YFRateLimitError``. Never raises: a last failure is returned in the outcome.
    """
    out = _Outcome()
    while True:
        try:
            out.value, out.error = call(), None
            return out
        except Exception as exc:  # noqa: BLE001 - any yfinance/transport failure
            out.error = exc
            limited = _is_rate_limit(exc)
            if rate_limits_only and not limited:
                return out
            wait = run.backoff_s * (2 ** (out.attempts - 1)) * (4 if limited else 1)
            if out.attempts > run.retries or not run.deadline.backoff(wait):
                return out
            msg = f"{label} attempt {out.attempts} failed ({type(exc).__name__}: {exc}); retried after {wait:g} s"
            out.notes.append(msg)
            out.attempts += 1


#: Longest deadline accepted (a day), as on the command line's --deadline.
MAX_DEADLINE_S = 86_400.0


def _check_options(*, deadline_s: Any, retries: Any, backoff_s: Any, progress: Any, allow_missing: Any,
                   use_cache: Any) -> None:
    """The numeric and flag options of :func:`load_yahoo` as DataError before any work."""
    def real(x: Any) -> bool:
        return isinstance(x, numbers.Real) and not isinstance(x, bool) and math.isfinite(float(x))

    if not real(deadline_s) or not 0 < float(deadline_s) <= MAX_DEADLINE_S:
        raise DataError(f"deadline_s must be a number of seconds in (0, {MAX_DEADLINE_S:g}], got {deadline_s!r}")
    if isinstance(retries, bool) or not isinstance(retries, numbers.Integral) or not 0 <= int(retries) <= 100:
        raise DataError(f"retries must be a whole number from 0 to 100, got {retries!r}")
    if not real(backoff_s) or not 0 <= float(backoff_s) <= MAX_DEADLINE_S:
        raise DataError(f"backoff_s must be a number of seconds >= 0, got {backoff_s!r}")
    if progress is not None and not callable(progress) and not hasattr(progress, "add_task"):
        raise DataError(f"progress must be None, a function (stage, done, total) or a rich Progress, got "
                        f"{type(progress).__name__}")
    for name, flag in (("allow_missing", allow_missing), ("use_cache", use_cache)):
        if not isinstance(flag, bool):
            raise DataError(f"{name} must be True or False, got {flag!r}")


class _Progress:
    """Adapts ``progress``: None, a callable ``(stage, done, total)``, or a rich ``Progress``."""

    def __init__(self, progress: Any) -> None:
        self._p = progress
        self._task: Any = None
        self._stage = ""
        self._total = 0
        self._done = 0

    def stage(self, name: str, total: int) -> None:
        self._stage, self._total, self._done = name, total, 0
        if self._p is None:
            return
        if hasattr(self._p, "add_task"):
            self._task = self._p.add_task(name, total=total)
        else:
            self._p(name, 0, total)

    def advance(self, n: int = 1) -> None:
        self._done += n
        if self._p is None:
            return
        if hasattr(self._p, "add_task"):
            self._p.update(self._task, completed=self._done)
        else:
            self._p(self._stage, self._done, self._total)


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


#: Set by :func:`quiet_yfinance_logs`; :func:`load_yahoo` renews the warnings filter after import.
_quiet = False


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
            f"cannot reach Yahoo Finance ({target}: {exc}); check the network, "
            "or use --source demo or a CSV folder"
        ) from exc


# ------------------------------------------------------------------------------------------------
# Parsing yfinance frames
# ------------------------------------------------------------------------------------------------


def _history_block(frame: Any, columns: Mapping[str, str]) -> pd.DataFrame:
    """One ``Ticker.history`` frame -> the ``columns`` wanted, renamed, on exchange-local dates.

    yfinance localises daily bars to the exchange time zone at midnight, so dropping the time
    zone keeps the exchange-local date (an ASX session that opens at 23:00 UTC the day before
    stays on its own date). Columns are picked by name, never by position; a missing column is
    NaN. Rows without any value are dropped; ``None``, an empty or an all-NaN frame gives an
    empty block.
    """
    wanted = list(columns.values())
    if not isinstance(frame, pd.DataFrame) or frame.empty or "Close" not in frame.columns:
        return pd.DataFrame({c: pd.Series(dtype="float64") for c in wanted}, index=pd.DatetimeIndex([], name="date"))
    index = pd.DatetimeIndex(frame.index)
    if index.tz is not None:
        index = index.tz_localize(None)
    data = {dst: _column(frame, src) for src, dst in columns.items()}
    if "close" in data and np.isnan(data["close"]).all():  # dividends without a price: no data
        return pd.DataFrame({c: pd.Series(dtype="float64") for c in wanted}, index=pd.DatetimeIndex([], name="date"))
    # one resolution whatever yfinance and pandas give (yfinance 1.7.0 on pandas 3: seconds)
    block = pd.DataFrame(data, index=pd.DatetimeIndex(index.normalize(), name="date").as_unit("ns"))
    has = np.zeros(len(block), dtype=bool)
    for c in wanted:
        v = block[c].to_numpy()
        has |= (np.nan_to_num(v) != 0.0) if c in ("dividends", "splits") else ~np.isnan(v)
    return block.loc[has]


def _column(frame: pd.DataFrame, name: str) -> np.ndarray:
    """Column ``name`` of a history frame as float64 (NaN where not a number, all NaN when
    absent); a name given twice keeps the last column, as a duplicated date keeps the last row."""
    hits = [i for i, c in enumerate(frame.columns) if c == name]  # by equality: no MultiIndex level match
    if not hits:
        return np.full(len(frame), np.nan)
    return pd.to_numeric(frame.iloc[:, hits[-1]], errors="coerce").to_numpy(dtype="float64")


def _implausible(run: _Run, what: str, values: pd.Series, bounds: tuple[float, float], *,
                 left: str = "left NaN") -> pd.Series:
    """Mask of ``values`` outside the CSV source's plausible ``bounds`` (or not finite), noted with
    the first dates (``left`` says what replaces them); NaN is never implausible."""
    lo, hi = bounds
    v = values.to_numpy(dtype="float64")
    with np.errstate(invalid="ignore"):
        bad = ~np.isnan(v) & ~((v >= lo) & (v <= hi))
    mask = pd.Series(bad, index=values.index)
    if bad.any():
        dates = ", ".join(f"{d:%Y-%m-%d} ({x:g})" for d, x in zip(values.index[bad][:3], v[bad][:3]))
        more = " ..." if int(bad.sum()) > 3 else ""
        run.note(f"{what}: dropped {int(bad.sum())} value(s) outside the plausible range {lo:g} to {hi:g} "
                 f"({dates}{more}); {left}", logging.WARNING)
    return mask


def _dedupe(block: pd.DataFrame, sym: str) -> tuple[pd.DataFrame, str | None]:
    if not block.index.has_duplicates and block.index.is_monotonic_increasing:
        return block, None
    dup = block.index[block.index.duplicated(keep=False)].unique()
    block = block[~block.index.duplicated(keep="last")].sort_index()
    if len(dup) == 0:
        return block, None
    shown = ", ".join(d.strftime("%Y-%m-%d") for d in dup[:5]) + (" ..." if len(dup) > 5 else "")
    return block, f"{sym}: Yahoo returned {len(dup)} duplicated date(s) ({shown}); kept the last row of each"


# ------------------------------------------------------------------------------------------------
# The loader
# ------------------------------------------------------------------------------------------------


@dataclass
class _Need:
    symbol: str
    start: pd.Timestamp  # the listing's window [start, end)
    end: pd.Timestamp
    fetch_start: pd.Timestamp  # the download window
    fetch_end: pd.Timestamp
    mode: str  # "full" | "extend"
    cached: pd.DataFrame | None = None


@dataclass
class _Run:
    """State shared by the steps of one load."""

    cache: YahooCache | None
    yf: Any
    deadline: _Deadline
    retries: int
    backoff_s: float
    today: pd.Timestamp
    start: pd.Timestamp
    end: pd.Timestamp  # exclusive
    preflight: Callable[[], None] | None
    progress: _Progress
    allow_missing: bool = False
    mics: dict[str, str] = field(default_factory=dict)  # symbol -> exchange MIC
    notes: list[str] = field(default_factory=list)
    network_used: bool = False
    session: Any = None  # passed to yfinance.Ticker when given
    end_given: bool = True  # False: ``end`` defaulted to the last complete day
    asked: set[str] = field(default_factory=set)  # "kind/symbol" of every series asked from Yahoo

    def note(self, msg: str, level: int = logging.INFO) -> None:
        log.log(level, msg)
        if msg not in self.notes:
            self.notes.append(msg)

    def go_online(self) -> None:
        if not self.network_used:
            self.network_used = True
            if self.preflight is not None:
                self.deadline.run(self.preflight, "the pre-flight connection check")

    def ticker(self, symbol: str) -> Any:
        """``yf.Ticker(symbol)``, on the caller's session when one was given."""
        return self.yf.Ticker(symbol) if self.session is None else self.yf.Ticker(symbol, session=self.session)

    def request_timeout(self) -> float:
        """The per-request timeout for yfinance: :data:`REQUEST_TIMEOUT_S`, never past the deadline."""
        return max(1.0, min(REQUEST_TIMEOUT_S, self.deadline.remaining()))

    def covered_end(self, end: pd.Timestamp) -> pd.Timestamp:
        """Sessions dated today (UTC) or later are provisional: coverage stops before today."""
        return min(end, self.today)


def load_yahoo(
    universe: Any,
    start: Any = None,
    end: Any = None,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    deadline_s: float = 120.0,
    retries: int = 3,
    progress: Any = None,
    yf: Any = None,
    allow_missing: bool = False,
    use_cache: bool = True,
    preflight: bool | Callable[[], None] = True,
    backoff_s: float = 1.0,
    sleep: Callable[[float], None] = time.sleep,
    today: Any = None,
    session: Any = None,
) -> Any:
    """Load close, dividends, volume, share counts and FX from Yahoo Finance, through the cache.

    Parameters
    ----------
    universe
        A :class:`~exchina_index.universe.loading.Universe` (or its ``frame``): tickers (Yahoo symbols) with
        ``currency``, ``price_unit`` and optionally ``listed_since`` and ``delisted``.
    start, end
        First and last date, **both inclusive**. ``end`` defaults to the last complete day
        (yesterday, UTC), so a cache filled today serves the same call again with no network
        (see "Offline reruns" in the module docstring); ``start`` defaults to
        :data:`DEFAULT_START`. Each listing is further limited to ``listed_since``/``delisted``.
    cache_dir
        Cache folder (default :func:`~exchina_index.data.cache.default_cache_dir`).
    deadline_s
        Wall-clock budget, in seconds, for all network calls of this load: :class:`NetworkError`
        within it (plus the time to write what came in) however the network misbehaves.
    retries
        Retries after the first attempt, with exponential backoff from ``backoff_s``.
    progress
        None, a callable ``(stage, done, total)``, or a ``rich.progress.Progress``.
    yf
        The yfinance module or a stand-in (tests); default ``import yfinance``.
    allow_missing
        Drop listings that came back empty (with a note) instead of raising :class:`DataError`.
    use_cache
        ``False`` ignores the cache entirely (no reads, no writes).
    preflight
        ``True``: :func:`preflight_check` before the first network call; ``False``: none; or a
        callable to run instead.
    sleep, today
        Injectable for tests: the backoff sleep and "today" (a date; default: today in UTC).
    session
        A ``curl_cffi`` or ``requests`` Session for every yfinance call (``yf.Ticker(symbol,
        session=session)``): a proxy, custom certificates, or a local stand-in in tests. yfinance
        keeps the last session it was given for the rest of the process.

    Returns
    -------
    MarketData
        ``source="yahoo"``, ``synthetic=False``; ``notes`` starts with one line saying what was
        served from the cache and up to which date, then lists every repair and fallback.

    Raises
    ------
    NetworkError
        Yahoo unreachable (pre-flight), the deadline passed, retries exhausted, or every listing
        came back empty.
    DataError
        Listings that came back empty (named), a currency without an FX pair (ticker and currency
        named), bad dates or units.
    CacheError
        The cache folder cannot be written.
    """
    frame = _universe_frame(universe)
    _check_options(deadline_s=deadline_s, retries=retries, backoff_s=backoff_s, progress=progress,
                   allow_missing=allow_missing, use_cache=use_cache)
    today_ts = parse_date(today, "today") if today is not None else pd.Timestamp.now("UTC").tz_localize(None).normalize()
    s = parse_date(start if start is not None else DEFAULT_START, "start")
    e_incl = parse_date(end, "end") if end is not None else today_ts - _ONE_DAY
    if e_incl < s:
        what = f"end {e_incl.date()}" if end is not None else f"the last complete day {e_incl.date()} (end not given)"
        raise ReviewDateError(f"{what} is before start {s.date()}")
    e = e_incl + _ONE_DAY

    listings, notes0 = _listings(frame, s, e)
    if not listings:
        raise DataError(f"no listing of the universe is listed between {s.date()} and {e_incl.date()}")

    # FX pairs: check before any network call
    no_fx: dict[str, list[str]] = {}
    for lst in listings.values():
        if lst.currency != "USD" and fx_pair(lst.currency) is None:
            no_fx.setdefault(lst.currency, []).append(lst.symbol)
    if no_fx:
        detail = "; ".join(f"{', '.join(sorted(t))} ({c})" for c, t in sorted(no_fx.items()))
        msg = f"no Yahoo FX pair for the currency of {detail}; supported: {', '.join(sorted(FX_PAIRS))} and USD"
        if not allow_missing:
            raise DataError(msg)
        for tickers in no_fx.values():
            for t in tickers:
                listings.pop(t)
        notes0.append(f"dropped (allow_missing): {msg}")

    if yf is None:
        try:
            import yfinance as yf
        except ImportError as exc:  # pragma: no cover - yfinance is a dependency
            raise DataError("yfinance is not installed (pip install yfinance), or use --source demo") from exc
    if _quiet:  # after the import: see _ignore_yfinance_warnings
        _ignore_yfinance_warnings()
    if preflight is True:
        pre: Callable[[], None] | None = preflight_check
    elif preflight is False or preflight is None:
        pre = None
    else:
        pre = preflight
    run = _Run(
        cache=YahooCache(cache_dir) if use_cache else None,
        yf=yf,
        deadline=_Deadline(deadline_s, sleep),
        retries=max(int(retries), 0),
        backoff_s=float(backoff_s),
        today=today_ts,
        start=s,
        end=e,
        preflight=pre,
        progress=_Progress(progress),
        allow_missing=allow_missing,
        mics={sym: lst.exchange for sym, lst in listings.items()},
        session=session,
        end_given=end is not None,
    )
    for n in notes0:
        run.note(n)

    # 1. prices
    price_windows = {t: (lst.start, lst.end) for t, lst in listings.items()}
    prices, failed = _sync(run, "prices", price_windows, _PRICE_COLUMNS)
    _raise_or_drop_failed(run, failed, prices, listings, allow_missing)

    # 2. FX
    pairs: dict[str, str] = {}  # pair -> currency
    for lst in listings.values():
        if lst.currency != "USD":
            pairs[fx_pair(lst.currency)[0]] = lst.currency  # type: ignore[index]
    fx_from = s - pd.Timedelta(days=FX_LOOKBACK_DAYS)
    fx_raw, fx_failed = _sync(run, "fx", {p: (fx_from, e) for p in sorted(pairs)}, {"Close": "close"})
    if fx_failed:
        bad_ccy = {pairs[p] for p in fx_failed}
        users = sorted(t for t, lst in listings.items() if lst.currency in bad_ccy)
        msg = "no FX data from Yahoo for " + "; ".join(
            f"{p} ({pairs[p]}, needed by {', '.join(sorted(t for t, l in listings.items() if l.currency == pairs[p]))})"
            for p in sorted(fx_failed)
        )
        if not allow_missing:
            raise DataError(msg + "; retry later or pass allow_missing=True to drop those listings")
        run.note(f"dropped (allow_missing): {', '.join(users)} -- {msg}", logging.WARNING)
        for t in users:
            listings.pop(t, None)
            prices.pop(t, None)
        for p in fx_failed:
            pairs.pop(p, None)
            fx_raw.pop(p, None)
    if not listings:
        raise DataError("no listing is left after dropping the missing ones")

    # 3. share counts
    shares = _sync_shares(run, listings)

    # 4. cache repairs found along the way
    if run.cache is not None:
        for msg in run.cache.repairs:
            run.note(msg, logging.WARNING)

    return _assemble(run, frame, listings, prices, fx_raw, pairs, shares)


def _listings(frame: pd.DataFrame, s: pd.Timestamp, e: pd.Timestamp) -> tuple[dict[str, _Listing], list[str]]:
    out: dict[str, _Listing] = {}
    notes: list[str] = []
    for ticker, row in frame.iterrows():
        sym = str(ticker).strip().upper()
        currency = str(row["currency"]).strip().upper()
        divisor = _unit_divisor(sym, row.get("price_unit"), currency)
        ls = row.get("listed_since")
        dl = row.get("delisted")
        ts = max(s, parse_date(ls, f"{sym} listed_since")) if ls is not None and not pd.isna(ls) else s
        # ``delisted`` is the first date the listing no longer trades (MarketData's convention)
        te = min(e, parse_date(dl, f"{sym} delisted")) if dl is not None and not pd.isna(dl) else e
        if ts >= te:
            notes.append(f"{sym}: not listed between {s.date()} and {(e - _ONE_DAY).date()} (listed_since/delisted); no data requested")
            continue
        if sym in out:
            raise DataError(f"ticker {sym} appears twice in the universe")
        lookback = s - pd.Timedelta(days=SHARES_LOOKBACK_DAYS)
        shares_from = max(lookback, parse_date(ls, "listed_since")) if ls is not None and not pd.isna(ls) else lookback
        mic = row.get("exchange")
        mic = "" if mic is None or (isinstance(mic, float) and np.isnan(mic)) else str(mic).strip()
        out[sym] = _Listing(str(ticker), sym, currency, divisor, ts, te, shares_from, mic)
    return dict(sorted(out.items())), notes


def _raise_or_drop_failed(
    run: _Run,
    failed: dict[str, tuple[pd.Timestamp, pd.Timestamp]],
    prices: dict[str, pd.DataFrame],
    listings: dict[str, _Listing],
    allow_missing: bool,
) -> None:
    if not failed:
        return
    windows = "; ".join(f"{t} ({a.date()}..{(b - _ONE_DAY).date()})" for t, (a, b) in sorted(failed.items()))
    msg = (
        f"Yahoo Finance returned no data for {len(failed)} of {len(listings)} listing(s): "
        f"{', '.join(sorted(failed))} [{windows}]"
    )
    if not allow_missing:
        raise DataError(msg + ". Check those symbols (delisted or renamed?) or pass allow_missing=True to drop them")
    dropped = []
    for t in sorted(failed):
        if t in prices and len(prices[t]):
            run.note(f"{t}: no new data from Yahoo for {failed[t][0].date()}..{(failed[t][1] - _ONE_DAY).date()}; kept the cached rows", logging.WARNING)
        else:
            dropped.append(t)
            prices.pop(t, None)
            listings.pop(t, None)
    if dropped:
        run.note(f"dropped (allow_missing): no data from Yahoo for {', '.join(dropped)}", logging.WARNING)


# ------------------------------------------------------------------------------------------------
# Price / FX synchronisation with the cache
# ------------------------------------------------------------------------------------------------


def _plan(
    run: _Run, kind: str, windows: Mapping[str, tuple[pd.Timestamp, pd.Timestamp]]
) -> tuple[dict[str, pd.DataFrame], list[_Need], dict[str, tuple[pd.Timestamp, pd.Timestamp]]]:
    """Cached frames that cover their window, what must be downloaded, and remembered failures."""
    ready: dict[str, pd.DataFrame] = {}
    needs: list[_Need] = []
    known_failed: dict[str, tuple[pd.Timestamp, pd.Timestamp]] = {}
    overlap = pd.Timedelta(days=TAIL_OVERLAP_DAYS)
    for sym, (ts, te) in windows.items():
        lo, hi = min(run.start, ts), max(run.end, te)
        if run.cache is None:
            needs.append(_Need(sym, ts, te, lo, hi, "full"))
            continue
        entry = run.cache.entry(kind, sym)
        cached = run.cache.read(kind, sym) if entry is not None else None
        if entry is None or cached is None:
            needs.append(_Need(sym, ts, te, lo, hi, "full"))
            continue
        cs, ce = entry.start, entry.end
        head = ts < cs
        tail = te > ce
        if entry.extra.get("failed"):
            age = pd.Timestamp.now("UTC") - pd.Timestamp(entry.updated)
            if run.allow_missing and not head and not tail and age < NEGATIVE_TTL:
                known_failed[sym] = (ts, te)
                run.note(f"{sym}: Yahoo returned no data at {entry.updated} (remembered for {NEGATIVE_TTL}; asked again after that)")
            else:
                needs.append(_Need(sym, ts, te, lo, hi, "full"))
            continue
        if not head and not tail:
            ready[sym] = cached
        elif head and tail:
            needs.append(_Need(sym, ts, te, lo, hi, "full", cached))
        elif tail:
            needs.append(_Need(sym, ts, te, max(ce - overlap, lo), hi, "extend", cached))
        else:
            needs.append(_Need(sym, ts, te, lo, min(cs + overlap, hi), "extend", cached))
    return ready, needs, known_failed


def _download(
    run: _Run, symbols: list[str], fs: pd.Timestamp, fe: pd.Timestamp, kind: str, columns: Mapping[str, str]
) -> tuple[dict[str, pd.DataFrame], dict[str, _Outcome | None]]:
    """``Ticker(symbol).history`` for each symbol on the worker pool, under the deadline.

    Returns the blocks of the symbols that answered, and the others: symbol -> the failed
    :class:`_Outcome` (it kept raising), or None (still pending when the deadline passed).
    """
    run.go_online()
    run.asked.update(f"{kind}/{sym}" for sym in symbols)

    def history(sym: str) -> Callable[[], Any]:
        def call() -> Any:
            return run.ticker(sym).history(
                start=fs.strftime("%Y-%m-%d"), end=fe.strftime("%Y-%m-%d"), interval="1d",
                auto_adjust=False, actions=True, timeout=run.request_timeout(),
            )

        label = f"{sym}: {'FX' if kind == 'fx' else 'price'} download"
        return lambda: _retrying(run, label, call)

    results = run.deadline.run_many({sym: history(sym) for sym in symbols}, WORKERS)
    blocks: dict[str, pd.DataFrame] = {}
    unanswered: dict[str, _Outcome | None] = {}
    for sym in symbols:  # sorted: notes in a stable order whatever the threads did
        out = results.get(sym)
        if isinstance(out, BaseException):  # a bug in the task itself, not a Yahoo failure
            raise out
        if out is None or out.error is not None:
            unanswered[sym] = out
            continue
        for msg in out.notes:
            run.note(msg, logging.WARNING)
        blocks[sym] = _history_block(out.value, columns)
    return blocks, unanswered


def _unanswered_error(run: _Run, kind: str, unanswered: Mapping[str, _Outcome | None]) -> NetworkError:
    """The error for symbols that kept failing, or were still pending at the deadline."""
    what = f"{'FX' if kind == 'fx' else 'price'} download"
    failed = {s: o for s, o in sorted(unanswered.items()) if o is not None}
    if not failed:
        return run.deadline.expired(_pending(what, unanswered))
    first = next(iter(failed.values()))
    return NetworkError(
        f"{_pending(what, failed)} failed after {first.attempts} attempt(s): "
        f"{type(first.error).__name__}: {first.error}; try again later, or use --source demo or a CSV folder"
    )


def _sync(
    run: _Run,
    kind: str,
    windows: Mapping[str, tuple[pd.Timestamp, pd.Timestamp]],
    columns: Mapping[str, str],
) -> tuple[dict[str, pd.DataFrame], dict[str, tuple[pd.Timestamp, pd.Timestamp]]]:
    """Bring every series of ``kind`` up to its window; return frames (raw quote units) and failures."""
    ready, needs, known_failed = _plan(run, kind, windows)
    run.progress.stage("FX rates" if kind == "fx" else "prices", len(windows))
    run.progress.advance(len(ready) + len(known_failed))
    failed: dict[str, tuple[pd.Timestamp, pd.Timestamp]] = {}
    to_write: list[tuple[str, str, pd.DataFrame, Any, Any, Mapping[str, Any] | None]] = []
    refetch: list[_Need] = []

    groups: dict[tuple[pd.Timestamp, pd.Timestamp], list[_Need]] = {}
    for need in needs:
        groups.setdefault((need.fetch_start, need.fetch_end), []).append(need)
    for (fs, fe), group in sorted(groups.items()):
        blocks, unanswered = _download_with_empty_retries(run, kind, group, fs, fe, columns)
        for need in group:
            if need.symbol in unanswered:
                continue
            result = _absorb(run, kind, need, blocks[need.symbol], columns)
            if result == "refetch":
                refetch.append(need)
            elif result == "failed":
                failed[need.symbol] = (max(need.start, fs), min(need.end, fe))
                if need.cached is not None:
                    ready[need.symbol] = need.cached
                else:  # remember the failure (used with allow_missing, for NEGATIVE_TTL)
                    empty = pd.DataFrame({c: pd.Series(dtype="float64") for c in columns.values()},
                                         index=pd.DatetimeIndex([], name="date"))
                    to_write.append((kind, need.symbol, empty, need.start, run.covered_end(need.end), {"failed": True}))
            else:
                frame, cover, extra = result
                ready[need.symbol] = frame
                if cover is not None:
                    to_write.append((kind, need.symbol, frame, cover[0], cover[1], extra))
            run.progress.advance()
        _flush(run, to_write)  # what came in is saved first (a later failure or the deadline keeps it)
        if unanswered:
            raise _unanswered_error(run, kind, unanswered)

    if refetch:  # history re-adjusted by Yahoo: download those listings again over their whole window
        for need in refetch:
            entry = run.cache.entry(kind, need.symbol) if run.cache is not None else None
            need.fetch_start = min(run.start, entry.start) if entry else run.start
            need.fetch_end = max(run.end, entry.end) if entry else run.end
            need.start = min(need.start, entry.start) if entry else need.start
            need.end = max(need.end, entry.end) if entry else need.end
            need.mode, need.cached = "full", None
        regroups: dict[tuple[pd.Timestamp, pd.Timestamp], list[_Need]] = {}
        for need in refetch:
            regroups.setdefault((need.fetch_start, need.fetch_end), []).append(need)
        for (fs, fe), group in sorted(regroups.items()):
            blocks, unanswered = _download_with_empty_retries(run, kind, group, fs, fe, columns)
            for need in group:
                if need.symbol in unanswered:
                    continue
                result = _absorb(run, kind, need, blocks[need.symbol], columns)
                if isinstance(result, tuple):
                    frame, cover, extra = result
                    ready[need.symbol] = frame
                    if cover is not None:
                        to_write.append((kind, need.symbol, frame, cover[0], cover[1], extra))
                else:
                    failed[need.symbol] = (need.start, need.end)
            _flush(run, to_write)
            if unanswered:
                raise _unanswered_error(run, kind, unanswered)

    if failed and len(failed) >= 2 and len(failed) == len(needs) and not any(len(ready.get(t, ())) for t in failed):
        # every symbol asked for came back empty: almost certainly the network, not the symbols
        raise NetworkError(
            f"Yahoo Finance returned no {'FX' if kind == 'fx' else 'price'} data for any of the "
            f"{len(failed)} symbols requested ({', '.join(sorted(failed))}); the network or Yahoo may be down "
            "(or rate limiting). Try again later, or use --source demo or a CSV folder"
        )
    failed.update(known_failed)
    return ready, failed


def _flush(run: _Run, to_write: list[Any]) -> None:
    if run.cache is not None and to_write:
        run.cache.write_many(list(to_write))
    to_write.clear()


def _uncovered(run: _Run, kind: str, need: _Need, fs: pd.Timestamp, fe: pd.Timestamp) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The part of the download window that the cache did not cover, up to today (inclusive)."""
    lo, hi = max(need.start, fs), min(need.end, fe)
    entry = run.cache.entry(kind, need.symbol) if (need.mode == "extend" and run.cache is not None) else None
    if entry is not None and not entry.extra.get("failed"):
        if fe > entry.end:  # tail
            lo = max(lo, entry.end)
        else:  # head
            hi = min(hi, entry.start)
    return lo, min(hi, run.today + _ONE_DAY)  # no session can exist after today


def _expected_sessions(run: _Run, kind: str, symbol: str, lo: pd.Timestamp, hi: pd.Timestamp) -> int:
    """Sessions expected in ``[lo, hi)``: the listing's exchange calendar, else weekdays."""
    if hi <= lo:
        return 0
    mic = run.mics.get(symbol, "") if kind == "prices" else ""
    if mic:
        try:
            from exchina_index.rules.calendar import MIC_CALENDAR, sessions

            if mic in MIC_CALENDAR:
                return len(sessions(mic, lo, hi - _ONE_DAY))
        except Exception as exc:  # noqa: BLE001 - fall back to weekdays
            log.debug("no calendar for %s (%s); counting weekdays", mic, exc)
    return _bdays(lo, hi)


def _is_empty_ok(run: _Run, kind: str, need: _Need, fs: pd.Timestamp, fe: pd.Timestamp) -> str | None:
    """Why an empty answer is acceptable for ``need`` (None: it is a failure)."""
    n = _expected_sessions(run, kind, need.symbol, *_uncovered(run, kind, need, fs, fe))
    if n == 0:
        return "no session expected in the window"
    if need.cached is not None and len(need.cached) and n <= HOLIDAY_TOLERANCE_BDAYS:
        return "short window (holiday?)"
    return None


def _download_with_empty_retries(
    run: _Run, kind: str, group: list[_Need], fs: pd.Timestamp, fe: pd.Timestamp, columns: Mapping[str, str]
) -> tuple[dict[str, pd.DataFrame], dict[str, _Outcome | None]]:
    """Download a group; re-ask (with backoff) for symbols that came back empty where data is expected.

    yfinance turns a failed request (a timeout, an HTTP error, a truncated answer) into an empty
    frame without raising, so an empty block is asked again like an exception. Returns the
    blocks and the unanswered symbols (see :func:`_download`).
    """
    symbols = sorted(n.symbol for n in group)
    by_sym = {n.symbol: n for n in group}
    blocks, unanswered = _download(run, symbols, fs, fe, kind, columns)
    attempt = 0
    while not unanswered:
        empty = [t for t in symbols if blocks[t].empty and _is_empty_ok(run, kind, by_sym[t], fs, fe) is None]
        if not empty or attempt >= min(run.retries, EMPTY_RETRIES):
            break
        wait = run.backoff_s * (2**attempt)
        if not run.deadline.backoff(wait):
            return blocks, dict.fromkeys(empty)
        run.note(f"{kind}: Yahoo returned nothing for {', '.join(empty)}; asked again after {wait:g} s", logging.INFO)
        attempt += 1
        again, unanswered = _download(run, empty, fs, fe, kind, columns)
        blocks.update(again)
    return blocks, unanswered


def _absorb(
    run: _Run, kind: str, need: _Need, block: pd.DataFrame, columns: Mapping[str, str]
) -> Any:
    """Merge a downloaded block into the cached rows of ``need``.

    Returns ``"failed"``, ``"refetch"`` (history re-adjusted: download the whole window again) or
    ``(frame, cover, extra)``: the whole series (cached + new rows, not clipped to the request),
    its new covered window (None: leave the cache as it is) and the entry's ``extra``.
    """
    sym = need.symbol
    fs, fe = need.fetch_start, need.fetch_end
    entry = run.cache.entry(kind, sym) if run.cache is not None else None
    repairs: list[str] = list(entry.extra.get("repairs", [])) if (entry is not None and need.cached is not None) else []
    block, dup_note = _dedupe(block, sym)
    if dup_note:
        run.note(dup_note, logging.WARNING)
        repairs.append(dup_note)
    if len(block):
        block = block.loc[(block.index >= fs) & (block.index < fe)]
    # listing life: SPAC shells and post-delisting rows
    if kind == "prices" and len(block):
        before = block.index < need.start
        after = block.index >= need.end
        if before.any():
            msg = (
                f"{sym}: dropped {int(before.sum())} row(s) before listed_since {need.start.date()} "
                f"({block.index[before][0].date()}..{block.index[before][-1].date()}; pre-listing/SPAC shell history)"
            )
            run.note(msg)
            repairs.append(msg)
        if after.any():
            msg = f"{sym}: dropped {int(after.sum())} row(s) on or after delisted {need.end.date()}"
            run.note(msg)
            repairs.append(msg)
        block = block.loc[~before & ~after]

    if block.empty:
        why = _is_empty_ok(run, kind, need, fs, fe)
        if why is None:
            return "failed"
        if need.cached is None:
            frame = pd.DataFrame({c: pd.Series(dtype="float64") for c in columns.values()}, index=pd.DatetimeIndex([], name="date"))
        else:
            frame = need.cached
        if why == "no session expected in the window":
            return frame, _new_cover(run, need, entry), _extra(repairs)
        run.note(f"{sym}: no rows from Yahoo for {fs.date()}..{(fe - _ONE_DAY).date()} ({why}); cached rows kept, will ask again")
        return frame, None, None

    if need.mode == "full" or need.cached is None or entry is None:
        return block, _new_cover(run, need, entry if need.cached is not None else None), _extra(repairs)

    # extend: immutable cached rows are those before the covered end
    cached = need.cached
    immutable = cached.loc[cached.index < entry.end]
    provisional = len(cached) - len(immutable)
    common = block.index.intersection(immutable.index)
    if len(common):
        old = immutable.loc[common, "close"].to_numpy(dtype=float)
        new = block.loc[common, "close"].to_numpy(dtype=float)
        same = np.isclose(new, old, rtol=OVERLAP_RTOL, atol=0.0, equal_nan=True)
        if not same.all():
            bad = common[~same][0]
            run.note(
                f"{sym}: Yahoo's close on {bad.date()} changed from {immutable.loc[bad, 'close']:g} to "
                f"{block.loc[bad, 'close']:g} (history re-adjusted); refetching its whole cached window",
                logging.WARNING,
            )
            return "refetch"
    last_old = immutable.index[-1] if len(immutable) else None
    if "splits" in block.columns and last_old is not None:
        newer = block.loc[block.index > last_old, "splits"].fillna(0.0)
        if (newer != 0).any():
            when = newer.index[(newer != 0).to_numpy()][0]
            run.note(f"{sym}: stock split on {when.date()} after the cached rows; refetching its whole cached window", logging.WARNING)
            return "refetch"
    new_part = block.loc[(block.index >= entry.end) | (block.index < entry.start)]
    if new_part.empty:
        # Yahoo knows the listing (the overlap came back) but has no session in the uncovered part
        lo, hi = _uncovered(run, kind, need, fs, fe)
        if _expected_sessions(run, kind, sym, lo, hi) == 0:
            return cached, _new_cover(run, need, entry), _extra(repairs)
        run.note(
            f"{sym}: no new rows from Yahoo for {lo.date()}..{(hi - _ONE_DAY).date()} (holiday, trading halt or "
            "delisting?); cached rows kept, will ask again",
            logging.WARNING,
        )
        return cached, None, None
    added = block.loc[~block.index.isin(immutable.index)]
    inside = added.index[(added.index >= entry.start) & (added.index < entry.end)]
    if len(inside):
        msg = f"{sym}: added {len(inside)} session(s) inside the cached window that Yahoo did not return before"
        run.note(msg)
    if provisional:
        log.debug("%s: replaced %d provisional row(s)", sym, provisional)
    merged = pd.concat([immutable, added]).sort_index()
    return merged, _new_cover(run, need, entry), _extra(repairs)


def _new_cover(run: _Run, need: _Need, entry: Any) -> tuple[pd.Timestamp, pd.Timestamp]:
    lo = need.start
    hi = run.covered_end(need.end)
    if entry is not None:
        lo = min(lo, entry.start)
        hi = max(hi, entry.end)
    return lo, max(hi, lo)


def _extra(repairs: list[str]) -> dict[str, Any]:
    return {"repairs": list(dict.fromkeys(repairs))} if repairs else {}


# ------------------------------------------------------------------------------------------------
# Share counts
# ------------------------------------------------------------------------------------------------


def _shares_block(series: Any, sym: str) -> tuple[pd.Series, int]:
    """A ``get_shares_full`` answer -> one count per exchange-local date (the last of the day).

    yfinance localises the timestamps to the exchange time zone, so the wall date is the local
    date. Missing and non-positive counts are dropped (their number is returned).
    """
    if series is None:
        return _empty_series(), 0
    if isinstance(series, pd.DataFrame):
        series = series.iloc[:, 0] if series.shape[1] else pd.Series(dtype="float64")
    s = pd.to_numeric(pd.Series(series), errors="coerce").astype("float64")
    idx = pd.DatetimeIndex(s.index)
    if idx.tz is not None:
        idx = idx.tz_localize(None)
    s.index = idx.normalize()
    s = s.sort_index(kind="stable")
    s = s[~s.index.duplicated(keep="last")]
    lo, hi = BOUNDS["shares"]
    bad = ~((s >= lo) & (s <= hi))  # missing, not positive, a fraction of a share, or 1e30
    s = s[~bad]
    s.index.name = "date"
    return s, int(bad.sum())


@dataclass
class _Shares:
    """Share-count observations of one listing and how they were obtained."""

    series: pd.Series  # float64 by date (may be empty)
    method: str  # "history" (get_shares_full) | "fast_info" (one count, used as a constant) | "none"
    reason: str = ""  # why the history is missing (for the note)


def _empty_series() -> pd.Series:
    return pd.Series(dtype="float64", index=pd.DatetimeIndex([], name="date"))


def _sync_shares(run: _Run, listings: Mapping[str, _Listing]) -> dict[str, _Shares]:
    """Bring the share counts of every listing up to its window (see the module docstring)."""
    out: dict[str, _Shares] = {}
    tasks: dict[str, Callable[[], Any]] = {}
    plans: dict[str, tuple[str, Any, pd.Series | None]] = {}
    overlap = pd.Timedelta(days=TAIL_OVERLAP_DAYS)
    run.progress.stage("share counts", len(listings))
    for sym, lst in listings.items():
        entry = run.cache.entry("shares", sym) if run.cache is not None else None
        frame = run.cache.read("shares", sym) if entry is not None else None
        if frame is None:
            entry = None
        cached = frame["shares"].astype("float64") if frame is not None else None
        method = str(entry.extra.get("method", "history")) if entry is not None else "none"
        reason = str(entry.extra.get("reason", "")) if entry is not None else ""
        if entry is not None and lst.shares_from >= entry.start and lst.end <= entry.end:
            out[sym] = _Shares(cached, method, reason)  # type: ignore[arg-type]
            run.progress.advance()
            continue
        if entry is not None and method == "history" and lst.shares_from >= entry.start:
            ws, mode = max(entry.end - overlap, lst.shares_from), "extend"
        else:  # nothing cached, or no history to extend: ask for the whole window again
            ws, mode = lst.shares_from, "full"
        plans[sym] = (mode, entry, cached)
        tasks[sym] = _shares_task(run, sym, ws, lst.end, fallback=(mode == "full"))
    results: dict[str, Any] = {}
    if tasks:
        run.go_online()
        run.asked.update(f"shares/{sym}" for sym in tasks)
        results = run.deadline.run_many(tasks, WORKERS)
    to_write: list[Any] = []
    for sym in sorted(results):
        value = results[sym]
        mode, entry, cached = plans[sym]
        lst = listings[sym]
        hi = run.covered_end(lst.end)
        if isinstance(value, BaseException):  # a bug in the task itself, not a Yahoo failure
            value = (None, "error", f"{type(value).__name__}: {value}", [])
        series, method, reason, retries = value
        for msg in retries:
            run.note(msg, logging.WARNING)
        if mode == "extend" and cached is not None and entry is not None:
            if method == "error":  # keep what we have; asked again next time
                run.note(f"{sym}: share-count update failed ({reason}); using the cached counts", logging.WARNING)
                out[sym] = _Shares(cached, "history")
            else:  # Yahoo publishes counts sporadically: an empty answer just means nothing new
                add = series.loc[~series.index.isin(cached.index) & (series.index >= entry.end)]
                merged = pd.concat([cached.loc[cached.index < entry.end], add]).sort_index()
                merged.index.name = "date"
                out[sym] = _Shares(merged, "history")
                to_write.append(("shares", sym, merged.to_frame("shares"), min(entry.start, lst.shares_from),
                                 max(entry.end, hi), {"method": "history"}))
        else:
            if method == "error":
                method = "none"
            if series is None:
                series = _empty_series()
            out[sym] = _Shares(series, method, reason)
            to_write.append(("shares", sym, series.to_frame("shares"), lst.shares_from, hi,
                             {"method": method, "reason": reason} if reason else {"method": method}))
        run.progress.advance()
    if run.cache is not None and to_write:
        run.cache.write_many(to_write)
    if len(results) < len(tasks):  # the deadline passed: what came in is saved above
        raise run.deadline.expired(_pending("share counts", (k for k in tasks if k not in results)))
    return out


def _shares_task(run: _Run, sym: str, ws: pd.Timestamp, we: pd.Timestamp, *, fallback: bool) -> Callable[[], Any]:
    """``get_shares_full`` (retried on rate limits), then ``fast_info['shares']`` if ``fallback``.

    The task returns ``(series or None, method, reason, retry notes)``; method is "history",
    "fast_info", "none" (no count at all) or "error" (an update failed; only when not ``fallback``).
    """

    def task() -> tuple[pd.Series | None, str, str, list[str]]:
        ticker = run.ticker(sym)
        got = _retrying(
            run, f"{sym}: share-count download",
            lambda: ticker.get_shares_full(start=ws.strftime("%Y-%m-%d"), end=we.strftime("%Y-%m-%d")),
            rate_limits_only=True,
        )
        err = got.error
        series, bad = _shares_block(got.value if err is None else None, sym)
        if bad:
            lo, hi = BOUNDS["shares"]
            got.notes.append(f"{sym}: dropped {bad} share count(s) from Yahoo that are missing or outside "
                             f"{lo:g} to {hi:g} shares")
        if err is None and len(series):
            return series, "history", "", got.notes
        why = f"get_shares_full failed ({type(err).__name__}: {err})" if err is not None else "get_shares_full gave no data"
        if not fallback:
            return (None, "error", why, got.notes) if err is not None else (series, "history", "", got.notes)
        try:
            value = ticker.fast_info["shares"]
            value = float(value) if value is not None else float("nan")
        except Exception as exc:  # noqa: BLE001
            return None, "none", f"{why}; fast_info['shares'] failed ({type(exc).__name__}: {exc})", got.notes
        if not BOUNDS["shares"][0] <= value <= BOUNDS["shares"][1]:  # NaN, 0, negative or 1e30
            return None, "none", f"{why}; fast_info['shares'] gave {value!r}", got.notes
        when = min(run.today, we - _ONE_DAY)
        return (pd.Series([value], index=pd.DatetimeIndex([when], name="date"), dtype="float64"), "fast_info", why,
                got.notes)

    return task


# ------------------------------------------------------------------------------------------------
# Assembly
# ------------------------------------------------------------------------------------------------


def _assemble(
    run: _Run,
    universe_frame: pd.DataFrame,
    listings: Mapping[str, _Listing],
    prices: Mapping[str, pd.DataFrame],
    fx_raw: Mapping[str, pd.DataFrame],
    pairs: Mapping[str, str],
    shares: Mapping[str, _Shares],
) -> Any:
    """Frames in currency units, one column per universe ticker (all-NaN for listings without data)."""
    tickers = [str(t) for t in universe_frame.index]
    close_cols: dict[str, pd.Series] = {}
    div_cols: dict[str, pd.Series] = {}
    vol_cols: dict[str, pd.Series] = {}
    sh_cols: dict[str, pd.Series] = {}
    for sym, lst in listings.items():
        frame = prices.get(sym)
        if frame is None:
            continue
        t = lst.ticker
        entry = run.cache.entry("prices", sym) if run.cache is not None else None
        for msg in (entry.extra.get("repairs", []) if entry is not None else []):
            run.note(msg)
        frame = frame.loc[(frame.index >= lst.start) & (frame.index < lst.end)]
        close = frame["close"].astype("float64")
        bad = close <= 0
        if bad.any():
            dates = ", ".join(d.strftime("%Y-%m-%d") for d in close.index[bad.to_numpy()][:5])
            more = " ..." if int(bad.sum()) > 5 else ""
            run.note(f"{sym}: dropped {int(bad.sum())} zero/negative close(s) ({dates}{more}); left NaN", logging.WARNING)
            close = close.mask(bad)
        vol = frame["volume"].astype("float64")
        badv = vol < 0
        if badv.any():
            run.note(f"{sym}: dropped {int(badv.sum())} negative volume(s); left NaN", logging.WARNING)
            vol = vol.mask(badv)
        div = frame["dividends"].astype("float64").fillna(0.0)
        badd = div < 0
        if badd.any():
            run.note(f"{sym}: ignored {int(badd.sum())} negative dividend(s) (treated as no dividend)", logging.WARNING)
            div = div.mask(badd, 0.0)
        if lst.divisor != 1.0:
            close = close / lst.divisor
            div = div / lst.divisor
            run.note(f"{sym}: Yahoo quotes it in minor units; close and dividends divided by {lst.divisor:g}")
        # the CSV source's bounds: 1e300 or an infinity would overflow market caps and returns
        close = close.mask(_implausible(run, f"{sym} close", close, BOUNDS["close"]))
        vol = vol.mask(_implausible(run, f"{sym} volume", vol, BOUNDS["volume"]))
        div = div.mask(_implausible(run, f"{sym} dividend", div, BOUNDS["dividend"], left="treated as no dividend"), 0.0)
        big = (div > 0.5 * close) & close.notna()
        if big.any():
            d0 = div.index[big.to_numpy()][0]
            run.note(
                f"{sym}: dividend {div[d0]:g} on {d0.date()} exceeds half the close ({close[d0]:g}); "
                "possible unit mix-up at Yahoo (kept as is)",
                logging.WARNING,
            )
        if lst.divisor != 1.0:
            # the opposite mix-up: a minor-unit line whose dividend Yahoo gave in major units
            tiny = (div > 0) & (div < 5e-4 * close) & close.notna()
            if tiny.any():
                d0 = div.index[tiny.to_numpy()][0]
                run.note(
                    f"{sym}: dividend {div[d0]:g} on {d0.date()} is under 0.05 % of the close ({close[d0]:g}); "
                    f"possibly quoted in major units instead of 1/{lst.divisor:g} (kept as is)",
                    logging.WARNING,
                )
        close_cols[t], div_cols[t], vol_cols[t] = close, div, vol

        sh = shares.get(sym) or _Shares(_empty_series(), "none", "not fetched")
        series = sh.series
        if sh.method == "fast_info" and len(series):
            run.note(
                f"{sym}: no share-count history ({sh.reason}); today's count from fast_info "
                f"({series.iloc[-1]:,.0f}) is used as a constant over the whole history (look-ahead approximation)",
                logging.WARNING,
            )
            series = pd.Series([float(series.iloc[-1])], index=pd.DatetimeIndex([lst.start]))
        elif not len(series):
            why = f" ({sh.reason})" if sh.reason else ""
            run.note(f"{sym}: no share count from Yahoo{why}; market cap is NaN (size screen: NO_DATA)", logging.WARNING)
            series = _empty_series()
        sh_cols[t] = series.loc[series.index < lst.end]

    def frame_of(cols: Mapping[str, pd.Series]) -> pd.DataFrame:
        out = pd.DataFrame(dict(cols)) if cols else pd.DataFrame(index=pd.DatetimeIndex([]))
        out = out.reindex(columns=tickers)
        out.index = pd.DatetimeIndex(out.index, name="date")
        out = out.sort_index().astype("float64")
        out.columns.name = "ticker"
        return out

    for msg in identical_close_notes(close_cols, "Yahoo returned"):
        run.note(msg, logging.WARNING)
    close = frame_of(close_cols)
    summary = _summary(run, 2 * len(listings) + len(pairs), close.dropna(how="all").index.max())
    dividends = frame_of(div_cols).reindex(close.index)
    volume = frame_of(vol_cols).reindex(close.index)
    shares_frame = frame_of(sh_cols)
    # a listing's own sessions without a dividend are 0.0; dates it did not trade stay NaN
    has_row = close.notna() | volume.notna()
    dividends = dividends.where(has_row | (dividends.fillna(0.0) != 0.0))

    # FX: USD per unit, on the pairs' own dates (MarketData carries them to the market dates)
    fx_cols: dict[str, pd.Series] = {}
    for pair, ccy in sorted(pairs.items()):
        raw = fx_raw.get(pair)
        if raw is None:
            continue
        rate = raw["close"].astype("float64")
        rate = rate.loc[rate.index < run.end]
        bad = rate <= 0
        if bad.any():
            run.note(f"{pair}: dropped {int(bad.sum())} zero/negative FX rate(s); left NaN", logging.WARNING)
            rate = rate.mask(bad)
        if fx_pair(ccy)[1]:  # type: ignore[index]
            rate = 1.0 / rate
        fx_cols[ccy] = rate.mask(_implausible(run, f"{pair} FX rate (USD per {ccy})", rate, FX_BOUNDS))
    currency = pd.Series(
        {str(t): str(c).strip().upper() for t, c in universe_frame["currency"].items()}, dtype="object"
    ).reindex(tickers)
    for ccy in sorted(set(currency) - set(fx_cols) - {"USD"}):
        # listings without data (dropped or not listed in the window) still need an FX column
        fx_cols[ccy] = pd.Series(dtype="float64", index=pd.DatetimeIndex([]))
    fx = pd.DataFrame(fx_cols) if fx_cols else pd.DataFrame(index=close.index)
    fx.index = pd.DatetimeIndex(fx.index, name="date")
    fx = fx.sort_index()
    fx["USD"] = 1.0
    fx = fx[sorted(fx.columns)].astype("float64")
    fx.columns.name = "currency"

    extra: dict[str, Any] = {}
    if "exchange" in universe_frame.columns:
        extra["exchange"] = universe_frame["exchange"].set_axis(tickers).fillna("").astype(str)
    if "delisted" in universe_frame.columns:
        extra["delisted"] = pd.to_datetime(universe_frame["delisted"]).set_axis(tickers)
    return _make_market(
        close=close,
        dividends=dividends,
        volume=volume,
        shares=shares_frame,
        fx=fx,
        currency=currency,
        notes=(summary, *run.notes),
        **extra,
    )


def _summary(run: _Run, n_series: int, last: Any) -> str:
    """One line: how much came from the cache, and up to which date (the first note of a load)."""
    asked = len(run.asked)
    if run.cache is None:
        source = f"all {n_series} series asked from Yahoo (cache not used)"
    elif not asked:
        source = f"all {n_series} series served from the cache, no network call"
    else:
        source = f"{asked} of {n_series} series asked from Yahoo, {max(n_series - asked, 0)} served from the cache"
    upto = (run.end - _ONE_DAY).date()
    asked_to = f"asked up to {upto}" + ("" if run.end_given else ", the last complete UTC day")
    prices = f"prices to {last.date()}" if isinstance(last, pd.Timestamp) and last is not pd.NaT else "no prices"
    return f"yahoo: {source}; {prices} ({asked_to})"


def _make_market(**frames: Any) -> Any:
    """Build :class:`~exchina_index.data.market.MarketData` (frames already in currency units)."""
    from exchina_index.data.market import MarketData

    return MarketData(source="yahoo", synthetic=False, **frames)


def fetch(
    universe: Any,
    start: Any = None,
    end: Any = None,
    cache_dir: str | os.PathLike[str] | None = None,
    progress: Any = None,
    **kwargs: Any,
) -> Any:
    """Fill the cache for ``exchina-index data fetch``: :func:`load_yahoo` with ``allow_missing=True``.

    Listings that come back empty are reported in the returned ``MarketData.notes`` instead of
    aborting the fetch. Use :func:`exchina_index.data.status.cache_status` to show the result.
    """
    kwargs.setdefault("allow_missing", True)
    return load_yahoo(universe, start, end, cache_dir=cache_dir, progress=progress, **kwargs)
