"""Review schedule and exchange sessions, checked against independent references.

Third Fridays and weekdays come from the standard library (``calendar``, ``datetime``); sessions,
holidays and calendar bounds from ``exchange_calendars`` directly (the package reads a bundled
table generated from it, and weekdays beyond what exchange_calendars knows).
"""

from __future__ import annotations

import calendar as pycal
import datetime
import json
import subprocess
import sys
from importlib import resources
from pathlib import Path

import exchange_calendars as xc
import numpy as np
import pandas as pd
import pytest

from exchina_index.errors import DataError, ReviewDateError
from exchina_index.rules.calendar import (
    MIC_CALENDAR,
    REVIEW_COLUMNS,
    extrapolation_notes,
    known_range,
    review_dates,
    review_for,
    sessions,
)
from exchina_index.rules.calendar import table as table_module
from exchina_index.rules.calendar.table import write_session_table
from exchina_index.rules.methodology import load_methodology


@pytest.fixture(scope="module")
def method():
    return load_methodology()


@pytest.fixture(scope="module")
def nyse() -> pd.DatetimeIndex:
    return xc.get_calendar("XNYS", start="2018-10-01", end="2027-01-31").sessions


def nth_friday(year: int, month: int, n: int) -> datetime.date:
    fridays = [
        d for d in pycal.Calendar().itermonthdates(year, month) if d.month == month and d.weekday() == pycal.FRIDAY
    ]
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
    # exchange_calendars knows XSHG only up to 2026-12-31: the next review comes from weekdays
    shanghai = method.with_overrides({"schedule": {"calendar": "XSHG"}})
    row = review_for(shanghai, "2026-12-20")
    assert row.name == pd.Timestamp("2027-03-19")  # March 2027 starts on a Monday: Fridays 5, 12, 19
    assert row["cutoff"] == pd.Timestamp("2027-02-26")  # Sunday 28 February: the Friday before
    assert row["effective"] == pd.Timestamp("2027-03-22")
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


def xc_days(cal: str, start: str, end: str) -> np.ndarray:
    return xc.get_calendar(cal, start=start, end=end).sessions.to_numpy().astype("datetime64[D]")


def days_of(index: pd.DatetimeIndex) -> np.ndarray:
    return index.to_numpy().astype("datetime64[D]")


def monday_to_friday(start: str, end: str) -> list[datetime.date]:
    """Weekdays by the standard library, independently of numpy's business-day functions."""
    d, last, out = datetime.date.fromisoformat(start), datetime.date.fromisoformat(end), []
    while d <= last:
        if d.weekday() < 5:
            out.append(d)
        d += datetime.timedelta(days=1)
    return out


def xc_bounds(cal: str) -> tuple[pd.Timestamp | None, pd.Timestamp | None]:
    kind = type(xc.get_calendar(cal, start="2020-01-01", end="2020-01-31"))
    return kind.bound_min(), kind.bound_max()


CALENDARS = sorted(set(MIC_CALENDAR.values()))
TABLE_END = "2035-12-31"  # the bundled table's last date (exchange_sessions.json, write_session_table)
# XKRX is left out where exchange_calendars must build it (about 2 s; no universe listing uses it)
BUILT = [c for c in CALENDARS if c != "XKRX"]
TABLE_VERSION = json.loads(
    (resources.files("exchina_index.rules") / "exchange_sessions.json").read_text(encoding="utf-8")
)["generated_with"]
#: Comparisons of the table with the installed library hold for the release that generated it.
same_release = pytest.mark.skipif(
    TABLE_VERSION != f"exchange_calendars {xc.__version__}",
    reason=f"the session table was generated with {TABLE_VERSION}, exchange_calendars {xc.__version__} is "
    "installed: regenerate it with `python -m exchina_index.rules.calendar`",
)


@same_release
@pytest.mark.parametrize("cal", BUILT)
def test_bundled_table_matches_exchange_calendars_over_its_whole_range(cal: str) -> None:
    _, bound_max = xc_bounds(cal)
    end = TABLE_END if bound_max is None else min(pd.Timestamp(TABLE_END), bound_max).date().isoformat()
    np.testing.assert_array_equal(days_of(sessions(cal, "2000-01-01", end)), xc_days(cal, "2000-01-01", end))


@same_release
@pytest.mark.parametrize("cal", BUILT)
def test_known_range_is_what_exchange_calendars_knows(cal: str) -> None:
    assert known_range(cal) == xc_bounds(cal)


