"""Hand-computed tests of each corporate-action kind in the daily calculation, and of the backtest
engine following the same events.

Common case (start level 1000, base value 1e6, so the divisor starts at 1000): listings A (USD), B
(local currency at FX 1.25, 1.5, 1.0, 1.25 on rows 0-3) and C (USD; not held at the start). The
trade at row 0 holds half in A and half in B: A closes 10, 11, B local 20, 20 (USD 25, 30), so
``n = (500000/10, 500000/25) = (50000, 20000)`` and the close of row 1 is
``(50000*11 + 20000*30) / 1000 = 1150``. Every event has its ex-date at row 2: it is applied at the
open of row 2 with the reference prices of the close of row 1 (A 11, B 30 USD, B's local amounts at
FX 1.5). Each test checks the shares, the USD reference price and the divisor after the event by
hand, that the level at the open (``sum n' ref' / D'``) is the previous close 1150, and the close of
row 2 (and row 3 where it adds something).
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from exchina_index.errors import DataError
from exchina_index.simulation.calculation import label_daily
from exchina_index.simulation.daily import EngineAdjustments, run_daily
from exchina_index.simulation.engine import run_index
from exchina_index.simulation.event_inputs import EventView, event_view, follow_events, merge_engine_trades
from exchina_index.universe.corporate_actions import CorporateAction

TOL = 1e-12
DATES = pd.bdate_range("2025-03-03", periods=5)
TICKERS = pd.Index(["A", "B", "C"])
COLUMN_OF = {t: i for i, t in enumerate(TICKERS)}
FX = np.column_stack([np.ones(4), [1.25, 1.5, 1.0, 1.25], np.ones(4)])
W0 = [0.5, 0.5, 0.0]


def _event(kind: str, ticker: str, **terms: float | str) -> CorporateAction:
    return CorporateAction(kind, ticker, DATES[2], tuple(sorted(terms.items())), source="hand")


def _case(b23=(20.0, 20.0), c=(np.nan,) * 4, a_gone=False, b_gone=False):
    """USD closes as traded (A 10, 11, 12, 13; B local 20, 20, then ``b23``; C in USD) and ``alive``.

    ``*_gone``: the listing's data end at row 2 (a terminal event there)."""
    local = np.array([[10.0, 20.0, c[0]], [11.0, 20.0, c[1]], [12.0, b23[0], c[2]], [13.0, b23[1], c[3]]])
    if a_gone:
        local[2:, 0] = np.nan
    if b_gone:
        local[2:, 1] = np.nan
    price = local * FX
    return price, np.isfinite(price)


def _run(price, alive, events, targets=(W0,)):
    T, N = price.shape
    return run_daily(
        price,
        FX[:T],
        np.zeros((T, N)),
        np.zeros((T, N)),
        alive,
        np.array([0]),
        np.array(targets, dtype=float),
        [(2, COLUMN_OF[ev.ticker], ev) for ev in events],
        COLUMN_OF,
        start_level=1000.0,
        base_value=1e6,
    )


def _check_open(run, shares, ref, divisor, row=2, prev_close=1150.0):
    """Shares, USD reference prices (of the held lines) and divisor after the events of ``row``, and
    the level at its open equal to the previous close."""
    n, r = run.shares[row], run.reference[row]
    held = n > 0
    np.testing.assert_allclose(n, shares, rtol=TOL)
    np.testing.assert_allclose(r[held], np.asarray(ref)[held], rtol=TOL)
    assert run.divisor[row] == pytest.approx(divisor, rel=TOL)
    assert run.price_return[row - 1] == pytest.approx(prev_close, rel=TOL)
    assert (n[held] * r[held]).sum() / run.divisor[row] == pytest.approx(prev_close, rel=TOL)


# ---------------------------------------------------------------------------- the cases, by kind
def _split():
    # 2:1 on B: n_B 20000 -> 40000, ref 30 -> 15; B trades at local 11 (USD 11 at FX 1.0) on row 2
    price, alive = _case(b23=(11.0, 11.0))
    return price, alive, [_event("split", "B", ratio=2.0)]


