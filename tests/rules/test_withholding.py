"""Dated withholding rates (``[withholding]`` of the rulebook) and the ownership rule's vocabulary.

Expected rates are the statutory figures cited in ``methodology.toml``, written out by hand here
(Belgium 25 -> 27 -> 30 % on 2016-01-01 and 2017-01-01, France 30 -> 28 -> 26.5 -> 25 % over
2020-2022, Ireland 20 -> 25 % on 2020-01-01, 0 % in the offshore domiciles), not read back
from the code.
"""

from __future__ import annotations

import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from exchina_index._resources import bundled_path
from exchina_index.errors import MethodologyError, ReviewDateError
from exchina_index.rules.methodology import (
    LINK_ENDINGS,
    LINK_KINDS,
    STAKE_ENDINGS,
    RateChange,
    Withholding,
    load_methodology,
)

RULEBOOK = bundled_path("methodology.toml")


@pytest.fixture(scope="module")
def wh() -> Withholding:
    return load_methodology().withholding


@pytest.mark.parametrize(
    ("domicile", "date", "rate"),
    [
        ("BE", "2015-12-31", 0.25),
        ("BE", "2016-01-01", 0.27),
        ("BE", "2016-12-31", 0.27),
        ("BE", "2017-01-01", 0.30),
        ("BE", "2026-11-27", 0.30),
        ("FR", "2019-12-31", 0.30),
        ("FR", "2020-01-01", 0.28),
        ("FR", "2021-01-01", 0.265),
        ("FR", "2021-12-31", 0.265),
        ("FR", "2022-01-01", 0.25),
        ("IE", "2019-12-31", 0.20),
        ("IE", "2020-01-01", 0.25),
        ("JP", "2016-03-31", 0.15315),
        ("JP", "2026-11-27", 0.15315),
        ("US", "2016-01-04", 0.30),
        ("AU", "2024-06-28", 0.30),
        ("CA", "2024-06-28", 0.25),
        ("DE", "2020-06-30", 0.26375),
        ("NZ", "2025-11-28", 0.30),
        ("CN", "2019-06-28", 0.10),
        ("GB", "2018-06-29", 0.0),
        ("HK", "2018-06-29", 0.0),
    ],
)
def test_bundled_rates_in_force_on_a_date(wh: Withholding, domicile: str, date: str, rate: float) -> None:
    assert wh.rate(domicile, date) == rate


@pytest.mark.parametrize("domicile", ["GG", "VG", "JE", "KY", "BM"])
@pytest.mark.parametrize("date", ["2015-01-02", "2020-01-01", "2026-11-27"])
def test_offshore_domiciles_withhold_nothing(wh: Withholding, domicile: str, date: str) -> None:
    # RBW.L (Guernsey) and CRML (BVI) used to pay the 30 % default
    assert wh.rate(domicile, date) == 0.0


def test_an_unlisted_domicile_pays_the_default_and_every_date_form_works(wh: Withholding) -> None:
    assert wh.rate("MX", "2020-01-01") == wh.default == 0.30
    for day in (
        "2016-06-30",
        datetime.date(2016, 6, 30),
        datetime.datetime(2016, 6, 30, 15, 30),
        pd.Timestamp("2016-06-30"),
        np.datetime64("2016-06-30"),
    ):
        assert wh.rate("BE", day) == 0.27
    with pytest.raises(ReviewDateError, match="date"):
        wh.rate("BE", "30/06/2016")


def test_dates_before_the_history_use_the_first_rates(wh: Withholding) -> None:
    assert wh.rate("BE", "2010-06-30") == 0.25 and wh.rate("FR", "2001-01-02") == 0.30


def test_history_lists_each_change_in_order(wh: Withholding) -> None:
    assert wh.history("FR") == (
        (None, 0.30),
        (datetime.date(2020, 1, 1), 0.28),
        (datetime.date(2021, 1, 1), 0.265),
        (datetime.date(2022, 1, 1), 0.25),
    )
    assert wh.history("US") == ((None, 0.30),)
    assert wh.history("MX") == ((None, 0.30),)  # not listed: the default


def test_a_domicile_only_in_the_changes_starts_at_the_default() -> None:
    w = Withholding(as_of="2026-12-02", default=0.30, rates={}, changes=(RateChange("2018-01-01", "SE", 0.0),))
    assert w.rate("SE", "2017-12-29") == 0.30 and w.rate("SE", "2018-01-01") == 0.0


def test_a_rate_change_is_one_line(tmp_path: Path) -> None:
    text = RULEBOOK.read_text()
    line = '    { since = "2022-01-01", domicile = "FR", rate = 0.25 },\n'
    assert line in text
    added = line + '    { since = "2024-07-01", domicile = "NL", rate = 0.20 },\n'
    p = tmp_path / "methodology.toml"
    p.write_text(text.replace(line, added, 1))
    w = load_methodology(p).withholding
    assert w.rate("NL", "2024-06-28") == 0.15 and w.rate("NL", "2024-07-01") == 0.20
    assert w.rate("FR", "2024-07-01") == 0.25  # the others are untouched


