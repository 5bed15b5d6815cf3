"""Scaled synthetic universes and their markets, built with the package's demo generator.

One :class:`ScaledCase` per universe size: ``synthetic_universe(n, seed)`` (fake listings spread over
the allied exchanges, currencies, stages and countries, with second lines of one issuer in ten,
late listings and a few delistings), ``generate_market`` over :data:`DATA_START` to
:data:`DATA_END` (about 21 years of union-calendar sessions), the bundled rulebook with its regulatory
mode set to RIC 25/50 (:data:`RULEBOOK_OVERRIDES`; so stage targets and tolerance,
single/issuer/country caps, liquidity caps, the regulatory rule and the turnover penalty: every
constraint kind active) and its quarterly review schedule from :data:`FIRST_REVIEW`
(one year of history before it for the screens), about 80 reviews.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

__all__ = [
    "ScaledCase",
    "build_case",
    "capped_cap_weights",
    "DATA_START",
    "DATA_END",
    "FIRST_REVIEW",
    "AUM",
    "RULEBOOK_OVERRIDES",
]

DATA_START = pd.Timestamp("2005-07-01")
DATA_END = pd.Timestamp("2026-06-30")
FIRST_REVIEW = pd.Timestamp("2006-07-01")
AUM = 250e6
SEED = 0
#: The bundled rulebook with every constraint kind switched on, whatever its defaults: the RIC
#: 25/50 rule (the rulebook's buffered values) is a fund variant the index can run with.
RULEBOOK_OVERRIDES = {"regulatory": {"mode": "ric"}}


@dataclass(eq=False)
class ScaledCase:
    n: int
    universe: object  # exchina_index.universe.loading.Universe
    market: object  # exchina_index.data.market.MarketData
    methodology: object  # exchina_index.rules.methodology.Methodology
    schedule: pd.DataFrame  # review_dates(...) rows inside the data
    build_seconds: dict[str, float] = field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, int]:
        return self.market.close.shape


def _empty_links() -> pd.DataFrame:
    from exchina_index.universe.loading import LINK_COLUMNS

    links = pd.DataFrame({c: pd.Series(dtype=object) for c in LINK_COLUMNS})
    links["stake"] = links["stake"].astype(float)
    links["from"] = pd.to_datetime(links["from"])
    links["to"] = pd.to_datetime(links["to"])
    return links


def build_case(n: int, seed: int = SEED) -> ScaledCase:
    """Universe of ``n`` synthetic listings, its market, the bundled rulebook and the schedule."""
    from exchina_index.data.demo import generate_market, synthetic_universe
    from exchina_index.rules.calendar import review_dates
    from exchina_index.rules.methodology import load_methodology
    from exchina_index.universe.loading import Universe

    t = time.perf_counter()
    frame = synthetic_universe(n, seed)
    universe = Universe(frame=frame, links=_empty_links())
    t_uni = time.perf_counter() - t
    t = time.perf_counter()
    market = generate_market(frame, DATA_START, DATA_END, seed=seed, source="synthetic-benchmark")
    t_mkt = time.perf_counter() - t
    method = load_methodology().with_overrides(RULEBOOK_OVERRIDES)
    dates = market.close.index
    schedule = review_dates(method, FIRST_REVIEW, dates[-1])
    schedule = schedule[(schedule["cutoff"] >= dates[0]) & (schedule["implement"] <= dates[-1])]
    return ScaledCase(
        n=n,
        universe=universe,
        market=market,
        methodology=method,
        schedule=schedule.reset_index(drop=True),
        build_seconds={"universe": t_uni, "market": t_mkt},
    )


def capped_cap_weights(mcap: np.ndarray, alive: np.ndarray, cap: float = 0.08) -> np.ndarray:
    """Market-cap weights over the alive listings (equal weight where the cap is unknown), capped
    at ``cap`` with proportional redistribution (iterative capping); sums to 1."""
    x = np.where(alive, np.nan_to_num(mcap, nan=0.0), 0.0)
    fill = np.nanmedian(np.where(x > 0, x, np.nan)) if (x > 0).any() else 1.0
    x = np.where(alive & (x <= 0), fill, x)
    w = x / x.sum()
    cap = max(cap, 1.0 / max(int(alive.sum()), 1))
    for _ in range(100):
        over = w > cap + 1e-15
        if not over.any():
            break
        free = ~over & (w > 0)
        excess = (w[over] - cap).sum()
        w[over] = cap
        w[free] += excess * w[free] / w[free].sum()
    return w / w.sum()