def _special_dividend():
    # local 2 on B, USD 3 at the previous FX 1.5: ref 30 -> 27; B trades at local 27 on row 2
    price, alive = _case(b23=(27.0, 27.0))
    return price, alive, [_event("special_dividend", "B", amount=2.0)]


def _rights():
    # 1 new for 2 held at local 14 (USD 21): TERP (30 + 0.5*21) / 1.5 = 27, n_B 30000
    price, alive = _case(b23=(27.0, 27.0))
    return price, alive, [_event("rights", "B", ratio=0.5, price=14.0)]


def _spin_off():
    # B spins off C, 1 C for 2 B: n_C = 10000 at a price of zero; C first trades on row 2 at 28
    price, alive = _case(b23=(16.0, 16.0), c=(np.nan, np.nan, 28.0, 30.0))
    return price, alive, [_event("spin_off", "B", new="C", ratio=0.5)]


def _cash_merger():
    price, alive = _case(b_gone=True)
    return price, alive, [_event("cash_merger", "B", cash=21.0)]


def _stock_merger_new_acquirer():
    # B into C (not held, USD 40 at the close of row 1), 0.5 C per B: n_C = 10000 at ref 40
    price, alive = _case(b_gone=True, c=(38.0, 40.0, 44.0, 46.0))
    return price, alive, [_event("stock_merger", "B", acquirer="C", cash=0.0, ratio=0.5)]


def test_split_two_for_one():
    run = _run(*_split())
    _check_open(run, [50000.0, 40000.0, 0.0], [11.0, 15.0, 0.0], 1000.0)
    # MV2 = 50000*12 + 40000*11 = 1040000, divisor unchanged
    assert run.price_return[2] == pytest.approx(1040.0, rel=TOL)


def test_consolidation_one_for_ten():
    price, alive = _case(b23=(250.0, 250.0))
    run = _run(price, alive, [_event("consolidation", "B", ratio=0.1)])
    _check_open(run, [50000.0, 2000.0, 0.0], [11.0, 300.0, 0.0], 1000.0)
    assert run.price_return[2] == pytest.approx((600000.0 + 2000 * 250.0) / 1000.0, rel=TOL)


def test_special_dividend_lowers_reference_and_divisor():
    run = _run(*_special_dividend())
    d = 1000.0 * (550000.0 + 20000 * 27.0) / 1150000.0  # MV' = 1090000
    _check_open(run, [50000.0, 20000.0, 0.0], [11.0, 27.0, 0.0], d)
    assert run.divisor[2] < 1000.0
    assert run.price_return[2] == pytest.approx((600000.0 + 20000 * 27.0) / d, rel=TOL)


def test_rights_issue_at_terp_raises_divisor_by_cash_subscribed():
    run = _run(*_rights())
    d = 1000.0 * (550000.0 + 30000 * 27.0) / 1150000.0  # MV' = 1360000 = 1150000 + 10000 new * 21
    _check_open(run, [50000.0, 30000.0, 0.0], [11.0, 27.0, 0.0], d)
    assert run.price_return[2] == pytest.approx((600000.0 + 30000 * 27.0) / d, rel=TOL)


def test_spin_off_enters_at_zero_and_next_close_includes_it():
    run = _run(*_spin_off())
    _check_open(run, [50000.0, 20000.0, 10000.0], [11.0, 30.0, 0.0], 1000.0)
    assert run.reference[2, 2] == 0.0
    # row 2: 50000*12 + 20000*16 + 10000*28 = 1200000; row 3: 650000 + 20000*20 + 10000*30 = 1350000
    np.testing.assert_allclose(run.price_return[2:], [1200.0, 1350.0], rtol=TOL)
    np.testing.assert_allclose(run.divisor, [1000.0] * 4, rtol=TOL)
    assert run.constituents[2] == 3


