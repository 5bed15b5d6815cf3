"""The factsheet of a backtest: a two-page A4 PDF like an index provider's, drawn with matplotlib.

Page 1: the index name and description, key facts (base date and value, currency, rebalancing,
constituents, rulebook version, data source), key figures of the net total-return (NTR) index
(trailing 1, 3 and 5 years, since the base date, volatility, maximum drawdown; against the
benchmark when one is given), the NTR level against the benchmark, calendar-year returns and the
stage breakdown. Page 2: the top 10 constituents at the last review, the country and currency
breakdowns, the NTR's return in other currencies (when given), the rulebook in brief and the
definitions. Every page has a disclaimer and its number in the footer, and, when the result is
made from the synthetic demo market, a red band, a diagonal watermark and a footer line saying so.

The numbers come from :class:`~exchina_index.publish.thematic_numbers.ThematicNumbers` (the thematic
page's) and :mod:`exchina_index.simulation.performance`; the drawing primitives are in
:mod:`exchina_index.publish.factsheet_layout`. Same inputs, same bytes: no dates in the PDF's
metadata, one font (DejaVu Sans, embedded as TrueType), matplotlib's defaults inside an
``rc_context`` (nothing leaks into the caller's matplotlib settings), no pyplot.
"""

from __future__ import annotations

import calendar
import io
from typing import Any

import numpy as np
import pandas as pd

from exchina_index._text import pct
from exchina_index.errors import InputError, short_repr
from exchina_index.publish import charts
from exchina_index.publish.backtest_series import clean_levels, naive_dates
from exchina_index.publish.factsheet_layout import (
    MARGIN,
    NAVY,
    PAGE_WIDTH,
    Page,
    bar_breakdown,
    level_chart,
)
from exchina_index.publish.html import iso_date
from exchina_index.publish.thematic_numbers import ThematicNumbers
from exchina_index.rules.methodology import STAGES
from exchina_index.simulation.backtest import BacktestResult
from exchina_index.simulation.performance import cagr, calendar_year_returns, period_returns

__all__ = ["render_factsheet", "FACTSHEET_FILE", "DISCLAIMER"]

#: The file name the factsheet is published under.
FACTSHEET_FILE = "factsheet.pdf"
_PERIODS = (1, 3, 5)
_TOP = 10
_MAX_YEARS = 12  # calendar-year rows that fit page 1; older years are left out (said in a note)
_PDF_METADATA = {
    "Creator": "exchina-index",
    "Producer": "exchina-index factsheet (matplotlib)",
    "CreationDate": None,
    "ModDate": None,
}
_BENCH_COLOUR = "#e07b00"
_FREQUENCY = {1: "Annual", 2: "Semi-annual", 3: "Every four months", 4: "Quarterly", 6: "Bimonthly", 12: "Monthly"}
_COUNTRY_SETS = {"five_eyes": "Five Eyes", "quad": "Quad", "eu27": "EU-27", "msp": "Minerals Security Partnership"}
_ORDINAL = {1: "first", 2: "second", 3: "third", 4: "fourth", 5: "fifth"}
_HALF = (PAGE_WIDTH - 2 * MARGIN - 0.27) / 2  # width of a column of the two-column layout
_RIGHT = MARGIN + _HALF + 0.27
#: The footer of every page.
DISCLAIMER = (
    "For information only. The index levels are a historical simulation (backtest): the rulebook applied to past "
    "data, not the record of an index calculated live; simulated past performance is not a reliable indicator of "
    "future results. An index cannot be invested in directly; its levels are gross of fund fees and trading costs. "
    "Nothing in this factsheet is an offer, a solicitation or a recommendation to buy or sell any security."
)


