"""The charts of the thematic page: inline SVG drawn with matplotlib's ``Figure`` (no pyplot, no
global state), with fixed margins and ids, so the same numbers give the same bytes.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import pandas as pd

from exchina_index.publish.html import iso_date, strip_external_references
from exchina_index.publish.thematic_numbers import ThematicNumbers

__all__ = [
    "LEVEL_LABELS",
    "STAGE_COLOURS",
    "chart_style",
    "stacked_chart",
    "levels_chart",
    "turnover_chart",
    "review_lines_chart",
    "liquidity_chart",
]

#: Legend labels of the level series.
LEVEL_LABELS: dict[str, str] = {
    "price_return": "Price return (PR)",
    "total_return": "Gross total return (TR)",
    "net_total_return": "Net total return (NTR)",
    "nav": "Fund NAV",
    "benchmark": "Benchmark",
}
_PALETTE = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
    "#aec7e8",
    "#ffbb78",
)
#: Colour of each stage in the stage-allocation chart.
STAGE_COLOURS = {"mining": "#8c564b", "refining": "#1f77b4", "manufacturing": "#2ca02c"}
_LEVEL_COLOURS = {
    "price_return": "#7f7f7f",
    "total_return": "#1f77b4",
    "net_total_return": "#d62728",
    "nav": "#2ca02c",
    "benchmark": "#ff7f0e",
}
_SVG_METADATA = {"Date": None, "Creator": None, "Format": None, "Type": None}


@contextlib.contextmanager
def chart_style() -> Iterator[None]:
    """Draw with matplotlib's defaults (not the user's style, nor what quantstats changed) and fixed SVG ids."""
    import matplotlib

    with matplotlib.rc_context():
        matplotlib.rcdefaults()
        matplotlib.rcParams.update(
            {
                "font.family": "DejaVu Sans",
                "font.size": 9,
                "svg.fonttype": "none",
                "svg.hashsalt": "exchina-index",
                "axes.spines.top": False,
                "axes.spines.right": False,
                "axes.grid": True,
                "grid.alpha": 0.3,
                "legend.fontsize": 8,
                "legend.frameon": False,
                "path.simplify": True,
            }
        )
        yield


def _figure(
    width: float = 9.0,
    height: float = 3.6,
    nrows: int = 1,
    *,
    legend_outside: bool = False,
    bottom: float = 0.55,
    **kw: Any,
) -> tuple[Any, Any]:
    """A figure with fixed margins (in inches): a layout engine would double the drawing time."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height))
    fig.subplots_adjust(
        left=0.75 / width,
        right=1 - (1.9 if legend_outside else 0.2) / width,
        top=1 - 0.35 / height,
        bottom=bottom / height,
        hspace=0.45,
    )
    axes = fig.subplots(nrows, 1, **kw)
    return fig, axes


def _svg(fig: Any, name: str) -> str:
    import matplotlib

    matplotlib.rcParams["svg.hashsalt"] = f"exchina-index-{name}"  # ids unique per chart on the page
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata=_SVG_METADATA)
    text = strip_external_references(buf.getvalue())
    return f'<div class="chart" id="chart-{name}">{text.strip()}</div>'


def _x(index: pd.DatetimeIndex) -> np.ndarray:
    return index.to_numpy(dtype="datetime64[ns]")


def stacked_chart(frame: pd.DataFrame, title: str, name: str, colours: Sequence[str] | None = None) -> str:
    """A stacked area chart of ``frame`` (weights by date, one column per group) in per cent."""
    fig, ax = _figure(height=3.2, legend_outside=True)
    cols = list(frame.columns)
    colours = list(colours) if colours is not None else [_PALETTE[i % len(_PALETTE)] for i in range(len(cols))]
    ax.stackplot(
        _x(frame.index),
        *[frame[c].to_numpy() * 100 for c in cols],
        labels=[str(c) for c in cols],
        colors=colours,
        linewidth=0.0,
        alpha=0.9,
    )
    ax.set_ylim(0, max(100.0, float(frame.sum(axis=1).max() * 100) if len(frame) else 100.0))
    ax.set_ylabel("% of index")
    ax.set_title(title, loc="left", fontsize=10)
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return _svg(fig, name)


