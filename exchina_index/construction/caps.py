"""Anchors and per-name limits of a review as array operations (arrays over the universe's names).

* :func:`anchor_array`: the uncapped anchor weights u;
* :func:`liquidity_cap_array`: participation × ADTV × days / AUM, at most 1 (the liquidity cap);
* :func:`liquidity_notional`: participation × ADTV × days, the USD a name can absorb (capacity LP);
* :func:`days_to_trade_array`: weight × AUM / (participation × ADTV);
* :func:`drift_array`: weights drifted with prices from one close to another.

The pandas functions of :mod:`exchina_index.construction.review` (``anchor_weights``,
``name_caps``, ``drift_weights``) are thin labelled wrappers of these.

An ADTV of ``inf`` means "no liquidity limit" (the review passes it for a market without volumes,
whose liquidity caps are skipped): its notional stays ``inf`` and its liquidity cap is 1. A NaN
ADTV (unknown) can absorb nothing (notional 0, cap 0).
"""

from __future__ import annotations

import numpy as np

from exchina_index.errors import InfeasibleError
from exchina_index.rules.methodology import Liquidity, Methodology

__all__ = [
    "anchor_array",
    "liquidity_cap_array",
    "name_cap_array",
    "liquidity_notional",
    "days_to_trade_array",
    "drift_array",
]


def anchor_array(
    method: Methodology,
    market_cap_usd: np.ndarray,
    adtv_usd: np.ndarray,
    purity: np.ndarray,
    float_factor: np.ndarray,
    eligible: np.ndarray,
) -> np.ndarray:
    """Anchor weights u over the eligible names (0 elsewhere), summing to 1.

    ``market_cap_purity``: market cap (× float factor when ``anchor.use_float_factor``) × purity;
    ``liquidity``: ADTV × purity; ``equal``: 1/n.

    >>> import numpy as np, exchina_index as xi
    >>> anchor_array(xi.load_methodology(), np.array([100.0, 300.0, 50.0]), np.zeros(3), np.ones(3), np.ones(3),
    ...              np.array([True, True, False])).tolist()
    [0.25, 0.75, 0.0]
    """
    kind = method.anchor.method
    if kind == "equal":
        raw = np.ones(len(purity))
    elif kind == "liquidity":
        raw = adtv_usd * purity
    else:
        cap = market_cap_usd * float_factor if method.anchor.use_float_factor else market_cap_usd
        raw = cap * purity
    raw = np.where(eligible, raw, 0.0)
    raw = np.where(np.isnan(raw), 0.0, raw).clip(min=0.0)
    total = raw.sum()
    if total <= 0:
        needs = {"market_cap_purity": "market cap x purity", "liquidity": "ADTV x purity"}.get(kind, "")
        why = f" (anchor.method = '{kind}' weights each eligible name by its {needs})" if needs else ""
        raise InfeasibleError(
            f"no eligible name has a positive anchor weight{why}; check the screens and the market data"
        )
    return raw / total


def liquidity_cap_array(adtv_usd: np.ndarray, aum: float, liquidity: Liquidity) -> np.ndarray:
    """Liquidity cap of each name at ``aum``: participation × ADTV × days / AUM, at most 1 (no ADTV: 0)."""
    return np.minimum(liquidity_notional(adtv_usd, liquidity) / aum, 1.0)


def name_cap_array(single: float, liquidity: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-name cap, the smaller of the single-name cap and the liquidity cap, and which one it is
    (``"single"`` or ``"liquidity"``; ``single`` on a tie)."""
    return np.minimum(single, liquidity), np.where(liquidity < single, "liquidity", "single")


def liquidity_notional(adtv_usd: np.ndarray, liquidity: Liquidity) -> np.ndarray:
    """USD each name can absorb within the liquidity rule: participation × ADTV × days (no ADTV: 0;
    an ``inf`` ADTV, no liquidity limit, stays ``inf``)."""
    return liquidity.participation * np.nan_to_num(adtv_usd, nan=0.0, posinf=np.inf) * liquidity.days_to_trade


def days_to_trade_array(weights: np.ndarray, aum: float, adtv_usd: np.ndarray, participation: float) -> np.ndarray:
    """Days to trade each position, weight × AUM / (participation × ADTV): 0 for a zero weight, inf for a
    held name without ADTV."""
    with np.errstate(divide="ignore", invalid="ignore"):
        days = (weights * aum) / (participation * adtv_usd)
    days = np.where(adtv_usd > 0, days, np.inf)
    return np.where(weights != 0, days, 0.0)


def drift_array(weights: np.ndarray, start_price: np.ndarray, end_price: np.ndarray) -> np.ndarray:
    """Weights set at ``start_price`` drifted to ``end_price`` (USD closes, same order).

    A name without an end price (delisted) is sold and the proceeds spread pro rata over the rest,
    as the backtest engine does; the result sums to 1 (all zeros when nothing is left).
    """
    held = np.flatnonzero(weights > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        grown = weights[held] * end_price[held] / start_price[held]
    grown = np.where(np.isnan(grown), 0.0, grown)
    total = grown.sum()  # over the held names only, in order (the sum's rounding depends on it)
    out = np.zeros(len(weights))
    out[held] = grown / total if total > 0 else grown
    return out
