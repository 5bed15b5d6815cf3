"""The third sweep of the exit-code contract: rulebook overrides that read well and are never
applied, data that is silently wrong through the Yahoo loader (stand-in yfinance, no network) and
the CSV source, previous portfolios from a later review, and results that depended on the warning
filters in force.

Each case gives the package's typed error (API) or exit 2 with one line naming the culprit (CLI),
or a documented repair with a note naming the ticker and date -- never a silently wrong answer, a
raw exception or a warning.
"""

from __future__ import annotations

import shutil
import warnings
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import pytest
from _cli_helpers import assert_one_line_exit_2
from fixtures.fake_yfinance import FakeYFinance, make_history, sessions, shares_series

import exchina_index as xi
from exchina_index.data.yahoo import load_yahoo
from exchina_index.errors import (
    DataError,
    InputError,
    MethodologyError,
)

SPEC = 'name = "s"\nsource = "demo"\nstart = "2025-01-01"\nend = "2025-12-31"\n'
NY, SYD = "America/New_York", "Australia/Sydney"
DAY = "2025-09-10"  # the day each Yahoo case spoils


# --------------------------------------------------------------------------------------------------
# rulebook keys whose value would never be applied as written
# --------------------------------------------------------------------------------------------------

NEVER_APPLIED = [
    # (id, overrides, the key named)
    ("single cap steps decreasing", {"relaxation": {"single_cap_steps": [0.15, 0.10]}}, "relaxation.single_cap_steps"),
    ("single cap step repeated", {"relaxation": {"single_cap_steps": [0.10, 0.10]}}, "relaxation.single_cap_steps"),
    (
        "spread tier floor repeated",
        {"costs": {"spread_tier_floors_usd": [5e6, 5e6, 0], "half_spread_bps": [1.0, 2.0, 3.0]}},
        "costs.spread_tier_floors_usd",
    ),
    ("floor for held names above the single cap", {"caps": {"min_weight_held": 0.5}}, "caps.min_weight_held"),
    ("floor for held names of 1", {"caps": {"min_weight_held": 1.0}}, "caps.min_weight_held"),
]


