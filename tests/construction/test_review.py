"""The review pipeline's small steps (hand-computed) and, on the demo market, the whole review."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from exchina_index.construction.review import anchor_weights, drift_weights, name_caps
from exchina_index.rules.methodology import load_methodology

M = load_methodology()


def _frame() -> pd.DataFrame:
    return pd.DataFrame(
        {"purity": [1.0, 0.5, 0.1, 1.0], "float_factor": [1.0, 0.5, 1.0, 1.0]},
        index=pd.Index(["A", "B", "C", "D"], name="ticker"),
    )


def test_anchor_market_cap_times_float_times_purity() -> None:
    cap = pd.Series({"A": 100.0, "B": 400.0, "C": 1000.0, "D": 50.0})
    eligible = pd.Series({"A": True, "B": True, "C": True, "D": False})
    u = anchor_weights(_frame(), cap, pd.Series(dtype=float), eligible, M)
    raw = {"A": 100 * 1 * 1, "B": 400 * 0.5 * 0.5, "C": 1000 * 1 * 0.1, "D": 0.0}  # 100, 100, 100, 0
    assert u.to_dict() == pytest.approx({k: v / 300 for k, v in raw.items()})


def test_anchor_alternatives() -> None:
    eligible = pd.Series({"A": True, "B": False, "C": True, "D": True})
    eq = anchor_weights(
        _frame(),
        pd.Series(dtype=float),
        pd.Series(dtype=float),
        eligible,
        M.with_overrides({"anchor": {"method": "equal"}}),
    )
    assert eq.to_dict() == pytest.approx({"A": 1 / 3, "B": 0, "C": 1 / 3, "D": 1 / 3})
    adtv = pd.Series({"A": 2.0, "B": 9.0, "C": 10.0, "D": 1.0})
    liquidity = M.with_overrides({"anchor": {"method": "liquidity"}})
    liq = anchor_weights(_frame(), pd.Series(dtype=float), adtv, eligible, liquidity)
    assert liq.to_dict() == pytest.approx({"A": 2 / 4, "B": 0, "C": 1 / 4, "D": 1 / 4})  # ADTV x purity: 2, -, 1, 1


def test_liquidity_cap_formula() -> None:
    # participation 25 %, 3 days: cap = 0.75 x ADTV / AUM; single cap 8 %
    caps = name_caps(pd.Series({"big": 1e9, "small": 1e6, "none": np.nan}), 250e6, M)
    assert caps.loc["big", "cap"] == 0.08 and caps.loc["big", "cap_kind"] == "single"
    assert caps.loc["small", "cap"] == pytest.approx(0.75e6 / 250e6) and caps.loc["small", "cap_kind"] == "liquidity"
    assert caps.loc["none", "cap"] == 0.0


def test_drift_by_price_and_delisting() -> None:
    idx = pd.to_datetime(["2024-01-02", "2024-01-03", "2024-01-04"])
    close = pd.DataFrame({"A": [10.0, 11.0, 12.0], "B": [20.0, 20.0, np.nan], "C": [5.0, 5.0, 4.0]}, index=idx)
    w = pd.Series({"A": 0.5, "B": 0.25, "C": 0.25})
    d = drift_weights(w, close, idx[0], idx[1])
    grown = {"A": 0.5 * 1.1, "B": 0.25, "C": 0.25}
    assert d.to_dict() == pytest.approx({k: v / sum(grown.values()) for k, v in grown.items()})
    d2 = drift_weights(w, close, idx[0], idx[2])  # B has no price any more: sold, proceeds spread pro rata
    grown2 = {"A": 0.5 * 1.2, "B": 0.0, "C": 0.25 * 0.8}
    assert d2.to_dict() == pytest.approx({k: v / sum(grown2.values()) for k, v in grown2.items()})


# --- the whole review on the demo market --------------------------------------------------------

import exchina_index as xi  # noqa: E402
from exchina_index.construction.review import make_optimizer  # noqa: E402


@pytest.fixture(scope="module")
def demo():
    universe = xi.load_universe()
    market = xi.load_market_data(universe, source="demo")
    return universe, market, make_optimizer(universe, M)


@pytest.mark.parametrize("aum", [50e6, 1e9])
def test_every_review_2019_to_2026_is_within_its_recorded_stage_band(demo, aum: float) -> None:
    universe, market, opt = demo
    cutoffs = xi.review_dates(M, "2019-01-01", "2026-09-30")["cutoff"]
    assert len(cutoffs) >= 30
    for cutoff in cutoffs:
        r = xi.build_weights(universe, market, cutoff, M, aum, optimizer=opt)
        w, rep = r.weights, r.report
        assert abs(w.sum() - 1) < 1e-9 and (w >= 0).all()
        assert (w[~rep.names.eligible] == 0).all()
        # the stage shares are the rare-earth exposure in force then: sum w p s / sum w p, by hand
        facts = universe.facts_at(cutoff)
        exposure = facts[["mining", "refining", "manufacturing"]].mul(facts["purity"] * w, axis=0).sum()
        np.testing.assert_allclose(rep.stages["after"], exposure / float(facts["purity"] @ w))
        assert (abs(rep.stages["after"] - 1 / 3) <= rep.stage_band + 1e-8).all(), cutoff
        if rep.stage_band > M.stages.tolerance:
            assert any(s.startswith("stage tolerance widened") for s in rep.relaxations), cutoff
        if aum == 1e9:  # far beyond the demo market's capacity: the liquidity caps are relaxed
            assert any(s.startswith("liquidity caps computed at") for s in rep.relaxations), cutoff


def test_relaxations_are_recorded_in_order(demo) -> None:
    universe, market, opt = demo
    r = xi.build_weights(universe, market, "2022-02-28", M, 50e6, optimizer=opt)
    steps, rep = r.report.relaxations, r.report
    # the step taken (a raised cap), then the least band at that cap, then the liquidity notional
    assert steps[0] == f"single-name and issuer caps raised to {rep.single_cap:.1%}" and rep.single_cap > 0.08
    band = re.fullmatch(r"stage tolerance widened to ±([\d.]+)% \(the least the caps allow: ±([\d.]+)%\)", steps[1])
    assert band, steps[1]
    shown, least = float(band.group(1)) / 100, float(band.group(2)) / 100
    assert shown == pytest.approx(rep.stage_band, abs=5e-4) and least <= rep.stage_band <= least + 0.001 + 5e-5
    assert steps[2].startswith("liquidity caps computed at")
    # every lower cap step was tried and cannot hold a band within the widest step: fixed at those
    # caps, with nothing else to relax, the review says so
    for cap in [0.08, *[c for c in M.relaxation.single_cap_steps if c < rep.single_cap]]:
        fixed = M.with_overrides(
            {"caps": {"single": cap, "issuer": cap}, "relaxation": {"single_cap_steps": [], "last_resort": False}}
        )
        with pytest.raises(xi.InfeasibleError, match="relaxation ladder") as info:
            xi.build_weights(universe, market, "2022-02-28", fixed, 50e6)
        text = str(info.value)
        beyond = re.search(r"no stage deviation below ([\d.]+)%.*beyond the widest step ±10\.0%", text)
        assert beyond or "whatever the stages" in text, (cap, text)
    strict = M.with_overrides(
        {"relaxation": {"max_stage_tolerance": 0.0, "single_cap_steps": [], "last_resort": False}}
    )
    with pytest.raises(xi.InfeasibleError, match="relaxation ladder"):
        xi.build_weights(universe, market, "2019-02-28", strict, 50e6)


def test_reused_optimizer_gives_bit_identical_weights(demo) -> None:
    universe, market, opt = demo
    a = xi.build_weights(universe, market, "2025-11-28", M, 50e6, optimizer=opt).weights
    xi.build_weights(universe, market, "2024-11-29", M, 50e6, optimizer=opt)  # other parameter values
    b = xi.build_weights(universe, market, "2025-11-28", M, 50e6, optimizer=opt).weights
    c = xi.build_weights(universe, market, "2025-11-28", M, 50e6).weights  # compiled afresh
    pd.testing.assert_series_equal(a, b, check_exact=True)
    pd.testing.assert_series_equal(a, c, check_exact=True)


@pytest.mark.parametrize(
    ("as_of", "why"),
    [
        ("28/11/2025", "read day-first before: 2025-11-28"),
        ("11/28/2025", "read month-first before"),
        (20251128, "read as nanoseconds since 1970 before: 1970-01-01"),
        ("20251128", "compact form"),
        ("2025-W48-5", "ISO week date (2025-11-28)"),
        (None, "missing"),
    ],
)
def test_as_of_must_be_an_iso_date_or_a_date_object(demo, as_of: object, why: str) -> None:
    universe, market, opt = demo
    with pytest.raises(xi.ReviewDateError, match="YYYY-MM-DD") as err:
        xi.build_weights(universe, market, as_of, M, optimizer=opt)
    assert "as_of" in str(err.value), why


def test_date_objects_give_the_review_of_their_day(demo) -> None:
    import datetime

    universe, market, opt = demo
    ref = xi.build_weights(universe, market, "2025-11-28", M, optimizer=opt).weights
    for as_of in (
        datetime.date(2025, 11, 28),
        datetime.datetime(2025, 11, 28, 17, 30),
        pd.Timestamp("2025-11-28"),
        pd.Timestamp("2025-11-28 23:00", tz="Asia/Tokyo"),
        np.datetime64("2025-11-28"),
    ):
        r = xi.build_weights(universe, market, as_of, M, optimizer=opt)
        assert r.report.as_of == pd.Timestamp("2025-11-28")
        pd.testing.assert_series_equal(r.weights, ref, check_exact=False, atol=1e-12)


@pytest.mark.parametrize(
    ("kwargs", "error", "words"),
    [
        ({"universe": 5}, xi.UniverseError, "must be a Universe"),
        ({"market": "x"}, xi.DataError, "must be a MarketData"),
        ({"methodology": {}}, xi.MethodologyError, "must be a Methodology"),
        ({"aum": "big"}, xi.InputError, "AUM"),
        ({"aum": float("inf")}, xi.InputError, "AUM"),
        ({"aum": 1e30}, xi.InputError, r"up to 1e\+13"),
        ({"previous": 42}, xi.InputError, "previous must be a pandas Series"),
        ({"previous": pd.Series({"NOPE": 1.0})}, xi.InputError, "not in the universe: NOPE"),
        ({"previous": pd.Series({"MP": -0.5})}, xi.InputError, "bad value for MP"),
    ],
)
def test_wrong_types_are_typed_errors(demo, kwargs: dict, error: type, words: str) -> None:
    universe, market, _ = demo
    args = {"universe": universe, "market": market, "as_of": "2025-11-28", "methodology": M, **kwargs}
    with pytest.raises(error, match=words):
        xi.build_weights(**args)
