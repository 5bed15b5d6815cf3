"""Whole-backtest case: ``exchina_index.backtest`` at one universe size (every constraint kind, see
:mod:`benchmarks.universes`), split into review pipeline / solver / engine, alternated in the same
run with cvxportfolio's closest quarterly equivalent on the same synthetic market.

cvxportfolio's policy: ``SinglePeriodOptimization`` (Clarabel) tracking the capped cap weights
(:func:`benchmarks.universes.capped_cap_weights` over cvxportfolio's own trading universe at each
rebalance, passed as ``benchmark=``; objective: minus the tracking error of the active weights under
cvxportfolio's default diagonal risk model, ``DiagonalCovariance``) under ``LongOnly``,
``LeverageLimit(1)``, ``MaxWeights(0.08)`` and ``ParticipationRateLimit`` (our rulebook's liquidity
rule as a trade limit, :func:`participation_fraction`), traded quarterly
(``UserProvidedMarketData(trading_frequency='quarterly')``): simpler constraints than ours, no
screens, no trading costs.
"""

from __future__ import annotations

import statistics
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from benchmarks.universes import AUM, FIRST_REVIEW, ScaledCase, capped_cap_weights

__all__ = ["backtest_case", "participation_fraction"]

#: cvxportfolio's cash account (zero return: the synthetic market has no rates).
CASH = "USDOLLAR"
#: The single-name cap of cvxportfolio's ``MaxWeights`` and of the capped cap weights it tracks.
MAX_WEIGHT = 0.08
#: Slack allowed on the 8 % cap when checking cvxportfolio's holdings (Clarabel's tolerances).
WEIGHT_TOLERANCE = 1e-6
#: Issue 12's targets at N = 500: our whole backtest, and cvxportfolio's time over ours.
TARGET_TOTAL_S = 0.6
TARGET_RATIO = 10.0


def _ours(case: ScaledCase) -> dict[str, float]:
    """One backtest, timed whole and by part (the solver = the optimizer's solves and its capacity
    LP, ``StageBalancedOptimizer.solve`` and ``.max_feasible_aum``; the engine = ``run_index``)."""
    import exchina_index as xi
    import exchina_index.simulation.backtest as bt_mod
    from exchina_index.construction.optimizer import StageBalancedOptimizer

    acc: Counter[str] = Counter()
    patched = [
        (StageBalancedOptimizer, "solve", "solver"),
        (StageBalancedOptimizer, "max_feasible_aum", "solver"),
        (bt_mod, "run_index", "engine"),
    ]
    saved = [getattr(owner, name) for owner, name, _ in patched]

    def timed(fn: Callable[..., Any], key: str) -> Callable[..., Any]:
        def wrapper(*a: Any, **k: Any) -> Any:
            t = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                acc[key] += time.perf_counter() - t

        return wrapper

    for (owner, name, key), fn in zip(patched, saved):
        setattr(owner, name, timed(fn, key))
    try:
        t = time.perf_counter()
        xi.backtest(
            case.universe,
            case.market,
            methodology=case.methodology,
            start=FIRST_REVIEW,
            end=case.market.close.index[-1],
            aum=AUM,
        )
        total = time.perf_counter() - t
    finally:
        for (owner, name, _), fn in zip(patched, saved):
            setattr(owner, name, fn)
    return {
        "total_s": total,
        "solver_s": acc["solver"],
        "engine_s": acc["engine"],
        "review_pipeline_s": total - acc["solver"] - acc["engine"],
    }


def participation_fraction(methodology: Any) -> float:
    """``max_fraction_of_volumes`` for cvxportfolio's ``ParticipationRateLimit`` from our rulebook.

    Our liquidity rule caps a holding at ``participation x ADTV x days_to_trade`` (0.25 x 3 = 0.75
    ADTV). Traded quarterly, cvxportfolio sums volumes over each quarter and limits a trade to a
    fraction of its default ``volume_hat``, the mean quarterly traded value of the past year; a
    quarter being about ``adtv_window_sessions`` (63) sessions, the same 0.75 ADTV is that mean
    times ``participation x days_to_trade / adtv_window_sessions`` (1/84). It limits each trade,
    not each holding: from cash, the first rebalance is bound as our caps are; later ones less.
    """
    liq = methodology.liquidity
    return float(liq.participation * liq.days_to_trade / liq.adtv_window_sessions)


@dataclass(frozen=True)
class _CvxInputs:
    """What cvxportfolio gets: row ``t`` of ``returns``/``volumes`` is the period from session ``t``
    to the next (cvxportfolio's convention), i.e. our close-to-close return and USD traded value of
    session ``t + 1``; NaN outside each listing's life (cvxportfolio drops those names from the
    trading universe and turns their holdings into cash). No prices: nothing here rounds trades."""

    returns: pd.DataFrame  # dates x (tickers + CASH)
    volumes: pd.DataFrame  # dates x tickers, USD
    benchmark: pd.DataFrame  # rebalance dates x (tickers + CASH), capped cap weights
    participation: float
    start: pd.Timestamp
    end: pd.Timestamp


def _market_data(returns: pd.DataFrame, volumes: pd.DataFrame) -> Any:
    import cvxportfolio as cvx

    return cvx.UserProvidedMarketData(returns=returns, volumes=volumes, cash_key=CASH, trading_frequency="quarterly")


