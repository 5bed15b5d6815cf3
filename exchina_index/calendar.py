"""Exchange session calendars and the review schedule.

Two jobs:

* :func:`sessions` gives the trading sessions of a listing's exchange (an ISO 10383 MIC), used for
  the demo market and for stale-price detection. Several MICs share one calendar (see
  :data:`MIC_CALENDAR`: OTC Markets and NYSE American/Nasdaq trade on the NYSE calendar, TSXV and
  the CSE on the TSX calendar, Shenzhen on the Shanghai calendar).
* :func:`review_dates` / :func:`review_for` derive the quarterly review schedule from the rulebook's
  ``[schedule]`` section on the ``schedule.calendar`` exchange (NYSE by default).

Sessions come from a table bundled with the package (``exchange_sessions.json``: the weekdays each
exchange is closed, and any weekend sessions, from 2000-01-01 to 2030-12-31, or to the last date
exchange_calendars knows for that exchange). It was generated with ``exchange_calendars`` (see
:func:`write_session_table`) because building the calendars at run time costs about 3 s (1.3 s to
import the library, 0.1-0.4 s per exchange) while reading the table takes milliseconds. Dates
outside the table fall back to ``exchange_calendars`` itself (imported lazily). A test checks the
table against ``exchange_calendars``; regenerate it with ``python -m exchina_index.calendar`` when
exchanges announce new holidays.

All dates are tz-naive midnight Timestamps (the exchange-local calendar date).
"""

from __future__ import annotations

import datetime
import functools
import json
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .errors import DataError, ReviewDateError

if TYPE_CHECKING:  # pragma: no cover
    from .methodology import Methodology

__all__ = ["MIC_CALENDAR", "sessions", "calendar_of", "review_dates", "review_for", "REVIEW_COLUMNS"]

#: Exchange MIC -> the exchange_calendars calendar used for its sessions.
MIC_CALENDAR: dict[str, str] = {
    "XNYS": "XNYS", "XNAS": "XNYS", "XASE": "XNYS", "OTCM": "XNYS",
    "XTSE": "XTSE", "XTSX": "XTSE", "XCNQ": "XTSE",
    "XASX": "XASX", "XLON": "XLON", "XTKS": "XTKS", "XBRU": "XBRU", "XAMS": "XAMS", "XPAR": "XPAR",
    "XETR": "XETR", "XSTO": "XSTO", "XOSL": "XOSL", "XHEL": "XHEL", "XKRX": "XKRX",
    "XSHG": "XSHG", "XSHE": "XSHG", "XHKG": "XHKG",
}

#: Columns of :func:`review_dates`, in order.
REVIEW_COLUMNS: tuple[str, ...] = ("cutoff", "announce", "proforma", "implement", "effective")

_TABLE = "exchange_sessions.json"
_TABLE_START, _TABLE_END = "2000-01-01", "2030-12-31"
_UNIT = "us"


def calendar_of(mic: str) -> str:
    """The calendar name used for exchange ``mic`` (raises :class:`DataError` when unknown)."""
    try:
        return MIC_CALENDAR[mic]
    except KeyError:
        raise DataError(
            f"no trading calendar for exchange '{mic}'; use one of {', '.join(sorted(MIC_CALENDAR))}"
        ) from None


def sessions(mic: str, start: Any, end: Any) -> pd.DatetimeIndex:
    """Trading sessions of exchange ``mic`` between ``start`` and ``end`` (both included).

    Parameters
    ----------
    mic
        An ISO 10383 MIC of :data:`MIC_CALENDAR` (``"OTCM"`` is read as NYSE, ``"XTSX"`` as TSX...).
    start, end
        Anything :class:`pandas.Timestamp` accepts; times are dropped.

    Returns
    -------
    pandas.DatetimeIndex
        Sorted tz-naive session dates (``datetime64[us]``), named ``date``.

    Examples
    --------
    >>> sessions("XNYS", "2026-06-17", "2026-06-22").strftime("%Y-%m-%d").tolist()
    ['2026-06-17', '2026-06-18', '2026-06-22']
    """
    cal = calendar_of(mic)
    lo, hi = _day(start), _day(end)
    if hi < lo:
        return pd.DatetimeIndex([], dtype=f"datetime64[{_UNIT}]", name="date")
    days = _sessions_days(cal, lo, hi)
    return pd.DatetimeIndex(days.astype(f"datetime64[{_UNIT}]"), name="date")


def _day(value: Any) -> np.datetime64:
    try:
        ts = pd.Timestamp(value)
    except (TypeError, ValueError):
        raise ReviewDateError(f"'{value}' is not a date; use YYYY-MM-DD") from None
    if ts is pd.NaT:
        raise ReviewDateError("a date is missing (NaT); use YYYY-MM-DD")
    if ts.tzinfo is not None:
        ts = ts.tz_localize(None)
    return np.datetime64(ts.date(), "D")


