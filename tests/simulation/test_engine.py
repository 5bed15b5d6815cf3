"""Tests of the array kernel ``exchina_index.simulation.engine.run_index``.

The references here are independent of the kernel: a hand-computed case, a direct product
formula, and ``run_index_reference``, a deliberately plain per-day loop that implements the
conventions of the module docstring one close at a time.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exchina_index.errors import DataError
from exchina_index.simulation import engine, periods
from exchina_index.simulation.engine import EngineInputError, IndexRun, run_index

RTOL = 1e-12
ATOL = 1e-12


# --------------------------------------------------------------------------------------------
# Independent reference: one Python loop over days, one over names, no vectorisation.
# --------------------------------------------------------------------------------------------
def run_index_reference(
    price_return,
    dividend_yield,
    withholding,
    alive,
    rebalance_index,
    target_weights,
    cost_rate,
    expense_ratio,
    day_count,
    start_level=1000.0,
    charge_initial_cost=True,
):
    T, N = price_return.shape
    reviews = [int(x) for x in rebalance_index]
    K = len(reviews)
    t0 = reviews[0]
    nan = float("nan")
    levels = np.full((T, 3), nan)
    nav = np.full(T, nan)
    rets = np.full((T, 3), nan)
    weights = np.full((T, N), nan)
    pre_trade = np.zeros((K, N))
    post_trade = np.zeros((K, N))
    turnover = np.zeros(K)
    cost = np.zeros(K)
    cost_by_day = np.zeros(T)
    events = []

    w = [0.0] * N
    pr_level = tr_level = ntr_level = nav_value = float(start_level)
    last_review = None
    for t in range(t0, T):
        if t > t0:
            pr = tr = ntr = 0.0
            wht = withholding[t] if np.ndim(withholding) == 2 else withholding  # the rates of the ex-date
            for i in range(N):
                if w[i] > 0.0:  # only held names are read
                    pr += w[i] * price_return[t, i]
                    tr += w[i] * (price_return[t, i] + dividend_yield[t, i])
                    ntr += w[i] * (price_return[t, i] + dividend_yield[t, i] * (1.0 - wht[i]))
            pr_level *= 1.0 + pr
            tr_level *= 1.0 + tr
            ntr_level *= 1.0 + ntr
            nav_value *= (1.0 + ntr) * (1.0 - expense_ratio * day_count[t] / 365.0)
            rets[t] = (pr, tr, ntr)
            grown = [w[i] * (1.0 + price_return[t, i]) if w[i] > 0.0 else 0.0 for i in range(N)]
            total = sum(grown)
            w = [g / total for g in grown] if total > 0.0 else [0.0] * N

        if t in reviews:
            k = reviews.index(t)
            target = [float(x) for x in target_weights[k]]
            s = sum(target)
            target = [x / s for x in target]
            dying = [i for i in range(N) if target[i] > 0.0 and t + 1 < T and not alive[t + 1, i]]
            new = _sell_and_reinvest(target, dying)
            events.extend((t, i) for i in dying)
            pre_trade[k] = w
            post_trade[k] = new
            turnover[k] = 0.5 * sum(abs(new[i] - w[i]) for i in range(N))
            cost[k] = sum(abs(new[i] - w[i]) * cost_rate[k, i] for i in range(N))
            paid = cost[k] if (k > 0 or charge_initial_cost) else 0.0
            nav_value *= 1.0 - paid
            cost_by_day[t] += paid
            w = new
            last_review = k
        else:
            dying = [i for i in range(N) if w[i] > 0.0 and t + 1 < T and not alive[t + 1, i]]
            if dying:
                new = _sell_and_reinvest(w, dying)
                paid = sum(abs(new[i] - w[i]) * cost_rate[last_review, i] for i in range(N))
                nav_value *= 1.0 - paid
                cost_by_day[t] += paid
                events.extend((t, i) for i in dying)
                w = new
        levels[t] = (pr_level, tr_level, ntr_level)
        nav[t] = nav_value
        weights[t] = w
    return {
        "price_return_level": levels[:, 0],
        "total_return_level": levels[:, 1],
        "net_total_return_level": levels[:, 2],
        "nav": nav,
        "daily_returns": rets,
        "drifted_weights": weights,
        "pre_trade_weights": pre_trade,
        "post_trade_weights": post_trade,
        "turnover": turnover,
        "cost": cost,
        "cost_by_day": cost_by_day,
        "delisting_events": sorted(events),
    }


def _sell_and_reinvest(w, dying):
    kept = [0.0 if i in dying else x for i, x in enumerate(w)]
    total = sum(kept)
    return [x / total for x in kept] if total > 0.0 else [0.0] * len(w)


def _assert_matches(run: IndexRun, ref: dict) -> None:
    for name in ("price_return_level", "total_return_level", "net_total_return_level", "nav"):
        np.testing.assert_allclose(getattr(run, name), ref[name], rtol=RTOL, atol=0, err_msg=name)
    for name in (
        "daily_returns",
        "drifted_weights",
        "pre_trade_weights",
        "post_trade_weights",
        "turnover",
        "cost",
        "cost_by_day",
    ):
        np.testing.assert_allclose(getattr(run, name), ref[name], rtol=0, atol=ATOL, err_msg=name)
    assert run.delisting_events == ref["delisting_events"]


def _call(fn, inputs, **kw):
    return fn(
        inputs["r"],
        inputs["d"],
        inputs["wht"],
        inputs["alive"],
        inputs["reb"],
        inputs["tw"],
        inputs["cr"],
        inputs["er"],
        inputs["dc"],
        **kw,
    )


# --------------------------------------------------------------------------------------------
# Random inputs for the property tests
# --------------------------------------------------------------------------------------------
def _random_inputs(seed: int, T: int, N: int, K: int, garbage: bool = True) -> dict | None:
    rng = np.random.default_rng(seed)
    # alive: listed from a random row, maybe delisted later
    first = rng.integers(0, max(1, T // 2), N)
    first[rng.random(N) < 0.5] = 0
    last = np.full(N, T)  # exclusive
    delist = rng.random(N) < 0.5
    last[delist] = [rng.integers(first[i] + 1, T + 1) for i in np.flatnonzero(delist)]
    rows = np.arange(T)[:, None]
    alive = (rows >= first) & (rows < last)
    # reviews on rows where at least one name is alive
    ok_rows = np.flatnonzero(alive.any(axis=1))
    if ok_rows.size == 0:
        return None
    K = min(K, ok_rows.size)
    reb = np.sort(rng.choice(ok_rows, K, replace=False))
    tw = np.zeros((K, N))
    for k, t in enumerate(reb):
        names = np.flatnonzero(alive[t])
        held = names[rng.random(names.size) < 0.7]
        if held.size == 0:
            held = names[:1]
        tw[k, held] = rng.uniform(0.05, 1.0, held.size)
    tw /= tw.sum(axis=1, keepdims=True)
    r = rng.uniform(-0.3, 0.3, (T, N))
    r[rng.random((T, N)) < 0.2] = 0.0  # holidays
    d = np.where(rng.random((T, N)) < 0.15, rng.uniform(0.0, 0.05, (T, N)), 0.0)
    if rng.random() < 0.3:
        d[:] = 0.0  # a price-only run
    if garbage:  # not-alive entries are never read: make them poison (or zero, sometimes)
        poison = np.where(rng.random((T, N)) < 0.5, np.nan, 1e300)
        r = np.where(alive, r, poison)
        if rng.random() < 0.7:
            d = np.where(alive, d, np.where(rng.random((T, N)) < 0.5, np.nan, -1e300))
    return {
        "r": r,
        "d": d,
        "wht": rng.choice([0.0, 0.15, 0.25, 0.3, 0.35], N),
        "alive": alive,
        "reb": reb,
        "tw": tw,
        "cr": rng.uniform(0.0, 0.01, (K, N)),
        "er": float(rng.choice([0.0, 0.0059, 0.02])),
        "dc": rng.integers(1, 5, T),
    }


# --------------------------------------------------------------------------------------------
# 1. Hand-computed case
# --------------------------------------------------------------------------------------------
def test_hand_computed_two_listings_one_dividend_one_rebalance():
    # Rows 0..4. A is a US listing (USD); B a London listing (GBP) converted to USD.
    # Reviews at the close of row 1 (start: 60/40) and row 3 (back to 50/50).
    #
    # B's USD return = (1 + local return) * (GBPUSD[t] / GBPUSD[t-1]) - 1
    #   GBPUSD: row1 1.25, row2 1.20, row3 1.20, row4 1.275
    #   row2: local +5 %  -> 1.05 * (1.20 / 1.25 = 0.96)  - 1 = 1.008 - 1 = 0.008
    #   row3: London holiday, FX flat -> 0.0
    #   row4: local -4 %  -> 0.96 * (1.275 / 1.20 = 1.0625) - 1 = 1.02 - 1 = 0.02
    rB = [
        0.0,
        0.0,
        1.05 * (1.20 / 1.25) - 1.0,
        0.0,
        0.96 * (1.275 / 1.20) - 1.0,
    ]
    assert rB[2] == pytest.approx(0.008, abs=1e-15) and rB[4] == pytest.approx(0.02, abs=1e-15)
    r = np.array(
        [
            [np.nan, np.nan],  # row 0 is ignored
            [0.50, -0.50],  # row 1 is the start: its returns are ignored too
            [0.10, rB[2]],
            [-0.05, rB[3]],
            [0.02, rB[4]],
        ]
    )
    d = np.zeros((5, 2))
    d[2, 0] = 0.02  # A goes ex-dividend on row 2: 2 % of its previous USD close
    wht = np.array([0.30, 0.0])  # US 30 %, UK 0 %
    alive = np.ones((5, 2), bool)
    reb = np.array([1, 3])
    tw = np.array([[0.6, 0.4], [0.5, 0.5]])
    cr = np.array([[0.001, 0.003], [0.001, 0.002]])
    er = 0.0365  # 0.0365 / 365 = 0.0001 per calendar day
    dc = np.array([0, 1, 1, 1, 3])  # row 4 is after a weekend

    run = run_index(r, d, wht, alive, reb, tw, cr, er, dc)

    # Row 2, weights (0.6, 0.4):
    #   PR  = 0.6 * 0.10 + 0.4 * 0.008            = 0.0632
    #   TR  = 0.0632 + 0.6 * 0.02                   = 0.0752
    #   NTR = 0.0632 + 0.6 * 0.02 * (1 - 0.30)      = 0.0716
    #   holdings: A 0.6 * 1.10 = 0.66, B 0.4 * 1.008 = 0.4032, total 1.0632
    # Row 3: A 0.66 * 0.95 = 0.627, B 0.4032 * 1.0 = 0.4032, total 1.0302
    #   PR = TR = NTR = 1.0302 / 1.0632 - 1
    #   pre-trade weights (0.627 / 1.0302, 0.4032 / 1.0302); target (0.5, 0.5)
    #   |delta| = 2 * (0.627 - 0.5 * 1.0302) / 1.0302 = 2 * 0.1119 / 1.0302
    #   turnover = 0.1119 / 1.0302 ; cost = 0.1119 / 1.0302 * (0.001 + 0.002)
    # Row 4: PR = 0.5 * 0.02 + 0.5 * 0.02 = 0.02
    pr = [0.0632, 1.0302 / 1.0632 - 1.0, 0.02]
    tr = [0.0752, 1.0302 / 1.0632 - 1.0, 0.02]
    ntr = [0.0716, 1.0302 / 1.0632 - 1.0, 0.02]
    assert np.isnan(run.price_return_level[0])
    np.testing.assert_allclose(
        run.price_return_level[1:],
        [1000.0, 1000 * 1.0632, 1000 * 1.0302, 1000 * 1.0302 * 1.02],
        rtol=RTOL,
    )
    np.testing.assert_allclose(
        run.total_return_level[1:],
        [1000.0, 1075.2, 1075.2 * (1.0302 / 1.0632), 1075.2 * (1.0302 / 1.0632) * 1.02],
        rtol=RTOL,
    )
    np.testing.assert_allclose(
        run.net_total_return_level[1:],
        [1000.0, 1071.6, 1071.6 * (1.0302 / 1.0632), 1071.6 * (1.0302 / 1.0632) * 1.02],
        rtol=RTOL,
    )
    np.testing.assert_allclose(run.daily_returns[2:], np.array([pr, tr, ntr]).T, rtol=RTOL)
    assert np.isnan(run.daily_returns[:2]).all()

    # initial purchase: turnover 1/2, cost 0.6 * 0.001 + 0.4 * 0.003 = 0.0018
    np.testing.assert_allclose(run.turnover, [0.5, 0.1119 / 1.0302], rtol=RTOL)
    np.testing.assert_allclose(run.cost, [0.0018, 0.1119 / 1.0302 * 0.003], rtol=RTOL)
    assert run.initial_cost == pytest.approx(0.0018, rel=RTOL)
    np.testing.assert_allclose(run.pre_trade_weights, [[0.0, 0.0], [0.627 / 1.0302, 0.4032 / 1.0302]], rtol=RTOL)
    np.testing.assert_allclose(
        run.drifted_weights[1:],
        [[0.6, 0.4], [0.66 / 1.0632, 0.4032 / 1.0632], [0.5, 0.5], [0.51 / 1.02, 0.51 / 1.02]],
        rtol=RTOL,
    )

    # NAV: pays 0.0018 at row 1, the fee 0.0001 * days each later row, cost[1] at row 3
    nav = [
        1000 * (1 - 0.0018),
        1000 * (1 - 0.0018) * 1.0716 * (1 - 0.0001),
        1000 * (1 - 0.0018) * 1.0716 * (1 - 0.0001) * (1.0302 / 1.0632) * (1 - 0.0001) * (1 - 0.1119 / 1.0302 * 0.003),
        1000
        * (1 - 0.0018)
        * 1.0716
        * (1 - 0.0001)
        * (1.0302 / 1.0632)
        * (1 - 0.0001)
        * (1 - 0.1119 / 1.0302 * 0.003)
        * 1.02
        * (1 - 0.0003),
    ]
    np.testing.assert_allclose(run.nav[1:], nav, rtol=RTOL)
    assert np.isnan(run.nav[0])

    # the caller may decline to charge the initial purchase
    run2 = run_index(r, d, wht, alive, reb, tw, cr, er, dc, charge_initial_cost=False)
    np.testing.assert_allclose(run2.nav[1:], np.array(nav) / (1 - 0.0018), rtol=RTOL)
    assert run2.cost[0] == pytest.approx(0.0018, rel=RTOL)
    assert run2.cost_by_day[1] == 0.0


# --------------------------------------------------------------------------------------------
# 2. Without costs and fees: TR level is the product of weighted daily returns; NAV == NTR
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", range(5))
def test_zero_cost_levels_are_products_of_weighted_returns(seed):
    rng = np.random.default_rng(100 + seed)
    T, N = 40, 6
    r = rng.normal(0.0, 0.02, (T, N))
    r[rng.random((T, N)) < 0.1] = 0.0
    d = np.where(rng.random((T, N)) < 0.05, rng.uniform(0, 0.03, (T, N)), 0.0)
    wht = rng.uniform(0.0, 0.35, N)
    reb = np.array([3, 17, 30])
    tw = rng.uniform(0.0, 1.0, (3, N)) * (rng.random((3, N)) < 0.8)
    tw[:, 0] += 0.1
    tw /= tw.sum(axis=1, keepdims=True)
    run = run_index(r, d, wht, np.ones((T, N), bool), reb, tw, np.zeros((3, N)), 0.0, np.ones(T, int))

    # drifted weights, computed here with holdings: h = w_review * prod(1 + r) since the review
    w_prev = np.zeros((T, N))
    tr_level = [1000.0]
    for k, s in enumerate(reb):
        e = reb[k + 1] if k + 1 < len(reb) else T - 1
        growth = np.cumprod(1.0 + r[s + 1 : e + 1], axis=0)
        h = np.vstack([tw[k], tw[k] * growth])
        w_prev[s : e + 1] = h / h.sum(axis=1, keepdims=True)
        w_prev[s] = tw[k]
    for t in range(reb[0] + 1, T):
        tr_level.append(tr_level[-1] * (1.0 + np.sum(w_prev[t - 1] * (r[t] + d[t]))))
    np.testing.assert_allclose(run.total_return_level[reb[0] :], tr_level, rtol=RTOL)
    np.testing.assert_allclose(run.drifted_weights[reb[0] :], w_prev[reb[0] :], atol=ATOL)
    np.testing.assert_allclose(run.nav, run.net_total_return_level, rtol=RTOL)
    assert np.isnan(run.nav[: reb[0]]).all()
    assert (run.total_return_level[reb[0] + 1 :] != run.price_return_level[reb[0] + 1 :]).any()


# --------------------------------------------------------------------------------------------
# 3. Fast kernel == per-day reference loop
# --------------------------------------------------------------------------------------------
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(
    seed=st.integers(0, 2**32 - 1),
    T=st.integers(2, 60),
    N=st.integers(1, 8),
    K=st.integers(1, 4),
    charge_initial_cost=st.booleans(),
)
def test_kernel_equals_per_day_reference(seed, T, N, K, charge_initial_cost):
    inputs = _random_inputs(seed, T, N, K)
    if inputs is None:
        return
    run = _call(run_index, inputs, charge_initial_cost=charge_initial_cost)
    ref = _call(run_index_reference, inputs, charge_initial_cost=charge_initial_cost)
    _assert_matches(run, ref)


KNOBS = {
    # all N columns (row copies) / only the held columns (compact copies)
    "all columns": dict(_SUBSET_FRACTION=0.0),
    "held columns": dict(_SUBSET_FRACTION=1.01),
    # every period drifted one row at a time / every period vectorised over its rows
    "row steps only": dict(_STEP_COST=0.0),
    "row-vectorised tails only": dict(_STEP_COST=float("inf"), _TAIL_MIN_ROWS=1),
    # one period per batch
    "batches of one": dict(_BATCH_ELEMENTS=1),
    "held columns, tails, batches of one": dict(
        _SUBSET_FRACTION=1.01, _STEP_COST=float("inf"), _TAIL_MIN_ROWS=1, _BATCH_ELEMENTS=1
    ),
}


@pytest.mark.parametrize("knobs", list(KNOBS))
@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), T=st.integers(2, 40), N=st.integers(1, 8))
def test_every_code_path_equals_reference(knobs, seed, T, N):
    inputs = _random_inputs(seed, T, N, 3)
    if inputs is None:
        return
    _assert_matches(_run_with_knobs(knobs, inputs), _call(run_index_reference, inputs))


def _run_with_knobs(knobs: str, inputs: dict) -> IndexRun:
    """run_index with the engine's tuning constants set as KNOBS[knobs] says, then restored."""
    # each constant is read by the module that defines it (the engine or its period kernels)
    owner = {name: engine if hasattr(engine, name) else periods for name in KNOBS[knobs]}
    saved = {name: getattr(owner[name], name) for name in KNOBS[knobs]}
    try:
        for name, value in KNOBS[knobs].items():
            setattr(owner[name], name, value)
        return _call(run_index, inputs)
    finally:
        for name, value in saved.items():
            setattr(owner[name], name, value)


