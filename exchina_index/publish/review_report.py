"""The review report (``report.html``): one self-contained page, inline CSS, no scripts, no links out.

It is rendered from the in-memory :class:`~exchina_index.publish.deliverables.Bundle` and the
review record; every number is formatted with a fixed precision and nothing depends on the clock,
so the same review gives the same bytes.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from exchina_index._text import SYNTHETIC_TAG, pct, usd
from exchina_index.publish.deliverables import rulebook_status
from exchina_index.publish.html import REVIEW_CSS, data_notes_html, iso_date, table
from exchina_index.publish.html import escape as e
from exchina_index.rules.methodology import STAGES

if TYPE_CHECKING:  # pragma: no cover
    from exchina_index.publish.deliverables import Bundle

__all__ = ["render_report"]

_PASS = '<span class="pass">pass</span>'


def _days(x: Any) -> str:
    x = float(x)
    return "n/a (no ADTV)" if not math.isfinite(x) else f"{x:.2f}"


def _bars(before: float, after: float) -> str:
    b = max(0.0, min(1.0, float(before))) * 200
    a = max(0.0, min(1.0, float(after))) * 200
    return f'<span class="bar u" style="width:{b:.1f}px"></span><br><span class="bar" style="width:{a:.1f}px"></span>'


def _exposure(title: str, before: pd.Series, after: pd.Series) -> str:
    keys = sorted(set(before.index[before.abs() > 0]) | set(after.index[after.abs() > 0]), key=str)
    rows = [
        (
            e(k),
            pct(before.get(k, 0.0)),
            pct(after.get(k, 0.0)),
            pct(after.get(k, 0.0) - before.get(k, 0.0)),
            _bars(before.get(k, 0.0), after.get(k, 0.0)),
        )
        for k in keys
    ]
    return f"<h3>{e(title)}</h3>" + table(
        ["", "before capping (anchor u)", "after capping", "difference", "light: before, dark: after"],
        rows,
        numeric=[False, True, True, True, False],
    )


def render_report(b: Bundle) -> str:
    """The HTML text of the review report for a rebalance bundle."""
    parts = [
        *_head(b),
        *_summary(b),
        *_governance(b),
        *_exposures(b),
        *_binding(b),
        *_capacity(b),
        *_china_nexus(b),
        *_compliance(b),
        *_changes(b),
        *_constituents(b),
        *_eligibility(b),
        '<p class="meta">Reference prices are the closes on or before the data cut-off (the run only '
        "sees data to the cut-off); index shares are weight × 1,000,000 / reference price in USD; fund "
        "shares are rounded to board lots. Recompute shares from the weights at the implementation close. "
        "Files in this folder are listed with their SHA-256 in <code>manifest.json</code>.</p>",
        "</body></html>\n",
    ]
    return "\n".join(parts)


def _head(b: Bundle) -> list[str]:
    """Title, the review's dates, the synthetic-data banner, data and rulebook provenance, notes."""
    m, mk, rv = b.methodology, b.market, b.review

    def d(c: str) -> str:
        return iso_date(rv[c])

    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{e(m.name)}: review {d('implement')}</title>",
        f"<style>{REVIEW_CSS}</style></head><body>",
        f"<h1>{e(m.name)}</h1>",
        f"<p><strong>Review implemented at the close of {d('implement')}</strong> (effective {d('effective')}). "
        f"Data cut-off {d('cutoff')}, announcement {d('announce')}, pro-forma from {d('proforma')}. "
        f"Requested as of {e(b.requested)}. Fund size for liquidity caps, shares and trades: {usd(b.aum)}.</p>",
    ]
    if bool(mk.synthetic):
        parts.append(
            f'<div class="synthetic">{SYNTHETIC_TAG} — not real market prices. '
            "Weights, shares, trades and capacity figures below are illustrations only.</div>"
        )
    idx = mk.close.index
    parts.append(
        f'<p class="meta">Data source: <strong>{e(mk.source)}</strong>'
        f"{' (synthetic)' if mk.synthetic else ''}; data from {pd.Timestamp(idx[0]).date()} to "
        f"{pd.Timestamp(idx[-1]).date()}, used through the cut-off {d('cutoff')}; data fingerprint "
        f"<code>{e(str(getattr(mk, 'fingerprint', ''))[:16])}</code>. Rulebook {e(m.version)} "
        f"(<code>{e(m.hash[:16])}</code>), regulatory mode <strong>{e(m.regulatory.mode)}</strong>. "
        f"Universe <code>{e(b.universe.fingerprint[:16])}</code> ({len(b.frame)} listings).</p>"
    )
    parts.append(data_notes_html(b.universe.notes + mk.notes))
    return parts


