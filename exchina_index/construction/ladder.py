"""Solving one review under the rulebook's relaxation ladder, relaxing no more than needed.

The rulebook as written first. When it cannot hold, the ladder solves for what it must give up
rather than jumping to the next band: at each cap step (the rulebook's caps, then each raised
single-name and issuer cap, then the same with the country caps lifted) an LP finds the least stage
deviation the static caps allow (:meth:`~.optimizer.StageBalancedOptimizer.min_stage_deviation`);
the step is taken with that deviation as its band when it is within the widest stage step the
rulebook accepts. A raised cap therefore re-tightens the band. At each step the capacity LP gives
the largest AUM the constraints allow; the liquidity caps are computed at the fund's AUM, or at the
capacity when the rulebook allows reducing the notional (:func:`liquidity_levels`). When no step
works, the last-resort steps (:func:`last_resort_steps`) keep the review from ending without an
index. Every step taken is recorded; a failure names the binding group and its shortfall.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from exchina_index.construction.caps import liquidity_cap_array, liquidity_notional, name_cap_array
from exchina_index.construction.integrity import reachable_purity_limits
from exchina_index.construction.optimizer import LinearLimit, OptimizationResult, check_feasibility
from exchina_index.errors import InfeasibleError, SolverError
from exchina_index.rules.methodology import Methodology

__all__ = [
    "LadderProblem",
    "LadderResult",
    "Step",
    "cap_steps",
    "last_resort_steps",
    "liquidity_levels",
    "least_tolerance",
    "solve_with_ladder",
]

#: Margin on a solved least deviation, so that the QP at that band is feasible to solver accuracy.
_TOLERANCE_MARGIN = 1e-7


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
    stage_basis: pd.Series | None = None  # what the stage shares measure (None: weights)
    limits: tuple[LinearLimit, ...] = ()  # the purity limits
    purity: pd.Series | None = None  # purity of each name at the cut-off (for a last resort's limits)


@dataclass(frozen=True, eq=False)
class LadderResult:
    """The optimizer's answer with the per-name caps it used, the steps taken, the capacity of the
    rulebook as written, and the stage band and single-name cap the answer was solved with."""

    result: OptimizationResult
    cap: np.ndarray
    cap_kind: np.ndarray
    relaxations: tuple[str, ...]
    capacity: float
    tolerance: float
    single: float


@dataclass(frozen=True, eq=False)
class Step:
    """One rung: its description (None: the rulebook as written), the problem it solves (the country
    caps may be lifted or the purity limits dropped) and its single-name cap. When the rulebook's
    stage band cannot hold at any AUM, the band is the least deviation the caps allow, up to the
    rulebook's widest stage step (``bounded``) or without a bound (a last resort)."""

    label: str | None
    problem: LadderProblem
    single: float
    bounded: bool = True


def cap_steps(p: LadderProblem) -> list[Step]:
    """The cap steps in order: the rulebook's caps, each higher single-name (and issuer) cap, then the
    same with the country caps lifted (a one-country universe cannot hold 100 % under them)."""
    m = p.methodology
    singles = [m.caps.single] + [c for c in m.relaxation.single_cap_steps if c > m.caps.single]
    steps = [Step(None, p, singles[0])]
    steps += [Step(f"single-name and issuer caps raised to {c:.1%}", p, c) for c in singles[1:]]
    present = set(p.countries[p.eligible]) if p.countries is not None else set(p.country_caps)
    capped = {c: v for c, v in p.country_caps.items() if v < 1 and c in present}  # caps that can bind
    if capped:
        label = "country caps lifted (" + ", ".join(f"{c} {v:.0%}" for c, v in sorted(capped.items())) + ")"
        lifted = _lifted(p)
        steps += [Step(label, lifted, singles[0])]
        steps += [Step(f"{label}; single-name and issuer caps raised to {c:.1%}", lifted, c) for c in singles[1:]]
    return steps


def _lifted(p: LadderProblem) -> LadderProblem:
    return replace(p, country_caps={c: 1.0 for c in p.country_caps})


