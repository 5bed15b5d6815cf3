"""The review record: what one review decided and why, computed once and read by every writer.

A review (:func:`~exchina_index.construction.review.build_weights`) builds one
:class:`WeightResult`: the weights and a :class:`ReviewReport`. The per-name facts sit in
:class:`ReviewNames`, one declared field per fact (a Series by ticker, in the universe's order),
so the rebalance writer, the backtest, the tearsheet and the HTML report read the same numbers by
attribute instead of re-deriving them or looking up free-form column names.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

import numpy as np
import pandas as pd

from exchina_index.construction.compliance import RegulatoryLimits

__all__ = ["ReviewNames", "ReviewReport", "WeightResult"]


@dataclass(frozen=True)
class ReviewNames:
    """Per-name facts of one review, each a Series indexed by ticker (the universe's order).

    Attributes
    ----------
    eligible, reason, flags, country, cn_stake, detail
        The screens (see :func:`~exchina_index.construction.screens.screen`): eligibility, the
        reason code, reported China-link flags, the country of classification, in-force Chinese
        stakes and a readable description of the links.
    issuer
        Issuer (share classes and ADRs of one company share it).
    exposure
        Stage exposures, a DataFrame by ticker with one column per stage.
    market_cap_usd, adtv_usd
        The market snapshot at the cut-off.
    anchor
        The uncapped anchor weight u.
    liquidity_cap
        Participation × ADTV × days / AUM at the fund's AUM, capped at 1 (what compliance checks).
    cap, cap_kind
        The per-name cap the optimizer used (after any relaxation) and which bound it is
        (``single`` or ``liquidity``).
    weight
        The index weight.
    binding
        Which bound holds the weight: ``cap:single``, ``cap:liquidity``, ``min`` or empty.
    days_to_trade
        Days to trade the weight at the fund's AUM.
    """

    eligible: pd.Series
    reason: pd.Series
    flags: pd.Series
    country: pd.Series
    cn_stake: pd.Series
    detail: pd.Series
    issuer: pd.Series
    exposure: pd.DataFrame
    market_cap_usd: pd.Series
    adtv_usd: pd.Series
    anchor: pd.Series
    liquidity_cap: pd.Series
    cap: pd.Series
    cap_kind: pd.Series
    weight: pd.Series
    binding: pd.Series
    days_to_trade: pd.Series

    @property
    def index(self) -> pd.Index:
        """The tickers."""
        return self.weight.index

    def held(self) -> pd.Index:
        """Tickers with a positive weight."""
        return self.weight.index[self.weight.to_numpy() > 0]

    def to_frame(self) -> pd.DataFrame:
        """One table by ticker (the stage exposures as one column per stage, the anchor as ``u``),
        for files and pages."""
        columns: dict[str, pd.Series] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "exposure":
                columns.update({s: value[s] for s in value.columns})
            elif f.name != "liquidity_cap":
                columns["u" if f.name == "anchor" else f.name] = value
        return pd.DataFrame(columns)


@dataclass(frozen=True)
class ReviewReport:
    """What an index administrator audits at a review.

    Attributes
    ----------
    as_of
        The data cut-off.
    aum
        Fund size (USD) used for the liquidity caps.
    names
        The per-name facts (:class:`ReviewNames`).
    stages
        By stage: ``target``, ``before`` (exposure of u) and ``after`` (exposure of the weights).
    countries, issuers
        Weight totals by country of classification and by issuer.
    binding_constraints
        Group constraints that hold with equality (``stage:refining upper``, ``country:AU``, ...).
    relaxations
        The relaxation-ladder steps taken, in order (empty when none was needed).
    capacity_aum
        Largest AUM at which the rulebook's constraints hold without relaxation (inf if unbounded).
    days_to_trade
        Days to trade each held name at the rulebook's capacity AUM levels (columns).
    regulatory
        The regulatory limits the optimizer enforced (``None`` when the rulebook's mode is none).
    purity
        The thematic-integrity figures of the weights: ``weighted`` (Σ w·purity), ``low_weight``
        (weight in names below ``purity.low_threshold``) and ``stage_deviation`` (largest
        |stage share − target| on the rulebook's stage basis).
    stage_band, single_cap
        The stage tolerance and the single-name (and issuer) cap the weights were solved with: the
        rulebook's, or those of the relaxation step taken.
    governance
        The governance rules applied at this review, one line each (the minimum-constituent
        fallback, fast entries, ...); empty when none was needed.
    decisions
        The discretion-log decisions applied at this review, one line each
        (``YYYY-MM-DD kind TICKER: reason (source)``); empty when none.
    reserve
        The reserve list: names failing only a size or ADTV entry threshold while passing the
        retention ones, not admitted by the minimum-constituent fallback, largest market cap
        first (:func:`~exchina_index.construction.governance.entry_only_candidates`). A deletion
        between reviews that takes the count below the floor is replaced by the first still trading.
    """

    as_of: pd.Timestamp
    aum: float
    names: ReviewNames
    stages: pd.DataFrame
    countries: pd.Series
    issuers: pd.Series
    binding_constraints: tuple[str, ...]
    solver: str
    status: str
    solve_seconds: float
    fallback_used: bool
    relaxations: tuple[str, ...]
    capacity_aum: float
    days_to_trade: pd.DataFrame
    methodology_version: str
    data_source: str
    synthetic: bool
    regulatory: RegulatoryLimits | None = None
    purity: dict[str, float] = field(default_factory=dict)
    stage_band: float = float("nan")
    single_cap: float = float("nan")
    governance: tuple[str, ...] = ()
    decisions: tuple[str, ...] = ()
    reserve: tuple[str, ...] = ()

    def summary(self) -> str:
        """A few readable lines: stage totals, binding constraints, relaxations, solver."""
        st, n = self.stages, self.names
        liquidity_bound = n.index[(n.binding == "cap:liquidity").to_numpy()]
        lines = [
            f"review cut-off {self.as_of.date()}  AUM ${self.aum:,.0f}  data: {self.data_source}"
            + ("  [SYNTHETIC DEMO DATA]" if self.synthetic else ""),
            "stages: "
            + ", ".join(f"{s} {st.loc[s, 'after']:.1%} (target {st.loc[s, 'target']:.1%})" for s in st.index),
            f"names: {len(n.held())} held of {int(n.eligible.sum())} eligible",
            "binding: " + (", ".join(self.binding_constraints) or "none"),
            "liquidity caps binding: " + (", ".join(liquidity_bound) or "none"),
            "relaxations: " + (", ".join(self.relaxations) or "none"),
            *(
                [
                    f"purity: weighted {self.purity['weighted']:.3f}, {self.purity['low_weight']:.1%} in low-purity "
                    f"names; stage deviation {self.purity['stage_deviation']:.1%} (band ±{self.stage_band:.1%})"
                ]
                if self.purity
                else []
            ),
            *[f"governance: {line}" for line in self.governance],
            *[f"decision: {line}" for line in self.decisions],
            (
                f"capacity without relaxation: ${self.capacity_aum:,.0f}"
                if np.isfinite(self.capacity_aum)
                else "capacity: unbounded"
            ),
            f"solver: {self.solver} ({self.status}, {self.solve_seconds * 1e3:.1f} ms)"
            + (" [fallback]" if self.fallback_used else ""),
        ]
        return "\n".join(lines)


@dataclass(frozen=True)
class WeightResult:
    """The outcome of one review: ``weights`` (by ticker, sums to 1, exact zeros for excluded
    names) and the audit ``report``."""

    weights: pd.Series
    report: ReviewReport = field(repr=False)
