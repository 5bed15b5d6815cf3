"""MarketData: construction, validation, and the point-in-time USD views (hand-computed references)."""

from __future__ import annotations

import functools
import warnings

import exchange_calendars as xc
import numpy as np
import pandas as pd
import pytest
from _universe_helpers import make_universe
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exchina_index.data.market import MarketData
from exchina_index.errors import DataError

NaN = float("nan")
DATES = pd.to_datetime(
    ["2025-01-02", "2025-01-03", "2025-01-06", "2025-01-07", "2025-01-08", "2025-01-09", "2025-01-10"]
)


class FakeUniverse:
    def __init__(self, frame: pd.DataFrame) -> None:
        self.frame = frame


UNI = make_universe(
    {
        "AAA": {},
        "BBB.L": {"exchange": "XLON", "currency": "GBP", "price_unit": "GBp", "domicile": "GB", "hq": "GB"},
        "CCC.AX": {"exchange": "XASX", "currency": "AUD", "price_unit": "AUD", "delisted": "2025-01-09"},
        "DDD": {"listed_since": "2025-01-06"},
    }
)


def raw_frames() -> dict[str, pd.DataFrame]:
    close = pd.DataFrame(
        {
            "AAA": [10.0, 11.0, NaN, 12.0, 12.5, 13.0, 13.0],  # no session on 01-06
            "BBB.L": [200.0, 210.0, 220.0, NaN, 230.0, 240.0, 250.0],  # pence; no session on 01-07
            "CCC.AX": [1.0, NaN, 1.1, 1.2, 1.3, 1.4, 1.5],  # delisted 01-09: last two rows dropped
            "DDD": [5.0, 5.0, 6.0, 6.6, NaN, NaN, NaN],  # listed_since 01-06: first two rows dropped
        },
        index=DATES,
    )
    fx = pd.DataFrame(
        {
            "GBP": [1.25, 1.26, 1.27, 1.28, 1.29, 1.30, 1.31],
            "AUD": [0.60, 0.61, 0.62, 0.63, 0.64, 0.65, 0.66],
        },
        index=DATES,
    )
    dividends = pd.DataFrame(0.0, index=DATES, columns=close.columns)
    dividends.loc["2025-01-07", "AAA"] = 0.5
    dividends.loc["2025-01-08", "BBB.L"] = 10.0  # pence
    volume = pd.DataFrame(
        {
            "AAA": [100.0, 200.0, NaN, 300.0, 400.0, 500.0, 600.0],
            "BBB.L": [1000.0, 1000.0, 2000.0, NaN, NaN, 3000.0, 4000.0],
            "CCC.AX": [10.0, NaN, 10.0, 10.0, 10.0, 10.0, 10.0],
            "DDD": [1.0, 1.0, 1.0, 1.0, NaN, NaN, NaN],
        },
        index=DATES,
    )
    shares = pd.DataFrame({"AAA": [NaN, 1e6, NaN, NaN, 2e6, NaN, NaN]}, index=DATES)
    return {"close": close, "fx": fx, "dividends": dividends, "volume": volume, "shares": shares}


def market(**over) -> MarketData:
    f = raw_frames()
    f.update(over)
    return MarketData.from_frames(FakeUniverse(UNI), f.pop("close"), source="test", **f)


@pytest.fixture(scope="module")
def m() -> MarketData:
    return market()


# --------------------------------------------------------------------------- construction


def test_layout_and_units(m: MarketData) -> None:
    assert list(m.close.columns) == ["AAA", "BBB.L", "CCC.AX", "DDD"]
    assert m.close.index.name == "date" and m.close.index.tz is None
    assert all(m.close.dtypes == "float64")
    # GBp divided by 100 (prices and dividends)
    assert m.close.loc["2025-01-02", "BBB.L"] == 2.0
    assert m.dividends.loc["2025-01-08", "BBB.L"] == pytest.approx(0.10)
    assert m.currency.to_dict() == {"AAA": "USD", "BBB.L": "GBP", "CCC.AX": "AUD", "DDD": "USD"}
    assert list(m.fx.columns) == ["USD", "AUD", "GBP"] and (m.fx["USD"] == 1.0).all()
    assert not m.synthetic and m.source == "test"
    assert any("BBB.L" in n and "100" in n for n in m.notes)