@functools.lru_cache(maxsize=None)
def _bundled() -> dict[str, tuple[np.datetime64, np.datetime64, np.ndarray, np.ndarray]]:
    text = (resources.files("exchina_index") / _TABLE).read_text(encoding="utf-8")
    raw = json.loads(text)["calendars"]
    return {
        name: (
            np.datetime64(c["start"], "D"),
            np.datetime64(c["end"], "D"),
            np.array(c["closed_weekdays"], dtype="datetime64[D]"),
            np.array(c["weekend_sessions"], dtype="datetime64[D]"),
        )
        for name, c in raw.items()
    }


@functools.lru_cache(maxsize=64)
def _sessions_days(cal: str, lo: np.datetime64, hi: np.datetime64) -> np.ndarray:
    """Session days (datetime64[D], read-only) of calendar ``cal`` in [lo, hi]."""
    table = _bundled().get(cal)
    if table is not None and table[0] <= lo and hi <= table[1]:
        _, _, closed, weekend = table
        days = np.arange(lo, hi + np.timedelta64(1, "D"), dtype="datetime64[D]")
        weekday = np.is_busday(days)
        keep = weekday & ~np.isin(days, closed)
        keep |= ~weekday & np.isin(days, weekend)
        out = days[keep]
    else:
        out = _exchange_calendars_days(cal, lo, hi)
    out.flags.writeable = False
    return out


def _exchange_calendars_days(cal: str, lo: np.datetime64, hi: np.datetime64) -> np.ndarray:
    import exchange_calendars as xc  # slow import (about 1 s): only outside the bundled table

    try:
        c = xc.get_calendar(cal, start=str(lo), end=str(hi))
    except Exception as exc:  # exchange_calendars raises several types for out-of-bounds dates
        raise ReviewDateError(
            f"no {cal} trading calendar for {lo} to {hi} ({exc}); choose dates the calendar covers"
        ) from None
    return c.sessions.to_numpy().astype("datetime64[D]")


# --- the review schedule --------------------------------------------------------------------------


def review_dates(methodology: Methodology, start: Any, end: Any) -> pd.DataFrame:
    """The review schedule: one row per review whose implementation date is in [start, end].

    Parameters
    ----------
    methodology
        The rulebook; its ``schedule`` section gives the calendar, months, weekday and weeks.
    start, end
        The range of implementation dates (inclusive).

    Returns
    -------
    pandas.DataFrame
        Columns :data:`REVIEW_COLUMNS`, all tz-naive Timestamps, one row per review in date order:

        ``implement``
            the ``implementation_week``-th ``weekday`` of each month in ``months`` (third Friday by
            default), moved to the previous session of ``calendar`` when that day is a holiday
            (e.g. Juneteenth, Friday 2026-06-19, gives Thursday 2026-06-18). Weights take effect at
            that close.
        ``announce``
            the ``announcement_week``-th ``weekday`` of the same month, previous session on a holiday.
        ``cutoff``
            the data cut-off: the last session of the month before ``implement`` when
            ``schedule.cutoff = "last_session_previous_month"``, else the announcement date.
        ``proforma``
            the first pro-forma day: ``proforma_sessions - 1`` sessions before ``implement``.
        ``effective``
            the session after ``implement`` (the first day the new index trades).

    Examples
    --------
    >>> import exchina_index as xi
    >>> d = review_dates(xi.load_methodology(), "2026-01-01", "2026-12-31")
    >>> d["implement"].dt.strftime("%Y-%m-%d").tolist()
    ['2026-03-20', '2026-06-18', '2026-09-18', '2026-12-18']
    """
    lo, hi = _day(start), _day(end)
    sch = methodology.schedule
    if hi < lo:
        return _empty_reviews()
    y0, y1 = lo.astype(object).year, hi.astype(object).year
    # sessions wide enough for the previous month's cut-off and the next session after implementation
    s_lo = np.datetime64(datetime.date(y0, 1, 1), "D") - np.timedelta64(70, "D")
    s_hi = np.datetime64(datetime.date(y1, 12, 31), "D") + np.timedelta64(15, "D")
    days = _sessions_days(calendar_of(sch.calendar), s_lo, s_hi)
    rows = []
    for year in range(y0, y1 + 1):
        for month in sch.months:
            implement = _on_or_before(days, _nth_weekday(year, month, sch.weekday, sch.implementation_week))
            if not lo <= implement <= hi:
                continue
            announce = _on_or_before(days, _nth_weekday(year, month, sch.weekday, sch.announcement_week))
            if sch.cutoff == "last_session_previous_month":
                cutoff = _on_or_before(days, np.datetime64(datetime.date(year, month, 1), "D") - np.timedelta64(1, "D"))
            else:
                cutoff = announce
            k = int(np.searchsorted(days, implement))
            proforma = days[k - (sch.proforma_sessions - 1)]
            if k + 1 >= len(days):
                raise ReviewDateError(
                    f"the session after the implementation date {implement} is beyond the "
                    f"{sch.calendar} calendar; choose an end date before it"
                )
            rows.append((cutoff, announce, proforma, implement, days[k + 1]))
    if not rows:
        return _empty_reviews()
    arr = np.array(rows, dtype="datetime64[D]").astype(f"datetime64[{_UNIT}]")
    return pd.DataFrame({c: arr[:, j] for j, c in enumerate(REVIEW_COLUMNS)})


