"""Sweep grids: every variant built over the spec's rulebook, the base marked, and a malformed grid
refused with the file, line and key before any data is loaded."""

from __future__ import annotations

from pathlib import Path

import pytest

from exchina_index.errors import InputError
from exchina_index.research.grid import MAX_VARIANTS, grid_from_mapping, load_grid
from exchina_index.rules.methodology import load_methodology

BASE = load_methodology()


def _grid(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "grid.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_product_grid_holds_every_combination_in_order_and_the_base_first(tmp_path: Path) -> None:
    path = _grid(tmp_path, "[grid]\ncaps.single = [0.06, 0.10]\nstages.tolerance = [0.03, 0.05, 0.07]\n")
    grid = load_grid(path, BASE)
    assert grid.keys == ("caps.single", "stages.tolerance")
    # the bundled rulebook (0.08, 0.02) is not a point of the grid: it comes first, then 2 x 3 points
    assert len(grid.variants) == 7
    assert grid.variants[0].is_base and grid.variants[0].params == ()
    assert [v.params for v in grid.variants[1:3]] == [
        (("caps.single", 0.06), ("stages.tolerance", 0.03)),
        (("caps.single", 0.06), ("stages.tolerance", 0.05)),
    ]
    assert [v.number for v in grid.variants] == list(range(7))
    v = grid.variants[6]
    assert v.methodology.caps.single == 0.10 and v.methodology.stages.tolerance == 0.07
    assert v.methodology.caps.issuer == BASE.caps.issuer  # everything else is the base's
    assert v.overrides() == {"caps": {"single": 0.10}, "stages": {"tolerance": 0.07}}
    assert v.label == "caps.single=0.1, stages.tolerance=0.07"


def test_a_grid_point_equal_to_the_base_is_the_base_and_listed_variants_follow_the_product(tmp_path: Path) -> None:
    text = "[grid]\ncaps.single = [0.08, 0.10]\n\n[[variant]]\ncaps.single = 0.12\npurity.min_weighted = 0.4\n"
    grid = load_grid(_grid(tmp_path, text), BASE)
    assert [v.is_base for v in grid.variants] == [True, False, False]
    assert grid.variants[0].label == "base (caps.single=0.08)"
    assert grid.variants[2].methodology.purity.min_weighted == 0.4
    assert grid.keys == ("caps.single", "purity.min_weighted")


def test_grid_overrides_merge_over_the_specs_rulebook_not_the_bundled_one() -> None:
    spec_rulebook = BASE.with_overrides({"regulatory": {"mode": "ucits"}})
    grid = grid_from_mapping({"grid": {"caps": {"single": [0.07]}}}, spec_rulebook)
    assert all(v.methodology.regulatory.mode == "ucits" for v in grid.variants)
    assert grid.variants[0].methodology.hash == spec_rulebook.hash


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("[grid]\ncaps.singel = [0.1]\n", 2, ["'grid.caps.singel'", "did you mean 'caps.single'"]),
        ('[grid]\ncaps.single = [0.1, "wide"]\n', 2, ["'grid.caps.single'", "wide", "expected a number"]),
        ("[grid]\ncaps.single = [0.05, 1.5]\n", 2, ["'grid.caps.single'", "1.5", "out of range"]),
        ("[grid]\nstages.tolerance = [-0.01]\n", 2, ["'grid.stages.tolerance'", "-0.01"]),
        ("[grid]\ncaps.single = []\n", 2, ["'grid.caps.single'", "empty list"]),
        ("[grid]\ncaps.single = 0.1\n", 2, ["'grid.caps.single'", "must be a list"]),
        ("[grid]\ncaps.single = [0.1, 0.1]\n", 2, ["'grid.caps.single'", "repeats"]),
        ('description = "x"\n', None, ["'grid'", "empty"]),
        ("[grid]\n", 1, ["'grid'", "empty"]),
        ("caps.single = [0.1]\n", 1, ["'caps'", "unknown key", "under [grid]"]),
        ("[[variant]]\ncaps.single = 0.1\n[[variant]]\ncaps.single = 0.1\n", None, ["same rulebook"]),
        ("[[variant]]\n", 1, ["'variant'", "empty"]),
        ("[grid]\ncaps = 3\n", 2, ["'grid.caps'"]),
    ],
)
def test_a_malformed_grid_is_refused_naming_the_file_line_and_key(
    tmp_path: Path, text: str, line: int | None, words: list[str]
) -> None:
    path = _grid(tmp_path, text)
    with pytest.raises(InputError) as exc:
        load_grid(path, BASE)
    message = str(exc.value)
    assert str(path) in message
    assert exc.value.line == line
    for word in words:
        assert word in message, message


def test_a_combination_that_breaks_a_rule_linking_two_keys_names_the_variant() -> None:
    # each value alone is valid; together the retention floor would sit above the entry floor
    data = {"grid": {"purity": {"entry": [0.012, 0.02], "retention": [0.01, 0.015]}}}
    with pytest.raises(InputError, match=r"variant purity.entry=0.012, purity.retention=0.015: .*purity.entry"):
        grid_from_mapping(data, BASE)


def test_more_variants_than_the_limit_fail_before_any_is_built() -> None:
    values = [round(0.01 + i * 1e-4, 6) for i in range(400)]
    data = {"grid": {"caps": {"single": values}, "stages": {"tolerance": values}}}
    assert len(values) ** 2 > MAX_VARIANTS
    with pytest.raises(InputError, match="more than 100,000"):
        grid_from_mapping(data, BASE)


def test_an_unreadable_or_invalid_grid_file_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="file not found"):
        load_grid(tmp_path / "missing.toml", BASE)
    with pytest.raises(InputError, match="not valid TOML"):
        load_grid(_grid(tmp_path, "[grid\n"), BASE)
