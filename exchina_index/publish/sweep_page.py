"""The sweep page (``sweep.html``): what an index committee reads to choose among rulebook variants.

Self-contained and deterministic like every page of the package (inline CSS and SVG, fixed ids):

* what was swept, over which data (the synthetic banner when the data are synthetic);
* one chart per trade-off of :data:`~exchina_index.research.frontier.FRONTIERS`: every variant as a
  grey point, the Pareto frontier joined in blue, the spec's own rulebook as a red star;
* per swept key and value, the median of the headline figures over the other keys' values;
* the whole table, and the variants that failed (with their message).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from exchina_index.publish.charts import _figure, _svg, chart_style
from exchina_index.publish.html import (
    THEMATIC_CSS,
    data_notes_html,
    escape,
    escape_text,
    synthetic_banner_html,
    table,
)
from exchina_index.research.frontier import FRONTIERS, pareto_mask
from exchina_index.research.sweep import SweepResult

__all__ = ["sweep_page", "FIGURE_LABELS"]

#: How each figure of the table is labelled and shown: ``(label, format)``.
FIGURE_LABELS: dict[str, tuple[str, str]] = {
    "cagr": ("CAGR (NTR)", "pct"),
    "volatility": ("Volatility", "pct"),
    "max_drawdown": ("Max drawdown", "pct"),
    "nav_cagr": ("Fund CAGR", "pct"),
    "tracking_difference": ("Tracking difference", "pct"),
    "active_return": ("Active vs benchmark", "pct"),
    "turnover": ("Turnover / yr", "pct"),
    "costs": ("Costs / yr", "bps"),
    "capacity_usd": ("Capacity ($M)", "musd"),
    "weighted_purity": ("Weighted purity", "num"),
    "stage_deviation": ("Stage deviation", "pct"),
    "names_held": ("Names", "num1"),
    "relaxed_reviews": ("Relaxed reviews", "int"),
}
_EFFECT_FIGURES = ("cagr", "turnover", "capacity_usd", "weighted_purity", "stage_deviation", "relaxed_reviews")


def _fmt(value: Any, kind: str) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "inf" if isinstance(value, float) and value == np.inf else "\u2013"
    if kind == "pct":
        return f"{value:.2%}"
    if kind == "bps":
        return f"{value * 1e4:.1f} bps"
    if kind == "musd":
        return f"{value / 1e6:,.1f}"
    if kind == "int":
        return f"{int(value)}"
    if kind == "num1":
        return f"{value:.1f}"
    return f"{value:.3f}"


def _scale(kind: str) -> float:
    return {"pct": 100.0, "bps": 1e4, "musd": 1e-6}.get(kind, 1.0)


def _axis_label(column: str) -> str:
    label, kind = FIGURE_LABELS[column]
    return label + {"pct": " (%)", "bps": " (bps)"}.get(kind, "")


def _frontier_chart(ok: pd.DataFrame, n: int, spec: tuple[str, str, bool, bool, str]) -> str:
    x_col, y_col, x_higher, y_higher, title = spec
    x = ok[x_col].to_numpy(dtype=float) * _scale(FIGURE_LABELS[x_col][1])
    y = ok[y_col].to_numpy(dtype=float) * _scale(FIGURE_LABELS[y_col][1])
    on = pareto_mask(x, y, x_higher=x_higher, y_higher=y_higher)
    from matplotlib.ticker import MaxNLocator

    fig, ax = _figure(width=4.6, height=3.4, bottom=0.6)
    ax.scatter(x, y, s=12, color="#9aa5b1", label="variant", zorder=2)
    order = np.argsort(x[on], kind="stable")
    ax.plot(x[on][order], y[on][order], "-o", color="#1f77b4", markersize=4, linewidth=1.2, label="frontier", zorder=3)
    base = ok["base"].to_numpy(dtype=bool)
    if base.any():
        ax.scatter(x[base], y[base], s=90, marker="*", color="#d62728", label="spec's rulebook", zorder=4)
    ax.set_xlabel(_axis_label(x_col))
    ax.set_ylabel(_axis_label(y_col))
    ax.set_title(title, loc="left", fontsize=9)
    ax.xaxis.set_major_locator(MaxNLocator(5))
    ax.legend(loc="best")
    return _svg(fig, f"frontier-{n}")


def _frontier_table(ok: pd.DataFrame, spec: tuple[str, str, bool, bool, str]) -> str:
    """The variants on one frontier, best first on the y figure."""
    x_col, y_col, x_higher, y_higher, _ = spec
    on = pareto_mask(ok[x_col].to_numpy(float), ok[y_col].to_numpy(float), x_higher=x_higher, y_higher=y_higher)
    front = ok[on].sort_values([y_col, "variant"], ascending=[not y_higher, True], kind="stable")
    rows = [
        (
            str(int(r["variant"])),
            escape(r["label"]),
            _fmt(r[x_col], FIGURE_LABELS[x_col][1]),
            _fmt(r[y_col], FIGURE_LABELS[y_col][1]),
        )
        for _, r in front.iterrows()
    ]
    header = ["#", "variant", FIGURE_LABELS[x_col][0], FIGURE_LABELS[y_col][0]]
    return table(header, rows, numeric=[True, False, True, True], cls="frontier")


def _effects(ok: pd.DataFrame, keys: tuple[str, ...]) -> str:
    """Per swept key and value: the median of the headline figures over the other keys."""
    parts = []
    for key in keys:
        groups = ok.groupby(key, sort=True)[list(_EFFECT_FIGURES)].median()
        rows = [
            [escape(value), str(int((ok[key] == value).sum()))]
            + [_fmt(groups.loc[value, c], FIGURE_LABELS[c][1]) for c in _EFFECT_FIGURES]
            for value in groups.index
        ]
        header = [key, "variants"] + [FIGURE_LABELS[c][0] for c in _EFFECT_FIGURES]
        parts.append(table(header, rows, numeric=[False] + [True] * (len(header) - 1), table_id=f"effect-{key}"))
    return "".join(parts)


def _variants_table(t: pd.DataFrame, keys: tuple[str, ...]) -> str:
    figures = list(FIGURE_LABELS)
    rows = []
    for _, r in t.iterrows():
        cells = [str(int(r["variant"])) + (" \u2605" if r["base"] else "")]
        cells += [escape(r[k]) for k in keys]
        cells += [_fmt(r[c], FIGURE_LABELS[c][1]) for c in figures] if not r["error"] else ["failed"] * len(figures)
        rows.append(cells)
    header = ["#", *keys] + [FIGURE_LABELS[c][0] for c in figures]
    return table(header, rows, numeric=[True] + [False] * len(keys) + [True] * len(figures), table_id="variants")


def sweep_page(result: SweepResult) -> str:
    """The sweep page's HTML (see the module docstring)."""
    t, spec, grid = result.table, result.spec, result.grid
    ok = t[t["error"] == ""]
    failed = t[t["error"] != ""]
    with chart_style():
        charts = [
            f'<div class="frontier-block"><div class="chart-cell">{_frontier_chart(ok, n, f)}</div>'
            f"<details><summary>Variants on this frontier</summary>{_frontier_table(ok, f)}</details></div>"
            for n, f in enumerate(FRONTIERS)
            if len(ok)
        ]
    base = t[t["base"]]
    base_line = (
        f"The spec's own rulebook is variant {int(base['variant'].iloc[0])} (marked \u2605 and as a red star)."
        if len(base)
        else ""
    )
    failed_html = (
        "<h2>Variants that failed</h2>"
        + table(
            ["#", "variant", "error"],
            [(str(int(r.variant)), escape(r.label), escape(r.error)) for r in failed.itertuples()],
        )
        if len(failed)
        else ""
    )
    body = "".join(
        [
            synthetic_banner_html() if result.synthetic else "",
            f"<h1>Rulebook sweep: {escape_text(spec.description or spec.name)}</h1>",
            f'<p class="meta">{len(t)} variants of {escape(spec.name)} over {", ".join(escape(k) for k in grid.keys)}; '
            f"period {escape(spec.start)} to {escape(spec.end)}; AUM ${spec.aum:,.0f}; data: "
            f"{escape(result.data_source)}{' (SYNTHETIC)' if result.synthetic else ''}. {base_line}</p>",
            f'<p class="meta">{escape_text(grid.description)}</p>' if grid.description else "",
            "<h2>Frontiers</h2>",
            '<p class="note">Each point is one variant\'s backtest; the blue line joins the variants no other '
            "variant beats on both figures. Capacity is the smallest, over the reviews, of the largest AUM at which "
            "every name held trades within the rulebook's days at its share of ADTV.</p>",
            '<div class="frontiers">' + "".join(charts) + "</div>",
            "<h2>Effect of each key</h2>",
            '<p class="note">Median over the variants with that value (the other keys vary).</p>',
            _effects(ok, grid.keys) if len(ok) else "",
            failed_html,
            "<h2>All variants</h2>",
            _variants_table(t, grid.keys),
            data_notes_html(result.data_notes),
        ]
    )
    css = THEMATIC_CSS + "\n.frontiers{display:flex;flex-wrap:wrap;gap:12px}.frontier-block{width:500px}"
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>Sweep: {escape(spec.name)}</title>'
        f'<style>{css}</style></head><body><div class="container">{body}</div></body></html>\n'
    )
