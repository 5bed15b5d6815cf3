"""The weighting functions for fund managers who bring their own data (a stable import path).

The implementation lives in :mod:`exchina_index.construction.optimizer`; this module only
re-exports its public names, so ``from exchina_index.weights import stage_balanced_weights,
StageBalancedOptimizer`` keeps working whatever the package's internal layout. Nothing inside the
package imports this module (the import contract in ``pyproject.toml`` checks it).
"""

from __future__ import annotations

from exchina_index.construction.optimizer import (
    RIC_25_50,
    UCITS_5_10_40,
    UCITS_INDEX_20_35,
    LinearLimit,
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
    "UCITS_INDEX_20_35",
    "LinearLimit",
    "StageBalancedOptimizer",
    "stage_balanced_weights",
    "check_feasibility",
    "verify_constraints",
    "max_feasible_aum",
    "days_to_trade",
]