def test_cash_merger_removes_target_at_last_close():
    run = _run(*_cash_merger())
    d = 1000.0 * 550000.0 / 1150000.0
    _check_open(run, [50000.0, 0.0, 0.0], [11.0, 0.0, 0.0], d)
    np.testing.assert_allclose(run.price_return[2:], [600000.0 / d, 650000.0 / d], rtol=TOL)
    assert [e.kind for e in run.effects] == ["cash_merger"]  # no second deletion at the end of B's data


def test_stock_merger_into_held_acquirer():
    price, alive = _case(b_gone=True)
    run = _run(price, alive, [_event("stock_merger", "B", acquirer="A", cash=0.0, ratio=2.0)])
    d = 1000.0 * (90000 * 11.0) / 1150000.0  # n_A = 50000 + 2 * 20000
    _check_open(run, [90000.0, 0.0, 0.0], [11.0, 0.0, 0.0], d)
    assert run.price_return[2] == pytest.approx(90000 * 12.0 / d, rel=TOL)
    (effect,) = run.effects
    assert effect.columns == (1, 0) and effect.shares_after == (0.0, 90000.0)


def test_stock_merger_acquirer_not_held_enters():
    run = _run(*_stock_merger_new_acquirer())
    d = 1000.0 * (550000.0 + 10000 * 40.0) / 1150000.0
    _check_open(run, [50000.0, 0.0, 10000.0], [11.0, 0.0, 40.0], d)
    np.testing.assert_allclose(run.price_return[2:], [(600000.0 + 440000.0) / d, (650000.0 + 460000.0) / d], rtol=TOL)


def test_deletion_of_usd_listing():
    price, alive = _case(a_gone=True)
    run = _run(price, alive, [_event("deletion", "A")])
    d = 1000.0 * 600000.0 / 1150000.0  # B alone: 20000 * 30
    _check_open(run, [0.0, 20000.0, 0.0], [0.0, 30.0, 0.0], d)
    # B local 20 at FX 1.0, then 1.25
    np.testing.assert_allclose(run.price_return[2:], [400000.0 / d, 500000.0 / d], rtol=TOL)


def test_notice_of_special_dividend_in_local_prices():
    run = _run(*_special_dividend())
    (notice,) = label_daily(run, DATES[:4], TICKERS).notices.to_dict("records")
    assert (notice["date"], notice["kind"], notice["ticker"], notice["affects"]) == (
        DATES[2],
        "special_dividend",
        "B",
        "B",
    )
    # local, as traded: 30 USD / 1.5 = 20 before, 27 / 1.5 = 18 after
    numbers = [float(notice[k]) for k in ("price_before", "price_after", "shares_after")]
    np.testing.assert_allclose(numbers, [20.0, 18.0, 20000.0], rtol=1e-9)
    assert notice["divisor_before"] == 1000.0
    assert notice["divisor_after"] == pytest.approx(1000.0 * 1090000.0 / 1150000.0, rel=TOL)
    assert notice["level"] == pytest.approx(1150.0, rel=TOL)


# ---------------------------------------------------------------------------- suspensions
def _market(b_close):
    """A stub of the market data ``event_view`` reads: A in USD 10..14, B in GBP (FX 1.25, 1.5, 1.0,
    1.25, 1.5), C never priced."""
    close = pd.DataFrame({"A": [10.0, 11.0, 12.0, 13.0, 14.0], "B": b_close, "C": np.nan}, index=DATES)
    fx = pd.DataFrame({"USD": 1.0, "GBP": [1.25, 1.5, 1.0, 1.25, 1.5]}, index=DATES)
    return SimpleNamespace(
        close=close,
        source="stub",
        alive=lambda: close.notna(),
        fx=fx,
        currency=pd.Series({"A": "USD", "B": "GBP", "C": "USD"}),
        dividends=close * 0.0,
    )


