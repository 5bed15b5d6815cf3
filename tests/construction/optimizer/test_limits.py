"""Linear limits, the stage basis and the least-stage-deviation LP (construction/optimizer/limits.py).

References: hand-computed optima (KKT by hand on two- and three-name problems), the optimizer's
cvxpy model (``direct_clarabel=False``: another formulation, other code) against the direct Clarabel
path, and for the least deviation a bisection on the deviation whose every step is a feasibility LP
in the weights (scipy's HiGHS), against the package's one Charnes-Cooper LP.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from _weights_helpers import STAGES, random_instance
from scipy.optimize import linprog

from exchina_index.construction.optimizer import (
    LinearLimit,
    StageBalancedOptimizer,
    check_feasibility,
    stage_balanced_weights,
    verify_constraints,
)
from exchina_index.errors import InfeasibleError, InputError

TWO = ["mining", "manufacturing"]


def test_the_exposure_basis_balances_purity_weighted_holdings_by_hand() -> None:
    # A: a pure miner; B: a magnet maker with purity 0.25. Half the rare-earth exposure in each stage
    # means w_A x 1 = w_B x 0.25, so w_A = 0.2, w_B = 0.8; on the weight basis it is 0.5 / 0.5
    u = pd.Series({"A": 0.5, "B": 0.5})
    E = pd.DataFrame({"mining": [1.0, 0.0], "manufacturing": [0.0, 1.0]}, index=u.index)
    targets = {"mining": 0.5, "manufacturing": 0.5}
    by_exposure = stage_balanced_weights(u, E, targets, 1.0, stage_basis=pd.Series({"A": 1.0, "B": 0.25}))
    np.testing.assert_allclose(by_exposure, [0.2, 0.8], atol=1e-8)
    np.testing.assert_allclose(stage_balanced_weights(u.mul([0.3, 1.7]), E, targets, 1.0), [0.5, 0.5], atol=1e-8)


@pytest.mark.parametrize(
    ("limit", "expected"),
    [
        # p.w >= 0.5 with p = (0.9, 0.1, 0.1): 0.8 w_A + 0.1 >= 0.5, so w_A = 0.5 and B, C split the rest as u
        (LinearLimit("purity:weighted", pd.Series({"A": 0.9, "B": 0.1, "C": 0.1}), lower=0.5), [0.5, 0.25, 0.25]),
        # at most 15 % in B and C: w_A = 0.85, B and C 7.5 % each
        (LinearLimit("purity:low_weight", pd.Series({"B": 1.0, "C": 1.0}), upper=0.15), [0.85, 0.075, 0.075]),
    ],
)
def test_a_linear_limit_moves_the_capped_index_as_computed_by_hand(limit: LinearLimit, expected: list) -> None:
    u = pd.Series({"A": 0.2, "B": 0.4, "C": 0.4})
    E = pd.DataFrame({"all": 1.0}, index=u.index)
    for direct in (True, False):
        opt = StageBalancedOptimizer(list(u.index), ["all"], direct_clarabel=direct, solver="CLARABEL")
        res = opt.solve(u, E, {"all": 1.0}, 1.0, limits=[limit])
        np.testing.assert_allclose(res.weights, expected, atol=1e-7)
        side = "lower" if math.isfinite(limit.lower) else "upper"
        assert f"{limit.name} {side}" in res.binding_constraints


def _with_integrity(seed: int):
    """A random instance with a purity basis and the two purity limits at random levels."""
    inst = random_instance(seed, 14, turnover=False)
    rng = np.random.default_rng(1000 + seed)
    tickers = inst.anchor.index
    purity = pd.Series(rng.uniform(0.02, 1.0, len(tickers)), index=tickers)
    limits = [
        LinearLimit("purity:weighted", purity, lower=float(rng.uniform(0.2, 0.6))),
        LinearLimit("purity:low_weight", (purity < 0.25).astype(float), upper=float(rng.uniform(0.1, 0.5))),
    ]
    return inst, purity, limits


def _solve(inst, purity, limits, direct: bool, tolerance: float | None = None):
    opt = StageBalancedOptimizer(
        list(inst.anchor.index), STAGES, issuers=inst.issuers, countries=inst.countries, direct_clarabel=direct
    )
    return opt.solve(
        inst.anchor,
        inst.exposure,
        inst.targets,
        inst.caps,
        stage_tolerance=inst.tolerance if tolerance is None else tolerance,
        issuer_cap=inst.issuer_cap,
        country_caps=inst.country_caps,
        min_weight=inst.min_weight,
        stage_basis=purity,
        limits=limits,
    )


@pytest.mark.parametrize("seed", range(24))
def test_direct_clarabel_and_the_cvxpy_model_agree_with_a_basis_and_limits(seed: int) -> None:
    inst, purity, limits = _with_integrity(seed)
    answers = []
    for direct in (True, False):
        try:
            answers.append(_solve(inst, purity, limits, direct, tolerance=max(inst.tolerance, 0.1)))
        except InfeasibleError:
            answers.append(None)
    assert (answers[0] is None) == (answers[1] is None)
    if answers[0] is not None:
        a, b = answers
        assert a.objective == pytest.approx(b.objective, rel=1e-6, abs=1e-9)
        np.testing.assert_allclose(a.weights, b.weights, atol=2e-5)
        kwargs = dict(stage_basis=purity, limits=limits, issuers=inst.issuers, countries=inst.countries)
        assert not verify_constraints(
            a.weights,
            inst.anchor,
            inst.exposure,
            inst.targets,
            inst.caps,
            stage_tolerance=max(inst.tolerance, 0.1),
            issuer_cap=inst.issuer_cap,
            country_caps=inst.country_caps,
            min_weight=inst.min_weight,
            **kwargs,
        )


def _feasible_at(inst, purity, limits, tau: float) -> bool:
    """A feasibility LP in w: every constraint, the band |Σ w p (E_k - t_k)| <= tau Σ w p."""
    names = inst.anchor.index
    el = inst.anchor.to_numpy() > 0
    p = purity.reindex(names).to_numpy()[el]
    E = inst.exposure.reindex(names).to_numpy()[el]
    t = np.array([inst.targets[s] for s in STAGES])
    rows, rhs = [], []
    for k in range(len(STAGES)):
        gap = p * (E[:, k] - t[k])
        rows += [gap - tau * p, -gap - tau * p]
        rhs += [0.0, 0.0]
    for lim in limits:
        c = lim.coefficients.reindex(names, fill_value=0.0).to_numpy()[el]
        if math.isfinite(lim.upper):
            rows.append(c)
            rhs.append(lim.upper)
        if math.isfinite(lim.lower):
            rows.append(-c)
            rhs.append(-lim.lower)
    groups = [(inst.issuers, lambda g: inst.issuer_cap)] if inst.issuer_cap is not None else []
    if inst.country_caps:
        groups.append((inst.countries, lambda g: inst.country_caps.get(g, math.inf)))
    for labels, cap in groups:
        lab = labels.reindex(names).to_numpy()[el]
        for g in sorted(set(lab)):
            if math.isfinite(cap(g)):
                rows.append((lab == g).astype(float))
                rhs.append(cap(g))
    lower = np.zeros(el.sum()) if inst.min_weight is None else inst.min_weight.reindex(names).to_numpy()[el]
    upper = np.minimum(inst.caps.reindex(names).to_numpy()[el], 1.0)
    res = linprog(
        np.zeros(el.sum()),
        A_ub=np.array(rows),
        b_ub=np.array(rhs),
        A_eq=np.ones((1, el.sum())),
        b_eq=[1.0],
        bounds=list(zip(lower, upper)),
        method="highs",
    )
    return res.status == 0


@pytest.mark.parametrize("seed", range(16))
def test_the_least_stage_deviation_equals_a_bisection_of_feasibility_lps(seed: int) -> None:
    inst, purity, limits = _with_integrity(seed)
    opt = StageBalancedOptimizer(list(inst.anchor.index), STAGES, issuers=inst.issuers, countries=inst.countries)
    eligible = inst.anchor > 0
    kwargs = dict(
        eligible=eligible,
        issuer_cap=inst.issuer_cap,
        country_caps=inst.country_caps,
        stage_basis=purity,
        limits=limits,
        min_weight=inst.min_weight,
    )
    if not _feasible_at(inst, purity, limits, 1.0):
        with pytest.raises(InfeasibleError):
            opt.min_stage_deviation(inst.exposure, inst.targets, inst.caps, **kwargs)
        return
    tau = opt.min_stage_deviation(inst.exposure, inst.targets, inst.caps, **kwargs)
    lo, hi = 0.0, 1.0
    for _ in range(40):
        mid = (lo + hi) / 2
        lo, hi = (lo, mid) if _feasible_at(inst, purity, limits, mid) else (mid, hi)
    assert tau == pytest.approx(hi, abs=1e-6)
    # and the QP at that band (plus solver room) is feasible
    _solve(inst, purity, limits, True, tolerance=tau + 1e-6)


def test_an_unreachable_purity_floor_is_named_with_its_shortfall() -> None:
    u = pd.Series({"A": 0.5, "B": 0.5, "C": 0.5})
    E = pd.DataFrame({"all": 1.0}, index=u.index)
    floor = LinearLimit("purity:weighted", pd.Series({"A": 0.9, "B": 0.1, "C": 0.1}), lower=0.6)
    # at most 40 % in A: 0.4 x 0.9 + 0.6 x 0.1 = 0.42 < 0.6, short by 18 pp
    with pytest.raises(InfeasibleError, match=r"purity:weighted can reach at most 0\.42 .* shortfall 18\.0 pp"):
        check_feasibility(u, E, {"all": 1.0}, 0.4, limits=[floor])


def test_verify_reports_a_broken_limit_and_a_share_off_its_basis() -> None:
    u = pd.Series({"A": 0.5, "B": 0.5})
    E = pd.DataFrame({"mining": [1.0, 0.0], "manufacturing": [0.0, 1.0]}, index=u.index)
    floor = LinearLimit("purity:weighted", pd.Series({"A": 1.0, "B": 0.25}), lower=0.7)
    out = verify_constraints(
        u,
        u,
        E,
        {"mining": 0.5, "manufacturing": 0.5},
        1.0,
        stage_basis=pd.Series({"A": 1.0, "B": 0.25}),
        limits=[floor],
    )
    # 0.5 / 0.5 weights: exposure shares 0.8 / 0.2 (off by 30 pp), weighted purity 0.625 < 0.7
    assert any(line.startswith("stage 'mining' share 0.8000000000") for line in out)
    assert any(line.startswith("limit 'purity:weighted' at 0.6250000000") for line in out)


@pytest.mark.parametrize(
    ("limits", "message"),
    [
        ([LinearLimit("x", pd.Series({"A": np.nan}))], "finite"),
        ([LinearLimit("x", pd.Series({"A": "high"}))], "finite"),
        ([LinearLimit("x", pd.Series([1.0, 2.0], index=["A", "A"]))], "duplicate ticker 'A'"),
        ([LinearLimit("x", pd.Series({"A": 1.0, "ZZZ": 1.0}))], "not in the universe: ZZZ"),
        ([LinearLimit("x", pd.Series({"A": 1.0}), lower=0.5, upper=0.4)], "lower <= upper"),
        ([LinearLimit("x", pd.Series({"A": 1.0}), lower=math.nan)], "lower <= upper"),
        ([LinearLimit("x", pd.Series({"A": 1.0})), LinearLimit("x", pd.Series({"B": 1.0}))], "two limits"),
        ([LinearLimit("x", {"A": 1.0})], "LinearLimit with a Series"),  # type: ignore[arg-type]
        (LinearLimit("x", pd.Series({"A": 1.0})), "sequence of LinearLimit"),
    ],
)
def test_bad_limits_are_input_errors(limits, message: str) -> None:
    u = pd.Series({"A": 0.5, "B": 0.5})
    E = pd.DataFrame({"all": 1.0}, index=u.index)
    with pytest.raises(InputError, match=message):
        stage_balanced_weights(u, E, {"all": 1.0}, 1.0, limits=limits)


def test_a_stage_basis_of_zero_for_an_eligible_name_is_an_input_error() -> None:
    u = pd.Series({"A": 0.5, "B": 0.5})
    E = pd.DataFrame({"all": 1.0}, index=u.index)
    with pytest.raises(InputError, match="stage_basis must be finite and > 0 .* B"):
        stage_balanced_weights(u, E, {"all": 1.0}, 1.0, stage_basis=pd.Series({"A": 1.0, "B": 0.0}))
