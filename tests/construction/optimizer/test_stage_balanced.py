"""Tests of the stage-balanced optimizer (the package exchina_index.construction.optimizer).

Expected values come from independent implementations in ``_weights_helpers`` (plain loops,
iterative capping, a separately written cvxpy model, brute force over large-issuer subsets), never
from the package's own output.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from _weights_helpers import (
    STAGES,
    Instance,
    ReferenceModel,
    capped_objective,
    elastic_infeasibility,
    independent_violations,
    iterative_capping,
    random_instance,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exchina_index.construction.compliance import check_regulatory
from exchina_index.construction.optimizer import (
    RIC_25_50,
    UCITS_5_10_40,
    UCITS_INDEX_20_35,
    RegulatoryLimits,
    StageBalancedOptimizer,
    check_feasibility,
    days_to_trade,
    max_feasible_aum,
    stage_balanced_weights,
    verify_constraints,
)
from exchina_index.construction.optimizer.cvxpy_model import SOLVER_OPTIONS
from exchina_index.errors import InfeasibleError, InputError, SolverError

FAST = settings(max_examples=50, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])


def solve(inst: Instance, **extra) -> pd.Series:
    return stage_balanced_weights(
        inst.anchor, inst.exposure, inst.targets, inst.caps, inst.previous, **inst.kwargs(), **extra
    )


def _pp(text: str) -> float:
    """The shortfall in percentage points quoted in a message."""
    return float(re.search(r"(?:shortfall|excess) ([0-9.]+) pp", text).group(1))


# --------------------------------------------------------------------------------------------
# Property tests
# --------------------------------------------------------------------------------------------


@FAST
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(5, 25))
def test_solution_satisfies_every_constraint_or_is_infeasible(seed: int, n: int) -> None:
    inst = random_instance(seed, n)
    try:
        w = solve(inst)
    except InfeasibleError:
        # never reject a feasible problem: the elastic LP needs a positive relaxation
        assert elastic_infeasibility(inst) > 1e-9
        return
    assert list(w.index) == list(inst.anchor.index)
    assert independent_violations(w, inst) == []
    assert (w[inst.anchor == 0] == 0.0).all()
    assert (w >= 0).all()
    assert abs(w.sum() - 1.0) <= 1e-9


@settings(max_examples=30, deadline=None, derandomize=True)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(5, 25))
def test_solution_is_optimal_against_reference_model(seed: int, n: int) -> None:
    inst = random_instance(seed, n)
    try:
        w = solve(inst)
    except InfeasibleError:
        return
    ref = ReferenceModel(inst).solve()
    assert ref is not None
    assert capped_objective(w, inst) == pytest.approx(ref, abs=1e-6)


@FAST
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(5, 25), uniform=st.booleans(), one_stage=st.booleans())
def test_single_cap_equals_iterative_capping(seed: int, n: int, uniform: bool, one_stage: bool) -> None:
    rng = np.random.default_rng(seed)
    tickers = [f"T{i}" for i in range(n)]
    u = pd.Series(rng.lognormal(0, 1.5, n), index=tickers)
    if uniform:
        caps = pd.Series(rng.uniform(1.05 / n, 0.6), index=tickers)
    else:
        caps = pd.Series(rng.uniform(0.5 / n, 3.0 / n, n), index=tickers)
        if caps.sum() < 1.0:
            caps *= 1.05 / caps.sum()
    if one_stage:
        expo, targets, tol = pd.DataFrame({"all": 1.0}, index=tickers), {"all": 1.0}, 0.0
    else:
        expo = pd.DataFrame(rng.dirichlet(np.ones(3), n), index=tickers, columns=STAGES)
        targets, tol = dict(zip(STAGES, rng.dirichlet(np.ones(3)))), 1.0
    w = stage_balanced_weights(u, expo, targets, caps, stage_tolerance=tol)
    expected = iterative_capping(u / u.sum(), caps)
    assert np.abs(w - expected).max() <= 1e-7


@settings(max_examples=25, deadline=None, derandomize=True)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(6, 16))
def test_same_inputs_in_any_order_give_identical_weights(seed: int, n: int) -> None:
    inst = random_instance(seed, n)
    try:
        w = solve(inst)
    except InfeasibleError:
        return
    perm = np.random.default_rng(seed + 1).permutation(n)
    shuffled = Instance(
        anchor=inst.anchor.iloc[perm],
        exposure=inst.exposure.iloc[perm[::-1]][STAGES[::-1]],
        targets=dict(reversed(list(inst.targets.items()))),
        caps=inst.caps.iloc[perm[::-1]],
        tolerance=inst.tolerance,
        issuers=None if inst.issuers is None else inst.issuers.iloc[perm[::-1]],
        issuer_cap=inst.issuer_cap,
        countries=None if inst.countries is None else inst.countries.sample(frac=1, random_state=3),
        country_caps=(
            dict(reversed(list(inst.country_caps.items())))
            if isinstance(inst.country_caps, dict)
            else inst.country_caps
        ),
        min_weight=None if inst.min_weight is None else inst.min_weight.iloc[perm[::-1]],
        previous=None if inst.previous is None else inst.previous.iloc[perm[::-1]],
        turnover_penalty=inst.turnover_penalty,
    )
    w2 = solve(shuffled)
    assert list(w2.index) == list(shuffled.anchor.index)
    assert np.array_equal(w2.reindex(w.index).to_numpy(), w.to_numpy())


# --------------------------------------------------------------------------------------------
# Compile once, re-solve
# --------------------------------------------------------------------------------------------


def _reviews(seed: int, n: int, k: int) -> list[Instance]:
    """k reviews of one universe: same tickers, issuers and countries, new numbers."""
    base = random_instance(seed, n)
    out = []
    for r in range(k):
        other = random_instance(seed + 1000 * (r + 1), n)
        other.issuers, other.countries = base.issuers, base.countries
        out.append(other)
    return out


def test_compiled_problem_is_dpp_and_resolve_matches_fresh_build() -> None:
    reviews = _reviews(7, 18, 6)
    base = reviews[0]
    compiled = StageBalancedOptimizer(list(base.anchor.index), STAGES, issuers=base.issuers, countries=base.countries)
    assert compiled.problem.is_dpp()
    solved = 0
    for inst in reviews:
        kw = inst.kwargs()
        kw.pop("issuers"), kw.pop("countries")
        fresh = StageBalancedOptimizer(list(inst.anchor.index), STAGES, issuers=inst.issuers, countries=inst.countries)
        try:
            expected = fresh.solve(inst.anchor, inst.exposure, inst.targets, inst.caps, inst.previous, **kw)
        except InfeasibleError:
            with pytest.raises(InfeasibleError):
                compiled.solve(inst.anchor, inst.exposure, inst.targets, inst.caps, inst.previous, **kw)
            continue
        got = compiled.solve(inst.anchor, inst.exposure, inst.targets, inst.caps, inst.previous, **kw)
        assert np.abs(got.weights - expected.weights).max() <= 1e-9
        assert independent_violations(got.weights, inst) == []
        solved += 1
    assert solved >= 2


def test_ineligible_name_passed_with_zero_anchor_gets_exact_zero() -> None:
    inst = random_instance(11, 12, groups=False, floors=False, turnover=False, ineligible=False)
    inst.tolerance = 0.2
    opt = StageBalancedOptimizer(list(inst.anchor.index), STAGES)
    first = opt.solve(inst.anchor, inst.exposure, inst.targets, 0.5, stage_tolerance=0.2)
    out = inst.anchor.index[int(np.argmax(first.weights.to_numpy()))]
    anchor = inst.anchor.copy()
    anchor[out] = 0.0
    caps = pd.Series(0.5, index=anchor.index)
    caps[out] = 0.0
    res = opt.solve(anchor, inst.exposure, inst.targets, caps, stage_tolerance=0.2)
    assert res.weights[out] == 0.0
    assert res.weights.sum() == pytest.approx(1.0, abs=1e-12)
    # anchors may also simply omit the ineligible name
    res2 = opt.solve(anchor.drop(out), inst.exposure, inst.targets, 0.5, stage_tolerance=0.2)
    assert res2.weights[out] == 0.0
    assert np.abs(res2.weights - res.weights).max() <= 1e-9


def test_stage_exposure_after_is_within_tolerance_of_target() -> None:
    inst = random_instance(3, 20, groups=False, floors=False, turnover=False)
    for tol in (0.0, 0.02):
        opt = StageBalancedOptimizer(list(inst.anchor.index), STAGES)
        res = opt.solve(inst.anchor, inst.exposure, inst.targets, 0.3, stage_tolerance=tol)
        for s in STAGES:
            by_hand = sum(res.weights[t] * inst.exposure.loc[t, s] for t in inst.anchor.index)
            assert res.stage_exposure_after[s] == pytest.approx(by_hand, abs=1e-12)
            assert abs(by_hand - inst.targets[s]) <= tol + 1e-8
        u = inst.anchor / inst.anchor.sum()
        for s in STAGES:
            assert res.stage_exposure_before[s] == pytest.approx(
                sum(u[t] * inst.exposure.loc[t, s] for t in u.index), abs=1e-12
            )


# --------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------


def test_report_names_binding_constraints() -> None:
    tickers = ["US1", "US2", "US3", "AU1", "AU2", "CA1", "CA2"]
    u = pd.Series([30, 20, 15, 10, 10, 8, 7], index=tickers, dtype=float)
    expo = pd.DataFrame(
        {
            "mining": [0.2, 0.0, 0.0, 1, 1, 0.5, 0.0],
            "refining": [0.8, 1, 0.0, 0, 0, 0.5, 0.0],
            "manufacturing": [0.0, 0.0, 1, 0, 0, 0.0, 1.0],
        },
        index=tickers,
    )
    countries = pd.Series([t[:2] for t in tickers], index=tickers)
    issuers = pd.Series(["big", "big", "c", "d", "e", "f", "g"], index=tickers)
    targets = {"mining": 0.3, "refining": 0.4, "manufacturing": 0.3}
    opt = StageBalancedOptimizer(tickers, STAGES, issuers=issuers, countries=countries)
    res = opt.solve(u, expo, targets, 0.25, stage_tolerance=0.05, issuer_cap=0.3, country_caps={"US": 0.5})
    w = res.weights
    assert w[["US1", "US2", "US3"]].sum() == pytest.approx(0.5, abs=1e-7)
    assert "country:US" in res.binding_constraints
    assert res.binding_constraints == sorted(res.binding_constraints)
    big = w["US1"] + w["US2"]
    assert ("issuer:big" in res.binding_constraints) == (big >= 0.3 - 1e-7)
    assert res.issuer_totals["big"] == pytest.approx(big, abs=1e-12)
    assert res.country_totals["US"] == pytest.approx(0.5, abs=1e-7)
    at_cap = [t for t in tickers if w[t] >= 0.25 - 1e-7]
    assert list(res.binding.index[res.binding["at_cap"]]) == at_cap
    assert list(res.binding.columns[:5]) == ["u", "weight", "cap", "min_weight", "at_cap"]
    for s in STAGES:
        after = sum(w[t] * expo.loc[t, s] for t in tickers)
        assert (f"stage:{s} upper" in res.binding_constraints) == (after >= targets[s] + 0.05 - 1e-7)
        assert (f"stage:{s} lower" in res.binding_constraints) == (after <= targets[s] - 0.05 + 1e-7)
    assert res.solver == "CLARABEL" and not res.fallback_used
    assert res.status in ("optimal", "optimal_inaccurate")
    assert res.solve_seconds > 0
    u_n = u / u.sum()
    assert res.objective == pytest.approx(float(((w - u_n) ** 2 / u_n).sum()), abs=1e-12)


def test_large_turnover_penalty_keeps_a_feasible_previous_portfolio() -> None:
    inst = random_instance(5, 10, groups=False, floors=False, turnover=False, ineligible=False)
    prev = pd.Series(np.full(10, 0.1), index=inst.anchor.index)
    expo_prev = {s: float((prev * inst.exposure[s]).sum()) for s in STAGES}
    w = stage_balanced_weights(inst.anchor, inst.exposure, expo_prev, 0.2, prev, turnover_penalty=100.0)
    assert np.abs(w - prev).max() <= 1e-7
    w0 = stage_balanced_weights(inst.anchor, inst.exposure, expo_prev, 0.2, prev, turnover_penalty=0.0)
    assert np.abs(w0 - prev).max() > 1e-3


def test_min_weight_is_respected() -> None:
    inst = random_instance(8, 12, groups=False, floors=False, turnover=False, ineligible=False)
    smallest = inst.anchor.idxmin()
    floor = pd.Series(0.0, index=inst.anchor.index)
    floor[smallest] = 0.09
    w = stage_balanced_weights(inst.anchor, inst.exposure, inst.targets, 0.4, stage_tolerance=0.3, min_weight=floor)
    assert w[smallest] >= 0.09 - 1e-9


# --------------------------------------------------------------------------------------------
# Solvers and verification
# --------------------------------------------------------------------------------------------


def _simple() -> Instance:
    """A feasible instance: equal weights (each 1/15 < 30% cap) meet the targets exactly."""
    inst = random_instance(21, 15, groups=False, floors=False, turnover=False, ineligible=False)
    inst.targets = {s: float(inst.exposure[s].mean()) for s in STAGES}
    return inst


def test_misspelt_solver_is_refused_not_skipped_for_the_fallback() -> None:
    inst = _simple()
    with pytest.raises(InputError, match="unknown solver 'CLARABLE'; did you mean 'CLARABEL'"):
        StageBalancedOptimizer(list(inst.anchor.index), STAGES, solver="CLARABLE", fallback_solvers=("SCS",))
    with pytest.raises(InputError, match="fallback solver: unknown solver 'SCSS'; did you mean 'SCS'"):
        stage_balanced_weights(inst.anchor, inst.exposure, inst.targets, 0.3, fallback_solvers=("SCSS",))


def test_fallback_solver_is_used_and_recorded(monkeypatch: pytest.MonkeyPatch) -> None:
    inst = _simple()
    monkeypatch.setitem(SOLVER_OPTIONS, "OSQP", {"max_iter": 1})  # OSQP stops before converging
    opt = StageBalancedOptimizer(list(inst.anchor.index), STAGES, solver="OSQP", fallback_solvers=("CLARABEL",))
    res = opt.solve(inst.anchor, inst.exposure, inst.targets, 0.3, stage_tolerance=0.1)
    assert res.solver == "CLARABEL" and res.fallback_used


def test_inaccurate_answer_is_never_returned(monkeypatch: pytest.MonkeyPatch) -> None:
    inst = _simple()
    # SCS at a loose tolerance returns an answer that breaks constraints by far more than 1e-8
    monkeypatch.setitem(SOLVER_OPTIONS, "SCS", {"eps_abs": 1e-2, "eps_rel": 1e-2})
    opt = StageBalancedOptimizer(list(inst.anchor.index), STAGES, solver="SCS", fallback_solvers=("CLARABEL",))
    res = opt.solve(inst.anchor, inst.exposure, inst.targets, 0.3, stage_tolerance=0.0)
    assert res.solver == "CLARABEL" and res.fallback_used
    assert (
        independent_violations(
            res.weights,
            Instance(inst.anchor, inst.exposure, inst.targets, pd.Series(0.3, index=inst.anchor.index), 0.0),
        )
        == []
    )
    only_scs = StageBalancedOptimizer(list(inst.anchor.index), STAGES, solver="SCS")
    with pytest.raises(SolverError, match="SCS"):
        only_scs.solve(inst.anchor, inst.exposure, inst.targets, 0.3, stage_tolerance=0.0)


def test_every_solver_failing_raises_solver_error_naming_them(monkeypatch: pytest.MonkeyPatch) -> None:
    inst = _simple()
    monkeypatch.setitem(SOLVER_OPTIONS, "OSQP", {"max_iter": 1})
    monkeypatch.setitem(SOLVER_OPTIONS, "SCS", {"max_iters": 1})
    with pytest.raises(SolverError) as err:
        stage_balanced_weights(
            inst.anchor, inst.exposure, inst.targets, 0.3, stage_tolerance=0.1, solver="OSQP", fallback_solvers=("SCS",)
        )
    assert "OSQP" in str(err.value) and "SCS" in str(err.value)


def test_verify_constraints_reports_violations() -> None:
    inst = random_instance(4, 10, floors=False, turnover=False, ineligible=False)
    inst.issuer_cap, inst.country_caps = 0.3, None
    bad = pd.Series(0.0, index=inst.anchor.index)
    bad.iloc[0] = 1.0
    found = verify_constraints(
        bad, inst.anchor, inst.exposure, inst.targets, 0.5, stage_tolerance=0.0, issuers=inst.issuers, issuer_cap=0.3
    )
    assert any("cap" in v for v in found) and any("stage" in v for v in found)
    assert any("issuer" in v for v in found)


# --------------------------------------------------------------------------------------------
# Regulatory rule
# --------------------------------------------------------------------------------------------


def _regulatory_instance(seed: int, twins: bool = False) -> tuple[Instance, RegulatoryLimits]:
    """A small universe (<= 7 issuers) with a scaled-up rule so brute force stays cheap.

    The threshold is drawn around 1/(number of issuers) so that about half the instances are
    feasible and most feasible ones need branching.
    """
    rng = np.random.default_rng(seed)
    n = int(rng.integers(5, 11))
    inst = random_instance(seed, n, floors=False, ineligible=False)
    n_iss = int(rng.integers(4, 8))
    inst.issuers = pd.Series([f"iss{int(rng.integers(0, n_iss))}" for _ in range(n)], index=inst.anchor.index)
    m = inst.issuers.nunique()
    inst.tolerance = float(rng.uniform(0.05, 0.3))
    inst.targets = {s: float(inst.exposure[s].mean()) for s in STAGES}
    inst.caps = pd.Series(rng.uniform(0.2, 0.6, n), index=inst.anchor.index)
    inst.issuer_cap = None if rng.random() < 0.5 else float(rng.uniform(0.3, 0.6))
    if twins:
        # names 0..t-1 become single-listing issuers with identical data but the anchor (which
        # the optimizer uses for symmetry breaking), or near-twins that differ in exposures
        t = int(rng.integers(2, min(5, n) + 1))
        idx = inst.anchor.index[:t]
        if rng.random() < 0.6:  # otherwise near-twins: same caps, different exposures
            inst.exposure.loc[idx] = inst.exposure.loc[idx[0]].to_numpy()
        inst.caps[idx] = inst.caps[idx[0]]
        inst.countries[idx] = inst.countries[idx[0]]
        if inst.previous is not None:
            inst.previous[idx] = inst.previous[idx[0]]
        inst.issuers[idx] = [f"twin{i}" for i in range(t)]
        if rng.random() < 0.5:
            inst.anchor[idx] = inst.anchor[idx[0]]
        m = inst.issuers.nunique()
    thr = float(rng.uniform(0.5, 1.0) / m)
    issuer_max = float(rng.uniform(thr + 0.05, 0.6))
    large = float(rng.uniform(issuer_max, 0.9))
    return inst, RegulatoryLimits("test rule", issuer_max, thr, large)


@settings(max_examples=35, deadline=None, derandomize=True)
@given(seed=st.integers(0, 2**32 - 1), twins=st.booleans())
def test_regulatory_optimum_matches_brute_force(seed: int, twins: bool) -> None:
    inst, reg = _regulatory_instance(seed, twins)
    expected = ReferenceModel(inst, reg).brute_force()
    try:
        w = solve(inst, regulatory=reg)
    except InfeasibleError:
        assert expected is None
        return
    assert expected is not None
    assert independent_violations(w, inst, regulatory=reg) == []
    assert capped_objective(w, inst) == pytest.approx(expected, abs=1e-6)


def _cap_weighted(seed: int, n: int, n_issuers: int) -> Instance:
    """A realistic universe: heavy-tailed anchors, a few dual listings, 8% single-name cap."""
    rng = np.random.default_rng(seed)
    inst = random_instance(seed, n, floors=False, turnover=False, ineligible=False)
    inst.anchor = pd.Series(rng.pareto(1.2, n) + 0.05, index=inst.anchor.index)
    inst.issuers = pd.Series([f"I{min(i, n_issuers - 1 - i % 3)}" for i in range(n)], index=inst.anchor.index)
    inst.caps = pd.Series(0.2, index=inst.anchor.index)
    inst.issuer_cap, inst.country_caps = None, None
    inst.tolerance = 0.05
    u = inst.anchor / inst.anchor.sum()
    inst.targets = {s: float((u * inst.exposure[s]).sum() + inst.exposure[s].mean()) / 2 for s in STAGES}
    return inst


@pytest.mark.parametrize(
    "limits",
    [
        RIC_25_50,
        UCITS_5_10_40,
        RIC_25_50.buffered(0.9),
        UCITS_5_10_40.buffered(0.9),
        UCITS_INDEX_20_35,
        UCITS_INDEX_20_35.buffered(0.9),
    ],
    ids=lambda r: r.name,
)
def test_ric_and_ucits_results_pass_the_independent_checker(limits: RegulatoryLimits) -> None:
    for seed in (1, 2, 3):
        inst = _cap_weighted(seed, 30, 26)
        opt = StageBalancedOptimizer(list(inst.anchor.index), STAGES, issuers=inst.issuers, regulatory=limits)
        res = opt.solve(inst.anchor, inst.exposure, inst.targets, inst.caps, stage_tolerance=inst.tolerance)
        assert independent_violations(res.weights, inst, regulatory=limits) == []
        assert all(c.passed for c in check_regulatory(res.weights, inst.issuers, limits))
        # the rule bites in these universes and the report says so
        free = stage_balanced_weights(
            inst.anchor, inst.exposure, inst.targets, inst.caps, stage_tolerance=inst.tolerance, issuers=inst.issuers
        )
        if independent_violations(free, inst, regulatory=limits):
            assert any(b.startswith("regulatory:") for b in res.binding_constraints)
            assert res.objective >= capped_objective(free, inst) - 1e-9


def test_compliant_convex_solution_is_returned_without_branching() -> None:
    inst = _cap_weighted(4, 40, 40)
    inst.caps = pd.Series(0.045, index=inst.anchor.index)
    free = stage_balanced_weights(
        inst.anchor, inst.exposure, inst.targets, inst.caps, stage_tolerance=inst.tolerance, issuers=inst.issuers
    )
    assert independent_violations(free, inst, regulatory=RIC_25_50) == []
    opt = StageBalancedOptimizer(list(inst.anchor.index), STAGES, issuers=inst.issuers, regulatory=RIC_25_50)
    res = opt.solve(inst.anchor, inst.exposure, inst.targets, inst.caps, stage_tolerance=inst.tolerance)
    assert res.nodes == 1
    assert np.abs(res.weights - free).max() <= 1e-7


@pytest.mark.parametrize("n,limits", [(14, RIC_25_50), (16, RIC_25_50), (20, UCITS_5_10_40.buffered(0.9))])
def test_identical_issuers_do_not_blow_up_the_search(n: int, limits: RegulatoryLimits) -> None:
    # equal anchors, identical data: every choice of large issuers is equivalent
    u = pd.Series(1.0, index=[f"T{i:02d}" for i in range(n)])
    expo = pd.DataFrame({"all": 1.0}, index=u.index)
    opt = StageBalancedOptimizer(list(u.index), ["all"], regulatory=limits, max_nodes=200)
    res = opt.solve(u, expo, {"all": 1.0}, 0.3)
    inst = Instance(u, expo, {"all": 1.0}, pd.Series(0.3, index=u.index), 0.0)
    assert independent_violations(res.weights, inst, regulatory=limits) == []
    # optimum by hand: k issuers share the large budget, the others sit at the threshold
    best = min(
        k * (big**2) + (n - k) * limits.large_threshold**2
        for k in range(1, n)
        for big in [(1 - (n - k) * limits.large_threshold) / k]
        if limits.large_threshold <= big <= min(limits.issuer_max, 0.3) and k * big <= limits.large_sum + 1e-12
    )
    assert n * float((res.weights**2).sum()) - 1 == pytest.approx(n * best - 1, abs=1e-7)


def test_names_alike_except_exposures_are_not_treated_as_interchangeable() -> None:
    # A (miner) and B (the only refiner) share cap and country; A has the larger anchor. The
    # refining target forces B above the threshold and the large budget then keeps A small.
    t = ["A", "B", "C", "D", "E", "F"]
    u = pd.Series([3.0, 1, 1, 1, 1, 1], index=t)
    expo = pd.DataFrame({"mining": [1.0, 0, 1, 1, 1, 1], "refining": [0.0, 1, 0, 0, 0, 0]}, index=t)
    reg = RegulatoryLimits("t", issuer_max=0.5, large_threshold=0.15, large_sum=0.5)
    inst = Instance(
        u, expo, {"mining": 0.6, "refining": 0.4}, pd.Series(0.45, index=t), 0.0, countries=pd.Series("US", index=t)
    )
    w = solve(inst, regulatory=reg)
    assert independent_violations(w, inst, regulatory=reg) == []
    assert w["B"] == pytest.approx(0.4, abs=1e-8) and w["A"] <= 0.15 + 1e-8
    assert capped_objective(w, inst) == pytest.approx(ReferenceModel(inst, reg).brute_force(), abs=1e-6)


def test_ucits_index_20_35_by_hand_and_by_brute_force() -> None:
    # UCITS art. 53 (index-tracking): one issuer up to 35 %, the others at most 20 %. Anchors 50/30/10/5/5:
    # A is cut to 35 %, B to 20 %; the 45 % left would give C 22.5 % pro rata, a second issuer above 20 %,
    # so C sits at 20 % and D, E share the rest: 12.5 % each.
    t = ["A", "B", "C", "D", "E"]
    u = pd.Series([0.50, 0.30, 0.10, 0.05, 0.05], index=t)
    expo = pd.DataFrame({"all": 1.0}, index=t)
    inst = Instance(u, expo, {"all": 1.0}, pd.Series(1.0, index=t), 0.0, countries=pd.Series("US", index=t))
    w = solve(inst, regulatory=UCITS_INDEX_20_35)
    assert w.to_numpy() == pytest.approx([0.35, 0.20, 0.20, 0.125, 0.125], abs=1e-7)
    assert independent_violations(w, inst, regulatory=UCITS_INDEX_20_35) == []
    assert capped_objective(w, inst) == pytest.approx(ReferenceModel(inst, UCITS_INDEX_20_35).brute_force(), abs=1e-6)


def test_regulatory_rule_that_cannot_hold_raises_infeasible() -> None:
    tickers = [f"T{i}" for i in range(8)]
    u = pd.Series(1.0, index=tickers)
    expo = pd.DataFrame({"all": 1.0}, index=tickers)
    with pytest.raises(InfeasibleError, match=r"UCITS 5/10/40.*shortfall"):
        stage_balanced_weights(u, expo, {"all": 1.0}, 1.0, regulatory=UCITS_5_10_40)


# --------------------------------------------------------------------------------------------
# Infeasibility messages
# --------------------------------------------------------------------------------------------


def _three_stage(n: int = 9) -> tuple[pd.Series, pd.DataFrame]:
    tickers = [f"T{i}" for i in range(n)]
    u = pd.Series(np.arange(1, n + 1, dtype=float), index=tickers)
    stage = [STAGES[i % 3] for i in range(n)]
    expo = pd.DataFrame({s: [1.0 if x == s else 0.0 for x in stage] for s in STAGES}, index=tickers)
    return u, expo


def test_stage_shortfall_is_named_with_its_size() -> None:
    u, expo = _three_stage(9)
    caps = pd.Series(0.2, index=u.index)
    refiners = expo.index[expo["refining"] == 1]
    caps[refiners] = 0.06  # refiners can reach 3 × 6% = 18%
    targets = {"mining": 1 / 3, "refining": 1 / 3, "manufacturing": 1 / 3}
    with pytest.raises(InfeasibleError) as err:
        stage_balanced_weights(u, expo, targets, caps, stage_tolerance=0.02)
    msg = str(err.value)
    assert "stage 'refining'" in msg and "refiners" in msg
    assert _pp(msg) == pytest.approx(100 * (1 / 3 - 0.02 - 0.18), abs=0.051)
    with pytest.raises(InfeasibleError):
        check_feasibility(u, expo, targets, caps, stage_tolerance=0.02)


def test_country_cap_shortfall_is_named() -> None:
    u, expo = _three_stage(6)
    countries = pd.Series(["US", "US", "US", "US", "AU", "AU"], index=u.index)
    with pytest.raises(InfeasibleError) as err:
        stage_balanced_weights(
            u,
            expo,
            {"mining": 1 / 3, "refining": 1 / 3, "manufacturing": 1 / 3},
            0.5,
            stage_tolerance=0.3,
            countries=countries,
            country_caps={"US": 0.4, "AU": 0.5},
        )
    msg = str(err.value)
    assert "US 40.0%" in msg and "AU 50.0%" in msg
    assert _pp(msg) == pytest.approx(10.0, abs=0.051)


def test_caps_adding_below_one_are_named() -> None:
    u, expo = _three_stage(9)
    with pytest.raises(InfeasibleError) as err:
        stage_balanced_weights(
            u, expo, {"mining": 1 / 3, "refining": 1 / 3, "manufacturing": 1 / 3}, 0.1, stage_tolerance=0.1
        )
    assert "caps" in str(err.value)
    assert _pp(str(err.value)) == pytest.approx(10.0, abs=0.051)


def test_issuer_cap_shortfall_is_named() -> None:
    u, expo = _three_stage(6)
    issuers = pd.Series(["a", "a", "a", "b", "b", "b"], index=u.index)
    with pytest.raises(InfeasibleError, match=r"issuer cap.*shortfall 20.0 pp"):
        stage_balanced_weights(
            u,
            expo,
            {"mining": 1 / 3, "refining": 1 / 3, "manufacturing": 1 / 3},
            0.5,
            stage_tolerance=0.5,
            issuers=issuers,
            issuer_cap=0.4,
        )


def test_min_weights_above_one_or_on_ineligible_names_are_rejected() -> None:
    u, expo = _three_stage(6)
    targets = {"mining": 1 / 3, "refining": 1 / 3, "manufacturing": 1 / 3}
    with pytest.raises(InfeasibleError, match="minimum weights add up to 120.0%"):
        stage_balanced_weights(u, expo, targets, 0.5, stage_tolerance=1, min_weight=pd.Series(0.2, index=u.index))
    u0 = u.copy()
    u0["T0"] = 0.0
    with pytest.raises(InfeasibleError, match="'T0'.*not eligible"):
        stage_balanced_weights(u0, expo, targets, 0.5, stage_tolerance=1, min_weight=pd.Series({"T0": 0.01}))


def test_solver_detected_infeasibility_lists_active_groups() -> None:
    # Each stage alone can reach its band, and the caps total is fine, but the two names that
    # carry all of 'refining' share one issuer capped below the refining target.
    tickers = ["A", "B", "C", "D", "E"]
    u = pd.Series(1.0, index=tickers)
    expo = pd.DataFrame(
        {"mining": [0, 0, 1, 1, 0.5], "refining": [1, 1, 0, 0, 0], "manufacturing": [0, 0, 0, 0, 0.5]},
        index=tickers,
        dtype=float,
    )
    issuers = pd.Series(["X", "X", "C", "D", "E"], index=tickers)
    targets = {"mining": 0.5, "refining": 0.4, "manufacturing": 0.1}
    with pytest.raises(InfeasibleError) as err:
        stage_balanced_weights(u, expo, targets, 0.5, stage_tolerance=0.01, issuers=issuers, issuer_cap=0.3)
    msg = str(err.value)
    assert "infeasible" in msg and "issuer cap 30.0%" in msg and "stage targets" in msg


def _boundary_case(kind: str, slack: float) -> tuple[Instance, RegulatoryLimits | None]:
    """An instance exactly ``slack`` away from the edge of feasibility for one constraint kind."""
    one = {"all": 1.0}
    if kind == "caps":
        t = [f"T{i}" for i in range(10)]
        return Instance(
            pd.Series(1.0, index=t), pd.DataFrame({"all": 1.0}, index=t), one, pd.Series(0.1 + slack / 10, index=t), 0.0
        ), None
    if kind == "stage":
        u, expo = _three_stage(9)
        caps = pd.Series(0.2, index=u.index)
        caps[expo["refining"] == 1] = (1 / 3 - 0.02 + slack) / 3
        return Instance(u, expo, {s: 1 / 3 for s in STAGES}, caps, 0.02), None
    if kind == "country":
        t = [f"T{i}" for i in range(6)]
        return Instance(
            pd.Series(1.0, index=t),
            pd.DataFrame({"all": 1.0}, index=t),
            one,
            pd.Series(0.5, index=t),
            0.0,
            countries=pd.Series(["US"] * 4 + ["AU"] * 2, index=t),
            country_caps={"US": 0.4, "AU": 0.6 + slack},
        ), None
    if kind == "issuer":
        t = [f"T{i}" for i in range(6)]
        return Instance(
            pd.Series(1.0, index=t),
            pd.DataFrame({"all": 1.0}, index=t),
            one,
            pd.Series(0.5, index=t),
            0.0,
            issuers=pd.Series(["a"] * 3 + ["b"] * 3, index=t),
            issuer_cap=0.5 + slack / 2,
        ), None
    assert kind == "regulatory"
    # 13 names, cap 25%: two large issuers (sum ≤ L) + 11 at 5% reach 0.55 + L, so L = 0.45 is
    # the edge
    t = [f"T{i:02d}" for i in range(13)]
    return (
        Instance(
            pd.Series(np.linspace(1, 2, 13), index=t),
            pd.DataFrame({"all": 1.0}, index=t),
            one,
            pd.Series(0.25, index=t),
            0.0,
        ),
        RegulatoryLimits("edge rule", 0.25, 0.05, 0.45 + slack),
    )


@pytest.mark.parametrize(
    "kind,word",
    [
        ("caps", "caps"),
        ("stage", "stage 'refining'"),
        ("country", "country caps"),
        ("issuer", "issuer cap"),
        ("regulatory", "edge rule"),
    ],
)
def test_precheck_is_exact_at_the_edge_of_feasibility(kind: str, word: str) -> None:
    inside, reg = _boundary_case(kind, +1e-3)
    w = solve(inside, regulatory=reg)
    assert independent_violations(w, inside, regulatory=reg) == []
    outside, reg = _boundary_case(kind, -1e-3)
    with pytest.raises(InfeasibleError) as err:
        solve(outside, regulatory=reg)
    assert word in str(err.value)
    assert _pp(str(err.value)) == pytest.approx(0.1, abs=0.0051)


def test_bad_inputs_raise_input_error() -> None:
    u, expo = _three_stage(6)
    targets = {"mining": 1 / 3, "refining": 1 / 3, "manufacturing": 1 / 3}
    with pytest.raises(InputError, match="sum to 1"):
        stage_balanced_weights(u, expo, {"mining": 0.5, "refining": 0.5, "manufacturing": 0.5}, 0.5)
    with pytest.raises(InputError, match="stages"):
        stage_balanced_weights(u, expo, {"mining": 1.0}, 0.5)
    bad = expo.copy()
    bad.iloc[0, 0] = 0.5
    with pytest.raises(InputError, match="T0"):
        stage_balanced_weights(u, bad, targets, 0.5)
    with pytest.raises(InputError, match="anchor"):
        stage_balanced_weights(-u, expo, targets, 0.5)


# --------------------------------------------------------------------------------------------
# Capacity
# --------------------------------------------------------------------------------------------


@settings(max_examples=15, deadline=None, derandomize=True)
@given(seed=st.integers(0, 2**32 - 1))
def test_max_feasible_aum_is_the_feasibility_threshold(seed: int) -> None:
    rng = np.random.default_rng(seed)
    inst = random_instance(seed, 12, floors=False, turnover=False, ineligible=False)
    inst.tolerance = 0.1
    inst.targets = {s: float(inst.exposure[s].mean()) for s in STAGES}
    static = pd.Series(0.3, index=inst.anchor.index)
    notional = pd.Series(rng.lognormal(15, 1.5, 12), index=inst.anchor.index)
    kw = dict(
        stage_tolerance=inst.tolerance,
        issuers=inst.issuers,
        issuer_cap=inst.issuer_cap,
        countries=inst.countries,
        country_caps=inst.country_caps,
    )
    try:
        aum = max_feasible_aum(inst.exposure, inst.targets, static, notional, **kw)
    except InfeasibleError:
        with pytest.raises(InfeasibleError):
            stage_balanced_weights(inst.anchor, inst.exposure, inst.targets, static, **kw)
        return
    assert 0 < aum < np.inf
    for factor, ok in ((0.99, True), (1.01, False)):
        caps = np.minimum(static, notional / (factor * aum))
        if ok:
            w = stage_balanced_weights(inst.anchor, inst.exposure, inst.targets, caps, **kw)
            assert (w * factor * aum <= notional + 1e-6 * factor * aum).all()
        else:
            with pytest.raises(InfeasibleError):
                stage_balanced_weights(inst.anchor, inst.exposure, inst.targets, caps, **kw)


@pytest.mark.parametrize("seed", [0, 3, 11])
def test_compiled_capacity_is_the_functions_answer(seed: int) -> None:
    """The optimizer's capacity method reuses its set-up and gives the function's float, bit for bit."""
    rng = np.random.default_rng(seed)
    inst = random_instance(seed, 14, floors=False, turnover=False, ineligible=False)
    inst.tolerance = 0.1
    inst.targets = {s: float(inst.exposure[s].mean()) for s in STAGES}
    static = pd.Series(0.3, index=inst.anchor.index)
    notional = pd.Series(rng.lognormal(15, 1.5, 14), index=inst.anchor.index)
    eligible = pd.Series(rng.random(14) > 0.2, index=inst.anchor.index)
    opt = StageBalancedOptimizer(inst.anchor.index, STAGES, issuers=inst.issuers, countries=inst.countries)
    kw = dict(stage_tolerance=inst.tolerance, issuer_cap=inst.issuer_cap, country_caps=inst.country_caps)
    for el in (None, eligible, eligible.iloc[::-1]):
        try:
            want = max_feasible_aum(
                inst.exposure,
                inst.targets,
                static,
                notional,
                issuers=inst.issuers,
                countries=inst.countries,
                eligible=el,
                **kw,
            )
        except InfeasibleError:
            with pytest.raises(InfeasibleError):
                opt.max_feasible_aum(inst.exposure, inst.targets, static, notional, eligible=el, **kw)
            continue
        assert opt.max_feasible_aum(inst.exposure, inst.targets, static, notional, eligible=el, **kw) == want


def test_max_feasible_aum_is_infinite_without_binding_liquidity_and_respects_eligibility() -> None:
    u, expo = _three_stage(6)
    targets = {"mining": 1 / 3, "refining": 1 / 3, "manufacturing": 1 / 3}
    unlimited = pd.Series(np.inf, index=u.index)
    assert max_feasible_aum(expo, targets, 0.5, unlimited) == np.inf
    notional = pd.Series(1e6, index=u.index)
    # six names, $1m each: at most $6m with equal weights
    assert max_feasible_aum(expo, targets, 0.5, notional) == pytest.approx(6e6, rel=1e-7)
    eligible = pd.Series(True, index=u.index)
    eligible["T0"] = False  # one miner left: it must hold 1/3
    assert max_feasible_aum(expo, targets, 0.5, notional, eligible=eligible) == pytest.approx(3e6, rel=1e-7)


def test_days_to_trade() -> None:
    w = pd.Series({"A": 0.5, "B": 0.5, "C": 0.0, "D": 0.1})
    adtv = pd.Series({"A": 1e6, "B": 2e6, "C": 0.0, "D": 0.0})
    days = days_to_trade(w, 1e7, adtv, 0.25)
    assert days["A"] == pytest.approx(0.5 * 1e7 / (0.25 * 1e6))
    assert days["B"] == pytest.approx(10.0)
    assert days["C"] == 0.0 and days["D"] == np.inf
