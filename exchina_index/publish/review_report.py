"""The review report (``report.html``): one self-contained page, inline CSS, no scripts, no links out.

It is rendered from the in-memory bundle of :mod:`exchina_index.publish.rebalance`; every number is
formatted with a fixed precision and nothing depends on the clock, so the same review gives the
same bytes.
"""

from __future__ import annotations

import html
import math
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd

from exchina_index.rules.methodology import STAGES

__all__ = ["render_report", "data_notes_html"]

_CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2em auto;max-width:1100px;color:#1b1f24;
line-height:1.4;padding:0 1em}
h1{font-size:1.5em;margin-bottom:.2em}h2{font-size:1.15em;border-bottom:1px solid #d0d7de;padding-bottom:.2em;
margin-top:1.8em}
table{border-collapse:collapse;margin:.6em 0;font-size:.86em}th,td{border:1px solid #d0d7de;padding:.25em .55em;
text-align:left;vertical-align:top}th{background:#f3f5f7}td.n{text-align:right;font-variant-numeric:tabular-nums}
.synthetic{background:#b42318;color:#fff;font-weight:700;font-size:1.25em;padding:.8em 1em;border-radius:6px;
margin:1em 0;text-align:center;letter-spacing:.02em}
.meta{color:#57606a;font-size:.9em}.fail{color:#b42318;font-weight:700}.pass{color:#1a7f37;font-weight:700}
.bar{display:inline-block;height:.7em;background:#4f6d9a;vertical-align:middle}
.bar.u{background:#b7c4d8}.warn{background:#fff4e5;border:1px solid #f0b37e;padding:.5em .8em;border-radius:4px}
"""


def _e(x: Any) -> str:
    return html.escape(str(x), quote=True)


def _pct(x: Any, digits: int = 2) -> str:
    x = float(x)
    if not math.isfinite(x):
        return "n/a"
    s = f"{100 * x:.{digits}f}%"
    return s[1:] if s.startswith("-") and not s.strip("-0.%") else s


def _usd(x: Any) -> str:
    x = float(x)
    return "unbounded" if math.isinf(x) else ("n/a" if math.isnan(x) else f"${x:,.0f}")


def _days(x: Any) -> str:
    x = float(x)
    return "n/a (no ADTV)" if not math.isfinite(x) else f"{x:.2f}"


def _table(header: Sequence[str], rows: Iterable[Sequence[Any]], numeric: Sequence[bool] | None = None) -> str:
    numeric = numeric or [False] * len(header)
    out = ["<table><thead><tr>", *(f"<th>{_e(h)}</th>" for h in header), "</tr></thead><tbody>"]
    for row in rows:
        out.append("<tr>" + "".join(
            f'<td class="n">{c}</td>' if n else f"<td>{c}</td>" for c, n in zip(row, numeric)) + "</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def _bars(before: float, after: float) -> str:
    b = max(0.0, min(1.0, float(before))) * 200
    a = max(0.0, min(1.0, float(after))) * 200
    return (f'<span class="bar u" style="width:{b:.1f}px"></span><br>'
            f'<span class="bar" style="width:{a:.1f}px"></span>')


def _exposure(title: str, before: pd.Series, after: pd.Series) -> str:
    keys = sorted(set(before.index[before.abs() > 0]) | set(after.index[after.abs() > 0]), key=str)
    rows = [(_e(k), _pct(before.get(k, 0.0)), _pct(after.get(k, 0.0)), _pct(after.get(k, 0.0) - before.get(k, 0.0)),
             _bars(before.get(k, 0.0), after.get(k, 0.0))) for k in keys]
    return (f"<h3>{_e(title)}</h3>"
            + _table(["", "before capping (anchor u)", "after capping", "difference", "light: before, dark: after"],
                     rows, [False, True, True, True, False]))


def data_notes_html(notes: Sequence[str]) -> str:
    """A run's notes (universe, market data) as a visible list (empty string when there are none)."""
    if not notes:
        return ""
    return ('<div class="warn" id="data-notes"><strong>Data notes</strong> (also in the manifest):<ul>'
            + "".join(f"<li>{_e(n)}</li>" for n in notes) + "</ul></div>")


def render_report(b: Any) -> str:
    """The HTML text of the review report for a rebalance bundle."""
    m = b.methodology
    rep = b.report
    names = b.names
    f = b.frame
    N = {c: names[c].to_dict() for c in names.columns}  # dict lookups: .at is slow on wide frames
    name_of = f["name"].to_dict()
    rv = b.review
    w, u = b.weights, b.anchor
    W, U = w.to_dict(), u.to_dict()
    mk = b.market
    held = w.index[w > 0]
    d = lambda c: pd.Timestamp(rv[c]).date().isoformat()  # noqa: E731
    parts: list[str] = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{_e(m.name)}: review {d('implement')}</title>", f"<style>{_CSS}</style></head><body>",
        f"<h1>{_e(m.name)}</h1>",
        f"<p><strong>Review implemented at the close of {d('implement')}</strong> (effective {d('effective')}). "
        f"Data cut-off {d('cutoff')}, announcement {d('announce')}, pro-forma from {d('proforma')}. "
        f"Requested as of {_e(b.requested)}. Fund size for liquidity caps, shares and trades: {_usd(b.aum)}.</p>",
    ]
    if bool(mk.synthetic):
        parts.append('<div class="synthetic">SYNTHETIC DEMO DATA — not real market prices. '
                     "Weights, shares, trades and capacity figures below are illustrations only.</div>")
    idx = mk.close.index
    parts.append(
        f'<p class="meta">Data source: <strong>{_e(mk.source)}</strong>'
        f"{' (synthetic)' if mk.synthetic else ''}; data from {pd.Timestamp(idx[0]).date()} to "
        f"{pd.Timestamp(idx[-1]).date()}, used through the cut-off {d('cutoff')}; data fingerprint "
        f"<code>{_e(str(getattr(mk, 'fingerprint', ''))[:16])}</code>. Rulebook {_e(m.version)} "
        f"(<code>{_e(m.hash[:16])}</code>), regulatory mode <strong>{_e(m.regulatory.mode)}</strong>. "
        f"Universe <code>{_e(b.universe.fingerprint[:16])}</code> ({len(f)} listings).</p>")
    parts.append(data_notes_html(b.universe.notes + mk.notes))

    s = b.summary
    parts.append("<h2>Summary</h2>")
    parts.append(_table(["", ""], [
        ("constituents", s["constituents"]),
        ("additions / deletions / changes / holds",
         f"{s['additions']} / {s['deletions']} / {s['changes']} / {s['holds']}" + (" (initial composition)" if s["initial"] else "")),
        ("one-way turnover", _pct(s["one_way_turnover"])),
        ("estimated trading cost", f"{_usd(s['estimated_cost_usd'])} ({s['estimated_cost_bps_of_aum']:.2f} bp of AUM)"),
        ("longest days to trade at this AUM", f"{s['max_days_to_trade']:.2f}"),
        ("compliance (rules in force)", '<span class="pass">pass</span>' if s["compliance_passed"]
         else '<span class="fail">FAIL — see below</span>'),
        ("solver", f"{_e(rep.solver)} ({_e(rep.status)})" + (" — fallback solver used" if rep.fallback_used else "")),
    ]))
    if rep.relaxations:
        parts.append('<p class="warn"><strong>Relaxations taken (the rulebook constraints were infeasible):</strong> '
                     + "; ".join(_e(r) for r in rep.relaxations) + "</p>")

    # exposures
    parts.append("<h2>Exposure before and after capping</h2>")
    st = rep.stages
    parts.append("<h3>Stages</h3>" + _table(
        ["stage", "target", "before capping (anchor u)", "after capping", "light: before, dark: after"],
        [(_e(k), _pct(st.loc[k, "target"]), _pct(st.loc[k, "before"]), _pct(st.loc[k, "after"]),
          _bars(st.loc[k, "before"], st.loc[k, "after"])) for k in st.index],
        [False, True, True, True, False]))
    country = b.country
    parts.append(_exposure("Countries (of classification)", u.groupby(country).sum(), w.groupby(country).sum()))
    cur = f["currency"]
    parts.append(_exposure("Currencies", u.groupby(cur).sum(), w.groupby(cur).sum()))

    # binding constraints
    parts.append("<h2>Binding constraints</h2>")
    parts.append("<p>Group constraints holding with equality: "
                 + (", ".join(f"<code>{_e(c)}</code>" for c in rep.binding_constraints) or "none") + ".</p>")
    bind = names.loc[held]
    bind = bind[bind["binding"].astype(str) != ""]
    parts.append(_table(["ticker", "name", "binding", "cap", "cap kind", "anchor u", "weight"], [
        (_e(t), _e(name_of[t]), _e(N["binding"][t]), _pct(N["cap"][t], 4), _e(N["cap_kind"][t]),
         _pct(N["u"][t], 4), _pct(W[t], 4)) for t in sorted(bind.index)],
        [False, False, False, True, False, True, True]) if len(bind) else "<p>No name is held at a cap or floor.</p>")

    # capacity
    parts.append("<h2>Capacity</h2>")
    parts.append(f"<p>Largest AUM at which every rulebook constraint holds without relaxation: "
                 f"<strong>{_usd(rep.capacity_aum)}</strong>. Days to trade each holding from cash at "
                 f"{m.liquidity.participation:.0%} of ADTV ({m.liquidity.adtv_window_sessions}-session ADTV):</p>")
    dtt = rep.days_to_trade.reindex(sorted(rep.days_to_trade.index))
    adtv = names["adtv_usd"]
    at_aum = (w * b.aum / (m.liquidity.participation * adtv))
    cols = [str(c) for c in dtt.columns]
    D = {c: dtt[c].to_dict() for c in dtt.columns}
    A, AT = adtv.to_dict(), at_aum.to_dict()
    parts.append(_table(["ticker", "weight", "ADTV (USD)", *[f"days at {c}" for c in cols], f"days at {_usd(b.aum)}"], [
        (_e(t), _pct(W[t], 4), _usd(A.get(t, np.nan)), *[_days(D[c][t]) for c in dtt.columns],
         _days(AT.get(t, np.nan))) for t in dtt.index],
        [False, True, True, *[True] * len(cols), True]))
    parts.append(f"<p>Trades at this AUM (from the drifted previous portfolio) take at most "
                 f"{s['max_days_to_trade']:.2f} days; see <code>trades.csv</code>.</p>")

    # China nexus
    parts.append("<h2>China-nexus flags of held names</h2>")
    flagged = [t for t in sorted(held) if str(N["flags"][t])]
    parts.append(_table(["ticker", "name", "flags", "Chinese stake counted", "links in force at the cut-off"], [
        (_e(t), _e(name_of[t]), _e(N["flags"][t]), _pct(N["cn_stake"][t], 1)
         if "cn_stake" in names.columns else "", _e(N["detail"][t]) if "detail" in names.columns else "")
        for t in flagged]) if flagged else "<p>No held name carries a China-nexus flag.</p>")

    # compliance
    parts.append("<h2>Compliance</h2>")
    parts.append(f"<p>Regulatory mode in force: <strong>{_e(b.compliance['regulatory_mode'])}</strong>. "
                 "Legal limits and the rulebook's buffered limits are both tested, whatever the mode.</p>")
    parts.append(_table(["check", "in force", "limit", "value", "result", "detail"], [
        (_e(c["name"]), "yes" if c["in_force"] else "no", _pct(c["limit"] or 0.0, 4), _pct(c["value"] or 0.0, 4),
         '<span class="pass">pass</span>' if c["passed"] else '<span class="fail">FAIL</span>', _e(c["detail"]))
        for c in b.compliance["checks"]], [False, False, True, True, False, False]))

    # changes
    parts.append("<h2>Changes versus the previous review</h2>")
    ann = b.announcement.sort_values("ticker")
    parts.append(_table(["ticker", "name", "action", "previous", "drifted", "new", "change", "reason"], [
        (_e(r.ticker), _e(r.name), _e(r.action), _pct(r.previous_weight, 4), _pct(r.drifted_weight, 4),
         _pct(r.new_weight, 4), _pct(r.change, 4), _e(r.reason)) for r in ann.itertuples(index=False)],
        [False, False, False, True, True, True, True, False]))

    # constituents
    parts.append("<h2>Pro-forma constituents</h2>")
    pf = b.proforma.sort_values("ticker")
    parts.append(_table(["ticker", "name", "country", "currency", *STAGES, "weight", "reference price", "index shares / 1M",
                         "fund shares"], [
        (_e(r.ticker), _e(r.name), _e(r.country), _e(r.currency), *[f"{getattr(r, s):.2f}" for s in STAGES],
         _pct(r.weight, 4), f"{r.reference_price:,.4f}", f"{r.index_shares_per_1m:,.4f}", f"{int(r.fund_shares):,}")
        for r in pf.itertuples(index=False)], [False, False, False, False, *[True] * len(STAGES), True, True, True, True]))

    # eligibility of every listing
    parts.append("<h2>Eligibility of every listing at the cut-off</h2>")
    parts.append(_table(["ticker", "name", "country", "eligible", "reason", "flags", "anchor u", "weight"], [
        (_e(t), _e(name_of[t]), _e(N["country"][t]), "yes" if bool(N["eligible"][t]) else "no",
         _e(N["reason"][t]), _e(N["flags"][t]), _pct(U.get(t, 0.0), 4), _pct(W.get(t, 0.0), 4))
        for t in sorted(f.index)], [False, False, False, False, False, False, True, True]))

    parts.append('<p class="meta">Reference prices are the closes on or before the data cut-off (the run only '
                 "sees data to the cut-off); index shares are weight × 1,000,000 / reference price in USD; fund "
                 "shares are rounded to board lots. Recompute shares from the weights at the implementation close. "
                 "Files in this folder are listed with their SHA-256 in <code>manifest.json</code>.</p>")
    parts.append("</body></html>\n")
    return "\n".join(parts)
