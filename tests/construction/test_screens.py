from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from exchina_index.construction.screens import REASONS, screen
from exchina_index.rules.methodology import load_methodology
from exchina_index.universe.loading import load_universe

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


@pytest.fixture(scope="module")
def mini():
    return load_universe(FIXTURES / "mini_universe.csv", FIXTURES / "mini_china_links.csv")


@pytest.mark.parametrize(
    ("as_of", "ticker", "reason"),
    [
        ("2023-06-01", "DDD.SS", "CN_DOMICILE"),
        ("2023-06-01", "FFF", "CN_DOMICILE"),  # BVI shell classified by its HQ in China
        ("2023-06-01", "GGG.V", "COUNTRY"),  # South Africa is in no eligible alliance set
        ("2021-06-01", "AAA", "FLAG_CN_STAKE"),  # 10 % state-linked: reported, not excluded
        ("2023-06-01", "AAA", "CN_STAKE"),  # 10 % + 16 % = 26 % >= 25 %
        ("2024-07-01", "AAA", "OK"),  # both stakes ended on 2024-06-30
        ("2023-06-01", "AAA.AX", "CN_STAKE"),  # AAA's links apply to every line of the issuer
        ("2024-07-01", "AAA.AX", "SECONDARY_LINE"),
        ("2023-06-01", "BBB.L", "FLAG_CN_OPERATIONS"),
        ("2020-06-01", "CCC.T", "FLAG_CN_OFFTAKE"),
        ("2023-06-01", "CCC.T", "OK"),  # offtake ended 2023-01-01
        ("2019-06-01", "EEE", "NOT_YET_LISTED"),
        ("2025-09-15", "EEE", "CN_CONTROL"),
        ("2025-10-01", "EEE", "DELISTED"),  # delisting is reported before control
    ],
)
def test_reason_codes_point_in_time(mini, as_of: str, ticker: str, reason: str) -> None:
    s = screen(mini, as_of)
    assert s.loc[ticker, "reason"] == reason
    assert s.loc[ticker, "eligible"] == (reason == "OK" or reason.startswith("FLAG_"))
    assert reason in REASONS


def test_country_of_classification_and_stake_columns(mini) -> None:
    s = screen(mini, "2023-06-01")
    assert s.loc["BBB.L", "country"] == "GB" and s.loc["FFF", "country"] == "CN"
    assert s.loc["AAA", "cn_stake"] == pytest.approx(0.26)
    assert "Another Fund 16.0%" in s.loc["AAA", "detail"]


def test_rulebook_changes_move_the_screen(mini) -> None:
    m = load_methodology()
    strict = m.with_overrides(
        {"purity": {"entry": 0.1, "retention": 0.05}, "countries": {"eligible_sets": ["five_eyes"]}}
    )
    s = screen(mini, "2023-06-01", strict)
    assert s.loc["CCC.T", "reason"] == "COUNTRY"  # Japan is not Five Eyes
    s = screen(mini, "2023-06-01", strict.with_overrides({"countries": {"extra_eligible": ["JP"]}}))
    assert s.loc["CCC.T", "reason"] == "LOW_PURITY"
    loose = m.with_overrides({"china": {"stake_threshold": 0.3}})
    assert screen(mini, "2023-06-01", loose).loc["AAA", "reason"] == "FLAG_CN_STAKE"


def test_screen_does_not_depend_on_row_order(mini) -> None:
    shuffled = type(mini)(
        frame=mini.frame.sample(frac=1, random_state=3), links=mini.links.sample(frac=1, random_state=4)
    )
    a = screen(mini, "2023-06-01")
    b = screen(shuffled, "2023-06-01").loc[a.index]
    pd.testing.assert_frame_equal(a, b)


# --- the bundled universe ------------------------------------------------------------------------

CHINA_CONTROLLED = {
    "600111.SS",
    "600392.SS",
    "000831.SZ",
    "600549.SS",
    "300748.SZ",
    "6680.HK",
    "000970.SZ",
    "600366.SS",
    "PEK.AX",
}  # from universe_candidates.csv rows flagged EXCL


