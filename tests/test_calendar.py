"""Review schedule and exchange sessions, checked against independent references.

Third Fridays come from the standard-library ``calendar`` module; sessions and holidays from
``exchange_calendars`` directly (the package reads a bundled table generated from it).
"""

from __future__ import annotations

import calendar as pycal
import datetime

import exchange_calendars as xc
import numpy as np
import pandas as pd
import pytest

from exchina_index.calendar import MIC_CALENDAR, REVIEW_COLUMNS, review_dates, review_for, sessions
from exchina_index.errors import DataError, ReviewDateError
from exchina_index.methodology import load_methodology


@pytest.fixture(scope="module")
def method():
    return load_methodology()


@pytest.fixture(scope="module")
def nyse() -> pd.DatetimeIndex:
    return xc.get_calendar("XNYS", start="2018-10-01", end="2027-01-31").sessions


def nth_friday(year: int, month: int, n: int) -> datetime.date:
    fridays = [d for d in pycal.Calendar().itermonthdates(year, month) if d.month == month and d.weekday() == pycal.FRIDAY]
    return fridays[n - 1]


def on_or_before(sessions_: pd.DatetimeIndex, day: datetime.date) -> pd.Timestamp:
    return sessions_[sessions_ <= pd.Timestamp(day)][-1]


def test_review_dates_2019_2026_against_independent_references(method, nyse) -> None:
    got = review_dates(method, "2019-01-01", "2026-12-31")
    assert list(got.columns) == list(REVIEW_COLUMNS)
    assert len(got) == 32
    adjusted = []
    for k, (year, month) in enumerate((y, m) for y in range(2019, 2027) for m in (3, 6, 9, 12)):
        row = got.iloc[k]
        third = nth_friday(year, month, 3)
        expected = on_or_before(nyse, third)
        if expected != pd.Timestamp(third):
            adjusted.append(third)
        assert row["implement"] == expected, (year, month)
        assert row["announce"] == on_or_before(nyse, nth_friday(year, month, 2))
        first_of_month = pd.Timestamp(year, month, 1)
        assert row["cutoff"] == nyse[nyse < first_of_month][-1]
        pos = nyse.get_loc(expected)
        assert row["proforma"] == nyse[pos - 2]  # 3 pro-forma sessions up to implementation
        assert row["effective"] == nyse[pos + 1]
    assert adjusted == [datetime.date(2026, 6, 19)]  # Juneteenth 2026 falls on the third Friday


def test_known_dates(method) -> None:
    d = review_dates(method, "2026-06-01", "2026-06-30").iloc[0]
    assert d["implement"] == pd.Timestamp("2026-06-18")  # Juneteenth Friday -> Thursday
    assert d["effective"] == pd.Timestamp("2026-06-22")
    assert d["cutoff"] == pd.Timestamp("2026-05-29")
    d = review_dates(method, "2022-06-01", "2022-06-30").iloc[0]
    assert d["implement"] == pd.Timestamp("2022-06-17")  # Juneteenth 2022 observed on Monday 20th
    assert d["effective"] == pd.Timestamp("2022-06-21")
    d = review_dates(method, "2024-06-01", "2024-06-30").iloc[0]
    assert d["proforma"] == pd.Timestamp("2024-06-18")  # Juneteenth Wednesday is skipped


def test_range_is_on_implementation_dates(method) -> None:
    assert review_dates(method, "2025-12-19", "2025-12-19")["implement"].tolist() == [pd.Timestamp("2025-12-19")]
    assert review_dates(method, "2025-12-20", "2026-03-19").empty
    assert review_dates(method, "2026-01-01", "2025-01-01").empty


def test_cutoff_can_be_the_announcement(method) -> None:
    m2 = method.with_overrides({"schedule": {"cutoff": "announcement"}})
    d = review_dates(m2, "2025-01-01", "2025-12-31")
    assert (d["cutoff"] == d["announce"]).all()


def test_review_for(method) -> None:
    assert review_for(method, "2025-12-19")["implement"] == pd.Timestamp("2025-12-19")
    row = review_for(method, "2025-12-20")
    assert row.name == pd.Timestamp("2026-03-20") and row["cutoff"] == pd.Timestamp("2026-02-27")
    shanghai = method.with_overrides({"schedule": {"calendar": "XSHG"}})
    with pytest.raises(ReviewDateError, match="2026-12-20"):
        review_for(shanghai, "2026-12-20")  # exchange_calendars knows XSHG only up to 2026-12-31
    with pytest.raises(ReviewDateError, match="not-a-date"):
        review_for(method, "not-a-date")


def test_sessions_mapping_and_bounds() -> None:
    nyse = sessions("XNYS", "2025-01-01", "2025-12-31")
    assert nyse.name == "date" and nyse.tz is None
    assert sessions("OTCM", "2025-01-01", "2025-12-31").equals(nyse)
    assert sessions("XCNQ", "2025-01-01", "2025-12-31").equals(sessions("XTSE", "2025-01-01", "2025-12-31"))
    assert sessions("XSHE", "2025-01-01", "2025-12-31").equals(sessions("XSHG", "2025-01-01", "2025-12-31"))
    assert pd.Timestamp("2025-01-09") not in nyse  # national day of mourning
    assert sessions("XNYS", "2025-01-05", "2025-01-04").empty
    with pytest.raises(DataError, match="XXXX"):
        sessions("XXXX", "2025-01-01", "2025-01-31")


# XKRX is left out: exchange_calendars takes about 20 s to build it (no universe listing uses it).
@pytest.mark.parametrize("cal", sorted(set(MIC_CALENDAR.values()) - {"XKRX"}))
def test_bundled_table_matches_exchange_calendars(cal: str) -> None:
    ref = xc.get_calendar(cal, start="2015-01-01", end="2026-09-30").sessions
    got = sessions(cal, "2015-01-01", "2026-09-30")
    np.testing.assert_array_equal(got.to_numpy().astype("datetime64[D]"), ref.to_numpy().astype("datetime64[D]"))


def test_dates_outside_the_table_fall_back_to_exchange_calendars() -> None:
    got = sessions("XNYS", "1995-12-20", "1996-01-10")
    ref = xc.get_calendar("XNYS", start="1995-12-20", end="1996-01-10").sessions
    np.testing.assert_array_equal(got.to_numpy().astype("datetime64[D]"), ref.to_numpy().astype("datetime64[D]"))
