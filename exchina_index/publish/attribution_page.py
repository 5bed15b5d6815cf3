"""The attribution section of the thematic page and its file (``attribution.csv``).

Brinson–Fachler effects of the gross total-return index against a benchmark with holdings, by
stage, country and currency (:mod:`exchina_index.simulation.attribution`): the returns compared,
then per dimension a bar chart of the effects by group and a table of the whole period whose
totals row is the active return, then the active return of each calendar year, and a sentence on
the method and the linking. The CSV holds every group of every period. Same attribution in, same
bytes out.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from exchina_index._text import pct
from exchina_index.publish import charts
from exchina_index.publish.charts import _figure, _svg  # the section draws like the rest of the page
from exchina_index.publish.html import Cell, escape_text, slug
from exchina_index.publish.html import table as html_table
from exchina_index.simulation.attribution import EFFECTS, GROUP_COLUMNS, Attribution

__all__ = ["ATTRIBUTION_FILE", "RESIDUAL_GROUP", "TOTAL_GROUP", "attribution_csv", "attribution_section_html"]

#: The attribution file beside the thematic page.
ATTRIBUTION_FILE = "attribution.csv"
#: The CSV's group label of the part of the active return the effects do not explain.
RESIDUAL_GROUP = "(not attributed)"
#: The CSV's group label of the totals row (its ``total`` is the active return).
TOTAL_GROUP = "(total)"
_EFFECT_COLOURS = {"allocation": "#1f77b4", "selection": "#ff7f0e", "interaction": "#7f7f7f"}
_TITLES = {"stage": "Stage", "country": "Country of classification", "currency": "Trading currency"}


def _g(x: Any) -> str:
    """A CSV number: ``%.10g``, empty when missing."""
    x = float(x)
    return "" if math.isnan(x) else f"{x:.10g}"


def attribution_csv(attr: Attribution) -> str:
    """The attribution in long format, one row per dimension, period and group (text of ``attribution.csv``).

    Columns :data:`~exchina_index.simulation.attribution.GROUP_COLUMNS`; periods are
    ``"YYYY-MM-DD..YYYY-MM-DD"``, the whole period first and then each calendar year. After the
    groups of a dimension and period come a :data:`RESIDUAL_GROUP` row (``total`` = the residual)
    and a :data:`TOTAL_GROUP` row: the weights summed over the groups, the compounded index and
    benchmark returns, the effects summed and ``total`` = the active return (= the effects + the
    residual). Numbers as ``%.10g``; an empty cell is a missing value (a group one side never held).
    """
    buf = io.StringIO()
    out = csv.writer(buf, lineterminator="\n")
    out.writerow(GROUP_COLUMNS)
    numbers = GROUP_COLUMNS[3:]
    for dim in attr.dimensions:
        for period in attr.periods:
            groups = attr.table(dim, period)
            for group, row in groups.iterrows():
                out.writerow([dim, period, group, *(_g(row[c]) for c in numbers)])
            t = attr.total(dim, period)
            out.writerow([dim, period, RESIDUAL_GROUP, *[""] * (len(numbers) - 1), _g(t["residual"])])
            sums = [groups["weight_portfolio"].sum(), groups["weight_benchmark"].sum()]
            returns = [t["portfolio_return"], t["benchmark_return"]]
            effects = [t[x] for x in EFFECTS]
            out.writerow([dim, period, TOTAL_GROUP, *map(_g, [*sums, *returns, *effects, t["active_return"]])])
    return buf.getvalue()


def attribution_section_html(attr: Attribution, benchmark_name: str, *, csv_file: str | None = ATTRIBUTION_FILE) -> str:
    """The thematic page's attribution section (``<h2 id="attribution">`` and what follows).

    Parameters
    ----------
    attr
        The attribution (:func:`~exchina_index.simulation.attribution.attribution_from_backtest`).
    benchmark_name
        The benchmark's label on the page.
    csv_file
        The file with every period and group, named in the method note (``None``: not named).
    """
    total = attr.total(attr.dimensions[0])
    summary = _table(
        ["Series", "Total return"],
        [
            ["Index, gross total return (TR)", Cell(pct(total["portfolio_return"]), id="attr-index-return")],
            [f"Benchmark: {benchmark_name}", Cell(pct(total["benchmark_return"]), id="attr-benchmark-return")],
            ["Active return (TR \u2212 benchmark)", Cell(pct(total["active_return"]), id="attr-active-return")],
        ],
        table_id="attribution-summary",
    )
    with charts.chart_style():
        parts = [_dimension_html(attr, dim) for dim in attr.dimensions]
    return (
        f'<h2 id="attribution">Attribution against {escape_text(benchmark_name)} '
        f"({escape_text(attr.periods[0].replace('..', ' to '))})</h2>\n"
        + summary
        + "\n"
        + _method_note(benchmark_name, csv_file)
        + "\n"
        + "\n".join(parts)
        + "\n<h3>By calendar year</h3>\n"
        + _years_table(attr)
    )


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]], *, table_id: str) -> str:
    """A table of the thematic page: cells are text, one row per line."""
    return html_table(headers, rows, markup=False, table_id=table_id, cls="", line_per_row=True)


def _method_note(benchmark_name: str, csv_file: str | None) -> str:
    where = f" Every calendar year by group: {csv_file}." if csv_file else ""
    return (
        '<p class="note" id="attribution-method">Brinson\u2013Fachler attribution of the gross total-return index '
        f"(dividends reinvested gross of withholding) against the total return of {escape_text(benchmark_name)}, "
        "both in USD, from each side's weights at the previous close: allocation (w<sub>p,g</sub> \u2212 "
        "w<sub>b,g</sub>)(R<sub>b,g</sub> \u2212 R<sub>b</sub>), selection w<sub>b,g</sub>(R<sub>p,g</sub> \u2212 "
        "R<sub>b,g</sub>) and interaction (w<sub>p,g</sub> \u2212 w<sub>b,g</sub>)(R<sub>p,g</sub> \u2212 "
        "R<sub>b,g</sub>), computed every day and linked over time with Cari\u00f1o's logarithmic coefficients, "
        "so that over the period the effects and the part not attributed (corporate actions, rounding) add up "
        "to the compounded active return. Stages split each name by its exposures at the review in force (MP "
        "Materials 40/35/25), countries are those of classification; weights are averages over the days, a "
        f"group's return compounds its daily returns.{where}</p>"
    )


def _dimension_html(attr: Attribution, dim: str) -> str:
    """A dimension's chart and table for the whole period, with the residual and totals rows."""
    groups = attr.table(dim)
    t = attr.total(dim)
    rows: list[list[Any]] = [
        [
            Cell(str(g), cls="text"),
            pct(r["weight_portfolio"], 1),
            pct(r["weight_benchmark"], 1),
            pct(r["return_portfolio"], 1),
            pct(r["return_benchmark"], 1),
            *[pct(r[x]) for x in EFFECTS],
            Cell(pct(r["total"]), id=f"attr-{dim}-{slug(str(g))}"),
        ]
        for g, r in groups.iterrows()
    ]
    rows.append(["Not attributed (residual)", *[""] * 7, Cell(pct(t["residual"]), id=f"attr-{dim}-residual")])
    rows.append(
        [
            "Total",
            pct(groups["weight_portfolio"].sum(), 1),
            pct(groups["weight_benchmark"].sum(), 1),
            pct(t["portfolio_return"], 1),
            pct(t["benchmark_return"], 1),
            *[Cell(pct(t[x]), id=f"attr-{dim}-{x}") for x in EFFECTS],
            Cell(pct(t["active_return"]), id=f"attr-{dim}-total"),
        ]
    )
    head = [_TITLES.get(dim, dim), "Weight: index", "Weight: benchmark", "Return: index", "Return: benchmark"]
    return (
        f'<h3 id="attribution-{dim}">By {escape_text(_TITLES.get(dim, dim).lower())}</h3>\n'
        + _effects_chart(groups, dim)
        + "\n"
        + _table([*head, *(x.capitalize() for x in EFFECTS), "Total"], rows, table_id=f"attribution-{dim}-table")
    )