def test_bundled_screen_today_removes_exactly_the_china_controlled_rows() -> None:
    u = load_universe()
    s = screen(u, "2026-11-27")
    cn = s.index[s["reason"].str.startswith("CN_")]
    assert set(cn) == CHINA_CONTROLLED - {"PEK.AX"}  # Peak is reported as delisted first (2025-09-20)
    assert s.loc["PEK.AX", "reason"] == "DELISTED"
    # taken over on its last session: the Shenghe control link is in force, but the committee's dated
    # exclusion (universe/discretion_log.csv, from 2025-08-18) is the reason shown
    links = u.links_in_force(pd.Timestamp("2025-09-19"))
    assert ((links["ticker"] == "PEK.AX") & (links["kind"] == "control")).any()
    assert screen(u, "2025-09-19").loc["PEK.AX", "reason"] == "DISCRETION"
    assert screen(u, "2025-08-15").loc["PEK.AX", "reason"] == "FLAG_CN_STAKE"  # before the decision
    allied = s.index.difference(list(CHINA_CONTROLLED))
    assert not s.loc[allied, "reason"].str.startswith("CN_").any()
    by_country = s["country"].isin(load_methodology().countries.eligible) & ~s.index.isin(list(CHINA_CONTROLLED))
    assert by_country.sum() >= 45
    eligible = u.frame[s["eligible"]]
    for stage in ("mining", "refining", "manufacturing"):
        assert eligible.loc[eligible[stage] >= 0.25, "issuer"].nunique() >= 5, stage


def test_northern_minerals_reason_in_force_at_each_date() -> None:
    # The audit's facts (businessnews.com.au, The West, filingreader 2025-11-21): Yuxiao 9.8 % + its
    # associates 6.23 % + Indian Ocean 2.79 % in 2024; Yuxiao's shares went to Qogir Trading (HK, 8.45 %)
    # and Hong Kong Ying Tak held 8.37 % from Sep 2024; the last order shares were sold 2025-03-28;
    # Vastness (Beijing) 7.7 % from 2026-02-10; referral to Treasury's Foreign Investment Division 2025-11-21.
    u = load_universe()
    expected = {
        "2024-01-01": 0.098 + 0.0623 + 0.0279,
        "2024-09-30": 0.0845 + 0.0837 + 0.0279,
        "2025-06-30": 0.0845 + 0.0837,
        "2026-11-27": 0.0845 + 0.0837 + 0.077,
    }
    for day, stake in expected.items():
        s = screen(u, day).loc["NTU.AX"]
        assert s["cn_stake"] == pytest.approx(stake, abs=1e-12), day
        assert s["reason"] == "FLAG_CN_STAKE" and s["eligible"], day  # combined, still below 25 %
    assert screen(u, "2026-11-27").loc["NTU.AX", "flags"] == "FLAG_CN_STAKE;FLAG_CN_REGULATORY"


def test_energy_transition_minerals_keeps_shenghe_stake_after_the_top_up_right_lapsed() -> None:
    # middle.news 2026-01-29: only Shenghe's top-up right lapsed; it still held ~6.5 %, so the stake stays.
    s = screen(load_universe(), "2026-11-27").loc["ETM.AX"]
    assert s["reason"] == "FLAG_CN_STAKE" and s["cn_stake"] == pytest.approx(0.065, abs=1e-12)
    assert "Shenghe" in s["detail"]


@pytest.mark.parametrize("as_of", ["01/06/2023", 20230601, "2023-W22-4", None, "June 2023"])
def test_as_of_that_is_not_an_iso_date_is_refused(mini, as_of: object) -> None:
    from exchina_index.errors import ReviewDateError

    with pytest.raises(ReviewDateError, match="as_of"):
        screen(mini, as_of)


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"universe": 5}, "must be a Universe"),
        ({"methodology": {"caps": {}}}, "must be a Methodology"),
        ({"market": "demo"}, "must be a MarketData"),
        ({"previous": "AAA"}, "previous must be the tickers"),
    ],
)
def test_wrong_types_are_typed_errors(mini, kwargs: dict, words: str) -> None:
    from exchina_index.errors import ExchinaIndexError

    args = {"universe": mini, "as_of": "2023-06-01", **kwargs}
    with pytest.raises(ExchinaIndexError, match=words):
        screen(**args)
