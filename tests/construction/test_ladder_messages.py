"""An infeasible review names the binding group and its shortfall, not only "caps and stage targets"."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import exchina_index as xi
from exchina_index.errors import InfeasibleError
from exchina_index.universe.loading import Universe


def _us_only() -> Universe:
    u = xi.load_universe()
    f = u.frame[(u.frame["domicile"] == "US") & u.frame["primary"]]
    return Universe(
        frame=f,
        links=u.links[u.links["ticker"].isin(f.index)].reset_index(drop=True),
        history=u.history[u.history["ticker"].isin(f.index)].reset_index(drop=True),
    )


def test_a_one_country_universe_names_the_country_cap_and_its_shortfall() -> None:
    # every eligible name is American: the 50 % country cap leaves half the index unfundable
    universe = _us_only()
    market = xi.load_market_data(universe, source="demo")
    wide_caps = xi.load_methodology().with_overrides(
        {"caps": {"single": 0.3, "issuer": 0.3}, "relaxation": {"last_resort": False}}
    )
    with pytest.raises(InfeasibleError) as info:
        xi.build_weights(universe, market, "2025-11-28", wide_caps)
    message = str(info.value)
    assert "country caps (US 50.0%)" in message and "shortfall 50.0 pp" in message


def test_too_few_names_for_the_caps_names_the_caps_and_their_shortfall() -> None:
    universe = _us_only()
    market = xi.load_market_data(universe, source="demo")
    eligible = int(xi.screen(universe, "2025-11-28", market=market)["eligible"].sum())
    no_last_resort = xi.load_methodology().with_overrides({"relaxation": {"last_resort": False}})
    with pytest.raises(InfeasibleError) as info:
        xi.build_weights(universe, market, "2025-11-28", no_last_resort)
    shortfall = 100 - eligible * 15.0  # the last ladder step raises the caps to 15 %
    assert f"the single-name caps of the {eligible} eligible names add up to only {eligible * 15.0:.1f}%" in str(
        info.value
    )
    assert f"shortfall {shortfall:.1f} pp" in str(info.value)


def test_the_last_resort_leaves_no_review_without_an_index_and_records_each_step() -> None:
    # the same five American names: MP and USAR are pure (0.98, 0.95), AREC, CODI and METC are not
    # (0.20, 0.02, 0.03). No step of the ladder holds the 50 % country cap, nor 85 % in pure names:
    # the last resort lifts the country cap, raises the caps to the 25 % limit, and then moves the
    # low-purity bound to what two pure names at 25 % leave, 1 - 2 x 25 % = 50 %
    universe = _us_only()
    market = xi.load_market_data(universe, source="demo")
    r = xi.build_weights(universe, market, "2025-11-28")
    held = r.weights[r.weights > 0]
    assert sorted(held.index) == ["AREC", "CODI", "METC", "MP", "USAR"]
    assert (held <= 0.25 + 1e-9).all() and held[["MP", "USAR"]].to_numpy() == pytest.approx(0.25, abs=1e-7)
    first = r.report.relaxations[0]
    assert first.startswith("last resort: country caps lifted; single-name and issuer caps raised to 25.00%, clipped")
    assert first.endswith(
        "; purity limits at what the eligible names allow at 25% caps "
        "(weighted purity >= 0.500, low-purity weight <= 50.0%)"
    )
    assert r.report.relaxations[1].startswith("stage tolerance widened beyond the widest step to ±")
    assert r.report.purity["low_weight"] == pytest.approx(0.5, abs=1e-7)
    assert r.report.purity["weighted"] >= 0.5 - 1e-9
    assert r.report.governance[0] == "minimum constituents: 5 eligible, below the floor of 20"


def test_a_backtest_runs_through_reviews_the_ladder_cannot_solve() -> None:
    universe = _us_only()
    market = xi.load_market_data(universe, source="demo")
    run = xi.backtest(universe, market, start="2024-01-01", end="2025-12-31")
    assert len(run.reviews) >= 4 and run.levels["nav"].notna().all()
    assert all(any(s.startswith("last resort") for s in wr.report.relaxations) for wr in run.reviews.values())


def test_the_country_caps_lifted_are_those_of_the_eligible_names() -> None:
    # all five eligible names are American: only the US cap can bind. The country table has the
    # other countries of the universe too (Chinese listings included), whose caps the record must
    # not claim to lift. Without purity limits the step with the country caps lifted solves.
    u = xi.load_universe()
    f = u.frame[((u.frame["domicile"] == "US") & u.frame["primary"]) | (u.frame.index == "600111.SS")]
    us = Universe(
        frame=f,
        links=u.links[u.links["ticker"].isin(f.index)].reset_index(drop=True),
        history=u.history[u.history["ticker"].isin(f.index)].reset_index(drop=True),
    )
    loose = xi.load_methodology().with_overrides(
        {"caps": {"single": 0.3, "issuer": 0.3}, "purity": {"min_weighted": 0.0, "low_max_weight": 1.0}}
    )
    r = xi.build_weights(us, xi.load_market_data(us, source="demo"), "2025-11-28", loose)
    assert r.report.names.reason["600111.SS"] == "CN_DOMICILE" and "CN" in set(r.report.names.country)
    assert r.report.relaxations[0] == "country caps lifted (US 50%)"


@pytest.mark.parametrize("cutoff", ["2016-02-29", "2019-11-29"])
def test_the_last_resort_counts_issuers_not_lines(cutoff: str) -> None:
    # with both lines of an issuer eligible (Iluka: ILU.AX and its ADR), 1/N and the reachable purity
    # are over issuers, whose total is capped: the thin early reviews still solve
    universe = xi.load_universe()
    market = xi.load_market_data(universe, source="demo")
    both_lines = xi.load_methodology().with_overrides({"eligibility": {"one_line_per_issuer": False}})
    r = xi.build_weights(universe, market, cutoff, both_lines)
    issuers = r.weights.groupby(universe.frame["issuer"]).sum()
    assert abs(r.weights.sum() - 1) < 1e-9 and (issuers <= r.report.single_cap + 1e-9).all()


def test_the_liquidity_notional_is_relaxed_no_further_than_needed() -> None:
    # the review computes its liquidity caps at some AUM X below the fund's: a fund of X needs no
    # liquidity relaxation at all, and one 5 % larger does
    universe = xi.load_universe()
    market = xi.load_market_data(universe, source="demo")
    r = xi.build_weights(universe, market, "2025-11-28", aum=250e6)
    [line] = [s for s in r.report.relaxations if s.startswith("liquidity caps computed at $")]
    used = float(line.split("$")[1].split(" ")[0].replace(",", ""))
    at_used = xi.build_weights(universe, market, "2025-11-28", aum=used)
    assert not any(s.startswith("liquidity caps computed") for s in at_used.report.relaxations)
    above = xi.build_weights(universe, market, "2025-11-28", aum=used * 1.05)
    assert any(s.startswith("liquidity caps computed") for s in above.report.relaxations)


def test_minimum_weights_are_cut_so_that_they_take_at_most_half_the_index() -> None:
    # 5 % each for the 25 names eligible at 2025-11-28 would need 125 %: each gets at most half an
    # equal weight, 0.5 / 25 = 2 %, and a name below purity 0.25 at most half the 15 % bound shared
    # by all such names; the review solves with every name held at its floor or above
    universe = xi.load_universe()
    market = xi.load_market_data(universe, source="demo")
    heavy = xi.load_methodology().with_overrides({"governance": {"min_weight": 0.05}})
    r = xi.build_weights(universe, market, "2025-11-28", heavy)
    eligible = r.report.names.eligible
    n = int(eligible.sum())
    low = eligible & (universe.facts_at("2025-11-28")["purity"] < 0.25)
    floor = pd.Series(0.5 / n, index=eligible.index).where(~low, min(0.5 / n, 0.5 * 0.15 / int(low.sum())))
    floor = np.minimum(floor, r.report.names.cap)[eligible]
    assert n >= 20 and low.sum() >= 5 and (r.weights[eligible] >= floor - 1e-9).all()
    assert abs(r.weights.sum() - 1) < 1e-9


def test_a_band_beyond_the_widest_step_names_the_stage_held_back() -> None:
    # at 8 % caps the least deviation at the 2026-08-31 review is about 6 pp; with at most ±2 pp
    # accepted and no other step, the message names the stage the caps hold back and by how much:
    # its share is the target less the least deviation
    import re

    universe = xi.load_universe()
    market = xi.load_market_data(universe, source="demo")
    strict = xi.load_methodology().with_overrides(
        {"relaxation": {"max_stage_tolerance": 0.02, "single_cap_steps": [], "last_resort": False}}
    )
    with pytest.raises(InfeasibleError) as info:
        xi.build_weights(universe, market, "2026-08-31", strict)
    found = re.search(
        r"no stage deviation below ([\d.]+)% \(stage 'manufacturing' at most ([\d.]+)% of the rare-earth "
        r"exposure, target 33\.3%\), beyond the widest step ±2\.0%",
        str(info.value),
    )
    assert found, str(info.value)
    least, share = float(found.group(1)), float(found.group(2))
    assert least > 2.0 and abs((100 / 3 - least) - share) < 0.06