@pytest.mark.parametrize("knobs", ["all columns", "held columns", "row-vectorised tails only"])
@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), T=st.integers(2, 40), N=st.integers(1, 8))
def test_price_only_run_equals_reference_with_zero_dividends(knobs, seed, T, N):
    inputs = _random_inputs(seed, T, N, 3)
    if inputs is None:
        return
    run = _run_with_knobs(knobs, dict(inputs, d=None))
    _assert_matches(run, _call(run_index_reference, dict(inputs, d=np.zeros_like(inputs["r"]))))
    np.testing.assert_array_equal(run.total_return_level, run.price_return_level)
    np.testing.assert_array_equal(run.net_total_return_level, run.price_return_level)


def test_reference_equality_with_long_periods_and_many_names():
    # a bigger case than hypothesis draws: 300 rows, 40 names, 5 reviews, delistings
    inputs = _random_inputs(7, 300, 40, 5)
    _assert_matches(_call(run_index, inputs), _call(run_index_reference, inputs))


# --------------------------------------------------------------------------------------------
# 4. Delisting
# --------------------------------------------------------------------------------------------
def _delisting_case(after):
    T, N = 12, 3
    rng = np.random.default_rng(3)
    r = rng.normal(0.0, 0.02, (T, N))
    d = np.zeros((T, N))
    d[9, 0] = 0.01
    alive = np.ones((T, N), bool)
    alive[7:, 1] = False  # name 1's last valid close is row 6
    r[7:, 1] = after
    d[7:, 1] = after
    reb = np.array([2])
    tw = np.array([[0.3, 0.5, 0.2]])
    cr = np.array([[0.001, 0.004, 0.002]])
    return r, d, np.array([0.3, 0.0, 0.15]), alive, reb, tw, cr, 0.01, np.ones(T, int)


