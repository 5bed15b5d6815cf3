"""Thematic integrity (construction/integrity.py): the purity rows, the stage basis, the stage table
and the last resort's reachable limits, by hand."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from exchina_index.construction.integrity import (
    integrity_figures,
    purity_limits,
    reachable_purity_limits,
    stage_basis,
    stage_table,
)
from exchina_index.rules.methodology import load_methodology

M = load_methodology()
PURITY = pd.Series({"A": 0.9, "B": 0.5, "C": 0.1, "D": 0.04})


def test_the_rulebook_gives_two_purity_rows_and_drops_those_that_cannot_bind() -> None:
    weighted, low = purity_limits(M, PURITY)
    assert (weighted.name, weighted.lower, weighted.upper) == ("purity:weighted", 0.5, math.inf)
    assert weighted.coefficients.equals(PURITY)
    assert (low.name, low.upper) == ("purity:low_weight", 0.15)
    assert low.coefficients.tolist() == [0.0, 0.0, 1.0, 1.0]  # C and D are below 0.25
    loose = M.with_overrides({"purity": {"min_weighted": 0.0, "low_max_weight": 1.0}})
    assert purity_limits(loose, PURITY) == ()


def test_the_basis_is_purity_on_exposure_and_none_on_weight() -> None:
    eligible = np.array([True, True, False, True])
    assert stage_basis(M, PURITY, eligible).tolist() == [0.9, 0.5, 0.0, 0.04]
    assert stage_basis(M.with_overrides({"stages": {"basis": "weight"}}), PURITY, eligible) is None


def test_stage_table_and_figures_on_both_bases_by_hand() -> None:
    # A: a miner, D: a magnet maker; w = (0.5, 0, 0, 0.5). Weight basis: 50 / 0 / 50.
    # Exposure basis: mining 0.45 / (0.45 + 0.02), manufacturing 0.02 / 0.47
    by_stage = np.array([[1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 1.0, 0.0], [0.0, 0.0, 0.0, 1.0]])
    w = np.array([0.5, 0.0, 0.0, 0.5])
    p = PURITY.to_numpy()
    table = stage_table(M, by_stage, p, w, w)
    np.testing.assert_allclose(table["after"], [0.45 / 0.47, 0.0, 0.02 / 0.47])
    weight_table = stage_table(M.with_overrides({"stages": {"basis": "weight"}}), by_stage, p, w, w)
    np.testing.assert_allclose(weight_table["after"], [0.5, 0.0, 0.5])
    figures = integrity_figures(M, p, table, w)
    assert figures["weighted"] == pytest.approx(0.47)
    assert figures["low_weight"] == 0.5  # D only
    assert figures["stage_deviation"] == pytest.approx(max(0.45 / 0.47 - 1 / 3, 1 / 3))


def test_reachable_limits_move_no_further_than_the_caps_force() -> None:
    # caps 30 %, floors 0.5 %: the pure names A and B hold at most 60 %, so C and D keep >= 40 %;
    # the best weighted purity fills the purest first: A, B and C to 30 %, D the last 10 %
    eligible = np.ones(4, dtype=bool)
    limits, line = reachable_purity_limits(M, PURITY, eligible, 0.30, np.full(4, 0.005))
    low = next(lim for lim in limits if lim.name == "purity:low_weight")
    assert low.upper == pytest.approx(0.40, abs=1e-8)
    best = 0.9 * 0.30 + 0.5 * 0.30 + 0.1 * 0.30 + 0.04 * 0.10
    weighted = next(lim for lim in limits if lim.name == "purity:weighted")
    assert weighted.lower == pytest.approx(best, abs=1e-8) and weighted.lower < 0.5
    assert line.startswith("purity limits at what the eligible names allow at 30% caps")
    assert "weighted purity >= 0.454" in line and "low-purity weight <= 40.0%" in line
    # with room enough, the rulebook's own limits stay
    limits, _ = reachable_purity_limits(M, PURITY, eligible, 1.0, np.zeros(4))
    assert [(lim.lower, lim.upper) for lim in limits] == [(0.5, math.inf), (-math.inf, 0.15)]
