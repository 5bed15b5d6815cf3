"""Tests of the tearsheet writer: offline, hermetic, on a small hand-made BacktestResult."""

from __future__ import annotations

import functools
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from exchina_index._text import SYNTHETIC_BANNER
from exchina_index.construction.record import ReviewNames, ReviewReport, WeightResult
from exchina_index.errors import InputError
from exchina_index.publish.html import find_external_references
from exchina_index.publish.tearsheet import write_tearsheet
from exchina_index.rules.methodology import load_methodology
from exchina_index.simulation.backtest import BacktestResult
from exchina_index.universe.loading import LINK_COLUMNS, Universe

STAGES = ("mining", "refining", "manufacturing")
AUM_COLUMNS = {"50M": 50e6, "250M": 250e6, "1,000M": 1e9}
COUNTRIES = ["US", "AU", "CA", "JP", "GB", "FR", "DE", "KR", "US", "AU"]
CURRENCY = {"US": "USD", "AU": "AUD", "CA": "CAD", "JP": "JPY", "GB": "GBP", "FR": "EUR", "DE": "EUR", "KR": "KRW"}
FLAGS = {"T03": "FLAG_CN_OPERATIONS", "T05": "FLAG_CN_OFFTAKE;FLAG_CN_STAKE"}

# A resource reference to another host: attribute, CSS url() or @import.
RESOURCE_RE = re.compile(
    r"""(?:\b(?:src|href|srcset|poster|data|xlink:href)\s*=\s*["']?\s*|url\(\s*["']?\s*|@import\s+["']?\s*)(?:https?:)?//""",
    re.IGNORECASE,
)