def render_factsheet(
    result: BacktestResult,
    *,
    title: str,
    description: str,
    benchmark: pd.Series | None = None,
    benchmark_name: str | None = None,
    currency_levels: pd.DataFrame | None = None,
) -> bytes:
    """The factsheet of a backtest as the bytes of a two-page A4 PDF.

    Parameters
    ----------
    result
        A :class:`~exchina_index.simulation.backtest.BacktestResult`.
    title
        The index name, at the top of both pages (and the PDF's title).
    description
        A paragraph describing the index, under the title on page 1.
    benchmark
        ``None`` or the benchmark's daily returns on the index's dates after its first (0.01 = 1 %),
        as :func:`~exchina_index.publish.backtest_series.align_benchmark` gives them (the tearsheet's
        alignment); NaN returns are dropped. It is shown from its first date, rebased to the NTR level.
    benchmark_name
        The benchmark's label; default ``"Benchmark"``.
    currency_levels
        ``None`` or NTR levels expressed in other currencies: a DataFrame by date, one column per
        currency (``"EUR"``, ``"GBP"``...); page 2 shows each currency's return from its first
        to its last level in the index's period (a ``USD`` column is left out: the index's own row).

    Returns
    -------
    bytes
        The PDF (two A4 pages), byte-identical for identical inputs.

    Raises
    ------
    InputError
        ``result`` is not a backtest result, ``title`` or ``description`` is empty, or the
        benchmark or currency levels are malformed (the message says how).
    DataError
        The result has fewer than two valid index levels.

    Examples
    --------
    >>> pdf = render_factsheet(bt, title="Rare Earth Index", description="...")  # doctest: +SKIP
    >>> pdf[:4]                                                                # doctest: +SKIP
    b'%PDF'
    """
    if not isinstance(result, BacktestResult):
        raise InputError(f"result must be a BacktestResult (from backtest()), got {type(result).__name__}")
    for what, value in (("title", title), ("description", description)):
        if not isinstance(value, str) or not value.strip():
            raise InputError(f"the factsheet's {what} must be a non-empty string, got {short_repr(value)}")
    levels = clean_levels(result.levels)
    bench = _checked_benchmark(benchmark, levels.index)
    currencies = _currency_rows(currency_levels, levels["net_total_return"])
    n = ThematicNumbers(result, bench)
    label = benchmark_name or "Benchmark"
    synthetic = bool(result.synthetic)
    import matplotlib
    from matplotlib.backends.backend_pdf import PdfPages

    buf = io.BytesIO()
    with charts.chart_style():
        matplotlib.rcParams.update({"pdf.fonttype": 42, "pdf.compression": 6, "axes.grid": False})
        pages = [
            _page_one(n, result, title, description, label, synthetic),
            _page_two(n, result, title, currencies, synthetic),
        ]
        for number, page in enumerate(pages, start=1):
            page.footer(number, len(pages), DISCLAIMER, iso_date(n.levels.index[-1]))
        with PdfPages(buf, metadata={"Title": title, **_PDF_METADATA}) as pdf:
            for page in pages:
                pdf.savefig(page.fig)
    return buf.getvalue()


def _checked_benchmark(benchmark: Any, dates: pd.DatetimeIndex) -> pd.Series | None:
    """The benchmark's returns, checked to be on the index's dates after the first."""
    if benchmark is None:
        return None
    if not isinstance(benchmark, pd.Series):
        raise InputError(
            f"the factsheet's benchmark must be a pandas Series of daily returns, got {type(benchmark).__name__}"
        )
    s = pd.Series(pd.to_numeric(benchmark, errors="coerce").to_numpy(dtype="float64"), index=benchmark.index)
    s.index = naive_dates(s.index, "the benchmark")
    s = s.dropna().sort_index()
    if len(s) < 2 or not s.index.isin(dates[1:]).all() or s.index.has_duplicates:
        raise InputError(
            "the factsheet's benchmark must hold daily returns on at least two of the index's dates after its "
            "first; align it with exchina_index.publish.backtest_series.align_benchmark first"
        )
    if (s <= -1).any():
        raise InputError(f"the benchmark has a daily return of -100 % or less on {iso_date(s.index[s <= -1][0])}")
    return s


