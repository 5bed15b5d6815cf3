from __future__ import annotations

from pathlib import Path

import pytest

from exchina_index._resources import bundled_path
from exchina_index.errors import MethodologyError
from exchina_index.methodology import load_methodology


def test_bundled_rulebook_loads_with_anchored_defaults() -> None:
    m = load_methodology()
    assert m.version == "1.0.0"
    # anchors from the published rules (methodology_anchors.md)
    assert m.caps.single == 0.08  # MVIS single-name cap
    assert m.china.stake_threshold == 0.25  # DOE FEOC
    assert m.size.market_cap_entry_usd == 150e6 and m.size.market_cap_retention_usd == 75e6
    assert m.liquidity.participation == 0.25  # Solactive
    assert m.regulatory.mode == "none"  # the index; RIC and UCITS are fund variants
    assert (m.regulatory.ric.issuer_max, m.regulatory.ric.large_threshold, m.regulatory.ric.large_sum) == (0.225, 0.045, 0.45)
    assert m.withholding.rate("JP") == 0.15315 and m.withholding.rate("GB") == 0.0
    assert abs(sum(m.stages.targets) - 1) < 1e-12
    five_eyes = {"US", "GB", "CA", "AU", "NZ"}
    assert five_eyes <= m.countries.eligible and "CN" not in m.countries.eligible


def test_rulebook_is_immutable_and_hash_tracks_content() -> None:
    m = load_methodology()
    with pytest.raises(AttributeError):
        m.caps.single = 0.5  # type: ignore[misc]
    with pytest.raises(TypeError):
        m.caps.country["US"] = 0.1  # type: ignore[index]
    assert m.hash == load_methodology().hash
    assert m.with_overrides({"caps": {"single": 0.07}}).hash != m.hash


def test_overrides_merge_nested_tables() -> None:
    m = load_methodology().with_overrides({"regulatory": {"mode": "ucits"}, "countries": {"eligible_sets": ["five_eyes"]}})
    assert m.regulatory.active.issuer_max == 0.09
    assert m.countries.eligible == frozenset({"US", "GB", "CA", "AU", "NZ"})
    assert m.caps.single == 0.08  # untouched keys keep their values


def _write(tmp_path: Path, old: str, new: str) -> Path:
    text = bundled_path("methodology.toml").read_text()
    assert old in text, old
    p = tmp_path / "methodology.toml"
    p.write_text(text.replace(old, new, 1))
    return p


@pytest.mark.parametrize(
    ("old", "new", "key", "section_line"),
    [
        ("single = 0.08", "singel = 0.08", "caps.singel", "singel"),
        ("single = 0.08", "single = 1.5", "caps.single", "single = 1.5"),
        ("single = 0.08", "single = \"8%\"", "caps.single", "single ="),
        ('mode = "none"', 'mode = "ric50"', "regulatory.mode", "mode ="),
        ("stake_threshold = 0.25", "stake_threshold = -0.1", "china.stake_threshold", "stake_threshold"),
        ("tolerance = 0.02", "tolerance = 0.02\nextra = 1", "stages.extra", "extra = 1"),
        ("adtv_retention_usd = 250_000", "adtv_retention_usd = 900_000", "size.adtv_retention_usd", "adtv_retention_usd"),
        ('five_eyes = ["US", "GB", "CA", "AU", "NZ"]', 'five_eyes = ["US", "UK", "CA", "AU", "NZ"]', "countries.sets.five_eyes", "five_eyes"),
        ("stale_sessions = 10", "stale_sessions = 2.5", "size.stale_sessions", "stale_sessions"),
        ("expense_ratio = 0.0059", "", "fees.expense_ratio", None),
    ],
)
def test_bad_rulebook_names_the_key_and_line(tmp_path: Path, old: str, new: str, key: str, section_line: str | None) -> None:
    p = _write(tmp_path, old, new)
    with pytest.raises(MethodologyError) as err:
        load_methodology(p)
    assert f"'{key}'" in str(err.value)
    assert err.value.path == p
    if section_line is not None:
        lines = p.read_text().splitlines()
        assert err.value.line is not None and section_line in lines[err.value.line - 1]


def test_targets_must_sum_to_one(tmp_path: Path) -> None:
    p = _write(tmp_path, "targets = [0.3333333333333333, 0.3333333333333333, 0.3333333333333334]", "targets = [0.5, 0.5, 0.5]")
    with pytest.raises(MethodologyError, match="stages.targets"):
        load_methodology(p)


def test_syntax_error_gives_line(tmp_path: Path) -> None:
    p = _write(tmp_path, "single = 0.08", "single = = 0.08")
    with pytest.raises(MethodologyError) as err:
        load_methodology(p)
    assert "not valid TOML" in str(err.value)


def test_missing_file() -> None:
    with pytest.raises(MethodologyError, match="cannot read"):
        load_methodology("/nonexistent/methodology.toml")
