"""Brinson–Fachler attribution: the one-day kernel, Cariño linking, the universe_cap_weighted
benchmark's weights and the attribution of a demo backtest."""

from __future__ import annotations

import dataclasses
from fractions import Fraction
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import exchina_index as xi
from exchina_index.errors import DataError, InputError
from exchina_index.rules.methodology import STAGES
from exchina_index.simulation.attribution import (
    EFFECTS,
    attribution_from_backtest,
    brinson_fachler,
    carino_coefficient,
    carino_link,
)
from exchina_index.simulation.benchmark import (
    spec_benchmark_weights,
    universe_cap_weighted_returns,
    universe_cap_weighted_weights,
)

START, END = "2024-01-01", "2026-09-30"


# ---------------------------------------------------------------- the one-day kernel


def test_one_day_against_a_hand_example() -> None:
    # names A, B in group 1 and C in group 2; on paper:
    # w_p = (0.7, 0.3), w_b = (0.6, 0.4); R_p,1 = (0.05 - 0.01) / 0.7 = 2/35, R_b,1 = 0.015 / 0.6 = 1/40,
    # R_p,2 = R_b,2 = 0.02; R_p = 0.046, R_b = 0.023
    e = brinson_fachler(
        [[0.5, 0.2, 0.3]], [[0.3, 0.3, 0.4]], [[0.10, -0.05, 0.02]], [[0.10, -0.05, 0.02]], [[1, 0], [1, 0], [0, 1]]
    )
    hand = {
        "allocation": [Fraction(1, 10) * (Fraction(1, 40) - Fraction(23, 1000)), Fraction(-1, 10) * Fraction(-3, 1000)],
        "selection": [Fraction(6, 10) * (Fraction(2, 35) - Fraction(1, 40)), 0],
        "interaction": [Fraction(1, 10) * (Fraction(2, 35) - Fraction(1, 40)), 0],
    }
    assert float(hand["selection"][0]) == pytest.approx(27 / 1400, abs=1e-18)
    for effect, values in hand.items():
        np.testing.assert_allclose(getattr(e, effect)[0], [float(v) for v in values], rtol=0, atol=1e-15)
    np.testing.assert_allclose(e.weight_portfolio[0], [0.7, 0.3], atol=1e-15)
    np.testing.assert_allclose(e.return_portfolio[0], [2 / 35, 0.02], atol=1e-15)
    np.testing.assert_allclose(e.return_benchmark[0], [1 / 40, 0.02], atol=1e-15)
    assert e.portfolio_return[0] == pytest.approx(0.046, abs=1e-15)
    assert e.total.sum() == pytest.approx(0.046 - 0.023, abs=1e-15)


def test_fractional_membership_splits_a_name_across_groups() -> None:
    # X is 40/60 in groups 1/2, Y is all group 2; on paper w_p = (0.4, 0.6), w_b = (0.2, 0.8),
    # R_p,1 = R_p,2 = R_b,1 = 0.1, R_b,2 = 0.03 / 0.8 = 0.0375, R_p = 0.1, R_b = 0.05
    e = brinson_fachler([[1.0, 0.0]], [[0.5, 0.5]], [[0.1, 0.0]], [[0.1, 0.0]], [[0.4, 0.6], [0.0, 1.0]])
    np.testing.assert_allclose(e.allocation[0], [0.2 * 0.05, -0.2 * (0.0375 - 0.05)], atol=1e-15)
    np.testing.assert_allclose(e.selection[0], [0.0, 0.8 * 0.0625], atol=1e-15)
    np.testing.assert_allclose(e.interaction[0], [0.0, -0.2 * 0.0625], atol=1e-15)
    assert e.total.sum() == pytest.approx(0.05, abs=1e-15)


