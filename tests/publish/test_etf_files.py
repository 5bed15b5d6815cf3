"""The ETF files (exchina_index.publish.etf): creation basket and SEC Rule 6c-11 holdings.

The hand-computed cases use binary-exact prices, FX rates and weights (48, 15, 1.09375, 2**-10 ...)
so every expected figure below is exact; the arithmetic is written out next to it.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exchina_index.errors import InputError
from exchina_index.publish.etf import (
    BASKET_COLUMNS,
    HOLDINGS_COLUMNS,
    EtfTerms,
    creation_basket,
    holdings_6c11,
)

APPLE_ISIN, SHIN_ETSU_ISIN, IBM_FIGI = "US0378331005", "JP3371200001", "BBG000BLNNH6"
#: Well-formed identifiers for the generated cases (ISINs of Apple, Shin-Etsu, Iluka, MP Materials;
#: FIGIs of IBM and two others), each checked against its check digit by the universe's validators.
ISINS = ["", APPLE_ISIN, SHIN_ETSU_ISIN, "AU000000ILU1", "US5533681012"]
FIGIS = ["", IBM_FIGI, "BBG000B9XRY4", "BBG001S5N8V8"]


def frame(rows: dict[str, dict], index_value: float = 1e6) -> pd.DataFrame:
    """A closing composition: each row gives name, isin, figi, currency, lot_size, price, fx and weight;
    market value = weight x index value and index shares = market value / (price x fx)."""
    out = pd.DataFrame.from_dict(rows, orient="index")
    for column in ("isin", "figi"):
        if column not in out:
            out[column] = ""
        out[column] = out[column].fillna("")
    out["market_value_usd"] = out["weight"] * index_value
    out["index_shares"] = out["market_value_usd"] / (out["price"] * out["fx"])
    return out.sort_index()


#: Four names. USD/JPY is 7/1024 = 0.0068359375 (binary-exact, like every input here). Prices in USD
#: per share: AAA 48 x 1 = 48; BBB 2,048 JPY x 7/1024 = 14 (a 100-share lot is 1,400 USD);
#: CCC 1.75 AUD x 0.625 = 1.09375; DDD 8,192 JPY x 7/1024 = 56 (a lot is 5,600 USD).
#: Weights 0.5, 0.25, 0.25 - 2**-10 = 0.2490234375 and 2**-10 = 0.0009765625.
JPY = 0.0068359375
FOUR = {
    "AAA": dict(name="Alpha", isin=APPLE_ISIN, figi=IBM_FIGI, currency="USD", lot_size=1, price=48.0, fx=1.0,
                weight=0.5),
    "BBB": dict(name="Beta", isin="", figi=IBM_FIGI, currency="JPY", lot_size=100, price=2048.0, fx=JPY,
                weight=0.25),
    "CCC": dict(name="Gamma", isin="", figi="", currency="AUD", lot_size=1, price=1.75, fx=0.625,
                weight=0.2490234375),
    "DDD": dict(name="Delta", isin=SHIN_ETSU_ISIN, figi="", currency="JPY", lot_size=100, price=8192.0, fx=JPY,
                weight=0.0009765625),
}  # fmt: skip


def test_creation_basket_by_hand() -> None:
    comp = frame(FOUR)
    dividends = pd.Series({"BBB": 30.0, "CCC": 0.125, "DDD": 100.0})
    basket, summary = creation_basket(comp, dividends, EtfTerms(unit_shares=50_000, nav_per_share=25.0))
    # U = 50,000 x 25 = 1,250,000 USD
    # AAA: 1,250,000 x 0.5 / 48 = 13,020.83 shares -> 13,021 (lot 1); value 13,021 x 48 = 625,008
    # BBB: 1,250,000 x 0.25 / 1,400 = 223.21 lots -> 223 lots = 22,300 shares; value 22,300 x 14 = 312,200
    # CCC: 1,250,000 x 0.2490234375 = 311,279.296875 / 1.09375 = 284,598.21 -> 284,598;
    #      value 284,598 x 1.09375 = 311,279.0625
    # DDD: 1,250,000 x 0.0009765625 = 1,220.703125 / 5,600 = 0.22 lots -> 0: left out, value in cash
    assert list(basket.columns) == list(BASKET_COLUMNS)
    assert list(basket["ticker"]) == ["AAA", "BBB", "CCC"]
    assert list(basket["shares"]) == [13_021, 22_300, 284_598]
    assert basket["shares"].dtype == np.int64
    assert list(basket["value_usd"]) == [625_008.0, 312_200.0, 311_279.0625]
    assert list(basket["weight_in_basket"]) == pytest.approx([0.5000064, 0.24976, 0.24902325])
    assert list(basket["isin"]) == [APPLE_ISIN, "", ""]
    assert list(basket["currency"]) == ["USD", "JPY", "AUD"]
    assert list(basket["lot_size"]) == [1, 100, 1]
    # basket 625,008 + 312,200 + 311,279.0625 = 1,248,487.0625; cash 1,250,000 - 1,248,487.0625 = 1,512.9375
    # dividends: BBB 22,300 x 30 JPY x 7/1024 = 4,683,000 / 1,024 = 4,573.2421875;
    #            CCC 284,598 x 0.125 AUD x 0.625 = 22,234.21875; DDD is not in the basket: 0.
    #            Total 4,573.2421875 + 22,234.21875 = 26,807.4609375
    assert summary == {
        "unit_value_usd": 1_250_000.0,
        "basket_value_usd": 1_248_487.0625,
        "cash_component_usd": 1_512.9375,
        "estimated_dividends_usd": 26_807.4609375,
        "constituents": 3,
    }


def test_half_a_lot_rounds_up_and_the_cash_component_can_be_negative() -> None:
    comp = frame(
        {
            "HALF": dict(name="Half", currency="USD", lot_size=100, price=10.0, fx=1.0, weight=0.25),
            "REST": dict(name="Rest", currency="USD", lot_size=1, price=1.0, fx=1.0, weight=0.75),
        }
    )
    basket, summary = creation_basket(comp, pd.Series(dtype=float), EtfTerms(unit_shares=1_000, nav_per_share=10.0))
    # U = 1,000 x 10 = 10,000. HALF: 10,000 x 0.25 / (100 x 10) = 2.5 lots exactly -> 3 lots = 300 shares
    # (half away from zero), worth 3,000. REST: 7,500 shares worth 7,500. Cash 10,000 - 10,500 = -500.
    assert list(basket["shares"]) == [300, 7_500]
    assert summary["cash_component_usd"] == -500.0
    assert summary["estimated_dividends_usd"] == 0.0


def test_holdings_by_hand() -> None:
    held = holdings_6c11(frame(FOUR), EtfTerms(fund_aum_usd=10e6))
    # AAA: 10,000,000 x 0.5 / 48 = 104,166.67 -> 104,166 (down); value 104,166 x 48 = 4,999,968
    # BBB: 2,500,000 / 14 = 178,571.43 -> 178,571; value 178,571 x 14 = 2,499,994
    # CCC: 2,490,234.375 / 1.09375 = 2,276,785.71 -> 2,276,785; value 2,276,785 x 1.09375 = 2,490,233.59375
    # DDD: 9,765.625 / 56 = 174.39 -> 174; value 174 x 56 = 9,744 (board lots do not bind the fund)
    # cash: 10,000,000 - (4,999,968 + 2,499,994 + 2,490,233.59375 + 9,744 = 9,999,939.59375) = 60.40625
    assert list(held.columns) == list(HOLDINGS_COLUMNS)
    assert list(held["ticker"]) == ["AAA", "BBB", "CCC", "DDD", "CASH"]
    assert list(held["shares"]) == [104_166, 178_571, 2_276_785, 174, 0]
    assert held["shares"].dtype == np.int64
    assert list(held["market_value_usd"]) == [4_999_968.0, 2_499_994.0, 2_490_233.59375, 9_744.0, 60.40625]
    assert list(held["weight"]) == pytest.approx(
        [0.4999968, 0.2499994, 0.249023359375, 0.0009744, 0.000006040625], rel=1e-12
    )
    # ISIN first (AAA has both), else FIGI (BBB), else nothing (CCC)
    assert list(held["identifier"]) == [APPLE_ISIN, IBM_FIGI, "", SHIN_ETSU_ISIN, ""]
    assert list(held["identifier_type"]) == ["ISIN", "FIGI", "", "ISIN", ""]
    assert list(held["description"]) == ["Alpha", "Beta", "Gamma", "Delta", "Cash and equivalents"]


def test_a_name_too_small_for_one_share_is_not_held() -> None:
    rows = dict(FOUR)
    rows["DDD"] = dict(FOUR["DDD"], price=8_192_000.0)  # 56,000 USD a share against 9,765.625 USD of weight
    held = holdings_6c11(frame(rows), EtfTerms(fund_aum_usd=10e6))
    assert list(held["ticker"]) == ["AAA", "BBB", "CCC", "CASH"]
    # the cash takes DDD's 9,765.625 too: 10,000,000 - (4,999,968 + 2,499,994 + 2,490,233.59375) = 9,804.40625
    assert held["market_value_usd"].iloc[-1] == 9_804.40625


def test_row_order_and_extra_columns_do_not_matter() -> None:
    comp = frame(FOUR)
    shuffled = comp.iloc[[2, 0, 3, 1]].assign(extra="ignored")
    dividends = pd.Series({"CCC": 0.125, "BBB": 30.0})
    a, sa = creation_basket(comp, dividends, EtfTerms())
    b, sb = creation_basket(shuffled, dividends.iloc[::-1], EtfTerms())
    pd.testing.assert_frame_equal(a, b)
    assert sa == sb
    pd.testing.assert_frame_equal(holdings_6c11(comp, EtfTerms()), holdings_6c11(shuffled, EtfTerms()))


def test_missing_identifiers_may_be_nan() -> None:
    comp = frame(FOUR)
    comp.loc["CCC", ["isin", "figi"]] = np.nan
    held = holdings_6c11(comp, EtfTerms())
    assert held.loc[held["ticker"] == "CCC", ["identifier", "identifier_type"]].values.tolist() == [["", ""]]


# --- properties ---------------------------------------------------------------------------------------


@st.composite
def cases(draw: st.DrawFn) -> tuple[pd.DataFrame, pd.Series, EtfTerms]:
    n = draw(st.integers(1, 8))
    raw = draw(st.lists(st.floats(0.001, 1.0), min_size=n, max_size=n))
    weights = np.array(raw) / math.fsum(raw)
    rows = {}
    for i, w in enumerate(weights):
        rows[f"T{i:02d}"] = dict(
            name=f"Name {i}",
            isin=draw(st.sampled_from(ISINS)),
            figi=draw(st.sampled_from(FIGIS)),
            currency=draw(st.sampled_from(["USD", "JPY", "AUD", "CAD", "GBP"])),
            lot_size=draw(st.sampled_from([1, 10, 100, 1000])),
            price=draw(st.floats(0.01, 10_000.0)),
            fx=draw(st.floats(0.001, 2.0)),
            weight=float(w),
        )
    dividends = pd.Series({t: draw(st.sampled_from([0.0, 0.05, 1.5])) for t in rows})
    terms = EtfTerms(
        unit_shares=draw(st.integers(1_000, 200_000)),
        nav_per_share=draw(st.floats(1.0, 200.0)),
        fund_aum_usd=draw(st.floats(1e6, 1e10)),
    )
    return frame(rows), dividends, terms


PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(cases())
def test_basket_properties(case: tuple[pd.DataFrame, pd.Series, EtfTerms]) -> None:
    comp, dividends, terms = case
    basket, summary = creation_basket(comp, dividends, terms)
    unit = terms.unit_shares * terms.nav_per_share
    assert summary["unit_value_usd"] == pytest.approx(unit, rel=1e-15)
    assert summary["basket_value_usd"] + summary["cash_component_usd"] == pytest.approx(unit, rel=1e-6)
    assert summary["basket_value_usd"] == pytest.approx(basket["value_usd"].sum(), rel=1e-12)
    assert summary["constituents"] == len(basket)
    assert basket["shares"].dtype == np.int64 and (basket["shares"] > 0).all()
    assert (basket["shares"] % basket["lot_size"] == 0).all()
    held = basket.set_index("ticker")
    for t, row in comp.iterrows():
        lot_value = row["lot_size"] * row["price"] * row["fx"]
        value = held.at[t, "value_usd"] if t in held.index else 0.0
        assert value == pytest.approx(held.at[t, "shares"] * row["price"] * row["fx"] if t in held.index else 0.0)
        # rounded to the nearest lot: off by at most half a lot (slack for float rounding)
        assert abs(value - unit * row["weight"]) <= lot_value / 2 * (1 + 1e-9) + 1e-9 * unit
    expected_divs = sum(held.at[t, "shares"] * dividends[t] * held.at[t, "fx"] for t in held.index)
    assert summary["estimated_dividends_usd"] == pytest.approx(expected_divs, rel=1e-12, abs=1e-9)


@PROPERTY
@given(cases())
def test_holdings_properties(case: tuple[pd.DataFrame, pd.Series, EtfTerms]) -> None:
    comp, _, terms = case
    held = holdings_6c11(comp, terms)
    aum = terms.fund_aum_usd
    assert list(held["ticker"])[-1] == "CASH" and held["shares"].iloc[-1] == 0
    assert list(held["ticker"])[:-1] == sorted(held["ticker"].iloc[:-1])
    assert held["shares"].dtype == np.int64
    assert math.fsum(held["market_value_usd"]) == pytest.approx(aum, rel=1e-12)
    assert held["market_value_usd"].iloc[-1] >= 0
    assert held["weight"].sum() == pytest.approx(1.0, rel=1e-12)
    rows = held.iloc[:-1].set_index("ticker")
    for t, row in comp.iterrows():
        price_usd = row["price"] * row["fx"]
        target = aum * row["weight"]
        shares = int(rows.at[t, "shares"]) if t in rows.index else 0
        # rounded down: never above the target, short of it by less than one share
        assert shares * price_usd <= target * (1 + 1e-9)
        assert target - shares * price_usd < price_usd * (1 + 1e-9)
        if t in rows.index:
            assert rows.at[t, "market_value_usd"] == pytest.approx(shares * price_usd, rel=1e-12)
            if row["isin"]:
                assert (rows.at[t, "identifier"], rows.at[t, "identifier_type"]) == (row["isin"], "ISIN")
            elif row["figi"]:
                assert (rows.at[t, "identifier"], rows.at[t, "identifier_type"]) == (row["figi"], "FIGI")
            else:
                assert (rows.at[t, "identifier"], rows.at[t, "identifier_type"]) == ("", "")


# --- bad input ----------------------------------------------------------------------------------------


def _with(ticker: str, column: str, value: object) -> pd.DataFrame:
    comp = frame(FOUR).astype({column: object})
    comp.at[ticker, column] = value
    return comp


@pytest.mark.parametrize("column", ["name", "isin", "figi", "currency", "lot_size", "index_shares", "price", "fx",
                                    "market_value_usd", "weight"])  # fmt: skip
def test_a_missing_column_is_named(column: str) -> None:
    comp = frame(FOUR).drop(columns=column)
    for call in (
        lambda: creation_basket(comp, pd.Series(dtype=float), EtfTerms()),
        lambda: holdings_6c11(comp, EtfTerms()),
    ):
        with pytest.raises(InputError, match=f"lacks the column.*{column}") as info:
            call()
        assert info.value.column == column


@pytest.mark.parametrize(
    "ticker, column, value, words",
    [
        ("BBB", "price", 0.0, "positive finite"),
        ("BBB", "price", -2400.0, "positive finite"),
        ("CCC", "price", float("nan"), "positive finite"),
        ("CCC", "price", "1.75x", "positive finite"),
        ("DDD", "fx", 0.0, "positive finite"),
        ("DDD", "fx", float("inf"), "positive finite"),
        ("AAA", "fx", True, "positive finite"),
        ("BBB", "lot_size", 0, "whole number"),
        ("BBB", "lot_size", 2.5, "whole number"),
        ("BBB", "lot_size", -100, "whole number"),
        ("AAA", "index_shares", 0.0, "positive finite"),
        ("AAA", "market_value_usd", 400_000.0, "index_shares x price x fx"),
        ("AAA", "name", "", "non-empty"),
        ("AAA", "currency", "usd", "ISO 4217"),
        ("AAA", "isin", "US0378331006", "check digit"),
        ("BBB", "figi", "BBG000BLNNH7", "check digit"),
        ("CCC", "isin", 12, "text or empty"),
    ],
)
def test_a_bad_value_names_the_ticker_and_column(ticker: str, column: str, value: object, words: str) -> None:
    comp = _with(ticker, column, value)
    # a bad price, FX or share count also breaks the market value: the bad value is reported first
    for call in (
        lambda: creation_basket(comp, pd.Series(dtype=float), EtfTerms()),
        lambda: holdings_6c11(comp, EtfTerms()),
    ):
        with pytest.raises(InputError, match=words) as info:
            call()
        assert ticker in str(info.value)
        assert info.value.column == column


def test_weights_must_sum_to_one() -> None:
    comp = frame(FOUR)
    comp["weight"] *= 1 + 1e-8  # sums to 1.00000001
    comp[["market_value_usd", "index_shares"]] *= 1 + 1e-8
    with pytest.raises(InputError, match="weights sum to 1.00000001.*not 1 within 1e-09") as info:
        holdings_6c11(comp, EtfTerms())
    assert info.value.column == "weight"
    comp["weight"] /= 1 + 1e-8
    comp.loc["AAA", "weight"] += 5e-10  # within the tolerance: accepted
    comp.loc["BBB", "weight"] -= 5e-10
    assert len(holdings_6c11(comp, EtfTerms())) == 5


def test_weights_must_match_the_market_values() -> None:
    comp = frame(FOUR)
    comp.loc["AAA", "weight"], comp.loc["BBB", "weight"] = 0.25, 0.5
    with pytest.raises(InputError, match="weight of AAA, BBB is not its share of the market value"):
        creation_basket(comp, pd.Series(dtype=float), EtfTerms())


@pytest.mark.parametrize(
    "index, words",
    [
        (["AAA", "AAA", "CCC", "DDD"], "lists AAA more than once"),
        (["AAA", "BBB", "CASH", "DDD"], "CASH is reserved"),
        (["AAA", "BBB", " CCC", "DDD"], "without surrounding blanks"),
        (["AAA", "BBB", 3, "DDD"], "non-empty text"),
    ],
)
def test_bad_tickers(index: list, words: str) -> None:
    comp = frame(FOUR)
    comp.index = index
    with pytest.raises(InputError, match=words):
        holdings_6c11(comp, EtfTerms())


def test_not_a_frame_or_empty() -> None:
    with pytest.raises(InputError, match="must be a pandas DataFrame"):
        holdings_6c11({"AAA": 1}, EtfTerms())  # type: ignore[arg-type]
    with pytest.raises(InputError, match="no constituents"):
        holdings_6c11(frame(FOUR).iloc[:0], EtfTerms())
    with pytest.raises(InputError, match="terms must be an EtfTerms"):
        holdings_6c11(frame(FOUR), {"fund_aum_usd": 1e6})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "dividends, words",
    [
        (pd.Series({"ZZZ": 1.0}), "names ZZZ, not in the closing composition"),
        (pd.Series({"BBB": -1.0}), "dividend of BBB must be"),
        (pd.Series({"BBB": float("nan")}), "dividend of BBB must be"),
        (pd.Series([1.0, 2.0], index=["BBB", "BBB"]), "lists BBB more than once"),
        ({"BBB": 1.0}, "must be a pandas Series"),
    ],
)
def test_bad_dividends(dividends: object, words: str) -> None:
    with pytest.raises(InputError, match=words):
        creation_basket(frame(FOUR), dividends, EtfTerms())  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "kwargs, words",
    [
        (dict(unit_shares=0), "unit_shares must be a whole number"),
        (dict(unit_shares=2.5), "unit_shares must be a whole number"),
        (dict(unit_shares=True), "unit_shares must be a whole number"),
        (dict(unit_shares=10**10), "unit_shares must be a whole number"),
        (dict(nav_per_share=0.0), "nav_per_share must be a positive"),
        (dict(nav_per_share=float("nan")), "nav_per_share must be a positive"),
        (dict(nav_per_share="25"), "nav_per_share must be a positive"),
        (dict(unit_shares=10**9, nav_per_share=1e5), "worth more than USD 1e\\+13"),
        (dict(fund_aum_usd=0.0), "fund_aum_usd must be a positive"),
        (dict(fund_aum_usd=float("inf")), "fund_aum_usd must be a positive"),
        (dict(fund_aum_usd=1e14), "fund_aum_usd must be a positive"),
        (dict(fund_aum_usd="250e6"), "fund_aum_usd must be a number"),
    ],
)
def test_bad_terms(kwargs: dict, words: str) -> None:
    with pytest.raises(InputError, match=words):
        EtfTerms(**kwargs)


def test_a_price_too_small_for_the_fund_is_an_error_not_an_overflow() -> None:
    rows = dict(FOUR)
    rows["CCC"] = dict(FOUR["CCC"], price=1e-300)
    with pytest.raises(InputError, match="CCC would be .* beyond an exact count") as info:
        holdings_6c11(frame(rows), EtfTerms())
    assert info.value.column == "price"