def test_delisted_name_has_zero_weight_and_its_garbage_is_never_read():
    clean = run_index(*_delisting_case(0.0))
    for garbage in (np.nan, 1e300, -np.inf, -5.0):
        run = run_index(*_delisting_case(garbage))
        for name in ("price_return_level", "total_return_level", "net_total_return_level", "nav"):
            np.testing.assert_array_equal(getattr(run, name), getattr(clean, name))
        np.testing.assert_array_equal(run.drifted_weights, clean.drifted_weights)
    w = clean.drifted_weights
    assert (w[6:, 1] == 0.0).all()  # sold at the close of its last valid day
    assert (w[2:6, 1] > 0.0).all()
    np.testing.assert_allclose(w[2:].sum(axis=1), 1.0, rtol=1e-14)
    assert clean.delisting_events == [(6, 1)]

    # sold at the row-6 close and reinvested pro rata: the other weights scale up, levels don't jump
    r, d, wht, alive, reb, tw, cr, er, dc = _delisting_case(0.0)
    h = tw[0] * np.cumprod(1.0 + r[3:7], axis=0)[-1]  # holdings at the row-6 close
    before = h / h.sum()
    after = np.array([h[0], 0.0, h[2]]) / (h[0] + h[2])
    np.testing.assert_allclose(w[6], after, rtol=1e-14)
    # cost: sell name 1 at its rate, buy the others pro rata at theirs
    expected_cost = before[1] * 0.004 + (after[0] - before[0]) * 0.001 + (after[2] - before[2]) * 0.002
    assert clean.cost_by_day[6] == pytest.approx(expected_cost, rel=1e-13)
    # the level on row 7 only uses names 0 and 2
    assert clean.daily_returns[7, 0] == pytest.approx(after[0] * r[7, 0] + after[2] * r[7, 2])


