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
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from exchina_index.construction.caps import liquidity_cap_array, liquidity_notional, name_cap_array
from exchina_index.construction.ladder_steps import (
    LadderProblem,
    Step,
    cap_steps,
    eligible_series,
    last_resort_steps,
    least_tolerance,
    min_weights,
    once,
    single_caps,
    stage_targets,
)
from exchina_index.construction.optimizer import OptimizationResult, check_feasibility
from exchina_index.construction.optimizer.memo import Memo
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

#: A step's failure, or a function writing it: only the last two are ever shown (when every step
#: fails), so the pre-checks that name the binding group run only for those.
_Failure = str | Callable[[], str]
#: A solve's answer, its report built on demand (:meth:`~.optimizer.StageBalancedOptimizer.solve_deferred`).
_Answer = Callable[[], OptimizationResult]


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


def _band(p: LadderProblem, step: Step, failures: list[_Failure]) -> tuple[float, str] | None:
    """The least stage band of a step whose rulebook band did not solve (at no AUM, or not at the
    AUM the capacity LP gave), with its record; None (the failure noted) when it cannot be solved
    or, on a bounded step, is beyond the widest stage step."""
    m = p.methodology
    label = step.label or "as written"
    issuer_cap = max(m.caps.issuer, step.single)
    try:
        tau, shares = once(step.problem, ("least", step.single), lambda: least_tolerance(step.problem, step.single))
    except InfeasibleError:
        failures.append(
            lambda: (
                f"{label}: no portfolio meets the caps and limits whatever the stages"
                + _why(step.problem, step.single, 1.0, issuer_cap)
            )
        )
        return None
    except SolverError as exc:  # noted; the next step is tried
        failures.append(f"{label}: the least stage deviation could not be solved ({exc})")
        return None
    widest = max(m.stages.tolerance, m.relaxation.max_stage_tolerance)
    rounded = _rounded_up(tau, m.relaxation.stage_tolerance_rounding)
    tolerance = max(m.stages.tolerance, rounded, tau + _TOLERANCE_MARGIN)
    if step.bounded and tolerance > widest + 1e-12:
        failures.append(
            lambda: (
                f"{label}: the caps allow no stage deviation below {tau:.2%} ({_held_back(shares, m)}), "
                f"beyond the widest step ±{widest:.1%}" + _why(step.problem, step.single, widest, issuer_cap)
            )
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
    if p.memo is not None:
        return _run_ladder(p)
    memo = Memo()  # one per review: its steps share the layouts
    try:
        return _run_ladder(replace(p, memo=memo))
    finally:
        memo.clear()  # it holds the errors its LPs raised, with their frames: freed now, not by the collector


def _run_ladder(p: LadderProblem) -> LadderResult:
    """:func:`solve_with_ladder` with the problem's memo set."""
    m = p.methodology
    notional = pd.Series(np.where(p.eligible, liquidity_notional(p.adtv, m.liquidity), 0.0), index=p.anchor.index)
    failures: list[_Failure] = []
    capacity = _capacity(p, notional, m.caps.single, m.stages.tolerance)  # of the rulebook as written
    found = _walk(p, cap_steps(p), notional, failures, capacity)
    if found is None and m.relaxation.last_resort:
        found = _walk(p, last_resort_steps(p, max((m.caps.single, *m.relaxation.single_cap_steps))), notional, failures)
    if found is not None:
        answer, liquidity, relaxations, tolerance, single = found
        cap, kind = name_cap_array(single, liquidity)
        return LadderResult(answer(), cap, kind, relaxations, capacity, tolerance, single)
    raise InfeasibleError(
        f"review {p.as_of.date()}: infeasible even after the relaxation ladder; "
        + "; ".join(f if isinstance(f, str) else f() for f in failures[-2:])
        + ". Widen relaxation steps in the rulebook or check the eligible names"
    )


def _walk(
    p: LadderProblem, steps: list[Step], notional: pd.Series, failures: list[_Failure], as_written: float | None = None
) -> tuple[_Answer, np.ndarray, tuple[str, ...], float, float] | None:
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
    failures: list[_Failure],
) -> tuple[_Answer, np.ndarray] | None:
    """One step: the result and the liquidity caps it used, or None (the failure noted)."""
    m = p.methodology
    issuer_cap = max(m.caps.issuer, single)
    if cap_aum <= 0:
        failures.append(
            lambda: (
                f"{label}: no portfolio meets the caps and stage targets at any AUM"
                + _why(p, single, tolerance, issuer_cap)
            )
        )
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
) -> tuple[_Answer, np.ndarray] | str:
    """The solve with the liquidity caps at ``aum``: (result, liquidity caps), or why it failed."""
    liquidity = liquidity_cap_array(p.adtv, aum, p.methodology.liquidity)
    try:
        return _solve_qp(p, single, liquidity, tolerance, issuer_cap), liquidity
    except InfeasibleError as exc:
        return str(exc)


def _largest_solving(
    p: LadderProblem,
    single: float,
    tolerance: float,
    issuer_cap: float,
    solved: float,
    failed: float,
    found: tuple[_Answer, np.ndarray],
) -> tuple[float, tuple[_Answer, np.ndarray]]:
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


def _solve_qp(p: LadderProblem, single: float, liquidity: np.ndarray, tolerance: float, issuer_cap: float) -> _Answer:
    """One solve with the per-name caps min(single, liquidity) (0 for names not eligible); its
    report is built only for the answer kept."""
    m = p.methodology
    cap = np.where(p.eligible, np.minimum(single, liquidity), 0.0)
    lower = None
    floor = min_weights(p)
    if floor.any():
        lower = np.minimum(cap, floor)
    return p.optimizer.solve_deferred(
        anchor=p.anchor,
        stage_exposure=p.exposure,
        targets=stage_targets(p),
        caps=cap,
        previous=p.previous,
        stage_tolerance=tolerance,
        issuer_cap=issuer_cap,
        country_caps=p.country_caps,
        min_weight=lower,
        turnover_penalty=m.optimizer.turnover_penalty if p.previous is not None else 0.0,
        stage_basis=p.stage_basis,
        limits=p.limits,
        memo=p.memo,
    )


def _why(p: LadderProblem, single: float, tolerance: float, issuer_cap: float) -> str:
    """The binding group and its shortfall when the cheap pre-checks find it (``country:US 50 %``, a
    stage, the caps), as ``" (...)"``; empty when only the solver can tell."""
    try:
        check_feasibility(
            p.anchor,
            p.exposure,
            stage_targets(p),
            pd.Series(single_caps(p, single), index=p.anchor.index),
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
    return once(p, ("capacity", single, tolerance), lambda: _capacity_lp(p, notional, single, tolerance), (notional,))


def _capacity_lp(p: LadderProblem, notional: pd.Series, single: float, tolerance: float) -> float:
    try:
        return float(
            p.optimizer.max_feasible_aum(
                p.exposure,
                stage_targets(p),
                single_caps(p, single),
                notional,
                stage_tolerance=tolerance,
                issuer_cap=max(p.methodology.caps.issuer, single),
                country_caps=p.country_caps,
                eligible=eligible_series(p),
                stage_basis=p.stage_basis,
                limits=p.limits,
                memo=p.memo,
            )
        )
    except InfeasibleError:
        return 0.0
