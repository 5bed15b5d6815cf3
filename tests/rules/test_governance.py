"""The rulebook's effective date and notice period ([governance]), checked when the rulebook is read."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest
from _cli_helpers import assert_one_line_exit_2

from exchina_index._resources import bundled_path
from exchina_index.errors import MethodologyError
from exchina_index.rules.methodology import load_methodology


def _days(a: str, b: str) -> int:
    return (datetime.date.fromisoformat(b) - datetime.date.fromisoformat(a)).days


def test_the_bundled_rulebook_gives_at_least_its_notice() -> None:
    g = load_methodology().governance
    assert _days(g.announced, g.effective) >= g.notice_days
    # the March 2027 review: the third Friday of March 2027 is the 19th
    eff = datetime.date.fromisoformat(g.effective)
    assert eff.weekday() == 4 and 15 <= eff.day <= 21 and eff.month == 3


@pytest.mark.parametrize(("announced", "ok"), [("2027-01-18", True), ("2027-01-19", False), ("2027-03-18", False)])
def test_the_notice_period_is_counted_in_calendar_days(announced: str, ok: bool) -> None:
    # 2027-01-18 -> 2027-03-19 is 60 days (13 left in January, 28 in February, 19 in March): exactly the notice
    override = {"governance": {"announced": announced, "effective": "2027-03-19", "notice_days": 60}}
    if ok:
        assert load_methodology().with_overrides(override).governance.announced == announced
    else:
        with pytest.raises(MethodologyError, match="governance.effective") as info:
            load_methodology().with_overrides(override)
        assert f"{_days(announced, '2027-03-19')} days after" in str(info.value) and "60 days" in str(info.value)


@pytest.mark.parametrize("text", ["2027-02-30", "20270319", "2027-W11-5"])
def test_an_effective_date_that_is_not_a_date_names_the_key(text: str) -> None:
    # Python's date.fromisoformat reads the basic and the week forms too: the rulebook takes one form
    with pytest.raises(MethodologyError, match="governance.effective") as info:
        load_methodology().with_overrides({"governance": {"effective": text}})
    assert "YYYY-MM-DD" in str(info.value)


def _short_notice_file(tmp_path: Path) -> Path:
    text = bundled_path("methodology.toml").read_text(encoding="utf-8")
    old = 'announced = "2026-12-02"'
    assert old in text
    p = tmp_path / "methodology.toml"
    p.write_text(text.replace(old, 'announced = "2027-03-01"', 1), encoding="utf-8")
    return p


def test_a_rulebook_file_with_too_short_a_notice_is_an_error_naming_the_file(tmp_path: Path) -> None:
    p = _short_notice_file(tmp_path)
    with pytest.raises(MethodologyError, match="governance.effective") as info:
        load_methodology(p)
    assert str(p) in str(info.value) and "18 days after" in str(info.value)


def test_the_command_line_exits_2_with_one_line_and_writes_nothing(tmp_path: Path) -> None:
    p = _short_notice_file(tmp_path)
    out = tmp_path / "rb"
    argv = ["rebalance", "--as-of", "2025-12-19", "--out", out, "--methodology", p]
    assert_one_line_exit_2(argv, "governance.effective", "methodology.toml", "notice period")
    assert not out.exists()
