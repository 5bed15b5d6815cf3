"""Size and liquidity screens with entry and retention buffers, minimum history and stale prices.

:func:`size_screen` is a pure function of per-ticker inputs; :func:`market_screen` computes those
inputs from a :class:`~exchina_index.data.market.MarketData` at a cut-off (point in time) and calls it.

Rules (thresholds from the rulebook's ``[size]`` section), checked in this order; the first failure
gives the reason code:

===================  ======================================================================
``NO_DATA``          no market cap (no price alive at the cut-off, or no share count), no
                     ADTV, or no history / staleness figure (except what a prices-only market
                     skips, below)
``SHORT_HISTORY``    fewer than ``min_history_sessions`` valid closes up to the cut-off (a fast
                     entry needs only ``governance.fast_entry_min_sessions``, below)
``STALE_PRICE``      ``stale_sessions`` or more own-exchange sessions since the last close
``SIZE_BELOW_*``     full market cap (USD) below the threshold
``ADTV_BELOW_*``     average daily traded value (USD, ``adtv_window_sessions``) below it
``OK``               passes
===================  ======================================================================

Incumbents (members after the previous review) are held to the lower ``*_retention_usd``
thresholds and get the ``*_BELOW_RETENTION`` codes; newcomers need the ``*_entry_usd`` thresholds
and get ``*_BELOW_ENTRY``. A value exactly at a threshold passes.

Prices-only data (:func:`skipped_screens`; decided here, recorded by the review)
-------------------------------------------------------------------------------
* A market without any volume known by the cut-off (prices only) has no ADTV: the ADTV screens are
  skipped for every listing (and the review drops the liquidity caps). When some listings have
  volumes, one without stays ``NO_DATA``: its liquidity is unknown, not assumed.
* A listing alive with a price at the cut-off but without a market cap (no share count known by the
  cut-off, in the data or the universe's reference history) skips the size screen, unless the rulebook's anchor is
  ``market_cap_purity``: that anchor weights names by market cap, so such a name stays ``NO_DATA``
  (and a market without any share count is an error naming what to add; see
  :func:`~exchina_index.construction.review.review_context`).

The market data's notes say which listings lack what; the review's per-name ``detail`` says which
screen was skipped.

Fast entry (:func:`fast_entry`; the rulebook's ``[governance]`` section)
-----------------------------------------------------------------------
A large new listing (an IPO, a spin-off) need not wait ``size.min_history_sessions`` sessions: a
listing that is not an incumbent, whose market cap is at least ``governance.fast_entry_multiple``
times ``size.market_cap_entry_usd`` and whose ADTV passes ``size.adtv_entry_usd``, passes the history
screen once it has ``governance.fast_entry_min_sessions`` sessions of prices (the other screens still
apply). The market cap is the one the size screen reads: the *full* USD market cap (as MVIS's size
screen; the rulebook says so). A missing market cap or ADTV
(prices-only data) never qualifies: a fast entry must show its size and its liquidity. Its
``detail`` says ``fast entry: market cap $X >= 3 x entry``; :func:`panel_fast_entries` says which
listings of a review entered that way.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from exchina_index._text import usd_short

if TYPE_CHECKING:  # pragma: no cover
    from exchina_index.data.features import FeaturePanel
    from exchina_index.data.market import MarketData
    from exchina_index.rules.methodology import Governance, Methodology, Size

__all__ = [
    "size_screen",
    "size_reasons",
    "skipped_screens",
    "panel_reasons",
    "market_screen",
    "SIZE_REASONS",
    "SIZE_SKIPPED",
    "ADTV_SKIPPED",
    "skipped_detail",
    "fast_entry",
    "fast_entry_detail",
    "panel_fast_entries",
]

#: Reason codes of the size and liquidity screens.
SIZE_REASONS: tuple[str, ...] = (
    "OK",
    "NO_DATA",
    "SHORT_HISTORY",
    "STALE_PRICE",
    "SIZE_BELOW_ENTRY",
    "SIZE_BELOW_RETENTION",
    "ADTV_BELOW_ENTRY",
    "ADTV_BELOW_RETENTION",
)

#: The per-name ``detail`` of a listing whose size screen was skipped (no market cap known).
SIZE_SKIPPED = "size screen skipped: no market cap at the cut-off (no share count known by then)"
#: The ``detail`` of the ADTV screens skipped on a market without volumes.
ADTV_SKIPPED = "ADTV screen skipped: the market data has no volume"


def _incumbents(previous: Any, index: pd.Index) -> np.ndarray:
    if previous is None:
        return np.zeros(len(index), dtype=bool)
    if isinstance(previous, pd.Series) and previous.dtype == bool:
        return previous.reindex(index, fill_value=False).to_numpy(dtype=bool)
    if isinstance(previous, pd.Series):  # e.g. previous weights: members have weight > 0
        return (previous.reindex(index).fillna(0) > 0).to_numpy()
    return index.isin(list(previous))


def size_screen(
    market_cap_usd: pd.Series,
    adtv_usd: pd.Series,
    history_sessions: pd.Series,
    stale_sessions: pd.Series,
    previous: Iterable[str] | pd.Series | None = None,
    *,
    size: Size | Methodology,
    skip_size: pd.Series | None = None,
    skip_adtv: bool = False,
    governance: Governance | None = None,
) -> pd.DataFrame:
    """Apply the size and liquidity screens.

    Parameters
    ----------
    market_cap_usd, adtv_usd, history_sessions, stale_sessions
        Per-ticker inputs at the cut-off. The index of ``market_cap_usd`` defines the tickers;
        the others are aligned to it (missing = NaN).
    previous
        The members after the previous review: tickers (set, list, Index), a bool Series, or a
        weight Series (weight > 0 = member); ``None`` at the first review (everyone is a newcomer).
    size
        The rulebook's ``size`` section (or the whole :class:`~exchina_index.rules.methodology.Methodology`).
    skip_size, skip_adtv
        Prices-only data (see the module docstring): a bool Series by ticker of the listings whose
        missing market cap skips the size screen instead of giving ``NO_DATA`` (missing = False),
        and whether a missing ADTV skips the ADTV screens for every listing.
    governance
        The rulebook's ``governance`` section, for fast entry (:func:`fast_entry`); by default the
        one of ``size`` when it is the whole Methodology, else none (no fast entry).

    Returns
    -------
    pandas.DataFrame
        By ticker: ``eligible`` (bool), ``reason`` (a :data:`SIZE_REASONS` code), ``incumbent``,
        the four inputs, the thresholds applied (``cap_threshold_usd``, ``adtv_threshold_usd``) and
        a readable ``detail`` (for a passing name, a fast entry (:func:`fast_entry_detail`) and
        the screens skipped (:func:`skipped_detail`), joined by ``"; "``).

    Examples
    --------
    >>> import pandas as pd, exchina_index as xi
    >>> m = xi.load_methodology()
    >>> s = size_screen(pd.Series({"A": 100e6, "B": 100e6}), pd.Series({"A": 3e5, "B": 3e5}),
    ...                 pd.Series({"A": 500, "B": 500}), pd.Series({"A": 0, "B": 0}),
    ...                 previous={"A"}, size=m)
    >>> s["reason"].tolist()
    ['OK', 'SIZE_BELOW_ENTRY']
    """
    sz: Size = size.size if hasattr(size, "size") else size
    gov = getattr(size, "governance", None) if governance is None else governance
    index = pd.Index(market_cap_usd.index)
    cap = pd.to_numeric(market_cap_usd, errors="coerce").to_numpy(dtype=float)
    adtv = pd.to_numeric(adtv_usd.reindex(index), errors="coerce").to_numpy(dtype=float)
    hist = pd.to_numeric(history_sessions.reindex(index), errors="coerce").to_numpy(dtype=float)
    stale = pd.to_numeric(stale_sessions.reindex(index), errors="coerce").to_numpy(dtype=float)
    inc = _incumbents(previous, index)
    cap_thr, adtv_thr = _thresholds(inc, sz)
    skipped = None if skip_size is None else skip_size.reindex(index, fill_value=False).to_numpy(dtype=bool)
    reason, failed_at = size_reasons(
        cap, adtv, hist, stale, inc, sz, skip_size=skipped, skip_adtv=skip_adtv, governance=gov
    )
    fast = fast_entry(cap, adtv, hist, inc, sz, gov)
    detail = np.full(len(index), "", dtype=object)
    for k in np.flatnonzero(failed_at >= 0):
        detail[k] = _detail(
            _CHECKS[failed_at[k]], cap[k], adtv[k], hist[k], stale[k], cap_thr[k], adtv_thr[k], sz, bool(inc[k])
        )
    size_skipped = np.zeros(len(index), dtype=bool) if skipped is None else skipped & np.isnan(cap)
    for k in np.flatnonzero(failed_at < 0):
        skipped_text = skipped_detail(bool(size_skipped[k]), skip_adtv and bool(np.isnan(adtv[k])))
        entered = fast_entry_detail(float(cap[k]), gov) if fast[k] and gov is not None else ""  # gov: for mypy
        detail[k] = "; ".join(part for part in (entered, skipped_text) if part)
    return pd.DataFrame(
        {
            "eligible": reason == "OK",
            "reason": pd.array(reason, dtype=str),
            "incumbent": inc,
            "market_cap_usd": cap,
            "adtv_usd": adtv,
            "history_sessions": hist,
            "stale_sessions": stale,
            "cap_threshold_usd": cap_thr,
            "adtv_threshold_usd": adtv_thr,
            "detail": pd.array(detail, dtype=str),
        },
        index=index,
    )


_CHECKS = ("NO_DATA", "SHORT_HISTORY", "STALE_PRICE", "SIZE", "ADTV")


def _thresholds(incumbent: np.ndarray, sz: Size) -> tuple[np.ndarray, np.ndarray]:
    """Market-cap and ADTV thresholds: retention for incumbents, entry for newcomers."""
    return (
        np.where(incumbent, sz.market_cap_retention_usd, sz.market_cap_entry_usd).astype(float),
        np.where(incumbent, sz.adtv_retention_usd, sz.adtv_entry_usd).astype(float),
    )


def size_reasons(
    cap: np.ndarray,
    adtv: np.ndarray,
    hist: np.ndarray,
    stale: np.ndarray,
    incumbent: np.ndarray,
    size: Size,
    *,
    skip_size: np.ndarray | None = None,
    skip_adtv: bool = False,
    governance: Governance | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The size and liquidity screens over arrays: ``(reason codes, index of the failed check or -1)``.

    ``incumbent`` (bool) selects the retention thresholds; the checks run in the order of the
    module docstring and the first failure gives the code. ``skip_size`` (bool per listing) and
    ``skip_adtv`` (all listings) let a missing market cap or ADTV pass instead of giving
    ``NO_DATA`` (prices-only data, :func:`skipped_screens`); a NaN never falls below a threshold.
    With ``governance`` (the rulebook's section), a :func:`fast_entry` passes the history check.
    """
    sz = size
    cap_thr, adtv_thr = _thresholds(incumbent, sz)
    no_cap = np.isnan(cap) if skip_size is None else np.isnan(cap) & ~skip_size
    no_adtv = np.zeros(len(adtv), dtype=bool) if skip_adtv else np.isnan(adtv)
    with np.errstate(invalid="ignore"):
        checks = (
            no_cap | no_adtv | np.isnan(hist) | np.isnan(stale) | (hist <= 0),
            (hist < sz.min_history_sessions) & ~fast_entry(cap, adtv, hist, incumbent, sz, governance),
            stale >= sz.stale_sessions,
            cap < cap_thr,
            adtv < adtv_thr,
        )
    failed_at = np.full(len(cap), -1)
    for j, failed in enumerate(checks):
        failed_at[(failed_at < 0) & failed] = j
    codes = np.array(
        ["NO_DATA", "SHORT_HISTORY", "STALE_PRICE", "SIZE_BELOW_ENTRY", "ADTV_BELOW_ENTRY", "OK"], dtype=object
    )
    reason = codes[failed_at]  # -1 picks "OK"
    below = failed_at >= 3
    reason[below & incumbent] = np.where(
        failed_at[below & incumbent] == 3, "SIZE_BELOW_RETENTION", "ADTV_BELOW_RETENTION"
    )
    return reason, failed_at