def test_listing_dates_drop_rows_with_a_note(m: MarketData) -> None:
    assert m.close.loc["2025-01-02":"2025-01-03", "DDD"].isna().all()
    assert m.close.loc["2025-01-06", "DDD"] == 6.0
    assert m.close.loc["2025-01-09":, "CCC.AX"].isna().all()
    assert m.close.loc["2025-01-08", "CCC.AX"] == 1.3
    assert any("DDD" in n and "listed_since" in n for n in m.notes)
    assert any("CCC.AX" in n and "delisted" in n for n in m.notes)


def test_frames_are_read_only(m: MarketData) -> None:
    with pytest.raises(ValueError):
        m.close.iloc[0, 0] = 1.0
    assert m.close.copy().iloc[0, 0] == 10.0  # a copy can be modified


def test_missing_universe_listing_is_an_empty_column_with_a_note() -> None:
    f = raw_frames()
    close = f.pop("close").drop(columns="DDD")
    mk = MarketData.from_frames(UNI, close, **f)
    assert mk.close["DDD"].isna().all()
    assert any("DDD" in n for n in mk.notes)


def test_unknown_ticker_is_an_error() -> None:
    f = raw_frames()
    close = f.pop("close").assign(ZZZ=1.0)
    with pytest.raises(DataError, match="ZZZ"):
        MarketData.from_frames(UNI, close, **f)


def test_tz_aware_index_keeps_the_local_date() -> None:
    f = raw_frames()
    close = f.pop("close")
    close.index = close.index.tz_localize("Australia/Sydney")
    mk = MarketData.from_frames(UNI, close, **f)
    assert mk.close.index.equals(pd.DatetimeIndex(DATES, name="date").as_unit("us"))


# --------------------------------------------------------------------------- validation


def test_duplicated_date_names_ticker_and_date() -> None:
    close = raw_frames()["close"]
    dup = pd.concat([close, close.iloc[[3]]])
    with pytest.raises(DataError, match=r"2025-01-07.*AAA"):
        market(close=dup)


@pytest.mark.parametrize("bad", [0.0, -3.0])
def test_non_positive_price_names_ticker_and_date(bad: float) -> None:
    close = raw_frames()["close"]
    close.loc["2025-01-08", "CCC.AX"] = bad
    with pytest.raises(DataError, match=r"CCC\.AX.*2025-01-08"):
        market(close=close)


def test_missing_fx_column_names_ticker_currency_and_what_to_do() -> None:
    fx = raw_frames()["fx"].drop(columns="AUD")
    with pytest.raises(DataError, match=r"CCC\.AX.*AUD.*add a 'AUD' column"):
        market(fx=fx)


def test_fx_starting_after_the_first_price_is_an_error() -> None:
    fx = raw_frames()["fx"]
    fx.loc["2025-01-02", "GBP"] = NaN
    with pytest.raises(DataError, match=r"BBB\.L.*2025-01-02.*GBP"):
        market(fx=fx)


def test_negative_volume_and_dividend_are_errors() -> None:
    vol = raw_frames()["volume"]
    vol.loc["2025-01-03", "AAA"] = -1
    with pytest.raises(DataError, match=r"AAA.*negative volume.*2025-01-03"):
        market(volume=vol)
    div = raw_frames()["dividends"]
    div.loc["2025-01-03", "AAA"] = -0.1
    with pytest.raises(DataError, match=r"AAA.*negative dividend.*2025-01-03"):
        market(dividends=div)


def test_non_numeric_value_is_an_error() -> None:
    close = raw_frames()["close"].astype(object)
    close.loc["2025-01-03", "AAA"] = "abc"
    with pytest.raises(DataError, match=r"AAA.*2025-01-03.*abc"):
        market(close=close)


def test_fx_on_other_dates_is_carried_to_market_dates() -> None:
    fx = pd.DataFrame({"GBP": [1.2, 1.3], "AUD": [0.6, 0.7]}, index=pd.to_datetime(["2024-12-31", "2025-01-07"]))
    mk = market(fx=fx)
    assert mk.fx["GBP"].tolist() == [1.2, 1.2, 1.2, 1.3, 1.3, 1.3, 1.3]


