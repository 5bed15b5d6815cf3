"""Hand-computed tests of the daily calculation kernel ``run_daily`` with no corporate actions.

Every expectation is written out from the arithmetic in the comments (index shares ``n = w MV / P``,
``PR = MV / D``, ``D = base_value / start_level``), and cross-checked against the return-chained
engine ``run_index`` on the same inputs. Listing A is quoted in USD (FX 1); B in a currency whose FX
moves (1.25, 1.5, 1.0, 1.25), so its USD close is its local close times that day's FX.
"""

from __future__ import annotations

import numpy as np
import pytest

from exchina_index.simulation.daily import run_daily
from exchina_index.simulation.engine import run_index

TOL = 1e-12
FX_B = [1.25, 1.5, 1.0, 1.25]


def _daily(price_usd, fx, trade_rows, targets, dividend_usd=None, withholding=None, alive=None):
    """run_daily with no events, start level 1000 and base value 1e6 (so the divisor is 1000)."""
    T, N = price_usd.shape
    return run_daily(
        price_usd,
        fx,
        np.zeros((T, N)) if dividend_usd is None else dividend_usd,
        np.zeros((T, N)) if withholding is None else withholding,
        np.isfinite(price_usd) if alive is None else alive,
        np.asarray(trade_rows),
        np.asarray(targets, dtype=float),
        [],
        {},
        start_level=1000.0,
        base_value=1e6,
    )


def _engine(price_usd, trade_rows, targets, dividend_usd, withholding):
    """run_index on the same inputs: returns P[t]/P[t-1] - 1, yields div[t]/P[t-1], no costs."""
    T, N = price_usd.shape
    r = np.zeros((T, N))
    d = np.zeros((T, N))
    with np.errstate(invalid="ignore"):
        r[1:] = price_usd[1:] / price_usd[:-1] - 1.0
        d[1:] = dividend_usd[1:] / price_usd[:-1]
    alive = np.isfinite(price_usd)
    return run_index(
        price_return=r,
        dividend_yield=d,
        withholding=withholding,
        alive=alive,
        rebalance_index=np.asarray(trade_rows),
        target_weights=np.asarray(targets, dtype=float),
        cost_rate=np.zeros((len(trade_rows), N)),
        expense_ratio=0.0,
        day_count=np.ones(T, dtype=int),
    )


def _two_listings():
    """A: USD closes 10, 11, 12, 10. B: local 20, 20, 25, 16 at FX 1.25, 1.5, 1.0, 1.25 -> USD 25, 30, 25, 20."""
    fx = np.column_stack([np.ones(4), FX_B])
    local = np.array([[10.0, 20.0], [11.0, 20.0], [12.0, 25.0], [10.0, 16.0]])
    return local * fx, fx


def test_no_events_levels_divisor_and_shares_by_hand():
    price, fx = _two_listings()
    run = _daily(price, fx, [0], [[0.5, 0.5]])
    # n_A = 500000 / 10 = 50000, n_B = 500000 / 25 = 20000; D = 1e6 / 1000 = 1000
    np.testing.assert_allclose(run.shares[0], [50000.0, 20000.0], rtol=TOL)
    np.testing.assert_allclose(run.divisor, [1000.0] * 4, rtol=TOL)
    # MV1 = 50000*11 + 20000*30 = 1150000; MV2 = 600000 + 500000; MV3 = 500000 + 400000
    np.testing.assert_allclose(run.price_return, [1000.0, 1150.0, 1100.0, 900.0], rtol=TOL)
    np.testing.assert_array_equal(run.constituents, [2, 2, 2, 2])
    np.testing.assert_allclose(run.reference[2], price[1], rtol=TOL)  # the open's reference: the last close


def test_second_trade_keeps_divisor_and_resets_shares():
    price, fx = _two_listings()
    run = _daily(price, fx, [0, 2], [[0.5, 0.5], [0.6, 0.4]])
    # at the close of row 2 MV = 1100000: n_A = 0.6*1100000/12 = 55000, n_B = 0.4*1100000/25 = 17600
    np.testing.assert_allclose(run.shares[3], [55000.0, 17600.0], rtol=TOL)
    np.testing.assert_allclose(run.after_close, [55000.0, 17600.0], rtol=TOL)
    np.testing.assert_allclose(run.divisor, [1000.0] * 4, rtol=TOL)
    # MV3 = 55000*10 + 17600*20 = 550000 + 352000
    np.testing.assert_allclose(run.price_return, [1000.0, 1150.0, 1100.0, 902.0], rtol=TOL)