def _detail(
    code: str, cap: float, adtv: float, hist: float, stale: float, cap_thr: float, adtv_thr: float, sz: Size, inc: bool
) -> str:
    who = "retention" if inc else "entry"
    if code == "NO_DATA":
        missing = [
            name
            for name, v in (("market cap", cap), ("ADTV", adtv), ("history", hist), ("staleness", stale))
            if np.isnan(v)
        ]
        if missing:
            return f"no {', '.join(missing)} at the cut-off (not yet trading, delisted, or no share count)"
        return "no valid price up to the cut-off"
    if code == "SHORT_HISTORY":
        return f"{int(hist)} sessions of prices < {sz.min_history_sessions} required"
    if code == "STALE_PRICE":
        return f"no new price for {int(stale)} sessions (stale from {sz.stale_sessions})"
    if code == "SIZE":
        return f"market cap {usd_short(cap)} < {who} threshold {usd_short(cap_thr)}"
    return f"ADTV {usd_short(adtv)} < {who} threshold {usd_short(adtv_thr)}"


def fast_entry(
    cap: np.ndarray,
    adtv: np.ndarray,
    hist: np.ndarray,
    incumbent: np.ndarray,
    size: Size,
    governance: Governance | None,
) -> np.ndarray:
    """The listings whose short history the fast-entry rule waives (see the module docstring).

    Parameters
    ----------
    cap, adtv, hist, incumbent
        Per listing: full USD market cap, ADTV (USD), sessions of prices, and membership after the
        previous review.
    size, governance
        The rulebook's ``size`` and ``governance`` sections; ``governance=None``: no fast entry.

    Returns
    -------
    numpy.ndarray
        Bool per listing: a newcomer with fewer than ``size.min_history_sessions`` but at least
        ``governance.fast_entry_min_sessions`` sessions, a market cap of at least
        ``fast_entry_multiple × market_cap_entry_usd`` and an ADTV of at least ``adtv_entry_usd``
        (NaN never qualifies). The other screens (staleness, ...) still apply to it.
    """
    if governance is None:
        return np.zeros(len(cap), dtype=bool)
    with np.errstate(invalid="ignore"):
        return (
            ~np.asarray(incumbent, dtype=bool)
            & (hist >= governance.fast_entry_min_sessions)
            & (hist < size.min_history_sessions)
            & (cap >= governance.fast_entry_multiple * size.market_cap_entry_usd)
            & (adtv >= size.adtv_entry_usd)
        )


