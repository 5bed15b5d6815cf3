"""The result of one solve: the weights and the report that explains them, in the caller's order."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from exchina_index.construction.compliance import RegulatoryLimits
from exchina_index.construction.optimizer.limits import stage_shares
from exchina_index.construction.optimizer.problem import ReviewInputs, Structure
from exchina_index.construction.optimizer.solver_chain import Solution
from exchina_index.construction.optimizer.verify import BINDING_TOL, binding_constraints

__all__ = ["OptimizationResult", "build_result"]


@dataclass(frozen=True, eq=False)
class OptimizationResult:
    """The weights of one solve and the report that explains them.

    Attributes
    ----------
    weights
        Weight by ticker (the optimizer's ticker order), sums to 1, all >= 0, exact 0 where u = 0.
    status
        Solver status of the QP that produced the answer (``"optimal"`` or ``"optimal_inaccurate"``).
    solver
        Solver that produced the answer; ``fallback_used`` tells whether it was a fallback.
    fallback_used
        True when the primary solver failed on at least one QP and a fallback answered.
    solve_seconds
        Wall time of the solve (all branch-and-bound nodes included), from ``time.perf_counter``.
    objective
        Σ (w − u)²/u + turnover_penalty · Σ|w − previous|.
    binding
        Per-name frame: ``u``, ``weight``, ``cap``, ``min_weight``, ``at_cap`` (weight >= cap − 1e-7),
        ``at_min`` (weight <= min_weight + 1e-7, for eligible names; ineligible names are False).
    stage_exposure_before, stage_exposure_after
        The stage shares of u and of w: Eᵀu and Eᵀw, or on a stage basis b Eᵀ(b∘w) / bᵀw.
    issuer_totals, country_totals
        Weight per issuer / per country (empty when the optimizer has no countries).
    binding_constraints
        Sorted short names of the binding group constraints: ``"stage:mining upper"`` /
        ``"stage:mining lower"`` (``"stage:mining"`` when the tolerance is 0), ``"issuer:NAME"``,
        ``"country:AU"``, ``"regulatory:issuer_max:NAME"``, ``"regulatory:threshold:NAME"``,
        ``"regulatory:large_sum"``, and ``"<limit name> lower"`` / ``"<limit name> upper"`` for a
        linear limit at its bound.
    nodes
        Number of QPs solved (1 without a regulatory rule or when the convex answer complies).
    """

    weights: pd.Series
    status: str
    solver: str
    fallback_used: bool
    solve_seconds: float
    objective: float
    binding: pd.DataFrame
    stage_exposure_before: pd.Series
    stage_exposure_after: pd.Series
    issuer_totals: pd.Series
    country_totals: pd.Series
    binding_constraints: list[str]
    nodes: int = 1


def build_result(
    w: np.ndarray,
    sol: Solution,
    st: Structure,
    inp: ReviewInputs,
    reg: RegulatoryLimits | None,
    elapsed: float,
    nodes: int,
) -> OptimizationResult:
    """The result of the final weights ``w`` (canonical order) found by ``sol``, in the caller's order."""
    el = inp.u > 0
    back = st.inverse
    frame = pd.DataFrame(
        {
            "u": inp.u[back],
            "weight": w[back],
            "cap": inp.cap[back],
            "min_weight": inp.lower[back],
            "at_cap": (el & (w >= inp.cap - BINDING_TOL))[back],
            "at_min": (el & (w <= inp.lower + BINDING_TOL))[back],
        },
        index=st.user_index,
    )
    col = [st.stages.index(stage) for stage in st.user_stages]
    before = pd.Series(stage_shares(inp.E, inp.basis, inp.u)[col], index=st.user_stages, name="exposure")
    after = pd.Series(stage_shares(inp.E, inp.basis, w)[col], index=st.user_stages, name="exposure")
    country = st.country_sum(w) if st.country_idx is not None else np.zeros(0)
    objective = float(np.sum((w[el] - inp.u[el]) ** 2 / inp.u[el]) + inp.lam * np.abs(w - inp.prev).sum())
    return OptimizationResult(
        weights=pd.Series(w[back], index=st.user_index, name="weight"),
        status=sol.status,
        solver=sol.solver,
        fallback_used=sol.fallback_used,
        solve_seconds=elapsed,
        objective=objective,
        binding=frame,
        stage_exposure_before=before,
        stage_exposure_after=after,
        issuer_totals=pd.Series(st.issuer_sum(w), index=st.issuer_index, name="issuer_total"),
        country_totals=pd.Series(country, index=st.country_index, name="country_total", dtype=float),
        binding_constraints=binding_constraints(w, st, inp, reg),
        nodes=nodes,
    )
