"""What the Yahoo cache holds, per listing and FX pair (``exchina-index data status``).

Read-only: a corrupt file is reported (``status="corrupt"``), not deleted; the next load deletes
and refetches it.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import numpy as np
import pandas as pd

from exchina_index.data.cache import YahooCache
from exchina_index.errors import CacheError, DataError

__all__ = ["cache_status", "STATUS_COLUMNS"]

log = logging.getLogger(__name__)

#: Columns of :func:`cache_status`, in order.
STATUS_COLUMNS: tuple[str, ...] = (
    "kind",
    "currency",
    "exchange",
    "status",
    "first",
    "last",
    "rows",
    "covered_from",
    "covered_to",
    "gaps",
    "gap_basis",
    "shares",
    "updated",
)


def _sessions_factory(use_calendars: bool) -> Any:
    """A function ``(mic, first, last) -> (sessions DatetimeIndex, basis label)``.

    Uses :func:`exchina_index.rules.calendar.sessions` (the package's bundled session table, with
    exchange_calendars beyond it); weekdays when disabled, for an unknown MIC, or on any error.
    """

    def weekdays(first: pd.Timestamp, last: pd.Timestamp) -> tuple[pd.DatetimeIndex, str]:
        return pd.bdate_range(first, last), "weekdays"

    def get(mic: str, first: pd.Timestamp, last: pd.Timestamp) -> tuple[pd.DatetimeIndex, str]:
        if not use_calendars or not mic:
            return weekdays(first, last)
        try:
            from exchina_index.rules.calendar import MIC_CALENDAR, sessions

            if mic not in MIC_CALENDAR:
                return weekdays(first, last)
            days = sessions(mic, first, last)
        except Exception as exc:  # noqa: BLE001 - a status report must not fail on a calendar
            log.debug("no calendar for %s (%s); counting weekdays", mic, exc)
            return weekdays(first, last)
        return pd.DatetimeIndex(days).as_unit("ns"), f"{MIC_CALENDAR[mic]} sessions"

    return get


def cache_status(
    universe: Any,
    cache_dir: str | os.PathLike[str] | None = None,
    *,
    calendars: bool = True,
) -> pd.DataFrame:
    """Per listing (and per FX pair it needs): what the cache holds.

    Parameters
    ----------
    universe
        A :class:`~exchina_index.universe.loading.Universe` or its ``frame``.
    cache_dir
        The cache folder (default :func:`~exchina_index.data.cache.default_cache_dir`).
    calendars
        Count gaps against each listing's own exchange calendar
        (:func:`exchina_index.rules.calendar.sessions`). ``False``, an unknown MIC, and FX pairs count
        weekdays (Monday to Friday) instead, which also counts exchange holidays as gaps.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``ticker`` (universe tickers, then the FX pairs), columns
        :data:`STATUS_COLUMNS`: ``kind`` ('prices' or 'fx'); ``status`` ('ok', 'missing' -- never
        fetched, 'failed' -- Yahoo returned nothing, 'corrupt' -- refetched on the next load);
        ``first``/``last``/``rows`` of the cached rows; ``covered_from``/``covered_to`` the window
        already asked for (inclusive; a load inside it makes no network call); ``gaps`` the
        sessions between ``first`` and ``last`` without a row, counted as ``gap_basis`` says;
        ``shares`` how share counts were obtained ('history (n)', 'fast_info', 'none' or '');
        ``updated`` when the file was last written (UTC).

    Raises
    ------
    CacheError
        ``cache_dir`` is a file, or a folder that cannot be read (every listing would look
        missing otherwise). A folder that does not exist yet is an empty cache.
    DataError
        ``universe`` is not a universe.
    """
    from exchina_index.data.yahoo.parse import fx_pair

    frame = getattr(universe, "frame", universe)
    if not isinstance(frame, pd.DataFrame):
        raise DataError(
            f"universe must be a Universe (from load_universe()) or its DataFrame, got {type(universe).__name__}"
        )
    if cache_dir is not None and not isinstance(cache_dir, (str, os.PathLike)):
        raise CacheError(f"cache_dir must be a folder path, got {type(cache_dir).__name__}")
    cache = YahooCache(cache_dir)  # refuses a file, an unreadable folder or an unusable path
    sessions = _sessions_factory(calendars)
    rows: list[dict[str, Any]] = []
    index: list[str] = []
    pairs: dict[str, str] = {}

    def describe(kind: str, symbol: str, mic: str) -> dict[str, Any]:
        entry = cache.entry(kind, symbol)
        row: dict[str, Any] = {
            "kind": kind,
            "status": "missing",
            "first": pd.NaT,
            "last": pd.NaT,
            "rows": 0,
            "covered_from": pd.NaT,
            "covered_to": pd.NaT,
            "gaps": np.nan,
            "gap_basis": "",
            "updated": "",
        }
        if entry is None:
            return row
        row.update(
            covered_from=entry.start,
            covered_to=entry.end - pd.Timedelta(days=1),
            updated=entry.updated,
            status="failed" if entry.extra.get("failed") else "ok",
        )
        data = cache.read(kind, symbol, delete_corrupt=False)
        if data is None:
            row["status"] = "corrupt"
            return row
        row["rows"] = len(data)
        if len(data):
            first, last = data.index[0], data.index[-1]
            sess, basis = sessions(mic if kind == "prices" else "", first, last)
            row.update(first=first, last=last, gaps=int(len(sess.difference(data.index))), gap_basis=basis)
        return row

    for ticker, r in frame.iterrows():
        sym = str(ticker).strip().upper()
        currency = str(r.get("currency", "")).strip().upper()
        mic = str(r.get("exchange", "") or "")
        row = describe("prices", sym, mic)
        row.update(currency=currency, exchange=mic)
        sh_entry = cache.entry("shares", sym)
        if sh_entry is None:
            row["shares"] = ""
        else:
            method = str(sh_entry.extra.get("method", "history"))
            row["shares"] = f"history ({sh_entry.rows})" if method == "history" else method
        rows.append(row)
        index.append(str(ticker))
        pair = fx_pair(currency) if currency != "USD" else None
        if pair is not None:
            pairs[pair[0]] = currency
    for symbol, currency in sorted(pairs.items()):
        row = describe("fx", symbol, "")
        row.update(currency=currency, exchange="", shares="")
        rows.append(row)
        index.append(symbol)
    out = pd.DataFrame(rows, index=pd.Index(index, name="ticker"), columns=list(STATUS_COLUMNS))
    out["rows"] = out["rows"].astype("int64")
    out["gaps"] = out["gaps"].astype("Int64")
    return out
