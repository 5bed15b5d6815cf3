"""The reserve list of a review: the names that replace a deletion between reviews.

When a constituent is deleted between two reviews and the number of constituents falls below the
rulebook's ``governance.min_constituents``, the backtest gives the deleted weight to the first name
of the previous review's reserve list that is still trading
(:func:`~exchina_index.simulation.backtest.backtest`). A reserve name is one the review did not hold
whose only failing screen is a size or ADTV *entry* threshold while it passes the *retention*
thresholds (the buffer zone of :mod:`~exchina_index.construction.market_screens`): it is close
enough to the index that it would have stayed in had it been a member.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from exchina_index.construction.record import ReviewNames
    from exchina_index.rules.methodology import Methodology

__all__ = ["RESERVE_REASONS", "reserve_list"]

#: The reason codes a reserve name may carry: the size or ADTV entry threshold only.
RESERVE_REASONS: tuple[str, ...] = ("SIZE_BELOW_ENTRY", "ADTV_BELOW_ENTRY")


def reserve_list(names: ReviewNames, m: Methodology) -> tuple[str, ...]:
    """The reserve list of a review, largest market cap first.

    Parameters
    ----------
    names
        The review's per-name facts (:class:`~exchina_index.construction.record.ReviewNames`).
    m
        The rulebook; its ``size`` section gives the retention thresholds.

    Returns
    -------
    tuple of str
        Tickers with weight 0 whose reason code is ``SIZE_BELOW_ENTRY`` or ``ADTV_BELOW_ENTRY``
        (every other screen passed: the static screens come first, and the market screens stop at
        the first failure) and whose market cap and ADTV are at least ``size.market_cap_retention_usd``
        and ``size.adtv_retention_usd``. A missing market cap or ADTV under such a code means the
        screen was skipped (prices-only data) and counts as passing. Sorted by market cap (USD),
        largest first, a missing cap last, ties by ticker.

    Examples
    --------
    >>> import pandas as pd, exchina_index as xi
    >>> from types import SimpleNamespace
    >>> names = SimpleNamespace(
    ...     reason=pd.Series({"A": "SIZE_BELOW_ENTRY", "B": "ADTV_BELOW_ENTRY", "C": "OK"}),
    ...     market_cap_usd=pd.Series({"A": 100e6, "B": 900e6, "C": 5e9}),
    ...     adtv_usd=pd.Series({"A": 1e6, "B": 300e3, "C": 9e6}),
    ...     weight=pd.Series({"A": 0.0, "B": 0.0, "C": 1.0}))
    >>> reserve_list(names, xi.load_methodology())
    ('B', 'A')
    """
    sz = m.size
    index = names.weight.index
    reason = names.reason.reindex(index).astype(str).to_numpy()
    cap = names.market_cap_usd.reindex(index).to_numpy(dtype=float)
    adtv = names.adtv_usd.reindex(index).to_numpy(dtype=float)
    weight = names.weight.to_numpy(dtype=float)
    with np.errstate(invalid="ignore"):
        keeps_size = np.isnan(cap) | (cap >= sz.market_cap_retention_usd)
        keeps_adtv = np.isnan(adtv) | (adtv >= sz.adtv_retention_usd)
    ok = ~(weight > 0) & np.isin(reason, RESERVE_REASONS) & keeps_size & keeps_adtv
    picked = np.flatnonzero(ok)
    tickers = [str(t) for t in index[picked]]
    caps = np.where(np.isnan(cap[picked]), -np.inf, cap[picked])
    order = sorted(range(len(picked)), key=lambda i: (-caps[i], tickers[i]))
    return tuple(tickers[i] for i in order)
