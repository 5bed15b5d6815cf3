"""The stage-balanced weighting problem, one module per job.

=====================  ==========================================================================
``problem``            a universe's fixed structure and one review's numbers, as aligned arrays
``limits``             linear limits (:class:`LinearLimit`) and the stage basis: thematic integrity
``feasibility``        pre-checks before any solver (:func:`check_feasibility`), infeasibility messages
``verify``             explicit numpy checks of a solution (:func:`verify_constraints`), binding constraints
``direct_qp``          one QP in Clarabel's standard form, over the eligible names (the fast path)
``cvxpy_model``        the same QP as a cvxpy model compiled once (DPP), for the fallback solvers
``solver_chain``       one QP through the solvers in order, every answer verified
``branch_and_bound``   the regulatory rule (RIC, UCITS) solved exactly
``result``             :class:`OptimizationResult` and the report
``stage_balanced``     :class:`StageBalancedOptimizer`: set up once per universe, solved per review
``functional``         :func:`stage_balanced_weights`: the one-off call
``capacity``           :func:`max_feasible_aum` (the LP; also a method of the set-up optimizer), :func:`days_to_trade`
=====================  ==========================================================================
"""

from __future__ import annotations

from exchina_index.construction.compliance import RIC_25_50, UCITS_5_10_40, UCITS_INDEX_20_35, RegulatoryLimits
from exchina_index.construction.optimizer.capacity import days_to_trade, max_feasible_aum
from exchina_index.construction.optimizer.feasibility import check_feasibility
from exchina_index.construction.optimizer.functional import stage_balanced_weights
from exchina_index.construction.optimizer.limits import LinearLimit
from exchina_index.construction.optimizer.result import OptimizationResult
from exchina_index.construction.optimizer.stage_balanced import StageBalancedOptimizer
from exchina_index.construction.optimizer.verify import verify_constraints

__all__ = [
    "OptimizationResult",
    "LinearLimit",
    "RegulatoryLimits",
    "RIC_25_50",
    "UCITS_5_10_40",
    "UCITS_INDEX_20_35",
    "StageBalancedOptimizer",
    "stage_balanced_weights",
    "check_feasibility",
    "verify_constraints",
    "max_feasible_aum",
    "days_to_trade",
]