def test_every_held_name_delisted_means_cash_until_the_next_review():
    T, N = 10, 2
    r = np.full((T, N), 0.01)
    alive = np.ones((T, N), bool)
    alive[5:, 0] = False  # the only held name dies after row 4
    r[5:, 0] = np.nan
    reb = np.array([1, 7])
    tw = np.array([[1.0, 0.0], [0.0, 1.0]])
    cr = np.full((2, N), 0.002)
    run = run_index(r, np.zeros((T, N)), np.zeros(N), alive, reb, tw, cr, 0.0, np.ones(T, int))
    np.testing.assert_array_equal(run.drifted_weights[4:7], 0.0)
    np.testing.assert_array_equal(run.daily_returns[5:8, 0], 0.0)  # cash: zero return
    assert run.price_return_level[7] == run.price_return_level[4]
    assert run.delisting_events == [(4, 0)]
    assert run.cost_by_day[4] == pytest.approx(0.002)  # only the sale
    np.testing.assert_array_equal(run.pre_trade_weights[1], [0.0, 0.0])
    assert run.turnover[1] == pytest.approx(0.5)
    np.testing.assert_allclose(run.daily_returns[8:, 0], 0.01, rtol=1e-14)


def test_target_name_delisting_the_next_day_is_netted_with_the_review():
    T, N = 8, 3
    r = np.full((T, N), 0.01)
    alive = np.ones((T, N), bool)
    alive[4:, 2] = False  # last valid close is row 3, which is the review close
    reb = np.array([0, 3])
    tw = np.array([[0.5, 0.5, 0.0], [0.25, 0.25, 0.5]])
    cr = np.full((2, N), 0.001)
    run = run_index(r, np.zeros((T, N)), np.zeros(N), alive, reb, tw, cr, 0.0, np.ones(T, int))
    np.testing.assert_allclose(run.post_trade_weights[1], [0.5, 0.5, 0.0])
    assert run.delisting_events == [(3, 2)]
    assert run.turnover[1] == pytest.approx(0.0, abs=1e-15)