def _summary(b: Bundle) -> list[str]:
    s, rep = b.summary, b.report
    parts = [
        "<h2>Summary</h2>",
        table(
            ["", ""],
            [
                ("constituents", s["constituents"]),
                (
                    "additions / deletions / changes / holds",
                    f"{s['additions']} / {s['deletions']} / {s['changes']} / {s['holds']}"
                    + (" (initial composition)" if s["initial"] else ""),
                ),
                ("one-way turnover", pct(s["one_way_turnover"])),
                (
                    "estimated trading cost",
                    f"{usd(s['estimated_cost_usd'])} ({s['estimated_cost_bps_of_aum']:.2f} bp of AUM)",
                ),
                ("longest days to trade at this AUM", f"{s['max_days_to_trade']:.2f}"),
                *_integrity_rows(b),
                (
                    "compliance (rules in force)",
                    _PASS if s["compliance_passed"] else '<span class="fail">FAIL — see below</span>',
                ),
                (
                    "solver",
                    f"{e(rep.solver)} ({e(rep.status)})" + (" — fallback solver used" if rep.fallback_used else ""),
                ),
            ],
        ),
    ]
    if rep.relaxations:
        parts.append(
            '<p class="warn"><strong>Relaxations taken (the rulebook constraints were infeasible):</strong> '
            + "; ".join(e(r) for r in rep.relaxations)
            + "</p>"
        )
    return parts


def _integrity_rows(b: Bundle) -> list[tuple[str, str]]:
    """Weighted purity, weight in low-purity names and stage deviation against the rulebook's limits."""
    rep, rule, tolerance = b.report, b.methodology.purity, b.methodology.stages.tolerance
    if not rep.purity:
        return []
    return [
        ("weighted purity", f"{rep.purity['weighted']:.3f} (floor {rule.min_weighted:.2f})"),
        (
            f"weight in names with purity below {rule.low_threshold:.2f}",
            f"{pct(rep.purity['low_weight'])} (at most {pct(rule.low_max_weight)})",
        ),
        (
            f"largest stage deviation ({b.methodology.stages.basis} basis)",
            f"{pct(rep.purity['stage_deviation'])} (band ±{pct(rep.stage_band)}; rulebook ±{pct(tolerance)})",
        ),
    ]


def _governance(b: Bundle) -> list[str]:
    """The rulebook's status at this review, the governance rules applied and the discretion-log decisions."""
    g, rep = b.methodology.governance, b.report
    official = rulebook_status(b.methodology, b.review["implement"])["official"]
    status = (
        f"<p>Rulebook {e(b.methodology.version)} took effect on {e(g.effective)}: this is the official review."
        if official
        else f'<p class="warn">Rulebook {e(b.methodology.version)} takes effect on {e(g.effective)}: this review '
        "is a pro-forma under it, not the official review."
    )

    def listing(lines: tuple[str, ...]) -> str:
        return "<ul>" + "".join(f"<li>{e(x)}</li>" for x in lines) + "</ul>" if lines else "<p>none</p>"

    return [
        "<h2>Governance and discretion</h2>",
        f"{status} Its changes were announced on {e(g.announced)} (notice period {g.notice_days} days).</p>",
        "<h3>Governance rules applied</h3>",
        listing(tuple(rep.governance)),
        "<h3>Discretion-log decisions in force at the cut-off</h3>",
        listing(tuple(rep.decisions)),
    ]


def _anchor(b: Bundle) -> pd.Series:
    """The uncapped anchor weight u of every listing (0 where the record has none)."""
    return b.names.anchor.reindex(b.frame.index).fillna(0.0).astype(float)