def last_resort_steps(p: LadderProblem, single: float) -> list[Step]:
    """The steps after the ladder, so that a review is never left without an index, each at the
    least stage deviation its caps allow, however wide: the widest caps; then with the country caps
    lifted; then the caps raised just enough for the eligible names to hold 100 % (above 1/N) within
    the purity limits (:func:`least_cap`), but not above ``relaxation.last_resort_cap``; then the
    purity limits moved as far as those caps force; then, under a fund rule (RIC, UCITS), the rule
    suspended (the compliance report shows it failing). Each is recorded."""
    m = p.methodology
    lifted = _lifted(p)
    first = _first_lines(p)  # caps bind issuers: one line per issuer stands for it
    n = int(np.count_nonzero(first))
    if not n:
        return []
    needed = max(single, (1.0 + 1e-6) / n)
    least = least_cap(lifted) * (1.0 + 1e-6)
    fit = min(1.0, max(needed, min(m.relaxation.last_resort_cap, least)))
    why = (
        "the least at which"
        if least <= m.relaxation.last_resort_cap
        else f"clipped to the {m.relaxation.last_resort_cap:.0%} limit, below the least at which"
    )
    raised = (
        f"last resort: country caps lifted; single-name and issuer caps raised to {fit:.2%}, {why} the {n} "
        "eligible issuers hold 100% within the purity limits"
    )
    steps = [
        Step("last resort: stage band beyond the widest step", p, single, False),
        Step("last resort: country caps lifted", lifted, single, False),
        Step(raised, lifted, fit, False),
    ]
    if p.limits and p.purity is not None:
        floors = _floors(p)
        if p.issuers is not None:  # an issuer's minimum weights together, on the line standing for it
            codes = p.issuers.factorize()[0]
            floors = np.bincount(codes, weights=floors)[codes]
        limits, line = reachable_purity_limits(m, p.purity, first, fit, np.where(first, floors, 0.0))
        steps.append(Step(f"{raised}; {line}", replace(lifted, limits=limits), fit, False))
    if m.regulatory.active is not None:  # too few issuers for the fund rule (buffered RIC needs 15)
        label = f"{steps[-1].label}; the {m.regulatory.mode} rule suspended ({n} eligible issuers cannot meet it)"
        steps.append(Step(label, replace(steps[-1].problem, optimizer=p.optimizer.unregulated()), fit, False))
    return steps


def _first_lines(p: LadderProblem) -> np.ndarray:
    """The first eligible line of each issuer (every eligible name when issuers are not given)."""
    if p.issuers is None:
        return p.eligible.copy()
    codes = p.issuers.factorize()[0]
    first = np.zeros(len(codes), dtype=bool)
    seen: set[int] = set()
    for i in np.flatnonzero(p.eligible):
        if codes[i] not in seen:
            seen.add(int(codes[i]))
            first[i] = True
    return first


def least_cap(p: LadderProblem) -> float:
    """The least single-name cap at which the eligible names can hold 100 % within the purity limits
    (no stage band, no country caps): the capacity LP with one unit of notional per name, whose
    ``1 / AUM*`` is the largest weight needed. 1.0 when even one name at 100 % cannot meet them."""
    first = _first_lines(p)  # an issuer's lines share its cap: one line stands for it
    one = pd.Series(np.where(first, 1.0, 0.0), index=p.anchor.index)
    try:
        aum = p.optimizer.max_feasible_aum(
            p.exposure,
            p.methodology.stages.target_map,
            one,
            one,
            stage_tolerance=1.0,
            issuer_cap=None,
            country_caps=None,
            eligible=pd.Series(first, index=p.anchor.index),
            stage_basis=p.stage_basis,
            limits=p.limits,
        )
    except (InfeasibleError, SolverError):
        return 1.0
    return min(1.0, 1.0 / aum) if aum > 0 else 1.0


def liquidity_levels(aum: float, capacity: float, m: Methodology) -> Iterator[float]:
    """AUMs at which to compute the liquidity caps, in order: the fund's AUM when it is within the
    capacity, else the capacity; then, when a regulatory rule or a minimum weight is in force (the
    capacity LP cannot see them) and the rulebook allows relaxing the notional, successive halvings."""
    level = aum if aum <= capacity else capacity * (1.0 - 1e-3)
    yield level
    # the capacity LP sees neither the regulatory rule nor the minimum weights
    floors = m.governance.min_weight > 0 or m.caps.min_weight_held > 0
    if m.relaxation.reduce_liquidity_notional and (m.regulatory.active is not None or floors):
        for k in range(1, 7):
            yield level / 2**k


def least_tolerance(p: LadderProblem, single: float) -> tuple[float, pd.Series]:
    """The least stage deviation the single-name cap ``single``, the issuer and country caps and the
    purity limits allow (liquidity aside: the notional can be reduced; the LP of the optimizer), with
    the stage shares of a portfolio that reaches it (by stage).

    Raises
    ------
    InfeasibleError
        These constraints cannot hold whatever the stages.
    """
    m = p.methodology
    tau, shares = p.optimizer.min_stage_deviation(
        p.exposure,
        m.stages.target_map,
        pd.Series(np.where(p.eligible, single, 0.0), index=p.anchor.index),
        eligible=pd.Series(p.eligible, index=p.anchor.index),
        issuer_cap=max(m.caps.issuer, single),
        country_caps=p.country_caps,
        stage_basis=p.stage_basis,
        limits=p.limits,
        min_weight=pd.Series(np.minimum(_floors(p), single), index=p.anchor.index),
        return_shares=True,
    )
    return float(tau), shares


