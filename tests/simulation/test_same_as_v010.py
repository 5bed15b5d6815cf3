"""The array review pipeline gives the index that the pandas pipeline of 0.1.0 gave.

The fixtures were written by exchina-index 0.1.0 (commit 6dc2e92, before issue 12 moved the review
to arrays and split the package): every review's weights and the levels at each implementation
date of the bundled demo backtest, as exact float reprs. The two implementations share no review
code, so this compares the new pipeline with an independent one. When the change was made the
match was exact (bit for bit); the tolerance below leaves room only for a different solver build.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import exchina_index as xi

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


@pytest.fixture(scope="module")
def demo_backtest() -> xi.BacktestResult:
    universe = xi.load_universe()
    market = xi.load_market_data(universe, source="demo")
    return xi.backtest(
        universe, market, methodology=xi.load_methodology(), start="2016-01-01", end="2026-09-30", aum=250e6
    )


def test_every_review_has_the_weights_of_0_1_0(demo_backtest: xi.BacktestResult) -> None:
    old = pd.read_csv(FIXTURES / "demo_reviews_v0.1.0.csv", comment="#", parse_dates=["implement"])
    assert sorted(demo_backtest.reviews) == sorted(old["implement"].unique())
    for implement, rows in old.groupby("implement"):
        new = demo_backtest.reviews[implement].weights
        assert sorted(new.index[new != 0]) == sorted(rows["ticker"]), implement
        np.testing.assert_allclose(
            new[rows["ticker"]].to_numpy(), rows["weight"].to_numpy(), rtol=0, atol=1e-12, err_msg=str(implement)
        )


def test_levels_are_those_of_0_1_0(demo_backtest: xi.BacktestResult) -> None:
    old = pd.read_csv(FIXTURES / "demo_levels_v0.1.0.csv", comment="#", parse_dates=["date"], index_col="date")
    new = demo_backtest.levels.loc[old.index, old.columns]
    np.testing.assert_allclose(new.to_numpy(), old.to_numpy(), rtol=1e-12, atol=0)
