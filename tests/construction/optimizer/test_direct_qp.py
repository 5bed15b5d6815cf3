"""Tests of the direct Clarabel path (exchina_index.construction.optimizer.direct_qp and its use by the optimizer).

The references are independent of the direct assembly: hand-computed optima, the optimizer's cvxpy
model (``direct_clarabel=False``, a different formulation over the whole universe), HiGHS through
cvxpy for the capacity LP, and a fresh interpreter for the import claim.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from _weights_helpers import STAGES, capped_objective, independent_violations, random_instance
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exchina_index.construction.optimizer import RegulatoryLimits, StageBalancedOptimizer, max_feasible_aum
from exchina_index.construction.optimizer.direct_qp import ReviewQP, clarabel_settings, min_inverse_aum, solve_direct
from exchina_index.errors import InfeasibleError

SETTINGS = clarabel_settings({"tol_gap_abs": 1e-10, "tol_gap_rel": 1e-10, "tol_feas": 1e-10})


def _qp(u, upper, *, prev=None, lam=0.0, lower=None, issuers=None, issuer_upper=None, tol=1.0) -> ReviewQP:
    """One-stage problem (the stage row never binds with tol=1) over len(u) names."""
    u = np.asarray(u, dtype=float)
    n = len(u)
    iss = np.arange(n) if issuers is None else np.asarray(issuers)
    m = int(iss.max()) + 1
    return ReviewQP(
        u=u / u.sum(),
        upper=np.asarray(upper, dtype=float),
        lower=np.zeros(n) if lower is None else np.asarray(lower, dtype=float),
        exposure=np.ones((n, 1)),
        target=np.ones(1),
        tol=tol,
        prev=np.zeros(n) if prev is None else np.asarray(prev, dtype=float),
        lam=lam,
        issuer_idx=iss,
        issuer_lower=np.zeros(m),
        issuer_upper=np.full(m, np.inf) if issuer_upper is None else np.asarray(issuer_upper),
        country_idx=None,
        country_cap=np.zeros(0),
    )


def test_single_cap_by_hand_and_ineligible_name_stays_at_zero() -> None:
    # u = (0.5, 0.3, 0.2, 0): capping A at 40% moves 10 pp to B and C in proportion 3:2
    w, status = solve_direct(_qp([0.5, 0.3, 0.2, 0.0], [0.4, 0.4, 0.4, 0.4]), SETTINGS)
    assert status == "Solved"
    np.testing.assert_allclose(w, [0.4, 0.36, 0.24, 0.0], atol=1e-9)
    assert w[3] == 0.0


def test_issuer_cap_of_two_listings_by_hand() -> None:
    # A and B are one issuer capped at 50%: they keep their 5:3 split, C takes the rest
    w, _ = solve_direct(_qp([0.5, 0.3, 0.2], [1.0, 1.0, 1.0], issuers=[0, 0, 1], issuer_upper=[0.5, np.inf]), SETTINGS)
    np.testing.assert_allclose(w, [0.3125, 0.1875, 0.5], atol=1e-9)


def test_turnover_penalty_by_hand() -> None:
    # Two names, u = (0.6, 0.4), previously (0.5, 0.5). With w_B = 1 − w_A the objective is
    # w_A²/0.6 + (1 − w_A)²/0.4 + 2λ|w_A − 0.5|; its slope at 0.5 without the penalty is
    # 1/0.6 − 1/0.4 = −5/6, so the previous weights stay optimal exactly when 2λ >= 5/6.
    stay, _ = solve_direct(_qp([0.6, 0.4], [1, 1], prev=[0.5, 0.5], lam=0.42), SETTINGS)
    np.testing.assert_allclose(stay, [0.5, 0.5], atol=1e-8)
    # λ = 0.2: w_A > 0.5 solves 2w_A/0.6 − 2(1 − w_A)/0.4 + 2λ = 0
    move, _ = solve_direct(_qp([0.6, 0.4], [1, 1], prev=[0.5, 0.5], lam=0.2), SETTINGS)
    w_a = (1 / 0.4 - 0.2) / (1 / 0.6 + 1 / 0.4)
    np.testing.assert_allclose(move, [w_a, 1 - w_a], atol=1e-8)
    # a new name (previous weight 0) pays λ on what it buys, as the name sold pays on what it
    # sells: previously (1, 0) the penalty is λ(1 − w_A) + λ w_B = 2λ w_B, so
    # w_B = (1/0.6 − λ)/(1/0.6 + 1/0.4)
    new, _ = solve_direct(_qp([0.6, 0.4], [1, 1], prev=[1.0, 0.0], lam=0.5), SETTINGS)
    w_b = (1 / 0.6 - 0.5) / (1 / 0.6 + 1 / 0.4)
    np.testing.assert_allclose(new, [1 - w_b, w_b], atol=1e-8)


def test_zero_tolerance_stage_band_is_met_exactly() -> None:
    u = np.array([0.5, 0.3, 0.2])
    E = np.array([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]])
    qp = ReviewQP(
        u=u,
        upper=np.ones(3),
        lower=np.zeros(3),
        exposure=E,
        target=np.array([0.4, 0.6]),
        tol=0.0,
        prev=np.zeros(3),
        lam=0.0,
        issuer_idx=np.arange(3),
        issuer_lower=np.zeros(3),
        issuer_upper=np.full(3, np.inf),
        country_idx=None,
        country_cap=np.zeros(0),
    )
    w, _ = solve_direct(qp, SETTINGS)
    np.testing.assert_allclose(E.T @ w, [0.4, 0.6], atol=1e-9)


def test_infeasible_problem_reports_primal_infeasible() -> None:
    w, status = solve_direct(_qp([0.5, 0.5], [0.4, 0.4]), SETTINGS)  # caps add up to 80%
    assert w is None and status == "PrimalInfeasible"


def test_capacity_lp_by_hand() -> None:
    # A absorbs $1m, B $3m: w_A <= 1/AUM, w_B <= 3/AUM (AUM in $m), w_A + w_B = 1. Without caps
    # AUM* = 4; the 60% cap on B forces w_A >= 0.4, so AUM* = 1/0.4 = 2.5
    t, status = min_inverse_aum(_qp([1.0, 1.0], [0.6, 0.6]), np.array([1.0, 3.0]), SETTINGS)
    assert status == "Solved"
    assert 1 / t == pytest.approx(2.5, rel=1e-8)


# --------------------------------------------------------------------------------------------
# Direct path vs the cvxpy model, through the optimizer
# --------------------------------------------------------------------------------------------


def _limits(seed: int, inst) -> RegulatoryLimits:
    rng = np.random.default_rng(seed)
    m = inst.issuers.nunique() if inst.issuers is not None else len(inst.anchor)
    thr = float(rng.uniform(0.5, 1.0) / max(m, 4))
    issuer_max = float(rng.uniform(thr + 0.05, 0.6))
    return RegulatoryLimits("test rule", issuer_max, thr, float(rng.uniform(issuer_max, 0.9)))


def _solve_both(inst, regulatory):
    out = []
    for direct in (True, False):
        opt = StageBalancedOptimizer(
            list(inst.anchor.index),
            STAGES,
            issuers=inst.issuers,
            countries=inst.countries,
            regulatory=regulatory,
            direct_clarabel=direct,
        )
        kw = inst.kwargs()
        kw.pop("issuers"), kw.pop("countries")
        try:
            out.append(opt.solve(inst.anchor, inst.exposure, inst.targets, inst.caps, inst.previous, **kw))
        except InfeasibleError:
            out.append(None)
    return out


@settings(max_examples=40, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(5, 22), rule=st.booleans())
def test_direct_path_and_cvxpy_model_agree(seed: int, n: int, rule: bool) -> None:
    inst = random_instance(seed, n)
    if inst.previous is not None:  # some names new to the index (previous weight 0)
        new = np.random.default_rng(seed).random(n) < 0.3
        inst.previous = inst.previous.where(~new, 0.0)
    regulatory = _limits(seed, inst) if rule else None
    direct, model = _solve_both(inst, regulatory)
    assert (direct is None) == (model is None)
    if direct is None:
        return
    assert direct.solver == model.solver == "CLARABEL"
    assert independent_violations(direct.weights, inst, regulatory=regulatory) == []
    assert capped_objective(direct.weights, inst) == pytest.approx(capped_objective(model.weights, inst), abs=1e-7)
    assert np.abs(direct.weights - model.weights).max() <= 1e-5


def test_unrefined_failure_is_retried_with_refinement_not_a_fallback_solver() -> None:
    inst = random_instance(3, 12, ineligible=False)
    inst.tolerance = 0.2
    opt = StageBalancedOptimizer(list(inst.anchor.index), STAGES, fallback_solvers=("SCS",))
    expected = opt.solve(inst.anchor, inst.exposure, inst.targets, 0.3, stage_tolerance=0.2)
    fast, careful = opt._chain.direct_settings
    fast.max_iter = 1  # the first, unrefined attempt cannot finish
    res = opt.solve(inst.anchor, inst.exposure, inst.targets, 0.3, stage_tolerance=0.2)
    assert res.solver == "CLARABEL" and not res.fallback_used
    assert np.abs(res.weights - expected.weights).max() <= 1e-9


@settings(max_examples=15, deadline=None, derandomize=True)
@given(seed=st.integers(0, 2**32 - 1))
def test_capacity_direct_matches_highs(seed: int) -> None:
    rng = np.random.default_rng(seed)
    inst = random_instance(seed, 12, floors=False, turnover=False)
    inst.tolerance = 0.1
    inst.targets = {s: float(inst.exposure[s].mean()) for s in STAGES}
    notional = pd.Series(rng.lognormal(15, 1.5, 12), index=inst.anchor.index)
    notional.iloc[0] = np.inf
    kw = dict(
        stage_tolerance=inst.tolerance,
        issuers=inst.issuers,
        issuer_cap=inst.issuer_cap,
        countries=inst.countries,
        country_caps=inst.country_caps,
        eligible=inst.anchor > 0,
    )
    got = []
    for solver in ("CLARABEL", "HIGHS"):
        try:
            got.append(max_feasible_aum(inst.exposure, inst.targets, 0.3, notional, solver=solver, **kw))
        except InfeasibleError:
            got.append(None)
    if got[0] is None or got[1] is None:
        assert got[0] is got[1]
    else:
        assert got[0] == pytest.approx(got[1], rel=1e-6)


def test_review_path_does_not_import_cvxpy() -> None:
    code = (
        "import sys, pandas as pd\n"
        "from exchina_index.construction.optimizer import StageBalancedOptimizer, max_feasible_aum\n"
        "u = pd.Series({'A': 0.5, 'B': 0.3, 'C': 0.2})\n"
        "E = pd.DataFrame({'all': 1.0}, index=u.index)\n"
        "StageBalancedOptimizer(list(u.index), ['all']).solve(u, E, {'all': 1.0}, 0.45)\n"
        "max_feasible_aum(E, {'all': 1.0}, 0.45, pd.Series(1e6, index=u.index))\n"
        "print('cvxpy' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
