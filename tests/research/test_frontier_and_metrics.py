"""The sweep's figures: Pareto frontiers against a brute-force definition, and the committee's
figures of one backtest against hand computations on a small made-up result."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from exchina_index.research.frontier import pareto_mask
from exchina_index.research.metrics import METRIC_COLUMNS, backtest_metrics


def _brute_force(x: list[float], y: list[float], x_higher: bool, y_higher: bool) -> list[bool]:
    sx, sy = (1 if x_higher else -1), (1 if y_higher else -1)
    out = []
    for i in range(len(x)):
        if math.isnan(x[i]) or math.isnan(y[i]):
            out.append(False)
            continue
        dominated = any(
            not (math.isnan(x[j]) or math.isnan(y[j]))
            and sx * x[j] >= sx * x[i]
            and sy * y[j] >= sy * y[i]
            and (sx * x[j] > sx * x[i] or sy * y[j] > sy * y[i])
            for j in range(len(x))
        )
        out.append(not dominated)
    return out


values = st.one_of(st.sampled_from([0.0, 1.0, 2.0, float("nan")]), st.floats(-5, 5, allow_nan=False))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(values, values), max_size=25), st.booleans(), st.booleans())
def test_the_frontier_is_exactly_the_points_no_other_point_dominates(points, x_higher, y_higher) -> None:
    x = [p[0] for p in points]
    y = [p[1] for p in points]
    got = pareto_mask(x, y, x_higher=x_higher, y_higher=y_higher).tolist()
    assert got == _brute_force(x, y, x_higher, y_higher)


def _report(weights: list[float], days: list[float], aum: float, purity: float, dev: float, relax: tuple, cap: float):
    names = SimpleNamespace(weight=pd.Series(weights), days_to_trade=pd.Series(days))
    return SimpleNamespace(
        names=names,
        aum=aum,
        purity={"weighted": purity, "stage_deviation": dev},
        relaxations=relax,
        capacity_aum=cap,
    )


def test_backtest_metrics_match_a_hand_computation() -> None:
    dates = pd.to_datetime(["2020-01-01", "2021-01-01", "2022-01-01"])  # 731 days = 2.0014 years
    years = 731 / 365.25
    levels = pd.DataFrame({"net_total_return": [1000.0, 1100.0, 990.0], "nav": [1000.0, 1090.0, 970.0]}, index=dates)
    reviews = {
        dates[0]: SimpleNamespace(
            weights=pd.Series([0.5, 0.5, 0.0]),
            report=_report([0.5, 0.5, 0.0], [4.0, 1.0, 0.0], 100e6, 0.6, 0.02, (), 5e6),
        ),
        dates[1]: SimpleNamespace(
            weights=pd.Series([0.4, 0.3, 0.3]),
            # the unheld name's days (9) must not count; NaN days (no ADTV) are left out
            report=_report([0.4, 0.0, 0.6], [2.0, 9.0, float("nan")], 100e6, 0.8, 0.06, ("a", "b"), 0.0),
        ),
    }
    result = SimpleNamespace(
        levels=levels,
        reviews=reviews,
        turnover=pd.Series([1.0, 0.3]),
        costs=pd.Series([0.002, 0.0006]),
        tracking_difference=-0.01,
        methodology=SimpleNamespace(liquidity=SimpleNamespace(days_to_trade=3)),
    )
    bench = pd.Series([0.5, 0.21, -0.1], index=dates)  # the first date's return is before the base
    row = backtest_metrics(result, bench)
    assert list(row) == list(METRIC_COLUMNS)
    assert row["start"] == "2020-01-01" and row["end"] == "2022-01-01" and row["reviews"] == 2
    assert math.isclose(row["cagr"], 0.99 ** (1 / years) - 1, rel_tol=1e-12)
    assert math.isclose(row["nav_cagr"], 0.97 ** (1 / years) - 1, rel_tol=1e-12)
    r = np.array([0.1, 990 / 1100 - 1])
    assert math.isclose(row["volatility"], r.std(ddof=1) * math.sqrt(252), rel_tol=1e-12)
    assert math.isclose(row["max_drawdown"], 990 / 1100 - 1, rel_tol=1e-12)
    assert math.isclose(row["benchmark_cagr"], (1.21 * 0.9) ** (1 / years) - 1, rel_tol=1e-12)
    assert math.isclose(row["active_return"], row["cagr"] - row["benchmark_cagr"], rel_tol=1e-12)
    assert math.isclose(row["turnover"], 1.3 / years, rel_tol=1e-12)
    assert math.isclose(row["costs"], 0.0026 / years, rel_tol=1e-12)
    # capacity: 100M x 3 days / the longest days to trade of a name held (4 days, then 2 days)
    assert row["capacity_usd"] == 75e6 and row["capacity_last_usd"] == 150e6
    assert row["rulebook_capacity_usd"] == 0.0
    assert math.isclose(row["weighted_purity"], 0.7) and math.isclose(row["stage_deviation"], 0.04)
    assert row["stage_deviation_max"] == 0.06
    assert row["names_held"] == 2.5 and row["relaxed_reviews"] == 1 and row["relaxation_steps"] == 2
    assert row["tracking_difference"] == -0.01


def test_without_a_benchmark_the_active_figures_are_nan() -> None:
    dates = pd.to_datetime(["2020-01-01", "2020-07-01"])
    result = SimpleNamespace(
        levels=pd.DataFrame({"net_total_return": [1000.0, 1010.0], "nav": [1000.0, 1005.0]}, index=dates),
        reviews={dates[0]: SimpleNamespace(weights=pd.Series([1.0]), report=_report([1.0], [0.0], 1e6, 1, 0, (), 1))},
        turnover=pd.Series([1.0]),
        costs=pd.Series([0.0]),
        tracking_difference=0.0,
        methodology=SimpleNamespace(liquidity=SimpleNamespace(days_to_trade=3)),
    )
    row = backtest_metrics(result)
    assert math.isnan(row["benchmark_cagr"]) and math.isnan(row["active_return"])
    assert row["capacity_usd"] == math.inf  # nothing needs a day to trade
