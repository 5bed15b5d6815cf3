"""The static screens as arrays, against an independent pandas reference (the grouped form) on the
bundled universe at every quarter-end, and by hand on a small table."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

import exchina_index as xi
from exchina_index.universe.screens import FLAG_OF_KIND, FLAG_ORDER, StaticScreens, country_of_classification

M = xi.load_methodology()


def _reference(universe, t: pd.Timestamp, held: np.ndarray) -> pd.DataFrame:
    """The static screens written with pandas group-bys, one frame per date: links grouped by issuer
    (a link on any line counts for all its lines), purity as of ``t`` from the history rows against
    the entry level, or the retention level for a listing ``held`` before."""
    f, m = universe.frame, M
    country = country_of_classification(f, m)
    concern = set(m.countries.countries_of_concern)
    links = universe.links_in_force(t)
    links = links.assign(issuer=f["issuer"].reindex(links["ticker"]).to_numpy())
    stake = links[links["kind"].isin(m.china.stake_kinds)]
    by_issuer = stake.groupby("issuer")["stake"].agg(lambda x: math.fsum(x.dropna()))  # correctly rounded
    cn_stake = f["issuer"].map(by_issuer).fillna(0.0)
    controlled = set(links.loc[links["kind"].isin(m.china.excluding_kinds), "issuer"])
    checks = [
        ("NOT_YET_LISTED", f["listed_since"] > t),
        ("DELISTED", f["delisted"].notna() & (f["delisted"] <= t)),
        (
            "CN_DOMICILE",
            f["domicile"].isin(concern)
            | f["hq"].isin(concern)
            | country.isin(concern)
            | f["issuer"].isin(set(links.loc[links["kind"] == "domicile_of_concern", "issuer"])),
        ),
        ("CN_CONTROL", f["issuer"].isin(controlled)),
        ("CN_STAKE", cn_stake >= m.china.stake_threshold),
        ("COUNTRY", ~country.isin(m.countries.eligible)),
        ("LOW_PURITY", _purity_at(universe, t) < np.where(held, m.purity.retention, m.purity.entry)),
        ("SECONDARY_LINE", ~f["primary"] & m.eligibility.one_line_per_issuer),
    ]
    reason = pd.Series("", index=f.index, dtype=object)
    for code, failed in checks:
        reason = reason.where((reason != "") | ~failed.to_numpy(), code)
    flagged = links[links["kind"].isin(m.china.flagged_kinds)]
    by_issuer_flags = (
        flagged.assign(flag=flagged["kind"].map(FLAG_OF_KIND))
        .groupby("issuer")["flag"]
        .agg(lambda s: ";".join(sorted(set(s), key=FLAG_ORDER.index)))
    )
    flags = f["issuer"].map(by_issuer_flags).fillna("")
    return pd.DataFrame({"reason": reason, "flags": flags, "cn_stake": cn_stake})


def _purity_at(universe, t: pd.Timestamp) -> pd.Series:
    """Each listing's purity at ``t``: its issuer's history row in force then (the first row before
    any is), else the universe column."""
    f, h = universe.frame, universe.history
    rows = h[h["field"] == "purity"].assign(issuer=lambda d: f["issuer"].reindex(d["ticker"]).to_numpy())
    in_force = rows[(rows["from"] <= t) & (rows["to"].isna() | (rows["to"] > t))].set_index("issuer")["value"]
    first = rows.sort_values("from").groupby("issuer")["value"].first()
    return f["issuer"].map(in_force).fillna(f["issuer"].map(first)).fillna(f["purity"])


@pytest.mark.parametrize("year", range(2016, 2028))
def test_static_screens_equal_the_grouped_reference(year: int) -> None:
    universe = xi.load_universe()
    s = StaticScreens.build(universe, M)
    # every other listing held before the review: the purity retention level applies to it
    held = np.arange(len(universe.frame)) % 2 == (year % 2)
    for t in pd.date_range(f"{year}-01-01", periods=4, freq="QE"):
        got, ref = s.at(t, held), _reference(universe, t, held)
        assert got.reason.tolist() == ref["reason"].tolist()
        assert got.flags.tolist() == ref["flags"].tolist()
        assert np.array_equal(got.cn_stake, ref["cn_stake"].to_numpy())


def test_links_by_hand() -> None:
    full = xi.load_universe().frame.copy()
    full["listed_since"] = pd.Timestamp("2010-01-01")
    full["delisted"] = pd.NaT
    no_links = xi.Universe(frame=full, links=xi.load_universe().links.iloc[:0])
    passing = StaticScreens.build(no_links, M).at(pd.Timestamp("2022-06-30")).reason == ""
    frame = full[passing].iloc[:3]
    a, b, c = frame.index
    links = pd.DataFrame(
        {
            "ticker": [a, a, a, b, c],
            "counterparty": ["X", "Y", "Z", "W", "V"],
            "kind": [
                "state_linked_shareholder",
                "chinese_shareholder",
                "state_linked_shareholder",
                "control",
                "offtake",
            ],
            "stake": [0.1, 0.12, 0.3, np.nan, np.nan],
            "from": pd.to_datetime(["2020-01-01", "2020-01-01", "2024-01-01", "2021-06-01", "2019-01-01"]),
            "to": pd.to_datetime([None, "2023-01-01", None, None, None]),
            "source": "s",
            "notes": "",
        }
    )
    u = xi.Universe(frame=frame, links=links)
    r = StaticScreens.build(u, M).at(pd.Timestamp("2022-06-30"))
    assert r.cn_stake.tolist() == pytest.approx([0.1 + 0.12, 0.0, 0.0])
    assert r.reason.tolist() == ["", "CN_CONTROL", ""]
    assert r.flags.tolist()[0] == "FLAG_CN_STAKE" and r.flags[2] == "FLAG_CN_OFFTAKE" and r.flags[1] == ""
    assert r.detail[0] == (
        "state_linked_shareholder: X 10.0% since 2020-01-01; chinese_shareholder: Y 12.0% since 2020-01-01"
    )
    later = StaticScreens.build(u, M).at(pd.Timestamp("2024-06-30"))  # Y ended, Z started: 0.1 + 0.3
    assert later.cn_stake[0] == pytest.approx(0.4) and later.reason[0] == "CN_STAKE"