def _dividend_case():
    """A pays 0.5 USD on row 1 (no withholding); B pays local 0.8 on row 3 (USD 1.0 at FX 1.25), 30 % withheld."""
    price, fx = _two_listings()
    div = np.zeros((4, 2))
    div[1, 0] = 0.5
    div[3, 1] = 0.8 * 1.25
    wht = np.zeros((4, 2))
    wht[:, 1] = 0.30
    return price, fx, div, wht


def test_total_return_and_net_total_return_with_withholding_by_hand():
    price, fx, div, wht = _dividend_case()
    run = _daily(price, fx, [0, 2], [[0.5, 0.5], [0.6, 0.4]], div, wht)
    tr1 = 1000.0 * (1150000.0 + 50000 * 0.5) / 1e6  # 1175: A's dividend, gross = net
    tr2 = tr1 * 1100000.0 / 1150000.0
    # row 3: shares (55000, 17600) open at MV' = 55000*12 + 17600*25 = 1100000; B pays 17600 * 1.0
    tr3 = tr2 * (902000.0 + 17600.0) / 1100000.0
    ntr3 = tr2 * (902000.0 + 17600.0 * 0.7) / 1100000.0
    np.testing.assert_allclose(run.total_return, [1000.0, 1175.0, tr2, tr3], rtol=TOL)
    np.testing.assert_allclose(run.net_total_return, [1000.0, 1175.0, tr2, ntr3], rtol=TOL)
    np.testing.assert_allclose(run.price_return, [1000.0, 1150.0, 1100.0, 902.0], rtol=TOL)


def test_no_events_equals_the_engine():
    price, fx, div, wht = _dividend_case()
    rows, targets = [0, 2], [[0.5, 0.5], [0.6, 0.4]]
    run = _daily(price, fx, rows, targets, div, wht)
    eng = _engine(price, rows, targets, div, wht)
    np.testing.assert_allclose(run.price_return, eng.price_return_level, rtol=TOL)
    np.testing.assert_allclose(run.total_return, eng.total_return_level, rtol=TOL)
    np.testing.assert_allclose(run.net_total_return, eng.net_total_return_level, rtol=TOL)
    assert not run.engine.trades and not run.engine.rows  # nothing for the engine to follow


def _ending_data():
    """A USD 10, 11, 12, 12; B USD 25, 30, 42, 42; C USD 20, 16, then no data (alive False from row 2)."""
    price = np.array(
        [[10.0, 25.0, 20.0], [11.0, 30.0, 16.0], [12.0, 42.0, np.nan], [12.0, 42.0, np.nan]],
    )
    fx = np.column_stack([np.ones(4), [1.25, 1.5, 1.0, 1.25], np.ones(4)])
    return price, fx


def test_held_listing_whose_data_end_is_deleted_at_its_last_close():
    price, fx = _ending_data()
    run = _daily(price, fx, [0], [[0.5, 0.25, 0.25]])
    # n = (500000/10, 250000/25, 250000/20) = (50000, 10000, 12500); MV1 = 550000 + 300000 + 200000
    np.testing.assert_allclose(run.shares[0], [50000.0, 10000.0, 12500.0], rtol=TOL)
    assert run.price_return[1] == pytest.approx(1050.0, rel=TOL)
    # open of row 2: C removed at 16, MV' = 850000, D' = 1000 * 850000 / 1050000
    d2 = 1000.0 * 850000.0 / 1050000.0
    np.testing.assert_allclose(run.divisor, [1000.0, 1000.0, d2, d2], rtol=TOL)
    np.testing.assert_allclose(run.shares[2], [50000.0, 10000.0, 0.0], rtol=TOL)
    level_open = (run.shares[2] * np.nan_to_num(run.reference[2])).sum() / run.divisor[2]
    assert level_open == pytest.approx(1050.0, rel=TOL)  # continuous across the deletion
    # close of row 2: MV = 50000*12 + 10000*42 = 1020000 = 1.2 * 850000 -> 1.2 * 1050
    np.testing.assert_allclose(run.price_return[2:], [1260.0, 1260.0], rtol=TOL)
    np.testing.assert_array_equal(run.constituents, [3, 3, 2, 2])
    (effect,) = run.effects
    assert (effect.row, effect.columns, effect.shares_before, effect.shares_after) == (2, (2,), (12500.0,), (0.0,))


def test_deletion_at_end_of_data_equals_the_engine_delisting():
    price, fx = _ending_data()
    targets = [[0.5, 0.25, 0.25]]
    run = _daily(price, fx, [0], targets)
    eng = _engine(price, [0], targets, np.zeros_like(price), np.zeros((4, 3)))
    np.testing.assert_allclose(run.price_return, eng.price_return_level, rtol=TOL)
    np.testing.assert_allclose(run.total_return, eng.total_return_level, rtol=TOL)
    assert eng.delisting_events == [(1, 2)]  # the engine sells C at its last close too
