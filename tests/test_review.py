"""The review pipeline's small steps (hand-computed) and, on the demo market, the whole review."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from exchina_index.methodology import load_methodology
from exchina_index.review import anchor_weights, drift_weights, name_caps

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
    eq = anchor_weights(_frame(), pd.Series(dtype=float), pd.Series(dtype=float), eligible,
                        M.with_overrides({"anchor": {"method": "equal"}}))
    assert eq.to_dict() == pytest.approx({"A": 1 / 3, "B": 0, "C": 1 / 3, "D": 1 / 3})
    adtv = pd.Series({"A": 2.0, "B": 9.0, "C": 10.0, "D": 1.0})
    liq = anchor_weights(_frame(), pd.Series(dtype=float), adtv, eligible, M.with_overrides({"anchor": {"method": "liquidity"}}))
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
