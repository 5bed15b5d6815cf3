"""exchina-index: build, rebalance and backtest the U.S. & Allied (ex-China) Rare Earth Supply Chain index.

The public names below are imported lazily (PEP 562) so that ``exchina-index --help`` and
``import exchina_index`` stay fast; pandas, cvxpy, yfinance and quantstats load only when used.

Examples
--------
>>> import exchina_index as xi
>>> universe = xi.load_universe()
>>> method = xi.load_methodology()
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS: dict[str, str] = {
    "load_universe": "universe",
    "Universe": "universe",
    "load_methodology": "methodology",
    "Methodology": "methodology",
    "screen": "screens",
    "load_market_data": "data",
    "MarketData": "data.market",
    "review_dates": "calendar",
    "build_weights": "review",
    "WeightResult": "review",
    "stage_balanced_weights": "weights",
    "backtest": "backtester",
    "BacktestResult": "backtester",
    "write_tearsheet": "tearsheet",
    "rebalance": "rebalancing",
    "ExchinaIndexError": "errors",
    "InputError": "errors",
    "UniverseError": "errors",
    "MethodologyError": "errors",
    "DataError": "errors",
    "NetworkError": "errors",
    "CacheError": "errors",
    "ReviewDateError": "errors",
    "InfeasibleError": "errors",
    "SolverError": "errors",
    "OutputError": "errors",
}

__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'exchina_index' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__


if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from .backtester import BacktestResult, backtest
    from .calendar import review_dates
    from .data import load_market_data
    from .data.market import MarketData
    from .errors import (CacheError, DataError, ExchinaIndexError, InfeasibleError, InputError,
                         MethodologyError, NetworkError, OutputError, ReviewDateError, SolverError,
                         UniverseError)
    from .methodology import Methodology, load_methodology
    from .rebalancing import rebalance
    from .review import WeightResult, build_weights
    from .screens import screen
    from .tearsheet import write_tearsheet
    from .universe import Universe, load_universe
    from .weights import stage_balanced_weights