def _view_run(view):
    T = view.alive.shape[0]
    return run_daily(
        view.price_usd, view.fx, view.dividend_usd, np.zeros((T, 3)), view.alive, np.array([0]),
        np.array([W0]), view.events, COLUMN_OF, start_level=1000.0, base_value=1e6,
    )  # fmt: skip


def _suspended_view():
    market = _market([20.0, 20.0, np.nan, np.nan, np.nan])
    return event_view(market, TICKERS, (_event("suspension", "B"),), max_sessions=2)


def test_suspension_held_at_last_local_price_then_deleted_after_max_sessions():
    view = _suspended_view()
    assert view.spans == [(1, 2, 3)]
    np.testing.assert_allclose(view.price_usd[2:4, 1], [20.0 * 1.0, 20.0 * 1.25], rtol=TOL)
    run = _view_run(view)
    _check_open(run, [50000.0, 20000.0, 0.0], [11.0, 30.0, 0.0], 1000.0)
    # row 2: 600000 + 20000*20; row 3: 650000 + 20000*25; row 4: B deleted at 25 -> D = 1000*650000/1150000
    d4 = 1000.0 * 650000.0 / 1150000.0
    np.testing.assert_allclose(run.price_return[1:], [1150.0, 1000.0, 1150.0, 700000.0 / d4], rtol=TOL)
    assert run.divisor[4] == pytest.approx(d4, rel=TOL)
    assert [e.kind for e in run.effects] == ["suspension", "deletion (end of data)"]


def test_suspension_ended_by_cash_merger():
    market = _market([20.0, 20.0, np.nan, np.nan, np.nan])
    ev = (_event("suspension", "B"), CorporateAction("cash_merger", "B", DATES[3], (("cash", 0.0),), "hand"))
    view = event_view(market, TICKERS, ev, max_sessions=10)
    assert view.spans == [(1, 2, 2)]
    run = _view_run(view)
    # row 3 open: B (20000 at 20 USD) leaves, MV 1000000 -> 650000 - 50000 = 600000, D = 600
    _check_open(run, [50000.0, 0.0, 0.0], [12.0, 0.0, 0.0], 600.0, row=3, prev_close=1000.0)
    np.testing.assert_allclose(run.price_return[3:], [650000.0 / 600.0, 700000.0 / 600.0], rtol=TOL)


# ---------------------------------------------------------------------------- the engine follows
def _follow(view, price_return):
    T, N = view.alive.shape
    trades = ([0], [np.array(W0)], [np.zeros(N)], [True])
    fol = follow_events(view, slice(0, T), trades, price_return, np.zeros((T, N)), np.zeros((T, N)), 1000.0)
    eng = run_index(
        price_return=fol.price_return, dividend_yield=fol.dividend_yield, withholding=np.zeros((T, N)),
        alive=view.alive, rebalance_index=np.array(fol.trades[0]), target_weights=np.vstack(fol.trades[1]),
        cost_rate=np.vstack(fol.trades[2]), expense_ratio=0.0, day_count=np.ones(T, dtype=int),
    )  # fmt: skip
    return fol.daily, eng


def _naive_returns(close_usd):
    r = np.zeros_like(close_usd)
    with np.errstate(invalid="ignore"):
        r[1:] = close_usd[1:] / close_usd[:-1] - 1.0
    return r


@pytest.mark.parametrize(
    "case", [_split, _special_dividend, _rights, _spin_off, _cash_merger, _stock_merger_new_acquirer]
)
def test_engine_follows_the_daily_calculation(case):
    price, alive, events = case()
    placed = [(2, COLUMN_OF[ev.ticker], ev) for ev in events]
    # the market's closes are split-adjusted: before the split B's close is divided by the ratio
    close = price.copy()
    for _, col, ev in placed:
        if ev.kind == "split":
            close[:2, col] /= float(ev.term("ratio"))
    view = EventView(TICKERS, alive, placed, close, price, np.zeros_like(price), FX, [])
    daily, eng = _follow(view, _naive_returns(close))
    hand = _run(price, alive, events)
    np.testing.assert_allclose(daily.price_return, hand.price_return, rtol=TOL)
    np.testing.assert_allclose(eng.price_return_level, daily.price_return, rtol=TOL)
    np.testing.assert_allclose(eng.total_return_level, daily.total_return, rtol=TOL)


