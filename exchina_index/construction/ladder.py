"""Solving one review under the rulebook's relaxation ladder.

The rulebook as written first; when it is infeasible (no portfolio meets the caps and stage band,
or the capacity is below the AUM), each wider stage tolerance, then each higher single-name and
issuer cap (:func:`relaxation_ladder`). At each step the capacity LP gives the largest AUM the
constraints allow; the liquidity caps are computed at the fund's AUM, or at the capacity when the
rulebook allows reducing the notional (:func:`liquidity_levels`). Every step taken is recorded.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from exchina_index.construction.caps import liquidity_cap_array, liquidity_notional, name_cap_array
from exchina_index.construction.optimizer import OptimizationResult, check_feasibility
from exchina_index.errors import InfeasibleError
from exchina_index.rules.methodology import Methodology

__all__ = [
    "LadderProblem",
    "LadderResult",
    "relaxation_ladder",
    "last_resort_steps",
    "liquidity_levels",
    "solve_with_ladder",
]


@dataclass(frozen=True, eq=False)
class LadderProblem:
    """The numbers of one review the ladder re-solves (Series and arrays in the universe's order)."""

    optimizer: Any  # StageBalancedOptimizer
    methodology: Methodology
    as_of: pd.Timestamp
    aum: float
    anchor: pd.Series
    exposure: pd.DataFrame
    adtv: np.ndarray
    eligible: np.ndarray
    previous: pd.Series | None
    country_caps: dict[str, float]
    issuers: pd.Series | None = None  # issuer and country of classification of each name: named in
    countries: pd.Series | None = None  # the message of a step that no AUM makes feasible


@dataclass(frozen=True, eq=False)
class LadderResult:
    """The optimizer's answer with the per-name caps it used, the steps taken and the capacity of the
    rulebook as written."""

    result: OptimizationResult
    cap: np.ndarray
    cap_kind: np.ndarray
    relaxations: tuple[str, ...]
    capacity: float


def relaxation_ladder(m: Methodology) -> Iterator[tuple[str | None, float, float]]:
    """The rulebook's relaxation steps in order: ``(description or None, stage tolerance, single cap)``.

    First the rulebook as written, then each wider stage tolerance, then, at the widest tolerance,
    each higher single-name (and issuer) cap.
    """
    tolerance, single = m.stages.tolerance, m.caps.single
    yield None, tolerance, single
    for step in m.relaxation.stage_tolerance_steps:
        if step > tolerance:
            tolerance = step
            yield f"stage tolerance widened to ±{step:.1%}", tolerance, single
    for step in m.relaxation.single_cap_steps:
        if step > single:
            single = step
            yield f"single-name and issuer caps raised to {step:.1%}", tolerance, single


def liquidity_levels(aum: float, capacity: float, m: Methodology) -> Iterator[float]:
    """AUMs at which to compute the liquidity caps, in order: the fund's AUM when it is within the
    capacity, else the capacity; then, when a regulatory rule is active (the capacity LP cannot see
    it) and the rulebook allows relaxing the notional, successive halvings."""
    level = aum if aum <= capacity else capacity * (1.0 - 1e-3)
    yield level
    if m.relaxation.reduce_liquidity_notional and m.regulatory.active is not None:
        for k in range(1, 7):
            yield level / 2**k


def solve_with_ladder(p: LadderProblem) -> LadderResult:
    """Solve the review, walking the relaxation ladder until a step is feasible; then, when the
    rulebook allows it (``relaxation.last_resort``), the last-resort steps (:func:`last_resort_steps`).

    Raises
    ------
    InfeasibleError
        When even the last step is infeasible.
    """
    m = p.methodology
    notional = pd.Series(np.where(p.eligible, liquidity_notional(p.adtv, m.liquidity), 0.0), index=p.anchor.index)
    relaxations: list[str] = []
    failures: list[str] = []
    capacity = None
    steps = [(step, p, tolerance, single) for step, tolerance, single in relaxation_ladder(m)]
    if m.relaxation.last_resort:
        steps += last_resort_steps(p, steps[-1][2], steps[-1][3])
    for step, q, tolerance, single in steps:
        if step is not None:
            relaxations.append(step)
        cap_aum = _capacity(q, notional, single, tolerance)
        capacity = cap_aum if capacity is None else capacity  # of the rulebook as written
        found = _attempt(q, step or "as written", tolerance, single, cap_aum, relaxations, failures)
        if found is not None:
            return LadderResult(found[0], *name_cap_array(single, found[1]), tuple(relaxations), capacity)
    raise InfeasibleError(
        f"review {p.as_of.date()}: infeasible even after the relaxation ladder; "
        + "; ".join(failures[-2:])
        + ". Widen relaxation steps in the rulebook or check the eligible names"
    )


def last_resort_steps(
    p: LadderProblem, tolerance: float, single: float
) -> list[tuple[str, LadderProblem, float, float]]:
    """The steps after the ladder, so that a review is never left without an index: the stage
    targets dropped; then the country caps lifted too; then the caps raised so that the eligible
    names can hold 100 % (just above 1/N). Each is recorded in the review's report."""
    lifted = replace(p, country_caps={c: 1.0 for c in p.country_caps})
    n = int(np.count_nonzero(p.eligible))
    fit = min(1.0, max(single, (1.0 + 1e-6) / n)) if n else single
    return [
        ("last resort: stage targets dropped", p, 1.0, single),
        ("last resort: country caps lifted", lifted, 1.0, single),
        (
            f"last resort: single-name and issuer caps raised to {fit:.2%} so that the {n} eligible names hold 100%",
            lifted,
            1.0,
            fit,
        ),
    ]


def _attempt(
    p: LadderProblem,
    label: str,
    tolerance: float,
    single: float,
    cap_aum: float,
    relaxations: list[str],
    failures: list[str],
) -> tuple[OptimizationResult, np.ndarray] | None:
    """One step: the result and the liquidity caps it used, or None (the failure noted)."""
    m = p.methodology
    issuer_cap = max(m.caps.issuer, single)
    if cap_aum <= 0:
        why = _why(p, single, tolerance, issuer_cap)
        failures.append(f"{label}: no portfolio meets the caps and stage targets at any AUM{why}")
        return None
    if cap_aum < p.aum and not m.relaxation.reduce_liquidity_notional:
        failures.append(f"{label}: capacity ${cap_aum:,.0f} is below the AUM")
        return None
    for aum_used in liquidity_levels(p.aum, cap_aum, m):
        liquidity = liquidity_cap_array(p.adtv, aum_used, m.liquidity)
        try:
            res = _solve(p, single, liquidity, tolerance, issuer_cap)
        except InfeasibleError as exc:
            failures.append(f"{label} at ${aum_used:,.0f}: {exc}")
            continue
        if aum_used < p.aum:
            relaxations.append(
                f"liquidity caps computed at ${aum_used:,.0f} instead of ${p.aum:,.0f}"
                + (" (the capacity)" if aum_used >= cap_aum * 0.99 else "")
            )
        return res, liquidity
    return None


def _solve(
    p: LadderProblem, single: float, liquidity: np.ndarray, tolerance: float, issuer_cap: float
) -> OptimizationResult:
    """One solve with the per-name caps min(single, liquidity) (0 for names not eligible)."""
    m = p.methodology
    cap = np.where(p.eligible, np.minimum(single, liquidity), 0.0)
    lower = None
    if p.previous is not None and m.caps.min_weight_held > 0:
        held = (p.previous.to_numpy() > 0) & p.eligible
        lower = pd.Series(np.where(held, np.minimum(cap, m.caps.min_weight_held), 0.0), index=p.anchor.index)
    return p.optimizer.solve(
        anchor=p.anchor,
        stage_exposure=p.exposure,
        targets=m.stages.target_map,
        caps=pd.Series(cap, index=p.anchor.index),
        previous=p.previous,
        stage_tolerance=tolerance,
        issuer_cap=issuer_cap,
        country_caps=p.country_caps,
        min_weight=lower,
        turnover_penalty=m.optimizer.turnover_penalty if p.previous is not None else 0.0,
    )


def _why(p: LadderProblem, single: float, tolerance: float, issuer_cap: float) -> str:
    """The binding group and its shortfall when the cheap pre-checks find it (``country:US 50 %``, a
    stage, the caps), as ``" (...)"``; empty when only the solver can tell."""
    caps = pd.Series(np.where(p.eligible, single, 0.0), index=p.anchor.index)
    try:
        check_feasibility(
            p.anchor,
            p.exposure,
            p.methodology.stages.target_map,
            caps,
            stage_tolerance=tolerance,
            issuers=p.issuers,
            issuer_cap=issuer_cap if p.issuers is not None else None,
            countries=p.countries,
            country_caps=p.country_caps if p.countries is not None else None,
        )
    except InfeasibleError as exc:
        return f" ({exc})"
    return ""


def _capacity(p: LadderProblem, notional: pd.Series, single: float, tolerance: float) -> float:
    """Largest AUM at which the caps and stage band are feasible (0 when never, inf when always)."""
    static = pd.Series(np.where(p.eligible, single, 0.0), index=p.anchor.index)
    try:
        return float(
            p.optimizer.max_feasible_aum(
                p.exposure,
                p.methodology.stages.target_map,
                static,
                notional,
                stage_tolerance=tolerance,
                issuer_cap=max(p.methodology.caps.issuer, single),
                country_caps=p.country_caps,
                eligible=pd.Series(p.eligible, index=p.anchor.index),
            )
        )
    except InfeasibleError:
        return 0.0
