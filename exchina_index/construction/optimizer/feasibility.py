"""Why a review cannot be weighted: cheap pre-checks before any solver, and the message after one.

:func:`precheck` finds the infeasibilities visible without a solver and names the constraint, the
shortfall and what to change; :func:`infeasible_error` is the message when a solver proves a
problem that passed them infeasible (it lists the active constraint groups).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from exchina_index._text import pct
from exchina_index.construction.compliance import RegulatoryLimits
from exchina_index.construction.optimizer.limits import LinearLimit
from exchina_index.construction.optimizer.problem import (
    ReviewInputs,
    Structure,
    one_problem,
)
from exchina_index.construction.optimizer.verify import ATOL
from exchina_index.errors import InfeasibleError

__all__ = ["precheck", "check_feasibility", "infeasible_error"]

_STAGE_NOUNS = {
    "mining": "miners",
    "refining": "refiners",
    "manufacturing": "manufacturers",
    "recycling": "recyclers",
    "magnets": "magnet makers",
    "metals": "metal makers",
}


def _pp(x: float) -> str:
    """A shortfall in percentage points."""
    return f"{100 * x:.1f} pp" if abs(x) >= 0.001 else f"{100 * x:.3g} pp"


def _noun(stage: str) -> str:
    return _STAGE_NOUNS.get(stage.lower(), f"names with '{stage}' exposure")


def _name_capacity(st: Structure, inp: ReviewInputs, reg: RegulatoryLimits | None) -> np.ndarray:
    """Most each name can hold on its own: its cap, limited by its issuer's and country's caps."""
    c = inp.upper.copy()
    c = np.minimum(c, inp.issuer_upper(st, reg)[st.issuer_idx])
    if st.country_idx is not None:
        c = np.minimum(c, inp.country_cap[st.country_idx])
    return np.maximum(c, inp.lower)


def _greedy_reach(values: np.ndarray, lower: np.ndarray, capacity: np.ndarray) -> float:
    """Largest Σ values·x with lower ≤ x ≤ capacity and Σ x = 1 (fractional knapsack)."""
    budget = 1.0 - lower.sum()
    order = np.argsort(-values, kind="stable")
    room = (capacity - lower)[order]
    take = np.minimum(room, np.maximum(budget - np.concatenate(([0.0], np.cumsum(room)[:-1])), 0))
    return float(values @ lower + values[order] @ take)


def _regulatory_reach(issuer_capacity: np.ndarray, reg: RegulatoryLimits) -> float:
    """Largest total weight the rule allows, given each issuer's capacity (exact for that model)."""
    thr = reg.large_threshold
    base = float(np.minimum(issuer_capacity, thr).sum())
    big = np.sort(issuer_capacity[issuer_capacity > thr])[::-1]
    k = np.arange(1, len(big) + 1)
    gains = np.minimum(reg.large_sum, np.cumsum(big)) - k * thr
    return base + max(0.0, float(gains.max()) if len(gains) else 0.0)


def _check_names(st: Structure, inp: ReviewInputs) -> None:
    """Minimum weights against the caps and 100 %, and the caps against 100 %."""
    names = st.tickers
    elig = inp.u > 0
    bad = np.flatnonzero(inp.lower > inp.upper + ATOL)
    if len(bad):
        i = int(bad[0])
        if not elig[i]:
            raise InfeasibleError(
                f"'{names[i]}' has a minimum weight of {pct(inp.lower[i], 1)} but is not eligible "
                "(anchor weight 0), so its weight must be 0: drop its minimum weight"
            )
        raise InfeasibleError(
            f"'{names[i]}' has a minimum weight of {pct(inp.lower[i], 1)} above its cap of "
            f"{pct(inp.upper[i], 1)}: lower the minimum weight or raise the cap"
        )
    if inp.lower.sum() > 1 + ATOL:
        raise InfeasibleError(
            f"the minimum weights add up to {pct(inp.lower.sum(), 1)}, more than 100%: "
            f"shortfall {_pp(inp.lower.sum() - 1)}; lower the minimum weights"
        )
    total = float(inp.upper.sum())
    if total < 1 - ATOL:
        raise InfeasibleError(
            f"the single-name caps of the {int(elig.sum())} eligible names add up to only "
            f"{pct(total, 1)}: shortfall {_pp(1 - total)}; raise the caps or add eligible names"
        )


