"""The backtest taxes each dividend at the withholding rate in force on its ex-date."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import exchina_index as xi
from exchina_index.rules.methodology import RateChange, Withholding
from exchina_index.simulation import backtest as backtest_module
from exchina_index.simulation.backtest import withholding_rates


def test_rates_by_day_and_domicile() -> None:
    w = Withholding(
        as_of="2026-12-02",
        default=0.30,
        rates={"BE": 0.27, "GG": 0.0, "US": 0.30},
        changes=(RateChange("2017-01-01", "BE", 0.30), RateChange("2017-01-03", "US", 0.15)),
    )
    window = pd.DatetimeIndex(["2016-12-29", "2016-12-30", "2017-01-02", "2017-01-03", "2017-01-04"])
    got = withholding_rates(w, pd.Series(["BE", "GG", "US", "BE", "MX"]), window)
    expected = np.array(
        [
            [0.27, 0.0, 0.30, 0.27, 0.30],
            [0.27, 0.0, 0.30, 0.27, 0.30],
            [0.30, 0.0, 0.30, 0.30, 0.30],  # BE from 2017-01-01 (a holiday): the next session
            [0.30, 0.0, 0.15, 0.30, 0.30],  # US on the day of its change
            [0.30, 0.0, 0.15, 0.30, 0.30],
        ]
    )
    np.testing.assert_array_equal(got, expected)


def test_the_demo_backtest_passes_the_dated_rates_to_the_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, np.ndarray] = {}
    real = backtest_module.run_index

    def spy(**kwargs):
        seen["withholding"] = np.asarray(kwargs["withholding"])
        return real(**kwargs)

    monkeypatch.setattr(backtest_module, "run_index", spy)
    universe = xi.load_universe()
    market = xi.load_market_data(universe, source="demo")
    result = xi.backtest(universe, market, start="2016-12-01", end="2017-02-28", aum=50e6)
    wht = seen["withholding"]
    dates = result.levels.index
    domiciles = universe.frame["domicile"].to_numpy()
    assert wht.shape == (len(dates), len(domiciles))
    before, after = dates.get_loc(dates[dates < "2017-01-01"][-1]), dates.get_loc(dates[dates >= "2017-01-01"][0])
    be = domiciles == "BE"
    assert be.any()  # Solvay: Belgium raised its rate from 27 % to 30 % on 2017-01-01
    assert (wht[before, be] == 0.27).all() and (wht[after, be] == 0.30).all()
    offshore = np.isin(domiciles, ["GG", "VG"])  # RBW.L, CRML
    assert offshore.any() and (wht[:, offshore] == 0.0).all()
    assert (wht[:, domiciles == "JP"] == 0.15315).all() and (wht[:, domiciles == "US"] == 0.30).all()
