"""The page of a rule-change impact (``impact.html``): what a provider publishes with a consultation.

One self-contained HTML page (inline CSS and SVG, no script, nothing loaded from elsewhere) of a
:class:`~exchina_index.research.impact.RuleChangeImpact`: the rule changes, the composition in force
at the as-of date under each rulebook (adds, deletes, weight changes, exposures by stage, country and
purity, capacity and thematic figures), and the history (net total-return levels of both backtests
and their difference, the backtests' figures side by side, turnover per review). The synthetic-data
banner heads the page when the market data is synthetic. Same impact in, byte-identical page out.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from exchina_index._text import pct, usd
from exchina_index.publish import charts
from exchina_index.publish.charts import _figure, _svg, _x  # the page draws like the thematic page
from exchina_index.publish.html import (
    THEMATIC_CSS,
    Cell,
    data_notes_html,
    escape_text,
    iso_date,
    synthetic_banner_html,
)
from exchina_index.publish.html import table as html_table
from exchina_index.research.impact import TOLERANCE, RuleChangeImpact

__all__ = ["IMPACT_PAGE", "render_impact"]

#: The page's file name.
IMPACT_PAGE = "impact.html"
_OLD, _NEW = "#7f7f7f", "#d62728"
_PCT_FIGURES = frozenset(
    {
        "weighted_purity",
        "low_purity_weight",
        "stage_deviation",
        "stage_band",
        "single_cap",
        "one_way_turnover",
        "cagr",
        "volatility",
        "max_drawdown",
        "nav_cagr",
        "tracking_difference",
        "benchmark_cagr",
        "active_return",
        "turnover",
        "costs",
        "stage_deviation_max",
    }
)
_USD_FIGURES = frozenset({"capacity_usd", "capacity_last_usd", "rulebook_capacity_usd"})


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]], *, table_id: str) -> str:
    return html_table(headers, rows, markup=False, table_id=table_id, cls="", line_per_row=True)


def _value(figure: str, x: Any, *, change: bool = False) -> str:
    """A summary value as text: percentages, dollars, counts, dates and words."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return ""
    if isinstance(x, str):
        return x
    if figure in _PCT_FIGURES:
        text = pct(x).replace("%", " pp") if change else pct(x)
    elif figure in _USD_FIGURES:
        text = usd(x) if not change or math.isfinite(float(x)) else "n/a"
    elif isinstance(x, (int, np.integer)):
        text = f"{int(x):,}"
    else:
        text = f"{float(x):,.4g}"
    return _signed(text, float(x)) if change else text


def _signed(text: str, x: float) -> str:
    """``text`` with a ``+`` for a positive change that does not round to zero."""
    return f"+{text}" if x > 0 and text.strip("+-0.,%$ p") else text


def _change_pct(x: float) -> str:
    """A change of a fraction in percentage points."""
    return _signed(pct(x).replace("%", " pp"), float(x))


def _rulebook_line(label: str, rb: Any) -> str:
    return f"{label}: {rb['name']} v{rb['version']} (hash {str(rb['hash'])[:12]}, {rb['source']})"


def render_impact(impact: RuleChangeImpact, title: str | None = None) -> str:
    """The impact page as one HTML string (deterministic for a given impact)."""
    old, new = impact.old_rulebook, impact.new_rulebook
    page_title = title or f"Rule-change impact: v{old['version']} \u2192 v{new['version']}"
    with charts.chart_style():
        parts = [
            _section_rules(impact),
            _section_summary(impact),
            _section_constituents(impact),
            _section_exposures(impact),
            _section_history(impact),
            _section_method(impact),
        ]
    meta = (
        f"As of {iso_date(impact.as_of)}: the review implemented {iso_date(impact.old_review)} under OLD, "
        f"{iso_date(impact.new_review)} under NEW \u00b7 data source: {impact.data_source}"
        f"{' (synthetic)' if impact.synthetic else ''} \u00b7 fund AUM {usd(impact.aum)}"
    )
    head = (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape_text(page_title)}</title>\n"
        f"<style>\n{THEMATIC_CSS}\n</style>\n</head>\n<body>\n"
        '<div class="container">\n'
    )
    top = (
        (synthetic_banner_html() + "\n" if impact.synthetic else "")
        + f"<h1>{escape_text(page_title)}</h1>\n"
        + f'<p class="meta" id="meta">{escape_text(meta)}</p>\n'
        + f'<p class="meta" id="old-rulebook">{escape_text(_rulebook_line("OLD", old))}</p>\n'
        + f'<p class="meta" id="new-rulebook">{escape_text(_rulebook_line("NEW", new))}</p>\n'
        + data_notes_html(impact.notes)
    )
    return head + top + "\n".join(parts) + "\n</div>\n</body>\n</html>\n"


