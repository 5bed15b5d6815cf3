"""The stage-balanced weighting problem: set-up, pre-checks, solvers, verification, capacity."""

from __future__ import annotations

from exchina_index.construction.optimizer.stage_balanced import (
    RIC_25_50,
    UCITS_5_10_40,
    OptimizationResult,
    RegulatoryLimits,
    StageBalancedOptimizer,
    check_feasibility,
    days_to_trade,
    max_feasible_aum,
    stage_balanced_weights,
    verify_constraints,
)

__all__ = [
    "OptimizationResult",
    "RegulatoryLimits",
    "RIC_25_50",
    "UCITS_5_10_40",
    "StageBalancedOptimizer",
    "stage_balanced_weights",
    "check_feasibility",
    "verify_constraints",
    "max_feasible_aum",
    "days_to_trade",
]
