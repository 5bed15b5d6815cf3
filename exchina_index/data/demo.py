"""The embedded SYNTHETIC demo market: offline, deterministic, labelled everywhere it shows up.

:func:`load_demo` generates a market for any universe (the bundled one by default) from
2015-01-01 to 2026-09-30 with :func:`~exchina_index.data.synthetic.generate_market` (the model is
described in :mod:`exchina_index.data.synthetic`). Nothing here is a real price: the numbers only
have a realistic *shape* so that screens, caps and backtests have something to bite on.

The paths are calibrated to the public reference points of the bundled
``universe/market_reference.csv`` (market cap and 3-month ADTV of listed names at a few dates, each
with its source; :mod:`~exchina_index.data.synthetic.calibration`): they pass within 20 % (market
cap) and 35 % (ADTV) of each point, and are random in between. Still synthetic: the prices are not
the real ones and nothing but the reference points is meant to resemble the real market.

The result has ``synthetic=True`` and ``source="demo"``; reports must print :data:`DEMO_LABEL`.
Generating it for the bundled universe (63 listings, 3056 dates) takes about 0.3 s of CPU.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from exchina_index._resources import bundled_path
from exchina_index._text import SYNTHETIC_TAG
from exchina_index.data.market import MarketData
from exchina_index.data.synthetic import generate_market, synthetic_universe
from exchina_index.data.synthetic.calibration import load_market_reference
from exchina_index.data.synthetic.draws import CAP_RANGE_USD, ROUGH_CAP_USD
from exchina_index.errors import DataError

__all__ = [
    "DEMO_LABEL",
    "DEMO_START",
    "DEMO_END",
    "ROUGH_CAP_USD",
    "CAP_RANGE_USD",
    "load_demo",
    "generate_market",
    "synthetic_universe",
]

#: Printed on every report and tearsheet made from the demo market.
DEMO_LABEL = f"{SYNTHETIC_TAG} — not real market prices"
DEMO_START = pd.Timestamp("2015-01-01")
DEMO_END = pd.Timestamp("2026-09-30")


def load_demo(universe: Any = None, start: Any = None, end: Any = None) -> MarketData:
    """The synthetic demo market for ``universe`` (default: the bundled universe).

    The market is always generated for the full demo range (:data:`DEMO_START` to :data:`DEMO_END`,
    seed 0) and then cut to ``[start, end]``, so a date's data never depends on the range asked for.

    The bundled reference points calibrate the lines of ``universe`` that they name. For the
    bundled universe every reference ticker must be one of its listings; another universe uses
    the points of the tickers it shares with the bundled one.

    Raises
    ------
    DataError
        ``start``/``end`` outside the demo range, or a currency the demo has no FX path for.
    UniverseError
        The bundled reference file is malformed or names a ticker the bundled universe lacks.

    Examples
    --------
    >>> import exchina_index as xi
    >>> m = load_demo(xi.load_universe())
    >>> m.synthetic, m.source
    (True, 'demo')
    """
    if universe is None:
        from exchina_index.universe.loading import load_universe

        universe = load_universe()
    frame = universe.frame if hasattr(universe, "frame") else universe
    lo = DEMO_START if start is None else pd.Timestamp(start)
    hi = DEMO_END if end is None else pd.Timestamp(end)
    if lo < DEMO_START or hi > DEMO_END or hi < lo:
        raise DataError(
            f"the demo market covers {DEMO_START.date()} to {DEMO_END.date()}; asked for "
            f"{lo.date()} to {hi.date()}: choose dates inside that range (or use source='yahoo' or a CSV folder)"
        )
    path = getattr(universe, "path", None)  # where a Universe was read from (a bare frame has none)
    bundled = path is not None and Path(path).resolve() == bundled_path("allied_supply_chain.csv").resolve()
    reference = load_market_reference(tickers=frame.index if bundled else None)
    market = generate_market(frame, DEMO_START, DEMO_END, seed=0, source="demo", reference=reference)
    if start is None and end is None:
        return market
    return market.truncate(hi, start=None if start is None else lo)