def _section_rules(impact: RuleChangeImpact) -> str:
    rows = [[r.key, r.old, r.new] for r in impact.rules.itertuples(index=False)]
    body = (
        _table(["Rulebook key", "OLD", "NEW"], rows, table_id="rule-changes")
        if rows
        else '<p class="note" id="rule-changes">The two rulebooks hold the same values.</p>'
    )
    return '<h2 id="rules">Rule changes</h2>\n' + body


def _summary_rows(summary: pd.DataFrame, section: str) -> list[list[Any]]:
    rows = []
    for r in summary[summary["section"] == section].itertuples(index=False):
        if r.figure == "relaxations":  # long lines: a table of their own
            continue
        rows.append(
            [
                str(r.figure).replace("_", " "),
                _value(str(r.figure), r.old),
                _value(str(r.figure), r.new),
                Cell(_value(str(r.figure), r.change, change=True), id=f"{section}-{r.figure}"),
            ]
        )
    return rows


def _relaxations(summary: pd.DataFrame) -> list[list[Any]]:
    row = summary[(summary["section"] == "composition") & (summary["figure"] == "relaxations")]
    if row.empty:
        return []
    return [[side, Cell(str(row.iloc[0][side.lower()]) or "none", cls="text")] for side in ("OLD", "NEW")]


def _section_summary(impact: RuleChangeImpact) -> str:
    switch = [
        [str(r.figure).replace("_", " "), Cell(_value(str(r.figure), r.change), id=f"switch-{r.figure}")]
        for r in impact.summary[impact.summary["section"] == "switch"].itertuples(index=False)
    ]
    return (
        f'<h2 id="summary">The index in force on {iso_date(impact.as_of)}</h2>\n'
        + _table(
            ["Figure", "OLD", "NEW", "Change"], _summary_rows(impact.summary, "composition"), table_id="composition"
        )
        + "\n"
        + _table(["Relaxations taken at this review", ""], _relaxations(impact.summary), table_id="relaxations")
        + "\n"
        + _table(["The switch from OLD to NEW", "Value"], switch, table_id="switch")
        + '\n<p class="note">One-way turnover of the switch = \u00bd \u03a3 |w<sub>NEW</sub> \u2212 w<sub>OLD</sub>|. '
        "Capacity: the largest AUM at which every name held trades within the rulebook's days to trade at its "
        "participation of ADTV; rulebook capacity: the largest AUM at which the rulebook's constraints hold "
        "without relaxation (0 when the review needed the relaxation ladder at any AUM).</p>"
    )


def _weight_chart(constituents: pd.DataFrame) -> str:
    moved = constituents[np.abs(constituents["change"].to_numpy()) > TOLERANCE]
    moved = moved.iloc[np.argsort(moved["change"].to_numpy(), kind="stable")]
    fig, ax = _figure(height=max(2.0, 0.6 + 0.22 * len(moved)), bottom=0.45)
    fig.subplots_adjust(left=1.6 / 9.0)  # room for the ticker labels
    pos = np.arange(len(moved))
    colours = [_NEW if c > 0 else "#1f77b4" for c in moved["change"]]
    ax.barh(pos, moved["change"].to_numpy() * 100, color=colours)
    ax.set_yticks(pos, [f"{t} ({s})" for t, s in zip(moved["ticker"], moved["status"])], fontsize=7)
    ax.axvline(0.0, color="black", linewidth=0.6)
    ax.set_xlabel("weight change, NEW \u2212 OLD (percentage points)")
    ax.set_title("Weight changes of the switch", loc="left", fontsize=10)
    return _svg(fig, "weight-changes")


def _section_constituents(impact: RuleChangeImpact) -> str:
    c = impact.constituents
    rows = [
        [
            r.ticker,
            Cell(str(r.name), cls="text"),
            r.stage,
            r.country,
            pct(r.purity, 0),
            pct(r.old_weight),
            pct(r.new_weight),
            Cell(_change_pct(r.change), id=f"change-{r.ticker}"),
            Cell(r.status, id=f"status-{r.ticker}"),
        ]
        for r in c.itertuples(index=False)
    ]
    chart = _weight_chart(c) if (np.abs(c["change"].to_numpy()) > TOLERANCE).any() else ""
    return (
        '<h2 id="constituents">Adds, deletes and weight changes</h2>\n'
        + chart
        + "\n"
        + _table(
            ["Ticker", "Name", "Stage", "Country", "Purity", "OLD", "NEW", "Change", "Status"],
            rows,
            table_id="constituent-table",
        )
    )


