"""Capacity: the largest fund the constraints allow, and the days needed to trade a portfolio."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from exchina_index.construction.caps import days_to_trade_array
from exchina_index.construction.optimizer.cvxpy_model import (
    DIRECT_STATUS,
    INFEASIBLE,
    OPTIMAL,
    SolverFailure,
    aggregation,
    cvxpy_solve,
    fold_single_issuers,
)
from exchina_index.construction.optimizer.direct_qp import ReviewQP, clarabel_settings, min_inverse_aum
from exchina_index.construction.optimizer.feasibility import precheck
from exchina_index.construction.optimizer.limits import LinearLimit
from exchina_index.construction.optimizer.memo import Memo, remembered
from exchina_index.construction.optimizer.problem import (
    ReviewInputs,
    Structure,
    aligned,
    as_number,
    as_series,
    make_structure,
    stages_of,
    static_inputs,
)
from exchina_index.errors import InfeasibleError, InputError, SolverError
from exchina_index.rules.methodology import check_aum

__all__ = ["max_feasible_aum", "structure_capacity", "days_to_trade"]

#: Clarabel's default settings, quiet (the capacity LP needs no tightened tolerances).
_LP_SETTINGS = clarabel_settings({})


def max_feasible_aum(
    stage_exposure: pd.DataFrame,
    targets: Mapping[str, float] | pd.Series,
    static_caps: pd.Series | np.ndarray | float,
    liquidity_notional: pd.Series,
    *,
    stage_tolerance: float = 0.0,
    issuers: pd.Series | None = None,
    issuer_cap: float | None = None,
    countries: pd.Series | None = None,
    country_caps: Mapping[str, float] | float | None = None,
    eligible: pd.Series | None = None,
    solver: str = "CLARABEL",
    stage_basis: pd.Series | None = None,
    limits: Sequence[LinearLimit] = (),
) -> float:
    """Largest fund size (USD) for which a portfolio meeting every constraint exists.

    With liquidity caps ``w_i ≤ liquidity_notional_i / AUM`` (``liquidity_notional_i`` =
    participation × ADTV_i × days, in USD) the problem is feasible for every AUM up to a threshold.
    It is found as one LP in ``w`` and ``t = 1/AUM``: minimise t subject to Σ w = 1,
    0 ≤ w ≤ static_caps (0 for non-eligible names), w_i ≤ liquidity_notional_i · t, the stage band
    and the issuer and country caps. AUM* = 1/t*. The regulatory rule is ignored (it does not
    depend on AUM; check it on the weights at the chosen AUM). The anchor does not matter.

    Parameters
    ----------
    stage_exposure
        Ticker x stage fractions; its index is the universe.
    targets, stage_tolerance, issuers, issuer_cap, countries, country_caps
        As in :func:`stage_balanced_weights`.
    static_caps
        Single-name caps (Series by ticker or one float).
    liquidity_notional
        USD each name can absorb; ``inf`` means no liquidity limit, 0 means it cannot be held.
    eligible
        Boolean Series by ticker (default: every name).
    stage_basis, limits
        As in :func:`stage_balanced_weights`.
    solver
        LP solver: CLARABEL (default) is called directly; another cvxpy solver name goes through
        cvxpy. HiGHS (through cvxpy) is the fallback when it fails.

    Returns
    -------
    float
        AUM* in USD, ``inf`` when no liquidity constraint ever binds.

    Raises
    ------
    InfeasibleError
        The static constraints are infeasible at any AUM.
    """
    st = make_structure(list(stage_exposure.index), stages_of(stage_exposure), issuers, countries)
    return structure_capacity(
        st,
        stage_exposure,
        targets,
        static_caps,
        liquidity_notional,
        stage_tolerance=stage_tolerance,
        issuer_cap=issuer_cap,
        country_caps=country_caps,
        eligible=eligible,
        solver=solver,
        stage_basis=stage_basis,
        limits=limits,
    )


def structure_capacity(
    st: Structure,
    stage_exposure: pd.DataFrame,
    targets: Mapping[str, float] | pd.Series,
    static_caps: pd.Series | np.ndarray | float,
    liquidity_notional: pd.Series,
    *,
    stage_tolerance: float,
    issuer_cap: float | None,
    country_caps: Mapping[str, float] | float | None,
    eligible: pd.Series | None,
    solver: str,
    stage_basis: pd.Series | None = None,
    limits: Sequence[LinearLimit] = (),
    memo: Memo | None = None,
) -> float:
    """:func:`max_feasible_aum` on a universe already laid out (``st``: its issuers and countries;
    ``memo``: one review's, see :meth:`~.stage_balanced.StageBalancedOptimizer.solve`)."""
    index = stage_exposure.index
    anchor = remembered(memo, (eligible, index), "capacity anchor", lambda: _eligible_anchor(eligible, index))
    inp = static_inputs(
        st,
        anchor,
        stage_exposure,
        targets,
        static_caps,
        stage_tolerance=stage_tolerance,
        issuer_cap=issuer_cap,
        country_caps=country_caps,
        min_weight=None,
        stage_basis=stage_basis,
        limits=limits,
        memo=memo,
    )
    precheck(st, inp, None)
    liq = remembered(memo, (st, liquidity_notional), "notional", lambda: _notional(st, liquidity_notional))
    finite = np.isfinite(liq)
    scale = float(liq[finite].max()) if finite.any() and liq[finite].max() > 0 else 1.0
    attempts = []
    if solver == "CLARABEL":
        m = len(st.issuer_names)
        qp = ReviewQP(
            inp.u,
            inp.upper,
            inp.lower,
            inp.E,
            inp.target,
            inp.tol,
            inp.prev,
            0.0,
            st.issuer_idx,
            np.zeros(m),
            inp.issuer_upper(st, None),
            st.country_idx,
            inp.country_cap,
            basis=inp.basis,
            C=inp.C,
            c_lo=inp.c_lo,
            c_hi=inp.c_hi,
        )
        t, status = min_inverse_aum(qp, liq / scale, _LP_SETTINGS)
        status = DIRECT_STATUS.get(status, status)
        if status == INFEASIBLE:
            raise _capacity_infeasible(status)
        if status == OPTIMAL and t is not None:
            return math.inf if t <= 1e-12 else scale / t
        attempts.append(f"CLARABEL: {status}")
    return _capacity_cvxpy(st, inp, liq / scale, scale, solver, attempts)


def _notional(st: Structure, liquidity_notional: pd.Series) -> np.ndarray:
    liq = aligned(as_series(liquidity_notional, "liquidity_notional"), st, "liquidity_notional", np.nan)
    if np.isnan(liq).any() or (liq < 0).any():
        raise InputError("liquidity_notional must be >= 0 for every ticker (inf = no limit)")
    return liq


def _eligible_anchor(eligible: pd.Series | None, index: pd.Index) -> pd.Series:
    """1.0 for the eligible names (every name when None), 0.0 elsewhere, on ``index``."""
    if eligible is None:
        return pd.Series(1.0, index=index)
    if isinstance(eligible, pd.Series) and eligible.dtype == bool and eligible.index.is_(index):
        return pd.Series(eligible.to_numpy(dtype=float), index=index)  # already aligned (the review's case)
    return pd.Series(eligible).reindex(index).fillna(False).astype(bool).astype(float)


def _capacity_infeasible(status: str) -> InfeasibleError:
    return InfeasibleError(
        f"no portfolio meets the static constraints at any fund size (solver status '{status}'); "
        "relax the caps, stage_tolerance or the country/issuer caps"
    )


def _capacity_cvxpy(
    st: Structure, inp: ReviewInputs, liq: np.ndarray, scale: float, solver: str, attempts: list[str]
) -> float:
    """The capacity LP through cvxpy (a solver other than CLARABEL, or HiGHS when Clarabel failed)."""
    import cvxpy as cp

    finite = np.isfinite(liq)
    n = st.n
    w = cp.Variable(n)
    t = cp.Variable(nonneg=True)
    upper = inp.upper if inp.issuer_cap is None else fold_single_issuers(inp.upper, st, inp.issuer_cap)
    cons = [
        cp.sum(w) == 1,
        w >= 0,
        w <= upper,
    ]
    basis = np.ones(n) if inp.basis is None else inp.basis
    shares, total = (inp.E * basis[:, None]).T @ w, basis @ w
    cons += [shares <= (inp.target + inp.tol) * total, shares >= (inp.target - inp.tol) * total]
    for r in range(len(inp.C)):
        if np.isfinite(inp.c_hi[r]):
            cons.append(inp.C[r] @ w <= inp.c_hi[r])
        if np.isfinite(inp.c_lo[r]):
            cons.append(inp.C[r] @ w >= inp.c_lo[r])
    if finite.any():
        idx = np.flatnonzero(finite)
        cons.append(w[idx] <= liq[idx] * t)
    multi = np.flatnonzero(st.issuer_sizes > 1)
    if inp.issuer_cap is not None and len(multi):
        cons.append(aggregation(st.issuer_idx, multi, n) @ w <= inp.issuer_cap)
    if st.country_idx is not None and np.isfinite(inp.country_cap).any():
        rows = np.flatnonzero(np.isfinite(inp.country_cap))
        cons.append(aggregation(st.country_idx, rows, n) @ w <= inp.country_cap[rows])
    prob = cp.Problem(cp.Minimize(t), cons)
    for name in dict.fromkeys((solver, "HIGHS")):
        if name == "CLARABEL" and attempts:
            continue  # the direct path already failed with it
        try:
            cvxpy_solve(prob, name)
        except (SolverFailure, ValueError, ArithmeticError, RuntimeError) as exc:
            attempts.append(f"{name}: error {exc}")
            continue
        if prob.status == OPTIMAL and t.value is not None:
            tv = float(t.value)
            return math.inf if tv <= 1e-12 else scale / tv
        attempts.append(f"{name}: {prob.status}")
        if prob.status == INFEASIBLE:
            raise _capacity_infeasible(prob.status)
    raise SolverError(f"capacity LP failed: {'; '.join(attempts)}")


def days_to_trade(weights: pd.Series, aum: float, adtv: pd.Series, participation: float) -> pd.Series:
    """Days needed to trade each position: weight · AUM / (participation · ADTV).

    Parameters
    ----------
    weights
        Weights by ticker.
    aum
        Fund size in USD.
    adtv
        Average daily traded value in USD by ticker.
    participation
        Share of daily volume the fund may take (e.g. 0.2).

    Returns
    -------
    pandas.Series
        Days by ticker (indexed like ``weights``): 0 for zero weights, ``inf`` for a held name with
        no (or zero) ADTV.
    """
    participation = as_number(participation, "participation")
    if not 0 < participation <= 1:
        raise InputError(f"participation must be a fraction of daily volume in (0, 1], got {participation}")
    aum = check_aum(aum)
    w, a = as_series(weights, "weights"), as_series(adtv, "adtv")
    if w is None or a is None:
        raise InputError("weights and adtv must be pandas Series (or mappings) by ticker, got None")
    try:
        w, a = w.astype(float), a.astype(float).reindex(w.index)
    except (TypeError, ValueError):
        raise InputError("weights and adtv must hold numbers") from None
    wv = w.to_numpy()
    if not (np.isfinite(wv).all() and (wv >= 0).all() and (wv <= 1 + 1e-6).all()):
        raise InputError("weights must be finite fractions between 0 and 1")
    return pd.Series(days_to_trade_array(wv, aum, a.to_numpy(), participation), index=w.index, name="days_to_trade")