def _check_issuers(st: Structure, inp: ReviewInputs, reg: RegulatoryLimits | None) -> np.ndarray:
    """Issuer floors and the issuer limit against 100 %; returns each issuer's capacity."""
    iss_up = inp.issuer_upper(st, reg)
    iss_sum = st.issuer_sum(inp.upper)
    iss_cap = np.minimum(iss_sum, iss_up)
    iss_low = st.issuer_sum(inp.lower)
    what = "issuer cap" if reg is None or (inp.issuer_cap or 1) <= reg.issuer_max else f"{reg.name} issuer maximum"
    if (iss_low > iss_up + ATOL).any():
        j = int(np.argmax(iss_low - iss_up))
        raise InfeasibleError(
            f"issuer '{st.issuer_names[j]}': minimum weights add up to {pct(iss_low[j], 1)}, above "
            f"the {what} of {pct(iss_up[j], 1)}; lower the minimum weights or raise the {what}"
        )
    if iss_cap.sum() < 1 - ATOL:
        limited = [st.issuer_names[j] for j in np.flatnonzero(iss_sum > iss_up + ATOL)]
        raise InfeasibleError(
            f"the {what} of {pct(float(iss_up.min()), 1)} limits the total to "
            f"{pct(iss_cap.sum(), 1)}: shortfall {_pp(1 - iss_cap.sum())} (issuers held back: "
            f"{', '.join(limited[:10])}); raise the {what} or add eligible issuers"
        )
    return iss_cap


def _check_countries(st: Structure, inp: ReviewInputs, name_cap: np.ndarray) -> None:
    """Country floors and the country caps against 100 %."""
    ctry_sum = st.country_sum(name_cap)
    ctry_low = st.country_sum(inp.lower)
    over = np.flatnonzero(ctry_low > inp.country_cap + ATOL)
    if len(over):
        j = int(over[0])
        raise InfeasibleError(
            f"country '{st.country_names[j]}': minimum weights add up to {pct(ctry_low[j], 1)}, "
            f"above its cap of {pct(inp.country_cap[j], 1)}; lower the minimum weights or raise "
            "the country cap"
        )
    reach = np.minimum(ctry_sum, inp.country_cap)
    if reach.sum() < 1 - ATOL:
        capped = [
            f"{st.country_names[j]} {pct(inp.country_cap[j], 1)}"
            for j in np.flatnonzero(ctry_sum > inp.country_cap + ATOL)
        ]
        raise InfeasibleError(
            f"the country caps ({', '.join(capped)}) limit the total to {pct(reach.sum(), 1)}: "
            f"shortfall {_pp(1 - reach.sum())}; raise those country caps or add eligible "
            "names from other countries"
        )


def _check_regulatory(issuer_capacity: np.ndarray, reg: RegulatoryLimits) -> None:
    reach = _regulatory_reach(issuer_capacity, reg)
    if reach < 1 - ATOL:
        raise InfeasibleError(
            f"the {reg.name} rule (issuers above {pct(reg.large_threshold, 1)} together at most "
            f"{pct(reg.large_sum, 1)}, none above {pct(reg.issuer_max, 1)}) limits the total to "
            f"{pct(reach, 1)} with these issuers and caps: shortfall {_pp(1 - reach)}; "
            "add eligible issuers or raise their caps"
        )


def _check_stages(st: Structure, inp: ReviewInputs, name_cap: np.ndarray) -> None:
    """Each stage's reachable exposure (fractional knapsack) against its target band."""
    for s, stage in enumerate(st.stages):
        e = inp.E[:, s]
        hi = _greedy_reach(e, inp.lower, name_cap)
        lo = -_greedy_reach(-e, inp.lower, name_cap)
        want_lo = inp.target[s] - inp.tol
        want_hi = inp.target[s] + inp.tol
        band = f"target {pct(inp.target[s], 1)} ± {pct(inp.tol, 1)}"
        if hi < want_lo - ATOL:
            raise InfeasibleError(
                f"stage '{stage}' can reach at most {pct(hi, 1)} with the current caps, {band}: "
                f"shortfall {_pp(want_lo - hi)}; raise caps, widen stage_tolerance or add "
                f"eligible {_noun(stage)}"
            )
        if lo > want_hi + ATOL:
            raise InfeasibleError(
                f"stage '{stage}' is at least {pct(lo, 1)} with the current caps, {band}: excess "
                f"{_pp(lo - want_hi)}; raise the caps of names outside '{stage}', widen "
                "stage_tolerance or add eligible names in the other stages"
            )


def _check_limits(inp: ReviewInputs, name_cap: np.ndarray) -> None:
    """Each linear limit's reachable range (fractional knapsack) against its bounds."""
    for r, name in enumerate(inp.c_names):
        c = inp.C[r]
        # a side without a bound (-inf, inf) can never be missed: its reach is not needed
        hi = _greedy_reach(c, inp.lower, name_cap) if inp.c_lo[r] > -np.inf else np.inf
        lo = -_greedy_reach(-c, inp.lower, name_cap) if inp.c_hi[r] < np.inf else -np.inf
        if hi < inp.c_lo[r] - ATOL:
            raise InfeasibleError(
                f"{name} can reach at most {hi:.4g} with the current caps, below its minimum of "
                f"{inp.c_lo[r]:.4g}: shortfall {_pp(inp.c_lo[r] - hi)}; raise the caps of the names that "
                "count towards it or add eligible ones"
            )
        if lo > inp.c_hi[r] + ATOL:
            raise InfeasibleError(
                f"{name} is at least {lo:.4g} with the current caps, above its maximum of "
                f"{inp.c_hi[r]:.4g}: excess {_pp(lo - inp.c_hi[r])}; raise the caps of the other names "
                "or add eligible ones"
            )


