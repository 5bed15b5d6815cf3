"""Tests of the factsheet PDF and of the calendar-year and trailing returns it shows.

The PDF is read back with pypdfium2 (pages, sizes, pixels, text layer); the figures checked on the
page are computed here by hand from the levels, independently of the package's formatting.
"""

from __future__ import annotations

import dataclasses
import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import exchina_index as xi
from exchina_index.errors import InputError
from exchina_index.publish.backtest_series import align_benchmark
from exchina_index.publish.factsheet import render_factsheet
from exchina_index.simulation.performance import calendar_year_returns, period_returns

pdfium = pytest.importorskip("pypdfium2", reason="pypdfium2 reads the PDF back (pip install pypdfium2)")

TITLE = "Allied Rare Earth Test Index"
DESCRIPTION = "A test description of an index of miners, refiners and magnet makers outside China."
A4_POINTS = (8.27 * 72, 11.69 * 72)


def _fmt(x: float) -> str:
    """A fraction as the page prints it: per cent with two decimals (by hand, not the package's pct)."""
    return f"{100.0 * x:.2f}%"


def _pages_text(pdf: bytes) -> list[str]:
    doc = pdfium.PdfDocument(pdf)
    return [doc[i].get_textpage().get_text_range() for i in range(len(doc))]


@pytest.fixture(scope="module")
def result() -> Any:
    universe = xi.load_universe()
    market = xi.load_market_data(universe, source="demo")
    return xi.backtest(universe, market, start="2024-01-01", end="2026-09-30")


@pytest.fixture(scope="module")
def ntr(result: Any) -> pd.Series:
    return result.levels["net_total_return"].dropna()


@pytest.fixture(scope="module")
def bench_levels(ntr: pd.Series) -> pd.Series:
    """A benchmark level known on every index date (and a week before), made by hand."""
    dates = pd.bdate_range(ntr.index[0] - pd.Timedelta(days=7), ntr.index[-1])
    t = np.arange(len(dates), dtype=float)
    return pd.Series(100.0 * np.exp(0.0004 * t + 0.08 * np.sin(t / 23.0)), index=dates, name="Hand benchmark")


@pytest.fixture(scope="module")
def eur(ntr: pd.Series) -> pd.DataFrame:
    factor = 1.0 + 0.15 * np.linspace(0.0, 1.0, len(ntr))  # a currency falling against USD, steadily
    return pd.DataFrame({"EUR": ntr.to_numpy() * factor}, index=ntr.index)


@pytest.fixture(scope="module")
def pdf(result: Any, ntr: pd.Series, bench_levels: pd.Series, eur: pd.DataFrame) -> bytes:
    bench = align_benchmark(bench_levels, pd.DatetimeIndex(ntr.index), "levels").dropna()
    return render_factsheet(
        result,
        title=TITLE,
        description=DESCRIPTION,
        benchmark=bench,
        benchmark_name="Hand benchmark",
        currency_levels=eur,
    )


@pytest.fixture(scope="module")
def texts(pdf: bytes) -> list[str]:
    return _pages_text(pdf)


def test_the_pdf_has_one_or_two_a4_pages(pdf: bytes) -> None:
    assert pdf.startswith(b"%PDF")
    doc = pdfium.PdfDocument(pdf)
    assert len(doc) in (1, 2)
    for i in range(len(doc)):
        w, h = doc[i].get_size()
        assert w == pytest.approx(A4_POINTS[0], abs=0.5) and h == pytest.approx(A4_POINTS[1], abs=0.5)


def test_every_page_renders_to_a_picture_that_is_not_blank(pdf: bytes, tmp_path: Path) -> None:
    from PIL import Image

    doc = pdfium.PdfDocument(pdf)
    for i in range(len(doc)):
        path = tmp_path / f"page{i + 1}.png"
        doc[i].render(scale=1).to_pil().save(path)
        pixels = np.asarray(Image.open(path).convert("L"), dtype=float)
        assert abs(pixels.shape[0] - A4_POINTS[1]) <= 1 and abs(pixels.shape[1] - A4_POINTS[0]) <= 1  # 1 px = 1 pt
        assert pixels.var() > 500.0  # text, bands and charts, not a white page
        assert (pixels < 128).mean() > 0.03  # some dark ink (a page with a faint watermark only fails)