@same_release
def test_known_range_examples() -> None:
    assert known_range("XSHE") == (pd.Timestamp("1990-12-03"), pd.Timestamp("2026-12-31"))
    assert known_range("XKRX") == (pd.Timestamp("1956-01-01"), pd.Timestamp("2050-12-31"))


def test_known_range_of_rule_based_and_unknown_exchanges() -> None:
    assert known_range("OTCM") == (None, None)  # NYSE rules: any year
    with pytest.raises(DataError, match="XXXX"):
        known_range("XXXX")


@pytest.mark.parametrize("cal", ["XSHG", "XHKG", "XKRX"])
def test_sessions_past_the_bound_are_exactly_monday_to_friday(cal: str) -> None:
    _, bound_max = known_range(cal)
    first = (bound_max + pd.Timedelta(days=1)).date().isoformat()
    last = (bound_max + pd.DateOffset(years=5)).date().isoformat()
    got = sessions(cal, first, last)
    assert [d.date() for d in got] == monday_to_friday(first, last)


def test_sessions_across_the_shanghai_bound() -> None:
    got = days_of(sessions("XSHE", "2026-09-01", "2027-10-31"))
    before = xc_days("XSHG", "2026-09-01", "2026-12-31")
    after = np.array(monday_to_friday("2027-01-01", "2027-10-31"), dtype="datetime64[D]")
    np.testing.assert_array_equal(got, np.concatenate([before, after]))
    assert np.datetime64("2026-10-01") not in got  # National Day 2026: known
    assert np.datetime64("2027-10-01") in got  # National Day 2027: not published, a weekday


def test_sessions_before_the_lower_bound_are_weekdays() -> None:
    got = sessions("XTKS", "1996-12-20", "1997-01-10")  # exchange_calendars knows XTKS from 1997
    expected = monday_to_friday("1996-12-20", "1996-12-31") + [
        d.date() for d in xc.get_calendar("XTKS", start="1997-01-01", end="1997-01-10").sessions
    ]
    assert [d.date() for d in got] == expected
    (note,) = extrapolation_notes(["XTKS"], "1996-12-20", "1997-01-10")
    assert "from 1996-12-20 to 1996-12-31" in note and "only from 1997-01-01" in note


def test_rule_based_calendars_past_the_table_come_from_exchange_calendars() -> None:
    got = days_of(sessions("XNYS", "2036-01-01", "2040-12-31"))
    np.testing.assert_array_equal(got, xc_days("XNYS", "2036-01-01", "2040-12-31"))
    assert np.datetime64("2036-12-25") not in got  # a holiday, not a weekday fill
    assert extrapolation_notes(["XNYS", "XLON"], "2030-01-01", "2040-12-31") == []


def test_sessions_never_fail_on_any_calendar_far_ahead() -> None:
    weekdays = monday_to_friday("2051-01-01", "2051-01-31")  # past every bound (XKRX's is 2050-12-31)
    for mic in MIC_CALENDAR:
        got = [d.date() for d in sessions(mic, "2051-01-01", "2051-01-31")]
        if MIC_CALENDAR[mic] in ("XSHG", "XHKG", "XKRX"):
            assert got == weekdays, mic
        else:  # rule-based: exchange_calendars' holidays are left out
            assert set(got) <= set(weekdays) and len(got) >= len(weekdays) - 3, mic


def test_extrapolation_notes_name_the_calendar_dates_and_reason() -> None:
    notes = extrapolation_notes(["XSHE", "XNYS", "XSHG", "XSHE", "", "XXXX"], "2026-06-01", "2027-06-30")
    assert len(notes) == 1  # XSHE and XSHG share one calendar; XNYS is known; "" and XXXX have none
    note = notes[0]
    assert note.startswith("XSHG sessions from 2027-01-01 to 2027-06-30 are weekdays")
    assert "XSHE, XSHG" in note and f"{TABLE_VERSION} knows that calendar only to 2026-12-31" in note
    assert "python -m exchina_index.rules.calendar" in note
    everything = list(MIC_CALENDAR)
    assert extrapolation_notes(everything, "2000-01-01", "2026-12-31") == []
    assert extrapolation_notes(everything, "2027-01-05", "2027-01-04") == []  # empty range
    past = extrapolation_notes(everything, "2051-01-01", "2051-01-31")  # past every bound
    assert [n.split()[0] for n in past] == ["XHKG", "XKRX", "XSHG"]  # rule-based calendars have none
    assert past[1].startswith("XKRX sessions from 2051-01-01 to 2051-01-31 ") and "only to 2050-12-31" in past[1]


