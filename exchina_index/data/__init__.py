"""Market data: one entry point, three sources, one clean :class:`MarketData`.

>>> import exchina_index as xi
>>> market = xi.load_market_data(xi.load_universe(), source="demo")
>>> market.synthetic
True
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from exchina_index.data.demo import DEMO_LABEL
from exchina_index.data.market import MarketData
from exchina_index.dates import parse_date
from exchina_index.errors import DataError, ReviewDateError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["load_market_data", "load_benchmark_returns", "require_market", "MarketData", "DEMO_LABEL", "SOURCES"]

#: The named sources; anything else must be a path to a CSV folder or file.
SOURCES: tuple[str, ...] = ("demo", "yahoo")
#: Universe columns every source reads.
_NEEDED = ("exchange", "currency", "price_unit", "listed_since")


def require_market(market: Any, cutoff: Any = None) -> MarketData:
    """``market`` if it is a :class:`MarketData`, else :class:`DataError` saying how to get one;
    with a ``cutoff`` (a Timestamp), :class:`ReviewDateError` when the data do not cover it (a
    screen after the data's end would see every price as stale)."""
    if not isinstance(market, MarketData):
        raise DataError(f"market must be a MarketData (from load_market_data()), got {type(market).__name__}")
    if cutoff is not None and not market.start <= cutoff <= market.end:
        raise ReviewDateError(
            f"cut-off {cutoff.date()} is outside the market data ({market.start.date()} to {market.end.date()}); "
            "choose a date inside it or load a longer history"
        )
    return market


def _universe_frame(universe: Any) -> Any:
    """The universe DataFrame of a Universe (or any object with a ``frame``) or of a frame itself."""
    import pandas as pd

    frame = getattr(universe, "frame", universe)
    if not isinstance(frame, pd.DataFrame):
        raise DataError(
            f"universe must be a Universe (from load_universe()) or its DataFrame, got {type(universe).__name__}"
        )
    missing = [c for c in _NEEDED if c not in frame.columns]
    if missing:
        raise DataError(f"the universe frame lacks the column(s) {', '.join(missing)}; load it with load_universe()")
    if frame.empty:
        raise DataError("the universe has no listings; nothing to load market data for")
    return frame


def _check_options(loader: Callable[..., Any], source: str, kwargs: dict[str, Any]) -> None:
    """Unknown keyword arguments for a source as a DataError naming the ones it takes."""
    params = inspect.signature(loader).parameters
    known = sorted(n for n, prm in params.items() if prm.kind is inspect.Parameter.KEYWORD_ONLY)
    unknown = sorted(k for k in kwargs if k not in known)
    if unknown:
        raise DataError(
            f"unknown option(s) {', '.join(unknown)} for the {source} source; it takes "
            + (", ".join(known) if known else "no options")
        )


def load_market_data(
    universe: Any,
    source: str | Path = "demo",
    start: Any = None,
    end: Any = None,
    *,
    cache_dir: str | Path | None = None,
    deadline_s: float | None = None,
    **kwargs: Any,
) -> MarketData:
    """Load market data for a universe.

    Parameters
    ----------
    universe
        A :class:`~exchina_index.universe.loading.Universe` (only ``.frame`` is read) or its frame.
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
    deadline_s
        Wall-clock limit in seconds for ``"yahoo"``'s downloads (ignored by the other sources;
        ``None``: :func:`~exchina_index.data.yahoo.load_yahoo`'s default).
    **kwargs
        Passed to the source's loader.

    Raises
    ------
    DataError
        An unknown source, a universe that is not one, an option the source does not take, or
        invalid data (naming the file, line, ticker and date).
    ReviewDateError
        ``start``/``end`` not a date (see :func:`~exchina_index.dates.parse_date`), or ``end``
        before ``start``.
    """
    _universe_frame(universe)
    lo = None if start is None else parse_date(start, "start")
    hi = None if end is None else parse_date(end, "end")
    if lo is not None and hi is not None and hi < lo:
        from exchina_index.errors import ReviewDateError

        raise ReviewDateError(f"end {hi.date()} is before start {lo.date()}; swap them")
    if not isinstance(source, (str, os.PathLike)):
        raise DataError(f"source must be 'demo', 'yahoo' or a path, got {type(source).__name__}")
    if cache_dir is not None and not isinstance(cache_dir, (str, os.PathLike)):
        raise DataError(f"cache_dir must be a folder path, got {type(cache_dir).__name__}")
    if isinstance(source, str) and source == "demo":
        from exchina_index.data.demo import load_demo

        _check_options(load_demo, "demo", kwargs)
        return load_demo(universe, lo, hi, **kwargs)
    if isinstance(source, str) and source == "yahoo":
        from exchina_index.data.yahoo import load_yahoo

        if deadline_s is not None:
            kwargs["deadline_s"] = deadline_s
        _check_options(load_yahoo, "yahoo", {"cache_dir": cache_dir, **kwargs})
        return load_yahoo(universe, lo, hi, cache_dir=cache_dir, **kwargs)
    path = Path(source)
    if os.path.lexists(path):  # Path.exists raises for a name too long; the CSV loader says what is wrong
        from exchina_index.data.csv_source import load_csv

        _check_options(load_csv, "CSV", kwargs)
        return load_csv(universe, path, lo, hi, **kwargs)
    raise DataError(
        f"unknown market data source '{source}': use 'demo', 'yahoo', or the path of a folder of CSV "
        "files or of one CSV file (it does not exist)"
    )


def load_benchmark_returns(
    ticker: str,
    market: MarketData,
    *,
    cache_dir: str | Path | None = None,
    deadline_s: float | None = None,
    **kwargs: Any,
) -> pd.Series:
    """Daily USD total returns of a US-listed benchmark (e.g. the REMX ETF) over ``market``'s range.

    Only the ``"yahoo"`` source can fetch a ticker outside the universe (through the same cache);
    ``deadline_s`` (``None``: the loader's default) and ``kwargs`` go to
    :func:`~exchina_index.data.yahoo.load_yahoo`.
    """
    import pandas as pd

    from exchina_index.data.yahoo import load_yahoo
    from exchina_index.universe.loading import Universe

    if market.source != "yahoo":
        raise DataError(
            f"benchmark '{ticker}' is fetched from Yahoo Finance: run with --source yahoo, or use "
            "benchmark kind 'universe_cap_weighted' with other data sources"
        )
    row = {
        "name": ticker,
        "issuer": ticker.lower(),
        "primary": True,
        "domicile": "US",
        "hq": "US",
        "exchange": "XNYS",
        "currency": "USD",
        "price_unit": "USD",
        "lot_size": 1,
        "float_factor": 1.0,
        "mining": 1.0,
        "refining": 0.0,
        "manufacturing": 0.0,
        "purity": 1.0,
        "listed_since": pd.Timestamp("1990-01-01"),
        "delisted": pd.NaT,
        "activities": "mining",
        "source": "benchmark",
        "notes": "",
    }
    frame = pd.DataFrame([row], index=pd.Index([ticker], name="ticker"))
    links = pd.DataFrame(columns=["ticker", "counterparty", "kind", "stake", "from", "to", "source", "notes"])
    if deadline_s is not None:
        kwargs["deadline_s"] = deadline_s
    bench = load_yahoo(Universe(frame=frame, links=links), market.start, market.end, cache_dir=cache_dir, **kwargs)
    return bench.returns("total")[ticker].dropna().rename(ticker)