# --------------------------------------------------------------------------- views, by hand


def test_close_usd_by_hand(m: MarketData) -> None:
    got = m.close_usd()
    gbp = [1.25, 1.26, 1.27, 1.28, 1.29, 1.30, 1.31]
    aud = [0.60, 0.61, 0.62, 0.63, 0.64, 0.65, 0.66]
    exp_aaa = [10, 11, 11, 12, 12.5, 13, 13]  # 01-06 carried
    exp_bbb = [2.0 * gbp[0], 2.1 * gbp[1], 2.2 * gbp[2], 2.2 * gbp[3], 2.3 * gbp[4], 2.4 * gbp[5], 2.5 * gbp[6]]
    exp_ccc = [1.0 * aud[0], 1.0 * aud[1], 1.1 * aud[2], 1.2 * aud[3], 1.3 * aud[4], NaN, NaN]
    exp_ddd = [NaN, NaN, 6.0, 6.6, 6.6, 6.6, 6.6]  # listed, no delisting: carried to the end
    np.testing.assert_allclose(got["AAA"], exp_aaa)
    np.testing.assert_allclose(got["BBB.L"], exp_bbb)
    np.testing.assert_allclose(got["CCC.AX"], exp_ccc)
    np.testing.assert_allclose(got["DDD"], exp_ddd)


def test_forward_fill_never_crosses_life_boundaries(m: MarketData) -> None:
    got = m.close_usd()
    alive = m.alive()
    assert (got.notna() == alive).all().all()
    # before the first valid price and from the delisting on: nothing
    assert got.loc[:"2025-01-03", "DDD"].isna().all()
    assert got.loc["2025-01-09":, "CCC.AX"].isna().all()
    # as seen before the delisting date, CCC.AX is still alive (carried) on 01-08
    assert m.alive("2025-01-08")["CCC.AX"].iloc[-1]


def test_alive_of_delisted_listing_ends_at_its_last_price() -> None:
    close = raw_frames()["close"]
    close.loc["2025-01-08", "CCC.AX"] = NaN  # suspended on its last day before the delisting
    mk = market(close=close)
    # before the delisting date it is alive (carried) ...
    assert mk.alive("2025-01-08").loc["2025-01-08", "CCC.AX"]
    # ... once the delisting is known, life ends at the last valid price (01-07)
    a = mk.alive()["CCC.AX"]
    assert a.loc["2025-01-07"] and not a.loc["2025-01-08"]


def test_returns_by_hand(m: MarketData) -> None:
    pr = m.returns("price")
    tr = m.returns("total")
    usd = m.close_usd()
    # AAA: USD listing; 01-06 no session -> exactly 0
    assert pr.loc["2025-01-06", "AAA"] == 0.0
    assert pr.loc["2025-01-07", "AAA"] == pytest.approx(12 / 11 - 1)
    assert tr.loc["2025-01-07", "AAA"] - pr.loc["2025-01-07", "AAA"] == pytest.approx(0.5 / 11)
    # BBB.L: no session on 01-07 -> local price carried, only the FX move remains
    assert pr.loc["2025-01-07", "BBB.L"] == pytest.approx(1.28 / 1.27 - 1)
    # ex-date 01-08: dividend 10p = 0.10 GBP at 1.29 over the previous USD close 2.2 * 1.28
    assert tr.loc["2025-01-08", "BBB.L"] - pr.loc["2025-01-08", "BBB.L"] == pytest.approx(0.10 * 1.29 / (2.2 * 1.28))
    # everywhere else total == price
    diff = (tr - pr).fillna(0.0)
    diff.loc["2025-01-07", "AAA"] = 0.0
    diff.loc["2025-01-08", "BBB.L"] = 0.0
    assert (diff.abs() < 1e-15).all().all()
    # first day of the life and outside it: NaN
    assert pr.iloc[0].isna().all()
    assert np.isnan(pr.loc["2025-01-06", "DDD"]) and pr.loc["2025-01-07", "DDD"] == pytest.approx(0.1)
    assert pr.loc["2025-01-09":, "CCC.AX"].isna().all()
    # compounded daily returns equal the ratio of USD closes
    assert np.prod(1 + pr["BBB.L"].iloc[1:]) == pytest.approx(usd["BBB.L"].iloc[-1] / usd["BBB.L"].iloc[0])
    np.testing.assert_allclose(m.dividend_yield(), (tr - pr), atol=1e-15)


