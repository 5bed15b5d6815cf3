"""Point-in-time feature panels: every row equals ``MarketData.snapshot`` at its cut-off, bit for bit,
and data after a cut-off cannot change its row."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import exchina_index as xi
from exchina_index.data.features import feature_panel
from exchina_index.data.market import MarketData
from exchina_index.errors import InputError


@pytest.fixture(scope="module")
def demo() -> MarketData:
    return xi.load_market_data(xi.load_universe(), source="demo")


def _same_bits(a: pd.DataFrame, b: pd.DataFrame) -> None:
    assert list(a.columns) == list(b.columns) and a.index.equals(b.index)
    for col in a.columns:
        x, y = a[col].to_numpy(), b[col].to_numpy()
        assert x.dtype == y.dtype, col
        if x.dtype.kind == "f":
            assert np.array_equal(x.view(np.int64), y.view(np.int64)), col
        elif x.dtype.kind == "M":
            assert np.array_equal(x.view(np.int64), y.view(np.int64)), col
        else:
            assert np.array_equal(x, y), col


@pytest.mark.parametrize("window", [1, 5, 63, 400])
def test_rows_equal_the_snapshot_bit_for_bit(demo: MarketData, window: int) -> None:
    dates = demo.close.index
    cutoffs = [dates[0] - pd.Timedelta(days=5), dates[0], dates[3], *dates[::97], "2025-11-29", dates[-1]]
    panel = feature_panel(demo, cutoffs, window)
    assert panel.alive.shape == (len(cutoffs), demo.close.shape[1])
    for k, cutoff in enumerate(cutoffs):
        _same_bits(panel.snapshot(k), demo.snapshot(cutoff, window=window))


def test_delisted_listing_is_alive_until_its_delisting_date() -> None:
    idx = pd.bdate_range("2024-01-01", periods=10)
    close = pd.DataFrame({"A": [1.0] * 4 + [np.nan] * 6, "B": [2.0] * 10}, index=idx)
    m = MarketData(
        close=close,
        fx=pd.DataFrame({"USD": 1.0}, index=idx),
        currency=pd.Series({"A": "USD", "B": "USD"}),
        volume=close * 0 + 100.0,
        shares=close * 0 + 10.0,
        delisted=pd.Series({"A": idx[7], "B": pd.NaT}),
    )
    p = feature_panel(m, idx, 3)
    # A has no price after row 3 but is delisted only at row 7: alive (price carried) until then
    assert p.alive[:, 0].tolist() == [True] * 7 + [False] * 3
    assert p.stale_sessions[5, 0] == 2 and p.history_sessions[9, 0] == 4
    assert p.adtv_usd[9, 0] == pytest.approx(100.0) and np.isnan(p.market_cap_usd[8, 0])
    for k in range(10):
        _same_bits(p.snapshot(k), m.snapshot(idx[k], window=3))


def test_data_after_a_cutoff_does_not_change_its_row(demo: MarketData) -> None:
    dates = demo.close.index
    cut = dates[len(dates) // 2]
    late = np.broadcast_to((dates > cut)[:, None], demo.close.shape)
    rng = np.random.default_rng(3)
    factor = pd.DataFrame(rng.uniform(0.5, 2.0, demo.close.shape), index=dates, columns=demo.close.columns)
    altered = MarketData(
        close=demo.close.where(~late, demo.close * factor),
        fx=demo.fx,
        currency=demo.currency,
        dividends=demo.dividends,
        volume=demo.volume.where(~late, demo.volume * 3.0),
        shares=demo.shares.where(~late, demo.shares * 2.0),
        exchange=demo.exchange,
        delisted=demo.delisted,
        source=demo.source,
        synthetic=demo.synthetic,
    )
    _same_bits(feature_panel(demo, [cut], 63).snapshot(0), feature_panel(altered, [cut], 63).snapshot(0))


@pytest.mark.parametrize("window", [0, -3, 2.5, True])
def test_window_must_be_a_whole_number_of_sessions(demo: MarketData, window) -> None:
    with pytest.raises(InputError, match="window"):
        feature_panel(demo, [demo.end], window)
