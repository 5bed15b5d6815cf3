"""``MarketData.splits``: stock-split ratios on their ex-dates, from frames, CSV files and Yahoo.

Expectations are written by hand: the ratios put in are the ratios read back (new shares per old,
never divided by a quote unit), 0.0 everywhere else.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from _universe_helpers import make_universe
from fixtures.fake_yfinance import FakeYFinance, make_history, sessions, shares_series

from exchina_index.data.csv_source import load_csv
from exchina_index.data.demo import load_demo
from exchina_index.data.market import MarketData
from exchina_index.data.yahoo import load_yahoo
from exchina_index.errors import DataError
from exchina_index.universe.loading import load_universe

DAYS = pd.to_datetime(["2025-01-02", "2025-01-03", "2025-01-06", "2025-01-07", "2025-01-08"])
UNI = make_universe(
    {
        "AAA": {},
        "BBB.L": {"exchange": "XLON", "currency": "GBP", "price_unit": "GBp", "domicile": "GB", "hq": "GB"},
    }
)
CLOSE = pd.DataFrame({"AAA": [10.0, 11.0, 5.6, 5.7, 5.8], "BBB.L": [200.0, 210.0, 220.0, 2300.0, 2310.0]}, index=DAYS)
FX = pd.DataFrame({"GBP": [1.25] * 5}, index=DAYS)


def _market(splits: pd.DataFrame | None, close: pd.DataFrame = CLOSE, universe: pd.DataFrame = UNI) -> MarketData:
    return MarketData.from_frames(universe, close, fx=FX, splits=splits)


def _splits(**cols: dict[str, float]) -> pd.DataFrame:
    """A sparse splits frame: ticker -> {date: ratio} (other cells NaN, read as no split)."""
    series = {t: pd.Series(list(v.values()), index=pd.to_datetime(list(v)), dtype=float) for t, v in cols.items()}
    return pd.DataFrame(series)


# --------------------------------------------------------------------------------------------
# Construction
# --------------------------------------------------------------------------------------------


def test_ratios_kept_on_their_dates_zeros_elsewhere() -> None:
    m = _market(_splits(AAA={"2025-01-06": 2.0}, **{"BBB.L": {"2025-01-07": 0.1}}))
    s = m.splits
    assert s.index.equals(m.close.index) and s.columns.equals(m.close.columns)
    assert (s.dtypes == np.float64).all()
    assert s.loc["2025-01-06", "AAA"] == 2.0
    assert s.loc["2025-01-07", "BBB.L"] == 0.1  # a ratio: not divided by 100 like the pence closes
    assert m.close.loc["2025-01-07", "BBB.L"] == pytest.approx(23.0)  # the closes still are
    assert int(np.count_nonzero(s.to_numpy())) == 2
    assert not s.isna().to_numpy().any()


def test_no_splits_by_default_and_read_only() -> None:
    m = _market(None)
    assert m.splits.shape == (5, 2) and (m.splits.to_numpy() == 0.0).all()
    with pytest.raises(ValueError):
        m.splits.to_numpy()[0, 0] = 2.0


@pytest.mark.parametrize(
    ("ratio", "word"),
    [(-2.0, "negative"), (np.inf, "non-finite"), (-np.inf, "negative")],
)
def test_bad_ratio_names_ticker_and_date(ratio: float, word: str) -> None:
    with pytest.raises(DataError, match=rf"AAA has a {word} split ratio .* on 2025-01-06; .*0\.0 for no split"):
        _market(_splits(AAA={"2025-01-06": ratio}))


def test_split_outside_the_life_names_ticker_and_date() -> None:
    late = CLOSE.copy()
    late.loc[DAYS[:2], "AAA"] = np.nan  # AAA's first close is on 2025-01-06
    with pytest.raises(DataError, match=r"AAA has a split \(2\) on 2025-01-03, a date it has no close.*0\.0"):
        _market(_splits(AAA={"2025-01-03": 2.0}), close=late)
    # its first close is inside the life
    assert _market(_splits(AAA={"2025-01-06": 2.0}), close=late).splits.loc["2025-01-06", "AAA"] == 2.0


def test_split_on_a_date_without_any_close_or_ticker_without_closes() -> None:
    with pytest.raises(DataError, match=r"AAA has a splits value on 2025-01-04, a date without any close"):
        _market(_splits(AAA={"2025-01-04": 2.0}))
    idx = DAYS[:2]
    with pytest.raises(DataError, match=r"split for ZZZ, which has no close column"):
        MarketData(
            close=pd.DataFrame({"AAA": [1.0, 2.0]}, index=idx),
            fx=pd.DataFrame({"USD": [1.0, 1.0]}, index=idx),
            currency=pd.Series({"AAA": "USD"}),
            splits=pd.DataFrame({"ZZZ": [0.0, 3.0]}, index=idx),
        )


def test_listing_dates_drop_splits_with_a_note() -> None:
    uni = UNI.copy()
    uni.loc["AAA", "listed_since"] = pd.Timestamp("2025-01-03")
    uni.loc["AAA", "delisted"] = pd.Timestamp("2025-01-07")
    m = _market(_splits(AAA={"2025-01-02": 4.0, "2025-01-06": 2.0, "2025-01-08": 3.0}), universe=uni)
    assert m.splits["AAA"].tolist() == [0.0, 0.0, 2.0, 0.0, 0.0]
    assert any("AAA" in n and "split" in n and "before listed_since 2025-01-03" in n for n in m.notes)
    assert any("AAA" in n and "dropped 1 split(s) on or after its delisting" in n for n in m.notes)


def test_truncate_keeps_splits_up_to_the_cut() -> None:
    m = _market(_splits(AAA={"2025-01-06": 2.0}))
    assert m.truncate("2025-01-06").splits["AAA"].tolist() == [0.0, 0.0, 2.0]
    assert m.truncate("2025-01-03").splits["AAA"].tolist() == [0.0, 0.0]
    assert m.truncate(start="2025-01-06").splits["AAA"].tolist() == [2.0, 0.0, 0.0]
    assert m.with_notes("x").splits is m.splits


def test_fingerprint_follows_the_splits() -> None:
    none = _market(None).fingerprint
    assert _market(_splits(AAA={"2025-01-06": 0.0})).fingerprint == none  # 0.0 is no split
    two = _market(_splits(AAA={"2025-01-06": 2.0})).fingerprint
    three = _market(_splits(AAA={"2025-01-06": 3.0})).fingerprint
    moved = _market(_splits(AAA={"2025-01-07": 2.0})).fingerprint
    assert len({none, two, three, moved}) == 4


def test_demo_market_has_no_splits() -> None:
    frame = load_universe().frame.loc[["MP", "LYC.AX", "PRE.L"]]
    m = load_demo(frame, "2024-01-01", "2024-03-31")
    assert m.splits.shape == m.close.shape and m.splits.index.equals(m.close.index)
    assert (m.splits.to_numpy() == 0.0).all()


# --------------------------------------------------------------------------------------------
# CSV files
# --------------------------------------------------------------------------------------------


def _write(folder: Path, name: str, text: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(text, encoding="utf-8")


def test_csv_splits_column(tmp_path: Path) -> None:
    folder = tmp_path / "prices"
    _write(folder, "AAA.csv", "date,close,splits\n2025-01-02,10,\n2025-01-03,11,0\n2025-01-06,5.6,2\n")
    _write(folder, "BBB.L.csv", "date,close\n2025-01-02,200\n2025-01-03,210\n")
    _write(folder, "fx.csv", "date,GBP\n2025-01-02,1.25\n")
    m = load_csv(UNI, folder)
    assert m.splits["AAA"].tolist() == [0.0, 0.0, 2.0]
    assert m.splits["BBB.L"].tolist() == [0.0, 0.0, 0.0]  # a file without the column: no split


def test_csv_negative_split_names_file_line_column(tmp_path: Path) -> None:
    folder = tmp_path / "prices"
    _write(folder, "AAA.csv", "date,close,splits\n2025-01-02,10,\n2025-01-03,11,-2\n")
    with pytest.raises(DataError, match=r"AAA\.csv, line 3, column 'splits': -2 must be >= 0"):
        load_csv(UNI, folder)


def test_csv_split_without_a_close(tmp_path: Path) -> None:
    folder = tmp_path / "prices"
    _write(folder, "AAA.csv", "date,close,splits\n2025-01-02,10,\n2025-01-03,,2\n2025-01-06,5.6,\n")
    with pytest.raises(DataError, match=r"AAA has a split \(2\) on 2025-01-03, a date it has no close"):
        load_csv(UNI, folder)


# --------------------------------------------------------------------------------------------
# Yahoo (fake yfinance with yfinance 1.7.0's layout)
# --------------------------------------------------------------------------------------------

NY, LON = "America/New_York", "Europe/London"


def _yahoo_universe() -> SimpleNamespace:
    rows = {
        "MP": {"exchange": "XNYS", "currency": "USD", "price_unit": "USD", "listed_since": "2020-11-17"},
        "PRE.L": {"exchange": "XLON", "currency": "GBP", "price_unit": "GBp", "listed_since": "2000-01-04"},
    }
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame.index.name = "ticker"
    frame["listed_since"] = pd.to_datetime(frame["listed_since"])
    frame["delisted"] = pd.NaT
    return SimpleNamespace(frame=frame.sort_index())


def _yahoo(orphan: bool = False) -> FakeYFinance:
    us, uk, fx = (
        sessions("2025-08-01", "2025-10-31"),
        sessions("2025-08-01", "2025-10-31"),
        sessions("2025-07-01", "2025-10-31"),
    )
    mp = make_history(us, NY, 50 + 0.25 * np.arange(len(us)), splits={"2025-09-15": 2.0})
    if orphan:  # a split row without a price (Yahoo sometimes lists the event before the bar)
        mp.loc[mp.index == pd.Timestamp("2025-09-22", tz=NY), ["Close", "Stock Splits"]] = [np.nan, 3.0]
    histories = {
        "MP": mp,
        "PRE.L": make_history(uk, LON, 250 + np.arange(len(uk)), splits={"2025-09-10": 0.1}),
        "GBPUSD=X": make_history(fx, LON, 1.30 + 0.0005 * np.arange(len(fx)), volume=np.zeros(len(fx))),
    }
    shares = {"MP": shares_series({"2024-12-01": 160_000_000}, NY), "PRE.L": shares_series({"2025-03-31": 5e8}, LON)}
    return FakeYFinance(histories, shares=shares)


def _load_yahoo(fake: FakeYFinance, cache: Path) -> MarketData:
    return load_yahoo(
        _yahoo_universe(),
        "2025-09-01",
        "2025-09-30",
        cache_dir=cache,
        yf=fake,
        preflight=False,
        sleep=lambda s: None,
        today="2026-01-15",
    )


def test_yahoo_stock_splits_reach_market_splits(tmp_path: Path) -> None:
    fake = _yahoo()
    first = _load_yahoo(fake, tmp_path)
    s = first.splits
    assert s.loc["2025-09-15", "MP"] == 2.0
    assert s.loc["2025-09-10", "PRE.L"] == 0.1  # not divided by 100 like the pence closes
    assert int(np.count_nonzero(s.to_numpy())) == 2
    assert not s.isna().to_numpy().any() and s.index.equals(first.close.index)
    # the same from the cache alone
    fake.reset_calls()
    second = _load_yahoo(fake, tmp_path)
    assert fake.network_calls == 0
    pd.testing.assert_frame_equal(second.splits, s)
    assert second.fingerprint == first.fingerprint


def test_yahoo_split_without_a_close_is_ignored_with_a_note(tmp_path: Path) -> None:
    m = _load_yahoo(_yahoo(orphan=True), tmp_path)
    assert m.splits.loc["2025-09-15", "MP"] == 2.0
    assert m.splits["MP"].drop(pd.Timestamp("2025-09-15")).eq(0.0).all()
    assert any("MP" in n and "ignored 1 stock split(s)" in n and "2025-09-22 (3)" in n for n in m.notes)