def _edited(tmp_path: Path, old: str, new: str) -> Path:
    text = RULEBOOK.read_text()
    assert old in text, old
    p = tmp_path / "methodology.toml"
    p.write_text(text.replace(old, new, 1))
    return p


BE_2017 = '{ since = "2017-01-01", domicile = "BE", rate = 0.30 }'


@pytest.mark.parametrize(
    ("new", "key", "words"),
    [
        ('{ since = "2017-13-01", domicile = "BE", rate = 0.30 }', "withholding.changes[1].since", "ISO date"),
        ('{ since = "20170101", domicile = "BE", rate = 0.30 }', "withholding.changes[1].since", "ISO date"),
        ('{ since = "1850-01-01", domicile = "BE", rate = 0.30 }', "withholding.changes[1].since", "ISO date"),
        ('{ since = "2015-06-30", domicile = "BE", rate = 0.30 }', "withholding.changes[1].since", "date order"),
        ('{ since = "2016-01-01", domicile = "BE", rate = 0.30 }', "withholding.changes[1].since", "one line per"),
        ('{ since = "2017-01-01", domicile = "BE", rate = 0.27 }', "withholding.changes[1].rate", "already has"),
        ('{ since = "2017-01-01", domicile = "BE", rate = 1.30 }', "withholding.changes[1].rate", "out of range"),
        ('{ since = "2017-01-01", domicile = "BE", rate = -0.1 }', "withholding.changes[1].rate", "out of range"),
        ('{ since = "2017-01-01", domicile = "be", rate = 0.30 }', "withholding.changes[1].domicile", "'BE'"),
        ('{ since = "2017-01-01", domicile = "XX", rate = 0.30 }', "withholding.changes[1].domicile", "ISO 3166"),
        ('{ since = 2017-01-01, domicile = "BE", rate = 0.30 }', "withholding.changes[1].since", "string"),
        ('{ since = "2017-01-01", domicle = "BE", rate = 0.30 }', "withholding.changes[1].domicle", "unknown key"),
        ('{ since = "2017-01-01", rate = 0.30 }', "withholding.changes[1].domicile", "missing"),
    ],
)
def test_bad_changes_are_errors_naming_the_key(tmp_path: Path, new: str, key: str, words: str) -> None:
    p = _edited(tmp_path, BE_2017, new)
    with pytest.raises(MethodologyError) as err:
        load_methodology(p)
    assert f"'{key}'" in str(err.value) and words in str(err.value), str(err.value)
    assert err.value.path == p


@pytest.mark.parametrize(
    "new",
    [
        '{ since = "2015-06-30", domicile = "BE", rate = 0.30 }',  # out of order
        '{ since = "2017-13-01", domicile = "BE", rate = 0.30 }',  # not a date
    ],
)
def test_date_errors_name_the_line_of_the_entry(tmp_path: Path, new: str) -> None:
    p = _edited(tmp_path, BE_2017, new)
    with pytest.raises(MethodologyError) as err:
        load_methodology(p)
    assert err.value.line is not None and new in p.read_text().splitlines()[err.value.line - 1]


def test_bad_rates_and_overrides(tmp_path: Path) -> None:
    p = _edited(tmp_path, "GG = 0.0 ", "GG = 1.5 ")
    with pytest.raises(MethodologyError, match=r"'withholding\.rates\.GG'.*out of range"):
        load_methodology(p)
    m = load_methodology()
    with pytest.raises(MethodologyError, match=r"'withholding\.changes'.*expected a list"):
        m.with_overrides({"withholding": {"changes": "BE"}})
    with pytest.raises(MethodologyError, match=r"'withholding\.changes\[0\]\.since'"):
        m.with_overrides({"withholding": {"changes": [{"since": "2017-01-01T00:00", "domicile": "BE", "rate": 0.3}]}})
    # an override replaces the whole list: no changes at all is a valid (undated) table
    flat = m.with_overrides({"withholding": {"changes": []}})
    assert flat.withholding.rate("BE", "2026-11-27") == 0.25


def test_regulatory_action_is_a_flagged_kind_without_stake_or_exclusion() -> None:
    china = load_methodology().china
    assert "regulatory_action" in LINK_KINDS
    assert "regulatory_action" in china.flagged_kinds
    assert "regulatory_action" not in china.excluding_kinds and "regulatory_action" not in china.stake_kinds


def test_link_endings_and_stake_endings() -> None:
    assert LINK_ENDINGS == {"sold", "diluted", "transferred", "superseded", "lapsed", "delisted", "redomiciled"}
    # a stake ends only on a shown sale or dilution (or a transfer, a new report, a delisting)
    assert STAKE_ENDINGS == LINK_ENDINGS - {"lapsed", "redomiciled"}


def test_the_rulebook_states_the_ownership_rule() -> None:
    text = " ".join(RULEBOOK.read_text().split())
    for words in (
        "A reported stake stays in force",
        "A transfer is a new link",
        "Stakes add up",
        "`ended_by`",
        "recorded on any of the issuer's lines",
    ):
        assert words in text, words
