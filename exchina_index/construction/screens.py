"""Point-in-time eligibility screens with a reason code per name.

The screens that need no market data (listing dates, country of classification, the ex-China
test, purity, one line per issuer) live here; the size and liquidity screens, which need prices,
are in :mod:`exchina_index.construction.market_screens` and are applied when a market is given.

Reason codes (the first failing screen wins, in this order):

=====================  ===========================================================================
``NOT_YET_LISTED``     the review date is before ``listed_since``
``DELISTED``           the listing was delisted on or before the review date
``CN_DOMICILE``        domicile or HQ in a country of concern (China, HK, Macau, Russia, ...)
``CN_CONTROL``         an in-force link of an excluding kind (control by a Chinese entity)
``CN_STAKE``           in-force Chinese stakes sum to the rulebook threshold (25 %) or more
``COUNTRY``            country of classification outside the eligible alliance sets
``LOW_PURITY``         purity below ``eligibility.min_purity``
``SECONDARY_LINE``     not the issuer's primary line (one line per issuer)
size/liquidity codes   from :mod:`exchina_index.construction.market_screens` (``SIZE_BELOW_ENTRY``, ...)
``OK``                 eligible, nothing to report
``FLAG_CN_STAKE``      eligible; a Chinese stake below the threshold is reported
``FLAG_CN_OPERATIONS`` eligible; operations or JVs inside China are reported
``FLAG_CN_OFFTAKE``    eligible; an offtake or supply agreement with a Chinese party is reported
=====================  ===========================================================================
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from exchina_index.dates import parse_date
from exchina_index.errors import InputError
from exchina_index.rules.methodology import Methodology, resolve_methodology
from exchina_index.universe.loading import Universe, require_universe

__all__ = ["screen", "country_of_classification", "last_screenable_date", "REASONS"]

REASONS: dict[str, str] = {
    "NOT_YET_LISTED": "before listed_since",
    "DELISTED": "delisted",
    "CN_DOMICILE": "domicile or HQ in a country of concern",
    "CN_CONTROL": "controlled by a Chinese entity",
    "CN_STAKE": "Chinese stakes at or above the threshold",
    "COUNTRY": "country of classification not in the eligible alliance sets",
    "LOW_PURITY": "purity below the rulebook minimum",
    "SECONDARY_LINE": "not the issuer's primary line",
    "OK": "eligible",
    "FLAG_CN_STAKE": "eligible; Chinese stake below the threshold reported",
    "FLAG_CN_OPERATIONS": "eligible; operations in China reported",
    "FLAG_CN_OFFTAKE": "eligible; offtake with a Chinese party reported",
}
_FLAG_OF_KIND = {
    "state_linked_shareholder": "FLAG_CN_STAKE",
    "chinese_shareholder": "FLAG_CN_STAKE",
    "operations_in_china": "FLAG_CN_OPERATIONS",
    "offtake": "FLAG_CN_OFFTAKE",
}


def country_of_classification(frame: pd.DataFrame, methodology: Methodology) -> pd.Series:
    """Domicile, except offshore shells (BVI, Cayman, Bermuda, Guernsey, ...) which take their HQ."""
    offshore = frame["domicile"].isin(methodology.countries.offshore_jurisdictions)
    return frame["domicile"].where(~offshore, frame["hq"]).rename("country")


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

        require_market(market)
    if previous is not None and not isinstance(previous, (pd.Index, list, tuple, set, frozenset)):
        raise InputError(f"previous must be the tickers held before the review (a list or pandas Index), got "
                         f"{type(previous).__name__}")
    country = country_of_classification(f, m)
    concern = set(m.countries.countries_of_concern)
    links = universe.links_in_force(t)

    stake_links = links[links["kind"].isin(m.china.stake_kinds)]
    cn_stake = stake_links.groupby("ticker")["stake"].sum(min_count=1).reindex(f.index).fillna(0.0)
    controlled = set(links.loc[links["kind"].isin(m.china.excluding_kinds), "ticker"])

    checks: list[tuple[str, pd.Series]] = [
        ("NOT_YET_LISTED", f["listed_since"] > t),
        ("DELISTED", f["delisted"].notna() & (f["delisted"] <= t)),
        ("CN_DOMICILE", f["domicile"].isin(concern) | f["hq"].isin(concern) | country.isin(concern)),
        ("CN_CONTROL", f.index.to_series().isin(controlled)),
        ("CN_STAKE", cn_stake >= m.china.stake_threshold),
        ("COUNTRY", ~country.isin(m.countries.eligible)),
        ("LOW_PURITY", f["purity"] < m.eligibility.min_purity),
        ("SECONDARY_LINE", ~f["primary"] & m.eligibility.one_line_per_issuer),
    ]
    reason = pd.Series("", index=f.index, dtype=object)
    for code, failed in checks:
        reason = reason.where((reason != "") | ~failed.to_numpy(), code)

    flagged = links[links["kind"].isin(m.china.flagged_kinds)]
    flags = (
        flagged.assign(flag=flagged["kind"].map(_FLAG_OF_KIND))
        .groupby("ticker")["flag"].agg(lambda s: ";".join(sorted(set(s))))
        .reindex(f.index).fillna("")
    )
    detail = (
        links.assign(text=links.apply(_describe_link, axis=1) if len(links) else pd.Series(dtype=object))
        .groupby("ticker")["text"].agg("; ".join)
        .reindex(f.index).fillna("")
    )

    if market is not None:
        from exchina_index.construction.market_screens import market_screen

        passed = reason == ""
        prev = None if previous is None else pd.Index(previous)
        ms = market_screen(market, t, m, previous=prev)
        market_reason = ms["reason"].reindex(f.index).fillna("NO_DATA")
        failed = passed & (market_reason != "OK")
        reason = reason.where(~failed, market_reason)

    eligible = reason == ""
    first_flag = flags.str.split(";").str[0]
    reason = reason.where(~eligible, np.where(flags != "", first_flag, "OK"))
    return pd.DataFrame({
        "eligible": eligible.astype(bool),
        "reason": reason.astype(str),
        "flags": flags.astype(str),
        "country": country,
        "cn_stake": cn_stake.astype(float),
        "detail": detail.astype(str),
    })


def last_screenable_date(universe: Universe, market: object, methodology: Methodology | None = None,
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


def _describe_link(row: pd.Series) -> str:
    stake = "" if pd.isna(row["stake"]) else f" {row['stake']:.1%}"
    since = row["from"].date().isoformat()
    return f"{row['kind']}: {row['counterparty']}{stake} since {since}"
