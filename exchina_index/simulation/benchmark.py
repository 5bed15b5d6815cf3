"""Benchmarks for tearsheets: the unscreened cap-weighted universe, or a ticker's own returns."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from exchina_index.errors import DataError
from exchina_index.universe.loading import Universe

__all__ = ["universe_cap_weighted_returns", "spec_benchmark_returns"]


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


def spec_benchmark_returns(
    spec: Any,
    universe: Universe,
    market,
    *,
    start: Any = None,
    end: Any = None,
    cache_dir: Path | None = None,
    deadline_s: float | None = None,
) -> pd.Series | None:
    """The daily returns of a backtest spec's ``[benchmark]`` (``None`` when it names none).

    Raises
    ------
    DataError
        ``universe_cap_weighted`` on data without share counts; a ticker benchmark without the
        Yahoo source (from :func:`~exchina_index.data.load_benchmark_returns`).
    """
    if spec.benchmark_kind == "universe_cap_weighted":
        if "shares" not in market.facts:  # prices-only data: no share count, so no market cap to weight by
            raise DataError(
                "the universe_cap_weighted benchmark needs market caps, and the data has no share counts: "
                "add a shares column or shares_outstanding rows in reference_history.csv, or set the spec's "
                '[benchmark] kind = "none"'
            )
        return universe_cap_weighted_returns(universe, market, start=start, end=end)
    if spec.benchmark_kind == "ticker":
        from exchina_index.data import load_benchmark_returns

        assert spec.benchmark_ticker is not None  # the spec loader requires a ticker for this kind
        return load_benchmark_returns(spec.benchmark_ticker, market, cache_dir=cache_dir, deadline_s=deadline_s)
    return None