@pytest.mark.parametrize("in_next_target", [False, True])
def test_held_name_whose_last_close_is_a_review_close(in_next_target):
    # name 1 is held from row 1; its last valid close is row 5, the next review's close
    T, N = 9, 3
    r = np.tile([0.01, 0.03, -0.01], (T, 1))
    alive = np.ones((T, N), bool)
    alive[6:, 1] = False
    r[6:, 1] = np.nan
    reb = np.array([1, 5])
    tw = np.array([[0.4, 0.4, 0.2], [0.5, 0.3, 0.2] if in_next_target else [0.5, 0.0, 0.5]])
    cr = np.full((2, N), 0.001)
    run = run_index(r, np.zeros((T, N)), np.zeros(N), alive, reb, tw, cr, 0.0, np.ones(T, int))
    # the review sees the drifted weights with name 1 still in them (no sale before the review)
    h = tw[0] * np.array([1.01, 1.03, 0.99]) ** 4
    np.testing.assert_allclose(run.pre_trade_weights[1], h / h.sum(), rtol=1e-14)
    post = np.array([0.5, 0.0, 0.2]) / 0.7 if in_next_target else np.array([0.5, 0.0, 0.5])
    np.testing.assert_allclose(run.post_trade_weights[1], post, rtol=1e-14)
    np.testing.assert_allclose(run.drifted_weights[5], post, rtol=1e-14)
    assert run.delisting_events == ([(5, 1)] if in_next_target else [])
    delta = np.abs(post - h / h.sum())
    assert run.turnover[1] == pytest.approx(0.5 * delta.sum(), rel=1e-13)
    assert run.cost[1] == pytest.approx(0.001 * delta.sum(), rel=1e-13)
    assert np.isfinite(run.price_return_level[5:]).all()


