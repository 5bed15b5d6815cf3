"""What ``backtest`` and ``rebalance`` print when they finish: a compact table read from the run's
manifest (so the terminal shows exactly what was recorded), or one JSON document with ``--json``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from exchina_index._text import pct, usd_short

__all__ = ["backtest_lines", "rebalance_lines", "json_document"]


def _files_line(folder: Path, files: Sequence[str]) -> str:
    return f"files in {folder}: {', '.join([*files, 'manifest.json'])}"


#: The order of the series in the table (a manifest's keys are sorted).
_SERIES_ORDER = ("price_return", "total_return", "net_total_return", "nav", "benchmark")


def backtest_lines(manifest: Mapping[str, Any], folder: Path) -> list[str]:
    """The summary table of a backtest's ``manifest.json`` (its ``"summary"`` block).

    >>> m = {"spec": {"name": "demo"}, "files": {"levels.csv": "..."}, "summary": {
    ...     "period": {"start": "2020-01-02", "end": "2020-12-31", "years": 1.0}, "reviews": 4,
    ...     "relaxed_reviews": 0, "synthetic": False, "currencies": [], "tracking_difference": -0.006,
    ...     "active_return": None, "turnover": 0.8, "costs": 0.002, "capacity_usd": 2.5e8,
    ...     "series": {"net_total_return": {"label": "net total return", "level": 1100.0, "cagr": 0.1,
    ...                "volatility": 0.3, "max_drawdown": -0.25}}}}
    >>> print("\\n".join(backtest_lines(m, Path("out"))))  # doctest: +NORMALIZE_WHITESPACE
    backtest demo: 2020-01-02 to 2020-12-31 (1.0 years), 4 reviews, none needed the relaxation ladder
    series                  level     CAGR  volatility  max drawdown
    net total return     1,100.00   10.00%      30.00%       -25.00%
    tracking difference (fund NAV - net total return, a year): -0.60%
    turnover 80.00% a year, trading costs 0.20% a year, capacity $250M (smallest over the reviews)
    files in out: levels.csv, manifest.json
    """
    s = manifest["summary"]
    period = s["period"]
    relaxed = s["relaxed_reviews"]
    head = (
        f"backtest {manifest['spec']['name']}: {period['start']} to {period['end']} ({period['years']} years), "
        f"{s['reviews']} reviews, "
        + (f"{relaxed} needed the relaxation ladder (reviews.csv)" if relaxed else "none needed the relaxation ladder")
        + (" - SYNTHETIC DEMO DATA, not the performance of any real index" if s["synthetic"] else "")
    )
    order = [k for k in _SERIES_ORDER if k in s["series"]] + sorted(set(s["series"]) - set(_SERIES_ORDER))
    rows = [(s["series"][k]["label"], s["series"][k]) for k in order]
    rows += [(f"net total return in {f['currency']}", f) for f in s["currencies"]]
    width = max(len("series"), *(len(label) for label, _ in rows))
    lines = [head, f"{'series':<{width}}  {'level':>10}  {'CAGR':>7}  {'volatility':>10}  {'max drawdown':>12}"]
    for label, f in rows:
        level = "n/a" if f["level"] is None else f"{f['level']:,.2f}"  # the manifest's null
        lines.append(
            f"{label:<{width}}  {level:>10}  {pct(f['cagr']):>7}  {pct(f['volatility']):>10}  "
            f"{pct(f['max_drawdown']):>12}"
        )
    lines.append(f"tracking difference (fund NAV - net total return, a year): {pct(s['tracking_difference'])}")
    if s["active_return"] is not None:
        lines.append(f"active return (net total return CAGR - benchmark CAGR): {pct(s['active_return'])}")
    lines.append(
        f"turnover {pct(s['turnover'])} a year, trading costs {pct(s['costs'])} a year, "
        f"capacity {usd_short(s['capacity_usd'])} (smallest over the reviews)"
    )
    lines.append(_files_line(folder, list(manifest["files"])))
    return lines


def rebalance_lines(manifest: Mapping[str, Any], folder: Path) -> list[str]:
    """The summary of a review's ``manifest.json``: names held, adds and deletes, binding caps,
    capacity, relaxations, cost.

    >>> m = {"review": {"implementation": "2026-09-18", "cutoff": "2026-08-31", "announcement": "2026-09-11"},
    ...      "official": True, "aum_usd": 2.5e8, "relaxations": [], "files": {"proforma.csv": "..."},
    ...      "binding_constraints": ["issuer:a", "issuer:b", "stage:mining upper"],
    ...      "summary": {"constituents": 20, "additions": 2, "deletions": 1, "changes": 15,
    ...                  "one_way_turnover": 0.1, "capacity_aum_usd": 3e8, "estimated_cost_usd": 1e5,
    ...                  "estimated_cost_bps_of_aum": 4.0, "max_days_to_trade": 1.5}}
    >>> print("\\n".join(rebalance_lines(m, Path("out"))))
    review implemented 2026-09-18 (cut-off 2026-08-31, announced 2026-09-11)
    20 names held: 2 adds, 1 deletes, 15 weight changes; one-way turnover 10.00%
    binding: issuer caps x2, stage:mining upper
    capacity without relaxation $300M; no relaxation
    estimated trading cost $100k (4.0 bp of $250M); longest days to trade 1.5
    files in out: proforma.csv, manifest.json
    """
    review, s = manifest["review"], manifest["summary"]
    caps: dict[str, int] = {}
    other: list[str] = []
    for b in manifest["binding_constraints"]:
        kind, _, rest = b.partition(":")
        if kind in ("issuer", "single", "country") and " " not in rest:
            caps[kind] = caps.get(kind, 0) + 1
        else:
            other.append(b)
    binding = [f"{kind} caps x{n}" for kind, n in caps.items()] + other
    capacity = s["capacity_aum_usd"]
    relax = manifest["relaxations"]
    return [
        f"review implemented {review['implementation']} (cut-off {review['cutoff']}, announced "
        f"{review['announcement']})" + ("" if manifest["official"] else " - a pro-forma (rulebook not yet in force)"),
        f"{s['constituents']} names held: {s['additions']} adds, {s['deletions']} deletes, {s['changes']} weight "
        f"changes; one-way turnover {pct(s['one_way_turnover'])}",
        f"binding: {', '.join(binding) if binding else 'none'}",
        f"capacity without relaxation {usd_short(capacity) if capacity else 'none (a relaxation was needed)'}; "
        + (f"relaxations: {'; '.join(relax)}" if relax else "no relaxation"),
        f"estimated trading cost {usd_short(s['estimated_cost_usd'])} ({s['estimated_cost_bps_of_aum']:.1f} bp of "
        f"{usd_short(manifest['aum_usd'])}); longest days to trade {s['max_days_to_trade']:.1f}",
        _files_line(folder, list(manifest["files"])),
    ]


def json_document(manifest: Mapping[str, Any], folder: Path, notes: Sequence[str]) -> str:
    """``--json``: the folder, its files, the summary and the notes, as one JSON document."""
    files = [*manifest["files"], "manifest.json"]
    doc = {"folder": str(folder), "files": files, "summary": manifest["summary"], "notes": list(notes)}
    return json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False)