def _cvxportfolio_inputs(case: ScaledCase) -> _CvxInputs:
    """The case's market in cvxportfolio's form and the benchmark at each of its rebalances: the
    capped cap weights (market caps at the rebalance session) over the names it can trade then."""
    m = case.market
    returns = m.returns("total").shift(-1)
    returns[CASH] = 0.0
    volumes = m.traded_value_usd().shift(-1)
    start, end = FIRST_REVIEW, m.close.index[-1]
    market = _market_data(returns, volumes)
    caps = m.market_cap_usd()
    weights = []
    times = market.trading_calendar(start_time=start, end_time=end, include_end=False)
    for t in times:
        names = market.universe_at_time(t)[:-1]
        mcap = caps.loc[t, names].to_numpy()
        weights.append(pd.Series(capped_cap_weights(mcap, np.ones(len(names), dtype=bool), MAX_WEIGHT), index=names))
    benchmark = pd.DataFrame(weights, index=times).reindex(columns=returns.columns).fillna(0.0)
    return _CvxInputs(
        returns=returns,
        volumes=volumes,
        benchmark=benchmark,
        participation=participation_fraction(case.methodology),
        start=start,
        end=end,
    )


def _cvxportfolio(inputs: _CvxInputs) -> tuple[float, Any]:
    """One cvxportfolio backtest (market data set-up included, as ours includes its features)."""
    import cvxportfolio as cvx

    t = time.perf_counter()
    sim = cvx.MarketSimulator(market_data=_market_data(inputs.returns, inputs.volumes))
    policy = cvx.SinglePeriodOptimization(
        -cvx.DiagonalCovariance(),
        [
            cvx.LongOnly(),
            cvx.LeverageLimit(1),
            cvx.MaxWeights(MAX_WEIGHT),
            cvx.ParticipationRateLimit(max_fraction_of_volumes=inputs.participation),
        ],
        benchmark=inputs.benchmark,
        solver="CLARABEL",
    )
    result = sim.backtest(policy, start_time=inputs.start, end_time=inputs.end, initial_value=AUM)
    return time.perf_counter() - t, result


def _cvxportfolio_checks(result: Any, benchmark: pd.DataFrame) -> dict[str, Any]:
    """Is cvxportfolio's backtest the one we meant: one rebalance a quarter, holdings within the 8 %
    cap, fully invested (cash left only where a trade hit its participation limit), on the benchmark."""
    post = result.w_plus.loc[benchmark.index].fillna(0.0)
    held = post.drop(columns=CASH)
    active_share = (held - benchmark.drop(columns=CASH)).abs().sum(axis=1) / 2
    return {
        "rebalances": len(benchmark),
        "first_rebalance": str(benchmark.index[0].date()),
        "last_rebalance": str(benchmark.index[-1].date()),
        "max_weight": float(held.to_numpy().max()),
        "cap_respected": bool(held.to_numpy().max() <= MAX_WEIGHT + WEIGHT_TOLERANCE),
        "cash_mean": float(post[CASH].mean()),
        "cash_max": float(post[CASH].max()),
        "active_share_median": float(active_share.median()),
        "active_share_max": float(active_share.max()),
        "final_value_over_initial": float(result.final_value / AUM),
        # where its time goes, as cvxportfolio logs it (the simulator's share is mostly its result logging)
        "policy_s": float(result.policy_times.sum()),
        "simulator_s": float(result.simulator_times.sum()),
    }


def backtest_case(case: ScaledCase, rounds: int = 3, run_cvxportfolio: bool = True) -> dict[str, Any]:
    """``rounds`` rounds of ours then cvxportfolio (alternating); medians and the ratio."""
    out: dict[str, Any] = {"ok": True, "n": case.n, "reviews": len(case.schedule), "rounds": rounds}
    inputs = _cvxportfolio_inputs(case) if run_cvxportfolio else None
    if inputs is not None:
        out["cvxportfolio_participation"] = inputs.participation
    ours: list[dict[str, float]] = []
    peer: list[float] = []
    _ours(case)  # warm-up: imports, caches of the calendars
    for _ in range(rounds):
        ours.append(_ours(case))
        if inputs is None or "cvxportfolio_error" in out:
            continue
        try:
            seconds, result = _cvxportfolio(inputs)
        except Exception as exc:  # noqa: BLE001 - a peer failing must not stop our figures
            out["cvxportfolio_error"] = f"{type(exc).__name__}: {(str(exc).splitlines() or [''])[0][:300]}"
            continue
        peer.append(seconds)
        out["cvxportfolio_checks"] = _cvxportfolio_checks(result, inputs.benchmark)
    for key in ours[0]:
        out[f"ours_{key}"] = statistics.median(r[key] for r in ours)
    out["target_total_s"] = TARGET_TOTAL_S
    out["target_met"] = bool(out["ours_total_s"] <= TARGET_TOTAL_S)
    if peer:
        out["cvxportfolio_s"] = statistics.median(peer)
        out["ratio"] = out["cvxportfolio_s"] / out["ours_total_s"]
        out["target_ratio_met"] = bool(out["ratio"] >= TARGET_RATIO)
    return out


if __name__ == "__main__":
    from benchmarks.universes import build_case

    print(backtest_case(build_case(500), rounds=1))