@pytest.mark.parametrize(("overrides", "key"), [c[1:] for c in NEVER_APPLIED], ids=[c[0] for c in NEVER_APPLIED])
def test_with_overrides_refuses_a_value_never_applied_as_written(overrides: dict, key: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(MethodologyError, match=f"key '{key}'"):
            xi.load_methodology().with_overrides(overrides)


def _toml(overrides: dict) -> str:
    out = []
    for section, table in overrides.items():
        out.append(f"[methodology.{section}]")
        out += [f"{k} = {list(v) if isinstance(v, list) else v!r}" for k, v in table.items()]
    return "\n".join(out) + "\n"


@pytest.mark.parametrize(("overrides", "key"), [c[1:] for c in NEVER_APPLIED], ids=[c[0] for c in NEVER_APPLIED])
def test_cli_spec_with_a_rulebook_value_never_applied_is_one_line_exit_2(
    tmp_path: Path, overrides: dict, key: str
) -> None:
    spec = tmp_path / "spec" / "s.toml"
    spec.parent.mkdir()
    spec.write_text(SPEC + _toml(overrides))
    assert_one_line_exit_2(["backtest", spec, "--out", tmp_path / "out"], str(spec), f"'{key}'")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["spec"]
    assert sorted(p.name for p in spec.parent.iterdir()) == ["s.toml"]


def test_increasing_steps_and_a_floor_within_the_cap_are_accepted() -> None:
    m = xi.load_methodology().with_overrides(
        {"relaxation": {"max_stage_tolerance": 0.03, "single_cap_steps": []}, "caps": {"min_weight_held": 0.08}}
    )
    assert m.relaxation.max_stage_tolerance == 0.03 and m.caps.min_weight_held == 0.08


# --------------------------------------------------------------------------------------------------
# results that depended on the warning filters: a solver option, a calendar library's deprecations
# --------------------------------------------------------------------------------------------------


def test_osqp_solves_without_a_deprecation_warning() -> None:
    from exchina_index.construction.optimizer import stage_balanced_weights

    args = {
        "anchor": pd.Series({"A": 0.5, "B": 0.3, "C": 0.2}),
        "stage_exposure": pd.DataFrame({"mining": [1.0, 0.0, 0.5], "refining": [0.0, 1.0, 0.5]}, index=list("ABC")),
        "targets": {"mining": 0.5, "refining": 0.5},
        "caps": 0.6,
    }
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # OSQP 1.x: '"polish" is deprecated' (a DeprecationWarning)
        w = stage_balanced_weights(**args, solver="OSQP", fallback_solvers=())
    # the same problem solved by another solver
    assert np.allclose(w.to_numpy(), stage_balanced_weights(**args, solver="CLARABEL").to_numpy(), atol=1e-5)


def test_calendar_sessions_do_not_depend_on_the_warning_filters() -> None:
    from exchina_index.rules.calendar import exchanges

    exchanges._library_days.cache_clear()  # built afresh under "error"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # exchange_calendars' XTKS emits pandas deprecation warnings
            days = exchanges.sessions("XTKS", "2036-01-01", "2036-01-10")
            notes = exchanges.extrapolation_notes(["XTKS"], "2036-01-01", "2036-01-10")
    finally:
        exchanges._library_days.cache_clear()
    # Tokyo is closed on 1-3 January (New Year); weekdays would have opened it on Tuesday 2036-01-01
    assert pd.Timestamp("2036-01-01") not in days and pd.Timestamp("2036-01-07") in days
    assert notes == []


# --------------------------------------------------------------------------------------------------
# the Yahoo loader, with a stand-in yfinance: plausible values only, or a note naming ticker and date
# --------------------------------------------------------------------------------------------------

_UNIVERSE = SimpleNamespace(
    frame=pd.DataFrame(
        {
            "exchange": ["XASX", "XNYS"],
            "currency": ["AUD", "USD"],
            "price_unit": ["AUD", "USD"],
            "listed_since": pd.to_datetime(["2000-01-04", "2020-11-17"]),
            "delisted": pd.NaT,
        },
        index=pd.Index(["LYC.AX", "MP"], name="ticker"),
    )
)


def _histories() -> dict[str, pd.DataFrame]:
    us, au, fx = (
        sessions("2025-08-01", "2025-10-31"),
        sessions("2025-08-01", "2025-10-31"),
        sessions("2025-07-01", "2025-10-31"),
    )
    return {
        "MP": make_history(us, NY, 50 + 0.25 * np.arange(len(us)), volume=np.full(len(us), 1_000_000)),
        "LYC.AX": make_history(au, SYD, 9 - 0.01 * np.arange(len(au)), volume=np.full(len(au), 3_000_000)),
        "AUDUSD=X": make_history(fx, "Europe/London", 0.65 + 0.0005 * np.arange(len(fx)), volume=np.zeros(len(fx))),
    }


def _shares() -> dict[str, Any]:
    return {
        "MP": shares_series({"2024-12-01": 160_000_000}, NY),
        "LYC.AX": shares_series({"2025-06-30": 934_000_000}, SYD),
    }


def _set(ticker: str, column: str, value: float) -> Callable[[dict], None]:
    def edit(h: dict) -> None:
        frame = h[ticker]
        frame.loc[frame.index.tz_localize(None) == pd.Timestamp(DAY), column] = value

    return edit


def _load(tmp: Path, edit: Callable[[dict], None] | None = None, **fake: Any) -> xi.MarketData:
    hist = _histories()
    if edit is not None:
        edit(hist)
    fake.setdefault("shares", _shares())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return load_yahoo(
            _UNIVERSE,
            "2025-09-01",
            "2025-09-30",
            cache_dir=tmp / "cache",
            yf=FakeYFinance(hist, **fake),
            preflight=False,
            sleep=lambda s: None,
            today="2026-01-15",
        )


IMPLAUSIBLE = [
    # (id, ticker, column of the Yahoo frame, value, how the loaded market reads it)
    ("close 1e300", "MP", "Close", 1e300, lambda m: np.isnan(m.close.loc[DAY, "MP"])),
    ("close 1e-300", "MP", "Close", 1e-300, lambda m: np.isnan(m.close.loc[DAY, "MP"])),
    ("dividend inf", "MP", "Dividends", np.inf, lambda m: m.dividends.loc[DAY, "MP"] == 0.0),
    ("dividend 1e300", "MP", "Dividends", 1e300, lambda m: m.dividends.loc[DAY, "MP"] == 0.0),
    ("volume of 9e18 shares", "MP", "Volume", np.iinfo(np.int64).max, lambda m: np.isnan(m.volume.loc[DAY, "MP"])),
    ("FX rate inf", "AUDUSD=X", "Close", np.inf, lambda m: m.fx.loc[DAY, "AUD"] == m.fx.loc["2025-09-09", "AUD"]),
    ("FX rate 1e9", "AUDUSD=X", "Close", 1e9, lambda m: m.fx.loc[DAY, "AUD"] == m.fx.loc["2025-09-09", "AUD"]),
]


@pytest.mark.parametrize(
    ("ticker", "column", "value", "check"), [c[1:] for c in IMPLAUSIBLE], ids=[c[0] for c in IMPLAUSIBLE]
)
def test_yahoo_implausible_values_are_dropped_with_a_note(
    tmp_path: Path, ticker: str, column: str, value: Any, check: Callable
) -> None:
    market = _load(tmp_path, _set(ticker, column, value))
    assert check(market)
    assert any(n.startswith(ticker) and DAY in n and "plausible range" in n for n in market.notes), market.notes
    assert np.isfinite(market.returns("total").loc["2025-09-02":].to_numpy()).all()  # nothing overflows


@pytest.mark.parametrize("count", [0.0, -5.0, np.nan, 0.5, 1e30], ids=["0", "negative", "NaN", "half a share", "1e30"])
def test_yahoo_implausible_share_counts_are_dropped_with_a_note(tmp_path: Path, count: float) -> None:
    shares = _shares()
    shares["MP"] = pd.Series([160e6, count], index=pd.DatetimeIndex(["2024-12-01", DAY]).tz_localize(NY))
    market = _load(tmp_path, shares=shares)
    assert market.shares.loc["2025-09-01":"2025-09-30", "MP"].eq(160e6).all()  # the earlier count carried
    assert any(n.startswith("MP: dropped 1 share count") for n in market.notes), market.notes


@pytest.mark.parametrize("count", [1e30, 0.5], ids=["1e30", "half a share"])
def test_yahoo_implausible_fast_info_count_is_not_used_as_a_constant(tmp_path: Path, count: float) -> None:
    shares = _shares()
    shares["MP"] = None
    market = _load(tmp_path, shares=shares, fast_info_shares={"MP": count})
    assert market.shares["MP"].isna().all()
    assert any(n.startswith("MP: no share count from Yahoo") and "NO_DATA" in n for n in market.notes)


def test_yahoo_close_column_given_twice_keeps_the_last(tmp_path: Path) -> None:
    def twice(h: dict) -> None:
        h["MP"] = pd.concat([h["MP"].assign(Close=1.0), h["MP"][["Close"]]], axis=1)  # the real Close is last

    market = _load(tmp_path, twice)
    assert market.close.loc["2025-09-02", "MP"] == pytest.approx(50 + 0.25 * 22)  # 22 weekdays after 2025-08-01


@pytest.mark.parametrize("edit", ["multi-level columns", "closes all NaN with a dividend"])
def test_yahoo_frame_without_a_usable_close_is_no_data(tmp_path: Path, edit: str) -> None:
    def spoil(h: dict) -> None:
        frame = h["MP"]
        if edit == "multi-level columns":
            frame.columns = pd.MultiIndex.from_product([frame.columns, ["MP"]])
        else:
            frame["Close"] = np.nan
            frame.loc[frame.index.tz_localize(None) == pd.Timestamp(DAY), "Dividends"] = 0.5

    with pytest.raises(DataError, match=r"returned no data for 1 of 2 listing\(s\): MP"):
        _load(tmp_path, spoil)


def test_yahoo_one_symbol_answering_for_another_is_noted(tmp_path: Path) -> None:
    def same(h: dict) -> None:
        h["LYC.AX"] = h["MP"].copy()

    market = _load(tmp_path, same)
    assert any(n.startswith("LYC.AX, MP:") and "identical prices" in n for n in market.notes), market.notes


# --------------------------------------------------------------------------------------------------
# the CSV source: a copied or linked price file
# --------------------------------------------------------------------------------------------------


def test_csv_price_file_copied_for_another_listing_is_noted(tmp_path: Path) -> None:
    from _universe_helpers import make_universe

    from exchina_index.data.csv_source import load_csv

    days = pd.bdate_range("2025-01-02", periods=30).strftime("%Y-%m-%d")
    text = "date,close,volume\n" + "".join(f"{d},{10 + i / 10},1000\n" for i, d in enumerate(days))
    folder = tmp_path / "p"
    folder.mkdir()
    (folder / "MP.csv").write_text(text)
    shutil.copy(folder / "MP.csv", folder / "USAR.csv")
    (folder / "UUUU.csv").write_text(text.replace(",1000", ",2000").replace("10.5,", "10.55,"))  # one close differs
    market = load_csv(make_universe({"MP": {}, "USAR": {}, "UUUU": {}}), folder)
    same = [n for n in market.notes if "identical prices" in n]
    assert len(same) == 1 and same[0].startswith("MP, USAR:"), market.notes


# --------------------------------------------------------------------------------------------------
# previous portfolios
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("folder", ["2026-03-20", "2025-12-19"], ids=["after the review", "the review's own"])
def test_cli_previous_portfolio_from_a_later_review_is_refused(tmp_path: Path, folder: str) -> None:
    prev = tmp_path / "old" / folder / "proforma.csv"
    prev.parent.mkdir(parents=True)
    prev.write_text("ticker,weight\nMP,0.5\nLYC.AX,0.5\n")
    assert_one_line_exit_2(
        ["rebalance", "--as-of", "2025-12-19", "--previous", prev, "--out", tmp_path / "rb"],
        str(prev),
        folder,
        "2025-12-19",
        "earlier review",
    )
    assert not (tmp_path / "rb").exists()


def test_api_previous_portfolio_from_a_later_review_is_an_input_error(tmp_path: Path) -> None:
    prev = tmp_path / "2026-03-20" / "proforma.csv"
    prev.parent.mkdir()
    prev.write_text("ticker,weight\nMP,0.5\nLYC.AX,0.5\n")
    u = xi.load_universe()
    market = xi.load_market_data(u, "demo", start="2024-06-01", end="2026-03-31")
    with pytest.raises(InputError, match="earlier review"):
        xi.rebalance(u, market, "2025-12-19", out=tmp_path / "rb", previous=prev)
    assert not (tmp_path / "rb").exists()
