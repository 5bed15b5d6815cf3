"""Independent reference implementations for the weights and compliance tests.

Everything here is written differently from the package ``exchina_index.construction.optimizer`` on
purpose: plain Python loops over names, a separately written cvxpy model, brute-force enumeration. A bug shared by the
package and these helpers would have to be made twice, in two different styles.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import cvxpy as cp
import numpy as np
import pandas as pd

STAGES = ["mining", "refining", "manufacturing"]


@dataclass
class Instance:
    """One random weighting problem, in the pandas layout the public API takes."""

    anchor: pd.Series
    exposure: pd.DataFrame
    targets: dict
    caps: pd.Series
    tolerance: float
    issuers: pd.Series | None = None
    issuer_cap: float | None = None
    countries: pd.Series | None = None
    country_caps: dict | float | None = None
    min_weight: pd.Series | None = None
    previous: pd.Series | None = None
    turnover_penalty: float = 0.0
    extra: dict = field(default_factory=dict)

    def kwargs(self) -> dict:
        return dict(
            stage_tolerance=self.tolerance,
            issuers=self.issuers,
            issuer_cap=self.issuer_cap,
            countries=self.countries,
            country_caps=self.country_caps,
            min_weight=self.min_weight,
            turnover_penalty=self.turnover_penalty,
        )


def random_instance(
    seed: int, n: int, *, groups: bool = True, floors: bool = True, turnover: bool = True, ineligible: bool = True
) -> Instance:
    """A random universe of ``n`` names with three stages and assorted caps."""
    rng = np.random.default_rng(seed)
    tickers = [f"N{i:02d}.X" for i in range(n)]
    u = rng.lognormal(0.0, 1.2, n)
    if ineligible and n > 5:
        u[rng.random(n) < 0.15] = 0.0
    if u.sum() == 0:
        u[0] = 1.0
    raw = rng.random((n, 3)) ** 2
    raw[rng.random((n, 3)) < 0.3] = 0.0
    raw[raw.sum(axis=1) == 0, rng.integers(0, 3)] = 1.0
    expo = raw / raw.sum(axis=1, keepdims=True)
    targets = rng.dirichlet([4.0, 4.0, 4.0])
    tol = float(rng.choice([0.0, rng.uniform(0.0, 0.15)]))
    eligible = int((u > 0).sum())
    base_cap = rng.uniform(1.1 / eligible, min(1.0, 4.0 / eligible + 0.1))
    caps = base_cap * rng.uniform(0.6, 1.6, n)
    inst = Instance(
        anchor=pd.Series(u, index=tickers),
        exposure=pd.DataFrame(expo, index=tickers, columns=STAGES),
        targets={s: float(t) for s, t in zip(STAGES, targets)},
        caps=pd.Series(caps, index=tickers),
        tolerance=tol,
    )
    if groups:
        n_iss = int(rng.integers(max(2, n // 2), n + 1))
        inst.issuers = pd.Series([f"issuer_{int(rng.integers(0, n_iss))}" for _ in tickers], index=tickers)
        if rng.random() < 0.7:
            inst.issuer_cap = float(rng.uniform(1.2 / n_iss, 0.6))
        codes = ["US", "AU", "CA", "JP"][: int(rng.integers(2, 5))]
        inst.countries = pd.Series(rng.choice(codes, n), index=tickers)
        if rng.random() < 0.7:
            inst.country_caps = {c: float(rng.uniform(0.2, 0.9)) for c in codes if rng.random() < 0.6}
    if floors and rng.random() < 0.4:
        held = (u > 0) & (rng.random(n) < 0.3)
        inst.min_weight = pd.Series(np.where(held, rng.uniform(0.0, 0.5 / n, n), 0.0), index=tickers)
    if turnover and rng.random() < 0.5:
        inst.previous = pd.Series(rng.dirichlet(np.ones(n)), index=tickers)
        inst.turnover_penalty = float(rng.uniform(0.0, 2.0))
    return inst


# ---------------------------------------------------------------------------------------------
# Independent constraint checker: plain loops over names and groups
# ---------------------------------------------------------------------------------------------


def independent_violations(weights: pd.Series, inst: Instance, regulatory=None, tol: float = 1e-8) -> list[str]:
    """Every violated constraint, found by looping over names (no numpy aggregation)."""
    bad: list[str] = []
    anchor = {t: float(v) for t, v in inst.anchor.items()}
    w = {t: float(weights.get(t, 0.0)) for t in anchor}
    total = 0.0
    for t in anchor:
        total += w[t]
    if abs(total - 1.0) > tol:
        bad.append(f"sum {total}")
    for t in anchor:
        if w[t] < -tol:
            bad.append(f"negative {t}")
        if anchor[t] == 0.0 and w[t] != 0.0:
            bad.append(f"ineligible {t} has weight {w[t]}")
        if w[t] > float(inst.caps[t]) + tol:
            bad.append(f"cap {t}")
        if inst.min_weight is not None and w[t] < float(inst.min_weight.get(t, 0.0)) - tol:
            bad.append(f"floor {t}")
    for s in inst.exposure.columns:
        expo = 0.0
        for t in anchor:
            if anchor[t] > 0:
                row = inst.exposure.loc[t]
                expo += w[t] * float(row[s]) / float(row.sum())
        if abs(expo - inst.targets[s]) > inst.tolerance + tol:
            bad.append(f"stage {s}: {expo} vs {inst.targets[s]} ± {inst.tolerance}")
    issuer_of = {t: (inst.issuers[t] if inst.issuers is not None else t) for t in anchor}
    by_issuer: dict = {}
    for t in anchor:
        by_issuer[issuer_of[t]] = by_issuer.get(issuer_of[t], 0.0) + w[t]
    if inst.issuer_cap is not None:
        for j, v in by_issuer.items():
            if v > inst.issuer_cap + tol:
                bad.append(f"issuer {j}: {v}")
    if inst.country_caps is not None:
        by_country: dict = {}
        for t in anchor:
            c = inst.countries[t]
            by_country[c] = by_country.get(c, 0.0) + w[t]
        for c, v in by_country.items():
            if isinstance(inst.country_caps, dict):
                if c in inst.country_caps and v > inst.country_caps[c] + tol:
                    bad.append(f"country {c}: {v}")
            elif v > inst.country_caps + tol:
                bad.append(f"country {c}: {v}")
    if regulatory is not None:
        large = 0.0
        for j, v in by_issuer.items():
            if v > regulatory.issuer_max + tol:
                bad.append(f"regulatory issuer max {j}: {v}")
            if v > regulatory.large_threshold + tol:
                large += v
        if large > regulatory.large_sum + tol:
            bad.append(f"regulatory large sum {large}")
    return bad


def capped_objective(weights: pd.Series, inst: Instance) -> float:
    """Σ (w − u)²/u over eligible names (u normalised) plus the turnover penalty."""
    u = inst.anchor / inst.anchor.sum()
    total = 0.0
    for t in u.index:
        if u[t] > 0:
            total += (float(weights[t]) - u[t]) ** 2 / u[t]
    if inst.previous is not None:
        for t in u.index:
            total += inst.turnover_penalty * abs(float(weights[t]) - float(inst.previous.get(t, 0)))
    return total


# ---------------------------------------------------------------------------------------------
# Classic iterative capping
# ---------------------------------------------------------------------------------------------


def iterative_capping(anchor: pd.Series, caps: pd.Series) -> pd.Series:
    """Cap the overweight names, hand the excess to the others pro rata; repeat until none is over."""
    u = {t: float(v) for t, v in anchor.items()}
    fixed: dict = {}
    while True:
        free = [t for t in u if t not in fixed and u[t] > 0]
        room = 1.0 - sum(fixed.values())
        mass = sum(u[t] for t in free)
        trial = {t: u[t] * room / mass for t in free}
        over = [t for t in free if trial[t] > float(caps[t])]
        if not over:
            break
        for t in over:
            fixed[t] = float(caps[t])
    out = {t: fixed.get(t, trial.get(t, 0.0)) for t in u}
    return pd.Series(out).reindex(anchor.index)


# ---------------------------------------------------------------------------------------------
# Independent cvxpy model, elastic feasibility and brute force over large-issuer subsets
# ---------------------------------------------------------------------------------------------


def _capped_countries(inst: Instance, tickers: list) -> list[tuple[list[int], float]]:
    """(positions of its tickers, cap) for every country with a cap."""
    if inst.country_caps is None:
        return []
    out = []
    for c in sorted(set(inst.countries)):
        cap = inst.country_caps.get(c) if isinstance(inst.country_caps, dict) else inst.country_caps
        if cap is not None:
            out.append(([i for i, t in enumerate(tickers) if inst.countries[t] == c], cap))
    return out


class ReferenceModel:
    """The weighting problem written separately (membership built name by name).

    ``solve(small)`` keeps the issuers in ``small`` at or below the regulatory threshold and puts
    the others in the large sum: the brute-force piece for that subset. The issuer bound and the
    large-sum mask are parameters so the enumeration re-solves without re-compiling.
    """

    def __init__(self, inst: Instance, regulatory=None):
        self.inst = inst
        u = (inst.anchor / inst.anchor.sum()).to_numpy()
        tickers = list(inst.anchor.index)
        n = len(tickers)
        issuer_of = [inst.issuers[t] if inst.issuers is not None else t for t in tickers]
        self.issuer_list = sorted(set(issuer_of))
        member = np.zeros((len(self.issuer_list), n))
        for i, j in enumerate(issuer_of):
            member[self.issuer_list.index(j), i] = 1.0
        w = cp.Variable(n)
        elig = np.flatnonzero(u > 0)
        obj = cp.sum(cp.square(w[elig] - u[elig]) / u[elig])
        if inst.previous is not None and inst.turnover_penalty > 0:
            prev = inst.previous.reindex(tickers).fillna(0.0).to_numpy()
            obj = obj + inst.turnover_penalty * cp.norm1(w - prev)
        lo = np.zeros(n) if inst.min_weight is None else inst.min_weight.reindex(tickers).fillna(0.0).to_numpy()
        hi = np.where(u > 0, inst.caps.reindex(tickers).to_numpy(), 0.0)
        cons = [cp.sum(w) == 1, w >= lo, w <= hi]
        for s in inst.exposure.columns:
            coef = np.zeros(n)
            for i, t in enumerate(tickers):
                if u[i] > 0:
                    row = inst.exposure.loc[t]
                    coef[i] = row[s] / row.sum()
            cons.append(cp.abs(coef @ w - inst.targets[s]) <= inst.tolerance)
        totals = member @ w
        if inst.issuer_cap is not None:
            cons.append(totals <= inst.issuer_cap)
        for idx, cap in _capped_countries(inst, tickers):
            cons.append(cp.sum(w[idx]) <= cap)
        self.regulatory = regulatory
        m = len(self.issuer_list)
        self.bound = cp.Parameter(m, nonneg=True)
        self.mask = cp.Parameter(m, nonneg=True)
        if regulatory is not None:
            cons += [totals <= self.bound, self.mask @ totals <= regulatory.large_sum]
        self.problem = cp.Problem(cp.Minimize(obj), cons)

    def solve(self, small: frozenset = frozenset()) -> float | None:
        """Optimal objective (None when infeasible) with issuers in ``small`` kept at/below θ."""
        reg = self.regulatory
        if reg is not None:
            self.bound.value = np.array(
                [reg.large_threshold if j in small else reg.issuer_max for j in self.issuer_list]
            )
            self.mask.value = np.array([0.0 if j in small else 1.0 for j in self.issuer_list])
        else:
            self.bound.value = np.ones(len(self.issuer_list))
            self.mask.value = np.zeros(len(self.issuer_list))
        self.problem.solve(solver="CLARABEL")
        if self.problem.status in ("infeasible", "infeasible_inaccurate"):
            return None
        assert self.problem.status in ("optimal", "optimal_inaccurate"), self.problem.status
        return float(self.problem.value)

    def brute_force(self) -> float | None:
        """Minimum over every subset of issuers allowed above the threshold."""
        best = None
        for r in range(len(self.issuer_list) + 1):
            for small in itertools.combinations(self.issuer_list, r):
                val = self.solve(frozenset(small))
                if val is not None and (best is None or val < best):
                    best = val
        return best


def elastic_infeasibility(inst: Instance) -> float:
    """Smallest uniform relaxation s >= 0 of every inequality that makes the problem feasible."""
    u = (inst.anchor / inst.anchor.sum()).to_numpy()
    tickers = list(inst.anchor.index)
    n = len(tickers)
    w = cp.Variable(n)
    s = cp.Variable(nonneg=True)
    cons = [cp.sum(w) == 1]
    for i, t in enumerate(tickers):
        lo = 0.0 if inst.min_weight is None else float(inst.min_weight.get(t, 0.0))
        hi = float(inst.caps[t]) if u[i] > 0 else 0.0
        cons += [w[i] >= lo - s, w[i] <= hi + s]
        if u[i] == 0:
            cons.append(w[i] == 0)
    for st in inst.exposure.columns:
        coef = np.array(
            [inst.exposure.loc[t, st] / inst.exposure.loc[t].sum() if u[i] > 0 else 0.0 for i, t in enumerate(tickers)]
        )
        cons += [coef @ w <= inst.targets[st] + inst.tolerance + s, coef @ w >= inst.targets[st] - inst.tolerance - s]
    if inst.issuer_cap is not None:
        issuers = inst.issuers if inst.issuers is not None else pd.Series(tickers, index=tickers)
        for j in sorted(set(issuers)):
            idx = [i for i, t in enumerate(tickers) if issuers[t] == j]
            cons.append(cp.sum(w[idx]) <= inst.issuer_cap + s)
    for idx, cap in _capped_countries(inst, tickers):
        cons.append(cp.sum(w[idx]) <= cap + s)
    prob = cp.Problem(cp.Minimize(s), cons)
    prob.solve(solver="CLARABEL")
    assert prob.status in ("optimal", "optimal_inaccurate"), prob.status
    return float(s.value)