def fast_entry_detail(cap: float, governance: Governance) -> str:
    """The ``detail`` of a fast entry: ``fast entry: market cap $X >= 3 x entry``."""
    return f"fast entry: market cap {usd_short(cap)} >= {governance.fast_entry_multiple:g} x entry"


def skipped_detail(size: bool, adtv: bool) -> str:
    """The ``detail`` of a passing name whose size or ADTV screen prices-only data skipped."""
    return "; ".join([SIZE_SKIPPED] * size + [ADTV_SKIPPED] * adtv)


def skipped_screens(panel: FeaturePanel, k: int, columns: np.ndarray, anchor_method: str) -> tuple[np.ndarray, bool]:
    """Which screens prices-only data skips at cut-off ``k`` of ``panel`` (see the module docstring).

    Parameters
    ----------
    panel, k, columns
        The feature panel, the cut-off's row, and the position of each listing in the panel (-1:
        no market data).
    anchor_method
        The rulebook's ``anchor.method``: ``market_cap_purity`` needs market caps, so no size
        screen is skipped under it.

    Returns
    -------
    (skip_size, skip_adtv)
        Per listing: alive with a price at the cut-off but no market cap (and the anchor does not
        read market caps); and whether the market held no volume at all by the cut-off.
    """
    skip_adtv = not bool(panel.volume_known[k])
    if anchor_method == "market_cap_purity":
        return np.zeros(len(columns), dtype=bool), skip_adtv
    priced = ~np.isnan(panel.row("close_usd", k, columns))
    return priced & np.isnan(panel.row("market_cap_usd", k, columns)), skip_adtv


