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

__all__ = ["load_market_data", "MarketData", "DEMO_LABEL", "SOURCES"]

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
