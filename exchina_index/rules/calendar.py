"""Exchange session calendars and the review schedule.

Two jobs:

* :func:`sessions` gives the trading sessions of a listing's exchange (an ISO 10383 MIC), used for
  the demo market and for stale-price detection. Several MICs share one calendar (see
  :data:`MIC_CALENDAR`: OTC Markets and NYSE American/Nasdaq trade on the NYSE calendar, TSXV and
  the CSE on the TSX calendar, Shenzhen on the Shanghai calendar).
* :func:`review_dates` / :func:`review_for` derive the quarterly review schedule from the rulebook's
  ``[schedule]`` section on the ``schedule.calendar`` exchange (NYSE by default).

Where sessions come from, for any date (never an error):

1. a table bundled with the package (``exchange_sessions.json``: per calendar, the weekdays the
   exchange is closed and any weekend sessions, from 2000-01-01 to 2035-12-31 or to the last date
   exchange_calendars knows for that exchange). It was generated with ``exchange_calendars`` (see
   :func:`write_session_table`) because building the calendars at run time costs about 1.5 s
   (0.3-1 s to import the library, 0.05-1.2 s per exchange) while reading the table takes
   milliseconds;
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

import argparse
import datetime
import functools
import json
import time
import warnings
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Sequence

import numpy as np
import pandas as pd

from exchina_index.dates import parse_date
from exchina_index.errors import DataError, MethodologyError, ReviewDateError
from exchina_index.rules.methodology import resolve_methodology

if TYPE_CHECKING:  # pragma: no cover
    from exchina_index.rules.methodology import Methodology

__all__ = [
    "MIC_CALENDAR", "sessions", "calendar_of", "known_range", "extrapolation_notes", "review_dates",
    "review_for", "REVIEW_COLUMNS", "write_session_table",
]

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
_TABLE_START, _TABLE_END = "2000-01-01", "2035-12-31"
_UNIT = "us"
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
    lo, hi = _day(start), _day(end)
    if hi < lo:
        return pd.DatetimeIndex([], dtype=f"datetime64[{_UNIT}]", name="date")
    days = _resolve(cal, lo, hi)[0]
    return pd.DatetimeIndex(days.astype(f"datetime64[{_UNIT}]"), name="date")


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
    return (None if c.bound_min is None else pd.Timestamp(c.bound_min),
            None if c.bound_max is None else pd.Timestamp(c.bound_max))


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
    lo, hi = _day(start), _day(end)
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


def _day(value: Any, what: str = "date") -> np.datetime64:
    return np.datetime64(parse_date(value, what).date(), "D")


@dataclass(frozen=True)
class _Calendar:
    """One calendar of the bundled table."""

    start: np.datetime64                # the table covers [start, end]
    end: np.datetime64
    bound_min: np.datetime64 | None     # what exchange_calendars knows (None: no limit)
    bound_max: np.datetime64 | None
    closed: np.ndarray                  # weekdays without a session (datetime64[D])
    weekend: np.ndarray                 # weekend days with a session


@dataclass(frozen=True)
class _Table:
    generated_with: str                 # "exchange_calendars 4.13.2"
    calendars: dict[str, _Calendar]


def _date_or_none(text: str | None) -> np.datetime64 | None:
    return None if text is None else np.datetime64(text, "D")


@functools.lru_cache(maxsize=None)
def _bundled() -> _Table:
    text = (resources.files("exchina_index.rules") / _TABLE).read_text(encoding="utf-8")
    doc = json.loads(text)
    return _Table(doc["generated_with"], {
        name: _Calendar(
            np.datetime64(c["start"], "D"), np.datetime64(c["end"], "D"),
            _date_or_none(c["bound_min"]), _date_or_none(c["bound_max"]),
            np.array(c["closed_weekdays"], dtype="datetime64[D]"),
            np.array(c["weekend_sessions"], dtype="datetime64[D]"),
        )
        for name, c in doc["calendars"].items()
    })


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
        library(a, b, max(_far(c.bound_min, -1), np.datetime64(datetime.date(_year(a), 1, 1), "D")), c.start - _DAY)
    a, b = max(lo, c.start), min(hi, c.end)
    if a <= b:
        days = np.arange(a, b + _DAY, dtype="datetime64[D]")
        weekday = np.is_busday(days)
        keep = (weekday & ~np.isin(days, c.closed)) | (~weekday & np.isin(days, c.weekend))
        parts.append(days[keep])
    a, b = max(lo, c.end + _DAY), min(hi, _far(c.bound_max, 1))
    if a <= b:
        library(a, b, c.end + _DAY, min(_far(c.bound_max, 1), np.datetime64(datetime.date(_year(b), 12, 31), "D")))
    if c.bound_max is not None and hi > c.bound_max:
        weekdays(max(lo, c.bound_max + _DAY), hi, f"{known} to {c.bound_max}; a newer release and "
                 "`python -m exchina_index.rules.calendar` may extend it")
    out = np.concatenate(parts) if parts else np.array([], dtype="datetime64[D]")
    out.flags.writeable = False
    return out, tuple(spans)


def _far(bound: np.datetime64 | None, side: int) -> np.datetime64:
    """``bound``, or a date beyond any range a caller can ask for when there is no bound."""
    if bound is not None:
        return bound
    return np.datetime64("0001-01-01", "D") if side < 0 else np.datetime64("9999-12-31", "D")


def _year(day: np.datetime64) -> int:
    return day.astype(object).year


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
    methodology = resolve_methodology(methodology)
    lo, hi = _day(start, "start"), _day(end, "end")
    sch = methodology.schedule
    if hi < lo:
        return _empty_reviews()
    y0, y1 = _year(lo), _year(hi)
    # sessions wide enough for the previous month's cut-off and the next session after implementation
    s_lo = np.datetime64(datetime.date(y0, 1, 1), "D") - np.timedelta64(70, "D")
    s_hi = np.datetime64(datetime.date(y1, 12, 31), "D") + np.timedelta64(15, "D")
    days = _resolve(calendar_of(sch.calendar), s_lo, s_hi)[0]
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
            if proforma <= announce:  # pro-forma weights published before the review is announced
                raise MethodologyError(
                    f"key 'schedule.proforma_sessions': {sch.proforma_sessions} pro-forma sessions up to the "
                    f"implementation on {implement} start on {proforma}, not after the announcement on {announce}; "
                    "lower schedule.proforma_sessions or announce earlier (schedule.announcement_week)",
                    path=methodology.source)
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
    methodology = resolve_methodology(methodology)
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


def write_session_table(
    path: str | Path | None = None,
    start: str = _TABLE_START,
    end: str = _TABLE_END,
    *,
    calendars: Sequence[str] | None = None,
) -> Path:
    """Regenerate the bundled session table from ``exchange_calendars`` (maintainers only).

    For every calendar of :data:`MIC_CALENDAR` (or of ``calendars``) it stores the weekdays
    without a session and the weekend days with one, between ``start`` and ``end`` clipped to the
    calendar's own bounds, and those bounds (``null`` when the calendar has none). Run it as
    ``python -m exchina_index.rules.calendar`` (``--help`` for the options).

    Parameters
    ----------
    path
        Where to write (default: the bundled ``exchange_sessions.json`` beside this module). The
        file is replaced atomically.
    start, end
        The dates the table covers (ISO dates).
    calendars
        Calendar names (default: all of :data:`MIC_CALENDAR`).

    Returns
    -------
    pathlib.Path
        The file written.
    """
    import exchange_calendars as xc

    out: dict[str, Any] = {}
    for cal in sorted(set(MIC_CALENDAR.values()) if calendars is None else set(calendars)):
        kind = type(xc.get_calendar(cal, start="2020-01-01", end="2020-12-31"))  # bounds are class methods
        bound_min, bound_max = kind.bound_min(), kind.bound_max()
        lo, hi = pd.Timestamp(start), pd.Timestamp(end)
        if bound_min is not None:
            lo = max(lo, bound_min)
        if bound_max is not None:
            hi = min(hi, bound_max)
        got = xc.get_calendar(cal, start=lo, end=hi).sessions.to_numpy().astype("datetime64[D]")
        days = np.arange(np.datetime64(lo.date(), "D"), np.datetime64(hi.date(), "D") + 1, dtype="datetime64[D]")
        open_ = np.isin(days, got)
        weekday = np.is_busday(days)
        out[cal] = {
            "start": str(days[0]),
            "end": str(days[-1]),
            "bound_min": None if bound_min is None else bound_min.date().isoformat(),
            "bound_max": None if bound_max is None else bound_max.date().isoformat(),
            "closed_weekdays": [str(d) for d in days[weekday & ~open_]],
            "weekend_sessions": [str(d) for d in days[~weekday & open_]],
        }
    target = Path(path) if path is not None else Path(__file__).with_name(_TABLE)
    doc = {
        "about": "Exchange sessions for exchina_index.rules.calendar: per calendar, the dates covered, the bounds "
                 "exchange_calendars knows (null: none), weekdays without a session and weekend sessions. "
                 "Generated by `python -m exchina_index.rules.calendar`.",
        "generated_with": f"exchange_calendars {xc.__version__}",
        "calendars": out,
    }
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.write_text(json.dumps(doc, indent=0, sort_keys=True) + "\n", encoding="utf-8")
    tmp.replace(target)
    return target


def _iso_date(text: str) -> str:
    try:
        return datetime.date.fromisoformat(text).isoformat()
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a date; use YYYY-MM-DD") from None


def _main(argv: Sequence[str] | None = None) -> int:
    """``python -m exchina_index.rules.calendar``: regenerate the session table and say what it holds."""
    parser = argparse.ArgumentParser(
        prog="python -m exchina_index.rules.calendar",
        description="Regenerate the bundled exchange session table from the installed exchange_calendars.",
    )
    parser.add_argument("--out", default=None, help="file to write (default: the bundled table in the package)")
    parser.add_argument("--start", default=_TABLE_START, type=_iso_date, help=f"first date (default {_TABLE_START})")
    parser.add_argument("--end", default=_TABLE_END, type=_iso_date, help=f"last date (default {_TABLE_END})")
    args = parser.parse_args(argv)
    target = Path(args.out) if args.out is not None else Path(__file__).with_name(_TABLE)
    try:
        before = json.loads(target.read_text(encoding="utf-8"))["calendars"]
    except (OSError, ValueError, KeyError, TypeError):  # no table yet, or not one: everything is new
        before = {}
    t0 = time.perf_counter()
    path = write_session_table(target, args.start, args.end)
    doc = json.loads(path.read_text(encoding="utf-8"))
    print(f"wrote {path} ({path.stat().st_size / 1024:.0f} KiB) from {doc['generated_with']} "
          f"in {time.perf_counter() - t0:.1f} s:")
    for cal, c in sorted(doc["calendars"].items()):
        limit = "" if c["end"] >= args.end else (
            f"; exchange_calendars knows it only to {c['bound_max']}: weekdays after")
        change = "new" if cal not in before else "unchanged" if before[cal] == c else "changed"
        print(f"  {cal}  {c['start']} to {c['end']}  {len(c['closed_weekdays'])} weekday holidays, "
              f"{len(c['weekend_sessions'])} weekend sessions ({change}{limit})")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(_main())
