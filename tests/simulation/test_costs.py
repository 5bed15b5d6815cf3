from __future__ import annotations

import pandas as pd
import pytest

from exchina_index.rules.methodology import load_methodology
from exchina_index.simulation.costs import one_way_cost_rate


def test_cost_tiers_at_their_boundaries() -> None:
    c = load_methodology().costs  # commission 2 bps; half-spread 5/15/30/60 bps at $50M/$5M/$1M/0 ADTV
    adtv = pd.Series({"a": 50e6, "b": 49.99e6, "c": 5e6, "d": 1e6, "e": 999_999.0, "f": 0.0, "g": float("nan")})
    got = one_way_cost_rate(adtv, c)
    expected = {"a": 7, "b": 17, "c": 17, "d": 32, "e": 62, "f": 62, "g": 62}
    assert got.to_dict() == pytest.approx({k: v / 1e4 for k, v in expected.items()})