def test_the_fast_path_does_not_import_exchange_calendars() -> None:
    code = (
        "import sys\n"
        "from exchina_index.rules.calendar import MIC_CALENDAR, extrapolation_notes, known_range, sessions\n"
        "for mic in MIC_CALENDAR:\n"
        "    sessions(mic, '2000-01-01', '2035-12-31'); known_range(mic)\n"
        "sessions('XSHG', '2027-01-01', '2040-12-31')\n"  # past its bound: weekdays, nothing to build
        "extrapolation_notes(list(MIC_CALENDAR), '2000-01-01', '2035-12-31')\n"
        "print('exchange_calendars' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_review_dates_past_every_bound(method) -> None:
    shanghai = method.with_overrides({"schedule": {"calendar": "XSHG"}})
    got = review_dates(shanghai, "2027-01-01", "2040-12-31")  # weekdays: no holiday moves a date
    assert len(got) == 14 * 4
    for row, (year, month) in zip(got.itertuples(), ((y, m) for y in range(2027, 2041) for m in (3, 6, 9, 12))):
        assert row.implement == pd.Timestamp(nth_friday(year, month, 3))
        assert row.announce == pd.Timestamp(nth_friday(year, month, 2))
        last = datetime.date(year, month, 1) - datetime.timedelta(days=1)
        while last.weekday() >= 5:
            last -= datetime.timedelta(days=1)
        assert row.cutoff == pd.Timestamp(last)
    nyse = xc.get_calendar("XNYS", start="2036-01-01", end="2041-01-31").sessions  # past the table
    for row in review_dates(method, "2036-01-01", "2040-12-31").itertuples():
        assert row.implement == on_or_before(nyse, nth_friday(row.implement.year, row.implement.month, 3))
        assert row.effective == nyse[nyse.get_loc(row.implement) + 1]


@same_release
def test_regenerating_the_table_reproduces_the_bundled_one(tmp_path: Path) -> None:
    out = tmp_path / "sessions.json"
    assert write_session_table(out, calendars=["XNYS", "XSHG"]) == out
    new = json.loads(out.read_text(encoding="utf-8"))
    bundled = json.loads(
        (resources.files("exchina_index.rules") / "exchange_sessions.json").read_text(encoding="utf-8")
    )
    assert new["generated_with"] == bundled["generated_with"]
    for cal in ("XNYS", "XSHG"):
        assert new["calendars"][cal] == bundled["calendars"][cal], "regenerate: python -m exchina_index.rules.calendar"
    assert new["calendars"]["XSHG"]["end"] == "2026-12-31" and new["calendars"]["XNYS"]["end"] == TABLE_END
    assert new["calendars"]["XSHG"]["bound_max"] == "2026-12-31" and new["calendars"]["XNYS"]["bound_max"] is None


def test_the_regeneration_command_says_what_it_wrote(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(table_module, "MIC_CALENDAR", {"XNYS": "XNYS", "XSHE": "XSHG"})  # two are enough
    out = tmp_path / "t.json"
    assert table_module.main(["--out", str(out), "--start", "2026-12-01", "--end", "2027-01-31"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f"wrote {out} (") and f"exchange_calendars {xc.__version__}" in lines[0]
    assert len(lines) == 3
    assert lines[1].startswith("  XNYS  2026-12-01 to 2027-01-31  ") and lines[1].endswith("(new)")
    assert "XSHG  2026-12-01 to 2026-12-31" in lines[2] and "only to 2026-12-31: weekdays after" in lines[2]
    assert table_module.main(["--out", str(out), "--start", "2026-12-01", "--end", "2027-01-31"]) == 0
    assert all("(unchanged" in line for line in capsys.readouterr().out.splitlines()[1:])
    assert json.loads(out.read_text(encoding="utf-8"))["calendars"]["XNYS"]["end"] == "2027-01-31"


def test_dates_outside_the_table_fall_back_to_exchange_calendars() -> None:
    got = sessions("XNYS", "1995-12-20", "1996-01-10")
    ref = xc.get_calendar("XNYS", start="1995-12-20", end="1996-01-10").sessions
    np.testing.assert_array_equal(got.to_numpy().astype("datetime64[D]"), ref.to_numpy().astype("datetime64[D]"))