def review_for(methodology: Methodology, date: Any) -> pd.Series:
    """The review whose implementation date is ``date`` or the next one after it.

    Parameters
    ----------
    methodology
        The rulebook.
    date
        Any date.

    Returns
    -------
    pandas.Series
        The row of :func:`review_dates` (index :data:`REVIEW_COLUMNS`), named by its implementation date.

    Raises
    ------
    ReviewDateError
        ``date`` is not a date, or no review follows it within the calendars the package knows.

    Examples
    --------
    >>> import exchina_index as xi
    >>> review_for(xi.load_methodology(), "2025-12-01")["implement"].date().isoformat()
    '2025-12-19'
    """
    day = _day(date)
    try:
        found = review_dates(methodology, day, day + np.timedelta64(400, "D"))
    except (DataError, ReviewDateError) as exc:
        raise ReviewDateError(f"no review on or after {day}: {exc}") from None
    if found.empty:
        raise ReviewDateError(
            f"no review on or after {day} within a year; check the date and the rulebook's [schedule]"
        )
    row = found.iloc[0]
    row.name = row["implement"]
    return row


def _empty_reviews() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=f"datetime64[{_UNIT}]") for c in REVIEW_COLUMNS})


def _nth_weekday(year: int, month: int, weekday: int, n: int) -> np.datetime64:
    first = datetime.date(year, month, 1)
    offset = (weekday - first.weekday()) % 7
    return np.datetime64(first + datetime.timedelta(days=offset + 7 * (n - 1)), "D")


def _on_or_before(days: np.ndarray, day: np.datetime64) -> np.datetime64:
    k = int(np.searchsorted(days, day, side="right")) - 1
    if k < 0:
        raise ReviewDateError(f"no session on or before {day}; choose a later date")
    return days[k]


# --- maintenance ----------------------------------------------------------------------------------


def write_session_table(path: str | Path | None = None, start: str = _TABLE_START, end: str = _TABLE_END) -> Path:
    """Regenerate the bundled session table from ``exchange_calendars`` (maintainers only).

    For every calendar of :data:`MIC_CALENDAR` it stores the weekdays without a session and the
    weekend days with one, between ``start`` and ``end`` clipped to the calendar's own bounds.
    """
    import exchange_calendars as xc

    out: dict[str, Any] = {}
    for cal in sorted(set(MIC_CALENDAR.values())):
        c0 = xc.get_calendar(cal)
        lo, hi = pd.Timestamp(start), pd.Timestamp(end)
        if c0.bound_min() is not None:
            lo = max(lo, c0.bound_min())
        if c0.bound_max() is not None:
            hi = min(hi, c0.bound_max())
        got = xc.get_calendar(cal, start=lo, end=hi).sessions.to_numpy().astype("datetime64[D]")
        days = np.arange(np.datetime64(lo.date(), "D"), np.datetime64(hi.date(), "D") + 1, dtype="datetime64[D]")
        open_ = np.isin(days, got)
        weekday = np.is_busday(days)
        out[cal] = {
            "start": str(days[0]),
            "end": str(days[-1]),
            "closed_weekdays": [str(d) for d in days[weekday & ~open_]],
            "weekend_sessions": [str(d) for d in days[~weekday & open_]],
        }
    target = Path(path) if path is not None else Path(__file__).with_name(_TABLE)
    doc = {
        "about": "Exchange sessions for exchina_index.calendar: weekdays without a session and weekend "
                 "sessions per calendar. Generated by exchina_index.calendar.write_session_table.",
        "generated_with": f"exchange_calendars {xc.__version__}",
        "calendars": out,
    }
    tmp = target.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc, indent=0, sort_keys=True) + "\n", encoding="utf-8")
    tmp.replace(target)
    return target


if __name__ == "__main__":  # pragma: no cover
    print(write_session_table())