@functools.cache
def make_result(*, synthetic: bool = True, n_tickers: int = 10, days: int = 520, seed: int = 7) -> BacktestResult:
    """A small, internally consistent BacktestResult built by hand (no market data, no optimizer)."""
    rng = np.random.default_rng(seed)
    tickers = [f"T{i:02d}" for i in range(n_tickers)]
    countries = [COUNTRIES[i % len(COUNTRIES)] for i in range(n_tickers)]
    stage = rng.dirichlet(np.ones(3), size=n_tickers).round(2)
    stage[:, 2] = 1.0 - stage[:, 0] - stage[:, 1]
    frame = pd.DataFrame(
        {
            "name": [f"Company {t}" for t in tickers],
            "issuer": [f"issuer{t[1:]}" for t in tickers],
            "primary": True,
            "domicile": countries,
            "hq": countries,
            "exchange": "XNYS",
            "currency": [CURRENCY[c] for c in countries],
            "price_unit": [CURRENCY[c] for c in countries],
            "lot_size": 1,
            "float_factor": 1.0,
            "mining": stage[:, 0],
            "refining": stage[:, 1],
            "manufacturing": stage[:, 2],
            "purity": 0.8,
            "listed_since": pd.Timestamp("2000-01-03"),
            "delisted": pd.NaT,
            "activities": "mining",
            "source": "test",
            "notes": "",
        },
        index=pd.Index(tickers, name="ticker"),
    )
    universe = Universe(frame=frame, links=pd.DataFrame(columns=list(LINK_COLUMNS)))

    dates = pd.bdate_range("2021-03-19", periods=days)
    review_pos = list(range(0, days - 1, 63))
    rets = rng.normal(0.0004, 0.02, size=(days, n_tickers))
    divs = np.where(rng.random((days, n_tickers)) < 0.004, 0.01, 0.0)
    targets, drifted = [], np.zeros((days, n_tickers))
    turnover, costs = [], []
    pr, tr, ntr, nav = (np.full(days, 1000.0) for _ in range(4))
    w = np.zeros(n_tickers)
    for t in range(days):
        if t > 0:
            r_pr = w @ rets[t]
            pr[t] = pr[t - 1] * (1 + r_pr)
            tr[t] = tr[t - 1] * (1 + r_pr + w @ divs[t])
            ntr[t] = ntr[t - 1] * (1 + r_pr + 0.85 * (w @ divs[t]))
            nav[t] = nav[t - 1] * (1 + r_pr + 0.85 * (w @ divs[t])) * (1 - 0.0059 / 252)
            w = w * (1 + rets[t]) / (1 + r_pr)
        if t in review_pos:
            target = rng.random(n_tickers) * (rng.random(n_tickers) > 0.2)
            target[0] = max(target[0], 0.5)
            target = target / target.sum()
            turn = 0.5 if t == 0 else 0.5 * float(np.abs(target - w).sum())
            turnover.append(turn)
            costs.append(turn * 0.002)
            nav[t] *= 1 - costs[-1]
            targets.append(target)
            w = target.copy()
        drifted[t] = w
    impl = dates[review_pos]
    levels = pd.DataFrame({"price_return": pr, "total_return": tr, "net_total_return": ntr, "nav": nav}, index=dates)
    weights = pd.DataFrame(targets, index=impl, columns=tickers)

    reviews = {}
    for k, t in enumerate(impl):
        wk = weights.loc[t]
        adtv = pd.Series(rng.uniform(2e5, 5e7, n_tickers), index=tickers)
        held = wk[wk > 0].index
        index = pd.Index(tickers, name="ticker")
        flags = pd.Series("", index=index, dtype=object)
        reason = pd.Series("OK", index=index, dtype=object)
        if k >= 1:  # flags appear from the second review on
            for tk, fl in FLAGS.items():
                if tk in index:
                    flags[tk] = fl
                    reason[tk] = fl.split(";")[0]
        nan = pd.Series(np.nan, index=index)
        names = ReviewNames(
            eligible=pd.Series(True, index=index),
            reason=reason,
            flags=flags,
            country=pd.Series(countries, index=index),
            cn_stake=pd.Series(0.0, index=index),
            detail=pd.Series("", index=index, dtype=object),
            issuer=frame["issuer"].reindex(index),
            exposure=frame[list(STAGES)].reindex(index),
            market_cap_usd=nan,
            adtv_usd=adtv,
            anchor=wk,
            liquidity_cap=nan,
            cap=nan,
            cap_kind=pd.Series("single", index=index, dtype=object),
            weight=wk,
            binding=pd.Series("", index=index, dtype=object),
            days_to_trade=(wk * 250e6 / (0.25 * adtv)).where(wk > 0, 0.0),
        )
        dtt = pd.DataFrame({c: wk[held] * a / (0.25 * adtv[held]) for c, a in AUM_COLUMNS.items()})
        exposure = frame[list(STAGES)]
        stages = pd.DataFrame(
            {"target": [0.4, 0.3, 0.3], "before": exposure.T @ wk, "after": exposure.T @ wk}
        ).set_axis(list(STAGES))
        report = ReviewReport(
            as_of=t - pd.Timedelta(days=14),
            aum=250e6,
            names=names,
            stages=stages,
            countries=wk.groupby(pd.Series(countries, index=tickers)).sum(),
            issuers=wk.groupby(frame["issuer"]).sum(),
            binding_constraints=(),
            solver="TEST",
            status="optimal",
            solve_seconds=0.0,
            fallback_used=False,
            relaxations=(),
            capacity_aum=1e9,
            days_to_trade=dtt,
            methodology_version="1.0.0",
            data_source="demo" if synthetic else "csv:test",
            synthetic=synthetic,
        )
        reviews[t] = WeightResult(weights=wk.rename("weight"), report=report)

    return BacktestResult(
        levels=levels,
        returns=levels.pct_change().iloc[1:],
        weights=weights,
        drifted=pd.DataFrame(drifted, index=dates, columns=tickers),
        turnover=pd.Series(turnover, index=impl, name="turnover"),
        costs=pd.Series(costs, index=impl, name="cost"),
        reviews=reviews,
        schedule=pd.DataFrame({"implement": impl}),
        tracking_difference=-0.0071,
        aum=250e6,
        universe=universe,
        methodology=load_methodology(),
        data_source="demo" if synthetic else "csv:test",
        synthetic=synthetic,
        delistings=(),
    )