def test_engine_follows_a_suspension():
    view = _suspended_view()
    daily, eng = _follow(view, _naive_returns(np.where(view.alive, view.close_usd, np.nan)))
    np.testing.assert_allclose(eng.price_return_level, daily.price_return, rtol=TOL)
    assert eng.price_return_level[3] == pytest.approx(1150.0, rel=TOL)


def test_spin_off_costs_the_fund_nothing():
    price, alive, events = _spin_off()
    T, N = price.shape
    view = EventView(TICKERS, alive, [(2, 1, events[0])], price, price, np.zeros_like(price), FX, [])
    trades = ([0], [np.array(W0)], [np.full(N, 0.001)], [True])
    fol = follow_events(view, slice(0, T), trades, _naive_returns(price), np.zeros((T, N)), np.zeros((T, N)), 1000.0)
    eng = run_index(
        price_return=fol.price_return, dividend_yield=fol.dividend_yield, withholding=np.zeros((T, N)),
        alive=alive, rebalance_index=np.array(fol.trades[0]), target_weights=np.vstack(fol.trades[1]),
        cost_rate=np.vstack(fol.trades[2]), expense_ratio=0.0, day_count=np.ones(T, dtype=int),
    )  # fmt: skip
    # only the initial purchase at 0.1 % is paid
    np.testing.assert_allclose(eng.cost_by_day, [0.001, 0.0, 0.0, 0.0], atol=1e-15)


# ---------------------------------------------------------------------------- errors
def test_special_dividend_at_the_price_raises():
    price, alive = _case()
    with pytest.raises(DataError, match="special dividend"):
        _run(price, alive, [_event("special_dividend", "B", amount=20.0)])  # = the local close 20


def test_stock_merger_into_acquirer_without_price_raises():
    price, alive = _case(b_gone=True, c=(np.nan, np.nan, 44.0, 46.0))  # C first priced on the ex-date
    with pytest.raises(DataError, match="acquirer C"):
        _run(price, alive, [_event("stock_merger", "B", acquirer="C", cash=0.0, ratio=0.5)])


def test_spin_off_onto_held_listing_raises():
    price, alive = _case()
    with pytest.raises(DataError, match="already a constituent"):
        _run(price, alive, [_event("spin_off", "B", new="A", ratio=0.5)])


def test_merge_engine_trades_opening_replaces_review_and_split_out_gives_way():
    w0, w2, wo, ws = (np.array(v) for v in ([0.5, 0.5], [0.6, 0.4], [0.7, 0.3], [0.2, 0.8]))
    r0, r2 = np.array([0.001, 0.002]), np.array([0.003, 0.004])
    adj = EngineAdjustments(trades=[(2, wo, True, (1,)), (2, ws, False, (1,)), (4, ws, False, (1,))])
    rows, targets, rates, review = merge_engine_trades([0, 2], [w0, w2], [r0, r2], [True, True], adj)
    assert rows == [0, 2, 4]
    np.testing.assert_array_equal(targets[1], wo)  # the opening weights, at the review's close
    np.testing.assert_array_equal(rates[1], r2)  # with the review's cost rates
    assert review == [True, True, False]
    np.testing.assert_array_equal(targets[2], ws)  # a split-out trade alone at its close
    # the latest rates before it, except on the listing the event exchanged (no trade there)
    np.testing.assert_array_equal(rates[2], [0.003, 0.0])
    rows, targets, _, review = merge_engine_trades([0, 2], [w0, w2], [r0, r2], [True, True], EngineAdjustments(
        trades=[(2, ws, False, (0, 1))]
    ))  # fmt: skip
    np.testing.assert_array_equal(targets[1], w2)  # a split-out trade gives way to the review


