"""The impact of a rule change: hand-checked on a tiny pair of compositions, and on the demo index
against separately run backtests of the two rulebooks."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import pytest

from exchina_index.errors import ReviewDateError
from exchina_index.research.impact import (
    CONSTITUENT_COLUMNS,
    composition_change,
    impact_from_results,
    purity_buckets,
    purity_edges,
    rule_change_impact,
)
from exchina_index.research.metrics import backtest_metrics

# ---------------------------------------------------------------- hand-made compositions

TICKERS = ["A", "B", "C", "D"]
COUNTRY = {"A": "US", "B": "AU", "C": "AU", "D": "CA"}
PURITY = {"A": 0.9, "B": 0.1, "C": 0.6, "D": 0.3}
# stage fractions (mining, refining, manufacturing); C is a tie, which goes to the first stage
STAGE = {"A": (1.0, 0.0, 0.0), "B": (0.0, 1.0, 0.0), "C": (0.5, 0.0, 0.5), "D": (0.0, 0.0, 1.0)}
R0, R1 = pd.Timestamp("2024-01-05"), pd.Timestamp("2024-04-05")
DATES = pd.DatetimeIndex(["2024-01-05", "2024-02-01", "2024-03-01", "2024-04-05", "2024-05-01", "2024-06-03"])


def _universe() -> SimpleNamespace:
    frame = pd.DataFrame({"name": [f"Company {t}" for t in TICKERS]}, index=pd.Index(TICKERS, name="ticker"))
    purity = pd.DataFrame({"purity": [PURITY[t] for t in TICKERS]}, index=frame.index)
    return SimpleNamespace(frame=frame, facts_at=lambda t: purity, notes=("universe note",), fingerprint="u-fp")


def _methodology(single: float, basis: str) -> SimpleNamespace:
    return SimpleNamespace(
        raw={"version": "1", "caps": {"single": single, "issuer": 0.08}, "stages": {"basis": basis}},
        name="Toy",
        version="1",
        hash=f"hash-{single}-{basis}",
        source=f"/somewhere/toy-{single}.toml",
        purity=SimpleNamespace(low_threshold=0.25),
        stages=SimpleNamespace(basis=basis),
        liquidity=SimpleNamespace(default_aum_usd=1e8, days_to_trade=3),
        optimizer=SimpleNamespace(solver="CLARABEL"),
    )


def _review(weights: dict[str, float], capacity: float) -> SimpleNamespace:
    w = pd.Series([weights.get(t, 0.0) for t in TICKERS], index=TICKERS)
    exposure = pd.DataFrame([STAGE[t] for t in TICKERS], index=TICKERS, columns=["mining", "refining", "manufacturing"])
    days = w * 2.0  # days to trade at the review's AUM: the largest weight takes the longest
    names = SimpleNamespace(country=pd.Series(COUNTRY)[TICKERS], exposure=exposure, weight=w, days_to_trade=days)
    report = SimpleNamespace(
        as_of=pd.Timestamp("2024-03-28"),
        aum=1e8,
        names=names,
        purity={"weighted": 0.5, "low_weight": 0.1, "stage_deviation": 0.02},
        capacity_aum=capacity,
        stage_band=0.02,
        single_cap=0.08,
        relaxations=(),
    )
    return SimpleNamespace(weights=w, report=report)


def _result(first: dict[str, float], second: dict[str, float], ntr: list[float], m: Any) -> SimpleNamespace:
    reviews = {R0: _review(first, 1e9), R1: _review(second, 5e8)}
    weights = pd.DataFrame([reviews[R0].weights, reviews[R1].weights], index=pd.DatetimeIndex([R0, R1]))
    levels = pd.DataFrame({"net_total_return": ntr, "nav": ntr}, index=DATES)
    return SimpleNamespace(
        weights=weights,
        reviews=reviews,
        levels=levels,
        turnover=pd.Series([0.5, 0.1], index=weights.index),
        costs=pd.Series([0.001, 0.0005], index=weights.index),
        tracking_difference=0.0,
        universe=_universe(),
        methodology=m,
        data_notes=("data note",),
        aum=1e8,
        data_source="hand",
        synthetic=False,
    )


OLD_W = {"A": 0.4, "B": 0.3, "C": 0.3}
NEW_W = {"A": 0.5, "C": 0.3 + 1e-13, "D": 0.2}  # C moves by float noise only


@pytest.fixture(scope="module")
def hand() -> Any:
    old = _result(OLD_W, OLD_W, [1000, 1010, 1020, 1030, 1040, 1050], _methodology(0.08, "weight"))
    new = _result(OLD_W, NEW_W, [1000, 1010, 1020, 1030, 1045, 1061], _methodology(0.06, "exposure"))
    return impact_from_results(old, new, as_of="2024-05-15", data_fingerprint="d-fp")


def test_adds_deletes_changes_and_switch_turnover_by_hand() -> None:
    table, turnover = composition_change(pd.Series(OLD_W), pd.Series({**NEW_W, "E": 0.0}))
    assert list(table.columns) == list(CONSTITUENT_COLUMNS)
    # add first, then delete, increase, unchanged (E has no weight on either side: not listed)
    assert list(zip(table["ticker"], table["status"])) == [
        ("D", "add"),
        ("B", "delete"),
        ("A", "increase"),
        ("C", "unchanged"),
    ]
    assert turnover == pytest.approx(0.5 * (0.1 + 0.3 + 0.2), abs=1e-12)
    expected = {"D": 0.2, "B": -0.3, "A": 0.5 - 0.4, "C": (0.3 + 1e-13) - 0.3}
    for t, change, old, new in table[["ticker", "change", "old_weight", "new_weight"]].itertuples(index=False):
        assert change == expected[t]  # the change is new - old exactly
        assert (old, new) == (OLD_W.get(t, 0.0), NEW_W.get(t, 0.0))


def test_a_change_beyond_the_tolerance_is_a_change_and_noise_on_a_zero_is_not_held() -> None:
    table, _ = composition_change(pd.Series({"A": 0.5, "B": 5e-13}), pd.Series({"A": 0.5 + 1e-9, "B": 0.0}))
    assert dict(zip(table["ticker"], table["status"])) == {"A": "increase", "B": "unchanged"}
    exact, turnover = composition_change(pd.Series({"A": 1.0}), pd.Series({"A": 1.0}))
    assert list(exact["status"]) == ["unchanged"] and turnover == 0.0


def test_exposures_by_hand_sum_to_each_sides_total(hand: Any) -> None:
    e = hand.exposures.set_index(["dimension", "group"])
    country = e.loc["country"]
    assert list(country.index) == ["AU", "CA", "US"]
    assert country["old"].tolist() == pytest.approx([0.6, 0.0, 0.4], abs=1e-15)
    assert country["new"].tolist() == pytest.approx([0.3 + 1e-13, 0.2, 0.5], abs=1e-15)
    purity = e.loc["purity"]
    assert list(purity.index) == ["[0%, 25%)", "[25%, 50%)", "[50%, 75%)", "[75%, 100%]"]
    assert purity["old"].tolist() == pytest.approx([0.3, 0.0, 0.3, 0.4], abs=1e-15)  # B, -, C, A
    assert purity["new"].tolist() == pytest.approx([0.0, 0.2, 0.3, 0.5], abs=1e-12)  # -, D, C, A
    stage = e.loc["stage"]
    # OLD on the weight basis: mining A + C/2, refining B, manufacturing C/2
    assert stage["old"].tolist() == pytest.approx([0.55, 0.3, 0.15], abs=1e-15)
    # NEW on the exposure basis: w*p = A .45, C .18, D .06 (total .69)
    assert stage["new"].tolist() == pytest.approx([0.54 / 0.69, 0.0, 0.15 / 0.69], abs=1e-12)
    for dim in ("stage", "country", "purity"):
        assert e.loc[dim, "old"].sum() == pytest.approx(1.0, abs=1e-12)
        assert e.loc[dim, "new"].sum() == pytest.approx(1.0, abs=1e-12)
    assert (hand.exposures["change"] == hand.exposures["new"] - hand.exposures["old"]).all()
    assert any("basis" in n for n in hand.notes)  # the two stage bases differ: said so


def test_ticker_facts_summary_levels_and_reviews_by_hand(hand: Any) -> None:
    c = hand.constituents.set_index("ticker")
    assert c.loc["C", "stage"] == "mining" and c.loc["D", "stage"] == "manufacturing"  # tie -> first stage
    assert c.loc["B", "country"] == "AU" and c.loc["B", "purity"] == 0.1
    assert hand.old_review == hand.new_review == R1
    s = hand.summary.set_index(["section", "figure"])
    assert s.loc[("rule", "caps.single"), ["old", "new"]].tolist() == ["0.08", "0.06"]
    assert s.loc[("rule", "stages.basis"), ["old", "new"]].tolist() == ["weight", "exposure"]
    assert ("rule", "caps.issuer") not in s.index  # unchanged keys are not rule changes
    assert s.loc[("switch", "adds"), "change"] == 1 and s.loc[("switch", "deletes"), "change"] == 1
    assert s.loc[("composition", "rulebook_capacity_usd"), "new"] == 5e8
    # weights' capacity: AUM x allowed days / longest days (NEW: A, 0.5 x 2 = 1 day; OLD: A, 0.8 days)
    assert s.loc[("composition", "capacity_usd"), ["old", "new"]].tolist() == pytest.approx([1e8 * 3 / 0.8, 3e8])
    assert hand.levels["difference"].tolist() == [0, 0, 0, 0, 5, 11]
    assert hand.reviews.loc[R1, ["old_turnover", "new_turnover"]].tolist() == [0.1, 0.1]


def test_as_of_before_the_first_review_or_after_the_data_is_an_error_naming_it() -> None:
    old = _result(OLD_W, OLD_W, [1000] * 6, _methodology(0.08, "weight"))
    with pytest.raises(ReviewDateError, match=r"2024-01-02 is before the first review.*2024-01-05"):
        impact_from_results(old, old, as_of="2024-01-02")
    with pytest.raises(ReviewDateError, match=r"2024-07-01 is after the end of the data.*2024-06-03"):
        impact_from_results(old, old, as_of="2024-07-01")


def test_purity_buckets_use_both_low_thresholds() -> None:
    edges = purity_edges(0.25, 0.1)
    assert edges == (0.0, 0.1, 0.25, 0.5, 0.75, 1.0)
    got = purity_buckets(pd.Series([0.0, 0.1, 0.2, 0.75, 1.0]), edges).tolist()
    assert got == ["[0%, 10%)", "[10%, 25%)", "[10%, 25%)", "[75%, 100%]", "[75%, 100%]"]


# ---------------------------------------------------------------- the demo index

START, AS_OF = "2024-01-01", "2026-06-30"


@pytest.fixture(scope="module")
def demo() -> Any:
    from exchina_index.data import load_market_data
    from exchina_index.rules.methodology import load_methodology
    from exchina_index.simulation.backtest import backtest
    from exchina_index.universe.loading import load_universe

    u = load_universe()
    market = load_market_data(u, "demo")
    old = load_methodology()
    new = old.with_overrides({"caps": {"single": 0.06}})
    impact = rule_change_impact(u, market, old, new, as_of=AS_OF, start=START)
    runs = [backtest(u, market, m, start=START) for m in (old, new)]
    return SimpleNamespace(impact=impact, old=runs[0], new=runs[1], universe=u, market=market, m=(old, new))


def test_demo_weights_equal_separate_backtests_at_the_review_in_force(demo: Any) -> None:
    imp = demo.impact
    # third Friday of June 2026 is Juneteenth (NYSE closed): the review trades on Thursday the 18th
    assert imp.old_review == imp.new_review == pd.Timestamp("2026-06-18")
    w_old, w_new = demo.old.weights.loc[imp.old_review], demo.new.weights.loc[imp.new_review]
    held = w_old.index[(w_old > 0) | (w_new > 0)]
    c = imp.constituents.set_index("ticker")
    assert sorted(c.index) == sorted(held)
    assert (c["old_weight"] == w_old[c.index]).all() and (c["new_weight"] == w_new[c.index]).all()
    assert imp.turnover == 0.5 * float(np.abs(w_new - w_old).sum())
    assert imp.turnover > 0.05  # the variant really changes the index at that review
    assert set(c["status"]) >= {"increase", "decrease"}


def test_demo_level_difference_is_the_difference_of_the_backtests_levels(demo: Any) -> None:
    levels = demo.impact.levels
    ntr_old, ntr_new = demo.old.levels["net_total_return"], demo.new.levels["net_total_return"]
    assert levels.index.equals(ntr_old.index)
    assert (levels["difference"] == ntr_new - ntr_old).all()
    assert (levels["old"] == ntr_old).all() and (levels["new"] == ntr_new).all()
    rv = demo.impact.reviews
    assert (rv["old_turnover"] == demo.old.turnover.to_numpy()).all()
    assert (rv["new_turnover"] == demo.new.turnover.to_numpy()).all()


def test_demo_exposures_and_history_match_the_reports_and_metrics(demo: Any) -> None:
    imp = demo.impact
    e = imp.exposures.set_index(["dimension", "group"])
    for side, run in (("old", demo.old), ("new", demo.new)):
        report = run.reviews[imp.new_review].report
        assert e.loc["stage", side].to_numpy() == pytest.approx(report.stages["after"].to_numpy(), abs=1e-12)
        countries = report.countries[report.countries > 0]
        assert e.loc["country", side][countries.index].to_numpy() == pytest.approx(countries.to_numpy(), abs=1e-9)
        assert e.loc["purity", side].sum() == pytest.approx(1.0, abs=1e-9)
    s = imp.summary.set_index(["section", "figure"])
    for side, run in (("old", demo.old), ("new", demo.new)):
        metrics = backtest_metrics(run)
        assert s.loc[("history", "cagr"), side] == metrics["cagr"]
        assert s.loc[("history", "turnover"), side] == metrics["turnover"]
        report = run.reviews[imp.new_review].report
        assert s.loc[("composition", "rulebook_capacity_usd"), side] == report.capacity_aum
        assert s.loc[("composition", "capacity_usd"), side] == pytest.approx(
            report.aum * 3 / report.names.days_to_trade[report.names.weight > 0].max()
        )
        assert s.loc[("composition", "weighted_purity"), side] == report.purity["weighted"]
    assert s.loc[("rule", "caps.single"), ["old", "new"]].tolist() == ["0.08", "0.06"]
    assert imp.synthetic and imp.data_fingerprint == demo.market.fingerprint


def test_demo_as_of_errors_name_the_date(demo: Any) -> None:
    old, new = demo.m
    with pytest.raises(ReviewDateError, match=r"2024-02-01 is before the first review under OLD.*2024-03-15"):
        rule_change_impact(demo.universe, demo.market, old, new, as_of="2024-02-01", start=START)
    with pytest.raises(ReviewDateError, match=r"2027-01-04 is outside the market data"):
        rule_change_impact(demo.universe, demo.market, old, new, as_of="2027-01-04", start=START)