def test_traded_value_and_adtv_by_hand(m: MarketData) -> None:
    tv = m.traded_value_usd()
    assert tv.loc["2025-01-02", "BBB.L"] == pytest.approx(2.0 * 1000 * 1.25)
    assert np.isnan(tv.loc["2025-01-06", "AAA"])  # no session
    # AAA own priced sessions up to 01-09: 01-02, 01-03, 01-07, 01-08, 01-09 (01-06 had none)
    last3 = [12 * 300, 12.5 * 400, 13 * 500]
    assert m.adtv_usd("2025-01-09", window=3)["AAA"] == pytest.approx(np.mean(last3))
    # BBB.L: last 3 priced sessions up to 01-09 are 01-06, 01-08, 01-09; 01-08 volume unknown -> skipped
    exp = np.mean([2.2 * 2000 * 1.27, 2.4 * 3000 * 1.30])
    assert m.adtv_usd("2025-01-09", window=3)["BBB.L"] == pytest.approx(exp)
    # min_sessions: DDD has 2 priced sessions by 01-07
    assert m.adtv_usd("2025-01-07", window=63)["DDD"] == pytest.approx(np.mean([6.0, 6.6]))
    assert np.isnan(m.adtv_usd("2025-01-07", window=63, min_sessions=3)["DDD"])
    assert np.isnan(m.adtv_usd("2025-01-01")["AAA"])  # before the data


def test_market_cap_carries_shares_and_is_nan_when_unknown(m: MarketData) -> None:
    cap = m.market_cap_usd()
    assert np.isnan(cap.loc["2025-01-02", "AAA"])  # no share count known yet (never back-filled)
    assert cap.loc["2025-01-03", "AAA"] == pytest.approx(11 * 1e6)
    assert cap.loc["2025-01-07", "AAA"] == pytest.approx(12 * 1e6)
    assert cap.loc["2025-01-08", "AAA"] == pytest.approx(12.5 * 2e6)
    assert cap["BBB.L"].isna().all()  # no share counts at all


def test_history_last_price_and_staleness(m: MarketData) -> None:
    h = m.history_sessions("2025-01-08")
    assert h.to_dict() == {"AAA": 4, "BBB.L": 4, "CCC.AX": 4, "DDD": 2}
    last = m.last_price_date("2025-01-10")
    assert last["DDD"] == pd.Timestamp("2025-01-07")
    stale = m.stale_sessions("2025-01-10")
    # DDD (NYSE) last priced 01-07: NYSE sessions 01-08, 01-10 follow (01-09 closed for the Carter day of mourning)
    assert stale["DDD"] == 2
    assert stale["AAA"] == 0 and stale["BBB.L"] == 0
    assert np.isnan(m.stale_sessions("2025-01-01")["AAA"])


def test_snapshot_matches_the_full_views(m: MarketData) -> None:
    for as_of in ["2025-01-03", "2025-01-07", "2025-01-09", "2025-01-12"]:
        snap = m.snapshot(as_of, window=3)
        np.testing.assert_array_equal(snap["close_usd"], m.close_usd(as_of).iloc[-1])
        np.testing.assert_array_equal(snap["market_cap_usd"], m.market_cap_usd(as_of).iloc[-1])
        np.testing.assert_array_equal(snap["alive"], m.alive(as_of).iloc[-1])
        np.testing.assert_array_equal(snap["adtv_usd"], m.adtv_usd(as_of, 3))


def test_fingerprint_is_stable_and_sensitive(m: MarketData) -> None:
    again = market()
    assert again.fingerprint == m.fingerprint and len(m.fingerprint) == 64
    close = raw_frames()["close"]
    close.loc["2025-01-10", "AAA"] = 13.0000001
    assert market(close=close).fingerprint != m.fingerprint