def test_target_name_not_alive_at_review_is_an_error():
    T, N = 6, 2
    alive = np.ones((T, N), bool)
    alive[:3, 1] = False
    with pytest.raises(ValueError, match=r"column 1.*rebalance_index\[0\] = row 2"):
        run_index(
            np.zeros((T, N)),
            np.zeros((T, N)),
            np.zeros(N),
            alive,
            np.array([2]),
            np.array([[0.5, 0.5]]),
            np.zeros((1, N)),
            0.0,
            np.ones(T, int),
        )
    with pytest.raises(DataError):  # also a DataError for the command line
        run_index(
            np.zeros((T, N)),
            np.zeros((T, N)),
            np.zeros(N),
            alive,
            np.array([2]),
            np.array([[0.5, 0.5]]),
            np.zeros((1, N)),
            0.0,
            np.ones(T, int),
        )


def test_nan_return_of_a_held_name_is_an_error():
    T, N = 6, 2
    r = np.zeros((T, N))
    r[4, 0] = np.nan
    with pytest.raises(EngineInputError, match=r"price_return\[4, 0\]"):
        run_index(
            r,
            np.zeros((T, N)),
            np.zeros(N),
            np.ones((T, N), bool),
            np.array([1]),
            np.array([[0.5, 0.5]]),
            np.zeros((1, N)),
            0.0,
            np.ones(T, int),
        )


