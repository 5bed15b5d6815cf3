"""The bundled reference data carries the facts of the 2026-12 audit (issue 13; sources in each row).

The expected values are the public facts (filings, exchange notices, releases), not the code's output:
if a later edit of the files loses one, this fails.
"""

from __future__ import annotations

import pandas as pd
import pytest

import exchina_index as xi
from exchina_index.construction.screens import screen

U = xi.load_universe()
F = U.frame


def _link(ticker: str, kind: str, counterparty: str) -> pd.DataFrame:
    lk = U.links
    return lk[(lk["ticker"] == ticker) & (lk["kind"] == kind) & lk["counterparty"].str.contains(counterparty)]


def test_listing_dates() -> None:
    assert F.at["MP", "listed_since"] == pd.Timestamp("2020-11-18")  # first session as MP (not the FVAC shell)
    assert F.at["CRML", "listed_since"] == pd.Timestamp("2024-02-28")  # first trade after the de-SPAC
    # survivorship: acquired or delisted inside the history, with the day after the last session
    assert F.at["BSE.AX", "delisted"] == pd.Timestamp("2024-09-14")  # last ASX trade 2024-09-13 (Energy Fuels)
    assert F.at["PEK.AX", "delisted"] == pd.Timestamp("2025-09-20")  # suspended after 2025-09-19 (Shenghe)
    assert F.at["PM8.AX", "delisted"] == pd.Timestamp("2021-02-20") and F.at["PM8.AX", "issuer"] == "pensana"
    assert "DTR.AX" in F.index and not F.at["PM8.AX", "primary"]


def test_domiciles() -> None:
    assert F.at["ARR.AX", "domicile"] == "NZ"  # American Rare Earths is incorporated in New Zealand
    assert F.at["RBW.L", "domicile"] == "GG" and F.at["CRML", "domicile"] == "VG"


@pytest.mark.parametrize(
    ("ticker", "day", "expected"),
    [
        ("ARU.AX", "2026-11-27", 1 - 0.156),  # Hancock Prospecting 15.6 % (Form 604, Dec 2025)
        ("REEMF", "2026-11-27", 1 - 0.714),  # Synchron ~71.4 % after the March 2026 rights offering
        ("CRML", "2024-09-30", 0.25),  # European Lithium ~75 %
    ],
)
def test_float_factors_in_force(ticker: str, day: str, expected: float) -> None:
    assert U.facts_at(day).at[ticker, "float_factor"] == pytest.approx(expected, abs=0.005)


def test_dated_business_changes() -> None:
    before, after = U.facts_at("2025-11-17"), U.facts_at("2025-11-18")  # USA Rare Earth closes Less Common Metals
    assert after.at["USAR", "manufacturing"] > before.at["USAR", "manufacturing"]
    assert U.facts_at("2025-08-06").at["ETM.AX", "purity"] < U.facts_at("2025-08-05").at["ETM.AX", "purity"]  # Penouta
    assert "ASM" in F.at["UUUU", "notes"] and "2026-01-20" in F.at["UUUU", "notes"]  # scheme deed for ASM


def test_china_links() -> None:
    offtake = _link("MP", "offtake", "Shenghe")
    assert offtake["to"].max() == pd.Timestamp("2025-04-17")  # shipments to China stopped
    assert _link("MP", "state_linked_shareholder", "Shenghe")["from"].min() == pd.Timestamp("2020-11-18")
    # ETM: only the top-up right lapsed on 2026-01-29; Shenghe still holds ~6.5 %
    assert screen(U, "2026-11-27").at["ETM.AX", "cn_stake"] == pytest.approx(0.065)
    # NTU: Yuxiao's shares went to Qogir Trading (HK); the order shares were all sold effective 2025-03-28
    assert _link("NTU.AX", "chinese_shareholder", "Yuxiao Fund Pte")["ended_by"].tolist() == ["transferred"]
    assert _link("NTU.AX", "chinese_shareholder", "Indian Ocean")["to"].max() == pd.Timestamp("2025-03-28")
    assert _link("NTU.AX", "chinese_shareholder", "Qogir")["stake"].tolist() == [0.0845]
    assert _link("NTU.AX", "chinese_shareholder", "Ying Tak")["stake"].tolist() == [0.0837]
    referral = _link("NTU.AX", "regulatory_action", "Foreign Investment Division")
    assert referral["from"].tolist() == [pd.Timestamp("2025-11-21")]


def test_every_listing_is_audited_and_every_dated_fact_sourced() -> None:
    assert F["verified"].notna().all() and (F["source"] != "").all()
    h = U.history
    assert (h["source"].str.strip() != "").all() and h["from"].notna().all()
    for ticker, row in F.iterrows():
        fields = ["float_factor", *(["purity", "mining", "refining", "manufacturing"] if row["primary"] else [])]
        for field in fields:
            rows = h[(h["ticker"] == ticker) & (h["field"] == field)]
            assert len(rows) and rows["from"].min() <= row["listed_since"], (ticker, field)
    # an identifier is there only where a source showed it; the rest say so
    missing = F.index[F["isin"] == ""]
    assert all("ISIN" in F.at[t, "unconfirmed"] or "isin" in F.at[t, "unconfirmed"] for t in missing), missing


def test_withholding_of_offshore_domiciles() -> None:
    w = xi.load_methodology().withholding
    assert w.rate("GG", "2020-06-30") == 0.0 and w.rate("VG", "2025-06-30") == 0.0
    assert w.rate("BE", "2016-06-30") == 0.27 and w.rate("BE", "2017-06-30") == 0.30
