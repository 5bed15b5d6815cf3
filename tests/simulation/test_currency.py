"""The index levels in other currencies: reconciliation with the USD levels and the FX rates on a
demo backtest, hand examples, the daily-return identity, no look-ahead, and the refusals."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import exchina_index as xi
from exchina_index.errors import DataError, InputError
from exchina_index.simulation.currency import CURRENCY_SERIES, currency_levels, require_fx

FOUR = ["EUR", "GBP", "AUD", "JPY"]
SERIES = ["price_return", "total_return", "net_total_return"]


@pytest.fixture(scope="module")
def demo() -> tuple[pd.DataFrame, pd.DataFrame]:
    universe = xi.load_universe()
    market = xi.load_market_data(universe, source="demo")
    result = xi.backtest(universe, market, start="2025-01-01", end="2026-09-30", aum=50e6)
    return result.levels, market.fx


def _flat(days: list[str], **series: list[float]) -> pd.DataFrame:
    """Levels whose three index series are the same path (or the paths given)."""
    index = pd.DatetimeIndex(pd.to_datetime(days), name="date")
    path = series.pop("path", None)
    return pd.DataFrame({s: series.get(s, path) for s in SERIES}, index=index)


def test_the_series_are_the_three_index_levels() -> None:
    assert list(CURRENCY_SERIES) == SERIES


def test_each_currency_reconciles_with_the_usd_levels_and_the_fx_rates(demo) -> None:
    levels, fx = demo
    out = currency_levels(levels, fx, FOUR)
    rate = fx.loc[levels.index]  # the demo's rates are on every market date: no carrying needed
    usd_growth = levels / levels.iloc[0]
    for cur in FOUR:
        fx_move = rate[cur] / rate[cur].iloc[0]
        for s in SERIES:
            level = out[f"{s}_{cur}"]
            assert level.iloc[0] == 1000.0
            back_in_usd = level / level.iloc[0] * fx_move
            np.testing.assert_allclose(back_in_usd.to_numpy(), usd_growth[s].to_numpy(), rtol=1e-12, atol=0)
    # the currencies moved against USD over the period, so the conversion is not a no-op
    assert all(
        abs(out[f"net_total_return_{c}"].iloc[-1] / levels["net_total_return"].iloc[-1] - 1) > 1e-3 for c in FOUR
    )


def test_daily_returns_are_the_usd_return_times_the_fx_move(demo) -> None:
    levels, fx = demo
    out = currency_levels(levels, fx, FOUR)
    rate = fx.loc[levels.index]
    r_usd = levels["total_return"].pct_change().iloc[1:]
    for cur in FOUR:
        r_cur = out[f"total_return_{cur}"].pct_change().iloc[1:]
        expected = (1 + r_usd) * (rate[cur].shift(1) / rate[cur]).iloc[1:]
        np.testing.assert_allclose((1 + r_cur).to_numpy(), expected.to_numpy(), rtol=1e-12, atol=0)


def test_hand_example_a_falling_currency_lifts_a_flat_usd_index_by_a_quarter() -> None:
    levels = _flat(["2025-01-02", "2025-01-03"], path=[1000.0, 1000.0])
    fx = pd.DataFrame({"EUR": [0.5, 0.4]}, index=levels.index)  # 2.0 then 2.5 EUR per USD
    out = currency_levels(levels, fx, ["EUR"])
    assert out.index.equals(levels.index)
    for s in SERIES:
        assert out[f"{s}_EUR"].tolist() == pytest.approx([1000.0, 1250.0], rel=1e-15)


def test_hand_example_usd_gain_offset_by_the_currency_rising() -> None:
    # USD +10 %, the currency +10 % against USD: 1000 x 1.1 x 0.5 / 0.55 = 1000
    levels = _flat(["2025-01-02", "2025-01-03"], path=[200.0, 220.0])
    fx = pd.DataFrame({"GBP": [0.5, 0.55]}, index=levels.index)
    out = currency_levels(levels, fx, ["GBP"], base=1000.0)
    assert out["net_total_return_GBP"].tolist() == pytest.approx([1000.0, 1000.0], rel=1e-14)


def test_columns_follow_the_currencies_order_then_the_series_and_nav_is_left_out(demo) -> None:
    levels, fx = demo
    assert "nav" in levels.columns
    out = currency_levels(levels, fx, ["JPY", "EUR"])
    assert out.columns.tolist() == [
        "price_return_JPY",
        "total_return_JPY",
        "net_total_return_JPY",
        "price_return_EUR",
        "total_return_EUR",
        "net_total_return_EUR",
    ]
    assert (out.dtypes == "float64").all()
    assert currency_levels(levels, fx, []).shape == (len(levels), 0)


def test_usd_is_the_identity_rebased_and_needs_no_fx_column() -> None:
    levels = _flat(["2025-01-02", "2025-01-03", "2025-01-06"], path=[500.0, 550.0, 495.0])
    out = currency_levels(levels, pd.DataFrame(), ["USD"], base=100.0)
    assert out["price_return_USD"].tolist() == pytest.approx([100.0, 110.0, 99.0], rel=1e-15)


def test_a_date_without_a_quote_takes_the_last_quote_before_it_never_a_later_one() -> None:
    levels = _flat(["2025-01-02", "2025-01-03", "2025-01-06", "2025-01-07"], path=[1000.0] * 4)
    quotes = pd.DataFrame(
        {"AUD": [0.80, np.nan, 0.64, 0.10]},  # no quote on 01-03; a wild quote after the levels end
        index=pd.to_datetime(["2024-12-31", "2025-01-03", "2025-01-06", "2025-01-08"]),
    )
    out = currency_levels(levels, quotes, ["AUD"])["price_return_AUD"]
    # 01-02 and 01-03 carry the 0.80 of 12-31; 01-06 and 01-07 carry 0.64: 1000 x 0.80 / 0.64
    assert out.tolist() == pytest.approx([1000.0, 1000.0, 1250.0, 1250.0], rel=1e-15)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.floats(0.5, 2.0), st.floats(0.5, 2.0), st.floats(0.5, 2.0)),
        min_size=2,
        max_size=30,
    ),
    st.floats(1e-3, 1e3),
)
def test_matches_compounding_the_daily_identity(steps: list[tuple[float, float, float]], fx0: float) -> None:
    # a second algorithm: walk day by day with (1 + r_cur) = (1 + r_usd) x fx(t-1) / fx(t)
    days = pd.bdate_range("2025-01-01", periods=len(steps)).strftime("%Y-%m-%d").tolist()
    usd = np.cumprod([s[0] for s in steps]) * 1000.0
    net = np.cumprod([s[1] for s in steps]) * 300.0
    rate = np.cumprod([s[2] for s in steps]) * fx0
    levels = _flat(days, price_return=list(usd), total_return=list(usd), net_total_return=list(net))
    out = currency_levels(levels, pd.DataFrame({"JPY": rate}, index=levels.index), ["JPY"], base=1000.0)
    for s, path in (("price_return", usd), ("net_total_return", net)):
        walked = [1000.0]
        for t in range(1, len(path)):
            walked.append(walked[-1] * (path[t] / path[t - 1]) * (rate[t - 1] / rate[t]))
        np.testing.assert_allclose(out[f"{s}_JPY"].to_numpy(), walked, rtol=1e-9)


def test_later_fx_rates_leave_earlier_levels_unchanged(demo) -> None:
    levels, fx = demo
    cut = levels.index[len(levels) // 2]
    changed = fx.copy()
    changed.loc[changed.index > cut, "EUR"] *= 3.0
    before = currency_levels(levels, fx, ["EUR"]).loc[:cut]
    after = currency_levels(levels, changed, ["EUR"]).loc[:cut]
    pd.testing.assert_frame_equal(before, after)


def test_same_inputs_give_the_same_bytes(demo) -> None:
    levels, fx = demo
    first = currency_levels(levels, fx, FOUR).to_csv()
    assert currency_levels(levels.copy(), fx.copy(), list(FOUR)).to_csv() == first


@pytest.mark.parametrize("code", ["CHF", "ZAR"])
def test_a_currency_absent_from_the_fx_data_is_a_data_error_naming_it(demo, code: str) -> None:
    levels, fx = demo
    with pytest.raises(DataError, match=rf"no FX rates for {code} .*fx\.csv"):
        currency_levels(levels, fx, ["EUR", code])
    with pytest.raises(DataError, match=rf"no FX rates for {code}"):
        require_fx(fx, ["EUR", code])


def test_a_currency_column_without_quotes_or_without_an_early_quote_is_refused() -> None:
    levels = _flat(["2025-01-02", "2025-01-03"], path=[1000.0, 1001.0])
    empty = pd.DataFrame({"EUR": [0.9, 0.9], "CAD": [np.nan, np.nan]}, index=levels.index)
    with pytest.raises(DataError, match="no FX rates for CAD"):
        currency_levels(levels, empty, ["CAD"])
    with pytest.raises(DataError, match="no FX rates for CAD"):
        require_fx(empty, ["EUR", "CAD"])
    assert require_fx(empty, ["EUR", "USD"]) == ("EUR", "USD")
    late = pd.DataFrame({"EUR": [0.9]}, index=pd.to_datetime(["2025-01-03"]))
    with pytest.raises(DataError, match="no EUR FX rate on or before 2025-01-02"):
        currency_levels(levels, late, ["EUR"])


@pytest.mark.parametrize(
    ("currencies", "words"),
    [
        (["GBp"], "write 'GBP'"),
        (["eur"], "capitals: 'EUR'"),
        (["EUT"], "not an ISO 4217"),
        (["EUR", "GBP", "EUR"], "'EUR' is listed twice"),
        ("EUR", "must be a list"),
        ([5], "3-letter ISO 4217"),
    ],
)
def test_bad_currency_codes_are_input_errors(demo, currencies, words: str) -> None:
    levels, fx = demo
    with pytest.raises(InputError, match=words):
        currency_levels(levels, fx, currencies)
    with pytest.raises(InputError, match=words):
        require_fx(fx, currencies)


def test_bad_levels_fx_and_base_are_refused() -> None:
    levels = _flat(["2025-01-02", "2025-01-03"], path=[1000.0, 1010.0])
    fx = pd.DataFrame({"EUR": [0.9, 0.8]}, index=levels.index)
    with pytest.raises(InputError, match="no 'total_return' column"):
        currency_levels(levels.drop(columns="total_return"), fx, ["EUR"])
    with pytest.raises(DataError, match="price_return on 2025-01-03 is 0.0"):
        currency_levels(levels.assign(price_return=[1000.0, 0.0]), fx, ["EUR"])
    with pytest.raises(InputError, match="fx dates must be sorted"):
        currency_levels(levels, fx.iloc[::-1], ["EUR"])
    with pytest.raises(DataError, match="FX rate for EUR on 2025-01-03 is not positive"):
        currency_levels(levels, fx.assign(EUR=[0.9, -0.8]), ["EUR"])
    for base in (0.0, -1.0, float("inf"), True, "1000", 10**400):
        with pytest.raises(InputError, match="base must be a positive finite number"):
            currency_levels(levels, fx, ["EUR"], base=base)  # type: ignore[arg-type]
