"""The Yahoo loader: :func:`load_yahoo` (a MarketData through the cache) and :func:`fetch` (fill
the cache for ``exchina-index data fetch``). The steps are in the sibling modules: listings and
state (:mod:`.run`), prices and FX (:mod:`.sync`), share counts (:mod:`.shares`) and assembly
(:mod:`.assembly`); see :mod:`exchina_index.data.yahoo` for the behaviour as a whole.
"""

from __future__ import annotations

import logging
import math
import numbers
import os
import time
from collections.abc import Callable
from typing import Any

import pandas as pd

from exchina_index.data.cache import YahooCache
from exchina_index.data.market import MarketData
from exchina_index.data.yahoo.assembly import assemble
from exchina_index.data.yahoo.client import MAX_DEADLINE_S, Deadline, preflight_check, renew_warnings_filter
from exchina_index.data.yahoo.parse import FX_PAIRS, PRICE_COLUMNS, fx_pair
from exchina_index.data.yahoo.run import ONE_DAY, Listing, Progress, Run, listings_of
from exchina_index.data.yahoo.shares import sync_shares
from exchina_index.data.yahoo.sync import sync_series
from exchina_index.dates import parse_date
from exchina_index.errors import DataError, ReviewDateError

__all__ = ["DEFAULT_START", "FX_LOOKBACK_DAYS", "fetch", "load_yahoo"]

#: First date requested when ``start`` is not given.
DEFAULT_START = "2015-01-01"
#: FX pairs are requested from this many days before ``start`` (a rate on or before the first close).
FX_LOOKBACK_DAYS = 10


def _universe_frame(universe: Any) -> pd.DataFrame:
    """The universe's frame, with the columns the loader reads."""
    frame = getattr(universe, "frame", universe)
    if not isinstance(frame, pd.DataFrame):
        raise DataError("load_yahoo needs a Universe (or its .frame DataFrame indexed by ticker)")
    missing = [c for c in ("currency", "price_unit") if c not in frame.columns]
    if missing:
        raise DataError(f"the universe frame lacks column(s) {missing}; load it with xi.load_universe()")
    return frame


def _check_options(
    *, deadline_s: Any, retries: Any, backoff_s: Any, progress: Any, allow_missing: Any, use_cache: Any
) -> None:
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
        raise DataError(
            f"progress must be None, a function (stage, done, total) or a rich Progress, got {type(progress).__name__}"
        )
    for name, flag in (("allow_missing", allow_missing), ("use_cache", use_cache)):
        if not isinstance(flag, bool):
            raise DataError(f"{name} must be True or False, got {flag!r}")


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
) -> MarketData:
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
    _check_options(
        deadline_s=deadline_s,
        retries=retries,
        backoff_s=backoff_s,
        progress=progress,
        allow_missing=allow_missing,
        use_cache=use_cache,
    )
    today_ts, s, e = _window(start, end, today)
    listings, notes0 = listings_of(frame, s, e)
    if not listings:
        raise DataError(f"no listing of the universe is listed between {s.date()} and {(e - ONE_DAY).date()}")
    notes0 += _drop_without_fx_pair(listings, allow_missing)  # before any network call
    run = Run(
        cache=YahooCache(cache_dir) if use_cache else None,
        yf=_yfinance(yf),
        deadline=Deadline(deadline_s, sleep),
        retries=max(int(retries), 0),
        backoff_s=float(backoff_s),
        today=today_ts,
        start=s,
        end=e,
        preflight=preflight_check if preflight is True else (preflight or None),
        progress=Progress(progress),
        allow_missing=allow_missing,
        mics={sym: lst.exchange for sym, lst in listings.items()},
        delisted=frozenset(sym for sym, lst in listings.items() if lst.end < e),
        session=session,
        end_given=end is not None,
    )
    for n in notes0:
        run.note(n)

    price_windows = {t: (lst.start, lst.end) for t, lst in listings.items()}
    prices, failed = sync_series(run, "prices", price_windows, PRICE_COLUMNS)
    _raise_or_drop_failed(run, failed, prices, listings, allow_missing)
    fx_raw, pairs = _sync_fx(run, listings, prices)
    if not listings:
        raise DataError("no listing is left after dropping the missing ones")
    shares = sync_shares(run, listings)
    if run.cache is not None:  # cache repairs found along the way
        for msg in run.cache.repairs:
            run.note(msg, logging.WARNING)
    return assemble(run, frame, listings, prices, fx_raw, pairs, shares)


def _window(start: Any, end: Any, today: Any) -> tuple[pd.Timestamp, pd.Timestamp, pd.Timestamp]:
    """``(today, start, end)`` of a load, ``end`` exclusive (default: up to the last complete UTC day)."""
    now = pd.Timestamp.now("UTC").tz_localize(None).normalize()
    today_ts = parse_date(today, "today") if today is not None else now
    s = parse_date(start if start is not None else DEFAULT_START, "start")
    e_incl = parse_date(end, "end") if end is not None else today_ts - ONE_DAY
    if e_incl < s:
        what = f"end {e_incl.date()}" if end is not None else f"the last complete day {e_incl.date()} (end not given)"
        raise ReviewDateError(f"{what} is before start {s.date()}")
    return today_ts, s, e_incl + ONE_DAY