def _exposure_chart(exposures: pd.DataFrame) -> str:
    dims = list(dict.fromkeys(exposures["dimension"]))
    fig, axes = _figure(height=2.3 * len(dims), nrows=len(dims), legend_outside=True)
    for ax, dim in zip(np.atleast_1d(axes), dims):
        part = exposures[exposures["dimension"] == dim]
        pos = np.arange(len(part))
        ax.bar(pos - 0.2, part["old"].to_numpy() * 100, width=0.4, color=_OLD, label="OLD")
        ax.bar(pos + 0.2, part["new"].to_numpy() * 100, width=0.4, color=_NEW, label="NEW")
        ax.set_xticks(pos, [str(g) for g in part["group"]], fontsize=7)
        ax.set_ylabel("%")
        ax.set_title(f"By {dim}", loc="left", fontsize=9)
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return _svg(fig, "exposures")


def _section_exposures(impact: RuleChangeImpact) -> str:
    e = impact.exposures
    rows = [[r.dimension, r.group, pct(r.old), pct(r.new), _change_pct(r.change)] for r in e.itertuples(index=False)]
    return (
        '<h2 id="exposures">Stage, country and purity exposures</h2>\n'
        + _exposure_chart(e)
        + "\n"
        + _table(["Breakdown", "Group", "OLD", "NEW", "Change"], rows, table_id="exposure-table")
    )


def _levels_chart(levels: pd.DataFrame) -> str:
    fig, (ax, ax2) = _figure(height=5.0, nrows=2, sharex=True, gridspec_kw={"height_ratios": [3, 1.3]})
    x = _x(pd.DatetimeIndex(levels.index))
    ax.plot(x, levels["old"].to_numpy(), color=_OLD, linewidth=1.0, label="OLD rulebook")
    ax.plot(x, levels["new"].to_numpy(), color=_NEW, linewidth=1.2, label="NEW rulebook")
    ax.set_ylabel("NTR level (start 1000)")
    ax.set_title("Net total-return index under each rulebook", loc="left", fontsize=10)
    ax.legend(loc="upper left")
    ax2.plot(x, levels["difference"].to_numpy(), color="#1f77b4", linewidth=1.0)
    ax2.axhline(0.0, color="black", linewidth=0.6)
    ax2.set_ylabel("NEW \u2212 OLD")
    ax2.set_title("Level difference", loc="left", fontsize=9)
    return _svg(fig, "levels")


def _section_history(impact: RuleChangeImpact) -> str:
    rv = impact.reviews
    rows = [
        [
            iso_date(t),
            pct(r["old_turnover"]),
            pct(r["new_turnover"]),
            "" if np.isnan(r["old_names"]) else f"{int(r['old_names'])}",
            "" if np.isnan(r["new_names"]) else f"{int(r['new_names'])}",
        ]
        for t, r in rv.iterrows()
    ]
    last = impact.levels["difference"].dropna()
    closing = f"{last.iloc[-1]:,.2f} on {iso_date(last.index[-1])}" if len(last) else "n/a"
    return (
        '<h2 id="history">Over the history</h2>\n'
        + _levels_chart(impact.levels)
        + f'\n<p class="note">Level difference at the end of the data: <b id="last-difference">'
        f"{escape_text(closing)}</b> index points.</p>\n"
        + _table(["Figure", "OLD", "NEW", "Change"], _summary_rows(impact.summary, "history"), table_id="history")
        + "\n"
        + _table(
            ["Review implemented", "Turnover OLD", "Turnover NEW", "Names OLD", "Names NEW"],
            rows,
            table_id="review-table",
        )
    )


def _section_method(impact: RuleChangeImpact) -> str:
    return (
        '<h2 id="method">How the figures are computed</h2>\n<p class="note">'
        "Both rulebooks are backtested on the same universe, market data and fund AUM from the same start "
        "to the end of the data; each review sees only data up to its cut-off. The composition compared is the "
        "review in force on the as-of date under each rulebook (the last one implemented on or before it), "
        f"with its target weights. A name is held when its weight exceeds {TOLERANCE:g}, and a change of at "
        f"most {TOLERANCE:g} is 'unchanged'. The stage, country and purity of a name are those at the NEW "
        "rulebook's review cut-off. Stage shares are on each rulebook's stage basis (the figure its stage "
        "rule bounds); country and purity breakdowns are weights; the purity buckets are cut at the "
        "rulebooks' low-purity thresholds, 50 % and 75 %. History figures: CAGR, volatility and maximum "
        "drawdown of the NTR index; turnover and costs a year are sums over the reviews per calendar year.</p>"
    )
