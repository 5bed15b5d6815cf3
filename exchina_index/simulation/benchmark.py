"""Benchmarks for tearsheets: the unscreened cap-weighted universe, or a ticker's own returns."""

from __future__ import annotations

import pandas as pd

from exchina_index.universe.loading import Universe

__all__ = ["universe_cap_weighted_returns"]


def universe_cap_weighted_returns(universe: Universe, market, start=None, end=None) -> pd.Series:
    """Daily USD total returns of the whole universe weighted by the previous close's market cap.

    No screens and no caps: every primary listing alive that day (China-controlled names
    included), so the comparison shows what the ex-China and stage-balancing rules cost or add.
    Listings without a share count are left out (their cap is unknown).
    """
    primary = universe.frame.index[universe.frame["primary"]]
    cap = market.market_cap_usd().reindex(columns=primary)
    ret = market.returns("total").reindex(columns=primary)
    weight = cap.shift(1)
    weight = weight.where(ret.notna())
    out = (weight * ret).sum(axis=1, min_count=1) / weight.sum(axis=1, min_count=1)
    out = out.loc[start:end].dropna()
    return out.rename("universe_cap_weighted")
