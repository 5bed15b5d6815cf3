"""The backtest and the daily calculation agent: two computations of the same index.

* With no corporate actions the divisor-based daily levels (index shares, ``MV / D``) equal the
  engine's return-chained levels to 1e-10 over a quarter of the demo (and over its whole history).
* With events on constituents, the engine follows the daily calculation's corporate-action path:
  the two still agree to 1e-10, the events are in the notices, and the index differs from the run
  without them.
* On a hand-built market, a takeover by a constituent (stock merger) gives the level by hand.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from test_replacements import A_UP, DATES, IMPLEMENT, ROW, market, rulebook, universe

import exchina_index as xi
from exchina_index.universe.corporate_actions import CorporateAction

LEVELS = ("price_return", "total_return", "net_total_return")


@pytest.fixture(scope="module")
def demo():
    u = xi.load_universe()
    return u, xi.load_market_data(u, source="demo")


def _gap(bt) -> dict[str, float]:
    return {c: float((bt.levels[c] - bt.daily.levels[c]).abs().max()) for c in LEVELS}


def test_daily_levels_equal_the_engine_over_a_quarter_of_the_demo(demo) -> None:
    u, mk = demo
    plain = dataclasses.replace(u, corporate_actions=())
    bt = xi.backtest(plain, mk, start="2026-06-01", end="2026-09-30", daily=True)
    # the June 2026 review (Thursday 18: Juneteenth closes NYSE on the third Friday) to September 30
    assert bt.levels.index[0] == bt.schedule["implement"].iloc[0] == pd.Timestamp("2026-06-18")
    assert len(bt.levels) >= 63  # a full quarter
    assert max(_gap(bt).values()) < 1e-10
    assert (bt.daily.levels["divisor"] == bt.daily.levels["divisor"].iloc[0]).all()  # no event: no change
    held = (bt.drifted > 0).sum(axis=1)
    assert (bt.daily.levels["constituents"].iloc[1:] == held.shift(1).iloc[1:]).all()  # names valuing each close


def test_daily_levels_equal_the_engine_over_the_whole_demo(demo) -> None:
    u, mk = demo
    bt = xi.backtest(dataclasses.replace(u, corporate_actions=()), mk, daily=True)
    assert max(_gap(bt).values()) < 1e-10


def _session(mk, day: str) -> pd.Timestamp:
    dates = mk.close.index
    return dates[dates.searchsorted(pd.Timestamp(day))]


def test_the_engine_follows_the_events_of_the_daily_calculation(demo) -> None:
    u, mk = demo
    s = lambda day: _session(mk, day)  # noqa: E731
    events = [
        CorporateAction("split", "UUUU", s("2024-02-07"), (("ratio", 3.0),), "test"),
        CorporateAction("rights", "LYC.AX", s("2024-08-07"), (("price", 4.0), ("ratio", 0.25)), "test"),
        CorporateAction("spin_off", "MP", s("2024-11-06"), (("new", "TMRC"), ("ratio", 0.5)), "test"),
        CorporateAction("suspension", "ARU.AX", s("2025-05-06"), (), "test"),
        CorporateAction("stock_merger", "ASM.AX", s("2026-07-01"), (("acquirer", "UUUU"), ("ratio", 0.053)), "test"),
    ]
    bt = xi.backtest(dataclasses.replace(u, corporate_actions=tuple(events)), mk, start="2023-12-01")
    assert max(_gap(bt).values()) < 1e-10
    notes = bt.corporate_actions.set_index("kind")
    assert notes["held"].all()  # each was on a constituent of the demo index
    # a split and a spin-off leave the divisor alone; a rights issue raises it (the cash subscribed),
    # a takeover whose terms are worth less than the target's last close lowers it
    ratio = notes["divisor_after"] / notes["divisor_before"]
    assert ratio[["split", "spin_off", "suspension"]].to_numpy() == pytest.approx(1.0, abs=1e-14)
    assert notes.at["rights", "divisor_after"] > notes.at["rights", "divisor_before"]
    split = notes.loc["split"]
    before, after = float(split["shares_before"]), float(split["shares_after"])
    assert after == pytest.approx(3 * before, rel=1e-11)
    assert float(split["price_after"]) == pytest.approx(float(split["price_before"]) / 3, rel=1e-11)
    for day in notes["date"]:  # no event moves the level: the open (MV'/D') equals the previous close
        daily = bt.daily
        row = daily.levels.index.get_loc(day)
        opening = (daily.shares.iloc[row] * daily.reference.iloc[row]).sum() / daily.levels["divisor"].iloc[row]
        assert opening == pytest.approx(daily.levels["price_return"].iloc[row - 1], rel=1e-12)
    plain = xi.backtest(dataclasses.replace(u, corporate_actions=()), mk, start="2023-12-01")
    assert plain.levels["price_return"].iloc[-1] != pytest.approx(bt.levels["price_return"].iloc[-1], rel=1e-6)


def test_the_bundled_historical_events_are_applied_by_the_backtest(demo) -> None:
    u, mk = demo
    bt = xi.backtest(u, mk)
    notes = bt.corporate_actions
    bundled = {(e.ex_date, e.kind, e.ticker) for e in u.corporate_actions if mk.close.index[0] < e.ex_date}
    applied = set(zip(notes["date"], notes["kind"], notes["ticker"]))
    assert bundled and bundled <= applied
    assert {"BSE.AX", "PEK.AX"} <= set(notes["ticker"])  # the Energy Fuels takeover, the Peak scheme


def test_a_takeover_by_a_constituent_gives_the_level_by_hand() -> None:
    # D (at $1) is taken over by A (at $1.1 from A_UP) for 0.5 A shares per D share, effective five
    # sessions after the review; A then rises to $1.21. With the review's weights w (bought at $1):
    # index shares n = w * 1e9 (base value $1bn at level 1000, divisor 1e6). At the merger's open
    # A holds n_A + 0.5 n_D shares at $1.1, D none: MV' = MV - n_D + 0.55 n_D, D' = 1e6 * MV'/MV.
    effective = DATES[ROW + 6]
    a_again = DATES[ROW + 9]
    mk = market()
    close = mk.close.copy()
    close.loc[a_again:, "A"] = 1.21
    mk = dataclasses.replace(mk, close=close)
    event = CorporateAction("stock_merger", "D", effective, (("acquirer", "A"), ("ratio", 0.5)), "test")
    u = dataclasses.replace(universe(), corporate_actions=(event,))
    # the count (3) falls below the floor (4), but a share exchange is no deletion: not replaced
    bt = xi.backtest(u, mk, rulebook(), start="2024-03-01", end="2024-05-31")
    assert bt.replacements == ()
    w = bt.weights.iloc[0]
    assert bt.weights.index[0] == IMPLEMENT and w["D"] > 0
    n = w * 1e9
    mv = 1e9 + 0.1 * n["A"]  # at the close before the merger (A up 10 %)
    mv_open = mv - n["D"] + 0.55 * n["D"]
    divisor = 1e6 * mv_open / mv
    notes = bt.corporate_actions.set_index("ticker")
    assert notes.at["D", "divisor_after"] == pytest.approx(divisor, rel=1e-12)
    shares = bt.daily.shares.loc[effective]
    assert shares["A"] == pytest.approx(n["A"] + 0.5 * n["D"], rel=1e-12) and shares["D"] == 0.0
    level = bt.levels["price_return"]
    assert level[A_UP:effective].to_numpy() == pytest.approx(1000 + 0.1 * w["A"] * 1000, rel=1e-12)
    assert level[a_again] == pytest.approx((mv_open + 0.11 * (n["A"] + 0.5 * n["D"])) / divisor, rel=1e-12)
    assert bt.daily.levels.loc[a_again, "price_return"] == pytest.approx(level[a_again], abs=1e-10)
    assert np.isfinite(bt.levels["nav"]).all()


def test_the_energy_fuels_takeover_of_base_resources_converts_the_holding(demo) -> None:
    # With size and ADTV thresholds low enough for Base Resources to be held from the June 2024
    # review, the bundled event (2024-09-16: 0.0260 UUUU shares and A$0.065 per BSE.AX share) turns
    # its index shares into Energy Fuels shares at the open; the A$0.065 cash and the spread between
    # BSE.AX's last close and 0.026 UUUU go into the divisor, by hand from the market's closes.
    u, mk = demo
    m = xi.load_methodology().with_overrides(
        {
            "size": {
                "market_cap_entry_usd": 5e6,
                "market_cap_retention_usd": 2.5e6,
                "adtv_entry_usd": 1e4,
                "adtv_retention_usd": 5e3,
            }
        }
    )
    bt = xi.backtest(u, mk, m, start="2024-06-01", end="2024-10-31")
    assert bt.weights.loc["2024-06-21", "BSE.AX"] > 0 and bt.weights.loc["2024-06-21", "UUUU"] > 0
    ex, last = pd.Timestamp("2024-09-16"), pd.Timestamp("2024-09-13")
    daily = bt.daily
    n_bse, n_uuuu = daily.shares.loc[last, ["BSE.AX", "UUUU"]]
    assert n_bse > 0
    usd = mk.close_usd()
    mv = daily.levels.at[last, "price_return"] * daily.levels.at[last, "divisor"]
    mv_open = mv - n_bse * usd.at[last, "BSE.AX"] + 0.026 * n_bse * usd.at[last, "UUUU"]
    assert daily.shares.at[ex, "UUUU"] == pytest.approx(n_uuuu + 0.026 * n_bse, rel=1e-12)
    assert daily.shares.at[ex, "BSE.AX"] == 0.0
    assert daily.levels.at[ex, "divisor"] == pytest.approx(daily.levels.at[last, "divisor"] * mv_open / mv, rel=1e-12)
    notice = bt.corporate_actions.set_index("ticker").loc["BSE.AX"]
    assert notice["held"] and notice["date"] == ex
    assert max(_gap(bt).values()) < 1e-10


def test_a_replacement_after_a_takeover_keeps_the_acquirers_shares() -> None:
    # B is taken over by A (one A share per B share) three sessions after the review; D's data end
    # two sessions later and, with two names left of a floor of four, R replaces it. By hand, in
    # units bought at $1 with the review's weights w: A holds w_A + w_B units from the merger, worth
    # $1.1 each at D's last close, so R takes w_D / (1.1 (w_A + w_B) + w_C + w_D) and A keeps its
    # converted shares through the replacement.
    merger = DATES[ROW + 3]
    event = CorporateAction("stock_merger", "B", merger, (("acquirer", "A"), ("ratio", 1.0)), "test")
    u = dataclasses.replace(universe(), corporate_actions=(event,))
    bt = xi.backtest(u, market(), rulebook(), start="2024-03-01", end="2024-05-31")
    w = bt.weights.iloc[0]
    last_d = DATES[ROW + 5]
    total = 1.1 * (w["A"] + w["B"]) + w["C"] + w["D"]
    assert [(d, a, b) for d, a, b, _ in bt.replacements] == [(last_d, "D", "R")]
    assert bt.replacements[0][3] == pytest.approx(w["D"] / total, rel=1e-12)
    after = bt.drifted.loc[DATES[ROW + 6]]
    assert after["A"] == pytest.approx(1.1 * (w["A"] + w["B"]) / total, rel=1e-12) and after["B"] == 0.0
    shares = bt.daily.shares
    assert shares.at[DATES[ROW + 6], "A"] == pytest.approx(shares.at[merger, "A"], rel=1e-12)
    assert max(_gap(bt).values()) < 1e-10


def test_a_suspension_without_prices_is_deleted_after_the_rulebooks_sessions() -> None:
    # D (not delisted in the universe) has no price from five sessions after the review: suspended
    # from then, it is held at $1 for 3 sessions (governance.suspension_max_sessions = 3) and
    # deleted at that price at the open of the fourth; its weight then goes pro rata (no floor).
    mk = market()
    close = mk.close.copy()
    close.loc[DATES[ROW + 6] :, "D"] = np.nan
    mk = dataclasses.replace(mk, close=close, delisted=pd.Series(dtype="datetime64[ns]"))
    event = CorporateAction("suspension", "D", DATES[ROW + 6], (), "test")
    u = dataclasses.replace(universe(), corporate_actions=(event,))
    m = rulebook(replace_deletions=False, suspension_max_sessions=3)
    bt = xi.backtest(u, mk, m, start="2024-03-01", end="2024-05-31")
    shares = bt.daily.shares["D"]
    assert (shares[DATES[ROW + 6] : DATES[ROW + 8]] > 0).all() and shares[DATES[ROW + 9]] == 0.0
    assert (DATES[ROW + 8], "D") in bt.delistings
    assert bt.drifted.loc[DATES[ROW + 9], "D"] == 0.0 and max(_gap(bt).values()) < 1e-10