def panel_reasons(
    panel: FeaturePanel, k: int, columns: np.ndarray, incumbent: np.ndarray, methodology: Methodology
) -> tuple[np.ndarray, np.ndarray, bool]:
    """The size and liquidity screens' code of each listing at cut-off ``k`` of ``panel``, with the
    screens skipped for prices-only data (:func:`skipped_screens`) and fast entry under the
    rulebook's ``governance`` section (:func:`fast_entry`).

    Returns
    -------
    (reason, skip_size, skip_adtv)
        The codes (a listing without market data gets ``NO_DATA``) and what was skipped.
    """
    skip_size, skip_adtv = skipped_screens(panel, k, columns, methodology.anchor.method)
    reason, _ = size_reasons(
        panel.row("market_cap_usd", k, columns),
        panel.row("adtv_usd", k, columns),
        panel.row("history_sessions", k, columns),
        panel.row("stale_sessions", k, columns),
        incumbent,
        methodology.size,
        skip_size=skip_size,
        skip_adtv=skip_adtv,
        governance=methodology.governance,
    )
    return reason, skip_size, skip_adtv


def panel_fast_entries(
    panel: FeaturePanel,
    k: int,
    columns: np.ndarray,
    incumbent: np.ndarray,
    methodology: Methodology,
    reason: np.ndarray,
) -> np.ndarray:
    """Which listings pass the size and liquidity screens at cut-off ``k`` of ``panel`` only by fast
    entry (:func:`fast_entry`): bool per listing. ``reason`` is :func:`panel_reasons`'s codes for
    the same row (the other arguments as there), so the screens run once.

    A review records one line per fast entry that it admits, for example
    ``f"{ticker}: {fast_entry_detail(cap, methodology.governance)}"``.
    """
    cap, adtv, hist = (panel.row(name, k, columns) for name in ("market_cap_usd", "adtv_usd", "history_sessions"))
    return (reason == "OK") & fast_entry(cap, adtv, hist, incumbent, methodology.size, methodology.governance)