def test_event_view_as_traded_prices_and_a_special_dividend_out_of_the_ordinary_ones():
    # Market data are split-adjusted: B's 2:1 split on DATES[2] shows in the view's prices as traded
    # (the closes before it doubled), and so do its dividends. A special dividend of the event file
    # (A: 0.5 on DATES[3]) that Yahoo also lists among the dividends (0.7 = 0.5 special + 0.2) leaves
    # only the ordinary 0.2 in the total return (the special is a price adjustment).
    market = _market([20.0, 20.0, 21.0, 22.0, 23.0])
    dividends = market.close * 0.0
    dividends.loc[DATES[1], "B"] = 0.1
    dividends.loc[DATES[3], "A"] = 0.7
    market.dividends = dividends.fillna(0.0)
    split = CorporateAction("split", "B", DATES[2], (("ratio", 2.0),), source="hand")
    special = CorporateAction("special_dividend", "A", DATES[3], (("amount", 0.5),), source="hand")
    view = event_view(market, TICKERS, (split, special), max_sessions=20)
    np.testing.assert_allclose(view.price_usd[:, 1], [40 * 1.25, 40 * 1.5, 21 * 1.0, 22 * 1.25, 23 * 1.5], rtol=TOL)
    np.testing.assert_allclose(view.close_usd[:2, 1], [20 * 1.25, 20 * 1.5], rtol=TOL)  # adjusted, as the market
    assert view.dividend_usd[1, 1] == pytest.approx(0.1 * 2 * 1.5, rel=TOL)
    assert view.dividend_usd[3, 0] == pytest.approx(0.2, rel=TOL)
    assert [(r, c, e.kind) for r, c, e in view.events] == [(2, 1, "split"), (3, 0, "special_dividend")]


def test_the_market_datas_splits_are_events_unless_the_event_file_has_them():
    # Yahoo's "Stock Splits" (MarketData.splits): B splits 2:1 on DATES[2] and A consolidates 1:4 on
    # DATES[3]; the event file has B's split already (kept once, the file's row), not A's.
    market = _market([20.0, 20.0, 21.0, 22.0, 23.0])
    splits = market.close * 0.0
    splits.loc[DATES[2], "B"] = 2.0
    splits.loc[DATES[3], "A"] = 0.25
    market.splits = splits.fillna(0.0)
    filed = CorporateAction("split", "B", DATES[2], (("ratio", 2.0),), source="file", line=7)
    view = event_view(market, TICKERS, (filed,), max_sessions=20)
    assert [(r, c, e.kind, e.term("ratio"), e.source) for r, c, e in view.events] == [
        (2, 1, "split", 2.0, "file"),
        (3, 0, "consolidation", 0.25, "market data (stub)"),
    ]
    np.testing.assert_allclose(view.price_usd[:, 0], [2.5, 2.75, 3.0, 13.0, 14.0], rtol=TOL)  # 10..12 x 0.25 as traded
    np.testing.assert_allclose(view.price_usd[:2, 1], [40 * 1.25, 40 * 1.5], rtol=TOL)


def test_a_special_dividend_is_taken_out_in_the_markets_split_adjusted_units():
    # A pays a special of 0.5 and an ordinary 0.2 on DATES[3], then splits 2:1 on DATES[4]: Yahoo's
    # split-adjusted dividend on DATES[3] is (0.5 + 0.2) / 2 = 0.35; as traded, 0.2 is left.
    market = _market([20.0, 20.0, 21.0, 22.0, 23.0])
    dividends = market.close * 0.0
    dividends.loc[DATES[3], "A"] = 0.35
    market.dividends = dividends.fillna(0.0)
    special = CorporateAction("special_dividend", "A", DATES[3], (("amount", 0.5),), source="hand")
    split = CorporateAction("split", "A", DATES[4], (("ratio", 2.0),), source="hand")
    view = event_view(market, TICKERS, (special, split), max_sessions=20)
    assert view.dividend_usd[3, 0] == pytest.approx(0.2, rel=TOL)