def test_the_text_layer_holds_the_title_the_label_the_top_holding_and_the_years(result: Any, texts: list[str]) -> None:
    assert all(TITLE in t for t in texts)
    assert all("SYNTHETIC DEMO DATA" in t for t in texts)  # on every page
    assert DESCRIPTION[:40] in texts[0]
    last = max(result.reviews)
    w = result.reviews[last].report.names.weight
    w = w[w > 0]
    top = sorted(w.index, key=lambda t: (-float(w[t]), str(t)))[0]  # largest, ties in ticker order
    name = str(result.universe.frame.loc[top, "name"])
    assert re.search(rf"\b1\s+{re.escape(name)}\s+{re.escape(top)}\b", texts[1])
    for year in ("2024", "2025", "2026"):
        assert year in texts[0]
    assert "Page 1 of 2" in texts[0] and "Page 2 of 2" in texts[1]
    assert "Hand benchmark" in texts[0]


def test_a_result_that_is_not_synthetic_carries_no_synthetic_label(result: Any) -> None:
    real = dataclasses.replace(result, synthetic=False)
    texts = _pages_text(render_factsheet(real, title=TITLE, description=DESCRIPTION))
    assert texts and all(TITLE in t for t in texts)
    assert not any("synthetic" in t.lower() for t in texts)


def test_calendar_year_returns_on_the_page_match_a_hand_computation(
    ntr: pd.Series, bench_levels: pd.Series, texts: list[str]
) -> None:
    end_2024 = ntr[ntr.index.year == 2024].index[-1]
    end_2025 = ntr[ntr.index.year == 2025].index[-1]
    first_year = ntr[end_2024] / ntr.iloc[0] - 1.0  # partial: from the base date
    y2025 = ntr[end_2025] / ntr[end_2024] - 1.0
    b2025 = bench_levels[end_2025] / bench_levels[end_2024] - 1.0
    assert re.search(rf"2024\*\s+{re.escape(_fmt(first_year))}", texts[0])
    row = rf"\b2025\s+{re.escape(_fmt(y2025))}\s+{re.escape(_fmt(b2025))}\s+{re.escape(_fmt(y2025 - b2025))}"
    assert re.search(row, texts[0]), texts[0]


def test_the_one_year_and_other_currency_figures_match_a_hand_computation(
    ntr: pd.Series, eur: pd.DataFrame, texts: list[str]
) -> None:
    # one year before 2026-09-30 is 2025-09-30, a trading day of the demo calendar
    base = ntr[ntr.index <= ntr.index[-1] - pd.DateOffset(years=1)].iloc[-1]
    assert re.search(rf"1 year\s+{re.escape(_fmt(ntr.iloc[-1] / base - 1.0))}", texts[0])
    total = eur["EUR"].iloc[-1] / eur["EUR"].iloc[0] - 1.0
    assert re.search(rf"EUR\s+\S+ to \S+\s+{re.escape(_fmt(total))}", texts[1])
    # the EUR factor grows by 15 %: the EUR total return is (1 + USD total) * 1.15 - 1
    usd_total = ntr.iloc[-1] / ntr.iloc[0] - 1.0
    assert total == pytest.approx((1.0 + usd_total) * 1.15 - 1.0)


def test_the_portfolio_characteristics_match_the_last_review_by_hand(result: Any, texts: list[str]) -> None:
    w = result.reviews[max(result.reviews)].report.names.weight.astype(float)
    w = w[w > 0].to_numpy()
    effective = 1.0 / float(np.sum(w**2))
    top10 = float(np.sort(w)[::-1][:10].sum())
    assert re.search(rf"Effective number of names \S+\s+{effective:.1f}\b", texts[1])
    assert re.search(rf"Top 10 weight\s+{re.escape(_fmt(top10))}", texts[1])
    assert re.search(rf"Constituents\s+{len(w)}\b", texts[1])


def test_each_currency_column_is_a_row_and_usd_is_the_index_own(result: Any, ntr: pd.Series) -> None:
    frame = pd.DataFrame(
        {"GBP": ntr.to_numpy() * np.linspace(1.0, 0.9, len(ntr)), "USD": ntr.to_numpy()}, index=ntr.index
    )
    text = _pages_text(render_factsheet(result, title=TITLE, description=DESCRIPTION, currency_levels=frame))[1]
    total = ntr.iloc[-1] * 0.9 / ntr.iloc[0] - 1.0
    assert re.search(rf"\nGBP\s+\S+ to \S+\s+{re.escape(_fmt(total))}", text)
    assert len(re.findall(r"\nUSD[^\n]*\d{4}-\d\d-\d\d to", text)) == 1  # the index's own row only


