"""Benchmarks for tearsheets: the unscreened cap-weighted universe, or a ticker's own returns."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from exchina_index.errors import DataError
from exchina_index.universe.loading import Universe

__all__ = [
    "universe_cap_weighted_weights",
    "universe_cap_weighted_returns",
    "spec_benchmark_returns",
    "spec_benchmark_weights",
]


def _previous_caps(universe: Universe, market) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The previous close's USD market cap of every primary listing with a total return that day
    (NaN otherwise), and those total returns: the one computation behind the benchmark's weights
    and its returns."""
    primary = universe.frame.index[universe.frame["primary"]]
    cap = market.market_cap_usd().reindex(columns=primary)
    ret = market.returns("total").reindex(columns=primary)
    weight = cap.shift(1)
    return weight.where(ret.notna()), ret


def universe_cap_weighted_weights(universe: Universe, market, start=None, end=None) -> pd.DataFrame:
    """The universe_cap_weighted benchmark's weights at the start of each day (date × primary ticker).

    Row ``t`` holds the weights that earn the day-``t`` total returns: each primary listing's
    market cap at the close ``t - 1`` over their sum, among the listings with a return on ``t``
    (0 for the others). Rows are the dates of :func:`universe_cap_weighted_returns`, and
    ``(weights * market.returns("total")).sum(axis=1)`` gives its returns to rounding (the returns
    divide by the cap total once, after the sum, as they always have).

    Examples
    --------
    >>> import exchina_index as xi
    >>> u = xi.load_universe()
    >>> w = universe_cap_weighted_weights(u, xi.load_market_data(u, source="demo"), "2024-01-01", "2024-01-31")
    >>> bool(((w.sum(axis=1) - 1.0).abs() < 1e-12).all())
    True
    """
    weight = _previous_caps(universe, market)[0].loc[start:end]
    total = weight.sum(axis=1, min_count=1)
    keep = total > 0  # the dates the returns keep (their dropna drops no cap at all, and 0/0)
    return weight.loc[keep].div(total.loc[keep], axis=0).fillna(0.0)


def universe_cap_weighted_returns(universe: Universe, market, start=None, end=None) -> pd.Series:
    """Daily USD total returns of the whole universe weighted by the previous close's market cap.

    No screens and no caps: every primary listing alive that day (China-controlled names
    included), so the comparison shows what the ex-China and stage-balancing rules cost or add.
    Listings without a share count are left out (their cap is unknown). The weights are
    :func:`universe_cap_weighted_weights`.
    """
    weight, ret = _previous_caps(universe, market)
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
        _require_shares(market)
        return universe_cap_weighted_returns(universe, market, start=start, end=end)
    if spec.benchmark_kind == "ticker":
        from exchina_index.data import load_benchmark_returns

        assert spec.benchmark_ticker is not None  # the spec loader requires a ticker for this kind
        return load_benchmark_returns(spec.benchmark_ticker, market, cache_dir=cache_dir, deadline_s=deadline_s)
    return None


def spec_benchmark_weights(
    spec: Any, universe: Universe, market, *, start: Any = None, end: Any = None
) -> pd.DataFrame | None:
    """The daily weights of a backtest spec's ``[benchmark]``, for attribution; ``None`` when it
    has no holdings (a ticker such as REMX on Yahoo is a return series only, and ``"none"``).

    Raises
    ------
    DataError
        ``universe_cap_weighted`` on data without share counts.
    """
    if spec.benchmark_kind != "universe_cap_weighted":
        return None
    _require_shares(market)
    return universe_cap_weighted_weights(universe, market, start=start, end=end)


def _require_shares(market) -> None:
    """The universe_cap_weighted benchmark weights by market cap: the data must have share counts."""
    if "shares" not in market.facts:  # prices-only data: no share count, so no market cap to weight by
        raise DataError(
            "the universe_cap_weighted benchmark needs market caps, and the data has no share counts: "
            "add a shares column or shares_outstanding rows in reference_history.csv, or set the spec's "
            '[benchmark] kind = "none"'
        )
