"""The rungs of the relaxation ladder and the facts of a review its steps share.

A :class:`LadderProblem` is one review's numbers; :func:`cap_steps` and :func:`last_resort_steps`
are the :class:`Step` s :mod:`.ladder` walks, :func:`least_tolerance` and :func:`least_cap` the LPs
that size a step's band and caps. The helpers below them give what every LP and QP of a review
reads (targets, caps, minimum weights) once per review, through the problem's
:class:`~.optimizer.memo.Memo`, made by :func:`~.ladder.solve_with_ladder`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from exchina_index.construction.integrity import reachable_purity_limits
from exchina_index.construction.optimizer import LinearLimit
from exchina_index.construction.optimizer.memo import Memo, remembered
from exchina_index.errors import InfeasibleError, SolverError
from exchina_index.rules.methodology import Methodology

__all__ = [
    "LadderProblem",
    "Step",
    "cap_steps",
    "last_resort_steps",
    "least_cap",
    "least_tolerance",
    "issuer_codes",
    "first_lines",
    "stage_targets",
    "eligible_series",
    "single_caps",
    "floor_sources",
    "min_weights",
    "once",
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
    stage_basis: pd.Series | None = None  # what the stage shares measure (None: weights)
    limits: tuple[LinearLimit, ...] = ()  # the purity limits
    purity: pd.Series | None = None  # purity of each name at the cut-off (for a last resort's limits)
    memo: Memo | None = None  # the review's layouts, shared by its steps (solve_with_ladder makes one)


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
    present = set(p.countries.to_numpy()[p.eligible]) if p.countries is not None else set(p.country_caps)
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
    first = first_lines(p)  # caps bind issuers: one line per issuer stands for it
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
        floors = min_weights(p)
        if p.issuers is not None:  # an issuer's minimum weights together, on the line standing for it
            codes = issuer_codes(p)
            floors = np.bincount(codes, weights=floors)[codes]
        limits, line = reachable_purity_limits(m, p.purity, first, fit, np.where(first, floors, 0.0))
        steps.append(Step(f"{raised}; {line}", replace(lifted, limits=limits), fit, False))
    if m.regulatory.active is not None:  # too few issuers for the fund rule (buffered RIC needs 15)
        label = f"{steps[-1].label}; the {m.regulatory.mode} rule suspended ({n} eligible issuers cannot meet it)"
        steps.append(Step(label, replace(steps[-1].problem, optimizer=p.optimizer.unregulated()), fit, False))
    return steps


def issuer_codes(p: LadderProblem) -> np.ndarray:
    """The issuer of each name as a code (``p.issuers`` factorized, once per review)."""
    issuers = p.issuers
    assert issuers is not None
    return remembered(p.memo, (issuers,), "issuer codes", lambda: issuers.factorize()[0])


def first_lines(p: LadderProblem) -> np.ndarray:
    """The first eligible line of each issuer (every eligible name when issuers are not given)."""
    return remembered(p.memo, (p.eligible, p.issuers), "first lines", lambda: _first_eligible(p))


def _first_eligible(p: LadderProblem) -> np.ndarray:
    if p.issuers is None:
        return p.eligible.copy()
    codes = issuer_codes(p)
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
    first = first_lines(p)  # an issuer's lines share its cap: one line stands for it
    one = pd.Series(np.where(first, 1.0, 0.0), index=p.anchor.index)
    try:
        aum = p.optimizer.max_feasible_aum(
            p.exposure,
            stage_targets(p),
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
    floors = remembered(p.memo, floor_sources(p), ("floors", single), lambda: np.minimum(min_weights(p), single))
    tau, shares = p.optimizer.min_stage_deviation(
        p.exposure,
        stage_targets(p),
        single_caps(p, single),
        eligible=eligible_series(p),
        issuer_cap=max(m.caps.issuer, single),
        country_caps=p.country_caps,
        stage_basis=p.stage_basis,
        limits=p.limits,
        min_weight=floors,
        return_shares=True,
        memo=p.memo,
    )
    return float(tau), shares


def stage_targets(p: LadderProblem) -> dict[str, float]:
    """The stage targets (one mapping per review, so that the optimizer lays it out once)."""
    return remembered(p.memo, (p.methodology,), "targets", lambda: p.methodology.stages.target_map)


def eligible_series(p: LadderProblem) -> pd.Series:
    """The eligible names as a boolean Series by ticker (one per review)."""
    return remembered(p.memo, (p.eligible, p.anchor), "eligible", lambda: pd.Series(p.eligible, index=p.anchor.index))


def single_caps(p: LadderProblem, single: float) -> np.ndarray:
    """The single-name cap ``single`` on the eligible names, 0 elsewhere (one per review and cap)."""
    return remembered(p.memo, (p.eligible,), ("single", single), lambda: np.where(p.eligible, single, 0.0))


def floor_sources(p: LadderProblem) -> tuple[object, ...]:
    """What :func:`_min_weights` reads (a step may change the limits)."""
    return (p.methodology, p.eligible, p.purity, p.limits, p.previous)


def min_weights(p: LadderProblem) -> np.ndarray:
    """Each eligible name's minimum weight (:func:`_min_weights`), once per review and limits."""
    return remembered(p.memo, floor_sources(p), "floors", lambda: _min_weights(p))


def _min_weights(p: LadderProblem) -> np.ndarray:
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


def once(p: LadderProblem, tag: tuple[object, ...], compute: Callable[[], Any], also: tuple[object, ...] = ()) -> Any:
    """``compute()`` once per review for a step's problem ``p``, ``tag`` (its numbers) and ``also``
    (its other inputs, by identity), its InfeasibleError or SolverError raised again: a last-resort
    step repeats LPs of a cap step. The steps of a review differ only in their optimizer, country
    caps and limits."""
    sources = (p.optimizer, p.limits, p.methodology, p.anchor, p.exposure, p.eligible, p.stage_basis, p.purity)
    key = (tag, tuple(sorted(p.country_caps.items())))

    def outcome() -> tuple[Any, Exception | None]:
        try:
            return compute(), None
        except (InfeasibleError, SolverError) as exc:
            return None, exc

    value, error = remembered(p.memo, (*sources, p.previous, *also), key, outcome)
    if error is not None:
        raise error
    return value
