"""The minimum number of constituents and its fallback (rulebook ``[governance]``).

MVIS's REMX holds at least 20 names; a thin ex-China universe often has fewer that pass every
screen. With fewer eligible names than ``governance.min_constituents`` the rulebook's ``fallback``
applies and is recorded in the review's report:

``relax_size``      names that fail only a size or ADTV *entry* threshold but pass the *retention*
                    thresholds (the buffer incumbents get; :func:`entry_only_candidates`) are
                    admitted, largest (full) market cap first, up to the floor;
``hold_eligible``   the eligible names are held as they are.

Either way, a count still below the floor is said in the record; the review goes on (the ladder's
last resort keeps the weights feasible). The candidates not admitted are the review's reserve list:
between reviews, a deletion that takes the count below the floor is replaced by the first of them
still trading (:mod:`exchina_index.simulation.backtest`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from exchina_index.rules.methodology import Methodology

__all__ = ["ENTRY_CODES", "entry_only_candidates", "floor_fallback"]

#: The reason codes of a newcomer that fails an entry threshold only.
ENTRY_CODES = ("SIZE_BELOW_ENTRY", "ADTV_BELOW_ENTRY")


def entry_only_candidates(
    m: Methodology, tickers: pd.Index, reason: np.ndarray, mcap: np.ndarray, adtv: np.ndarray
) -> np.ndarray:
    """Positions of the names that fail only a size or ADTV *entry* threshold (their code is one of
    :data:`ENTRY_CODES`: every other screen passed) but pass the *retention* thresholds, largest
    market cap first (a missing one last), ties by ticker. A missing market cap or ADTV under such a
    code is a screen skipped (prices-only data) and passes. These are what the minimum-constituent
    fallback admits and, after it, the review's reserve list for deletions between reviews.
    """
    sz = m.size
    with np.errstate(invalid="ignore"):
        passes = ~(mcap < sz.market_cap_retention_usd) & ~(adtv < sz.adtv_retention_usd)
    candidates = np.flatnonzero(np.isin(reason, ENTRY_CODES) & passes)
    size = np.where(np.isnan(mcap[candidates]), -np.inf, mcap[candidates])
    return candidates[np.lexsort((tickers[candidates].astype(str), -size))]


def floor_fallback(
    m: Methodology, tickers: pd.Index, eligible: np.ndarray, candidates: np.ndarray
) -> tuple[np.ndarray, tuple[str, ...]]:
    """The names the minimum-constituent fallback admits (a bool mask) and the record's lines.

    Parameters
    ----------
    m
        The rulebook (``governance`` section).
    tickers
        The universe's listings, in the order of the arrays.
    eligible
        The screens' eligibility.
    candidates
        :func:`entry_only_candidates` of the same screens, in order: the first ones are admitted.

    Returns
    -------
    (admitted, lines)
        ``admitted`` is all False when the floor is met or the fallback is ``hold_eligible``.
    """
    floor, n = m.governance.min_constituents, int(np.count_nonzero(eligible))
    admitted = np.zeros(len(eligible), dtype=bool)
    if n >= floor:
        return admitted, ()
    lines = [f"minimum constituents: {n} eligible, below the floor of {floor}"]
    if m.governance.fallback == "relax_size":
        take = candidates[: floor - n]
        admitted[take] = True
        names = ", ".join(str(t) for t in tickers[take]) or "none qualifies"
        lines.append(f"fallback relax_size: {len(take)} admitted at the retention thresholds ({names})")
    else:
        lines.append("fallback hold_eligible: the eligible names are held")
    total = n + int(admitted.sum())
    if total < floor:
        lines.append(f"the index holds at most {total} names, below the floor of {floor}")
    return admitted, tuple(lines)