def _currency_rows(currency_levels: Any, ntr: pd.Series) -> list[list[str]]:
    """Rows of the other-currency table: currency, period, total and annualised return (USD first)."""
    if currency_levels is None:
        return []
    if not isinstance(currency_levels, pd.DataFrame) or currency_levels.shape[1] == 0:
        raise InputError("currency_levels must be a DataFrame by date with one column of NTR levels per currency")
    frame = currency_levels.apply(pd.to_numeric, errors="coerce").astype("float64")
    frame.index = naive_dates(frame.index, "currency_levels")
    frame = frame.sort_index()
    frame = frame.loc[(frame.index >= ntr.index[0]) & (frame.index <= ntr.index[-1])]

    def row(name: str, s: pd.Series) -> list[str]:
        period = f"{iso_date(s.index[0])} to {iso_date(s.index[-1])}"
        return [name, period, pct(float(s.iloc[-1] / s.iloc[0] - 1.0)), pct(cagr(s))]

    rows = [row("USD (index)", ntr)]
    for col in frame.columns:
        if str(col) == "USD":
            continue  # the index's own row
        s = frame[col].dropna()
        if len(s) < 2 or (s <= 0).any():
            raise InputError(
                f"currency_levels column {col!r} needs at least two positive levels in the index's period "
                f"({iso_date(ntr.index[0])} to {iso_date(ntr.index[-1])})"
            )
        rows.append(row(str(col), s))
    return rows


def _key_facts(n: ThematicNumbers, result: BacktestResult, label: str | None) -> list[list[str]]:
    m = result.methodology
    ntr = n.series["net_total_return"]
    months = m.schedule.months
    frequency = _FREQUENCY.get(len(months), f"{len(months)} times a year")
    held = int((n.last_weights > 0).sum())
    facts = [
        ["Base date", iso_date(ntr.index[0])],
        ["Base value", f"{float(ntr.iloc[0]):,.2f}"],
        ["History", "simulated (backtest)"],
        ["Currency", "USD"],
        ["Return variant", "net total return (NTR)"],
        ["Rebalancing", f"{frequency} ({', '.join(calendar.month_abbr[k] for k in months)})"],
        ["Last review", iso_date(n.last) if n.last is not None else "none"],
        ["Constituents", str(held)],
        ["Rulebook version", str(m.version)],
        ["Data source", f"{result.data_source}{' (synthetic)' if result.synthetic else ''}"],
    ]
    if label is not None:
        facts.append(["Benchmark", label])
    return facts


def _figure_column(level: pd.Series | None, stats: pd.Series | None) -> list[float]:
    """Trailing returns, since-base return (annualised, total), volatility and drawdown of a level."""
    if level is None or stats is None:
        return [float("nan")] * 7
    trailing = period_returns(level, _PERIODS)
    return [
        *(float(trailing[y]) for y in _PERIODS),
        float(stats["cagr"]),
        float(stats["total_return"]),
        float(stats["volatility"]),
        float(stats["max_drawdown"]),
    ]


def _key_figures(n: ThematicNumbers, bench: bool) -> tuple[list[str], list[list[str]]]:
    labels = [f"{y} year{'s (ann.)' if y > 1 else ''}" for y in _PERIODS]
    labels += ["Since base (ann.)", "Since base (total)", "Volatility (ann.)", "Maximum drawdown"]
    index = _figure_column(n.series["net_total_return"], n.stats.loc["net_total_return"])
    if not bench:
        return ["NTR, USD", "Index"], [[lab, pct(v)] for lab, v in zip(labels, index)]
    other = _figure_column(n.benchmark_level, n.stats.loc["benchmark"])
    rows = [
        [lab, pct(a), pct(b), pct(a - b) if i < 5 else ""] for i, (lab, a, b) in enumerate(zip(labels, index, other))
    ]
    return ["NTR, USD", "Index", "Benchmark", "Difference"], rows


