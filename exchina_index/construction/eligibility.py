"""Who is eligible at one review: the screens, the discretion log, the minimum-constituent fallback
and fast entries.

The static screens (:mod:`exchina_index.universe.screens`, the purity buffer included), the size
and liquidity screens on the review's feature-panel row
(:func:`~exchina_index.construction.market_screens.panel_reasons`, fast entries included), the
final reason codes (:func:`final_reasons`), the discretion log's
exclusions (:func:`~exchina_index.construction.discretion.apply_decisions`), then the rulebook's
minimum-constituent fallback (:func:`~exchina_index.construction.governance.floor_fallback`). The
governance lines (fallback, fast entries) go to the review's record.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from exchina_index.construction.discretion import apply_decisions
from exchina_index.construction.governance import entry_only_candidates, floor_fallback
from exchina_index.construction.market_screens import (
    fast_entry_detail,
    panel_fast_entries,
    panel_reasons,
    skipped_detail,
)
from exchina_index.data.features import FeaturePanel
from exchina_index.rules.methodology import Methodology
from exchina_index.universe.discretion import DiscretionLog
from exchina_index.universe.screens import StaticResult, StaticScreens

__all__ = ["Eligibility", "review_eligibility", "final_reasons", "nobody_eligible"]


@dataclass(frozen=True, eq=False)
class Eligibility:
    """The screens' outcome at one review, arrays in the universe's order."""

    screens: StaticResult
    reason: np.ndarray
    eligible: np.ndarray
    detail: np.ndarray
    mcap: np.ndarray
    adtv: np.ndarray
    skip_adtv: bool
    governance: tuple[str, ...]
    decisions: tuple[str, ...]
    reserve: tuple[str, ...]  # the reserve list: entry-only candidates the fallback did not admit


def review_eligibility(
    static: StaticScreens,
    size_panel: FeaturePanel,
    panel: FeaturePanel,
    k: int,
    columns: np.ndarray,
    incumbent: np.ndarray,
    m: Methodology,
    tickers: pd.Index,
    log: DiscretionLog,
) -> Eligibility:
    """Screen the universe at cut-off ``k`` of the panels (``incumbent``: held before the review),
    with the decisions of the discretion ``log`` in force then.

    ``panel`` gives the market cap and ADTV the review weights with (its liquidity window);
    ``size_panel`` those the size screens and the fallback test (the size window).
    """
    t = panel.cutoffs[k]
    screens = static.at(t, incumbent)
    market_reason, skip_size, skip_adtv = panel_reasons(size_panel, k, columns, incumbent, m)
    reason, eligible = final_reasons(screens.reason, market_reason, screens.flags)
    reason, eligible, decisions = apply_decisions(log, tickers, t, reason, eligible)
    # the fallback's retention test on the size screens' own figures
    size_cap, size_adtv = size_panel.row("market_cap_usd", k, columns), size_panel.row("adtv_usd", k, columns)
    candidates = entry_only_candidates(m, tickers, reason, size_cap, size_adtv)
    admitted, governance = floor_fallback(m, tickers, eligible, candidates)
    reserve = tuple(str(tickers[j]) for j in candidates if not admitted[j])  # in order, for deletions
    if admitted.any():  # the codes again with the admitted names passing, the exclusions on top
        reason, eligible = final_reasons(screens.reason, np.where(admitted, "OK", market_reason), screens.flags)
        reason, eligible, _ = apply_decisions(log, tickers, t, reason, eligible)
    fast = panel_fast_entries(size_panel, k, columns, incumbent, m, market_reason) & eligible
    entries = tuple(
        f"{tickers[j]}: {fast_entry_detail(float(size_cap[j]), m.governance)}" for j in np.flatnonzero(fast)
    )
    detail = _detail(screens.detail, eligible, skip_size, skip_adtv, fast, size_cap, m)
    for j in np.flatnonzero(admitted & eligible):
        parts = (str(detail[j]), f"admitted by the minimum-constituent fallback (relax_size; was {market_reason[j]})")
        detail[j] = "; ".join(p for p in parts if p)
    mcap, adtv = panel.row("market_cap_usd", k, columns), panel.row("adtv_usd", k, columns)
    return Eligibility(
        screens, reason, eligible, detail, mcap, adtv, skip_adtv, governance + entries, decisions, reserve
    )


def final_reasons(
    static_reason: np.ndarray,
    market_reason: np.ndarray | None,
    flags: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Reason codes and eligibility: the static screens' code, else the market screens' (when given),
    else for an eligible name its first reported flag or ``OK``."""
    reason = static_reason.copy()
    if market_reason is not None:
        failed = (reason == "") & (market_reason != "OK")
        reason[failed] = market_reason[failed]
    eligible = reason == ""
    first_flag = np.array([fl.split(";")[0] for fl in flags[eligible]], dtype=object)
    reason[eligible] = np.where(flags[eligible] != "", first_flag, "OK")
    return reason, eligible


def nobody_eligible(t: pd.Timestamp, reason: np.ndarray) -> str:
    """Why no name is eligible at the review of cut-off ``t``: the count of each reason code."""
    codes, counts = np.unique(reason.astype(str), return_counts=True)
    order = np.argsort(-counts, kind="stable")
    tally = ", ".join(f"{codes[i]} {counts[i]}" for i in order)
    hint = (
        "; the data starts too late for this review: start the backtest later or load a longer history"
        if "SHORT_HISTORY" in codes
        else "; check the screens and the market data"
    )
    return f"review {t.date()}: no name passes the screens ({tally}){hint}"


def _detail(
    detail: np.ndarray,
    eligible: np.ndarray,
    skip_size: np.ndarray,
    skip_adtv: bool,
    fast: np.ndarray,
    cap: np.ndarray,
    m: Methodology,
) -> np.ndarray:
    """The static screens' ``detail`` with each eligible name's fast entry and the screens
    prices-only data skipped."""
    if not skip_adtv and not skip_size.any() and not fast.any():
        return detail
    out = detail.astype(object)
    for i in np.flatnonzero(eligible & (skip_size | skip_adtv | fast)):
        entered = fast_entry_detail(float(cap[i]), m.governance) if fast[i] else ""
        parts = (str(out[i]), entered, skipped_detail(bool(skip_size[i]), skip_adtv))
        out[i] = "; ".join(p for p in parts if p)
    return out
