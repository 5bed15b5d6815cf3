"""One index review: screens → anchor weights → caps → stage-balanced weights, in arrays.

Everything here is computed from data up to the review's cut-off only: the market facts come from a
point-in-time :class:`~exchina_index.data.features.FeaturePanel` (each row reads only data up to
its cut-off; the no-look-ahead tests alter later data).

A :class:`ReviewContext` holds what is fixed across the reviews of one universe, rulebook and
market (the static screens' layout, the compiled optimizer, the feature panels); :func:`run_review`
runs review ``k`` of it:

1. the screens (:mod:`exchina_index.universe.screens` without market data, then
   :func:`~exchina_index.construction.market_screens.size_reasons` on the panel row);
2. the anchor weights u (:func:`~exchina_index.construction.caps.anchor_array`);
3. the per-name caps, the smaller of the single-name cap and the liquidity cap
   ``participation × ADTV × days / AUM``, and the optimizer under the stage, issuer, country and
   regulatory constraints with the rulebook's relaxation ladder (:mod:`.ladder`);
4. the typed review record (:mod:`.record`), built once.

:func:`build_weights` is one review on its own (a one-row panel); the backtest builds one context
for all its reviews.

Prices-only data (``date, close`` per listing)
----------------------------------------------
What the market holds (:attr:`MarketData.facts <exchina_index.data.views.MarketViews.facts>`)
decides what a review can compute, and nothing is skipped silently:

* no volume at all by the cut-off: the ADTV screens are skipped
  (:func:`~exchina_index.construction.market_screens.skipped_screens`) and so are the liquidity
  caps: the ladder gets an ``inf`` ADTV (no liquidity limit, capacity unbounded) while the record
  keeps the ADTV NaN, the liquidity cap NaN (not computed) and the days to trade NaN (unknown).
  Each eligible name's ``detail`` says so, as do the market data's notes.
* a listing without a market cap (no share count known by the cut-off, in the data or the
  universe's reference history) skips the size screen unless the anchor is
  ``market_cap_purity``; its ``detail`` says so.
* an anchor that needs what the market lacks is a :class:`~exchina_index.errors.DataError` naming
  what to add, raised by :func:`review_context` before any review: ``market_cap_purity`` without
  any share count, ``liquidity`` without any volume. ``anchor.method = "equal"`` needs closes only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from exchina_index.construction.caps import (
    anchor_array,
    days_to_trade_array,
    drift_array,
    liquidity_cap_array,
    name_cap_array,
)
from exchina_index.construction.compliance import rulebook_limits
from exchina_index.construction.eligibility import Eligibility, nobody_eligible, review_eligibility
from exchina_index.construction.integrity import integrity_figures, purity_limits, stage_basis, stage_table
from exchina_index.construction.ladder import LadderProblem, LadderResult, solve_with_ladder
from exchina_index.construction.optimizer import StageBalancedOptimizer
from exchina_index.construction.record import ReviewNames, ReviewReport, WeightResult
from exchina_index.data.features import FeaturePanel, feature_panel
from exchina_index.dates import parse_date
from exchina_index.errors import DataError, InfeasibleError, InputError
from exchina_index.rules.methodology import STAGES, Methodology, check_aum, resolve_methodology
from exchina_index.universe.loading import Universe, require_universe
from exchina_index.universe.screens import StaticScreens

__all__ = [
    "WeightResult",
    "ReviewReport",
    "ReviewContext",
    "review_context",
    "run_review",
    "build_weights",
    "make_optimizer",
    "anchor_weights",
    "name_caps",
    "drift_weights",
]


_STAGE_INDEX = pd.Index(STAGES)


def make_optimizer(universe: Universe, methodology: Methodology) -> StageBalancedOptimizer:
    """Compile the stage-balanced problem once for a universe and rulebook (re-solved per review)."""
    f = require_universe(universe).frame
    methodology = resolve_methodology(methodology)
    return _optimizer(f, StaticScreens.build(universe, methodology).country, methodology)


def _optimizer(f: pd.DataFrame, country: pd.Series, m: Methodology) -> StageBalancedOptimizer:
    return StageBalancedOptimizer(
        tickers=f.index,
        stages=list(STAGES),
        issuers=f["issuer"],
        countries=country,
        regulatory=rulebook_limits(m.regulatory),
        solver=m.optimizer.solver,
        fallback_solvers=tuple(m.optimizer.fallback_solvers),
    )


def anchor_weights(
    frame: pd.DataFrame,
    market_cap_usd: pd.Series,
    adtv_usd: pd.Series,
    eligible: pd.Series,
    methodology: Methodology,
) -> pd.Series:
    """Uncapped anchor weights u over the eligible names (zero elsewhere), summing to 1, by ticker.

    ``frame``'s ``purity`` and ``float_factor`` are read as given: pass ``universe.facts_at(cutoff)``
    joined to the frame for a past review (a universe frame holds the values in force now).

    See :func:`~exchina_index.construction.caps.anchor_array` (the array form the review uses).
    """
    idx = frame.index
    ff = frame["float_factor"].to_numpy(dtype=float) if "float_factor" in frame else np.ones(len(idx))
    u = anchor_array(
        methodology,
        market_cap_usd.reindex(idx).to_numpy(dtype=float),
        adtv_usd.reindex(idx).to_numpy(dtype=float),
        frame["purity"].to_numpy(dtype=float),
        ff,
        eligible.reindex(idx).fillna(False).to_numpy(dtype=bool),
    )
    return pd.Series(u, index=idx, name="u")


def name_caps(
    adtv_usd: pd.Series, aum: float, methodology: Methodology, *, single: float | None = None
) -> pd.DataFrame:
    """Per-name caps: ``single`` (the rulebook's, or ``single``), ``liquidity`` = participation ×
    ADTV × days / AUM, and ``cap`` = the smaller, with ``cap_kind`` naming which one it is."""
    single = methodology.caps.single if single is None else single
    liquidity = liquidity_cap_array(adtv_usd.to_numpy(dtype=float), aum, methodology.liquidity)
    cap, kind = name_cap_array(single, liquidity)
    return pd.DataFrame(
        {"single": np.full(len(liquidity), float(single)), "liquidity": liquidity, "cap": cap, "cap_kind": kind},
        index=adtv_usd.index,
    )


def drift_weights(weights: pd.Series, close_usd: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp) -> pd.Series:
    """Weights set at the close of ``start`` drifted with USD prices to the close of ``end``.

    Names without a price at ``end`` (delisted) are dropped and the rest renormalised, as the
    backtest engine does (sold at the last price, proceeds reinvested pro rata).
    """
    prices = close_usd.reindex(columns=weights.index).loc[:end]
    w = drift_array(weights.to_numpy(dtype=float), prices.loc[:start].to_numpy()[-1], prices.to_numpy()[-1])
    return pd.Series(w, index=weights.index)


@dataclass(frozen=True, eq=False)
class ReviewContext:
    """What is fixed across the reviews of one universe, rulebook and market.

    Attributes
    ----------
    universe, market, methodology
        The inputs.
    optimizer
        The compiled optimizer (:func:`make_optimizer`).
    static
        The static screens laid out (:class:`~exchina_index.universe.screens.StaticScreens`).
    panel, size_panel
        Feature panels at the review cut-offs: ADTV over the liquidity window, and over the size
        screens' window (the same panel when the rulebook's two windows agree).
    columns
        Position of each universe listing in the panels (-1: no market data).
    country_caps
        Cap of each country of classification.
    """

    universe: Universe
    market: Any
    methodology: Methodology
    optimizer: StageBalancedOptimizer
    static: StaticScreens
    panel: FeaturePanel
    size_panel: FeaturePanel
    columns: np.ndarray
    country_caps: dict[str, float]


def review_context(
    universe: Universe,
    market: Any,
    methodology: Methodology,
    cutoffs: Any,
    optimizer: StageBalancedOptimizer | None = None,
) -> ReviewContext:
    """Lay out the reviews at ``cutoffs`` (arguments already checked; see :func:`build_weights`).

    Raises
    ------
    DataError
        The rulebook's anchor needs what the market does not hold (see the module docstring).
    """
    m, f = methodology, universe.frame
    _check_anchor_inputs(m, market)
    static = StaticScreens.build(universe, m)
    window, size_window = m.liquidity.adtv_window_sessions, m.size.adtv_window_sessions
    panel = feature_panel(market, cutoffs, window)
    size_panel = panel if size_window == window else feature_panel(market, cutoffs, size_window)
    return ReviewContext(
        universe=universe,
        market=market,
        methodology=m,
        optimizer=optimizer if optimizer is not None else _optimizer(f, static.country, m),
        static=static,
        panel=panel,
        size_panel=size_panel,
        columns=panel.tickers.get_indexer(f.index),
        country_caps={c: m.caps.country_cap(c) for c in sorted(static.country.unique())},
    )


def _check_anchor_inputs(m: Methodology, market: Any) -> None:
    """A :class:`DataError` naming what to add when the anchor needs market caps or ADTV the market
    cannot give (no share count, no volume at all)."""
    method, facts = m.anchor.method, market.facts
    if method == "market_cap_purity" and "shares" not in facts:
        raise DataError(
            f"anchor.method = 'market_cap_purity' weights names by market cap, but the market data "
            f"({market.source}) has no share count for any listing and the universe's reference history "
            "has no shares_outstanding: add a 'shares' column to the price files, or shares_outstanding rows "
            "to reference_history.csv, or set anchor.method = 'equal' (in the rulebook or the backtest "
            "spec's [methodology.anchor])"
        )
    if method == "liquidity" and "volume" not in facts:
        raise DataError(
            f"anchor.method = 'liquidity' weights names by ADTV, but the market data ({market.source}) has "
            "no volume: add a 'volume' column to the price files, or set anchor.method = 'equal' (in the "
            "rulebook or the backtest spec's [methodology.anchor])"
        )


def build_weights(
    universe: Universe,
    market,  # MarketData
    as_of: str | pd.Timestamp,
    methodology: Methodology | None = None,
    aum: float | None = None,
    previous: pd.Series | None = None,
    *,
    optimizer=None,
) -> WeightResult:
    """Weights of the index at a review, from data up to ``as_of`` only.

    Parameters
    ----------
    universe, market
        The tagged universe and its market data (any source).
    as_of
        The review's data cut-off: ``"YYYY-MM-DD"``, a date or a Timestamp (see
        :func:`~exchina_index.dates.parse_date`). Nothing after it is read.
    methodology
        The rulebook (bundled default when ``None``).
    aum
        Fund size in USD for the liquidity caps (``liquidity.default_aum_usd`` when ``None``),
        positive and at most :data:`~exchina_index.rules.methodology.MAX_AUM_USD`.
    previous
        The previous portfolio drifted to the cut-off (a Series of weights by ticker); used for the
        entry and retention buffers, the minimum weight of held names and the turnover penalty.
    optimizer
        A compiled optimizer from :func:`make_optimizer` to re-use across reviews.

    Returns
    -------
    WeightResult

    Raises
    ------
    UniverseError, DataError, MethodologyError, InputError, ReviewDateError
        An argument of the wrong type or value (a date that is not a date, an AUM out of range,
        previous weights that are not finite numbers >= 0 for universe tickers); a DataError too
        when the anchor needs what the market lacks (see the module docstring).
    InfeasibleError
        When the constraints cannot hold even after the rulebook's relaxation ladder.
    """
    from exchina_index.data import require_market

    require_universe(universe)
    m = resolve_methodology(methodology)
    t = parse_date(as_of, "as_of")
    require_market(market, t)
    aum = check_aum(m.liquidity.default_aum_usd if aum is None else aum)
    previous = _check_previous(previous, universe)
    if optimizer is not None and not isinstance(optimizer, StageBalancedOptimizer):
        raise InputError(f"optimizer must come from make_optimizer(), got {type(optimizer).__name__}")
    ctx = review_context(universe, market, m, [t], optimizer)
    prev = None if previous is None else previous.reindex(universe.frame.index, fill_value=0.0)
    return run_review(ctx, 0, aum, prev)


def run_review(ctx: ReviewContext, k: int, aum: float, previous: pd.Series | None) -> WeightResult:
    """Review ``k`` of ``ctx`` (its cut-off ``ctx.panel.cutoffs[k]``) for a fund of ``aum``.

    ``previous`` is the previous portfolio drifted to the cut-off, by ticker in the universe's
    order (or None at the first review).
    """
    m, idx = ctx.methodology, ctx.universe.frame.index
    t = ctx.panel.cutoffs[k]
    incumbent = np.zeros(len(idx), dtype=bool) if previous is None else previous.to_numpy(dtype=float) > 0
    el = review_eligibility(
        ctx.static, ctx.size_panel, ctx.panel, k, ctx.columns, incumbent, m, idx, ctx.universe.decisions
    )
    screens, eligible, mcap, adtv, skip_adtv = el.screens, el.eligible, el.mcap, el.adtv, el.skip_adtv
    if not eligible.any():
        raise InfeasibleError(nobody_eligible(t, el.reason))
    u, by_stage = _anchor_and_stages(m, screens.facts, mcap, adtv, eligible)
    anchor = pd.Series(u, index=idx, name="u")
    exposure = pd.DataFrame(by_stage.T, index=idx, columns=_STAGE_INDEX)
    purity = pd.Series(screens.facts["purity"], index=idx, name="purity")
    ladder = solve_with_ladder(_ladder_problem(ctx, t, aum, el, anchor, exposure, purity, previous))
    res = ladder.result
    w = _on(res.weights, idx, 0.0)
    held = w > 0

    def series(values: np.ndarray, name: str | None, dtype: type | None = None) -> pd.Series:
        return pd.Series(values, index=idx, name=name, dtype=dtype)

    weight = series(w, "weight")
    names = ReviewNames(
        eligible=series(eligible, "eligible"),
        reason=series(el.reason, "reason", str),
        flags=series(screens.flags, "flags", str),
        country=ctx.static.country,
        cn_stake=series(screens.cn_stake, "cn_stake"),
        detail=series(el.detail, "detail", str),
        issuer=ctx.universe.frame["issuer"],
        exposure=exposure,
        market_cap_usd=series(mcap, "market_cap_usd"),
        adtv_usd=series(adtv, "adtv_usd"),
        anchor=anchor,
        liquidity_cap=series(_unknown_if(skip_adtv, liquidity_cap_array(adtv, aum, m.liquidity)), "liquidity"),
        cap=series(ladder.cap, "cap"),
        cap_kind=series(ladder.cap_kind, "cap_kind"),
        weight=weight,
        binding=series(_binding(ladder, idx, held), None),
        days_to_trade=series(
            _unknown_if(skip_adtv, days_to_trade_array(w, aum, adtv, m.liquidity.participation), w), "days_to_trade"
        ),
    )
    stages = stage_table(m, by_stage, purity.to_numpy(), u, w)
    report = ReviewReport(
        as_of=t,
        aum=aum,
        names=names,
        stages=stages,
        # the optimizer's totals (one computation), labelled as the record's
        countries=pd.Series(
            res.country_totals.to_numpy(), index=res.country_totals.index.rename("country"), name="weight"
        ),
        issuers=res.issuer_totals,
        binding_constraints=tuple(res.binding_constraints),
        solver=res.solver,
        status=res.status,
        solve_seconds=res.solve_seconds,
        fallback_used=res.fallback_used,
        relaxations=ladder.relaxations,
        capacity_aum=ladder.capacity,
        days_to_trade=_capacity_days(idx[held], w[held], adtv[held], m, skip_adtv),
        methodology_version=m.version,
        data_source=ctx.market.source,
        synthetic=bool(ctx.market.synthetic),
        regulatory=ctx.optimizer.regulatory,
        purity=integrity_figures(m, purity.to_numpy(), stages, w),
        stage_band=ladder.tolerance,
        single_cap=ladder.single,
        governance=el.governance,
        decisions=el.decisions,
        reserve=el.reserve,
    )
    return WeightResult(weights=weight.copy(), report=report)


def _ladder_problem(
    ctx: ReviewContext,
    t: pd.Timestamp,
    aum: float,
    el: Eligibility,
    anchor: pd.Series,
    exposure: pd.DataFrame,
    purity: pd.Series,
    previous: pd.Series | None,
) -> LadderProblem:
    """The review's problem for the relaxation ladder (the purity rules of :mod:`.integrity` included)."""
    m, idx, eligible = ctx.methodology, ctx.universe.frame.index, el.eligible
    return LadderProblem(
        optimizer=ctx.optimizer,
        methodology=m,
        as_of=t,
        aum=aum,
        anchor=anchor,
        exposure=exposure,
        adtv=np.full(len(idx), np.inf) if el.skip_adtv else el.adtv,  # inf: no liquidity limit
        eligible=eligible,
        previous=previous,
        country_caps=ctx.country_caps,
        issuers=ctx.universe.frame["issuer"],
        countries=ctx.static.country,
        stage_basis=stage_basis(m, purity, eligible),
        limits=purity_limits(m, purity),
        purity=purity,
    )