def _calendar_rows(n: ThematicNumbers) -> tuple[list[list[str]], str]:
    """Calendar-year rows (newest last) and the footnote on partial years."""
    ntr = n.series["net_total_return"]
    years = calendar_year_returns(ntr)
    other = calendar_year_returns(n.benchmark_level) if n.benchmark_level is not None else None
    first, last = ntr.index[0], ntr.index[-1]
    notes = [f"* from the base date {iso_date(first)}"]
    marks = {int(years.index[0]): "*"}
    if not (last.month == 12 and last.day == 31):
        marks[int(years.index[-1])] = marks.get(int(years.index[-1]), "") + "\u2020"
        notes.append(f"\u2020 to {iso_date(last)} (year to date)")
    if len(years) > _MAX_YEARS:
        notes.append(f"last {_MAX_YEARS} years shown")
    rows = []
    for year in years.index[-_MAX_YEARS:]:
        a = float(years[year])
        row = [f"{year}{marks.get(int(year), '')}", pct(a)]
        if other is not None:
            b = float(other[year]) if year in other.index else float("nan")
            row += [pct(b), pct(a - b)]
        rows.append(row)
    if n.benchmark_level is not None and n.benchmark_level.index[0] > first:
        notes.append(f"benchmark from {iso_date(n.benchmark_level.index[0])}")
    return rows, "; ".join(notes) + "."


def _page_one(
    n: ThematicNumbers, result: BacktestResult, title: str, description: str, label: str, synthetic: bool
) -> Page:
    page = Page(synthetic=synthetic)
    ntr = n.series["net_total_return"]
    as_of = iso_date(ntr.index[-1])
    y = page.header(title, f"Index factsheet \u00b7 net total return in USD \u00b7 data as of {as_of}")
    y = page.paragraph(MARGIN, y, PAGE_WIDTH - 2 * MARGIN, description, size=8.5) + 0.1
    bench = n.benchmark_level is not None
    top = y
    y = page.heading(MARGIN, top, _HALF, "Key facts")
    y_left = page.table(
        MARGIN, y, [1.3, _HALF - 1.3], ["Item", "Value"], _key_facts(n, result, label if bench else None), aligns="ll"
    )
    y = page.heading(_RIGHT, top, _HALF, "Key figures")
    headers, rows = _key_figures(n, bench)
    widths = [1.4, 0.7, 0.7, _HALF - 2.8] if bench else [2.3, _HALF - 2.3]
    y_right = page.table(_RIGHT, y, widths, headers, rows)
    y = page.heading(
        MARGIN,
        max(y_left, y_right) + 0.1,
        PAGE_WIDTH - 2 * MARGIN,
        f"Index level (NTR, USD, base {float(ntr.iloc[0]):,.0f} on {iso_date(ntr.index[0])})",
    )
    series = {"Index (NTR)": ntr}
    if bench:
        series[label] = n.benchmark_level
    ax = page.axes(MARGIN + 0.45, y + 0.05, PAGE_WIDTH - 2 * MARGIN - 0.5, 2.65)
    level_chart(ax, series, {"Index (NTR)": NAVY, label: _BENCH_COLOUR})
    _date_axis(ax)
    top = y + 3.05
    y = page.heading(MARGIN, top, _HALF, "Calendar-year returns")
    cal, note = _calendar_rows(n)
    cal_headers = ["Year", "Index", "Benchmark", "Difference"] if bench else ["Year", "Index (NTR, USD)"]
    widths = [0.75] + [(_HALF - 0.75) / (len(cal_headers) - 1)] * (len(cal_headers) - 1)
    y = page.table(MARGIN, y, widths, cal_headers, cal, row_height=0.17)
    page.paragraph(MARGIN, y, _HALF, note, size=6.5, color="#555555")
    y = page.heading(_RIGHT, top, _HALF, f"Stage breakdown ({as_of})")
    stage = n.stage_alloc.iloc[-1] if len(n.stage_alloc) else pd.Series(dtype="float64")
    ax = page.axes(_RIGHT + 0.95, y + 0.05, _HALF - 1.0, 0.9)
    bar_breakdown(ax, stage, [charts.STAGE_COLOURS.get(str(s), NAVY) for s in stage.index[stage > 0]])
    page.paragraph(
        _RIGHT,
        y + 1.1,
        _HALF,
        "Drifted weights at the data date, each constituent split across mining, refining and manufacturing by "
        "its stage exposures at the last review.",
        size=6.5,
        color="#555555",
    )
    return page