def market_screen(
    market: MarketData,
    as_of: Any,
    methodology: Methodology,
    previous: Iterable[str] | pd.Series | None = None,
) -> pd.DataFrame:
    """:func:`size_screen` on a market's data at ``as_of`` (only data on or before it is read).

    Market cap is the full (not float-adjusted) USD market cap at the last market date on or before
    ``as_of``; a listing whose life has ended (delisted) has none, so it gets ``NO_DATA``. ADTV is over
    the listing's own last ``size.adtv_window_sessions`` priced sessions; staleness counts its own
    exchange's sessions since its last close. On prices-only data the screens of
    :func:`skipped_screens` are skipped (under ``methodology``'s anchor). A large new listing may
    enter fast under ``methodology.governance`` (:func:`fast_entry`).

    Examples
    --------
    >>> import exchina_index as xi
    >>> u = xi.load_universe()
    >>> s = market_screen(xi.load_market_data(u), "2025-11-28", xi.load_methodology())
    >>> s.loc["4063.T", "reason"]
    'OK'
    """
    from exchina_index.data.features import feature_panel

    panel = feature_panel(market, [as_of], window=methodology.size.adtv_window_sessions)
    snap = panel.snapshot(0)
    skip_size, skip_adtv = skipped_screens(panel, 0, np.arange(len(panel.tickers)), methodology.anchor.method)
    return size_screen(
        snap["market_cap_usd"],
        snap["adtv_usd"],
        snap["history_sessions"],
        snap["stale_sessions"],
        previous,
        size=methodology.size,
        skip_size=pd.Series(skip_size, index=panel.tickers),
        skip_adtv=skip_adtv,
        governance=methodology.governance,
    )