@pytest.mark.parametrize("knobs", ["row steps only", "row-vectorised tails only"])
def test_index_wiped_out_is_an_error_naming_the_row(knobs):
    T, N = 30, 2
    r = np.zeros((T, N))
    r[20] = -1.0  # every listing held loses 100 % on row 20
    inputs = dict(
        r=r,
        d=np.zeros((T, N)),
        wht=np.zeros(N),
        alive=np.ones((T, N), bool),
        reb=np.array([1]),
        tw=np.array([[0.5, 0.5]]),
        cr=np.zeros((1, N)),
        er=0.0,
        dc=np.ones(T, int),
    )
    with pytest.raises(EngineInputError, match="fell to zero or below .* at row 20"):
        _run_with_knobs(knobs, inputs)


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(tw=np.array([[0.5, 0.6]])), "sums to"),
        (dict(tw=np.array([[1.5, -0.5]])), "not a weight"),
        (dict(reb=np.array([3, 3])), "strictly increasing"),
        (dict(reb=np.array([9])), "must lie in"),
        (dict(wht=np.array([0.3, 1.3])), "withholding"),
        (dict(cr=np.array([[0.001, np.nan]])), "cost_rate"),
        (dict(d=np.zeros((5, 2))), "dividend_yield has shape"),
    ],
)
def test_bad_inputs_are_rejected(change, message):
    T, N = 6, 2
    args = dict(
        r=np.zeros((T, N)),
        d=np.zeros((T, N)),
        wht=np.zeros(N),
        alive=np.ones((T, N), bool),
        reb=np.array([1]),
        tw=np.array([[0.5, 0.5]]),
        cr=np.zeros((1, N)),
        er=0.0,
        dc=np.ones(T, int),
    )
    args.update(change)
    if "reb" in change and len(change["reb"]) == 2:
        args["tw"] = np.array([[0.5, 0.5], [0.5, 0.5]])
        args["cr"] = np.zeros((2, N))
    with pytest.raises(ValueError, match=message):
        _call(run_index, args)