def _date_axis(ax: Any) -> None:
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter

    locator = AutoDateLocator()
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))


def _top_rows(n: ThematicNumbers) -> list[list[str]]:
    """The top constituents at the last review (largest weight first, ties in ticker order): rank,
    name, ticker, country, main stage, stage split and weight; then the total of those shown."""
    w = n.last_weights[n.last_weights > 0]
    order = sorted(w.index, key=lambda t: (-float(w[t]), str(t)))[:_TOP]
    if n.last_report is not None:
        exposure = n.last_report.names.exposure.reindex(index=w.index, columns=list(STAGES)).fillna(0.0)
    else:
        exposure = n.meta.loc[w.index, list(STAGES)]
    rows = []
    for rank, t in enumerate(order, start=1):
        e = exposure.loc[t].astype("float64")
        main = STAGES[int(np.argmax(e.to_numpy()))]  # ties go to the earlier stage of the chain
        split = " / ".join(f"{float(e[s]) * 100:.0f}" for s in STAGES)
        rows.append(
            [
                str(rank),
                str(n.meta.loc[t, "name"]),
                str(t),
                str(n.meta.loc[t, "country"]),
                main,
                split,
                pct(float(w[t])),
            ]
        )
    rows.append(["", f"Top {len(order)} of {len(w)} constituents", "", "", "", "", pct(float(w[order].sum()))])
    return rows


def _characteristics(n: ThematicNumbers) -> list[list[str]]:
    """Concentration, China nexus and turnover at the last review (the thematic page's numbers)."""
    w = n.last_weights[n.last_weights > 0]
    later = n.turnover.iloc[1:]  # the first review is the initial purchase

    def last(s: pd.Series) -> float:
        return float(s.iloc[-1]) if len(s) else float("nan")

    return [
        ["Constituents", str(len(w))],
        ["Effective number of names (1/\u03a3w\u00b2)", f"{last(n.effn_targets):.1f}"],
        ["Largest weight", pct(float(w.max()) if len(w) else float("nan"))],
        [f"Top {_TOP} weight", pct(float(w.sort_values(ascending=False).iloc[:_TOP].sum()))],
        ["Weight in China-flagged names", pct(last(n.nexus_targets))],
        ["One-way turnover at the review", pct(last(n.turnover) if len(later) else float("nan"))],
        [
            "Mean turnover of the later reviews",
            pct(float(later.mean()) if len(later) else float("nan")),
        ],
    ]


def _ranked(weights: pd.Series) -> pd.Series:
    """Largest first, "Other" last."""
    keys = sorted(weights.index, key=lambda k: (k == "Other", -float(weights[k]), str(k)))
    return weights[keys]


def _rulebook_text(result: BacktestResult) -> str:
    m = result.methodology
    s = m.schedule
    months = ", ".join(calendar.month_abbr[k] for k in s.months)
    targets = ", ".join(f"{name} {pct(t, 1)}" for name, t in zip(m.stages.names, m.stages.targets))
    allies = ", ".join(_COUNTRY_SETS.get(k, k) for k in m.countries.eligible_sets)
    return (
        f"Reviews: {_FREQUENCY.get(len(s.months), 'periodic').lower()}, implemented at the close of the "
        f"{_ORDINAL.get(s.implementation_week, str(s.implementation_week))} {calendar.day_name[s.weekday]} of "
        f"{months} ({s.calendar} calendar). Eligible: listings domiciled in allied nations "
        f"({allies}); companies controlled from China, or whose China-linked holders "
        f"reach {pct(m.china.stake_threshold, 0)}, are excluded, smaller links are flagged. Weights: stage targets "
        f"{targets} (tolerance {pct(m.stages.tolerance, 1)}, by {m.stages.basis}); caps of {pct(m.caps.single, 1)} "
        f"per name, {pct(m.caps.issuer, 1)} per issuer and {pct(m.caps.country_default, 0)} per country."
    )