def precheck(st: Structure, inp: ReviewInputs, reg: RegulatoryLimits | None) -> None:
    """Raise InfeasibleError for the infeasibilities visible without a solver."""
    _check_names(st, inp)
    issuer_capacity = _check_issuers(st, inp, reg)
    name_cap = _name_capacity(st, inp, reg)
    if st.country_idx is not None:
        _check_countries(st, inp, name_cap)
    if reg is not None:
        _check_regulatory(issuer_capacity, reg)
    _check_limits(inp, name_cap)
    if inp.basis is None:  # the knapsack bound is on weights; shares on a basis are ratios
        _check_stages(st, inp, name_cap)


def _active_groups(st: Structure, inp: ReviewInputs, reg: RegulatoryLimits | None) -> list[str]:
    groups = ["budget (weights sum to 100%)", "single-name caps"]
    if (inp.lower > 0).any():
        groups.append("minimum weights")
    groups.append(f"stage targets ± {pct(inp.tol, 1)} ({', '.join(st.stages)})")
    if inp.issuer_cap is not None:
        groups.append(f"issuer cap {pct(inp.issuer_cap, 1)}")
    capped = [f"{c} {pct(v, 1)}" for c, v in zip(st.country_names, inp.country_cap) if v < 1]
    if capped:
        groups.append(f"country caps ({', '.join(capped)})")
    if reg is not None:
        groups.append(f"regulatory {reg.name}")
    groups += [f"limit {name}" for name in inp.c_names]
    return groups


def infeasible_error(
    st: Structure, inp: ReviewInputs, reg: RegulatoryLimits | None, attempts: list[tuple[str, str]], extra: str = ""
) -> InfeasibleError:
    """The error when the solvers (``attempts``: solver, status) find the constraints infeasible."""
    statuses = ", ".join(f"{n} '{s}'" for n, s in attempts)
    groups = "; ".join(_active_groups(st, inp, reg))
    return InfeasibleError(
        f"the constraints cannot all hold together{extra} (solver status: {statuses}); "
        f"active constraint groups: {groups}. Relax one of them: raise caps, widen "
        "stage_tolerance, lower minimum weights or add eligible names"
    )


def check_feasibility(
    anchor: pd.Series,
    stage_exposure: pd.DataFrame,
    targets: Mapping[str, float] | pd.Series,
    caps: pd.Series | float,
    *,
    stage_tolerance: float = 0.0,
    issuers: pd.Series | None = None,
    issuer_cap: float | None = None,
    countries: pd.Series | None = None,
    country_caps: Mapping[str, float] | float | None = None,
    min_weight: pd.Series | None = None,
    regulatory: RegulatoryLimits | None = None,
    stage_basis: pd.Series | None = None,
    limits: Sequence[LinearLimit] = (),
) -> None:
    """Cheap feasibility pre-checks (no solver); raise :class:`InfeasibleError` with advice.

    Detects: caps adding up to less than 100 %; an issuer, country or regulatory limit that makes
    100 % unreachable; minimum weights above 100 %, above a name's cap, or on a non-eligible name;
    a stage that cannot reach its target band (fractional-knapsack bound with each name's cap
    limited by its issuer and country caps; on weights only, not on a stage basis); a linear limit
    that cannot reach its bounds (the same bound). Passing does not prove feasibility: the solver may
    still report infeasible (combinations of constraints), which :func:`stage_balanced_weights`
    reports as InfeasibleError listing the active constraint groups.

    Parameters are those of :func:`stage_balanced_weights`.

    Examples
    --------
    >>> import pandas as pd
    >>> u = pd.Series({"A": 0.5, "B": 0.5})
    >>> E = pd.DataFrame({"all": [1.0, 1.0]}, index=u.index)
    >>> check_feasibility(u, E, {"all": 1.0}, caps=0.4)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    exchina_index.errors.InfeasibleError: the single-name caps of the 2 eligible names add up to only 80.0%: ...
    """
    st, inp = one_problem(
        anchor,
        stage_exposure,
        targets,
        caps,
        stage_tolerance=stage_tolerance,
        issuers=issuers,
        issuer_cap=issuer_cap,
        countries=countries,
        country_caps=country_caps,
        min_weight=min_weight,
        stage_basis=stage_basis,
        limits=limits,
    )
    precheck(st, inp, reg=regulatory)
