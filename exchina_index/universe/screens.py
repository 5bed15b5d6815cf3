"""Static eligibility screens: the ones that need no market data, as array operations.

Listing dates, the country of classification, the ex-China test (domicile/HQ, control, Chinese
stakes, from the dated link table), purity (as of the cut-off, from the dated reference history) and
one line per issuer. A link recorded on any line of an issuer applies to all its lines, and the
stakes of all China/HK-linked holders of an issuer in force at a date add up towards the threshold.

:class:`StaticScreens` lays out once per universe and rulebook everything that does not depend on
the date (country of classification, the fixed masks, the link table as arrays with each link's
text, the dated reference facts); :meth:`~StaticScreens.at` then screens one cut-off with a few numpy
operations and a loop over the links in force.

Reason codes and their order are those of :data:`exchina_index.construction.screens.REASONS`
(the first failing screen wins).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from exchina_index.rules.methodology import Methodology
from exchina_index.universe.history import DatedFacts, lines_by_issuer
from exchina_index.universe.loading import Universe, link_ends

__all__ = ["country_of_classification", "StaticScreens", "StaticResult", "FLAG_OF_KIND", "FLAG_ORDER"]

#: Flag reported on an eligible name for each flagged link kind.
FLAG_OF_KIND = {
    "state_linked_shareholder": "FLAG_CN_STAKE",
    "chinese_shareholder": "FLAG_CN_STAKE",
    "operations_in_china": "FLAG_CN_OPERATIONS",
    "offtake": "FLAG_CN_OFFTAKE",
    "regulatory_action": "FLAG_CN_REGULATORY",
}
#: Flags from the most to the least material: a name's reason code is its first flag.
FLAG_ORDER = ("FLAG_CN_STAKE", "FLAG_CN_REGULATORY", "FLAG_CN_OPERATIONS", "FLAG_CN_OFFTAKE")


def country_of_classification(frame: pd.DataFrame, methodology: Methodology) -> pd.Series:
    """Domicile, except offshore shells (BVI, Cayman, Bermuda, Guernsey, ...) which take their HQ.

    The one definition of a listing's country for screens, caps and reports.
    """
    offshore = frame["domicile"].isin(methodology.countries.offshore_jurisdictions)
    return frame["domicile"].where(~offshore, frame["hq"]).rename("country")


@dataclass(frozen=True, eq=False)
class StaticResult:
    """The static screens at one cut-off; arrays over the universe's listings.

    ``reason`` is the first failing screen's code (``""`` when all pass), ``flags`` the reported
    China-link flags (``;``-separated, most material first: :data:`FLAG_ORDER`), ``cn_stake`` the
    in-force Chinese stakes counted towards the threshold, ``detail`` a readable description of the
    links in force and ``facts`` the dated reference facts in force (``float_factor``, ``purity``,
    the stages, ``shares_outstanding``).
    """

    reason: np.ndarray
    flags: np.ndarray
    cn_stake: np.ndarray
    detail: np.ndarray
    facts: dict[str, np.ndarray]


@dataclass(frozen=True, eq=False)
class StaticScreens:
    """What the static screens of one universe under one rulebook need, laid out once.

    Build it with :meth:`build`; screen a cut-off with :meth:`at`.
    """

    tickers: pd.Index
    country: pd.Series
    listed_since: np.ndarray
    delisted: np.ndarray
    not_allied: np.ndarray
    secondary: np.ndarray
    purity_entry: float
    purity_retention: float
    facts: DatedFacts
    cn_domicile: np.ndarray
    link_pos: np.ndarray  # listing of each link (its position in ``tickers``; one entry per line of the issuer)
    link_from: np.ndarray
    link_to: np.ndarray
    link_stake: np.ndarray  # stake counted towards the threshold (NaN: none)
    link_excludes: np.ndarray
    link_domicile: np.ndarray  # a dated domicile of concern (a listing redomiciled since)
    link_flag: np.ndarray  # flag of a flagged kind, "" otherwise
    link_text: np.ndarray
    stake_threshold: float

    @classmethod
    def build(cls, universe: Universe, methodology: Methodology) -> StaticScreens:
        """Lay out ``universe`` under ``methodology``."""
        f, m = universe.frame, methodology
        country = country_of_classification(f, m)
        concern = set(m.countries.countries_of_concern)
        cn_domicile = (f["domicile"].isin(concern) | f["hq"].isin(concern) | country.isin(concern)).to_numpy()
        lk = universe.links
        # each link once per line of its issuer (a link recorded on one line applies to the issuer)
        lines_of = lines_by_issuer(f)
        line_pos = [lines_of.get(f["issuer"].get(t), np.array([], dtype=int)) for t in lk["ticker"]]
        pos = np.concatenate([np.asarray(p, dtype=int) for p in line_pos]) if line_pos else np.zeros(0, dtype=int)
        rep = np.repeat(np.arange(len(lk)), [len(p) for p in line_pos])
        lk = lk.iloc[rep]
        kind = lk["kind"].astype(str).to_numpy()
        stake_kind = np.isin(kind, list(m.china.stake_kinds))
        flagged = np.isin(kind, list(m.china.flagged_kinds))
        carried = (lk["to"].notna() & link_ends(lk).isna()).to_numpy()
        return cls(
            tickers=f.index,
            country=country,
            listed_since=f["listed_since"].to_numpy(),
            delisted=f["delisted"].to_numpy(),
            not_allied=~country.isin(m.countries.eligible).to_numpy(),
            secondary=(~f["primary"] & m.eligibility.one_line_per_issuer).to_numpy(),
            purity_entry=m.purity.entry,
            purity_retention=m.purity.retention,
            facts=DatedFacts.build(f, universe.history),
            cn_domicile=cn_domicile,
            link_pos=pos,
            link_from=lk["from"].to_numpy(),
            link_to=link_ends(lk).to_numpy(),
            link_stake=np.where(stake_kind, lk["stake"].to_numpy(dtype=float), np.nan),
            link_excludes=np.isin(kind, list(m.china.excluding_kinds)),
            link_domicile=kind == "domicile_of_concern",
            link_flag=np.array([FLAG_OF_KIND.get(k, "") if fl else "" for k, fl in zip(kind, flagged)], dtype=object),
            link_text=np.array(
                [_describe_link(*r) for r in zip(kind, lk["counterparty"], lk["stake"], lk["from"], carried)],
                dtype=object,
            ),
            stake_threshold=m.china.stake_threshold,
        )

    def at(self, t: pd.Timestamp, incumbent: np.ndarray | None = None) -> StaticResult:
        """The static screens at the cut-off ``t`` (only listings and links in force then count).

        ``incumbent`` marks the listings held before the review: they stay while their purity is at
        least ``purity.retention``; others enter only from ``purity.entry`` (None: nobody held).
        """
        n = len(self.tickers)
        a = np.datetime64(t)
        in_force = np.flatnonzero((self.link_from <= a) & (np.isnat(self.link_to) | (self.link_to > a)))
        cn_stake = np.zeros(n)
        controlled = np.zeros(n, dtype=bool)
        flags = np.full(n, "", dtype=object)
        detail = np.full(n, "", dtype=object)
        domiciled = self.cn_domicile.copy()
        if in_force.size:
            domiciled[self.link_pos[in_force[self.link_domicile[in_force]]]] = True
            _links_per_name(self, in_force, cn_stake, controlled, flags, detail)
        facts = self.facts.at(t)
        held = np.zeros(n, dtype=bool) if incumbent is None else np.asarray(incumbent, dtype=bool)
        checks = (
            ("NOT_YET_LISTED", self.listed_since > a),
            ("DELISTED", ~np.isnat(self.delisted) & (self.delisted <= a)),
            ("CN_DOMICILE", domiciled),
            ("CN_CONTROL", controlled),
            ("CN_STAKE", cn_stake >= self.stake_threshold),
            ("COUNTRY", self.not_allied),
            ("LOW_PURITY", facts["purity"] < np.where(held, self.purity_retention, self.purity_entry)),
            ("SECONDARY_LINE", self.secondary),
        )
        reason = np.full(n, "", dtype=object)
        for code, failed in checks:
            reason[(reason == "") & failed] = code
        return StaticResult(reason=reason, flags=flags, cn_stake=cn_stake, detail=detail, facts=facts)


def _links_per_name(
    s: StaticScreens,
    in_force: np.ndarray,
    cn_stake: np.ndarray,
    controlled: np.ndarray,
    flags: np.ndarray,
    detail: np.ndarray,
) -> None:
    """Fold the links in force into per-name stakes, control, flags and detail (in link order).

    Stakes are added with compensated (Kahan) summation, as pandas' grouped sum does.
    """
    comp: dict[int, float] = {}
    seen: dict[int, set[str]] = {}
    texts: dict[int, list[str]] = {}
    for j in in_force.tolist():
        i = int(s.link_pos[j])
        stake = s.link_stake[j]
        if stake == stake:  # not NaN
            c = comp.get(i, 0.0)
            y = stake - c
            total = cn_stake[i] + y
            comp[i] = (total - cn_stake[i]) - y
            cn_stake[i] = total
        controlled[i] |= bool(s.link_excludes[j])
        if s.link_flag[j]:
            seen.setdefault(i, set()).add(s.link_flag[j])
        texts.setdefault(i, []).append(s.link_text[j])
    for i, fl in seen.items():
        flags[i] = ";".join(sorted(fl, key=FLAG_ORDER.index))
    for i, tx in texts.items():
        detail[i] = "; ".join(tx)


def _describe_link(kind: str, counterparty: str, stake: float, since: pd.Timestamp, carried: bool) -> str:
    share = "" if pd.isna(stake) else f" {stake:.1%}"
    kept = " (end reported, no sale shown: kept by the ownership rule)" if carried else ""
    return f"{kind}: {counterparty}{share} since {since.date().isoformat()}{kept}"
