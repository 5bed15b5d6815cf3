"""Withholding rates that change over time in ``run_index``: (N,) or (T, N) rates.

References: a hand-computed net total return across a rate change, and the per-day loop
``run_index_reference`` of ``test_engine.py`` (which reads ``withholding[t, i]`` on the ex-date).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_engine import KNOBS, _assert_matches, _call, _random_inputs, _run_with_knobs, run_index_reference

from exchina_index.simulation.engine import EngineInputError, run_index

RTOL = 1e-12


def _rate_change_case() -> dict:
    # Rows 0..4; one review at the close of row 1 (50/50), no costs, no fees.
    # A (a Belgian listing) pays 27 % withholding until row 2 and 30 % from row 3 on (a rate change);
    # it goes ex-dividend on row 2 (2 % of its previous close) and on row 4 (3 %). B (UK) pays none.
    r = np.array([[0.0, 0.0], [0.0, 0.0], [0.0, 0.0], [0.10, 0.0], [0.0, 0.0]])
    d = np.zeros((5, 2))
    d[2, 0], d[4, 0] = 0.02, 0.03
    wht = np.array([[0.27, 0.0]] * 3 + [[0.30, 0.0]] * 2)
    return {
        "r": r,
        "d": d,
        "wht": wht,
        "alive": np.ones((5, 2), bool),
        "reb": np.array([1]),
        "tw": np.array([[0.5, 0.5]]),
        "cr": np.zeros((1, 2)),
        "er": 0.0,
        "dc": np.ones(5, int),
    }


def test_hand_computed_net_total_return_across_a_rate_change() -> None:
    inputs = _rate_change_case()
    run = _call(run_index, inputs)
    # row 2: NTR = 0.5 * 0.02 * (1 - 0.27) = 0.0073; prices flat, weights stay (0.5, 0.5)
    # row 3: NTR = PR = 0.5 * 0.10 = 0.05; weights become A 0.55 / 1.05, B 0.50 / 1.05
    # row 4: NTR = 0.55 / 1.05 * 0.03 * (1 - 0.30) = 0.01155 / 1.05 = 0.011 (the new rate)
    expected = [0.0073, 0.05, 0.011]
    np.testing.assert_allclose(run.daily_returns[2:, 2], expected, rtol=RTOL)
    np.testing.assert_allclose(run.net_total_return_level[1:], [1000.0, 1007.3, 1007.3 * 1.05, 1007.3 * 1.05 * 1.011])
    # gross TR: 1000 * 1.01 * 1.05 * (1 + 0.0165 / 1.05)
    np.testing.assert_allclose(run.total_return_level[4], 1000 * 1.01 * (1.05 + 0.0165), rtol=RTOL)
    np.testing.assert_allclose(run.nav, run.net_total_return_level, rtol=RTOL)  # no costs, no fees
    # at the old rate all along, row 4 would be 0.01155 / 1.05 * 0.73 / 0.70: the change is applied
    old = _call(run_index, dict(inputs, wht=np.array([0.27, 0.0])))
    assert old.daily_returns[4, 2] == pytest.approx(0.0165 / 1.05 * 0.73, rel=RTOL)
    assert old.daily_returns[2, 2] == pytest.approx(run.daily_returns[2, 2], rel=RTOL)


@pytest.mark.parametrize("knobs", list(KNOBS))
def test_hand_case_on_every_code_path(knobs: str) -> None:
    run = _run_with_knobs(knobs, _rate_change_case())
    np.testing.assert_allclose(run.daily_returns[2:, 2], [0.0073, 0.05, 0.011], rtol=RTOL)


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), T=st.integers(2, 40), N=st.integers(1, 8), K=st.integers(1, 4))
def test_constant_matrix_gives_the_same_result_as_one_rate_per_listing(seed: int, T: int, N: int, K: int) -> None:
    inputs = _random_inputs(seed, T, N, K)
    if inputs is None:
        return
    flat = _call(run_index, inputs)
    matrix = _call(run_index, dict(inputs, wht=np.tile(inputs["wht"], (T, 1))))
    for name in ("price_return_level", "total_return_level", "net_total_return_level", "nav", "daily_returns"):
        np.testing.assert_array_equal(getattr(matrix, name), getattr(flat, name), err_msg=name)
    np.testing.assert_array_equal(matrix.drifted_weights, flat.drifted_weights)


def test_rows_before_the_start_are_never_read() -> None:
    # rates that differ only up to the first review close change nothing, bit for bit
    inputs = _rate_change_case()
    inputs["d"][1, 0] = 0.05  # a dividend on the start row itself: not earned, so its rate cannot matter
    wht = np.tile([0.30, 0.0], (5, 1))
    early = wht.copy()
    early[:2, 0] = 0.99  # rows 0 and 1 (the start): no return of theirs is earned
    a = _call(run_index, dict(inputs, wht=wht))
    b = _call(run_index, dict(inputs, wht=early))
    np.testing.assert_array_equal(a.net_total_return_level, b.net_total_return_level)


def _changing_rates(inputs: dict, seed: int) -> np.ndarray:
    """Rates per row and listing that change on a random row of each listing."""
    rng = np.random.default_rng(seed)
    T, N = inputs["r"].shape
    wht = np.tile(inputs["wht"], (T, 1))
    change = rng.integers(0, T, N)
    later = rng.choice([0.0, 0.25, 0.265, 0.30], N)
    rows = np.arange(T)[:, None]
    return np.where(rows >= change, later, wht)


@pytest.mark.parametrize("knobs", list(KNOBS))
@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), T=st.integers(2, 40), N=st.integers(1, 8))
def test_changing_rates_equal_the_per_day_reference(knobs: str, seed: int, T: int, N: int) -> None:
    inputs = _random_inputs(seed, T, N, 3)
    if inputs is None:
        return
    inputs = dict(inputs, wht=_changing_rates(inputs, seed))
    _assert_matches(_run_with_knobs(knobs, inputs), _call(run_index_reference, inputs))


def test_changing_rates_with_long_periods_and_many_names() -> None:
    inputs = _random_inputs(11, 300, 40, 5)
    inputs = dict(inputs, wht=_changing_rates(inputs, 11))
    _assert_matches(_call(run_index, inputs), _call(run_index_reference, inputs))


def test_rates_of_names_never_held_change_nothing() -> None:
    inputs = _rate_change_case()
    # a third listing, never held, not alive, with garbage returns and rates that change daily
    third = {
        "r": np.column_stack([inputs["r"], np.full(5, np.nan)]),
        "d": np.column_stack([inputs["d"], np.full(5, np.nan)]),
        "alive": np.column_stack([inputs["alive"], np.zeros(5, bool)]),
        "tw": np.array([[0.5, 0.5, 0.0]]),
        "cr": np.zeros((1, 3)),
    }
    flat = _call(run_index, dict(inputs, **third, wht=np.array([0.30, 0.0, 0.1])))
    wht = np.column_stack([np.full((5, 2), [0.30, 0.0]), np.linspace(0.0, 1.0, 5)])
    varying = _call(run_index, dict(inputs, **third, wht=wht))
    np.testing.assert_allclose(varying.net_total_return_level, flat.net_total_return_level, rtol=RTOL)


def test_price_only_run_with_changing_rates() -> None:
    inputs = dict(_rate_change_case(), d=None)
    run = _call(run_index, inputs)
    np.testing.assert_array_equal(run.net_total_return_level, run.price_return_level)


@pytest.mark.parametrize(
    ("wht", "message"),
    [
        (np.zeros(3), r"withholding has shape \(3,\), expected \(2,\).* or \(5, 2\)"),
        (np.zeros((4, 2)), r"withholding has shape \(4, 2\)"),
        (np.zeros((5, 2, 1)), r"withholding has shape"),
        (
            np.array([[0.3, 0.0]] * 3 + [[0.3, 1.2]] + [[0.3, 0.0]]),
            r"withholding\[3, 1\] = 1.2 is not a rate in \[0, 1\]",
        ),
        (np.array([[0.3, 0.0]] * 4 + [[np.nan, 0.0]]), r"withholding\[4, 0\] = nan"),
        (np.array([-0.1, 0.0]), r"withholding\[0\] = -0.1"),
    ],
)
def test_bad_withholding_is_an_error_naming_the_entry(wht: np.ndarray, message: str) -> None:
    with pytest.raises(EngineInputError, match=message):
        _call(run_index, dict(_rate_change_case(), wht=wht))
