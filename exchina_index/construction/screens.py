"""Point-in-time eligibility screens with a reason code per name.

The screens that need no market data (listing dates, country of classification, the ex-China
test, purity, one line per issuer) are computed by :mod:`exchina_index.universe.screens`; the size
and liquidity screens, which need prices, are in :mod:`exchina_index.construction.market_screens`
and are applied when a market is given. :func:`screen` puts them together in one table.

Reason codes (the first failing screen wins, in this order):

=====================  ===========================================================================
``NOT_YET_LISTED``     the review date is before ``listed_since``
``DELISTED``           the listing was delisted on or before the review date
``CN_DOMICILE``        domicile or HQ in a country of concern (China, HK, Macau, Russia, ...)
``CN_CONTROL``         an in-force link of an excluding kind (control by a Chinese entity)
``CN_STAKE``           in-force Chinese stakes sum to the rulebook threshold (25 %) or more
``COUNTRY``            country of classification outside the eligible alliance sets
``LOW_PURITY``         purity below ``purity.entry`` (``purity.retention`` for a name held before)
``SECONDARY_LINE``     not the issuer's primary line (one line per issuer)
size/liquidity codes   from :mod:`exchina_index.construction.market_screens` (``SIZE_BELOW_ENTRY``, ...)
``DISCRETION``         an exclusion of the discretion log in force at the cut-off (overrides the other codes)
``OK``                 eligible, nothing to report
``FLAG_CN_STAKE``      eligible; a Chinese stake below the threshold is reported
``FLAG_CN_OPERATIONS`` eligible; operations or JVs inside China are reported
``FLAG_CN_OFFTAKE``    eligible; an offtake or supply agreement with a Chinese party is reported
``FLAG_CN_REGULATORY`` eligible; a government order, referral or inquiry about China-linked holders
=====================  ===========================================================================

China links are facts of the issuer (a link on one line applies to all its lines), and a reported
shareholding stays in force until its end is shown (``ended_by`` in the link table; see
:mod:`exchina_index.universe.loading`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from exchina_index.construction.discretion import apply_decisions
from exchina_index.construction.eligibility import final_reasons, review_eligibility
from exchina_index.data.features import feature_panel
from exchina_index.dates import parse_date
from exchina_index.errors import InputError
from exchina_index.rules.methodology import Methodology, resolve_methodology
from exchina_index.universe.loading import Universe, require_universe
from exchina_index.universe.screens import StaticScreens

__all__ = ["screen", "final_reasons", "last_screenable_date", "REASONS"]

REASONS: dict[str, str] = {
    "NOT_YET_LISTED": "before listed_since",
    "DELISTED": "delisted",
    "CN_DOMICILE": "domicile or HQ in a country of concern",
    "CN_CONTROL": "controlled by a Chinese entity",
    "CN_STAKE": "Chinese stakes at or above the threshold",
    "COUNTRY": "country of classification not in the eligible alliance sets",
    "LOW_PURITY": "purity below the rulebook's entry (or, for a name held, retention) level",
    "SECONDARY_LINE": "not the issuer's primary line",
    "DISCRETION": "excluded by a dated decision of the index committee (universe/discretion_log.csv)",
    "OK": "eligible",
    "FLAG_CN_STAKE": "eligible; Chinese stake below the threshold reported",
    "FLAG_CN_OPERATIONS": "eligible; operations in China reported",
    "FLAG_CN_OFFTAKE": "eligible; offtake with a Chinese party reported",
    "FLAG_CN_REGULATORY": "eligible; government action about China-linked holders reported",
}


def screen(
    universe: Universe,
    as_of: str | pd.Timestamp,
    methodology: Methodology | None = None,
    market: object | None = None,
    previous: pd.Index | list[str] | None = None,
) -> pd.DataFrame:
    """Eligibility of every listing at ``as_of``, with a reason code.

    Parameters
    ----------
    universe
        The tagged universe with its China-link table.
    as_of
        The review's cut-off date. Only links and listings in force then count.
    methodology
        The rulebook; the bundled default when ``None``.
    market
        A :class:`~exchina_index.data.market.MarketData`; when given, the size and liquidity
        screens run on data up to ``as_of`` (names failing them get those reason codes).
    previous
        Tickers in the index before this review (they get the retention buffers).

    Returns
    -------
    pandas.DataFrame
        Indexed by ticker: ``eligible`` (bool), ``reason`` (code, see :data:`REASONS`), ``flags``
        (all reported China links, ``;``-separated), ``country`` (of classification),
        ``cn_stake`` (in-force Chinese stakes counted towards the threshold) and ``detail``.

    Raises
    ------
    UniverseError, MethodologyError, DataError, InputError, ReviewDateError
        An argument of the wrong type, or ``as_of`` not a date (see
        :func:`~exchina_index.dates.parse_date`).

    Examples
    --------
    >>> import exchina_index as xi
    >>> s = xi.screen(xi.load_universe(), "2026-11-27")
    >>> s.loc["600111.SS", "reason"]
    'CN_DOMICILE'
    """
    f = require_universe(universe).frame
    m = resolve_methodology(methodology)
    t = parse_date(as_of, "as_of")
    if market is not None:
        from exchina_index.data import require_market

        require_market(market, t)
    if previous is not None and not isinstance(previous, (pd.Index, list, tuple, set, frozenset)):
        raise InputError(
            f"previous must be the tickers held before the review (a list or pandas Index), got "
            f"{type(previous).__name__}"
        )
    static = StaticScreens.build(universe, m)
    incumbent = np.zeros(len(f), dtype=bool) if previous is None else f.index.isin(list(previous))
    if market is None:
        st = static.at(t, incumbent)
        reason, eligible = final_reasons(st.reason, None, st.flags)
        reason, eligible, _ = apply_decisions(universe.decisions, f.index, t, reason, eligible)
        detail = st.detail
    else:  # as a review screens: the size screens, the discretion log, the minimum-constituent fallback
        panel = feature_panel(market, [t], window=m.size.adtv_window_sessions)
        columns = panel.tickers.get_indexer(f.index)
        el = review_eligibility(static, panel, panel, 0, columns, incumbent, m, f.index, universe.decisions)
        st, reason, eligible, detail = el.screens, el.reason, el.eligible, el.detail
    return pd.DataFrame(
        {
            "eligible": eligible,
            "reason": pd.Series(reason, index=f.index).astype(str),
            "flags": pd.Series(st.flags, index=f.index).astype(str),
            "country": static.country,
            "cn_stake": st.cn_stake,
            "detail": pd.Series(detail, index=f.index).astype(str),
        },
        index=f.index,
    )


def last_screenable_date(
    universe: Universe,
    market: object,
    methodology: Methodology | None = None,
) -> tuple[pd.Timestamp, tuple[str, ...]]:
    """The last market date with a price for a listing the screens without market data admit.

    A listing screened out on its last price date (Chinese, a secondary line, controlled by a
    Chinese entity then) cannot be a candidate of a review after it, so data of such listings
    running past every other listing's must not extend the reviews: a review there would find
    every candidate stale. Each listing is screened on its own last price date (one screen per
    distinct last date, usually one).

    Returns
    -------
    (date, excluded)
        The date, and the excluded listings whose prices run past it (empty when the market's last
        date is the answer). When no listing passes, the market's last date and no listings (the
        review itself then says why nobody is eligible).
    """
    close = market.close  # type: ignore[attr-defined]
    dates = close.index
    valid = close.notna().to_numpy()
    priced = valid.any(axis=0)
    if len(dates) == 0 or not priced.any():
        return (dates[-1] if len(dates) else pd.NaT), ()
    last_pos = len(dates) - 1 - np.argmax(valid[::-1], axis=0)
    last = pd.Series(dates[last_pos[priced]], index=close.columns[priced])
    m = resolve_methodology(methodology)
    for day in sorted(set(last), reverse=True):
        here = last.index[last == day]
        ok = screen(universe, day, m)["eligible"].reindex(here, fill_value=False)
        if ok.any():
            return day, tuple(sorted(map(str, last.index[last > day])))
    return dates[-1], ()