def test_the_bytes_are_identical_and_matplotlib_settings_do_not_leak(result: Any) -> None:
    import matplotlib

    first = render_factsheet(result, title=TITLE, description=DESCRIPTION)
    before = dict(matplotlib.rcParams)
    with matplotlib.rc_context({"font.size": 17.0, "lines.linewidth": 4.0, "axes.grid": True}):
        styled = render_factsheet(result, title=TITLE, description=DESCRIPTION)  # the caller's style is ignored
        assert matplotlib.rcParams["font.size"] == 17.0  # and left as it was
    again = render_factsheet(result, title=TITLE, description=DESCRIPTION)
    assert first == again == styled
    assert dict(matplotlib.rcParams) == before
    assert b"CreationDate" not in first and b"ModDate" not in first


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"title": ""}, "title"),
        ({"description": "  "}, "description"),
        ({"benchmark": "REMX"}, "Series of daily returns"),
        ({"benchmark": pd.Series([0.01, 0.02], index=pd.to_datetime(["2030-01-02", "2030-01-03"]))}, "align"),
        ({"currency_levels": pd.Series([1.0])}, "DataFrame"),
        ({"currency_levels": "negative"}, "positive levels"),
    ],
)
def test_bad_inputs_are_refused_with_a_message(result: Any, ntr: pd.Series, kwargs: dict, match: str) -> None:
    args: dict[str, Any] = {"title": TITLE, "description": DESCRIPTION, **kwargs}
    if isinstance(args.get("currency_levels"), str):
        args["currency_levels"] = pd.DataFrame({"GBP": -ntr.to_numpy()}, index=ntr.index)
    with pytest.raises(InputError, match=match):
        render_factsheet(result, **args)


def test_a_result_must_be_a_backtest_result() -> None:
    with pytest.raises(InputError, match="BacktestResult"):
        render_factsheet(object(), title=TITLE, description=DESCRIPTION)  # type: ignore[arg-type]


# --- calendar_year_returns and period_returns on tiny series -------------------------------------


def _series(points: dict[str, float]) -> pd.Series:
    return pd.Series(list(points.values()), index=pd.to_datetime(list(points)))


def test_calendar_year_returns_start_from_the_first_level_and_end_at_the_last() -> None:
    lv = _series(
        {"2021-09-15": 200.0, "2021-12-30": 210.0, "2022-06-30": 189.0, "2022-12-30": 252.0, "2023-02-01": 226.8}
    )
    got = calendar_year_returns(lv)
    # 2021 (partial): 210/200 - 1; 2022: 252/210 - 1 (the mid-year close is ignored); 2023: 226.8/252 - 1
    assert list(got.index) == [2021, 2022, 2023]
    assert got.to_numpy() == pytest.approx([0.05, 0.2, -0.1])
    assert calendar_year_returns(lv.iloc[:1]).empty


def test_calendar_year_returns_chain_to_the_total_return() -> None:
    dates = pd.bdate_range("2019-04-01", "2023-08-31")
    rng = np.random.default_rng(3)
    lv = pd.Series(1000.0 * np.cumprod(1.0 + rng.normal(0.0003, 0.01, len(dates))), index=dates)
    got = calendar_year_returns(lv)
    assert float(np.prod(1.0 + got.to_numpy())) == pytest.approx(lv.iloc[-1] / lv.iloc[0])


def test_period_returns_are_annualised_over_whole_years_and_nan_when_too_short() -> None:
    lv = _series({"2019-06-28": 80.0, "2020-06-30": 90.0, "2022-06-30": 100.0, "2023-06-30": 125.0})
    got = period_returns(lv, [1, 3, 4, 5])
    assert got[1] == pytest.approx(0.25)  # 125 / 100
    assert got[3] == pytest.approx((125.0 / 90.0) ** (1 / 3) - 1.0)  # base: 2020-06-30
    # 4 years back is 2019-06-30, a Sunday: the base is the last level on or before it (2019-06-28)
    assert got[4] == pytest.approx(math.sqrt(math.sqrt(125.0 / 80.0)) - 1.0)
    assert math.isnan(got[5])  # the series starts after 2018-06-30
    with pytest.raises(InputError, match="positive whole number"):
        period_returns(lv, [0])
