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

from exchina_index._version import __version__

# public name -> module that defines it
_EXPORTS: dict[str, str] = {
    "load_universe": "universe.loading",
    "Universe": "universe.loading",
    "load_methodology": "rules.methodology",
    "Methodology": "rules.methodology",
    "screen": "construction.screens",
    "load_market_data": "data",
    "MarketData": "data.market",
    "review_dates": "rules.calendar",
    "build_weights": "construction.review",
    "WeightResult": "construction.record",
    "stage_balanced_weights": "construction.optimizer",
    "backtest": "simulation.backtest",
    "BacktestResult": "simulation.backtest",
    "write_tearsheet": "publish.tearsheet",
    "rebalance": "publish.rebalance",
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
    value = getattr(importlib.import_module(f"exchina_index.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__


if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only (``X as X``: a re-export)
    from exchina_index.construction.optimizer import stage_balanced_weights as stage_balanced_weights
    from exchina_index.construction.record import WeightResult as WeightResult
    from exchina_index.construction.review import build_weights as build_weights
    from exchina_index.construction.screens import screen as screen
    from exchina_index.data import load_market_data as load_market_data
    from exchina_index.data.market import MarketData as MarketData
    from exchina_index.errors import CacheError as CacheError
    from exchina_index.errors import DataError as DataError
    from exchina_index.errors import ExchinaIndexError as ExchinaIndexError
    from exchina_index.errors import InfeasibleError as InfeasibleError
    from exchina_index.errors import InputError as InputError
    from exchina_index.errors import MethodologyError as MethodologyError
    from exchina_index.errors import NetworkError as NetworkError
    from exchina_index.errors import OutputError as OutputError
    from exchina_index.errors import ReviewDateError as ReviewDateError
    from exchina_index.errors import SolverError as SolverError
    from exchina_index.errors import UniverseError as UniverseError
    from exchina_index.publish.rebalance import rebalance as rebalance
    from exchina_index.publish.tearsheet import write_tearsheet as write_tearsheet
    from exchina_index.rules.calendar import review_dates as review_dates
    from exchina_index.rules.methodology import Methodology as Methodology
    from exchina_index.rules.methodology import load_methodology as load_methodology
    from exchina_index.simulation.backtest import BacktestResult as BacktestResult
    from exchina_index.simulation.backtest import backtest as backtest
    from exchina_index.universe.loading import Universe as Universe
    from exchina_index.universe.loading import load_universe as load_universe
