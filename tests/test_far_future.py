"""A market running five years past the end of every session table reviews, rebalances and backtests.

The bundled session table ends on 2035-12-31 (XSHG on 2026-12-31, where exchange_calendars stops
knowing Shanghai's holidays). Here a small universe with one listing on every exchange of the
bundled universe, Shanghai, Shenzhen and Hong Kong lines included (screened out as Chinese), gets
synthetic prices from 2030 to five years past the table's end, written out as a CSV source as a
user would bring it. Reviews, a rebalance and a backtest over those years must complete, with
weights that sum to one, no Chinese line held, and notes that name the calendars extended with
weekdays.
"""

from __future__ import annotations

import json
import time
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import exchina_index as xi
from exchina_index.data.demo import generate_market
from exchina_index.data.market import MarketData
from exchina_index.rules.calendar import MIC_CALENDAR
from exchina_index.universe.loading import Universe

#: The last date of the bundled session table, read from the file itself.
TABLE_END = max(
    pd.Timestamp(c["end"])
    for c in json.loads(
        (resources.files("exchina_index.rules") / "exchange_sessions.json").read_text(encoding="utf-8")
    )["calendars"].values()
)
FAR_END = TABLE_END + pd.DateOffset(years=5)
START = pd.Timestamp("2030-01-01")

#: One or two listings per exchange of the bundled universe (MIC in the comment).
TICKERS = [
    "600111.SS",  # XSHG  (Chinese: screened out)
    "000831.SZ",  # XSHE  (Chinese: screened out)
    "6680.HK",  # XHKG  (Chinese: screened out)
    "4063.T",
    "6762.T",  # XTKS
    "LYC.AX",
    "ILU.AX",
    "ARU.AX",  # XASX
    "MP",  # XNYS
    "UUUU",  # XASE
    "AREC",
    "METC",  # XNAS
    "TMRC",  # OTCM
    "NEO.TO",  # XTSE
    "UCU.V",  # XTSX
    "API.CN",  # XCNQ
    "PRE.L",  # XLON (GBp)
    "SOLB.BR",  # XBRU
]
CHINESE = ["600111.SS", "000831.SZ", "6680.HK"]


def write_csv_source(market: MarketData, frame: pd.DataFrame, folder: Path) -> Path:
    """The market as a folder of <TICKER>.csv files plus fx.csv (prices in each line's price unit)."""
    folder.mkdir()
    dates = market.close.index.strftime("%Y-%m-%d")
    for t in market.tickers:
        unit = 100.0 if frame.at[t, "price_unit"] == "GBp" else 1.0
        rows = pd.DataFrame(
            {
                "date": dates,
                "close": market.close[t].to_numpy() * unit,
                "volume": market.volume[t].to_numpy(),
                "dividend": market.dividends[t].to_numpy() * unit,
                "shares": market.shares[t].to_numpy(),
            }
        )
        rows[rows["close"].notna()].to_csv(folder / f"{t}.csv", index=False)
    fx = market.fx.drop(columns="USD")
    fx.set_axis(dates, axis=0).rename_axis("date").to_csv(folder / "fx.csv")
    return folder


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory):
    full = xi.load_universe()
    frame = full.frame.loc[sorted(TICKERS)]
    universe = Universe(frame=frame, links=full.links[full.links["ticker"].isin(TICKERS)].reset_index(drop=True))
    synthetic = generate_market(frame, START, FAR_END, seed=1)
    folder = write_csv_source(synthetic, frame, tmp_path_factory.mktemp("far") / "prices")
    return universe, xi.load_market_data(universe, folder)


def test_the_setup_runs_past_every_table(setup) -> None:
    universe, market = setup
    assert TABLE_END >= pd.Timestamp("2030-12-31") and FAR_END >= pd.Timestamp("2035-12-31")
    assert market.end >= FAR_END - pd.Timedelta(days=4)  # the last weekday session on or before it
    used = {MIC_CALENDAR[m] for m in universe.frame["exchange"]}
    assert used == {"XSHG", "XHKG", "XTKS", "XASX", "XNYS", "XTSE", "XLON", "XBRU"}
    assert set(universe.frame["exchange"]) == set(xi.load_universe().frame["exchange"])  # every exchange


def test_notes_name_the_calendars_extended_with_weekdays(setup) -> None:
    _, market = setup
    weekday_notes = [n for n in market.notes if "are weekdays" in n]
    # past its table, only Shanghai (and Shenzhen on its calendar) is beyond what exchange_calendars
    # knows; the others follow rules exchange_calendars computes for any year (Hong Kong to 2049)
    assert len(weekday_notes) == 1
    assert weekday_notes[0].startswith(f"XSHG sessions from {market.start.date()} to {market.end.date()} are weekdays")
    assert "XSHE, XSHG" in weekday_notes[0]


def check_weights(weights: pd.Series) -> None:
    assert weights.sum() == pytest.approx(1.0, abs=1e-9)
    assert (weights >= -1e-12).all() and (weights[CHINESE] == 0).all()
    assert (weights > 0).sum() >= 5


def test_reviews_in_2031_and_past_the_table_end(setup) -> None:
    universe, market = setup
    for cutoff in ("2031-02-28", (TABLE_END + pd.DateOffset(years=5, months=-1)).date().isoformat()):
        result = xi.build_weights(universe, market, as_of=cutoff)
        check_weights(result.weights)
        reasons = result.report.names.reason
        assert (reasons[CHINESE] == "CN_DOMICILE").all(), reasons[CHINESE]
        # Shanghai's weekday sessions leave its lines fresh: they fail on domicile, nothing else breaks
        assert market.stale_sessions(cutoff)[CHINESE].max() == 0


def test_rebalance_past_the_table_end(setup, tmp_path: Path) -> None:
    universe, market = setup
    as_of = (TABLE_END + pd.DateOffset(years=4, months=9)).date().isoformat()  # -> the last review in the data
    folder = xi.rebalance(universe, market, as_of=as_of, out=tmp_path)
    proforma = pd.read_csv(folder / "proforma.csv", index_col="ticker")
    weight = [c for c in proforma.columns if "weight" in c][0]
    assert proforma[weight].sum() == pytest.approx(1.0, abs=1e-6)
    assert not set(CHINESE) & set(proforma.index[proforma[weight] > 0])
    (note,) = (n for n in market.notes if n.startswith("XSHG sessions from "))
    assert json.dumps(note) in (folder / "manifest.json").read_text(encoding="utf-8")  # recorded as it is


def test_backtest_from_2031_to_five_years_past_the_table(setup) -> None:
    universe, market = setup
    t = time.perf_counter()
    bt = xi.backtest(universe, market, start="2031-01-01")
    print(f"\n{len(bt.weights)} reviews to {bt.levels.index[-1].date()} in {time.perf_counter() - t:.1f} s")
    assert bt.weights.index[0] == pd.Timestamp("2031-03-21")  # the third Friday of March 2031
    assert bt.weights.index[-1] >= TABLE_END + pd.DateOffset(years=4, months=9)
    assert len(bt.weights) >= 4 * 9 + 3
    np.testing.assert_allclose(bt.weights.sum(axis=1), 1.0, atol=1e-9)
    assert (bt.weights[CHINESE] == 0).all().all()
    assert np.isfinite(bt.levels.to_numpy()).all() and (bt.levels > 0).all().all()
    assert any(n.startswith("XSHG sessions from ") for n in bt.data_notes)
