"""Case 1: the optimizer, compiled once and re-solved per review vs built from scratch per review.

The per-review problems are the real ones: the review pipeline (``construction.review.run_review``: screens,
anchors, single and liquidity caps, issuer and country caps, RIC 25/50 rule, turnover penalty
against the drifted previous portfolio) runs over the scaled case's schedule exactly as
``simulation.backtest.backtest`` runs it, with a recorder on the compiled optimizer that captures
the arguments of every ``solve`` call. The successful call of each review is then replayed:

* **compiled** (ours): ``StageBalancedOptimizer.solve(**call)`` on one optimizer built for the
  universe, as the package runs it: the universe's structure is fixed once and each review's QP,
  over its eligible names, goes straight to Clarabel (``exchina_index.construction.optimizer.direct_qp``);
* **compiled cvxpy**: the same optimizer with ``direct_clarabel=False``: the cvxpy model over the
  whole universe, canonicalised once (DPP) and re-solved with each review's parameter values;
* **scratch**: a new ``StageBalancedOptimizer(..., direct_clarabel=False)`` per review, so the cvxpy
  problem is built and canonicalised for every review.

Every timing is of the whole call (input validation, pre-checks, solve, branch and bound, clean-up
and report), as a caller pays it. The weights of the three are compared (max |difference|).
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import numpy as np

from benchmarks.universes import AUM, ScaledCase

__all__ = ["collect_review_problems", "optimizer_case"]


class _Recorder:
    """Records every ``solve`` a review makes on the compiled optimizer: the optimizer's own
    ``solve`` is shadowed on the instance while recording (``build_weights`` only takes real
    optimizers) and restored by :meth:`stop`."""

    def __init__(self, optimizer: Any) -> None:
        self.optimizer = optimizer
        self.calls: list[tuple[dict[str, Any], Any, float]] = []  # kwargs, result or error, s
        self._solve = optimizer.solve
        optimizer.solve = self.solve

    def solve(self, **kwargs: Any) -> Any:
        t = time.perf_counter()
        try:
            res = self._solve(**kwargs)
        except Exception as exc:  # the relaxation ladder catches InfeasibleError
            self.calls.append((kwargs, exc, time.perf_counter() - t))
            raise
        self.calls.append((kwargs, res, time.perf_counter() - t))
        return res

    def stop(self) -> None:
        del self.optimizer.solve  # the class's method again


def collect_review_problems(case: ScaledCase, reviews: int | None = None) -> dict[str, Any]:
    """Run the review pipeline over the schedule (all reviews, or ``reviews`` evenly spaced ones;
    the previous portfolio is then the one of the previous sampled review, drifted to the cut-off)
    the way the backtest runs it: one review context for the schedule, then ``run_review`` per
    review; return the successful solve call of each feasible review and pipeline statistics."""
    from exchina_index.construction.review import drift_weights, make_optimizer, review_context, run_review
    from exchina_index.errors import InfeasibleError

    u, m, market = case.universe, case.methodology, case.market
    schedule = case.schedule
    if reviews is not None and reviews < len(schedule):
        pick = np.unique(np.linspace(0, len(schedule) - 1, reviews).round().astype(int))
        schedule = schedule.iloc[pick]
    t = time.perf_counter()
    optimizer = make_optimizer(u, m)
    compile_s = time.perf_counter() - t
    t = time.perf_counter()
    ctx = review_context(u, market, m, schedule["cutoff"], optimizer)  # screens laid out, feature panels
    context_s = time.perf_counter() - t
    rec = _Recorder(optimizer)
    close_usd = market.close_usd()
    alive = market.alive().reindex(columns=u.frame.index, fill_value=False)
    problems, pipeline_s, relaxed, infeasible, suspended = [], [], 0, [], []
    prev_w = prev_impl = None
    for k, row in enumerate(schedule.itertuples(index=False)):
        t = time.perf_counter()
        previous = None if prev_w is None else drift_weights(prev_w, close_usd, prev_impl, row.cutoff)
        n_before = len(rec.calls)
        try:
            result = run_review(ctx, k, AUM, previous)
        except InfeasibleError:
            infeasible.append(row.cutoff)
            continue
        pipeline_s.append(time.perf_counter() - t)
        calls = rec.calls[n_before:]
        kwargs, res, solve_s = calls[-1]
        relaxed += bool(result.report.relaxations)
        ok = alive.loc[row.implement].reindex(result.weights.index, fill_value=False).astype(bool)
        w = result.weights.where(ok, 0.0)
        prev_w, prev_impl = w / w.sum(), row.implement
        if isinstance(res, Exception):  # solved by the last resort's optimizer without the fund rule
            suspended.append(row.cutoff)
            continue
        problems.append(
            {
                "cutoff": row.cutoff,
                "kwargs": kwargs,
                "weights": res.weights,
                "nodes": res.nodes,
                "solve_s": solve_s,
                "attempts": len(calls),
                "all_solves_s": sum(c[2] for c in calls),
                "eligible": int((kwargs["anchor"] > 0).sum()),
                "pipeline_s": pipeline_s[-1],
            }
        )
    rec.stop()
    return {
        "optimizer": optimizer,
        "compile_s": compile_s,
        "context_s": context_s,
        "problems": problems,
        "pipeline_s": pipeline_s,
        "relaxed_reviews": relaxed,
        "infeasible": infeasible,
        "suspended": suspended,  # reviews whose fund rule the last resort suspended: not replayed
        "solve_in_pipeline_s": sum(p["all_solves_s"] for p in problems),
    }


def _cvxpy_optimizer(case: ScaledCase, optimizer: Any) -> Any:
    """The review optimizer of ``case`` on the cvxpy model (what ``make_optimizer`` builds, with
    ``direct_clarabel=False``)."""
    from exchina_index.construction.optimizer import StageBalancedOptimizer
    from exchina_index.rules.methodology import STAGES
    from exchina_index.universe.screens import country_of_classification

    f = case.universe.frame
    return StageBalancedOptimizer(
        list(f.index),
        list(STAGES),
        issuers=f["issuer"],
        countries=country_of_classification(f, case.methodology),
        regulatory=optimizer.regulatory,
        solver=optimizer.solver,
        fallback_solvers=optimizer.fallback_solvers,
        direct_clarabel=False,
    )


def _best_times(
    opt: Any, problems: list[dict[str, Any]], repeat: int, budget_s: float
) -> tuple[list[float], list[float], list[Any]]:
    """Per review: best wall time of ``repeat`` solves (stopping early past ``budget_s``), the
    solver part of that solve, and its weights. One warm-up solve first."""
    opt.solve(**problems[0]["kwargs"])
    times, inner, weights = [], [], []
    for p in problems:
        best, spent = float("inf"), 0.0
        for _ in range(repeat):
            t = time.perf_counter()
            res = opt.solve(**p["kwargs"])
            dt = time.perf_counter() - t
            if dt < best:
                best, solver_s = dt, res.solve_seconds
            spent += dt
            if spent >= budget_s:
                break
        times.append(best)
        inner.append(solver_s)
        weights.append(res.weights)
    return times, inner, weights


def optimizer_case(
    case: ScaledCase,
    *,
    reviews: int | None = None,
    compiled_repeat: int = 3,
    scratch_reviews: int | None = None,
    repeat_budget_s: float = 1.0,
) -> dict[str, Any]:
    """Time compiled re-solves (direct Clarabel and the cvxpy model) and from-scratch cvxpy builds
    on the case's real review problems."""
    col = collect_review_problems(case, reviews)
    opt, problems = col["optimizer"], col["problems"]
    head = {
        "n": case.n,
        "reviews_sampled": len(problems) + len(col["infeasible"]) + len(col["suspended"]),
        "reviews_infeasible": len(col["infeasible"]),
        "reviews_rule_suspended": len(col["suspended"]),
        "reviews": len(problems),
    }
    if not problems:
        return {**head, "error": "no feasible review in the sample"}
    compiled, internal, _ = _best_times(opt, problems, compiled_repeat, repeat_budget_s)
    cvx_opt = _cvxpy_optimizer(case, opt)
    compiled_cvxpy, _, cvxpy_weights = _best_times(cvx_opt, problems, compiled_repeat, repeat_budget_s)
    diffs = [float((w - p["weights"]).abs().max()) for w, p in zip(cvxpy_weights, problems)]
    # scratch: all reviews or an evenly spaced subset
    k = len(problems) if scratch_reviews is None else min(scratch_reviews, len(problems))
    pick = np.unique(np.linspace(0, len(problems) - 1, k).round().astype(int))
    scratch = []
    for i in pick:
        p = problems[i]
        t = time.perf_counter()
        w = _cvxpy_optimizer(case, opt).solve(**p["kwargs"]).weights
        scratch.append(time.perf_counter() - t)
        diffs.append(float((w - p["weights"]).abs().max()))
    nodes = [p["nodes"] for p in problems]
    med_c, med_s = statistics.median(compiled), statistics.median(scratch)
    med_c_same = statistics.median([compiled[i] for i in pick])
    pipeline = col["pipeline_s"]
    return {
        **head,
        "scratch_reviews": len(pick),
        "eligible_median": statistics.median(p["eligible"] for p in problems),
        "construct_s": col["compile_s"],  # building the optimizer (no cvxpy model on the direct path)
        "compiled_median_s": med_c,
        "compiled_p90_s": float(np.percentile(compiled, 90)),
        "compiled_max_s": max(compiled),
        "compiled_solver_part_median_s": statistics.median(internal),
        "compiled_median_convex_reviews_s": (
            statistics.median(c for c, p in zip(compiled, problems) if p["nodes"] == 1)
            if any(p["nodes"] == 1 for p in problems)
            else None
        ),
        "compiled_cvxpy_median_s": statistics.median(compiled_cvxpy),
        "ratio_compiled_cvxpy_over_compiled": statistics.median(compiled_cvxpy) / med_c,
        "scratch_median_s": med_s,
        "ratio_scratch_over_compiled": med_s / med_c_same,
        "target_compiled_median_lt_10ms": med_c < 0.010,
        "regulatory": str(getattr(opt.regulatory, "name", None)),
        "bnb_nodes_max": max(nodes),
        "bnb_nodes_mean": float(np.mean(nodes)),
        "reviews_needing_branching": int(sum(n > 1 for n in nodes)),
        "reviews_with_relaxation": col["relaxed_reviews"],
        "max_abs_weight_diff_cvxpy_vs_compiled": max(diffs),
        "review_pipeline_median_s": statistics.median(pipeline),
        "review_pipeline_excl_solve_median_s": statistics.median(p["pipeline_s"] - p["all_solves_s"] for p in problems),
        "review_pipeline_total_s": float(sum(pipeline)),
        "solve_share_of_pipeline": col["solve_in_pipeline_s"] / float(sum(pipeline)),
    }
