"""End to end on prices-only data (``date, close`` per listing): the API and the command line.

The universe is a copy of the bundled one in tmp_path without its reference history (so no share
count anywhere), or with a hand-written ``reference_history.csv`` holding share counts; the prices
are synthetic random walks written in tmp_path.
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _cli_helpers import run_cli

from exchina_index.construction.market_screens import ADTV_SKIPPED, SIZE_SKIPPED, market_screen
from exchina_index.construction.review import build_weights
from exchina_index.construction.screens import screen
from exchina_index.data import load_market_data
from exchina_index.errors import DataError
from exchina_index.rules.methodology import Methodology, load_methodology
from exchina_index.simulation.backtest import backtest
from exchina_index.universe.loading import Universe, load_universe

BUNDLED = Path(__file__).resolve().parents[2] / "universe"
DAYS = pd.bdate_range("2022-01-03", "2024-12-31")
CUTOFF = pd.Timestamp("2024-05-31")


def _universe_copy(folder: Path, history: str | None = None) -> Path:
    """The bundled universe and China links copied to ``folder`` (with ``history`` as its reference
    history, or none)."""
    folder.mkdir(parents=True)
    for name in ("allied_supply_chain.csv", "china_links.csv"):
        shutil.copy(BUNDLED / name, folder / name)
    if history is not None:
        (folder / "reference_history.csv").write_text(history, encoding="utf-8")
    return folder / "allied_supply_chain.csv"


def _write_prices(universe: Universe, folder: Path) -> list[str]:
    """``date, close`` files for every listing the static screens admit at the start, and fx.csv."""
    s = screen(universe, "2023-01-31")
    tickers = sorted(s.index[s["eligible"]])
    folder.mkdir(parents=True)
    rng = np.random.default_rng(5)
    f = universe.frame
    for t in tickers:
        px = 10.0 * np.exp(np.cumsum(rng.normal(0.0, 0.02, len(DAYS))))
        px = px * 100 if f.at[t, "price_unit"] == "GBp" else px
        pd.DataFrame({"date": DAYS.strftime("%Y-%m-%d"), "close": px.round(6)}).to_csv(folder / f"{t}.csv", index=False)
    currencies = sorted(set(f.loc[tickers, "currency"]) - {"USD"})
    fx = pd.DataFrame({"date": DAYS.strftime("%Y-%m-%d"), **{c: 0.5 for c in currencies}})
    fx.to_csv(folder / "fx.csv", index=False)
    return tickers


def _equal(m: Methodology) -> Methodology:
    return dataclasses.replace(m, anchor=dataclasses.replace(m.anchor, method="equal"))


@pytest.fixture(scope="module")
def prices_only(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Universe, list[str]]:
    root = tmp_path_factory.mktemp("prices_only")
    universe = load_universe(_universe_copy(root / "universe"))
    return root, universe, _write_prices(universe, root / "prices")


def test_equal_anchor_backtests_prices_only_with_the_skips_recorded(prices_only) -> None:
    root, universe, tickers = prices_only
    market = load_market_data(universe, source=root / "prices")
    assert market.facts == frozenset({"close"})
    result = backtest(universe, market, _equal(load_methodology()), start="2023-01-01")
    assert any("has no volume" in n and "liquidity caps" in n for n in result.data_notes)
    assert any("no share count" in n for n in result.data_notes)
    assert np.isfinite(result.levels.to_numpy()).all() and len(result.reviews) >= 7
    for review in result.reviews.values():
        n = review.report.names
        eligible = n.eligible.to_numpy()
        # no screen may turn a priced, admitted name into NO_DATA; unpriced listings still are
        assert not (n.reason[list(tickers)] == "NO_DATA").any()
        assert (n.reason[~n.index.isin(tickers)].isin(["NO_DATA"]) | ~n.eligible[~n.index.isin(tickers)]).all()
        # equal anchor: 1/n over the eligible names, by hand
        assert np.allclose(n.anchor[eligible], 1.0 / eligible.sum()) and (n.anchor[~eligible] == 0).all()
        assert all(SIZE_SKIPPED in d and ADTV_SKIPPED in d for d in n.detail[eligible])
        held = n.held()
        assert n.liquidity_cap.isna().all() and n.days_to_trade[held].isna().all()
        # no volume, no liquidity limit: unbounded, or 0 when the rulebook as written cannot hold at all
        assert review.report.capacity_aum == (0.0 if review.report.relaxations else np.inf)
        assert abs(review.weights.sum() - 1.0) < 1e-9 and (n.cap_kind == "single").all()


def test_market_cap_anchor_on_prices_only_names_what_to_add(prices_only) -> None:
    root, universe, _ = prices_only
    market = load_market_data(universe, source=root / "prices")
    with pytest.raises(DataError, match=r"'shares' column.*shares_outstanding rows.*anchor.method = 'equal'"):
        build_weights(universe, market, CUTOFF)
    liquidity = load_methodology()
    liquidity = dataclasses.replace(liquidity, anchor=dataclasses.replace(liquidity.anchor, method="liquidity"))
    with pytest.raises(DataError, match=r"no volume: add a 'volume' column"):
        build_weights(universe, market, CUTOFF, liquidity)


def _spec(root: Path, name: str, anchor: str, benchmark: str = "none") -> Path:
    spec = root / f"{name}.toml"
    spec.write_text(
        f'name = "{name}"\nsource = "prices"\nuniverse = "universe/allied_supply_chain.csv"\n'
        f'start = "2023-01-01"\nend = "2024-12-31"\n[benchmark]\nkind = "{benchmark}"\n'
        f'[methodology.anchor]\nmethod = "{anchor}"\n',
        encoding="utf-8",
    )
    return spec


def test_cli_backtests_a_prices_only_folder(prices_only) -> None:
    root, _, _ = prices_only
    code, out, err = run_cli(["backtest", _spec(root, "po_equal", "equal"), "--out", root / "out_equal"])
    assert code == 0, err
    assert (root / "out_equal" / "tearsheet.html").is_file() and (root / "out_equal" / "reviews.csv").is_file()
    assert "note: the data has no volume" in out and "skip the ADTV screens and the liquidity caps" in out


def test_cli_market_cap_anchor_on_prices_only_is_one_line_exit_2(prices_only) -> None:
    root, _, _ = prices_only
    code, out, err = run_cli(["backtest", _spec(root, "po_cap", "market_cap_purity"), "--out", root / "out_cap"])
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "shares" in err and "reference_history.csv" in err and "anchor.method = 'equal'" in err
    assert not (root / "out_cap").exists()


def test_cli_cap_weighted_benchmark_on_prices_only_is_one_line_exit_2(prices_only) -> None:
    root, _, _ = prices_only
    spec = _spec(root, "po_bench", "equal", benchmark="universe_cap_weighted")
    code, out, err = run_cli(["backtest", spec, "--out", root / "out_bench"])
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "universe_cap_weighted benchmark needs market caps" in err and 'kind = "none"' in err
    assert not (root / "out_bench").exists()


def test_reference_shares_run_the_size_screen_point_in_time(tmp_path: Path) -> None:
    base = load_universe(_universe_copy(tmp_path / "probe"))
    tickers = _write_prices(base, tmp_path / "prices")
    usd = [t for t in tickers if base.frame.at[t, "currency"] == "USD"]
    big, small = usd[0], usd[1]
    since = {t: base.frame.at[t, "listed_since"].date() for t in (big, small)}
    history = (
        "ticker,field,value,from,to,source,notes\n"
        f"{big},shares_outstanding,1000000000,{since[big]},,test,\n"
        f"{small},shares_outstanding,1000000,{since[small]},2024-01-02,test,\n"
        f"{small},shares_outstanding,900000000,2024-01-02,,test,\n"
    )
    universe = load_universe(_universe_copy(tmp_path / "universe", history))
    market = load_market_data(universe, source=tmp_path / "prices")
    assert market.facts == frozenset({"close", "shares"})
    m = _equal(load_methodology())
    close = {t: pd.read_csv(tmp_path / "prices" / f"{t}.csv", index_col="date")["close"] for t in (big, small)}
    # 2023-11-30: the small name's cap (close x 1e6 shares, about $10M) is below the $150M entry threshold
    before = build_weights(universe, market, "2023-11-30", m).report.names
    assert before.market_cap_usd[small] == pytest.approx(close[small]["2023-11-30"] * 1e6, rel=1e-12)
    assert before.reason[small] == "SIZE_BELOW_ENTRY"
    assert before.market_cap_usd[big] == pytest.approx(close[big]["2023-11-30"] * 1e9, rel=1e-12)
    assert before.eligible[big] and SIZE_SKIPPED not in before.detail[big]
    others = [t for t in tickers if t not in (big, small)]
    assert all(SIZE_SKIPPED in d for d in before.detail[others][before.eligible[others]])
    # the 900M shares from 2024-01-02 are read only from then on
    after = build_weights(universe, market, CUTOFF, m).report.names
    assert after.market_cap_usd[small] == pytest.approx(close[small][str(CUTOFF.date())] * 9e8, rel=1e-12)
    assert after.eligible[small]
    # under market_cap_purity the names without any share count are NO_DATA, not size-skipped
    sized = market_screen(market, CUTOFF, load_methodology())
    assert (sized.loc[others, "reason"] == "NO_DATA").all()
    assert sized.loc[big, "reason"] == "OK" and sized.loc[small, "reason"] == "OK"
