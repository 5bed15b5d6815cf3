"""Correctness of the reference paths the performance harness (``benchmarks/``) times ours against.

The harness reports speed ratios only after checking that bt and the naive pandas loop give the
engine's price-return levels to 1e-9; these tests pin that agreement on small hand-made cases
(including names entering and leaving the target, and zero weights), so a ratio is never quoted
against a reference that computes something else. Speed itself is never asserted.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

# `benchmarks/` is not installed with the package: make the repository root importable also under
# a bare `pytest` (`python -m pytest` from the root already has it on sys.path).
_ROOT = str(Path(__file__).resolve().parents[1])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from benchmarks.peers import (  # noqa: E402
    bt_backtest,
    bt_price_levels,
    naive_price_levels,
    prices_from_returns,
)
from benchmarks.universes import capped_cap_weights  # noqa: E402
from exchina_index.simulation.engine import run_index  # noqa: E402

TOL = 1e-9


def _case(seed: int = 7, T: int = 160, N: int = 7):
    rng = np.random.default_rng(seed)
    r = rng.normal(0.0004, 0.025, (T, N))
    reb = np.array([3, 40, 41, 95, 150])  # includes two reviews on consecutive closes
    tw = rng.random((len(reb), N))
    tw[0, 2] = 0.0  # a name out of the first target ...
    tw[1:3, 4] = 0.0  # ... one that leaves and comes back ...
    tw[4, :3] = 0.0  # ... and a concentrated last target
    tw /= tw.sum(axis=1, keepdims=True)
    dates = pd.bdate_range("2011-03-01", periods=T)
    cols = [f"S{i}" for i in range(N)]
    returns = pd.DataFrame(r, index=dates, columns=cols)
    weights = pd.DataFrame(tw, index=dates[reb], columns=cols)
    run = run_index(
        r, np.zeros_like(r), np.zeros(N), np.ones((T, N), bool), reb, tw, np.zeros((len(reb), N)), 0.0, np.ones(T)
    )
    return returns, weights, run.price_return_level


def _assert_same_levels(ours: np.ndarray, other: np.ndarray) -> None:
    assert np.array_equal(np.isnan(ours), np.isnan(other))
    ok = ~np.isnan(ours)
    assert ok.sum() > 100
    np.testing.assert_allclose(other[ok], ours[ok], rtol=TOL, atol=0.0)


def test_naive_pandas_loop_gives_the_engine_levels() -> None:
    returns, weights, ours = _case()
    _assert_same_levels(ours, naive_price_levels(returns, weights))


def test_bt_strategy_gives_the_engine_levels() -> None:
    pytest.importorskip("bt")
    returns, weights, ours = _case()
    test = bt_backtest(prices_from_returns(returns), weights)
    test.run()
    levels = bt_price_levels(test, weights.index[0])
    _assert_same_levels(ours, levels)
    assert levels[np.flatnonzero(~np.isnan(levels))[0]] == pytest.approx(1000.0, rel=1e-15)


def test_prices_from_returns_round_trip() -> None:
    returns, _, _ = _case()
    prices = prices_from_returns(returns)
    assert (prices.iloc[0] == 100.0).all()
    back = prices.pct_change().iloc[1:].to_numpy()
    np.testing.assert_allclose(back, returns.iloc[1:].to_numpy(), rtol=1e-12, atol=1e-15)


def test_capped_cap_weights_respects_cap_alive_and_proportions() -> None:
    mcap = np.array([100.0, 50.0, 10.0, 5.0, np.nan, 1.0, 1000.0] + [2.0] * 13)
    alive = np.ones(mcap.size, bool)
    alive[6] = False  # the biggest name is not alive: weight 0
    w = capped_cap_weights(mcap, alive, cap=0.08)
    assert w.sum() == pytest.approx(1.0, abs=1e-15)
    assert w[6] == 0.0
    assert w.max() <= 0.08 + 1e-12
    assert w[4] > 0.0  # unknown market cap: held at the median size
    uncapped = (w > 0) & (w < 0.08 - 1e-12)
    ratio = w[uncapped] / np.where(np.isnan(mcap), np.nanmedian(mcap[alive & (mcap > 0)]), mcap)[uncapped]
    np.testing.assert_allclose(ratio, ratio[0], rtol=1e-12)


def test_report_renders_failed_cases() -> None:
    from benchmarks.report import markdown

    res = {
        "machine": {
            "cpu_model": "x",
            "cpus_usable": 2,
            "python": "3",
            "versions": {"numpy": "2", "pandas": "3", "cvxpy": "1", "clarabel": "0", "bt": None},
        },
        "git": {"commit": "abc", "dirty": False},
        "total_s": 1.0,
        "optimizer": {"50": {"ok": False, "error": "Boom | with a pipe"}},
        "engine": {"50": {"ok": False, "error": "failed"}},
        "e2e": {"ok": False, "error": "InfeasibleError: review"},
        "startup": {"ok": False, "error": "x"},
    }
    text = markdown(res)
    assert "Boom / with a pipe" in text and "failed" in text