def _anchor_and_stages(
    m: Methodology, facts: dict[str, np.ndarray], mcap: np.ndarray, adtv: np.ndarray, eligible: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The anchor weights and the (stage x ticker) exposures, from the float factor, purity and stage
    split in force at the cut-off (``facts``)."""
    u = anchor_array(m, mcap, adtv, facts["purity"], facts["float_factor"], eligible)
    return u, np.vstack([facts[s] for s in STAGES])


def _binding(ladder: LadderResult, idx: pd.Index, held: np.ndarray) -> np.ndarray:
    """The limit each held name sits at: ``"cap:<kind>"``, ``"min"`` or ``""``."""
    at_cap = _on(ladder.result.binding["at_cap"], idx, False) & held
    at_min = _on(ladder.result.binding["at_min"], idx, False) & held
    return np.where(at_cap, np.char.add("cap:", ladder.cap_kind), np.where(at_min, "min", ""))


def _on(values: pd.Series, index: pd.Index, fill: object) -> np.ndarray:
    """``values`` (an optimizer result's column) as an array on ``index``; no reindex when already aligned."""
    return values.to_numpy() if values.index.is_(index) else values.reindex(index, fill_value=fill).to_numpy()


def _check_previous(previous: object, universe: Universe) -> pd.Series | None:
    """``previous`` as a float Series of finite weights in [0, 1] on universe tickers (or None)."""
    if previous is None:
        return None
    if not isinstance(previous, pd.Series):
        raise InputError(
            f"previous must be a pandas Series of weights by ticker (or None), got {type(previous).__name__}"
        )
    if previous.dtype == np.float64 and previous.index.equals(universe.frame.index):  # fast path: drift_weights
        v = previous.to_numpy()
        if np.isfinite(v).all() and (v >= 0).all() and (v <= 1 + 1e-6).all():
            return previous
    if not previous.index.is_unique:
        raise InputError(f"previous: duplicate ticker '{previous.index[previous.index.duplicated()][0]}'")
    unknown = previous.index.difference(universe.frame.index)
    if len(unknown):
        raise InputError(f"previous: ticker(s) not in the universe: {', '.join(map(str, unknown[:10]))}")
    values = pd.to_numeric(previous, errors="coerce")
    v = values.to_numpy(dtype=float)
    bad = values.index[~np.isfinite(v) | (v < 0) | (v > 1 + 1e-6)]
    if len(bad):
        raise InputError(
            f"previous: weights must be finite fractions of the portfolio between 0 and 1; bad value "
            f"for {', '.join(map(str, bad[:10]))}"
        )
    return values.astype(float)


def _unknown_if(unknown: bool, values: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """``values``, or NaN (not computed: the market has no volume) where ``weights`` is non-zero (everywhere
    without ``weights``), 0 elsewhere."""
    if not unknown:
        return values
    return np.full(len(values), np.nan) if weights is None else np.where(weights != 0, np.nan, 0.0)


def _capacity_days(
    held: pd.Index, weights: np.ndarray, adtv: np.ndarray, m: Methodology, unknown: bool
) -> pd.DataFrame:
    """Days to trade each held name at the rulebook's capacity AUM levels (one column per level; NaN
    when the market has no volume)."""
    levels = m.liquidity.capacity_aum_levels_usd
    if not levels:
        return pd.DataFrame(index=held)
    days = [
        _unknown_if(unknown, days_to_trade_array(weights, lvl, adtv, m.liquidity.participation), weights)
        for lvl in levels
    ]
    return pd.DataFrame(np.column_stack(days), index=held, columns=[f"{lvl / 1e6:,.0f}M" for lvl in levels])
