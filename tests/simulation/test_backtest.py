"""The backtest on the demo market: no look-ahead, consistency of levels, weights and costs."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

import exchina_index as xi
from exchina_index.data.market import MarketData
from exchina_index.simulation.benchmark import universe_cap_weighted_returns

START, END = "2025-06-01", "2026-09-30"


@pytest.fixture(scope="module")
def setup():
    universe = xi.load_universe()
    method = xi.load_methodology()
    market = xi.load_market_data(universe, source="demo")
    return universe, method, market


@pytest.fixture(scope="module")
def result(setup):
    universe, method, market = setup
    return xi.backtest(universe, market, method, start=START, end=END, aum=50e6)


def _perturbed(market: MarketData, after: pd.Timestamp) -> MarketData:
    """The same market with every price and volume after `after` changed."""
    late = np.broadcast_to((market.close.index > after)[:, None], market.close.shape)
    rng = np.random.default_rng(7)
    factor = pd.DataFrame(
        rng.uniform(0.5, 2.0, market.close.shape), index=market.close.index, columns=market.close.columns
    )
    close = market.close.where(~late, market.close * factor)
    volume = market.volume.where(~late, market.volume * 3.0)
    fields = {f.name: getattr(market, f.name) for f in dataclasses.fields(market) if f.init}
    return MarketData(**{**fields, "close": close, "volume": volume})


def test_first_review_trades_on_its_date_and_levels_start_at_1000(result, setup) -> None:
    _, method, _ = setup
    first = xi.review_dates(method, START, END)["implement"].iloc[0]
    assert result.levels.index[0] == first == result.weights.index[0]
    assert (result.levels.iloc[0][["price_return", "total_return", "net_total_return"]] == 1000.0).all()
    assert result.turnover.iloc[0] == pytest.approx(0.5)  # buying the first portfolio from cash


def test_levels_and_weights_are_consistent(result) -> None:
    lv = result.levels
    # dividends only add: TR >= NTR >= PR; costs and fees only subtract from the fund
    assert (lv["total_return"] >= lv["net_total_return"] - 1e-9).all()
    assert (lv["net_total_return"] >= lv["price_return"] - 1e-9).all()
    assert lv["nav"].iloc[-1] < lv["net_total_return"].iloc[-1] and result.tracking_difference < 0
    np.testing.assert_allclose(result.weights.sum(axis=1), 1.0, atol=1e-9)
    assert (result.weights.to_numpy() >= 0).all()
    np.testing.assert_allclose(result.drifted.sum(axis=1), 1.0, atol=1e-9)
    assert result.synthetic and result.data_source == "demo"


def test_targets_hold_only_names_eligible_at_the_cutoff(result, setup) -> None:
    universe, method, market = setup
    previous = None  # incumbents get the retention buffers
    for (impl, wr), cutoff in zip(result.reviews.items(), result.schedule["cutoff"]):
        s = xi.screen(universe, cutoff, method, market=market.truncate(cutoff), previous=previous)
        held = wr.weights[wr.weights > 0].index
        previous = held
        assert s.loc[held, "eligible"].all(), impl
        st = wr.report.stages
        assert (abs(st["after"] - st["target"]) <= 0.10 + 1e-8).all()  # within the widest relaxed band


def test_no_look_ahead(setup, result) -> None:
    universe, method, market = setup
    cutoff = result.schedule["cutoff"].iloc[2]
    other = xi.backtest(universe, _perturbed(market, cutoff), method, start=START, end=END, aum=50e6)
    for impl, wr in result.reviews.items():
        if result.schedule.set_index("implement").loc[impl, "cutoff"] <= cutoff:
            pd.testing.assert_series_equal(wr.weights, other.reviews[impl].weights)
    upto = result.levels.index <= cutoff
    pd.testing.assert_frame_equal(result.levels[upto], other.levels[upto])
    assert not result.levels.iloc[-1].equals(other.levels.iloc[-1])  # the perturbation did bite


def test_universe_benchmark_by_hand(setup) -> None:
    universe, _, market = setup
    bench = universe_cap_weighted_returns(universe, market, "2025-03-03", "2025-03-07")
    primary = universe.frame.index[universe.frame["primary"]]
    cap = market.market_cap_usd().reindex(columns=primary)
    ret = market.returns("total").reindex(columns=primary)
    dates = cap.index
    for day in bench.index:
        prev = dates[dates.get_loc(day) - 1]
        num = den = 0.0
        for t in primary:
            c, r = cap.loc[prev, t], ret.loc[day, t]
            if np.isfinite(c) and np.isfinite(r):
                num += c * r
                den += c
        assert bench.loc[day] == pytest.approx(num / den, rel=1e-12)


@pytest.mark.parametrize(
    ("kwargs", "error", "words"),
    [
        ({"start": "2024-W01-1"}, xi.ReviewDateError, "start"),  # Python 3.11's fromisoformat reads it as 2024-01-01
        ({"start": "20240101"}, xi.ReviewDateError, "start"),
        ({"start": 20240101}, xi.ReviewDateError, "start"),  # pandas reads it as nanoseconds since 1970
        ({"end": "30/09/2026"}, xi.ReviewDateError, "end"),
        ({"start": "2026-01-01", "end": "2025-01-01"}, xi.ReviewDateError, "must be after start"),
        ({"aum": float("inf")}, xi.InputError, "AUM"),
        ({"aum": 1e30}, xi.InputError, "AUM"),
        ({"aum": "big"}, xi.InputError, "AUM"),
        ({"methodology": {}}, xi.MethodologyError, "must be a Methodology"),  # used to mean the bundled rulebook
        ({"universe": "universe.csv"}, xi.UniverseError, "must be a Universe"),
        ({"market": "demo"}, xi.DataError, "must be a MarketData"),
        ({"progress": "bar"}, xi.InputError, "progress"),
    ],
)
def test_bad_arguments_are_typed_errors_before_any_review(setup, kwargs: dict, error: type, words: str) -> None:
    universe, method, market = setup
    calls = []
    args = {
        "universe": universe,
        "market": market,
        "methodology": method,
        "start": START,
        "end": END,
        "progress": lambda *a: calls.append(a),
        **kwargs,
    }
    with pytest.raises(error, match=words):
        xi.backtest(**args)
    assert calls == []
