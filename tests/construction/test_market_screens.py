"""Size and liquidity screens: threshold boundaries, incumbents vs newcomers, precedence, point in time."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from exchina_index.construction.market_screens import SIZE_REASONS, market_screen, size_screen
from exchina_index.data.market import MarketData
from exchina_index.rules.methodology import load_methodology

M = load_methodology().with_overrides(
    {
        "size": {
            "market_cap_entry_usd": 150e6,
            "market_cap_retention_usd": 75e6,
            "adtv_entry_usd": 500e3,
            "adtv_retention_usd": 250e3,
            "adtv_window_sessions": 3,
            "min_history_sessions": 5,
            "stale_sessions": 4,
        }
    }
)
NaN = float("nan")


def run(rows: dict[str, tuple[float, float, float, float]], previous=None) -> pd.DataFrame:
    cap, adtv, hist, stale = (pd.Series({t: v[i] for t, v in rows.items()}) for i in range(4))
    return size_screen(cap, adtv, hist, stale, previous, size=M)


def test_boundaries_for_newcomers() -> None:
    out = run(
        {
            "cap_at_entry": (150e6, 1e6, 100, 0),
            "cap_below_entry": (150e6 - 1, 1e6, 100, 0),
            "adtv_at_entry": (1e9, 500e3, 100, 0),
            "adtv_below_entry": (1e9, 500e3 - 1, 100, 0),
            "hist_at_min": (1e9, 1e6, 5, 0),
            "hist_below_min": (1e9, 1e6, 4, 0),
            "stale_below": (1e9, 1e6, 100, 3),
            "stale_at": (1e9, 1e6, 100, 4),
        }
    )
    assert out["reason"].to_dict() == {
        "cap_at_entry": "OK",
        "cap_below_entry": "SIZE_BELOW_ENTRY",
        "adtv_at_entry": "OK",
        "adtv_below_entry": "ADTV_BELOW_ENTRY",
        "hist_at_min": "OK",
        "hist_below_min": "SHORT_HISTORY",
        "stale_below": "OK",
        "stale_at": "STALE_PRICE",
    }
    assert out["eligible"].to_dict() == {k: v == "OK" for k, v in out["reason"].items()}
    assert not out["incumbent"].any()


def test_incumbents_use_retention_thresholds() -> None:
    rows = {
        "between": (100e6, 300e3, 100, 0),  # fails entry, passes retention
        "cap_at_retention": (75e6, 1e6, 100, 0),
        "cap_below_retention": (75e6 - 1, 1e6, 100, 0),
        "adtv_at_retention": (1e9, 250e3, 100, 0),
        "adtv_below_retention": (1e9, 250e3 - 1, 100, 0),
    }
    inc = run(rows, previous=set(rows))
    assert inc["reason"].to_dict() == {
        "between": "OK",
        "cap_at_retention": "OK",
        "cap_below_retention": "SIZE_BELOW_RETENTION",
        "adtv_at_retention": "OK",
        "adtv_below_retention": "ADTV_BELOW_RETENTION",
    }
    assert inc["incumbent"].all()
    assert (inc["cap_threshold_usd"] == 75e6).all() and (inc["adtv_threshold_usd"] == 250e3).all()
    new = run(rows, previous=None)
    assert new.loc["between", "reason"] == "SIZE_BELOW_ENTRY"
    assert new.loc["cap_at_retention", "reason"] == "SIZE_BELOW_ENTRY"
    assert new.loc["adtv_at_retention", "reason"] == "ADTV_BELOW_ENTRY"


@pytest.mark.parametrize(
    "previous",
    [
        {"A"},
        ["A"],
        pd.Index(["A"]),
        pd.Series({"A": True, "B": False}),
        pd.Series({"A": 0.05, "B": 0.0}),
    ],
)
def test_previous_members_in_any_form(previous) -> None:
    out = run({"A": (100e6, 1e6, 100, 0), "B": (100e6, 1e6, 100, 0)}, previous=previous)
    assert out["reason"].tolist() == ["OK", "SIZE_BELOW_ENTRY"]


def test_precedence_and_no_data() -> None:
    out = run(
        {
            "nothing": (NaN, NaN, 0, NaN),
            "no_cap": (NaN, 1e6, 100, 0),  # e.g. no share count
            "short_and_small": (1e6, 1.0, 2, 9),  # history is checked first
            "stale_and_small": (1e6, 1.0, 100, 9),  # then staleness
            "small_and_illiquid": (1e6, 1.0, 100, 0),  # size before liquidity
        }
    )
    assert out["reason"].tolist() == ["NO_DATA", "NO_DATA", "SHORT_HISTORY", "STALE_PRICE", "SIZE_BELOW_ENTRY"]
    assert set(out["reason"]) <= set(SIZE_REASONS)
    assert "market cap" in out.loc["no_cap", "detail"]
    assert "$1M" in out.loc["small_and_illiquid", "detail"] and "$150M" in out.loc["small_and_illiquid", "detail"]


def test_missing_inputs_are_aligned_as_no_data() -> None:
    out = size_screen(
        pd.Series({"A": 1e9, "B": 1e9}),
        pd.Series({"A": 1e6}),
        pd.Series({"A": 100, "B": 100}),
        pd.Series({"A": 0, "B": 0}),
        size=M.size,
    )
    assert out["reason"].tolist() == ["OK", "NO_DATA"]


# --------------------------------------------------------------------------- on a MarketData

DATES = pd.bdate_range("2025-03-03", periods=10)


def tiny_market(bump_after: int | None = None) -> MarketData:
    close = pd.DataFrame(
        {
            "BIG": np.full(10, 100.0),
            "SMALL": np.full(10, 1.0),
            "NEW": [NaN] * 7 + [10.0, 10.0, 10.0],
            "STALE": [5.0] * 5 + [NaN] * 5,
        },
        index=DATES,
    )
    volume = pd.DataFrame({"BIG": 10_000.0, "SMALL": 300_000.0, "NEW": 1e6, "STALE": 1e6}, index=DATES)
    shares = pd.DataFrame({"BIG": 2e6, "SMALL": 100e6, "NEW": 1e8, "STALE": 1e8}, index=DATES[:1])
    if bump_after is not None:  # later data must not matter
        close.iloc[bump_after + 1 :] *= 0.01
        volume.iloc[bump_after + 1 :] = 1.0
    return MarketData(
        close=close,
        fx=pd.DataFrame({"USD": 1.0}, index=DATES),
        currency=pd.Series("USD", index=close.columns),
        volume=volume,
        shares=shares,
        exchange=pd.Series("XNYS", index=close.columns),
    )


def test_market_screen_by_hand() -> None:
    m = tiny_market()
    out = market_screen(m, DATES[8], M)
    # BIG: cap 100 x 2M = $200M, ADTV 100 x 10k = $1M, 9 sessions -> OK
    assert out.loc["BIG", "market_cap_usd"] == 200e6 and out.loc["BIG", "adtv_usd"] == 1e6
    assert out.loc["BIG", "reason"] == "OK"
    # SMALL: cap $100M: entry fails, retention passes
    assert out.loc["SMALL", "reason"] == "SIZE_BELOW_ENTRY"
    assert market_screen(m, DATES[8], M, previous={"SMALL"}).loc["SMALL", "reason"] == "OK"
    # NEW: 2 sessions < 5
    assert out.loc["NEW", "reason"] == "SHORT_HISTORY"
    # STALE: last price on the 5th day (index 4); 4 NYSE sessions later it is stale
    assert out.loc["STALE", "stale_sessions"] == 4 and out.loc["STALE", "reason"] == "STALE_PRICE"
    assert market_screen(m, DATES[7], M).loc["STALE", "reason"] == "OK"  # 3 sessions: not yet
    assert market_screen(m, DATES[3], M).loc["STALE", "reason"] == "SHORT_HISTORY"
    # before any price: no data
    assert market_screen(m, DATES[6], M).loc["NEW", "reason"] == "NO_DATA"


def test_market_screen_is_point_in_time() -> None:
    for cut in range(10):
        a = market_screen(tiny_market(), DATES[cut], M)
        b = market_screen(tiny_market(bump_after=cut), DATES[cut], M)
        pd.testing.assert_frame_equal(a, b)