def test_start_end_and_truncate(m: MarketData) -> None:
    assert m.start == pd.Timestamp("2025-01-02") and m.end == pd.Timestamp("2025-01-10")
    t = m.truncate("2025-01-07")
    assert t.end == pd.Timestamp("2025-01-07") and t.notes == m.notes
    w = m.truncate("2025-01-09", start="2025-01-06")
    assert w.start == pd.Timestamp("2025-01-06")
    # shares known before the window stay known
    assert w.market_cap_usd().loc["2025-01-07", "AAA"] == pytest.approx(12 * 1e6)


# --------------------------------------------------------------------------- point in time


_BASE = functools.lru_cache(maxsize=1)(market)

VIEWS = {
    "close_usd": lambda mk, a: mk.close_usd(a),
    "traded_value_usd": lambda mk, a: mk.traded_value_usd(a),
    "market_cap_usd": lambda mk, a: mk.market_cap_usd(a),
    "returns_total": lambda mk, a: mk.returns("total", a),
    "returns_price": lambda mk, a: mk.returns("price", a),
    "dividend_yield": lambda mk, a: mk.dividend_yield(a),
    "alive": lambda mk, a: mk.alive(a),
    "adtv": lambda mk, a: mk.adtv_usd(a, window=3),
    "history": lambda mk, a: mk.history_sessions(a),
    "stale": lambda mk, a: mk.stale_sessions(a),
    "last": lambda mk, a: mk.last_price_date(a),
}


def _equal(a, b) -> bool:
    if isinstance(a, pd.DataFrame):
        return (
            a.index.equals(b.index)
            and a.columns.equals(b.columns)
            and np.array_equal(a.to_numpy(), b.to_numpy(), equal_nan=a.dtypes.iloc[0] != np.dtype(bool))
        )
    return a.index.equals(b.index) and a.equals(b)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    cut=st.integers(min_value=0, max_value=len(DATES) - 2),
    factor=st.floats(min_value=0.2, max_value=5.0),
    which=st.sampled_from(["close", "fx", "dividends", "volume", "shares", "drop", "add"]),
    col=st.sampled_from(["AAA", "BBB.L", "CCC.AX", "DDD"]),
    offset=st.integers(min_value=1, max_value=len(DATES) - 1),
)
def test_views_never_read_after_as_of(cut: int, factor: float, which: str, col: str, offset: int) -> None:
    as_of = DATES[cut]
    row = min(cut + offset, len(DATES) - 1)
    f = raw_frames()
    if which in ("close", "volume", "dividends", "shares"):
        frame = f[which].reindex(columns=UNI.index)
        frame.iloc[row:, frame.columns.get_loc(col)] = frame.iloc[row:, frame.columns.get_loc(col)].fillna(1.0) * factor
        f[which] = frame
    elif which == "fx":
        f["fx"].iloc[row:] = f["fx"].iloc[row:] * factor
    elif which == "drop":  # a later price disappears
        f["close"].iloc[row:, f["close"].columns.get_loc(col)] = NaN
    else:  # a later price appears where there was none
        c = f["close"].columns.get_loc(col)
        f["close"].iloc[row:, c] = f["close"].iloc[row:, c].fillna(7.0 * factor)
    base = _BASE()
    changed = market(**f)
    cut_copy = base.truncate(as_of)
    for name, view in VIEWS.items():
        a, b = view(base, as_of), view(changed, as_of)
        assert _equal(a, b), f"{name} at {as_of.date()} changed when {which}/{col} changed from row {row}"
        assert _equal(a, view(cut_copy, as_of)), f"{name} differs on the truncated copy"


def test_as_of_between_dates_and_before_data(m: MarketData) -> None:
    # a weekend as_of sees Friday's data
    assert m.close_usd("2025-01-04").index[-1] == pd.Timestamp("2025-01-03")
    assert m.close_usd("2024-12-31").empty
    assert len(m.returns(as_of="2024-12-31")) == 0


def test_returns_rejects_unknown_kind(m: MarketData) -> None:
    from exchina_index.errors import InputError

    with pytest.raises(InputError, match="'total' or 'price'"):
        m.returns("net")


