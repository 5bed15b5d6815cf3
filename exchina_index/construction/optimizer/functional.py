"""The one-off functional API: weights from pandas inputs in one call (for fund managers)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

from exchina_index.construction.compliance import RegulatoryLimits
from exchina_index.construction.optimizer.limits import LinearLimit
from exchina_index.construction.optimizer.problem import stages_of
from exchina_index.construction.optimizer.stage_balanced import StageBalancedOptimizer
from exchina_index.errors import InputError

__all__ = ["stage_balanced_weights"]


def stage_balanced_weights(
    anchor: pd.Series,
    stage_exposure: pd.DataFrame,
    targets: Mapping[str, float] | pd.Series,
    caps: pd.Series | float,
    previous: pd.Series | None = None,
    *,
    stage_tolerance: float = 0.0,
    issuers: pd.Series | None = None,
    issuer_cap: float | None = None,
    countries: pd.Series | None = None,
    country_caps: Mapping[str, float] | float | None = None,
    min_weight: pd.Series | None = None,
    turnover_penalty: float = 0.0,
    regulatory: RegulatoryLimits | None = None,
    solver: str = "CLARABEL",
    fallback_solvers: Sequence[str] = (),
    stage_basis: pd.Series | None = None,
    limits: Sequence[LinearLimit] = (),
) -> pd.Series:
    """Weights closest to the anchor that balance the supply-chain stages and respect every cap.

    Solves

        minimise    Σ_i (w_i − u_i)²/u_i + turnover_penalty · Σ_i |w_i − previous_i|
        subject to  Σ w = 1, min_weight ≤ w ≤ caps, w_i = 0 where u_i = 0,
                    |share_s − target_s| ≤ stage_tolerance for every stage s,
                    lower_j ≤ Σ_i c_ji w_i ≤ upper_j for every linear limit j,
                    issuer totals ≤ issuer_cap, country totals ≤ country cap,
                    the regulatory rule on issuer totals (if any).

    ``u`` is ``anchor`` normalised to sum 1 over the names with a positive anchor. Because
    Σ w = Σ u = 1, Σ (w − u)²/u = Σ w²/u − 1: the solver minimises Σ (1/u) w², which keeps the
    problem DPP. With only a single-name cap this is the classic capped index (iterative capping
    with proportional redistribution).

    Parameters
    ----------
    anchor
        Uncapped anchor weights u >= 0 by ticker (any positive scale). u = 0: not eligible.
    stage_exposure
        Ticker x stage fractions; each eligible name's row sums to 1 (re-normalised exactly).
    targets
        Stage -> target share, summing to 1.
    caps
        Per-name upper bound (Series by ticker) or one uniform float; pass min(single cap,
        liquidity cap).
    previous
        Previous (drifted) weights for the turnover penalty; missing names count as 0, names
        outside ``anchor`` are ignored (their sale is a constant).
    stage_tolerance
        Allowed deviation of each stage exposure from its target.
    issuers, issuer_cap
        Issuer of each ticker (None: each ticker its own issuer) and the cap on an issuer's total.
    countries, country_caps
        Country of each ticker and caps (mapping country -> cap, others uncapped; or one float).
    min_weight
        Per-name floor (e.g. for held names); 0 by default.
    turnover_penalty
        λ >= 0 in the objective's units.
    regulatory
        A :class:`RegulatoryLimits` (e.g. :data:`RIC_25_50`, buffered values from the rulebook);
        solved exactly by branch and bound (:mod:`~.branch_and_bound`).
    solver, fallback_solvers
        cvxpy solver names tried in order.
    stage_basis
        What the stage shares measure: None, the weights (``share_s = Σ_i E_is w_i``); a Series
        ``b > 0`` by ticker (e.g. purity), the ``b``-weighted holdings
        (``share_s = Σ_i b_i E_is w_i / Σ_i b_i w_i``, the rare-earth exposure by stage).
    limits
        :class:`~exchina_index.construction.optimizer.limits.LinearLimit` rows (e.g. a floor on the
        weighted purity, a cap on the weight of low-purity names).

    Returns
    -------
    pandas.Series
        Weights indexed like ``anchor`` (same order), summing to 1, all >= 0.

    Raises
    ------
    InfeasibleError
        The constraints cannot all hold; the message names the constraint and the shortfall.
    SolverError
        Every solver failed on a problem that passed the pre-checks.

    Examples
    --------
    >>> import pandas as pd
    >>> u = pd.Series({"A": 0.7, "B": 0.2, "C": 0.1})
    >>> E = pd.DataFrame({"all": [1.0, 1.0, 1.0]}, index=u.index)
    >>> stage_balanced_weights(u, E, {"all": 1.0}, caps=0.5).round(6).tolist()
    [0.5, 0.333333, 0.166667]
    """
    if not isinstance(anchor, pd.Series):
        raise InputError("anchor must be a pandas Series of weights by ticker")
    opt = StageBalancedOptimizer(
        list(anchor.index),
        stages_of(stage_exposure),
        issuers=issuers,
        countries=countries,
        regulatory=regulatory,
        turnover=previous is not None and turnover_penalty > 0,
        solver=solver,
        fallback_solvers=fallback_solvers,
    )
    return opt.solve(
        anchor,
        stage_exposure,
        targets,
        caps,
        previous,
        stage_tolerance=stage_tolerance,
        issuer_cap=issuer_cap,
        country_caps=country_caps,
        min_weight=min_weight,
        turnover_penalty=turnover_penalty,
        stage_basis=stage_basis,
        limits=limits,
    ).weights
