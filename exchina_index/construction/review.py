"""One index review: screens → anchor weights → caps → stage-balanced weights.

Everything here is computed from data up to the review's cut-off only: every market view is read
``as_of`` the cut-off (the views never read later rows; the no-look-ahead tests alter later data).

The steps, each a small function:

1. :func:`~exchina_index.construction.screens.screen` with the size and liquidity screens (point in time);
2. :func:`anchor_weights`: the uncapped weights u (float-adjusted market cap × purity by default);
3. :func:`name_caps`: per-name caps, the smaller of the single-name cap and the liquidity cap
   ``participation × ADTV × days / AUM``;
4. the compiled optimizer (:class:`~exchina_index.construction.optimizer.stage_balanced.StageBalancedOptimizer`) under the stage,
   issuer, country and regulatory constraints, with the rulebook's relaxation ladder when the
   problem is infeasible (every step taken is recorded in the report).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from exchina_index.dates import parse_date
from exchina_index.errors import InfeasibleError, InputError, ReviewDateError
from exchina_index.rules.methodology import STAGES, Methodology, check_aum, resolve_methodology
from exchina_index.construction.screens import country_of_classification, screen
from exchina_index.universe.loading import Universe, require_universe
from exchina_index.construction.compliance import rulebook_limits
from exchina_index.construction.optimizer import StageBalancedOptimizer, days_to_trade, max_feasible_aum
from exchina_index.construction.record import ReviewNames, ReviewReport, WeightResult

__all__ = [
    "WeightResult",
    "ReviewReport",
    "build_weights",
    "make_optimizer",
    "anchor_weights",
    "name_caps",
    "drift_weights",
    "relaxation_ladder",
]


def make_optimizer(universe: Universe, methodology: Methodology) -> StageBalancedOptimizer:
    """Compile the stage-balanced problem once for a universe and rulebook (re-solved per review)."""
    f = require_universe(universe).frame
    methodology = resolve_methodology(methodology)
    limits = rulebook_limits(methodology.regulatory)
    return StageBalancedOptimizer(
        tickers=list(f.index), stages=list(STAGES), issuers=f["issuer"],
        countries=country_of_classification(f, methodology), regulatory=limits,
        solver=methodology.optimizer.solver, fallback_solvers=tuple(methodology.optimizer.fallback_solvers),
    )


def anchor_weights(
    frame: pd.DataFrame, market_cap_usd: pd.Series, adtv_usd: pd.Series, eligible: pd.Series,
    methodology: Methodology,
) -> pd.Series:
    """Uncapped anchor weights u over the eligible names (zero elsewhere), summing to 1.

    ``market_cap_purity``: market cap (× float factor when ``anchor.use_float_factor``) × purity
    (the iShares XETM exposure-score precedent); ``liquidity``: ADTV × purity; ``equal``: 1/n.
    """
    method = methodology.anchor.method
    if method == "equal":
        raw = pd.Series(1.0, index=frame.index)
    elif method == "liquidity":
        raw = adtv_usd.reindex(frame.index) * frame["purity"]
    else:
        cap = market_cap_usd.reindex(frame.index)
        if methodology.anchor.use_float_factor:
            cap = cap * frame["float_factor"]
        raw = cap * frame["purity"]
    raw = raw.where(eligible.reindex(frame.index).fillna(False).astype(bool), 0.0).fillna(0.0).clip(lower=0.0)
    total = raw.sum()
    if total <= 0:
        raise InfeasibleError("no eligible name has a positive anchor weight; check the screens and the market data")
    return (raw / total).rename("u")


def name_caps(adtv_usd: pd.Series, aum: float, methodology: Methodology, *, single: float | None = None) -> pd.DataFrame:
    """Per-name caps: ``single`` (the rulebook's, or ``single``), ``liquidity`` = participation ×
    ADTV × days / AUM, and ``cap`` = the smaller, with ``cap_kind`` naming which one it is."""
    liq = methodology.liquidity
    single = pd.Series(methodology.caps.single if single is None else single, index=adtv_usd.index)
    liquidity = (liq.participation * adtv_usd.fillna(0.0) * liq.days_to_trade / aum).clip(upper=1.0)
    cap = np.minimum(single, liquidity)
    kind = np.where(liquidity < single, "liquidity", "single")
    return pd.DataFrame({"single": single, "liquidity": liquidity, "cap": cap, "cap_kind": kind})


def drift_weights(weights: pd.Series, close_usd: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp) -> pd.Series:
    """Weights set at the close of ``start`` drifted with USD prices to the close of ``end``.

    Names without a price at ``end`` (delisted) are dropped and the rest renormalised, as the
    backtest engine does (sold at the last price, proceeds reinvested pro rata).
    """
    w = weights[weights > 0]
    prices = close_usd.loc[:end, w.index]
    p0 = prices.loc[:start].iloc[-1]
    p1 = prices.iloc[-1]  # NaN once a listing has no price any more (close_usd is filled only inside its life)
    grown = (w * p1 / p0).fillna(0.0)
    total = grown.sum()
    out = grown / total if total > 0 else grown
    return out.reindex(weights.index, fill_value=0.0)


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
        previous weights that are not finite numbers >= 0 for universe tickers).
    InfeasibleError
        When the constraints cannot hold even after the rulebook's relaxation ladder.
    """
    from exchina_index.data import require_market

    require_universe(universe)
    require_market(market)
    m = resolve_methodology(methodology)
    t = parse_date(as_of, "as_of")
    aum = check_aum(m.liquidity.default_aum_usd if aum is None else aum)
    previous = _check_previous(previous, universe)
    if optimizer is not None and not isinstance(optimizer, StageBalancedOptimizer):
        raise InputError(f"optimizer must come from make_optimizer(), got {type(optimizer).__name__}")
    if not market.start <= t <= market.end:
        raise ReviewDateError(
            f"cut-off {t.date()} is outside the market data ({market.start.date()} to {market.end.date()}); "
            "choose a date inside it or load a longer history"
        )
    f = universe.frame
    held = None if previous is None else previous[previous > 0].index
    # every market view below takes the cut-off and reads nothing after it (point in time)
    elig = screen(universe, t, m, market=market, previous=held)
    snap = market.snapshot(t, window=m.liquidity.adtv_window_sessions)
    mcap = snap["market_cap_usd"].reindex(f.index)
    adtv = snap["adtv_usd"].reindex(f.index)
    u = anchor_weights(f, mcap, adtv, elig["eligible"], m)
    exposure = f[list(STAGES)]
    prev = None if previous is None else previous.reindex(f.index, fill_value=0.0)
    opt = optimizer if optimizer is not None else make_optimizer(universe, m)
    country = elig["country"]
    country_caps = {c: m.caps.country_cap(c) for c in sorted(country.unique())}

    res, caps, relaxations, capacity = _solve_with_ladder(
        opt, m, t, aum, u, exposure, adtv, elig, prev, f["issuer"], country_caps)
    w = res.weights.reindex(f.index).fillna(0.0)
    binding = np.where(
        res.binding["at_cap"].reindex(f.index, fill_value=False) & (w > 0),
        "cap:" + caps["cap_kind"].astype(str), np.where(res.binding["at_min"].reindex(f.index, fill_value=False) & (w > 0), "min", ""),
    )
    names = ReviewNames(
        eligible=elig["eligible"], reason=elig["reason"], flags=elig["flags"], country=country,
        cn_stake=elig["cn_stake"], detail=elig["detail"], issuer=f["issuer"], exposure=exposure,
        market_cap_usd=mcap, adtv_usd=adtv, anchor=u, liquidity_cap=name_caps(adtv, aum, m)["liquidity"],
        cap=caps["cap"], cap_kind=caps["cap_kind"], weight=w, binding=pd.Series(binding, index=f.index),
        days_to_trade=days_to_trade(w, aum, adtv, m.liquidity.participation),
    )
    stages = pd.DataFrame({
        "target": pd.Series(m.stages.target_map),
        "before": exposure.T @ u,
        "after": exposure.T @ w,
    }).loc[list(STAGES)]
    report = ReviewReport(
        as_of=t, aum=aum, names=names, stages=stages,
        countries=w.groupby(country).sum().sort_index(), issuers=w.groupby(f["issuer"]).sum().sort_index(),
        binding_constraints=tuple(res.binding_constraints), solver=res.solver, status=res.status,
        solve_seconds=res.solve_seconds, fallback_used=res.fallback_used, relaxations=relaxations,
        capacity_aum=capacity, days_to_trade=_days_to_trade(w, adtv, m), methodology_version=m.version,
        data_source=market.source, synthetic=bool(market.synthetic), regulatory=opt.regulatory,
    )
    return WeightResult(weights=w.rename("weight"), report=report)


def _check_previous(previous: object, universe: Universe) -> pd.Series | None:
    """``previous`` as a float Series of finite weights in [0, 1] on universe tickers (or None)."""
    if previous is None:
        return None
    if not isinstance(previous, pd.Series):
        raise InputError(f"previous must be a pandas Series of weights by ticker (or None), got "
                         f"{type(previous).__name__}")
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
        raise InputError(f"previous: weights must be finite fractions of the portfolio between 0 and 1; bad value "
                         f"for {', '.join(map(str, bad[:10]))}")
    return values.astype(float)


def _solve_with_ladder(opt, m: Methodology, t: pd.Timestamp, aum: float, u: pd.Series, exposure: pd.DataFrame,
                       adtv: pd.Series, elig: pd.DataFrame, prev: pd.Series | None, issuers: pd.Series,
                       country_caps: dict[str, float]):
    """Solve the review, walking the relaxation ladder until a step is feasible.

    Returns the optimizer's result, the per-name caps used, the relaxation steps taken and the
    capacity of the rulebook as written.
    """
    liq = m.liquidity
    notional = (liq.participation * adtv.fillna(0.0) * liq.days_to_trade).where(elig["eligible"], 0.0)
    relaxations: list[str] = []
    failures: list[str] = []
    capacity = None
    for step, tolerance, single in relaxation_ladder(m):
        if step is not None:
            relaxations.append(step)
        issuer_cap = max(m.caps.issuer, single)
        cap_aum = _max_aum(exposure, m, single, notional, elig, tolerance, issuers, issuer_cap, country_caps)
        capacity = cap_aum if capacity is None else capacity  # of the rulebook as written
        if cap_aum <= 0:
            failures.append(f"{step or 'as written'}: no portfolio meets the caps and stage targets at any AUM")
            continue
        if cap_aum < aum and not m.relaxation.reduce_liquidity_notional:
            failures.append(f"{step or 'as written'}: capacity ${cap_aum:,.0f} is below the AUM")
            continue
        res = None
        for aum_used in _liquidity_notionals(aum, cap_aum, m):
            caps = name_caps(adtv, aum_used, m, single=single)
            cap = caps["cap"].where(elig["eligible"], 0.0)
            lower = None
            if prev is not None and m.caps.min_weight_held > 0:
                lower = np.minimum(cap, m.caps.min_weight_held).where((prev > 0) & elig["eligible"], 0.0)
            try:
                res = opt.solve(
                    anchor=u, stage_exposure=exposure, targets=m.stages.target_map, caps=cap, previous=prev,
                    stage_tolerance=tolerance, issuer_cap=issuer_cap, country_caps=country_caps, min_weight=lower,
                    turnover_penalty=m.optimizer.turnover_penalty if prev is not None else 0.0,
                )
                break
            except InfeasibleError as exc:
                failures.append(f"{step or 'as written'} at ${aum_used:,.0f}: {exc}")
        if res is None:
            continue
        if aum_used < aum:
            relaxations.append(f"liquidity caps computed at ${aum_used:,.0f} instead of ${aum:,.0f}"
                               + (" (the capacity)" if aum_used >= cap_aum * 0.99 else ""))
        return res, caps, tuple(relaxations), capacity
    raise InfeasibleError(
        f"review {t.date()}: infeasible even after the relaxation ladder; "
        + "; ".join(failures[-2:]) + ". Widen relaxation steps in the rulebook or check the eligible names"
    )


def relaxation_ladder(m: Methodology):
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


def _liquidity_notionals(aum: float, capacity: float, m: Methodology):
    """AUMs at which to compute the liquidity caps, in order: the fund's AUM when it is within the
    capacity, else the capacity; then, when a regulatory rule is active (the capacity LP cannot see
    it) and the rulebook allows relaxing the notional, successive halvings."""
    level = aum if aum <= capacity else capacity * (1.0 - 1e-3)
    yield level
    if m.relaxation.reduce_liquidity_notional and m.regulatory.active is not None:
        for k in range(1, 7):
            yield level / 2**k


def _max_aum(exposure, m: Methodology, single, notional, elig, tolerance, issuers, issuer_cap, country_caps) -> float:
    """Largest AUM at which the caps and stage band are feasible (0 when never, inf when always)."""
    static = pd.Series(single, index=exposure.index).where(elig["eligible"], 0.0)
    try:
        return float(max_feasible_aum(
            exposure, m.stages.target_map, static, notional, stage_tolerance=tolerance, issuers=issuers,
            issuer_cap=issuer_cap, countries=elig["country"], country_caps=country_caps, eligible=elig["eligible"],
        ))
    except InfeasibleError:
        return 0.0


def _days_to_trade(w: pd.Series, adtv: pd.Series, m: Methodology) -> pd.DataFrame:
    """Days to trade each held name at the rulebook's capacity AUM levels."""
    held = w[w > 0]
    return pd.DataFrame({
        f"{lvl / 1e6:,.0f}M": days_to_trade(held, lvl, adtv, m.liquidity.participation)
        for lvl in m.liquidity.capacity_aum_levels_usd
    })