def test_a_group_one_side_does_not_hold() -> None:
    # the portfolio holds only group 2, the benchmark only group 1: group 1 is all allocation (0 here,
    # its return is the benchmark's), group 2 (outside the benchmark) is all interaction
    e = brinson_fachler([[0.0, 1.0]], [[1.0, 0.0]], [[np.nan, 0.2]], [[0.1, np.nan]], np.eye(2))
    np.testing.assert_array_equal(e.allocation[0], [0.0, 0.0])
    np.testing.assert_array_equal(e.selection[0], [0.0, 0.0])
    np.testing.assert_allclose(e.interaction[0], [0.0, 0.1], atol=1e-16)


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (([[0.5, 0.4]], [[0.5, 0.5]], [[0.0, 0.0]], [[0.0, 0.0]], np.eye(2)), "sum to 0.9"),
        (([[0.5, 0.5]], [[0.5, 0.5]], [[np.nan, 0.0]], [[0.0, 0.0]], np.eye(2)), "not finite"),
        (([[0.5, 0.5]], [[0.5, 0.5]], [[0.0, 0.0]], [[0.0, 0.0]], [[0.5, 0.4], [0.0, 1.0]]), "do not sum to 1"),
        (([[0.5, 0.5]], [[0.5, 0.5]], [[0.0, 0.0]], [[0.0, 0.0]], np.eye(3)), "groups must be"),
    ],
)
def test_kernel_rejects_bad_inputs(args: tuple, match: str) -> None:
    with pytest.raises(InputError, match=match):
        brinson_fachler(*args)


def _reference_day(wp, wb, r, m) -> dict[str, list[float]]:
    """A second algorithm: one day, group by group, with loops over names."""
    out: dict[str, list[float]] = {x: [] for x in EFFECTS}
    total_b = sum(wb[i] * r[i] for i in range(len(r)))
    for g in range(m.shape[1]):
        wpg = sum(wp[i] * m[i, g] for i in range(len(r)))
        wbg = sum(wb[i] * m[i, g] for i in range(len(r)))
        rbg = sum(wb[i] * m[i, g] * r[i] for i in range(len(r))) / wbg if wbg > 0 else total_b
        rpg = sum(wp[i] * m[i, g] * r[i] for i in range(len(r))) / wpg if wpg > 0 else rbg
        out["allocation"].append((wpg - wbg) * (rbg - total_b))
        out["selection"].append(wbg * (rpg - rbg))
        out["interaction"].append((wpg - wbg) * (rpg - rbg))
    return out


def _rows(draw, n: int, k: int, zero_ok: bool) -> np.ndarray:
    """A (n, k) array of non-negative rows summing to 1 (some entries 0 when ``zero_ok``)."""
    lo = 0.0 if zero_ok else 0.01
    raw = np.array(draw(st.lists(st.floats(lo, 1.0), min_size=n * k, max_size=n * k))).reshape(n, k)
    raw[:, 0] += 1e-3  # never an empty row
    return raw / raw.sum(axis=1, keepdims=True)


@settings(max_examples=200, deadline=None)
@given(data=st.data(), days=st.integers(1, 4), names=st.integers(1, 8), groups=st.integers(1, 4))
def test_brinson_fachler_identity_every_day(data, days: int, names: int, groups: int) -> None:
    wp = _rows(data.draw, days, names, True)
    wb = _rows(data.draw, days, names, True)
    r = np.array(data.draw(st.lists(st.floats(-0.5, 0.5), min_size=days * names, max_size=days * names)))
    r = r.reshape(days, names)
    timed = data.draw(st.booleans())
    m = _rows(data.draw, days * names if timed else names, groups, True)
    m = m.reshape(days, names, groups) if timed else m
    e = brinson_fachler(wp, wb, r, r, m)
    active = (wp * r).sum(axis=1) - (wb * r).sum(axis=1)
    np.testing.assert_allclose(e.total.sum(axis=1), active, rtol=0, atol=1e-12)
    np.testing.assert_allclose(e.weight_portfolio.sum(axis=1), 1.0, atol=1e-12)
    for t in range(days):
        ref = _reference_day(wp[t], wb[t], r[t], m[t] if timed else m)
        for x in EFFECTS:
            np.testing.assert_allclose(getattr(e, x)[t], ref[x], rtol=0, atol=1e-12)


# ---------------------------------------------------------------- linking


def test_carino_coefficient_closed_form_and_limit() -> None:
    a, b = 0.07, -0.02
    assert float(carino_coefficient(a, b)) == pytest.approx((np.log(1 + a) - np.log(1 + b)) / (a - b), rel=1e-14)
    assert float(carino_coefficient(0.03, 0.03)) == 1 / 1.03
    # close returns: the log difference cancels, the coefficient must not
    assert float(carino_coefficient(0.03 + 1e-13, 0.03)) == pytest.approx(1 / 1.03, rel=1e-12)
    with pytest.raises(InputError, match="-100"):
        carino_coefficient(-1.0, 0.0)


