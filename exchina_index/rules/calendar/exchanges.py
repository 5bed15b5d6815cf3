"""Trading sessions of the exchanges a listing trades on (ISO 10383 MICs).

:func:`sessions` gives the sessions of a listing's exchange, used for the demo market and for
stale-price detection. Several MICs share one calendar (see :data:`MIC_CALENDAR`: OTC Markets and
NYSE American/Nasdaq trade on the NYSE calendar, TSXV and the CSE on the TSX calendar, Shenzhen on
the Shanghai calendar).

Where sessions come from, for any date (never an error):

1. a table bundled with the package (``exchange_sessions.json``: per calendar, the weekdays the
   exchange is closed and any weekend sessions, from 2000-01-01 to 2035-12-31 or to the last date
   exchange_calendars knows for that exchange). It was generated with ``exchange_calendars`` (see
   :func:`~exchina_index.rules.calendar.table.write_session_table`) because building the calendars
   at run time costs about 1.5 s (0.3-1 s to import the library, 0.05-1.2 s per exchange) while
   reading the table takes milliseconds;
2. outside the table but inside what exchange_calendars knows for that calendar (rule-based
   calendars such as XNYS have no limit; calendars of precomputed holidays such as XSHG end where
   the holidays are published: :func:`known_range`), ``exchange_calendars`` itself, imported
   lazily and cached by whole years;
3. beyond that, **weekdays** (Monday to Friday, no holidays). :func:`extrapolation_notes` says so in
   one line per calendar; :class:`~exchina_index.data.market.MarketData` adds those lines to its
   ``notes`` for the exchanges and dates of its data.

Why weekdays rather than the dates found in the data: the same rule then serves every caller (the
review schedule and the demo generator have no data; the Yahoo loader needs the sessions before it
has the data), and a listing's own dates cannot show that it stopped trading (a halted line would
never look stale). Weekdays count an unknown holiday as a session, which can only make a price look
older by the holiday's length (a week at most, below the rulebook's stale limit of 10 sessions); it
concerns only calendars whose holidays are not published yet (today XSHG/XSHE after 2026, which the
ex-China screen excludes anyway).

A test checks the table against ``exchange_calendars``; regenerate it with
``python -m exchina_index.rules.calendar`` when exchanges announce new holidays or a new
exchange_calendars release knows more years.

All dates are tz-naive midnight Timestamps (the exchange-local calendar date).
"""

from __future__ import annotations

import datetime
import functools
import json
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from typing import Any

import numpy as np
import pandas as pd

from exchina_index.dates import parse_date
from exchina_index.errors import DataError

__all__ = [
    "MIC_CALENDAR",
    "TABLE_FILE",
    "SESSION_UNIT",
    "calendar_of",
    "sessions",
    "known_range",
    "extrapolation_notes",
    "session_days",
    "calendar_day",
    "year_of",
]

#: Exchange MIC -> the exchange_calendars calendar used for its sessions.
MIC_CALENDAR: dict[str, str] = {
    "XNYS": "XNYS",
    "XNAS": "XNYS",
    "XASE": "XNYS",
    "OTCM": "XNYS",
    "XTSE": "XTSE",
    "XTSX": "XTSE",
    "XCNQ": "XTSE",
    "XASX": "XASX",
    "XLON": "XLON",
    "XTKS": "XTKS",
    "XBRU": "XBRU",
    "XAMS": "XAMS",
    "XPAR": "XPAR",
    "XETR": "XETR",
    "XSTO": "XSTO",
    "XOSL": "XOSL",
    "XHEL": "XHEL",
    "XKRX": "XKRX",
    "XSHG": "XSHG",
    "XSHE": "XSHG",
    "XHKG": "XHKG",
}
#: The bundled session table, a data file of the ``exchina_index.rules`` package.
TABLE_FILE = "exchange_sessions.json"
#: The resolution of the session dates returned (``datetime64[us]``, as pandas makes from dates).
SESSION_UNIT = "us"