def _band(p: LadderProblem, step: Step, failures: list[str]) -> tuple[float, str] | None:
    """The least stage band of a step whose rulebook band did not solve (at no AUM, or not at the
    AUM the capacity LP gave), with its record; None (the failure noted) when it cannot be solved
    or, on a bounded step, is beyond the widest stage step."""
    m = p.methodology
    label = step.label or "as written"
    issuer_cap = max(m.caps.issuer, step.single)
    try:
        tau, shares = least_tolerance(step.problem, step.single)
    except InfeasibleError:
        why = _why(step.problem, step.single, 1.0, issuer_cap)
        failures.append(f"{label}: no portfolio meets the caps and limits whatever the stages{why}")
        return None
    except SolverError as exc:  # noted; the next step is tried
        failures.append(f"{label}: the least stage deviation could not be solved ({exc})")
        return None
    widest = max(m.stages.tolerance, m.relaxation.max_stage_tolerance)
    rounded = _rounded_up(tau, m.relaxation.stage_tolerance_rounding)
    tolerance = max(m.stages.tolerance, rounded, tau + _TOLERANCE_MARGIN)
    if step.bounded and tolerance > widest + 1e-12:
        failures.append(
            f"{label}: the caps allow no stage deviation below {tau:.2%} ({_held_back(shares, m)}), beyond "
            f"the widest step ±{widest:.1%}" + _why(step.problem, step.single, widest, issuer_cap)
        )
        return None
    beyond = " beyond the widest step" if tolerance > widest + 1e-12 else ""
    return tolerance, f"stage tolerance widened{beyond} to ±{tolerance:.1%} (the least the caps allow: ±{tau:.2%})"


def _held_back(shares: pd.Series, m: Methodology) -> str:
    """The stage furthest from its target at the least deviation, as ``stage 'x' at most 21.5 % of
    the exposure, target 33.3 %`` (or ``at least``): the group the caps hold back."""
    gap = shares - pd.Series(m.stages.target_map).reindex(shares.index)
    stage = str(gap.abs().idxmax())
    side = "at most" if gap[stage] < 0 else "at least"
    what = "rare-earth exposure" if m.stages.basis == "exposure" else "weight"
    return f"stage '{stage}' {side} {shares[stage]:.1%} of the {what}, target {m.stages.target_map[stage]:.1%}"


def _rounded_up(x: float, step: float) -> float:
    """``x`` rounded up to a multiple of ``step`` (``x`` itself when ``step`` is 0)."""
    return math.ceil(x / step - 1e-9) * step if step else x


def solve_with_ladder(p: LadderProblem) -> LadderResult:
    """Solve the review: the cap steps (:func:`cap_steps`), each at the least stage band it allows,
    until one is feasible; then, when the rulebook allows it (``relaxation.last_resort``), the
    last-resort steps (:func:`last_resort_steps`).

    Raises
    ------
    InfeasibleError
        When even the last step is infeasible.
    """
    m = p.methodology
    notional = pd.Series(np.where(p.eligible, liquidity_notional(p.adtv, m.liquidity), 0.0), index=p.anchor.index)
    failures: list[str] = []
    capacity = _capacity(p, notional, m.caps.single, m.stages.tolerance)  # of the rulebook as written
    found = _walk(p, cap_steps(p), notional, failures, capacity)
    if found is None and m.relaxation.last_resort:
        found = _walk(p, last_resort_steps(p, max((m.caps.single, *m.relaxation.single_cap_steps))), notional, failures)
    if found is not None:
        result, liquidity, relaxations, tolerance, single = found
        cap, kind = name_cap_array(single, liquidity)
        return LadderResult(result, cap, kind, relaxations, capacity, tolerance, single)
    raise InfeasibleError(
        f"review {p.as_of.date()}: infeasible even after the relaxation ladder; "
        + "; ".join(failures[-2:])
        + ". Widen relaxation steps in the rulebook or check the eligible names"
    )


