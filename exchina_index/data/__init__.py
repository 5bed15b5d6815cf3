"""Market data: one entry point, three sources, one clean :class:`MarketData`.

>>> import exchina_index as xi
>>> market = xi.load_market_data(xi.load_universe(), source="demo")
>>> market.synthetic
True
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import DataError
from .demo import DEMO_LABEL
from .market import MarketData

__all__ = ["load_market_data", "load_benchmark_returns", "MarketData", "DEMO_LABEL", "SOURCES"]

#: The named sources; anything else must be a path to a CSV folder or file.
SOURCES: tuple[str, ...] = ("demo", "yahoo")


def load_market_data(
    universe: Any,
    source: str | Path = "demo",
    start: Any = None,
    end: Any = None,
    *,
    cache_dir: str | Path | None = None,
    **kwargs: Any,
) -> MarketData:
    """Load market data for a universe.

    Parameters
    ----------
    universe
        A :class:`~exchina_index.universe.Universe` (only ``.frame`` is read) or its frame.
    source
        ``"demo"``: the embedded synthetic market (offline, deterministic, ``synthetic=True``);
        ``"yahoo"``: Yahoo Finance through yfinance with a local cache (``cache_dir``);
        a path: a folder of per-ticker CSV files or one long CSV file
        (see :mod:`exchina_index.data.csv_source` for the columns).
    start, end
        Date range (inclusive); ``None`` = everything the source has (the demo: 2015-01-01 to
        2026-09-30).
    cache_dir
        Cache folder for ``"yahoo"`` (ignored by the other sources).
    **kwargs
        Passed to the source's loader.

    Raises
    ------
    DataError
        An unknown source, or invalid data (naming the file, line, ticker and date).
    """
    if isinstance(source, str) and source == "demo":
        from .demo import load_demo

        return load_demo(universe, start, end, **kwargs)
    if isinstance(source, str) and source == "yahoo":
        from .yahoo import load_yahoo

        return load_yahoo(universe, start, end, cache_dir=cache_dir, **kwargs)
    path = Path(source)
    if path.exists():
        from .csv_source import load_csv

        return load_csv(universe, path, start, end, **kwargs)
    raise DataError(
        f"unknown market data source '{source}': use 'demo', 'yahoo', or the path of a folder of CSV "
        "files or of one CSV file (it does not exist)"
    )


def load_benchmark_returns(ticker: str, market: MarketData, *, cache_dir: str | Path | None = None,
                           **kwargs: Any) -> "pd.Series":
    """Daily USD total returns of a US-listed benchmark (e.g. the REMX ETF) over ``market``'s range.

    Only the ``"yahoo"`` source can fetch a ticker outside the universe (through the same cache);
    ``kwargs`` go to :func:`~exchina_index.data.yahoo.load_yahoo`.
    """
    import pandas as pd

    from ..universe import Universe
    from .yahoo import load_yahoo

    if market.source != "yahoo":
        raise DataError(
            f"benchmark '{ticker}' is fetched from Yahoo Finance: run with --source yahoo, or use "
            "benchmark kind 'universe_cap_weighted' with other data sources"
        )
    row = {
        "name": ticker, "issuer": ticker.lower(), "primary": True, "domicile": "US", "hq": "US",
        "exchange": "XNYS", "currency": "USD", "price_unit": "USD", "lot_size": 1, "float_factor": 1.0,
        "mining": 1.0, "refining": 0.0, "manufacturing": 0.0, "purity": 1.0,
        "listed_since": pd.Timestamp("1990-01-01"), "delisted": pd.NaT, "activities": "mining",
        "source": "benchmark", "notes": "",
    }
    frame = pd.DataFrame([row], index=pd.Index([ticker], name="ticker"))
    links = pd.DataFrame(columns=["ticker", "counterparty", "kind", "stake", "from", "to", "source", "notes"])
    bench = load_yahoo(Universe(frame=frame, links=links), market.start, market.end, cache_dir=cache_dir, **kwargs)
    return bench.returns("total")[ticker].dropna().rename(ticker)