_DEFINITIONS = (
    "Returns are of the net total-return index in USD. Trailing 1, 3 and 5-year returns run to the data date and "
    "are annualised over the nominal years (the 1-year figure is the cumulative return); since the base date they "
    "are annualised over calendar days / 365.25. Volatility: standard deviation of daily returns \u00d7 \u221a252. "
    "Maximum drawdown: the largest fall from a running peak. A calendar year's return: its last level over the "
    "previous year's last level. A benchmark is aligned on the index's dates and rebased to the NTR level at its "
    "first date. Country: of classification (domicile; offshore shells take their HQ); currency: of the listing. "
    "Turnover: one-way, of each review; the mean leaves out the first review (the initial purchase). China-flagged: "
    "eligible names with a reported China link below the exclusion threshold."
)


def _page_two(
    n: ThematicNumbers, result: BacktestResult, title: str, currencies: list[list[str]], synthetic: bool
) -> Page:
    page = Page(synthetic=synthetic)
    as_of = iso_date(n.levels.index[-1])
    y = page.header(title, f"Index factsheet (continued) \u00b7 data as of {as_of}", height=0.55)
    full = PAGE_WIDTH - 2 * MARGIN
    when = iso_date(n.last) if n.last is not None else "none"
    y = page.heading(MARGIN, y, full, f"Top {_TOP} constituents at the last review ({when})")
    widths = [0.3, 2.55, 0.95, 0.65, 1.05, 1.05, full - 6.55]
    headers = ["#", "Name", "Ticker", "Country", "Main stage", "M / R / Mf (%)", "Weight"]
    y = page.table(MARGIN, y, widths, headers, _top_rows(n), aligns="rllllrr", bold_last=True, row_height=0.19)
    y = (
        page.paragraph(
            MARGIN,
            y,
            full,
            "Target weights at the review (ties in ticker order); stage split = exposure to mining / "
            "refining / manufacturing in per cent.",
            size=6.5,
            color="#555555",
        )
        + 0.05
    )
    top = y
    bottom = top
    for x, what, frame in ((MARGIN, "Country", n.country_alloc), (_RIGHT, "Currency", n.currency_alloc)):
        y = page.heading(x, top, _HALF, f"{what} breakdown ({as_of})")
        last = _ranked(frame.iloc[-1]) if len(frame) else pd.Series(dtype="float64")
        height = 0.2 * max(int((last > 0).sum()), 1)  # ThematicNumbers groups the rest as "Other" beyond eight
        bar_breakdown(page.axes(x + 0.55, y + 0.05, _HALF - 0.6, height), last)
        bottom = max(bottom, y + height + 0.3)
    top = bottom
    y = page.heading(MARGIN, top, _HALF, f"Portfolio characteristics ({when})")
    y_left = page.table(MARGIN, y, [_HALF - 0.9, 0.9], ["At the last review", "Value"], _characteristics(n))
    y_right = top
    if currencies:
        y = page.heading(_RIGHT, top, _HALF, "NTR in other currencies, since the base date")
        widths = [0.75, 1.55, 0.6, _HALF - 2.9]
        y_right = page.table(_RIGHT, y, widths, ["Currency", "Period", "Total", "Ann."], currencies, aligns="llrr")
    y = max(y_left, y_right) + 0.1
    y = page.heading(MARGIN, y, full, f"Rulebook in brief (version {result.methodology.version})")
    y = page.paragraph(MARGIN, y, full, _rulebook_text(result), size=7.5) + 0.1
    y = page.heading(MARGIN, y, full, "Definitions")
    page.paragraph(MARGIN, y, full, _DEFINITIONS, size=7.0)
    return page