def _drop_without_fx_pair(listings: dict[str, Listing], allow_missing: bool) -> list[str]:
    """DataError for listings in a currency Yahoo has no FX pair for; with ``allow_missing``, drop them (noted)."""
    no_fx: dict[str, list[str]] = {}
    for lst in listings.values():
        if lst.currency != "USD" and fx_pair(lst.currency) is None:
            no_fx.setdefault(lst.currency, []).append(lst.symbol)
    if not no_fx:
        return []
    detail = "; ".join(f"{', '.join(sorted(t))} ({c})" for c, t in sorted(no_fx.items()))
    msg = f"no Yahoo FX pair for the currency of {detail}; supported: {', '.join(sorted(FX_PAIRS))} and USD"
    if not allow_missing:
        raise DataError(msg)
    for tickers in no_fx.values():
        for t in tickers:
            listings.pop(t)
    return [f"dropped (allow_missing): {msg}"]


def _yfinance(yf: Any) -> Any:
    """``yf``, or the yfinance module (imported here, lazily), with the quiet warnings filter renewed."""
    if yf is None:
        try:
            import yfinance
        except ImportError as exc:  # pragma: no cover - yfinance is a dependency
            raise DataError("yfinance is not installed (pip install yfinance), or use --source demo") from exc
        yf = yfinance
    renew_warnings_filter()
    return yf


def _sync_fx(
    run: Run, listings: dict[str, Listing], prices: dict[str, pd.DataFrame]
) -> tuple[dict[str, pd.DataFrame], dict[str, str]]:
    """The FX pairs of the listings' currencies (raw quotes, and pair -> currency).

    A pair without data is a DataError, or with ``allow_missing`` drops the listings quoted in it (noted).
    """
    pairs: dict[str, str] = {}  # pair -> currency
    for lst in listings.values():
        if lst.currency != "USD":
            pairs[fx_pair(lst.currency)[0]] = lst.currency  # type: ignore[index]
    fx_from = run.start - pd.Timedelta(days=FX_LOOKBACK_DAYS)
    fx_raw, fx_failed = sync_series(run, "fx", {p: (fx_from, run.end) for p in sorted(pairs)}, {"Close": "close"})
    if not fx_failed:
        return fx_raw, pairs
    bad_ccy = {pairs[p] for p in fx_failed}
    users = sorted(t for t, lst in listings.items() if lst.currency in bad_ccy)
    msg = "no FX data from Yahoo for " + "; ".join(
        f"{p} ({pairs[p]}, needed by {', '.join(sorted(t for t, lst in listings.items() if lst.currency == pairs[p]))})"
        for p in sorted(fx_failed)
    )
    if not run.allow_missing:
        raise DataError(msg + "; retry later or pass allow_missing=True to drop those listings")
    run.note(f"dropped (allow_missing): {', '.join(users)} -- {msg}", logging.WARNING)
    for t in users:
        listings.pop(t, None)
        prices.pop(t, None)
    for p in fx_failed:
        pairs.pop(p, None)
        fx_raw.pop(p, None)
    return fx_raw, pairs


def _raise_or_drop_failed(
    run: Run,
    failed: dict[str, tuple[pd.Timestamp, pd.Timestamp]],
    prices: dict[str, pd.DataFrame],
    listings: dict[str, Listing],
    allow_missing: bool,
) -> None:
    """DataError naming the listings Yahoo gave nothing for; with ``allow_missing``, drop those without
    cached rows (noted) and keep the cached rows of the others."""
    gone = sorted(t for t in failed if t in run.delisted and not (t in prices and len(prices[t])))
    if gone:  # Yahoo keeps no prices for delisted symbols: expected, said, not an error
        run.note(
            f"no prices from Yahoo for {', '.join(gone)}: delisted inside the window, and Yahoo drops delisted "
            "symbols; the backtest cannot hold them over their listed life (a survivorship gap of this source: a "
            "CSV export from a vendor that keeps delisted lines fills it)",
            logging.WARNING,
        )
        for t in gone:
            failed.pop(t)
            prices.pop(t, None)
            listings.pop(t, None)
    if not failed:
        return
    windows = "; ".join(f"{t} ({a.date()}..{(b - ONE_DAY).date()})" for t, (a, b) in sorted(failed.items()))
    msg = (
        f"Yahoo Finance returned no data for {len(failed)} of {len(listings)} listing(s): "
        f"{', '.join(sorted(failed))} [{windows}]"
    )
    if not allow_missing:
        raise DataError(msg + ". Check those symbols (delisted or renamed?) or pass allow_missing=True to drop them")
    dropped = []
    for t in sorted(failed):
        if t in prices and len(prices[t]):
            run.note(
                f"{t}: no new data from Yahoo for {failed[t][0].date()}..{(failed[t][1] - ONE_DAY).date()}; "
                "kept the cached rows",
                logging.WARNING,
            )
        else:
            dropped.append(t)
            prices.pop(t, None)
            listings.pop(t, None)
    if dropped:
        run.note(f"dropped (allow_missing): no data from Yahoo for {', '.join(dropped)}", logging.WARNING)


def fetch(
    universe: Any,
    start: Any = None,
    end: Any = None,
    cache_dir: str | os.PathLike[str] | None = None,
    progress: Any = None,
    **kwargs: Any,
) -> MarketData:
    """Fill the cache for ``exchina-index data fetch``: :func:`load_yahoo` with ``allow_missing=True``.

    Listings that come back empty are reported in the returned ``MarketData.notes`` instead of
    aborting the fetch. Use :func:`exchina_index.data.status.cache_status` to show the result.
    """
    kwargs.setdefault("allow_missing", True)
    return load_yahoo(universe, start, end, cache_dir=cache_dir, progress=progress, **kwargs)
