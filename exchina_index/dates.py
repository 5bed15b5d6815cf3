"""The one date parser of the public API: every function that takes a date goes through
:func:`parse_date`, so ``"28/11/2025"``, ``20251128`` or ``"2024-W01-1"`` are refused the same way
everywhere instead of being read day-first, as nanoseconds since 1970 or as an ISO week.

Accepted: an ISO date string ``YYYY-MM-DD`` (exactly that form), a :class:`datetime.date` or
:class:`datetime.datetime`, a :class:`pandas.Timestamp` and a :class:`numpy.datetime64`. The
result is the calendar date as a tz-naive midnight :class:`pandas.Timestamp` (a time of day is
dropped; a tz-aware value keeps its local date). Dates must lie in [:data:`MIN_DATE`,
:data:`MAX_DATE`].
"""

from __future__ import annotations

import datetime
import re
from typing import Any

import numpy as np
import pandas as pd

from exchina_index.errors import ReviewDateError, short_repr

__all__ = ["parse_date", "MIN_DATE", "MAX_DATE", "ACCEPTED"]

#: The range of dates the package works with (exchange calendars, review schedules).
MIN_DATE = datetime.date(1900, 1, 1)
MAX_DATE = datetime.date(2200, 12, 31)
#: What :func:`parse_date` accepts, for error messages.
ACCEPTED = "an ISO date 'YYYY-MM-DD', a datetime.date, a pandas Timestamp or a numpy datetime64"

_ISO = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def parse_date(value: Any, what: str = "date") -> pd.Timestamp:
    """The calendar date of ``value`` as a tz-naive midnight Timestamp.

    Parameters
    ----------
    value
        ``"YYYY-MM-DD"``, a ``datetime.date``/``datetime.datetime``, a ``pandas.Timestamp`` or a
        ``numpy.datetime64``. Integers, floats, other string forms (``"28/11/2025"``,
        ``"20251128"``, ``"2024-W01-1"``) and missing values (``None``, ``NaT``) are refused.
    what
        The argument's name, for the message (``"as_of"``, ``"start"``...).

    Raises
    ------
    ReviewDateError
        Naming ``what``, the value and the accepted forms.

    Examples
    --------
    >>> parse_date("2025-11-28", "as_of").date().isoformat()
    '2025-11-28'
    >>> parse_date("28/11/2025", "as_of")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    exchina_index.errors.ReviewDateError: as_of: '28/11/2025' is not a date; give an ISO date 'YYYY-MM-DD', ...
    """
    day = _day(value, what)
    if not MIN_DATE <= day <= MAX_DATE:
        raise ReviewDateError(
            f"{what}: {day.isoformat()} is outside the dates the package handles "
            f"({MIN_DATE.isoformat()} to {MAX_DATE.isoformat()}); check the year"
        )
    return pd.Timestamp(day.isoformat())


def _day(value: Any, what: str) -> datetime.date:
    def refuse(why: str = "is not a date") -> ReviewDateError:
        return ReviewDateError(f"{what}: {short_repr(value, 60)} {why}; give {ACCEPTED}")

    if value is None or value is pd.NaT:
        raise refuse("is missing")
    if isinstance(value, str):
        text = value.strip()
        if not _ISO.fullmatch(text):
            raise refuse()
        try:
            return datetime.date.fromisoformat(text)
        except ValueError:
            raise refuse("is not a date (no such calendar day)") from None
    if isinstance(value, pd.Timestamp):  # before datetime.datetime: Timestamp subclasses it
        return value.tz_localize(None).date() if value.tzinfo is not None else value.date()
    if isinstance(value, datetime.datetime):
        return value.date()  # the wall-clock date, also for a tz-aware value
    if isinstance(value, datetime.date):
        return value
    if isinstance(value, np.datetime64):
        if np.isnat(value):
            raise refuse("is missing")
        day = value.astype("datetime64[D]").astype(object)  # int when outside datetime.date's range
        if not isinstance(day, datetime.date):
            raise refuse("is outside the dates the package handles")
        return day
    raise refuse(f"is of type {type(value).__name__}, not a date")