def _exposures(b: Bundle) -> list[str]:
    """Stage, country and currency exposure of the anchor u and of the weights."""
    st = b.report.stages
    w, u = b.weights, _anchor(b)
    country = b.names.country.reindex(b.frame.index)
    cur = b.frame["currency"]
    return [
        "<h2>Exposure before and after capping</h2>",
        "<h3>Stages</h3>"
        + table(
            ["stage", "target", "before capping (anchor u)", "after capping", "light: before, dark: after"],
            [
                (
                    e(k),
                    pct(st.loc[k, "target"]),
                    pct(st.loc[k, "before"]),
                    pct(st.loc[k, "after"]),
                    _bars(st.loc[k, "before"], st.loc[k, "after"]),
                )
                for k in st.index
            ],
            numeric=[False, True, True, True, False],
        ),
        _exposure("Countries (of classification)", u.groupby(country).sum(), w.groupby(country).sum()),
        _exposure("Currencies", u.groupby(cur).sum(), w.groupby(cur).sum()),
    ]


def _binding(b: Bundle) -> list[str]:
    """Group constraints at equality and the held names at a cap or floor."""
    n, rep = b.names, b.report
    name_of, W = b.frame["name"].to_dict(), b.weights.to_dict()
    binding, cap, cap_kind, anchor = n.binding.to_dict(), n.cap.to_dict(), n.cap_kind.to_dict(), n.anchor.to_dict()
    held = b.weights.index[b.weights > 0]
    bound = sorted(t for t in held if str(binding[t]) != "")
    return [
        "<h2>Binding constraints</h2>",
        "<p>Group constraints holding with equality: "
        + (", ".join(f"<code>{e(c)}</code>" for c in rep.binding_constraints) or "none")
        + ".</p>",
        table(
            ["ticker", "name", "binding", "cap", "cap kind", "anchor u", "weight"],
            [
                (e(t), e(name_of[t]), e(binding[t]), pct(cap[t], 4), e(cap_kind[t]), pct(anchor[t], 4), pct(W[t], 4))
                for t in bound
            ],
            numeric=[False, False, False, True, False, True, True],
        )
        if bound
        else "<p>No name is held at a cap or floor.</p>",
    ]


def _capacity(b: Bundle) -> list[str]:
    """Capacity AUM and days to trade each holding at the capacity levels and at the fund's AUM."""
    m, rep, s = b.methodology, b.report, b.summary
    dtt = rep.days_to_trade.reindex(sorted(rep.days_to_trade.index))
    adtv = b.names.adtv_usd
    at_aum = b.weights * b.aum / (m.liquidity.participation * adtv)
    cols = [str(c) for c in dtt.columns]
    D = {c: dtt[c].to_dict() for c in dtt.columns}
    A, AT, W = adtv.to_dict(), at_aum.to_dict(), b.weights.to_dict()
    return [
        "<h2>Capacity</h2>",
        f"<p>Largest AUM at which every rulebook constraint holds without relaxation: "
        f"<strong>{usd(rep.capacity_aum)}</strong>. Days to trade each holding from cash at "
        f"{m.liquidity.participation:.0%} of ADTV ({m.liquidity.adtv_window_sessions}-session ADTV):</p>",
        table(
            ["ticker", "weight", "ADTV (USD)", *[f"days at {c}" for c in cols], f"days at {usd(b.aum)}"],
            [
                (
                    e(t),
                    pct(W[t], 4),
                    usd(A.get(t, np.nan)),
                    *[_days(D[c][t]) for c in dtt.columns],
                    _days(AT.get(t, np.nan)),
                )
                for t in dtt.index
            ],
            numeric=[False, True, True, *[True] * len(cols), True],
        ),
        f"<p>Trades at this AUM (from the drifted previous portfolio) take at most "
        f"{s['max_days_to_trade']:.2f} days; see <code>trades.csv</code>.</p>",
    ]


