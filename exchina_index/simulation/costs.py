"""The rulebook's transaction-cost model: commission plus a half-spread that depends on liquidity."""

from __future__ import annotations

import numpy as np
import pandas as pd

from exchina_index.rules.methodology import Costs

__all__ = ["one_way_cost_rate"]


def one_way_cost_rate(adtv_usd: pd.Series, costs: Costs) -> pd.Series:
    """One-way cost of trading each name, as a fraction of the traded value.

    ``commission_bps`` plus the ``half_spread_bps`` of the first ADTV tier whose floor the name's
    ADTV reaches (tiers are decreasing and end at 0). A name without ADTV pays the widest spread.

    Examples
    --------
    >>> from exchina_index.rules.methodology import load_methodology
    >>> c = load_methodology().costs
    >>> one_way_cost_rate(pd.Series({"BIG": 80e6, "TINY": 1e5}), c).round(6).to_dict()
    {'BIG': 0.0007, 'TINY': 0.0062}
    """
    floors = np.asarray(costs.spread_tier_floors_usd, dtype=float)
    spreads = np.asarray(costs.half_spread_bps, dtype=float)
    adtv = np.nan_to_num(adtv_usd.to_numpy(dtype=float), nan=0.0)
    # first tier (in decreasing order) whose floor is <= adtv
    tier = np.argmax(adtv[:, None] >= floors[None, :], axis=1)
    bps = costs.commission_bps + spreads[tier]
    return pd.Series(bps / 1e4, index=adtv_usd.index, name="cost_rate")