def levels_chart(n: ThematicNumbers) -> str:
    """Weekly PR, TR, NTR, NAV (and benchmark) levels above the fund's cumulative tracking difference."""
    fig, (ax, ax2) = _figure(height=5.0, nrows=2, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    for key, s in n.series.items():
        w = _weekly(s.to_frame())[s.name]
        ax.plot(
            _x(w.index),
            w.to_numpy(),
            label=LEVEL_LABELS.get(key, key),
            color=_LEVEL_COLOURS[key],
            linewidth=1.4 if key == "net_total_return" else 1.0,
        )
    lo = min(float(s.min()) for s in n.series.values())
    hi = max(float(s.max()) for s in n.series.values())
    if hi / lo > 3:  # log scale only where it helps; minor labels off (they are slow and cluttered)
        from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

        ax.set_yscale("log")
        ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
        ax.yaxis.set_minor_formatter(NullFormatter())
        ax.set_ylabel("level (log scale, start 1000)")
    else:
        ax.set_ylabel("level (start 1000)")
    ax.set_title("Index levels and fund NAV", loc="left", fontsize=10)
    ax.legend(loc="upper left")
    td = _weekly((n.levels["nav"] / n.levels["net_total_return"] - 1.0).to_frame("td"))["td"]
    ax2.plot(_x(td.index), td.to_numpy() * 100, color=_LEVEL_COLOURS["nav"], linewidth=1.0)
    ax2.axhline(0.0, color="black", linewidth=0.6)
    ax2.set_ylabel("NAV / NTR \u2212 1 (%)")
    ax2.set_title("Cumulative tracking difference of the fund", loc="left", fontsize=9)
    return _svg(fig, "levels")


def turnover_chart(n: ThematicNumbers) -> str:
    """One-way turnover and trading cost of every review, as bars."""
    fig, (ax, ax2) = _figure(height=4.2, nrows=2, sharex=True, bottom=0.8)
    labels = [iso_date(t) for t in n.turnover.index]
    pos = np.arange(len(labels))
    ax.bar(pos, n.turnover.to_numpy() * 100, color="#1f77b4")
    ax.set_ylabel("one-way turnover (%)")
    ax.set_title("Turnover and trading costs per review (the first is the initial purchase)", loc="left", fontsize=10)
    costs = n.costs.reindex(n.turnover.index).fillna(0.0)
    ax2.bar(pos, costs.to_numpy() * 1e4, color="#d62728")
    ax2.set_ylabel("cost (bp of NAV)")
    step = max(1, len(labels) // 16)
    ax2.set_xticks(pos[::step], labels[::step], rotation=45, ha="right", fontsize=7)
    return _svg(fig, "turnover")


def review_lines_chart(n: ThematicNumbers) -> str:
    """Effective number of names and weight in China-flagged names, drifted and at reviews."""
    fig, (ax, ax2) = _figure(height=4.6, nrows=2, sharex=True)
    ax.plot(
        _x(n.effn_drifted.index),
        n.effn_drifted.to_numpy(),
        color="#7f7f7f",
        linewidth=1.0,
        label="drifted (month ends)",
    )
    ax.plot(
        _x(n.effn_targets.index),
        n.effn_targets.to_numpy(),
        "o",
        color="#1f77b4",
        markersize=3.5,
        label="at reviews (targets)",
    )
    ax.set_ylabel("effective names 1/\u03a3w\u00b2")
    ax.set_title("Concentration: effective number of names", loc="left", fontsize=10)
    ax.legend(loc="upper left")
    ax2.plot(
        _x(n.nexus_drifted.index),
        n.nexus_drifted.to_numpy() * 100,
        color="#7f7f7f",
        linewidth=1.0,
        label="drifted (month ends)",
    )
    ax2.plot(
        _x(n.nexus_targets.index),
        n.nexus_targets.to_numpy() * 100,
        "o",
        color="#d62728",
        markersize=3.5,
        label="at reviews (targets)",
    )
    ax2.set_ylabel("% in flagged names")
    ax2.set_title("China nexus: weight in names with a reported China link", loc="left", fontsize=10)
    ax2.legend(loc="upper left")
    return _svg(fig, "concentration")


def liquidity_chart(stats: pd.DataFrame) -> str:
    """Maximum and weighted-average days to liquidate at each capacity AUM of the last review."""
    fig, ax = _figure(height=2.8)
    pos = np.arange(len(stats))
    mx = stats["max"].replace([np.inf], np.nan).to_numpy()
    avg = stats["wavg"].replace([np.inf], np.nan).to_numpy()
    ax.bar(pos - 0.2, mx, width=0.4, label="max (least liquid holding)", color="#d62728")
    ax.bar(pos + 0.2, avg, width=0.4, label="weighted average", color="#1f77b4")
    ax.set_xticks(pos, [f"AUM {c}" for c in stats.index])
    ax.set_ylabel("days to liquidate")
    ax.set_title("Liquidity profile at the last review", loc="left", fontsize=10)
    ax.legend(loc="upper left")
    return _svg(fig, "liquidity")


def _weekly(level: pd.DataFrame) -> pd.DataFrame:
    """The first row and the last row of every ISO week (the levels chart's points)."""
    idx = level.index
    iso = idx.isocalendar()
    last = pd.Series(idx, index=idx).groupby([iso["year"].to_numpy(), iso["week"].to_numpy()]).max()
    keep = pd.DatetimeIndex([idx[0], *last.to_numpy()]).unique().sort_values()
    return level.loc[keep]
