"""The quarterly review schedule, from the rulebook's ``[schedule]`` section.

:func:`review_dates` lists the reviews of a date range and :func:`review_for` finds the review of a
date, on the sessions of the ``schedule.calendar`` exchange (NYSE by default, see
:mod:`~exchina_index.rules.calendar.exchanges`). All dates are tz-naive midnight Timestamps.
"""

from __future__ import annotations

import datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from exchina_index.errors import DataError, MethodologyError, ReviewDateError
from exchina_index.rules.calendar.exchanges import SESSION_UNIT, calendar_day, calendar_of, session_days, year_of
from exchina_index.rules.methodology import resolve_methodology

if TYPE_CHECKING:  # pragma: no cover
    from exchina_index.rules.methodology import Methodology
    from exchina_index.rules.sections import Schedule

__all__ = ["REVIEW_COLUMNS", "review_dates", "review_for"]

#: Columns of :func:`review_dates`, in order.
REVIEW_COLUMNS: tuple[str, ...] = ("cutoff", "announce", "proforma", "implement", "effective")

_Review = tuple[np.datetime64, np.datetime64, np.datetime64, np.datetime64, np.datetime64]  # REVIEW_COLUMNS


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

    Raises
    ------
    MethodologyError
        The pro-forma sessions would start before the review is announced.
    ReviewDateError
        ``start`` or ``end`` is not a date, or a review falls beyond the dates the package handles.

    Examples
    --------
    >>> import exchina_index as xi
    >>> d = review_dates(xi.load_methodology(), "2026-01-01", "2026-12-31")
    >>> d["implement"].dt.strftime("%Y-%m-%d").tolist()
    ['2026-03-20', '2026-06-18', '2026-09-18', '2026-12-18']
    """
    methodology = resolve_methodology(methodology)
    lo, hi = calendar_day(start, "start"), calendar_day(end, "end")
    sch = methodology.schedule
    if hi < lo:
        return _empty_reviews()
    y0, y1 = year_of(lo), year_of(hi)
    # sessions wide enough for the previous month's cut-off and the next session after implementation
    s_lo = np.datetime64(datetime.date(y0, 1, 1), "D") - np.timedelta64(70, "D")
    s_hi = np.datetime64(datetime.date(y1, 12, 31), "D") + np.timedelta64(15, "D")
    days = session_days(calendar_of(sch.calendar), s_lo, s_hi)
    rows = []
    for year in range(y0, y1 + 1):
        for month in sch.months:
            implement = _on_or_before(days, _nth_weekday(year, month, sch.weekday, sch.implementation_week))
            if lo <= implement <= hi:
                rows.append(_review(days, sch, year, month, implement, methodology.source))
    if not rows:
        return _empty_reviews()
    arr = np.array(rows, dtype="datetime64[D]").astype(f"datetime64[{SESSION_UNIT}]")
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
    day = calendar_day(date)
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


def _review(days: np.ndarray, sch: Schedule, year: int, month: int, implement: np.datetime64, source: str) -> _Review:
    """The dates of the review implemented on ``implement`` (a session of ``days``), in REVIEW_COLUMNS order."""
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
            path=source,
        )
    if k + 1 >= len(days):
        raise ReviewDateError(
            f"the session after the implementation date {implement} is beyond the "
            f"{sch.calendar} calendar; choose an end date before it"
        )
    return cutoff, announce, proforma, implement, days[k + 1]


def _empty_reviews() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=f"datetime64[{SESSION_UNIT}]") for c in REVIEW_COLUMNS})


def _nth_weekday(year: int, month: int, weekday: int, n: int) -> np.datetime64:
    first = datetime.date(year, month, 1)
    offset = (weekday - first.weekday()) % 7
    return np.datetime64(first + datetime.timedelta(days=offset + 7 * (n - 1)), "D")


def _on_or_before(days: np.ndarray, day: np.datetime64) -> np.datetime64:
    k = int(np.searchsorted(days, day, side="right")) - 1
    if k < 0:
        raise ReviewDateError(f"no session on or before {day}; choose a later date")
    return days[k]
