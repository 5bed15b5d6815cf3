"""The embedded synthetic demo market: determinism, labelling, calendars, listing lives, liquidity spread."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from exchina_index.data import DEMO_LABEL, load_market_data
from exchina_index.data.demo import DEMO_END, DEMO_START, generate_market, load_demo, synthetic_universe
from exchina_index.errors import DataError
from exchina_index.rules.calendar import sessions
from exchina_index.universe.loading import UNIVERSE_COLUMNS, load_universe

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def universe():
    return load_universe()


@pytest.fixture(scope="module")
def demo(universe):
    t = time.perf_counter()
    m = load_market_data(universe, source="demo")
    print(f"\ndemo market for {len(universe.frame)} listings loaded in {time.perf_counter() - t:.2f} s")
    return m


def test_same_bytes_in_two_fresh_processes(demo) -> None:
    code = (
        "import time; t = time.perf_counter(); import exchina_index as xi; "
        "m = xi.load_market_data(xi.load_universe(), source='demo'); "
        "import sys; print(m.fingerprint, round(time.perf_counter() - t, 2), 'exchange_calendars' in sys.modules)"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONHASHSEED": "random"}
    outs = [
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT, check=True)
        for _ in range(2)
    ]
    prints = [o.stdout.split() for o in outs]
    print(f"\nfresh-process import + load times: {prints[0][1]} s, {prints[1][1]} s")
    assert prints[0][0] == prints[1][0] == demo.fingerprint
    assert prints[0][2] == "False"  # the bundled session table serves the demo: no exchange_calendars start-up


def test_labelled_synthetic(demo) -> None:
    assert demo.synthetic is True and demo.source == "demo"
    assert DEMO_LABEL == "SYNTHETIC DEMO DATA — not real market prices"
    assert "SYNTHETIC" in repr(demo)
    assert any("synthetic" in n for n in demo.notes)
    # calibrated, and still saying that the paths are synthetic
    assert any(n.startswith("calibrated to public reference points") and "synthetic" in n for n in demo.notes)


def test_range_and_layout(demo, universe) -> None:
    assert demo.start == pd.Timestamp("2015-01-02") and demo.end == DEMO_END
    assert list(demo.close.columns) == sorted(universe.frame.index)
    assert set(demo.fx.columns) == {"USD", "AUD", "CAD", "GBP", "JPY", "EUR", "CNY", "HKD"}
    # plausible USD-per-unit levels
    assert demo.fx["AUD"].between(0.5, 1.0).all() and demo.fx["JPY"].between(0.005, 0.012).all()
    assert demo.fx["HKD"].between(0.125, 0.131).all()
    assert (demo.dividends >= 0).all().all()


def test_listing_lives_are_honoured(demo, universe) -> None:
    f = universe.frame
    first = demo.close.apply(pd.Series.first_valid_index)
    last = demo.close.apply(pd.Series.last_valid_index)
    for t, row in f.iterrows():
        assert first[t] >= row["listed_since"], t
        if pd.notna(row["delisted"]):
            assert last[t] < row["delisted"], t
    assert first["MP"] == f.loc["MP", "listed_since"]  # a de-SPAC starts at its operating date (a session)
    assert first["USAR"] >= pd.Timestamp("2025-03-14") and first["ALOY"] >= pd.Timestamp("2026-03-02")
    pek_end = f.loc["PEK.AX", "delisted"]  # the day after the last session (universe/README.md)
    assert last["PEK.AX"] == sessions("XASX", "2025-01-01", pek_end - pd.Timedelta(days=1))[-1]
    assert last["LYC.AX"] == pd.Timestamp("2026-09-30")


def test_each_listing_trades_only_on_its_own_exchange(demo, universe) -> None:
    own = {mic: set(sessions(mic, DEMO_START, DEMO_END)) for mic in set(universe.frame["exchange"])}
    for t, mic in universe.frame["exchange"].items():
        dates = set(demo.close.index[demo.close[t].notna()])
        assert dates <= own[mic], (t, mic, sorted(dates - own[mic])[:3])
    # and on (nearly) all of them inside its life: only zero-volume days of micro-caps repeat a close
    lyc = demo.close["LYC.AX"].dropna()
    assert set(lyc.index) == own["XASX"]


def test_generates_past_a_calendars_known_range_with_weekdays_and_a_note(universe) -> None:
    frame = universe.frame.loc[["600111.SS", "6680.HK", "MP"]]  # Shanghai, Hong Kong, NYSE
    m = generate_market(frame, "2026-10-01", "2027-03-31")
    shanghai = m.close["600111.SS"].dropna().index
    assert list(shanghai[shanghai >= "2027-01-01"]) == list(pd.bdate_range("2027-01-01", "2027-03-31"))
    assert set(shanghai[shanghai < "2027-01-01"]) == set(sessions("XSHG", "2026-10-01", "2026-12-31"))
    weekday_notes = [n for n in m.notes if "weekdays" in n]
    assert len(weekday_notes) == 1 and weekday_notes[0].startswith("XSHG sessions from 2027-01-01 to 2027-03-31 ")


def test_liquidity_spread(demo) -> None:
    adtv = demo.adtv_usd("2025-12-31")
    cap = demo.market_cap_usd("2025-12-31").iloc[-1]
    assert adtv["4063.T"] > 100e6 and adtv["6762.T"] > 100e6
    assert cap["4063.T"] > 10e9 and cap["6762.T"] > 10e9
    # calibrated to public figures (universe/market_reference.csv): the big rare-earth names trade
    # tens to hundreds of $M a day, no longer a fraction of that
    assert adtv["LYC.AX"] >= 20e6 and adtv["MP"] >= 50e6
    assert 1e9 <= cap["LYC.AX"] <= 40e9
    assert (adtv < 1e6).sum() >= 10
    assert (adtv < 250e3).sum() >= 5
    assert adtv["LYSDY"] < adtv["LYC.AX"] / 5  # an OTC ADR trades a fraction of the home line


def test_returns_have_fat_tails_dividends_and_common_factor(demo) -> None:
    r = demo.returns("price", "2026-09-30")
    pure = r[["LYC.AX", "ARU.AX", "NTU.AX", "ILU.AX"]].dropna()
    kurt = pure.kurt()
    assert (kurt > 1.0).all()  # Student-t: fatter than normal
    corr = pure.corr().to_numpy()[np.triu_indices(4, 1)]
    assert (corr > 0.1).all()  # a common rare-earth factor
    tr = demo.returns("total", "2026-09-30")
    payers = ((tr - r).fillna(0) > 0).sum()
    assert payers["4063.T"] >= 15 and payers["SOLB.BR"] >= 10
    assert (payers > 0).sum() >= 5


def test_start_end_subsets_the_same_data(demo, universe) -> None:
    part = load_demo(universe, "2020-01-01", "2020-12-31")
    assert part.start >= pd.Timestamp("2020-01-01") and part.end <= pd.Timestamp("2020-12-31")
    pd.testing.assert_frame_equal(part.close, demo.close.loc["2020-01-01":"2020-12-31"])
    with pytest.raises(DataError, match="2015-01-01 to 2026-09-30"):
        load_demo(universe, "2010-01-01", "2020-01-01")


def test_works_on_a_stand_in_frame() -> None:
    frame = load_universe().frame.loc[["MP", "LYC.AX", "PRE.L"]]
    m = generate_market(frame, "2024-01-01", "2024-12-31", seed=1)
    assert m.synthetic and list(m.close.columns) == ["LYC.AX", "MP", "PRE.L"]
    # GBp lines are generated directly in GBP
    assert m.currency["PRE.L"] == "GBP" and m.close["PRE.L"].max() < 50


def test_synthetic_universe_and_large_market() -> None:
    u = synthetic_universe(300, seed=3)
    assert len(u) == 300 and u.index.is_unique and u.index.is_monotonic_increasing
    assert list(u.columns) == list(UNIVERSE_COLUMNS[1:])
    assert np.allclose(u[["mining", "refining", "manufacturing"]].sum(axis=1), 1.0)
    assert set(u["currency"]) <= {"USD", "AUD", "CAD", "GBP", "JPY", "EUR"}
    assert (u["price_unit"][u["exchange"] == "XLON"] == "GBp").all()
    pd.testing.assert_frame_equal(u, synthetic_universe(300, seed=3))
    assert u["primary"].groupby(u["issuer"]).sum().eq(1).all()
    t = time.perf_counter()
    m = generate_market(u, "2006-01-01", "2025-12-31", seed=3)
    print(f"\ngenerate_market: 300 listings x 20 years in {time.perf_counter() - t:.2f} s")
    assert m.close.shape[1] == 300 and m.close.notna().to_numpy().sum() > 300 * 1000