# --------------------------------------------------------------------------------------------
# 5. Expense ratio
# --------------------------------------------------------------------------------------------
def test_expense_ratio_accrues_by_calendar_days():
    rng = np.random.default_rng(11)
    T, N = 300, 2
    dc = rng.integers(1, 4, T)
    dc[0] = 99  # ignored
    start = 5
    dc[start + 1 :] = 0
    # 365 calendar days of accrual spread over the rows after the start
    spread = rng.multinomial(365 - (T - start - 1), np.full(T - start - 1, 1 / (T - start - 1)))
    dc[start + 1 :] = spread + 1
    assert dc[start + 1 :].sum() == 365
    er = 0.0075
    run = run_index(
        np.zeros((T, N)),
        np.zeros((T, N)),
        np.zeros(N),
        np.ones((T, N), bool),
        np.array([start]),
        np.array([[0.5, 0.5]]),
        np.zeros((1, N)),
        er,
        dc,
    )
    expected = 1000.0 * math.prod(1.0 - er * c / 365.0 for c in dc[start + 1 :])
    assert run.nav[-1] == pytest.approx(expected, rel=1e-13)
    assert expected == pytest.approx(1000.0 * (1 - er), rel=1e-4)  # about one year's fee
    np.testing.assert_array_equal(run.net_total_return_level[start:], 1000.0)


# --------------------------------------------------------------------------------------------
# 6. Odds and ends
# --------------------------------------------------------------------------------------------
def test_result_is_read_only_and_deterministic():
    inputs = _random_inputs(5, 50, 6, 3)
    a = _call(run_index, inputs)
    b = _call(run_index, inputs)
    for name in ("price_return_level", "nav", "drifted_weights", "cost"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
        with pytest.raises(ValueError):
            getattr(a, name)[-1] = 0.0


def test_column_major_inputs_give_the_same_result():
    inputs = _random_inputs(9, 50, 6, 3, garbage=False)
    a = _call(run_index, inputs)
    f = dict(inputs, r=np.asfortranarray(inputs["r"]), d=np.asfortranarray(inputs["d"]))
    b = _call(run_index, f)
    np.testing.assert_array_equal(a.nav, b.nav)
    np.testing.assert_array_equal(a.drifted_weights, b.drifted_weights)


def test_to_frames_labels_the_arrays():
    pd = pytest.importorskip("pandas")
    inputs = _random_inputs(5, 30, 4, 2, garbage=False)
    run = _call(run_index, inputs)
    dates = pd.bdate_range("2024-01-01", periods=30)
    frames = run.to_frames(dates, ["A", "B", "C", "D"])
    assert list(frames["levels"].columns) == ["price_return", "total_return", "net_total_return", "nav"]
    assert frames["turnover"].index.equals(dates[inputs["reb"]])
    assert frames["drifted"].shape == (30, 4)


@pytest.mark.parametrize("rows", [1, 2, 7, 15, 16, 17, 63, 64, 65, 250, 1001])
def test_blocked_cumulative_product_equals_numpy(rows):
    x = np.random.default_rng(rows).uniform(0.9, 1.1, (rows, 5))
    expected = np.cumprod(x, axis=0)
    periods._cumprod_rows(x)
    np.testing.assert_allclose(x, expected, rtol=1e-13)
