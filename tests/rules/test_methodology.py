from __future__ import annotations

import re
from pathlib import Path

import pytest

import exchina_index.rules.checks as checks
from exchina_index._resources import bundled_path
from exchina_index.errors import InputError, MethodologyError
from exchina_index.rules.methodology import check_aum, load_methodology, resolve_methodology


def test_bundled_rulebook_loads_with_anchored_defaults() -> None:
    m = load_methodology()
    # 1.1.0: dated withholding, the ownership rule, the ucits_index mode; 2.0.0: purity rules, the
    # exposure stage basis, the least-deviation ladder and the governance section
    assert m.version == "2.0.0"
    assert (m.purity.entry, m.purity.retention, m.purity.min_weighted) == (0.02, 0.01, 0.5)
    assert (m.purity.low_threshold, m.purity.low_max_weight) == (0.25, 0.15)  # MVIS's 25 % retention level
    assert m.stages.basis == "exposure"
    assert m.governance.min_constituents == 20  # REMX holds 20
    # anchors from the published rules (methodology_anchors.md)
    assert m.caps.single == 0.08  # MVIS single-name cap
    assert m.china.stake_threshold == 0.25  # DOE FEOC
    assert m.size.market_cap_entry_usd == 150e6 and m.size.market_cap_retention_usd == 75e6
    assert m.liquidity.participation == 0.25  # Solactive
    assert m.regulatory.mode == "none"  # the index; RIC and UCITS are fund variants
    assert (m.regulatory.ric.issuer_max, m.regulatory.ric.large_threshold, m.regulatory.ric.large_sum) == (
        0.225,
        0.045,
        0.45,
    )
    assert m.withholding.rate("JP", "2025-11-28") == 0.15315 and m.withholding.rate("GB", "2025-11-28") == 0.0
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
    m = load_methodology().with_overrides(
        {"regulatory": {"mode": "ucits"}, "countries": {"eligible_sets": ["five_eyes"]}}
    )
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
        ("single = 0.08", 'single = "8%"', "caps.single", "single ="),
        ('mode = "none"', 'mode = "ric50"', "regulatory.mode", "mode ="),
        ("stake_threshold = 0.25", "stake_threshold = -0.1", "china.stake_threshold", "stake_threshold"),
        ("tolerance = 0.02", "tolerance = 0.02\nextra = 1", "stages.extra", "extra = 1"),
        (
            "adtv_retention_usd = 250_000",
            "adtv_retention_usd = 900_000",
            "size.adtv_retention_usd",
            "adtv_retention_usd",
        ),
        (
            'five_eyes = ["US", "GB", "CA", "AU", "NZ"]',
            'five_eyes = ["US", "UK", "CA", "AU", "NZ"]',
            "countries.sets.five_eyes",
            "five_eyes",
        ),
        ("stale_sessions = 10", "stale_sessions = 2.5", "size.stale_sessions", "stale_sessions"),
        ("expense_ratio = 0.0059", "", "fees.expense_ratio", None),
    ],
)
def test_bad_rulebook_names_the_key_and_line(
    tmp_path: Path, old: str, new: str, key: str, section_line: str | None
) -> None:
    p = _write(tmp_path, old, new)
    with pytest.raises(MethodologyError) as err:
        load_methodology(p)
    assert f"'{key}'" in str(err.value)
    assert err.value.path == p
    if section_line is not None:
        lines = p.read_text().splitlines()
        assert err.value.line is not None and section_line in lines[err.value.line - 1]


def test_targets_must_sum_to_one(tmp_path: Path) -> None:
    p = _write(
        tmp_path, "targets = [0.3333333333333333, 0.3333333333333333, 0.3333333333333334]", "targets = [0.5, 0.5, 0.5]"
    )
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


@pytest.mark.parametrize(
    ("old", "new", "key", "words"),
    [
        ('solver = "CLARABEL"', 'solver = "CLARABLE"', "optimizer.solver", "did you mean 'CLARABEL'"),
        ('solver = "CLARABEL"', 'solver = "clarabel"', "optimizer.solver", "did you mean 'CLARABEL'"),
        (
            'fallback_solvers = ["SCS"]',
            'fallback_solvers = ["SCSS"]',
            "optimizer.fallback_solvers[0]",
            "did you mean 'SCS'",
        ),
        (
            'fallback_solvers = ["SCS"]',
            'fallback_solvers = ["SCS", "NOPE"]',
            "optimizer.fallback_solvers[1]",
            "unknown solver 'NOPE'",
        ),
    ],
)
def test_misspelt_solver_is_an_error_with_a_suggestion(
    tmp_path: Path, old: str, new: str, key: str, words: str
) -> None:
    # before: the misspelt solver failed at every review and SCS silently did the work
    p = _write(tmp_path, old, new)
    with pytest.raises(MethodologyError, match=re.escape(words)) as err:
        load_methodology(p)
    assert f"'{key}'" in str(err.value) and "installed: CLARABEL" in str(err.value)
    assert new.split(" = ")[0] in p.read_text().splitlines()[err.value.line - 1]


def test_solver_that_is_not_installed_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(checks, "_installed", lambda module: module != "scs")
    assert "solver 'SCS' is not installed (pip install scs)" in checks.solver_problem("SCS")
    with pytest.raises(MethodologyError, match="not installed"):
        load_methodology().with_overrides({"optimizer": {"fallback_solvers": ["SCS"]}})
    assert checks.solver_problem("CLARABEL") is None


