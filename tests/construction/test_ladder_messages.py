"""An infeasible review names the binding group and its shortfall, not only "caps and stage targets"."""

from __future__ import annotations

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
    wide_caps = xi.load_methodology().with_overrides({"caps": {"single": 0.3, "issuer": 0.3}})
    with pytest.raises(InfeasibleError) as info:
        xi.build_weights(universe, market, "2025-11-28", wide_caps)
    message = str(info.value)
    assert "country caps (US 50.0%)" in message and "shortfall 50.0 pp" in message


def test_too_few_names_for_the_caps_names_the_caps_and_their_shortfall() -> None:
    universe = _us_only()
    market = xi.load_market_data(universe, source="demo")
    eligible = int(xi.screen(universe, "2025-11-28", market=market)["eligible"].sum())
    with pytest.raises(InfeasibleError) as info:
        xi.build_weights(universe, market, "2025-11-28")
    shortfall = 100 - eligible * 15.0  # the last ladder step raises the caps to 15 %
    assert f"the single-name caps of the {eligible} eligible names add up to only {eligible * 15.0:.1f}%" in str(
        info.value
    )
    assert f"shortfall {shortfall:.1f} pp" in str(info.value)
