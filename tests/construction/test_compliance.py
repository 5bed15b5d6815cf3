"""Tests of exchina_index.construction.compliance against a brute-force checker written with plain loops."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exchina_index.construction.compliance import (
    RIC_25_50,
    UCITS_5_10_40,
    ComplianceCheck,
    RegulatoryLimits,
    check_caps,
    check_regulatory,
    issuer_totals,
)
from exchina_index.errors import InputError

TOL = 1e-8


# ---------------------------------------------------------------------------------------------
# Independent checker: loops and dicts only
# ---------------------------------------------------------------------------------------------


def loop_totals(weights: dict, labels: dict | None) -> dict:
    out: dict = {}
    for t, w in weights.items():
        key = labels[t] if labels is not None else t
        out[key] = out.get(key, 0.0) + w
    return out


def loop_regulatory(weights: dict, issuers: dict | None, limits: RegulatoryLimits) -> dict:
    totals = loop_totals(weights, issuers)
    largest = 0.0
    for v in totals.values():
        largest = max(largest, v)
    large = 0.0
    for v in totals.values():
        if v > limits.large_threshold + TOL:
            large += v
    return {
        "largest": largest,
        "largest_ok": largest <= limits.issuer_max + TOL,
        "large": large,
        "large_ok": large <= limits.large_sum + TOL,
    }


def loop_caps(weights: dict, caps: dict, issuers: dict, issuer_cap: float, countries: dict, country_caps: dict) -> dict:
    name_excess = max(weights[t] - caps[t] for t in weights)
    issuer_largest = max(loop_totals(weights, issuers).values())
    ctry = loop_totals(weights, countries)
    ctry_excess = max(ctry[c] - country_caps[c] for c in country_caps if c in ctry)
    return {
        "name_ok": name_excess <= TOL,
        "name_excess": name_excess,
        "issuer_ok": issuer_largest <= issuer_cap + TOL,
        "issuer_largest": issuer_largest,
        "country_ok": ctry_excess <= TOL,
        "country_excess": ctry_excess,
    }


def random_portfolio(seed: int, n: int):
    rng = np.random.default_rng(seed)
    tickers = [f"X{i}" for i in range(n)]
    w = rng.dirichlet(np.full(n, rng.uniform(0.3, 3.0)))
    # put some issuers near the thresholds
    if rng.random() < 0.5:
        w[: min(3, n)] = rng.choice([0.05, 0.05 + 1e-10, 0.05 + 1e-6, 0.25, 0.1])
        w = w / w.sum()
    weights = dict(zip(tickers, map(float, w)))
    issuers = {t: f"I{int(rng.integers(0, max(1, n // 2)))}" for t in tickers}
    countries = {t: str(rng.choice(["US", "AU", "JP"])) for t in tickers}
    caps = {t: float(rng.uniform(0.02, 0.3)) for t in tickers}
    country_caps = {c: float(rng.uniform(0.2, 0.8)) for c in ("US", "AU", "JP")}
    return weights, issuers, countries, caps, country_caps, float(rng.uniform(0.05, 0.4))


@settings(max_examples=100, deadline=None, derandomize=True)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 30),
    limits=st.sampled_from([RIC_25_50, UCITS_5_10_40, RIC_25_50.buffered(0.9), UCITS_5_10_40.buffered(0.9)]),
)
def test_regulatory_check_agrees_with_loops(seed: int, n: int, limits: RegulatoryLimits) -> None:
    weights, issuers, *_ = random_portfolio(seed, n)
    got = check_regulatory(pd.Series(weights), pd.Series(issuers), limits)
    ref = loop_regulatory(weights, issuers, limits)
    assert [c.passed for c in got] == [ref["largest_ok"], ref["large_ok"]]
    assert got[0].value == pytest.approx(ref["largest"], abs=1e-12)
    assert got[1].value == pytest.approx(ref["large"], abs=1e-12)
    assert got[0].limit == limits.issuer_max and got[1].limit == limits.large_sum


@settings(max_examples=100, deadline=None, derandomize=True)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 30))
def test_cap_checks_agree_with_loops(seed: int, n: int) -> None:
    weights, issuers, countries, caps, country_caps, issuer_cap = random_portfolio(seed, n)
    got = {
        c.name: c
        for c in check_caps(
            pd.Series(weights), pd.Series(caps), pd.Series(issuers), issuer_cap, pd.Series(countries), country_caps
        )
    }
    ref = loop_caps(weights, caps, issuers, issuer_cap, countries, country_caps)
    assert got["fully invested"].passed
    assert got["long only"].passed
    assert got["single-name cap"].passed == ref["name_ok"]
    assert got["single-name cap"].value - got["single-name cap"].limit == pytest.approx(ref["name_excess"], abs=1e-12)
    assert got["issuer cap"].passed == ref["issuer_ok"]
    assert got["issuer cap"].value == pytest.approx(ref["issuer_largest"], abs=1e-12)
    assert got["country cap"].passed == ref["country_ok"]
    assert got["country cap"].value - got["country cap"].limit == pytest.approx(ref["country_excess"], abs=1e-12)


def test_detail_lines_read_like_a_compliance_report() -> None:
    w = pd.Series({"MP": 0.08, "LYC.AX": 0.07, "ILU.AX": 0.06, "ARU.AX": 0.05, "X": 0.74})
    issuers = {"MP": "MP Materials", "LYC.AX": "Lynas", "ILU.AX": "Iluka", "ARU.AX": "Arafura", "X": "Other"}
    checks = check_regulatory(w, issuers, RIC_25_50)
    assert checks[0].detail == "largest issuer Other 74% > 25%"
    assert not checks[0].passed
    assert checks[1].detail.startswith("issuers above 5%: 95% > 50% (4 issuers: ")
    four = check_regulatory(w.drop("X") / w.drop("X").sum(), issuers, RIC_25_50)
    assert four[0].detail == "largest issuer MP Materials 30.769231% > 25%"
    spread = pd.concat([w.drop("X"), pd.Series(0.74 / 20, index=[f"Y{i}" for i in range(20)])])
    ok = check_regulatory(spread, None, RIC_25_50)
    assert ok[0].passed and ok[0].detail == "largest issuer MP 8% ≤ 25%"
    assert ok[1].detail == "issuers above 5%: 21% ≤ 50% (3 issuers: ILU.AX, LYC.AX, MP)"


def test_issuer_at_threshold_within_tolerance_is_not_large() -> None:
    base = {f"S{i}": 0.05 for i in range(10)}
    base.update({"A": 0.25, "B": 0.25})
    w = pd.Series(base)
    assert all(c.passed for c in check_regulatory(w, None, RIC_25_50))
    w2 = w.copy()
    w2["S0"] += 1e-10
    w2["S1"] -= 1e-10
    assert all(c.passed for c in check_regulatory(w2, None, RIC_25_50))
    w3 = w.copy()
    w3["S0"] += 1e-6
    w3["S1"] -= 1e-6
    assert not check_regulatory(w3, None, RIC_25_50)[1].passed


def test_uniform_caps_floors_and_unknown_countries() -> None:
    w = pd.Series({"A": 0.5, "B": 0.3, "C": 0.2})
    checks = {
        c.name: c
        for c in check_caps(
            w,
            0.45,
            countries={"A": "US", "B": "AU", "C": "AU"},
            country_caps={"US": 0.6},
            min_weight=pd.Series({"C": 0.25}),
        )
    }
    assert not checks["single-name cap"].passed and checks["single-name cap"].value == 0.5
    assert checks["country cap"].passed and checks["country cap"].value == 0.5
    assert not checks["minimum weight"].passed
    assert checks["minimum weight"].detail.startswith("weight closest to its floor: C")
    bad = check_caps(pd.Series({"A": 0.7, "B": 0.4, "C": -0.1}))
    assert [c.passed for c in bad] == [True, False]
    assert isinstance(bad[0], ComplianceCheck)
    assert issuer_totals(w, {"A": "x", "B": "x", "C": "y"}).to_dict() == pytest.approx({"x": 0.8, "y": 0.2})


def test_regulatory_limits_presets_and_validation() -> None:
    assert (RIC_25_50.issuer_max, RIC_25_50.large_threshold, RIC_25_50.large_sum) == (0.25, 0.05, 0.5)
    assert (UCITS_5_10_40.issuer_max, UCITS_5_10_40.large_sum) == (0.1, 0.4)
    assert RegulatoryLimits.preset("RIC") == RIC_25_50
    buffered = RIC_25_50.buffered(0.9)
    assert (buffered.issuer_max, buffered.large_threshold, buffered.large_sum) == (0.225, 0.045, 0.45)
    with pytest.raises(InputError):
        RegulatoryLimits("bad", 0.04, 0.05, 0.5)
    with pytest.raises(InputError):
        RegulatoryLimits("bad", 0.25, 0.05, 0.01)
    with pytest.raises(InputError):
        RegulatoryLimits.preset("sec")
    with pytest.raises(InputError):
        check_caps(pd.Series({"A": 1.0}), issuer_cap=0.5, issuers={"B": "x"})


def test_limits_are_inclusive_up_to_the_tolerance() -> None:
    w = pd.Series({"A": 0.25, "B": 0.15, "C": 0.35, "D": 0.25})
    issuers = {"A": "a", "B": "a", "C": "c", "D": "d"}
    countries = {"A": "US", "B": "AU", "C": "AU", "D": "JP"}
    kwargs = dict(issuers=issuers, issuer_cap=0.4, countries=countries, country_caps={"AU": 0.5, "US": 0.25})
    assert all(c.passed for c in check_caps(w, 0.35, **kwargs))
    nudged = w + pd.Series({"A": 1e-6, "B": 0.0, "C": 1e-6, "D": -2e-6})
    failed = [c.name for c in check_caps(nudged, 0.35, **kwargs) if not c.passed]
    assert failed == ["single-name cap", "issuer cap", "country cap"]