def benchmark_returns(result: BacktestResult, seed: int = 3) -> pd.Series:
    rng = np.random.default_rng(seed)
    idx = result.levels.index
    return pd.Series(rng.normal(0.0003, 0.012, len(idx)), index=idx, name="Unscreened basket")


def cell(text: str, cell_id: str) -> str:
    m = re.search(rf'id="{re.escape(cell_id)}"[^>]*>([^<]*)<', text)
    assert m is not None, f"no element with id {cell_id!r}"
    return m.group(1)


@pytest.fixture
def no_download(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to fetch market data fails the test."""
    import quantstats.utils
    import yfinance

    def boom(*args: object, **kwargs: object) -> None:
        raise AssertionError("a download was attempted")

    monkeypatch.setattr(yfinance, "download", boom)
    monkeypatch.setattr(quantstats.utils, "download_returns", boom)


class Spy:
    """Stands in for quantstats.reports.html: records the call, writes a page with external refs."""

    FAKE = (
        '<!DOCTYPE html><html><head><title>x</title><link rel="shortcut icon" href="https://qtpylib.io/favicon.ico">'
        '<link rel="stylesheet" href="//cdn.example.com/x.css"><script src="https://cdn.example.com/x.js"></script>'
        '<style>@import url("https://fonts.example.com/f.css");body{background:url(http://example.com/a.png)}</style>'
        '</head><body onload="save()"><h1>{title}</h1><a href="http://quantstats.io">QuantStats</a>'
        '<img src="https://example.com/i.png"><svg xmlns="http://www.w3.org/2000/svg"></svg></body></html>'
    )

    def __init__(self) -> None:
        self.calls: list[tuple[tuple, dict]] = []

    def __call__(self, *args: object, **kwargs: object) -> None:
        self.calls.append((args, kwargs))
        Path(str(kwargs["output"])).write_text(self.FAKE.replace("{title}", str(kwargs.get("title"))), encoding="utf-8")


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch, no_download: None) -> Spy:
    import quantstats.reports

    s = Spy()
    monkeypatch.setattr(quantstats.reports, "html", s)
    return s


@pytest.fixture(scope="module")
def real_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[BacktestResult, Path, pd.Series]:
    """One run with the real quantstats (synthetic, with a benchmark); downloads are forbidden."""
    import quantstats.utils
    import yfinance

    mp = pytest.MonkeyPatch()

    def boom(*args: object, **kwargs: object) -> None:
        raise AssertionError("a download was attempted")

    mp.setattr(yfinance, "download", boom)
    mp.setattr(quantstats.utils, "download_returns", boom)
    try:
        result = make_result(synthetic=True)
        bench = benchmark_returns(result)
        out = tmp_path_factory.mktemp("real") / "demo"
        path = write_tearsheet(result, out, benchmark=bench)
    finally:
        mp.undo()
    return result, path, bench


# --- the files -----------------------------------------------------------------------------------


def test_real_quantstats_writes_both_pages_linked_offline(real_run) -> None:
    result, path, _ = real_run
    out = path.parent
    assert path == out / "tearsheet.html"
    assert sorted(p.name for p in out.iterdir()) == [
        "factsheet.pdf",
        "levels.csv",
        "tearsheet.html",
        "thematic.html",
        "turnover.csv",
        "weights.csv",
    ]
    tear = path.read_text(encoding="utf-8")
    them = (out / "thematic.html").read_text(encoding="utf-8")
    assert 'href="thematic.html"' in tear
    assert 'href="tearsheet.html"' in them
    assert "Key Performance Metrics" in tear and "<svg" in tear  # the real quantstats report
    assert "Unscreened basket" in tear
    for text in (tear, them):
        assert RESOURCE_RE.search(text) is None
        assert "http://" not in text and "https://" not in text
        assert find_external_references(text) == []
        assert "<script" not in text.lower()
    assert them.count("<svg") >= 6


def test_synthetic_banner_on_both_pages(real_run) -> None:
    _, path, _ = real_run
    for p in (path, path.parent / "thematic.html"):
        text = p.read_text(encoding="utf-8")
        assert SYNTHETIC_BANNER in text
        assert text.index(SYNTHETIC_BANNER) < text.index("<h1")  # at the top of the body
    assert "SYNTHETIC DEMO DATA" in re.search(r"<title>(.*?)</title>", path.read_text(encoding="utf-8")).group(1)


def test_no_banner_when_not_synthetic(tmp_path: Path, spy: Spy) -> None:
    result = make_result(synthetic=False)
    path = write_tearsheet(result, tmp_path)
    for p in (path, tmp_path / "thematic.html"):
        text = p.read_text(encoding="utf-8")
        assert SYNTHETIC_BANNER not in text
        assert "SYNTHETIC" not in text
    assert "SYNTHETIC" not in spy.calls[0][1]["title"]


def test_post_processing_strips_every_external_reference(tmp_path: Path, spy: Spy) -> None:
    path = write_tearsheet(make_result(), tmp_path)
    text = path.read_text(encoding="utf-8")
    assert RESOURCE_RE.search(text) is None and "http" not in text.replace("http-equiv", "")
    assert "QuantStats" in text  # the link's text is kept
    assert "onload" not in text
    assert SYNTHETIC_BANNER in text and 'href="thematic.html"' in text
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary file left


# --- quantstats gets Series, never strings ---------------------------------------------------------


def test_quantstats_called_with_series_and_explicit_output(tmp_path: Path, spy: Spy) -> None:
    result = make_result()
    bench = benchmark_returns(result)
    out = tmp_path / "a" / "b"
    write_tearsheet(result, out, benchmark=bench, benchmark_name="REMX-like")
    assert len(spy.calls) == 1
    args, kwargs = spy.calls[0]
    returns = args[0] if args else kwargs["returns"]
    benchmark = kwargs["benchmark"]
    assert isinstance(returns, pd.Series) and isinstance(benchmark, pd.Series)
    assert returns.dtype == np.float64 and benchmark.dtype == np.float64
    assert isinstance(returns.index, pd.DatetimeIndex) and returns.index.tz is None
    assert returns.index.equals(benchmark.index)
    assert Path(kwargs["output"]).parent == out
    assert kwargs["periods_per_year"] == 252
    assert kwargs["benchmark_title"] == "REMX-like"
    ntr = result.levels["net_total_return"]
    np.testing.assert_allclose(returns.to_numpy(), (ntr / ntr.shift(1) - 1).iloc[1:].to_numpy(), rtol=0, atol=1e-15)
    np.testing.assert_allclose(benchmark.to_numpy(), bench.iloc[1:].to_numpy(), rtol=0, atol=1e-15)


def test_benchmark_as_levels_equals_benchmark_as_returns(tmp_path: Path, spy: Spy) -> None:
    result = make_result()
    bench = benchmark_returns(result)
    level = 50.0 * (1 + bench).cumprod()
    write_tearsheet(result, tmp_path / "r", benchmark=bench)
    write_tearsheet(result, tmp_path / "l", benchmark=level, benchmark_kind="levels")
    b_ret, b_lvl = spy.calls[0][1]["benchmark"], spy.calls[1][1]["benchmark"]
    np.testing.assert_allclose(b_lvl.to_numpy(), b_ret.to_numpy(), rtol=0, atol=1e-14)


def test_benchmark_aligned_without_look_ahead(tmp_path: Path, spy: Spy) -> None:
    result = make_result()
    dates = result.levels.index
    # the benchmark misses the index's 11th date and trades on a Saturday the index does not
    saturday = next(d for d in dates[15:] if d.day_of_week == 4) + pd.Timedelta(days=1)
    bdates = dates.delete(10).append(pd.DatetimeIndex([saturday])).sort_values()
    # tz-aware closes stamped 16:00 New York, as some data sources deliver them
    stamps = (bdates + pd.Timedelta(hours=16)).tz_localize("America/New_York")
    level = pd.Series(100.0 * 1.001 ** np.arange(len(bdates)) * (1 + 0.01 * (bdates == saturday)), index=stamps)
    write_tearsheet(result, tmp_path, benchmark=level, benchmark_kind="levels")
    b = spy.calls[0][1]["benchmark"]
    by_date = pd.Series(level.to_numpy(), index=bdates)
    expect = by_date.reindex(by_date.index.union(dates)).ffill().reindex(dates)  # last close on or before
    expect = (expect / expect.shift(1) - 1).iloc[1:]
    np.testing.assert_allclose(b.to_numpy(), expect.to_numpy(), rtol=1e-12)
    assert b.loc[dates[10]] == 0.0  # a benchmark holiday is a zero return
    monday = saturday + pd.Timedelta(days=2)
    friday = saturday - pd.Timedelta(days=1)
    assert b.loc[monday] == pytest.approx(by_date[monday] / by_date[friday] - 1)  # Saturday's move lands on Monday


def test_benchmark_shorter_than_backtest_trims_both(tmp_path: Path, spy: Spy) -> None:
    result = make_result()
    bench = benchmark_returns(result).iloc[100:300]
    write_tearsheet(result, tmp_path, benchmark=bench)
    returns, b = spy.calls[0][0][0], spy.calls[0][1]["benchmark"]
    assert returns.index.equals(b.index)
    assert b.index[0] == bench.index[1] and b.index[-1] == bench.index[-1]


@pytest.mark.parametrize(
    "bad, kind, match",
    [
        ("REMX", "returns", "string"),
        (None, "returns", "looks like prices"),
        (None, "weekly", "benchmark_kind"),
    ],
)
def test_bad_benchmarks_are_refused(tmp_path: Path, spy: Spy, bad, kind, match) -> None:
    result = make_result()
    if bad is None:
        bad = 100 * (1 + benchmark_returns(result)).cumprod()
    with pytest.raises(InputError, match=match):
        write_tearsheet(result, tmp_path, benchmark=bad, benchmark_kind=kind)
    assert spy.calls == []


# --- the numbers on the thematic page ---------------------------------------------------------------


def test_thematic_numbers_match_an_independent_computation(real_run) -> None:
    result, path, bench = real_run
    text = (path.parent / "thematic.html").read_text(encoding="utf-8")

    ntr = result.levels["net_total_return"]
    years = (ntr.index[-1] - ntr.index[0]).days / 365.25
    cagr = (ntr.iloc[-1] / ntr.iloc[0]) ** (1 / years) - 1
    assert cell(text, "cagr-net_total_return") == f"{cagr * 100:.2f}%"
    vol = ntr.pct_change().std() * np.sqrt(252)
    assert cell(text, "vol-net_total_return") == f"{vol * 100:.2f}%"
    mdd = (ntr / ntr.cummax() - 1).min()
    assert cell(text, "mdd-ntr") == f"{mdd * 100:.2f}%"
    nav = result.levels["nav"]
    assert cell(text, "cagr-nav") == f"{((nav.iloc[-1] / nav.iloc[0]) ** (1 / years) - 1) * 100:.2f}%"

    last = max(result.reviews)
    w = result.weights.loc[last]
    assert cell(text, "effn-last") == f"{1 / (w**2).sum():,.2f}"

    flags = result.reviews[last].report.names.flags
    flagged = [t for t in w.index if flags[t] != "" and w[t] > 0]
    assert flagged  # the fixture has flagged holdings
    assert cell(text, "china-nexus-last") == f"{w[flagged].sum() * 100:.2f}%"
    for t in flagged:
        assert FLAGS[t].split(";")[0] in text

    dtt = result.reviews[last].report.days_to_trade
    d = dtt["1,000M"]
    assert cell(text, "liq-max-1-000m") == f"{d.max():,.2f}"
    assert cell(text, "liq-wavg-1-000m") == f"{(w[d.index] * d).sum() / w[d.index].sum():,.2f}"

    assert cell(text, "n-reviews") == str(len(result.reviews))
    assert cell(text, "total-costs") == f"{result.costs.sum() * 1e4:.1f} bp"
    assert cell(text, "tracking-difference") == "-0.71%"
    assert cell(text, "weight-t00") == f"{w['T00'] * 100:.2f}%"

    # the benchmark row: aligned from the second date, rebased to the NTR level
    blevel = (1 + bench.iloc[1:]).cumprod()
    bcagr = blevel.iloc[-1] ** (1 / years) - 1
    assert cell(text, "cagr-benchmark") == f"{bcagr * 100:.2f}%"


def test_stage_allocation_uses_drifted_weights_times_exposure(tmp_path: Path, spy: Spy) -> None:
    result = make_result()
    write_tearsheet(result, tmp_path)
    text = (tmp_path / "thematic.html").read_text(encoding="utf-8")
    last_drifted = result.drifted.iloc[-1]
    for s in STAGES:
        expect = float((last_drifted * result.universe.frame[s]).sum())
        assert cell(text, f"stage-now-{s}") == f"{expect * 100:.1f}%"


def test_stage_allocation_reads_each_reviews_split_not_todays(tmp_path: Path, spy: Spy) -> None:
    # A split that changes at the last review (T00 becomes pure manufacturing, as MP moved into magnets)
    # counts from that review on; the universe's static columns do not.
    import dataclasses

    result = make_result.__wrapped__()  # a fresh copy: this test changes it
    last = max(result.reviews)
    wr = result.reviews[last]
    split = wr.report.names.exposure.copy()
    split.loc["T00"] = [0.0, 0.0, 1.0]
    names = dataclasses.replace(wr.report.names, exposure=split)
    result.reviews[last] = dataclasses.replace(wr, report=dataclasses.replace(wr.report, names=names))
    write_tearsheet(result, tmp_path)
    text = (tmp_path / "thematic.html").read_text(encoding="utf-8")
    last_drifted = result.drifted.iloc[-1]
    for s in STAGES:
        assert cell(text, f"stage-now-{s}") == f"{float((last_drifted * split[s]).sum()) * 100:.1f}%"
    assert float(last_drifted["T00"]) > 0.01 and result.universe.frame.at["T00", "manufacturing"] < 1.0


# --- determinism ---------------------------------------------------------------------------------------


def test_outputs_are_byte_identical_across_runs(tmp_path: Path, spy: Spy) -> None:
    result = make_result()
    bench = benchmark_returns(result)
    a = write_tearsheet(result, tmp_path / "a", benchmark=bench).parent
    b = write_tearsheet(make_result.__wrapped__(), tmp_path / "b", benchmark=bench.copy()).parent  # equal, not the same
    for name in ("thematic.html", "levels.csv", "weights.csv", "turnover.csv"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    assert "%Y" not in (a / "levels.csv").read_text()


def test_csv_contents(tmp_path: Path, spy: Spy) -> None:
    result = make_result()
    write_tearsheet(result, tmp_path)
    levels = pd.read_csv(tmp_path / "levels.csv", index_col="date", parse_dates=True)
    pd.testing.assert_frame_equal(
        levels, result.levels.astype("float64"), check_freq=False, check_names=False, check_index_type=False, rtol=1e-9
    )
    weights = pd.read_csv(tmp_path / "weights.csv", index_col="implement", parse_dates=True)
    np.testing.assert_allclose(weights.to_numpy(), result.weights.to_numpy(), rtol=1e-9)
    flows = pd.read_csv(tmp_path / "turnover.csv", index_col="implement", parse_dates=True)
    assert list(flows.columns) == ["turnover", "cost"]
    np.testing.assert_allclose(flows["turnover"].to_numpy(), result.turnover.to_numpy(), rtol=1e-9)
    lines = (tmp_path / "levels.csv").read_text().splitlines()
    assert lines[0] == "date,price_return,total_return,net_total_return,nav"
    assert lines[1].startswith(f"{result.levels.index[0]:%Y-%m-%d},1000,1000,1000,")