def _years_table(attr: Attribution) -> str:
    """Each period's compounded returns, active return and residual (the first dimension's)."""
    totals = attr.totals[attr.totals["dimension"] == attr.dimensions[0]]
    rows = [
        [
            "Whole period" if i == 0 else str(pd.Timestamp(t["start"]).year),
            str(t["period"]).replace("..", " to "),
            pct(t["portfolio_return"]),
            pct(t["benchmark_return"]),
            Cell(pct(t["active_return"]), id=f"attr-active-{t['period'][:4] if i else 'all'}"),
            pct(t["residual"]),
        ]
        for i, (_, t) in enumerate(totals.iterrows())
    ]
    return _table(
        ["Period", "Dates", "Index (TR)", "Benchmark", "Active return", "Not attributed"],
        rows,
        table_id="attribution-years",
    )


def _effects_chart(groups: pd.DataFrame, dim: str) -> str:
    """Allocation, selection and interaction of each group over the whole period, as bars (in points)."""
    fig, ax = _figure(height=2.8, legend_outside=True)
    pos = np.arange(len(groups))
    for k, effect in enumerate(EFFECTS):
        values = groups[effect].to_numpy(dtype=float) * 100
        ax.bar(pos + (k - 1) * 0.27, values, width=0.27, label=effect, color=_EFFECT_COLOURS[effect])
    ax.axhline(0.0, color="black", linewidth=0.6)
    ax.set_xticks(pos, [str(g) for g in groups.index])
    ax.set_ylabel("percentage points")
    ax.set_title(f"Effects by {_TITLES.get(dim, dim).lower()}, whole period (linked)", loc="left", fontsize=10)
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return _svg(fig, f"attribution-{dim}")