_DAY = np.timedelta64(1, "D")


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

    Any dates work: outside what the bundled table and ``exchange_calendars`` know for the
    calendar (:func:`known_range`) the sessions are the weekdays, Monday to Friday
    (:func:`extrapolation_notes` says where).

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

    Raises
    ------
    DataError
        ``mic`` has no calendar.
    ReviewDateError
        ``start`` or ``end`` is not a date.

    Examples
    --------
    >>> sessions("XNYS", "2026-06-17", "2026-06-22").strftime("%Y-%m-%d").tolist()
    ['2026-06-17', '2026-06-18', '2026-06-22']
    >>> sessions("XSHG", "2027-10-01", "2027-10-05").strftime("%Y-%m-%d").tolist()  # weekdays
    ['2027-10-01', '2027-10-04', '2027-10-05']
    """
    cal = calendar_of(mic)
    lo, hi = calendar_day(start), calendar_day(end)
    if hi < lo:
        return pd.DatetimeIndex([], dtype=f"datetime64[{SESSION_UNIT}]", name="date")
    return pd.DatetimeIndex(session_days(cal, lo, hi).astype(f"datetime64[{SESSION_UNIT}]"), name="date")


def known_range(mic: str) -> tuple[pd.Timestamp | None, pd.Timestamp | None]:
    """First and last date whose sessions exchange_calendars knows for ``mic``'s calendar.

    Read from the bundled table (no import of ``exchange_calendars``). ``None`` means no limit on
    that side: the calendar follows rules that exchange_calendars computes for any year (XNYS,
    XLON...). Outside the range :func:`sessions` uses weekdays.

    Examples
    --------
    >>> known_range("XSHE")
    (Timestamp('1990-12-03 00:00:00'), Timestamp('2026-12-31 00:00:00'))
    >>> known_range("XNYS")
    (None, None)
    """
    c = _bundled().calendars[calendar_of(mic)]
    return (
        None if c.bound_min is None else pd.Timestamp(c.bound_min),
        None if c.bound_max is None else pd.Timestamp(c.bound_max),
    )


def extrapolation_notes(mics: Iterable[str], start: Any, end: Any) -> list[str]:
    """One line per calendar whose sessions in [start, end] are (partly) weekdays, for notes.

    Parameters
    ----------
    mics
        Exchange MICs (duplicates, ``""`` and MICs without a calendar are ignored: they have no
        sessions to extrapolate).
    start, end
        The date range (inclusive).

    Returns
    -------
    list of str
        Sorted by calendar; empty when every session in the range comes from the exchange's own
        calendar. Each line names the calendar, the MICs that use it, the dates and why.

    Examples
    --------
    >>> extrapolation_notes(["XNYS", "XSHE", "XSHG"], "2026-01-01", "2026-12-31")
    []
    >>> print(extrapolation_notes(["XNYS", "XSHE"], "2026-01-01", "2027-06-30")[0])  # doctest: +ELLIPSIS
    XSHG sessions from 2027-01-01 to 2027-06-30 are weekdays (Monday to Friday, holidays unknown; \
used for XSHE): exchange_calendars ... knows that calendar only to 2026-12-31...
    """
    lo, hi = calendar_day(start), calendar_day(end)
    users: dict[str, set[str]] = {}
    for mic in mics:
        if mic in MIC_CALENDAR:
            users.setdefault(MIC_CALENDAR[mic], set()).add(mic)
    notes = []
    table = _bundled().calendars
    for cal in sorted(users):
        if hi < lo or (table[cal].start <= lo and hi <= table[cal].end):
            continue  # inside the table: nothing extrapolated, no need to build anything
        for a, b, why in _resolve(cal, lo, hi)[1]:
            notes.append(
                f"{cal} sessions from {a} to {b} are weekdays (Monday to Friday, holidays unknown; used for "
                f"{', '.join(sorted(users[cal]))}): {why}"
            )
    return notes


def session_days(cal: str, lo: np.datetime64, hi: np.datetime64) -> np.ndarray:
    """Session days (``datetime64[D]``, sorted, read-only) of calendar ``cal`` in [lo, hi], lo <= hi."""
    return _resolve(cal, lo, hi)[0]


def calendar_day(value: Any, what: str = "date") -> np.datetime64:
    """``value`` (any date :func:`~exchina_index.dates.parse_date` accepts) as a ``datetime64[D]``."""
    return np.datetime64(parse_date(value, what).date(), "D")


def year_of(day: np.datetime64) -> int:
    """The calendar year of a ``datetime64`` day."""
    return day.astype(object).year


@dataclass(frozen=True)
class _Calendar:
    """One calendar of the bundled table."""

    start: np.datetime64  # the table covers [start, end]
    end: np.datetime64
    bound_min: np.datetime64 | None  # what exchange_calendars knows (None: no limit)
    bound_max: np.datetime64 | None
    closed: np.ndarray  # weekdays without a session (datetime64[D])
    weekend: np.ndarray  # weekend days with a session


@dataclass(frozen=True)
class _Table:
    generated_with: str  # "exchange_calendars 4.13.2"
    calendars: dict[str, _Calendar]


def _date_or_none(text: str | None) -> np.datetime64 | None:
    return None if text is None else np.datetime64(text, "D")


@functools.cache
def _bundled() -> _Table:
    text = (resources.files("exchina_index.rules") / TABLE_FILE).read_text(encoding="utf-8")
    doc = json.loads(text)
    return _Table(
        doc["generated_with"],
        {
            name: _Calendar(
                np.datetime64(c["start"], "D"),
                np.datetime64(c["end"], "D"),
                _date_or_none(c["bound_min"]),
                _date_or_none(c["bound_max"]),
                np.array(c["closed_weekdays"], dtype="datetime64[D]"),
                np.array(c["weekend_sessions"], dtype="datetime64[D]"),
            )
            for name, c in doc["calendars"].items()
        },
    )


_Span = tuple[np.datetime64, np.datetime64, str]  # (first, last, why) of dates filled with weekdays


@functools.lru_cache(maxsize=64)
def _resolve(cal: str, lo: np.datetime64, hi: np.datetime64) -> tuple[np.ndarray, tuple[_Span, ...]]:
    """Session days (datetime64[D], read-only) of ``cal`` in [lo, hi] (lo <= hi), and the spans
    of weekdays used where the calendar is not known. :func:`sessions` and
    :func:`extrapolation_notes` both read this, so a note is given exactly where weekdays are used."""
    table = _bundled()
    c = table.calendars[cal]
    parts: list[np.ndarray] = []
    spans: list[_Span] = []

    def weekdays(a: np.datetime64, b: np.datetime64, why: str) -> None:
        parts.append(_weekdays(a, b))
        spans.append((a, b, why))

    def library(a: np.datetime64, b: np.datetime64, build_lo: np.datetime64, build_hi: np.datetime64) -> None:
        """[a, b], outside the table but inside the calendar's bounds: exchange_calendars itself,
        built over [build_lo, build_hi] (whole years up to the table) so that callers share builds."""
        got = _library_days(cal, build_lo, build_hi)
        if isinstance(got, str):
            weekdays(a, b, f"exchange_calendars could not build that calendar ({got})")
        else:
            parts.append(got[(got >= a) & (got <= b)])

    known = f"{table.generated_with} knows that calendar only"
    if c.bound_min is not None and lo < c.bound_min:
        weekdays(lo, min(hi, c.bound_min - _DAY), f"{known} from {c.bound_min}")
    a, b = max(lo, _far(c.bound_min, -1)), min(hi, c.start - _DAY)
    if a <= b:
        first_year = np.datetime64(datetime.date(year_of(a), 1, 1), "D")
        library(a, b, max(_far(c.bound_min, -1), first_year), c.start - _DAY)
    a, b = max(lo, c.start), min(hi, c.end)
    if a <= b:
        days = np.arange(a, b + _DAY, dtype="datetime64[D]")
        weekday = np.is_busday(days)
        keep = (weekday & ~np.isin(days, c.closed)) | (~weekday & np.isin(days, c.weekend))
        parts.append(days[keep])
    a, b = max(lo, c.end + _DAY), min(hi, _far(c.bound_max, 1))
    if a <= b:
        last_year = np.datetime64(datetime.date(year_of(b), 12, 31), "D")
        library(a, b, c.end + _DAY, min(_far(c.bound_max, 1), last_year))
    if c.bound_max is not None and hi > c.bound_max:
        weekdays(
            max(lo, c.bound_max + _DAY),
            hi,
            f"{known} to {c.bound_max}; a newer release and `python -m exchina_index.rules.calendar` may extend it",
        )
    out = np.concatenate(parts) if parts else np.array([], dtype="datetime64[D]")
    out.flags.writeable = False
    return out, tuple(spans)


def _far(bound: np.datetime64 | None, side: int) -> np.datetime64:
    """``bound``, or a date beyond any range a caller can ask for when there is no bound."""
    if bound is not None:
        return bound
    return np.datetime64("0001-01-01", "D") if side < 0 else np.datetime64("9999-12-31", "D")


def _weekdays(a: np.datetime64, b: np.datetime64) -> np.ndarray:
    days = np.arange(a, b + _DAY, dtype="datetime64[D]")
    return days[np.is_busday(days)]


@functools.lru_cache(maxsize=64)
def _library_days(cal: str, lo: np.datetime64, hi: np.datetime64) -> np.ndarray | str:
    """Sessions of ``cal`` in [lo, hi] from exchange_calendars, or why it could not build them."""
    try:
        # the library's own deprecation warnings (pandas 3) are not the caller's: silenced, so the
        # sessions do not depend on the warning filters in force (with "error" they were weekdays)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import exchange_calendars as xc  # slow import (0.3-1 s): only outside the bundled table

            c = xc.get_calendar(cal, start=str(lo), end=str(hi))
            days = c.sessions.to_numpy().astype("datetime64[D]")
    except Exception as exc:  # noqa: BLE001 - any failure (not installed, out of bounds...) means weekdays
        return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}".rstrip(": ")
    days.flags.writeable = False
    return days