# --------------------------------------------------------------------------- calendars past their known range


def shanghai_market(end: str = "2027-01-15") -> MarketData:
    """A Shanghai line (last priced 2026-12-30) and a NYSE line on weekdays across XSHG's bound."""
    days = pd.bdate_range("2026-12-21", end)
    close = pd.DataFrame({"600111.SS": np.where(days <= "2026-12-30", 20.0, NaN), "MP": 30.0}, index=days)
    return MarketData(
        close=close,
        fx=pd.DataFrame({"CNY": 0.14}, index=days),
        currency=pd.Series({"600111.SS": "CNY", "MP": "USD"}),
        exchange=pd.Series({"600111.SS": "XSHG", "MP": "XNYS"}),
        notes=("loaded",),
    )


def test_staleness_past_a_calendars_known_range_counts_weekdays() -> None:
    m = shanghai_market()
    # exchange_calendars knows XSHG to 2026-12-31; after it Monday-Friday count, holidays unknown
    xshg = xc.get_calendar("XSHG", start="2026-12-01", end="2026-12-31").sessions
    known = xshg[xshg > "2026-12-30"]
    weekdays = ["2027-01-01", "2027-01-04", "2027-01-05", "2027-01-06", "2027-01-07", "2027-01-08"]
    assert m.stale_sessions("2027-01-08")["600111.SS"] == len(known) + len(weekdays)
    assert m.stale_sessions("2027-01-08")["MP"] == 0
    assert m.snapshot("2027-01-08")["stale_sessions"]["600111.SS"] == len(known) + len(weekdays)


def test_notes_name_every_calendar_extrapolated_over_the_data() -> None:
    m = shanghai_market()
    assert m.notes[0] == "loaded" and len(m.notes) == 2
    note = m.notes[1]
    assert note.startswith("XSHG sessions from 2027-01-01 to 2027-01-15 are weekdays")
    assert "used for XSHG" in note and "only to 2026-12-31" in note and "XNYS" not in note
    # a copy recomputes the note for its own dates, never twice
    assert m.truncate("2026-12-31").notes == ("loaded",)
    assert m.truncate("2027-01-06").notes[1].startswith("XSHG sessions from 2027-01-01 to 2027-01-06 ")
    assert m.truncate(None).notes == m.notes
    again = MarketData(close=m.close, fx=m.fx, currency=m.currency, exchange=m.exchange, notes=m.notes)
    assert again.notes == m.notes
    assert m.with_notes("more").notes == (*m.notes, "more")


def test_no_calendar_note_inside_the_known_range(m: MarketData) -> None:
    assert not any("weekdays" in n for n in m.notes)
    assert not any("weekdays" in n for n in shanghai_market().truncate("2026-12-31").notes)


def test_absurd_values_stay_in_their_own_listing_without_warnings() -> None:
    days = pd.bdate_range("2026-01-05", periods=6)
    close = pd.DataFrame({"BIG": [1e-300, 1e-300, 1e300, 1e300, 1e300, 1e300], "MP": 30.0}, index=days)
    big = pd.DataFrame({"BIG": 1e300, "MP": 1e6}, index=days)
    m = MarketData(
        close=close,
        fx=pd.DataFrame({"USD": 1.0}, index=days),
        volume=big,
        shares=big,
        currency=pd.Series({"BIG": "USD", "MP": "USD"}),
        exchange=pd.Series({"BIG": "XNYS", "MP": "XNYS"}),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an overflow must not warn (nor stop a review under -W error)
        snap = m.snapshot(days[-1], window=3)
        returns = m.returns()
        cap = m.market_cap_usd()
        tv = m.traded_value_usd()
    assert snap.loc["BIG", "market_cap_usd"] == np.inf and np.isinf(returns.loc[days[2], "BIG"])
    assert cap.loc[days[-1], "BIG"] == np.inf and tv.loc[days[-1], "BIG"] == np.inf
    assert snap.loc["MP", "market_cap_usd"] == 30.0 * 1e6 and snap.loc["MP", "adtv_usd"] == 30.0 * 1e6
    assert returns.loc[days[2] :, "MP"].tolist() == [0.0] * 4