def test_one_day_links_to_itself() -> None:
    e = np.array([[0.01, -0.004, 0.002]])
    np.testing.assert_allclose(carino_link(e, np.array([0.05]), np.array([0.042])), e[0], rtol=1e-14)


@settings(max_examples=200, deadline=None)
@given(data=st.data(), days=st.integers(1, 250), groups=st.integers(1, 5))
def test_linked_effects_add_up_to_the_compounded_difference(data, days: int, groups: int) -> None:
    rp = np.array(data.draw(st.lists(st.floats(-0.2, 0.2), min_size=days, max_size=days)))
    rb = np.array(data.draw(st.lists(st.floats(-0.2, 0.2), min_size=days, max_size=days)))
    if data.draw(st.booleans()):
        rb[: days // 2] = rp[: days // 2]  # equal days: the limit of the coefficient
    split = np.array(data.draw(st.lists(st.floats(-3, 3), min_size=days * groups * 3, max_size=days * groups * 3)))
    effects = split.reshape(days, groups, 3)
    effects[:, -1, -1] += (rp - rb) - effects.sum(axis=(1, 2))  # each day's effects add up to rp - rb
    linked = carino_link(effects, rp, rb)
    assert linked.shape == (groups, 3)
    assert linked.sum() == pytest.approx(np.prod(1 + rp) - np.prod(1 + rb), abs=1e-10)


# ---------------------------------------------------------------- the benchmark's weights


@pytest.fixture(scope="module")
def demo() -> SimpleNamespace:
    u = xi.load_universe()
    m = xi.load_market_data(u, source="demo")
    result = xi.backtest(u, m, start=START, end=END)
    weights = universe_cap_weighted_weights(u, m)
    returns = universe_cap_weighted_returns(u, m)
    attr = attribution_from_backtest(result, m, weights, benchmark_returns=returns)
    return SimpleNamespace(u=u, m=m, result=result, weights=weights, returns=returns, attr=attr)


def test_benchmark_returns_from_its_weights(demo: SimpleNamespace) -> None:
    w, ret = demo.weights, demo.returns
    assert w.index.equals(ret.index)
    np.testing.assert_allclose(w.sum(axis=1), 1.0, rtol=0, atol=1e-14)
    from_weights = (w * demo.m.returns("total").reindex(index=w.index, columns=w.columns)).sum(axis=1)
    np.testing.assert_allclose(from_weights, ret, rtol=0, atol=1e-15)  # one computation, summed in another order
    # the returns did not change: the formula before the weights were split out
    primary = demo.u.frame.index[demo.u.frame["primary"]]
    cap = demo.m.market_cap_usd().reindex(columns=primary).shift(1)
    total = demo.m.returns("total").reindex(columns=primary)
    cap = cap.where(total.notna())
    before = ((cap * total).sum(axis=1, min_count=1) / cap.sum(axis=1, min_count=1)).dropna()
    pd.testing.assert_series_equal(ret, before.rename("universe_cap_weighted"), check_exact=True, check_freq=False)
    window = universe_cap_weighted_weights(demo.u, demo.m, START, END)
    assert window.index[0] >= pd.Timestamp(START) and window.index[-1] <= pd.Timestamp(END)


def test_spec_benchmark_weights_only_for_holdings(demo: SimpleNamespace) -> None:
    assert spec_benchmark_weights(SimpleNamespace(benchmark_kind="ticker"), demo.u, demo.m) is None
    assert spec_benchmark_weights(SimpleNamespace(benchmark_kind="none"), demo.u, demo.m) is None
    w = spec_benchmark_weights(SimpleNamespace(benchmark_kind="universe_cap_weighted"), demo.u, demo.m, start=START)
    assert w is not None and w.index[0] >= pd.Timestamp(START)


# ---------------------------------------------------------------- the demo backtest


def _compounded(r: pd.Series) -> float:
    return float(np.prod(1.0 + r.to_numpy()) - 1.0)


def test_effects_and_residual_add_up_to_the_tr_active_return(demo: SimpleNamespace) -> None:
    levels = demo.result.levels["total_return"].dropna()
    attr = demo.attr
    for dim in attr.dimensions:
        for period in attr.periods:
            first, last = (pd.Timestamp(d) for d in period.split(".."))
            before = levels.index[levels.index.get_loc(first) - 1]  # the close the period's returns start from
            index_return = levels[last] / levels[before] - 1.0
            active = index_return - _compounded(demo.returns.loc[first:last])
            t = attr.total(dim, period)
            groups = attr.table(dim, period)
            assert groups[list(EFFECTS)].to_numpy().sum() + t["residual"] == pytest.approx(active, abs=1e-10)
            assert t["active_return"] == pytest.approx(active, abs=1e-10)
            assert t["portfolio_return"] == pytest.approx(index_return, abs=1e-10)
    assert attr.periods[0] == f"{levels.index[1]:%Y-%m-%d}..2026-09-30"
    assert [p[:4] for p in attr.periods[1:]] == ["2024", "2025", "2026"]


def test_the_demo_residual_is_rounding_only(demo: SimpleNamespace) -> None:
    # the demo's corporate actions do not touch the index in this window: Σ w r is the TR index
    assert demo.attr.residual.abs().to_numpy().max() < 1e-14
    assert demo.attr.totals["residual"].abs().max() < 1e-12


def test_stage_weights_are_point_in_time(demo: SimpleNamespace) -> None:
    result, attr = demo.result, demo.attr
    second = sorted(result.reviews)[1]
    dates = attr.portfolio_returns.index
    day = dates[dates > second][0]  # the first day earned with the second review's weights
    exposure = result.reviews[second].report.names.exposure[list(STAGES)]
    held = result.drifted.loc[second].fillna(0.0)
    expected = held @ exposure.reindex(held.index)
    t = dates.get_loc(day)
    np.testing.assert_allclose(attr.daily["stage"].weight_portfolio[t], expected.to_numpy(), atol=1e-14)
    assert attr.labels["stage"] == STAGES


def test_china_is_in_the_benchmark_only(demo: SimpleNamespace) -> None:
    cn = demo.attr.table("country").loc["CN"]
    assert cn["weight_portfolio"] == 0.0 and cn["weight_benchmark"] > 0.05
    assert cn["selection"] == 0.0 and cn["interaction"] == 0.0 and np.isnan(cn["return_portfolio"])
    assert cn["total"] == cn["allocation"]


def test_a_day_in_cash_is_residual(demo: SimpleNamespace) -> None:
    result = demo.result
    dates = demo.attr.portfolio_returns.index
    t = 20
    drifted = result.drifted.copy()
    drifted.loc[dates[t - 1]] = 0.0  # the index holds cash over day t
    attr = attribution_from_backtest(dataclasses.replace(result, drifted=drifted), demo.m, demo.weights)
    e = attr.daily["country"]
    assert np.all(e.total[t] == 0.0)
    bench = (demo.weights.loc[dates[t]] * demo.m.returns("total").loc[dates[t], demo.weights.columns]).sum()
    reported = result.returns["total_return"].loc[dates[t]]
    assert attr.residual["country"].iloc[t] == pytest.approx(reported - bench, abs=1e-15)


def test_attribution_is_deterministic(demo: SimpleNamespace) -> None:
    again = attribution_from_backtest(demo.result, demo.m, demo.weights, benchmark_returns=demo.returns)
    pd.testing.assert_frame_equal(again.groups, demo.attr.groups, check_exact=True)
    pd.testing.assert_frame_equal(again.totals, demo.attr.totals, check_exact=True)


def test_attribution_errors(demo: SimpleNamespace) -> None:
    with pytest.raises(InputError, match="ticker benchmark"):
        attribution_from_backtest(demo.result, demo.m, demo.returns)  # a return series has no holdings
    with pytest.raises(DataError, match="no weights for"):
        attribution_from_backtest(demo.result, demo.m, demo.weights.iloc[:100])
    with pytest.raises(InputError, match="unknown dimension"):
        attribution_from_backtest(demo.result, demo.m, demo.weights, by=("sector",))
    with pytest.raises(InputError, match="not in the universe"):
        attribution_from_backtest(demo.result, demo.m, demo.weights.assign(ZZZZ=0.0))
    with pytest.raises(DataError, match="benchmark returns miss"):
        attribution_from_backtest(demo.result, demo.m, demo.weights, benchmark_returns=demo.returns.iloc[:100])