def _china_nexus(b: Bundle) -> list[str]:
    """The held names with a China-link flag, with the stake counted and the links in force."""
    n = b.names
    name_of, flags = b.frame["name"].to_dict(), n.flags.to_dict()
    stake, detail = n.cn_stake.to_dict(), n.detail.to_dict()
    flagged = [t for t in sorted(b.weights.index[b.weights > 0]) if str(flags[t])]
    return [
        "<h2>China-nexus flags of held names</h2>",
        table(
            ["ticker", "name", "flags", "Chinese stake counted", "links in force at the cut-off"],
            [(e(t), e(name_of[t]), e(flags[t]), pct(stake[t], 1), e(detail[t])) for t in flagged],
        )
        if flagged
        else "<p>No held name carries a China-nexus flag.</p>",
    ]


def _compliance(b: Bundle) -> list[str]:
    c = b.compliance
    return [
        "<h2>Compliance</h2>",
        f"<p>Regulatory mode in force: <strong>{e(c['regulatory_mode'])}</strong>. "
        "Legal limits and the rulebook's buffered limits are both tested, whatever the mode.</p>",
        table(
            ["check", "in force", "limit", "value", "result", "detail"],
            [
                (
                    e(k["name"]),
                    "yes" if k["in_force"] else "no",
                    pct(k["limit"] or 0.0, 4),
                    pct(k["value"] or 0.0, 4),
                    _PASS if k["passed"] else '<span class="fail">FAIL</span>',
                    e(k["detail"]),
                )
                for k in c["checks"]
            ],
            numeric=[False, False, True, True, False, False],
        ),
    ]


def _changes(b: Bundle) -> list[str]:
    ann = b.announcement.sort_values("ticker")
    return [
        "<h2>Changes versus the previous review</h2>",
        table(
            ["ticker", "name", "action", "previous", "drifted", "new", "change", "reason"],
            [
                (
                    e(r.ticker),
                    e(r.name),
                    e(r.action),
                    pct(r.previous_weight, 4),
                    pct(r.drifted_weight, 4),
                    pct(r.new_weight, 4),
                    pct(r.change, 4),
                    e(r.reason),
                )
                for r in ann.itertuples(index=False)
            ],
            numeric=[False, False, False, True, True, True, True, False],
        ),
    ]


def _constituents(b: Bundle) -> list[str]:
    pf = b.proforma.sort_values("ticker")
    return [
        "<h2>Pro-forma constituents</h2>",
        table(
            [
                "ticker",
                "name",
                "country",
                "currency",
                *STAGES,
                "weight",
                "reference price",
                "index shares / 1M",
                "fund shares",
            ],
            [
                (
                    e(r.ticker),
                    e(r.name),
                    e(r.country),
                    e(r.currency),
                    *[f"{getattr(r, s):.2f}" for s in STAGES],
                    pct(r.weight, 4),
                    f"{r.reference_price:,.4f}",
                    f"{r.index_shares_per_1m:,.4f}",
                    f"{int(r.fund_shares):,}",
                )
                for r in pf.itertuples(index=False)
            ],
            numeric=[False, False, False, False, *[True] * len(STAGES), True, True, True, True],
        ),
    ]


def _eligibility(b: Bundle) -> list[str]:
    """Every listing of the universe: eligibility, reason, flags, anchor u and weight."""
    n = b.names
    name_of, country, eligible = b.frame["name"].to_dict(), n.country.to_dict(), n.eligible.to_dict()
    reason, flags = n.reason.to_dict(), n.flags.to_dict()
    U, W = _anchor(b).to_dict(), b.weights.to_dict()
    return [
        "<h2>Eligibility of every listing at the cut-off</h2>",
        table(
            ["ticker", "name", "country", "eligible", "reason", "flags", "anchor u", "weight"],
            [
                (
                    e(t),
                    e(name_of[t]),
                    e(country[t]),
                    "yes" if bool(eligible[t]) else "no",
                    e(reason[t]),
                    e(flags[t]),
                    pct(U.get(t, 0.0), 4),
                    pct(W.get(t, 0.0), 4),
                )
                for t in sorted(b.frame.index)
            ],
            numeric=[False, False, False, False, False, False, True, True],
        ),
    ]
