"""The thematic page of a backtest (``thematic.html``): one self-contained HTML page.

Inline CSS and inline SVG charts, no script, font or image from anywhere: summary statistics,
PR/TR/NTR/NAV levels with the tracking difference, stage, country and currency allocation over
time, top holdings at the last review, turnover and costs per review, liquidity profile,
concentration and China nexus. Same result in, byte-identical page out.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from exchina_index._text import pct
from exchina_index.publish import charts
from exchina_index.publish.attribution_page import attribution_section_html
from exchina_index.publish.backtest_series import DEFAULT_INDEX_NAME
from exchina_index.publish.charts import LEVEL_LABELS, STAGE_COLOURS
from exchina_index.publish.html import (
    TEARSHEET_FILE,
    THEMATIC_CSS,
    Cell,
    data_notes_html,
    escape_text,
    iso_date,
    slug,
    synthetic_banner_html,
)
from exchina_index.publish.html import table as html_table
from exchina_index.publish.thematic_numbers import ThematicNumbers, flags_of
from exchina_index.rules.methodology import STAGES
from exchina_index.simulation.attribution import Attribution

__all__ = ["render_thematic"]

_TOP_HOLDINGS = 20


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]], *, table_id: str) -> str:
    """A table of this page: cells are text, one row per line."""
    return html_table(headers, rows, markup=False, table_id=table_id, cls="", line_per_row=True)


def _bp(x: float) -> str:
    return "n/a" if x is None or not np.isfinite(x) else f"{x * 1e4:.1f} bp"


def _num(x: float, digits: int = 2) -> str:
    if x is None or (isinstance(x, float) and np.isnan(x)):
        return "n/a"
    if np.isinf(x):
        return "inf"
    return f"{x:,.{digits}f}"


def render_thematic(
    result: Any,
    title: str,
    *,
    benchmark: pd.Series | None = None,
    benchmark_name: str | None = None,
    attribution: Attribution | None = None,
) -> str:
    """The thematic page as one HTML string (deterministic for a given result and benchmark).

    ``attribution`` (:func:`~exchina_index.simulation.attribution.attribution_from_backtest`, for a
    benchmark with holdings) appends the attribution section
    (:func:`~exchina_index.publish.attribution_page.attribution_section_html`).
    """
    n = ThematicNumbers(result, benchmark)
    synthetic = bool(getattr(result, "synthetic", False))
    m = getattr(result, "methodology", None)
    source = str(getattr(result, "data_source", "unknown"))
    with charts.chart_style():
        parts = [
            _section_summary(n, result, benchmark_name),
            _section_levels(n, result),
            _section_stages(n, m),
            _section_countries(n),
            _section_holdings(n),
            _section_turnover(n),
            _section_corporate_actions(result),
            _section_liquidity(n, m),
            _section_concentration(n),
            _section_china(n),
        ]
        if attribution is not None:
            parts.append(attribution_section_html(attribution, benchmark_name or "Benchmark"))
    version = getattr(m, "version", None)
    meta_line = (
        f"Data source: {source}{' (synthetic)' if synthetic else ''} \u00b7 rulebook "
        f"{getattr(m, 'name', DEFAULT_INDEX_NAME)}{f' v{version}' if version else ''} \u00b7 "
        f"period {iso_date(n.levels.index[0])} to {iso_date(n.levels.index[-1])} \u00b7 fund AUM "
        f"${float(getattr(result, 'aum', float('nan'))):,.0f}"
    )
    head = (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape_text(title)} \u2014 thematic page</title>\n"
        f"<style>\n{THEMATIC_CSS}\n</style>\n</head>\n<body>\n"
        '<div class="container">\n'
    )
    top = (
        (synthetic_banner_html() + "\n" if synthetic else "")
        + f'<nav id="page-links"><a href="{TEARSHEET_FILE}">&larr; Performance tearsheet '
        "(quantstats, net total return)</a></nav>\n"
        + f"<h1>{escape_text(title)}</h1>\n"
        + f'<p class="meta" id="data-source">{escape_text(meta_line)}</p>\n'
        + data_notes_html(result.universe.notes + result.data_notes)
    )
    return head + top + "\n".join(parts) + "\n</div>\n</body>\n</html>\n"


def _section_summary(n: ThematicNumbers, result: Any, benchmark_name: str | None) -> str:
    return (
        '<h2 id="summary">Summary</h2>\n'
        + _performance_table(n, benchmark_name)
        + "\n"
        + _table(["Item", "Value"], _summary_facts(n, result), table_id="summary-facts")
        + '\n<p class="note">CAGR = (last level / first level)^(1/years) \u2212 1 with years = calendar days / 365.25; '
        "volatility = standard deviation of daily returns \u00d7 \u221a252. PR, TR and NTR are index levels, gross "
        "of trading costs and fees; the NAV is a fund tracking the NTR index after trading costs and the expense ratio."
        + (
            " The benchmark is aligned on the index's dates and shown from its first common date, rebased to the "
            "NTR level."
            if n.benchmark_level is not None
            else ""
        )
        + "</p>"
    )


def _performance_table(n: ThematicNumbers, benchmark_name: str | None) -> str:
    st = n.stats
    rows = []
    for key in st.index:
        s = st.loc[key]
        label = LEVEL_LABELS.get(key, key) if key != "benchmark" else f"Benchmark: {benchmark_name or 'Benchmark'}"
        rows.append(
            [
                label,
                f"{iso_date(s['start'])} to {iso_date(s['end'])}",
                _num(s["start_level"]),
                _num(s["end_level"]),
                Cell(pct(s["total_return"]), id=f"total-{key}"),
                Cell(pct(s["cagr"]), id=f"cagr-{key}"),
                Cell(pct(s["volatility"]), id=f"vol-{key}"),
                Cell(pct(s["max_drawdown"]), id=f"mdd-{key}"),
            ]
        )
    return _table(
        ["Series", "Period", "Start", "End", "Total return", "CAGR", "Volatility (ann.)", "Max drawdown"],
        rows,
        table_id="summary-performance",
    )


def _summary_facts(n: ThematicNumbers, result: Any) -> list[list[Any]]:
    t = n.turnover
    later = t.iloc[1:] if len(t) > 1 else t
    delistings = getattr(result, "delistings", ()) or ()
    facts: list[list[Any]] = [
        [
            "Period",
            Cell(
                f"{iso_date(n.levels.index[0])} to {iso_date(n.levels.index[-1])} ({n.years:.2f} years, "
                f"{len(n.levels)} closes)",
                id="period",
            ),
        ],
        ["Reviews", Cell(str(len(n.review_dates)), id="n-reviews")],
        [
            "Average one-way turnover per review (after the initial purchase)",
            Cell(pct(float(later.mean()) if len(later) else float("nan")), id="avg-turnover"),
        ],
        [
            "Annual one-way turnover (after the initial purchase)",
            Cell(
                pct(float(later.sum()) / n.years if len(t) > 1 and n.years > 0 else float("nan")), id="annual-turnover"
            ),
        ],
        ["Total trading costs (sum over reviews, fraction of NAV)", Cell(_bp(float(n.costs.sum())), id="total-costs")],
        [
            "Tracking difference (annualised NAV return \u2212 NTR return)",
            Cell(pct(float(getattr(result, "tracking_difference", float("nan")))), id="tracking-difference"),
        ],
        [
            "Max drawdown of the net total-return index",
            Cell(pct(n.stats.loc["net_total_return", "max_drawdown"]), id="mdd-ntr"),
        ],
        ["Deletions between reviews", str(len(delistings))],
        ["Replaced from the reserve list", str(len(getattr(result, "replacements", ()) or ()))],
        [
            "Data source",
            Cell(
                str(getattr(result, "data_source", "unknown"))
                + (" \u2014 SYNTHETIC" if getattr(result, "synthetic", False) else ""),
                id="summary-source",
            ),
        ],
    ]
    return facts


def _section_levels(n: ThematicNumbers, result: Any) -> str:
    td = float(getattr(result, "tracking_difference", float("nan")))
    return (
        '<h2 id="levels">PR, TR, NTR and NAV</h2>\n'
        + charts.levels_chart(n)
        + f'\n<p class="note">Annualised tracking difference of the fund to the NTR index: '
        f'<b id="td-figure">{escape_text(pct(td))}</b> per year (weekly points in the chart).</p>'
    )


def _section_stages(n: ThematicNumbers, m: Any) -> str:
    sa = n.stage_alloc
    chart = charts.stacked_chart(
        sa,
        "Stage allocation over time (\u03a3 drifted weight \u00d7 stage exposure)",
        "stages",
        [STAGE_COLOURS[s] for s in sa.columns],
    )
    targets = dict(getattr(getattr(m, "stages", None), "target_map", {}) or {})
    after = n.last_report.stages["after"] if n.last_report is not None and "after" in n.last_report.stages else None
    rows = [
        [
            s,
            pct(targets.get(s, float("nan")), 1),
            pct(float(after[s]) if after is not None and s in after.index else float("nan"), 1),
            Cell(pct(float(sa[s].iloc[-1]) if len(sa) else float("nan"), 1), id=f"stage-now-{s}"),
        ]
        for s in sa.columns
    ]
    drifted = f"Drifted, {iso_date(sa.index[-1]) if len(sa) else 'n/a'}"
    return (
        '<h2 id="stages">Stage allocation</h2>\n'
        + chart
        + "\n"
        + _table(["Stage", "Target", "At the last review", drifted], rows, table_id="stage-table")
    )


def _section_countries(n: ThematicNumbers) -> str:
    def last_table(frame: pd.DataFrame, what: str) -> str:
        if not len(frame):
            return ""
        last = frame.iloc[-1]
        order = sorted(frame.columns, key=lambda c: (-float(last[c]), str(c)))
        return _table(
            [what, f"Weight {iso_date(frame.index[-1])}"],
            [[str(c), pct(float(last[c]))] for c in order if last[c] > 0],
            table_id=f"{slug(what)}-table",
        )

    return (
        '<h2 id="countries">Country and currency allocation</h2>\n'
        + charts.stacked_chart(
            n.country_alloc, "Country of classification (domicile; offshore shells take their HQ)", "countries"
        )
        + last_table(n.country_alloc, "Country")
        + charts.stacked_chart(n.currency_alloc, "Trading currency of the listing", "currencies")
        + last_table(n.currency_alloc, "Currency")
    )


def _section_holdings(n: ThematicNumbers) -> str:
    if n.last is None and not len(n.last_weights):
        return '<h2 id="holdings">Top holdings</h2>\n<p>No review.</p>'
    w = n.last_weights[n.last_weights > 0]
    order = sorted(w.index, key=lambda t: (-float(w[t]), str(t)))
    flags = flags_of(n.last_report, w.index) if n.last_report is not None else pd.Series("", index=w.index)
    rows = []
    for rank, t in enumerate(order[:_TOP_HOLDINGS], start=1):
        mt = n.meta.loc[t]
        split = " / ".join(f"{mt[s] * 100:.0f}" for s in STAGES)
        rows.append(
            [
                str(rank),
                Cell(str(t), cls="text"),
                Cell(mt["name"], cls="text"),
                Cell(mt["issuer"], cls="text"),
                mt["country"],
                split,
                Cell(pct(float(w[t])), id=f"weight-{slug(t)}"),
                Cell(flags[t].replace(";", "; ") or "\u2014", cls="text"),
            ]
        )
    when = iso_date(n.last) if n.last is not None else "last"
    shown = f"top {_TOP_HOLDINGS} of {len(order)}" if len(order) > _TOP_HOLDINGS else f"all {len(order)}"
    return f'<h2 id="holdings">Top holdings at the last review ({when}; {shown} names held)</h2>\n' + _table(
        [
            "#",
            "Ticker",
            "Name",
            "Issuer",
            "Country",
            "Mining / refining / manufacturing (%)",
            "Weight",
            "China-link flags",
        ],
        rows,
        table_id="holdings-table",
    )


def _section_turnover(n: ThematicNumbers) -> str:
    rows = []
    costs = n.costs.reindex(n.turnover.index).fillna(0.0)
    for t in n.turnover.index:
        rows.append([iso_date(t), str(int(n.names_held.get(t, 0))), pct(float(n.turnover[t])), _bp(float(costs[t]))])
    total = ["Total", "", pct(float(n.turnover.sum())), Cell(_bp(float(costs.sum())), id="turnover-total-costs")]
    return (
        '<h2 id="turnover">Turnover and costs per review</h2>\n'
        + charts.turnover_chart(n)
        + "\n"
        + _table(
            ["Implementation date", "Names held", "One-way turnover", "Trading cost (of NAV)"],
            [*rows, total],
            table_id="turnover-table",
        )
    )


def _section_corporate_actions(result: Any) -> str:
    """The corporate actions in the period and their effect (the daily calculation's notices)."""
    notices = getattr(result, "corporate_actions", None)
    head = '<h2 id="corporate-actions">Corporate actions applied</h2>\n'
    if notices is None or notices.empty:
        return head + "<p>No corporate action of the universe's event file falls in the period.</p>"
    rows = [
        [
            iso_date(r.date),
            r.kind,
            r.ticker,
            r.terms,
            "yes" if r.held else "no (no effect)",
            f"{r.divisor_before:,.2f} \u2192 {r.divisor_after:,.2f}",
            _num(float(r.level)),
        ]
        for r in notices.itertuples(index=False)
    ]
    return (
        head + '<p class="note">Each event adjusts the index shares and the divisor at the open of its ex-date, '
        "so that it does not move the level (the level column: the close before, kept at the open).</p>\n"
        + _table(
            ["Ex-date", "Kind", "Listing", "Terms", "On a constituent", "Divisor", "Level kept"],
            rows,
            table_id="corporate-actions-table",
        )
    )


def _section_liquidity(n: ThematicNumbers, m: Any) -> str:
    head = '<h2 id="liquidity">Liquidity profile</h2>\n'
    rep = n.last_report
    dtt = getattr(rep, "days_to_trade", None)
    if rep is None or dtt is None or not len(dtt.columns):
        return head + "<p>No liquidity figures in the last review.</p>"
    dtt = dtt.astype("float64").sort_index()
    w = rep.names.weight.reindex(dtt.index).fillna(0.0).astype("float64")
    limit = getattr(getattr(m, "liquidity", None), "days_to_trade", None)
    participation = getattr(getattr(m, "liquidity", None), "participation", None)
    stats = {}
    for col in dtt.columns:
        d = dtt[col]
        ok = d.notna()
        wsum = float(w[ok].sum())
        stats[col] = {
            "max": float(d[ok].max()) if ok.any() else float("nan"),
            "wavg": float((w[ok] * d[ok]).sum() / wsum) if wsum > 0 else float("nan"),
            "over": int((d > limit).sum()) if limit is not None else None,
        }
    st = pd.DataFrame(stats).T
    rows = [
        [
            f"AUM {c}",
            Cell(_num(st.loc[c, "max"]), id=f"liq-max-{slug(c)}"),
            Cell(_num(st.loc[c, "wavg"]), id=f"liq-wavg-{slug(c)}"),
            "n/a" if limit is None else str(int(st.loc[c, "over"])),
        ]
        for c in st.index
    ]
    summary = _table(
        [
            "Fund size",
            "Max days (least liquid holding)",
            "Weighted-average days",
            f"Holdings over {_num(limit, 1) if limit is not None else '?'} days",
        ],
        rows,
        table_id="liquidity-table",
    )
    largest = dtt.columns[-1]
    days = dtt[largest]
    worst = sorted(dtt.index, key=lambda t: (-(days[t] if np.isfinite(days[t]) else np.inf), str(t)))[:10]
    per_name = _table(
        ["Ticker", "Weight", *[f"Days at {c}" for c in dtt.columns]],
        [[str(t), pct(float(w[t])), *[_num(float(dtt.loc[t, c])) for c in dtt.columns]] for t in worst],
        table_id="liquidity-names",
    )
    share = pct(participation, 0) if participation else "participation"
    note = (
        f'<p class="note">Days to liquidate a holding = weight \u00d7 AUM / ({share} of its average daily traded '
        f"value), at the last review ({iso_date(n.last)}). Least liquid holdings at AUM {largest}:</p>"
    )
    return head + charts.liquidity_chart(st) + "\n" + summary + "\n" + note + "\n" + per_name


def _section_concentration(n: ThematicNumbers) -> str:
    rows = [
        [
            iso_date(t),
            str(int(n.names_held.get(t, 0))),
            Cell(
                _num(float(n.effn_targets[t])),
                id=f"effn-{iso_date(t)}" if t != n.effn_targets.index[-1] else "effn-last",
            ),
            pct(float(n.targets.loc[t].max())),
        ]
        for t in n.effn_targets.index
    ]
    return (
        '<h2 id="concentration">Concentration and China nexus over time</h2>\n'
        + charts.review_lines_chart(n)
        + "\n"
        + _table(
            ["Implementation date", "Names held", "Effective names (1/\u03a3w\u00b2)", "Largest weight"],
            rows,
            table_id="concentration-table",
        )
    )


def _section_china(n: ThematicNumbers) -> str:
    last = n.nexus_targets.index[-1] if len(n.nexus_targets) else None
    rows = [
        [iso_date(t), Cell(pct(float(v)), id="china-nexus-last" if t == last else f"china-nexus-{iso_date(t)}")]
        for t, v in n.nexus_targets.items()
    ]
    over = _table(["Implementation date", "Weight in names with a China-link flag"], rows, table_id="china-nexus-table")
    held = n.last_weights[n.last_weights > 0]
    if n.last_report is not None:
        flags = flags_of(n.last_report, held.index)
        names = n.last_report.names
        detail = names.detail.reindex(held.index).fillna("").astype(str)
        flagged = sorted(held.index[flags != ""], key=lambda t: (-float(held[t]), str(t)))
        frows = [
            [
                Cell(str(t), cls="text"),
                Cell(n.meta.loc[t, "name"], cls="text"),
                n.meta.loc[t, "country"],
                pct(float(held[t])),
                Cell(flags[t].replace(";", "; "), cls="text"),
                Cell(detail[t], cls="text"),
            ]
            for t in flagged
        ]
    else:
        frows = []
    table = (
        _table(["Ticker", "Name", "Country", "Weight", "Flags", "Links in force"], frows, table_id="china-flagged")
        if frows
        else '<p id="china-flagged">No holding has a reported China link at the last review.</p>'
    )
    return (
        '<h2 id="china">China nexus</h2>\n<p class="note">Eligible names keep their weight but carry a flag when a '
        "China link below the exclusion threshold is in force at the review (a minority Chinese stake, operations "
        "in China, an offtake agreement).</p>\n" + over + f"\n<h3>Flagged holdings at the last review "
        f"({iso_date(n.last) if n.last is not None else 'n/a'})</h3>\n" + table
    )