@pytest.mark.parametrize(
    ("old", "new", "key"),
    [
        ("commission_bps = 2.0", "commission_bps = 1e308", "costs.commission_bps"),
        (
            "half_spread_bps = [5.0, 15.0, 30.0, 60.0]",
            "half_spread_bps = [5.0, 15.0, 30.0, 1001]",
            "costs.half_spread_bps[3]",
        ),
        ("default_aum_usd = 250_000_000", "default_aum_usd = inf", "liquidity.default_aum_usd"),
        ("default_aum_usd = 250_000_000", "default_aum_usd = 1e30", "liquidity.default_aum_usd"),
        (
            "capacity_aum_levels_usd = [50_000_000, 250_000_000, 1_000_000_000]",
            "capacity_aum_levels_usd = [50_000_000, 2e13]",
            "liquidity.capacity_aum_levels_usd[1]",
        ),
        ("market_cap_entry_usd = 150_000_000", "market_cap_entry_usd = inf", "size.market_cap_entry_usd"),
        ("stale_sessions = 10", "stale_sessions = 10_001", "size.stale_sessions"),
        ("days_to_trade = 3", "days_to_trade = 1e308", "liquidity.days_to_trade"),
        ("turnover_penalty = 0.002", "turnover_penalty = inf", "optimizer.turnover_penalty"),
        ("months = [3, 6, 9, 12]", "months = [12, 3, 6, 9]", "schedule.months"),
        ("months = [3, 6, 9, 12]", "months = [3, 3, 9, 12]", "schedule.months"),
        ('calendar = "XNYS"', 'calendar = "NYSE"', "schedule.calendar"),
        ('as_of = "2026-12-02"', 'as_of = "20261202"', "withholding.as_of"),
        ('as_of = "2026-12-02"', 'as_of = "2026-W01-3"', "withholding.as_of"),
    ],
)
def test_out_of_range_numbers_and_dates(tmp_path: Path, old: str, new: str, key: str) -> None:
    p = _write(tmp_path, old, new)
    with pytest.raises(MethodologyError) as err:
        load_methodology(p)
    assert f"'{key}'" in str(err.value), str(err.value)


def test_cost_bound_is_1000_bps_each() -> None:
    # the largest commission plus the largest half-spread is 20 % one way: a full turnover of the
    # fund (sell everything, buy everything) costs 40 %, never the whole NAV
    m = load_methodology().with_overrides({"costs": {"commission_bps": 1000.0}})
    assert m.costs.commission_bps == 1000.0
    with pytest.raises(MethodologyError, match="costs.commission_bps"):
        load_methodology().with_overrides({"costs": {"commission_bps": 1000.5}})


def test_binary_rulebook_names_the_line_of_the_bad_byte(tmp_path: Path) -> None:
    p = tmp_path / "methodology.toml"
    p.write_bytes(bundled_path("methodology.toml").read_bytes().replace(b'name = "U.S.', b'name = "\xff U.S.', 1))
    with pytest.raises(MethodologyError, match="not UTF-8") as err:
        load_methodology(p)
    assert err.value.line == 10 and err.value.path == p
    p.write_bytes(b"\xef\xbb\xbf" + bundled_path("methodology.toml").read_bytes())  # a BOM is fine
    assert load_methodology(p).hash == load_methodology().hash


@pytest.mark.parametrize(
    "overrides",
    [
        5,
        "caps.single = 0.1",
        ["caps"],
        {5: 1},
        {"caps": {"country": {7: 0.1}}},
        {"caps": {"single": 10**400}},
        {"caps": {"single": None}},
        {"regulatory": {"mode": ["ric"]}},
    ],
)
def test_overrides_of_the_wrong_type_are_methodology_errors(overrides: object) -> None:
    with pytest.raises(MethodologyError):
        load_methodology().with_overrides(overrides)  # type: ignore[arg-type]


def test_overrides_accept_tuples_and_numpy_numbers() -> None:
    import numpy as np

    m = load_methodology().with_overrides(
        {"caps": {"single": np.float64(0.07)}, "optimizer": {"fallback_solvers": ("SCS",)}}
    )
    assert m.caps.single == 0.07 and m.optimizer.fallback_solvers == ("SCS",)


@pytest.mark.parametrize("path", [5, {}, ["methodology.toml"]])
def test_path_must_be_a_path(path: object) -> None:
    with pytest.raises(MethodologyError, match="must be a file path"):
        load_methodology(path)  # type: ignore[arg-type]


def test_resolve_methodology() -> None:
    m = load_methodology()
    assert resolve_methodology(m) is m and resolve_methodology(None) == m
    with pytest.raises(MethodologyError, match="must be a Methodology"):
        resolve_methodology({})


@pytest.mark.parametrize(
    ("value", "expected"),
    [(250e6, 250e6), (1, 1.0), ("250_000_000", 250e6), ("1,000,000", 1e6), (" 5e7 ", 5e7), (1e13, 1e13)],
)
def test_check_aum_accepts(value: object, expected: float) -> None:
    assert check_aum(value) == expected


@pytest.mark.parametrize(
    "value", [0, -1, float("inf"), float("nan"), 1e30, 1e13 * (1 + 1e-12), "big", "", True, None, [1e6], "1e30"]
)
def test_check_aum_refuses(value: object) -> None:
    with pytest.raises(InputError, match="AUM"):
        check_aum(value)
