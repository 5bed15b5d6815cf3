"""Exchange session calendars and the review schedule.

* :mod:`~exchina_index.rules.calendar.exchanges`: the trading sessions of each exchange (MIC), from
  the bundled table, ``exchange_calendars`` or weekdays (:func:`sessions`, :func:`known_range`,
  :func:`extrapolation_notes`);
* :mod:`~exchina_index.rules.calendar.reviews`: the quarterly review dates derived from the
  rulebook's ``[schedule]`` (:func:`review_dates`, :func:`review_for`);
* :mod:`~exchina_index.rules.calendar.table`: regenerating the bundled table, run as
  ``python -m exchina_index.rules.calendar``.
"""

from exchina_index.rules.calendar.exchanges import MIC_CALENDAR, calendar_of, extrapolation_notes, known_range, sessions
from exchina_index.rules.calendar.reviews import REVIEW_COLUMNS, review_dates, review_for

__all__ = [
    "MIC_CALENDAR",
    "sessions",
    "calendar_of",
    "known_range",
    "extrapolation_notes",
    "review_dates",
    "review_for",
    "REVIEW_COLUMNS",
]