def _walk(
    p: LadderProblem, steps: list[Step], notional: pd.Series, failures: list[str], as_written: float | None = None
) -> tuple[OptimizationResult, np.ndarray, tuple[str, ...], float, float] | None:
    """The first step that solves: (result, liquidity caps, steps recorded, band, single cap);
    ``as_written`` is the capacity of the rulebook as written when known (the first step's)."""
    m = p.methodology
    for step in steps:
        q = step.problem
        tolerance = m.stages.tolerance
        if step.label is None and as_written is not None:  # the rulebook as written: known
            cap_aum = as_written
        else:
            cap_aum = _capacity(q, notional, step.single, tolerance)
        relaxations = [step.label] if step.label else []
        no_aum = cap_aum <= 0  # the band cannot hold at any AUM: the least one the caps allow
        found = None
        if not no_aum:
            found = _attempt(q, step.label or "as written", tolerance, step.single, cap_aum, relaxations, failures)
        if found is None:  # also when the capacity LP, which cannot see the minimum weights, was wrong
            band = _band(p, step, failures)
            if band is None or (not no_aum and band[0] <= tolerance):
                continue
            tolerance = band[0]
            relaxations.append(band[1])
            cap_aum = _capacity(q, notional, step.single, tolerance)
            found = _attempt(q, step.label or "as written", tolerance, step.single, cap_aum, relaxations, failures)
        if found is not None:
            return found[0], found[1], tuple(relaxations), tolerance, step.single
    return None


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
    failed = None
    for aum_used in liquidity_levels(p.aum, cap_aum, m):
        found = _solve_at(p, single, aum_used, tolerance, issuer_cap)
        if isinstance(found, str):
            failures.append(f"{label} at ${aum_used:,.0f}: {found}")
            failed = aum_used
            continue
        if failed is not None:  # a halving solved: the largest AUM between it and the one that failed
            aum_used, found = _largest_solving(p, single, tolerance, issuer_cap, aum_used, failed, found)
        if aum_used < p.aum:
            relaxations.append(
                f"liquidity caps computed at ${aum_used:,.0f} instead of ${p.aum:,.0f}"
                + (" (the capacity)" if aum_used >= cap_aum * 0.99 else "")
            )
        return found
    return None


def _solve_at(
    p: LadderProblem, single: float, aum: float, tolerance: float, issuer_cap: float
) -> tuple[OptimizationResult, np.ndarray] | str:
    """The solve with the liquidity caps at ``aum``: (result, liquidity caps), or why it failed."""
    liquidity = liquidity_cap_array(p.adtv, aum, p.methodology.liquidity)
    try:
        return _solve(p, single, liquidity, tolerance, issuer_cap), liquidity
    except InfeasibleError as exc:
        return str(exc)


def _largest_solving(
    p: LadderProblem,
    single: float,
    tolerance: float,
    issuer_cap: float,
    solved: float,
    failed: float,
    found: tuple[OptimizationResult, np.ndarray],
) -> tuple[float, tuple[OptimizationResult, np.ndarray]]:
    """Bisect (on a log scale, five times: within 2.2 % of the limit) between an AUM that solves and
    a larger one that does not, for the largest that solves: the liquidity notional is relaxed no
    more than the minimum weights and the fund rule, which the capacity LP cannot see, force."""
    for _ in range(5):
        mid = math.sqrt(solved * failed)
        attempt = _solve_at(p, single, mid, tolerance, issuer_cap)
        if isinstance(attempt, str):
            failed = mid
        else:
            solved, found = mid, attempt
    return solved, found


def _solve(
    p: LadderProblem, single: float, liquidity: np.ndarray, tolerance: float, issuer_cap: float
) -> OptimizationResult:
    """One solve with the per-name caps min(single, liquidity) (0 for names not eligible)."""
    m = p.methodology
    cap = np.where(p.eligible, np.minimum(single, liquidity), 0.0)
    lower = None
    floor = _floors(p)
    if floor.any():
        lower = pd.Series(np.minimum(cap, floor), index=p.anchor.index)
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
        stage_basis=p.stage_basis,
        limits=p.limits,
    )


def _floors(p: LadderProblem) -> np.ndarray:
    """Each eligible name's minimum weight (cut to the name's cap by the caller).

    ``governance.min_weight`` (every constituent is held), but never more than half an equal
    weight of the eligible names, and for the names below the purity limit's low threshold never
    more than half their bound shared equally: the floors take at most half the index and half the
    low-purity room, whatever the count (329 names at 0.5 % would need 164.5 %). A name held before
    gets ``caps.min_weight_held`` when that is larger.
    """
    m = p.methodology
    n = int(np.count_nonzero(p.eligible))
    floor = np.where(p.eligible, min(m.governance.min_weight, 0.5 / max(n, 1)), 0.0)
    if p.purity is not None and any(lim.name == "purity:low_weight" for lim in p.limits):
        low = p.eligible & (p.purity.to_numpy() < m.purity.low_threshold)
        if low.any():
            floor = np.where(low, np.minimum(floor, 0.5 * m.purity.low_max_weight / low.sum()), floor)
    if p.previous is not None and m.caps.min_weight_held > 0:
        held = (p.previous.to_numpy() > 0) & p.eligible
        floor = np.where(held, np.maximum(floor, m.caps.min_weight_held), floor)
    return floor


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
            stage_basis=p.stage_basis,
            limits=p.limits,
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
                stage_basis=p.stage_basis,
                limits=p.limits,
            )
        )
    except InfeasibleError:
        return 0.0
