"""The deliverables of one review, computed in memory: pro-forma, trades, announcement,
compliance and summary (the conventions are in :mod:`exchina_index.publish.rebalance`).

Each deliverable has its own function; :func:`assemble` runs them in order and returns the
:class:`Bundle` the file writers (:mod:`exchina_index.publish.files`,
:mod:`exchina_index.publish.review_report`) render. Per-name facts are read from the review
record (:class:`~exchina_index.construction.record.ReviewNames`), never recomputed.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from exchina_index._text import usd
from exchina_index.construction.compliance import (
    DEFAULT_TOL,
    ComplianceCheck,
    RegulatoryLimits,
    check_caps,
    check_regulatory,
    rulebook_limits,
)
from exchina_index.construction.record import ReviewNames, ReviewReport, WeightResult
from exchina_index.errors import DataError
from exchina_index.publish.previous import Previous
from exchina_index.rules.methodology import STAGES, Methodology
from exchina_index.simulation.costs import one_way_cost_rate
from exchina_index.universe.loading import Universe

__all__ = [
    "Bundle",
    "assemble",
    "json_float",
    "CHANGE_THRESHOLD",
    "MIN_WEIGHT",
    "ZERO_TRADE",
    "ANNOUNCEMENT_COLUMNS",
    "PROFORMA_COLUMNS",
    "TRADES_COLUMNS",
    "rulebook_status",
]

#: A constituent whose weight moves by at least this much (1 basis point) is a ``CHANGE``.
CHANGE_THRESHOLD = 1e-4
#: A weight below this (the precision of the files) is solver residue: the name is not held.
MIN_WEIGHT = 1e-10
#: A trade smaller than this (in weight) is solver round-off and is reported as no trade.
ZERO_TRADE = 1e-12

ANNOUNCEMENT_COLUMNS: tuple[str, ...] = (
    "ticker",
    "isin",
    "name",
    "issuer",
    "country",
    "action",
    "previous_weight",
    "drifted_weight",
    "new_weight",
    "change",
    "previous_binding",
    "binding",
    "screen",
    "flags",
    "reason",
)
PROFORMA_COLUMNS: tuple[str, ...] = (
    "ticker",
    "isin",
    "figi",
    "name",
    "issuer",
    "country",
    "exchange",
    "currency",
    "price_unit",
    *STAGES,
    "weight",
    "binding",
    "reference_date",
    "reference_price",
    "reference_price_usd",
    "index_shares_per_1m",
    "lot_size",
    "fund_shares",
)
TRADES_COLUMNS: tuple[str, ...] = (
    "ticker",
    "isin",
    "name",
    "side",
    "drifted_weight",
    "target_weight",
    "trade_weight",
    "reference_price_usd",
    "trade_value_usd",
    "drifted_shares",
    "target_shares",
    "trade_shares",
    "adtv_usd",
    "cost_rate",
    "estimated_cost_usd",
    "days_to_trade",
)


@dataclass(frozen=True)
class Bundle:
    """Everything the writers need (all frames sorted by ticker)."""

    methodology: Methodology
    universe: Universe
    frame: pd.DataFrame  # the universe frame without attrs (fast scalar access)
    market: Any  # MarketData
    review: pd.Series  # the review's dates (cutoff, announce, proforma, implement, effective)
    requested: str
    aum: float
    report: ReviewReport
    weights: pd.Series
    announcement: pd.DataFrame
    proforma: pd.DataFrame
    trades: pd.DataFrame
    compliance: dict[str, Any]
    summary: dict[str, Any]
    previous: Previous | None

    @property
    def names(self) -> ReviewNames:
        """The review record's per-name facts."""
        return self.report.names


def json_float(x: Any, digits: int = 12) -> float | None:
    """A JSON-safe float rounded to ``digits`` decimals (``None`` for NaN or infinity).

    >>> json_float(0.1 + 0.2), json_float(float("inf")), json_float(-1e-15)
    (0.3, None, 0.0)
    """
    x = float(x)
    if not math.isfinite(x):
        return None
    r = round(x, digits)
    return 0.0 if r == 0 else r


def assemble(
    universe: Universe,
    market: Any,
    close_usd: pd.DataFrame,
    m: Methodology,
    review: pd.Series,
    aum: float,
    result: WeightResult,
    prev: Previous | None,
    drifted: pd.Series | None,
    as_of: Any,
) -> Bundle:
    """All deliverables of the review ``result``, from the previous portfolio ``prev`` drifted to
    the cut-off (``drifted``), for a fund of ``aum`` USD."""
    f = _plain(universe.frame)
    rep = result.report
    names = rep.names
    w = _constituent_weights(result.weights, f.index)
    zero = pd.Series(0.0, index=f.index)
    prev_w = prev.weights.reindex(f.index, fill_value=0.0) if prev is not None else zero
    drift = drifted.reindex(f.index, fill_value=0.0) if drifted is not None else zero
    px_local, px_usd = _reference_prices(market, close_usd, review["cutoff"], w)
    lots = _BoardLots(f["lot_size"].astype(float), aum)

    pf = _proforma(f, names, w, review["cutoff"], px_local, px_usd, lots, aum)
    tr = _trades(f, names, w, drift, px_usd, lots, aum, m)
    ann = _announcement(f, names, w, prev_w, drift, prev)
    compliance = _compliance(w, f, names, aum, m, review, rep)
    text = as_of.date().isoformat() if isinstance(as_of, pd.Timestamp) else str(as_of)
    return Bundle(
        methodology=m,
        universe=universe,
        frame=f,
        market=market,
        review=review,
        requested=text,
        aum=aum,
        report=rep,
        weights=w,
        announcement=ann,
        proforma=pf,
        trades=tr,
        compliance=compliance,
        summary=_summary(ann, tr, len(pf), prev is None, compliance, rep, aum),
        previous=prev,
    )


def rulebook_status(m: Methodology, implement: Any) -> dict[str, Any]:
    """``official``: the review is implemented on or after the rulebook's ``governance.effective``
    (``rulebook_effective``); before it, the review is a pro-forma under the new rules."""
    effective = pd.Timestamp(m.governance.effective)
    return {"official": bool(pd.Timestamp(implement) >= effective), "rulebook_effective": effective.date().isoformat()}


def _plain(frame: pd.DataFrame) -> pd.DataFrame:
    """A shallow copy without ``attrs`` (pandas deep-copies attrs on every operation: slow)."""
    out = frame.copy(deep=False)
    out.attrs = {}
    return out


def _constituent_weights(weights: pd.Series, index: pd.Index) -> pd.Series:
    """The index weights on ``index``; solver residue below :data:`MIN_WEIGHT` set to zero."""
    w = weights.reindex(index).fillna(0.0).astype(float)
    dust = (w > 0) & (w < MIN_WEIGHT)
    if dust.any():  # below the files' precision: not a constituent
        w = w.where(~dust, 0.0)
        w = w / w.sum()
    return w


def _reference_prices(
    market: Any, close_usd: pd.DataFrame, cutoff: pd.Timestamp, w: pd.Series
) -> tuple[pd.Series, pd.Series]:
    """The last local and USD prices on or before the cut-off; every held name must have one."""
    index = w.index
    usd_px = close_usd.loc[:cutoff].reindex(columns=index).ffill()
    local = market.close.loc[:cutoff].reindex(columns=index).ffill()
    px_usd = usd_px.iloc[-1] if len(usd_px) else pd.Series(np.nan, index=index)
    px_local = local.iloc[-1] if len(local) else pd.Series(np.nan, index=index)
    missing = [t for t in index[w > 0] if not (np.isfinite(px_usd.get(t, np.nan)) and px_usd[t] > 0)]
    if missing:
        raise DataError(f"no USD price at or before the cut-off {cutoff.date()} for held name(s) {', '.join(missing)}")
    return px_local, px_usd


@dataclass(frozen=True)
class _BoardLots:
    """Share counts rounded to each listing's board lot."""

    lot: pd.Series
    aum: float

    def __call__(self, x: pd.Series) -> pd.Series:
        size = self.lot.reindex(x.index)
        shares = (np.round(x / size) * size).fillna(0.0)
        too_big = shares.index[~(shares.abs() < 2.0**62)]  # int64 ends at 2**63; infinities and overflows
        if len(too_big):
            raise DataError(
                f"fund shares of {', '.join(map(str, too_big[:5]))} do not fit a 64-bit count "
                f"at AUM {usd(self.aum)} (reference price too small for this AUM); check the prices "
                "and the AUM"
            )
        return shares.astype(np.int64)


def _proforma(
    f: pd.DataFrame,
    names: ReviewNames,
    w: pd.Series,
    cutoff: pd.Timestamp,
    px_local: pd.Series,
    px_usd: pd.Series,
    lots: _BoardLots,
    aum: float,
) -> pd.DataFrame:
    """``proforma.csv``: the new constituents with reference prices, index shares and fund shares."""
    held = w.index[w > 0]
    return pd.DataFrame(
        {
            "ticker": held,
            "isin": _identifier(f, "isin", held),
            "figi": _identifier(f, "figi", held),
            "name": f.loc[held, "name"],
            "issuer": f.loc[held, "issuer"],
            "country": names.country.reindex(f.index)[held],
            "exchange": f.loc[held, "exchange"],
            "currency": f.loc[held, "currency"],
            "price_unit": f.loc[held, "price_unit"],
            **{s: names.exposure.loc[held, s] for s in STAGES},  # the split in force at the review
            "weight": w[held],
            "binding": names.binding.reindex(held).fillna("").astype(str),
            "reference_date": cutoff.date().isoformat(),
            "reference_price": px_local[held],
            "reference_price_usd": px_usd[held],
            "index_shares_per_1m": w[held] * 1e6 / px_usd[held],
            "lot_size": f.loc[held, "lot_size"].astype(np.int64),
            "fund_shares": lots(w[held] * aum / px_usd[held]),
        }
    ).reset_index(drop=True)


def _identifier(f: pd.DataFrame, column: str, tickers: pd.Index) -> pd.Series:
    """The ``isin`` or ``figi`` of ``tickers`` ("" when the universe has none), so vendor files can be matched."""
    return f[column].reindex(tickers).fillna("") if column in f else pd.Series("", index=tickers)


def _trades(
    f: pd.DataFrame,
    names: ReviewNames,
    w: pd.Series,
    drift: pd.Series,
    px_usd: pd.Series,
    lots: _BoardLots,
    aum: float,
    m: Methodology,
) -> pd.DataFrame:
    """``trades.csv``: from the drifted previous portfolio to the new weights, with costs and days."""
    touched = f.index[(w > 0) | (drift > 0)]
    trade = (w - drift)[touched]
    trade = trade.where(trade.abs() >= ZERO_TRADE, 0.0)  # solver round-off on names held at their drifted weight
    adtv = names.adtv_usd.reindex(touched).astype(float)
    rate = one_way_cost_rate(adtv, m.costs).reindex(touched)
    value = trade * aum
    price = px_usd.reindex(touched)
    with np.errstate(divide="ignore", invalid="ignore"):
        drifted_sh = lots((drift[touched] * aum / price).where(drift[touched] > 0, 0.0))
        target_sh = lots((w[touched] * aum / price).where(w[touched] > 0, 0.0))
        days = (value.abs() / (m.liquidity.participation * adtv)).where(value != 0, 0.0)
    days = days.where(~((value != 0) & ~(adtv > 0)), np.inf)
    return pd.DataFrame(
        {
            "ticker": touched,
            "isin": _identifier(f, "isin", touched),
            "name": f.loc[touched, "name"],
            "side": np.where(trade > 0, "BUY", np.where(trade < 0, "SELL", "NONE")),
            "drifted_weight": drift[touched],
            "target_weight": w[touched],
            "trade_weight": trade,
            "reference_price_usd": price,
            "trade_value_usd": value,
            "drifted_shares": drifted_sh,
            "target_shares": target_sh,
            "trade_shares": target_sh - drifted_sh,
            "adtv_usd": adtv,
            "cost_rate": rate,
            "estimated_cost_usd": rate * value.abs(),
            "days_to_trade": days,
        }
    ).reset_index(drop=True)


def _action(pw: float, nw: float, was_b: str | None, now_b: str) -> str:
    """``ADD``, ``DELETE``, ``CHANGE`` (weight moved or binding cap changed) or ``HOLD``."""
    if pw <= 0 < nw:
        return "ADD"
    if nw <= 0 < pw:
        return "DELETE"
    if abs(nw - pw) >= CHANGE_THRESHOLD or (was_b is not None and was_b != now_b):
        return "CHANGE"
    return "HOLD"


def _announcement(
    f: pd.DataFrame, names: ReviewNames, w: pd.Series, prev_w: pd.Series, drift: pd.Series, prev: Previous | None
) -> pd.DataFrame:
    """``announcement.csv``: every name held before or now, with its action and the reason."""
    union = f.index[(w > 0) | (prev_w > 0)]
    prev_bind = prev.binding.to_dict() if prev is not None and prev.binding is not None else None
    binding, reason_of = names.binding.to_dict(), names.reason.to_dict()
    eligible, flags = names.eligible.to_dict(), names.flags.to_dict()
    name_of, issuer_of, country_of = f["name"].to_dict(), f["issuer"].to_dict(), names.country.to_dict()
    isin_of = _identifier(f, "isin", f.index).to_dict()
    pw_of, nw_of, dw_of = prev_w.to_dict(), w.to_dict(), drift.to_dict()
    rows = []
    for t in union:
        pw, nw = float(pw_of[t]), float(nw_of[t])
        now_b = str(binding[t] or "")
        was_b = None if prev_bind is None else str(prev_bind.get(t, "") or "")
        action = _action(pw, nw, was_b, now_b)
        scr = str(reason_of[t])
        if action == "DELETE":
            reason = scr if not bool(eligible[t]) else "ZERO_WEIGHT"
        else:
            parts = [scr] if action == "ADD" else []
            parts.append(now_b or "uncapped")
            if action != "ADD" and was_b is not None and was_b != now_b:
                parts.append(f"was {was_b or 'uncapped'}")
            reason = "; ".join(parts)
        rows.append(
            {
                "ticker": t,
                "isin": isin_of[t],
                "name": name_of[t],
                "issuer": issuer_of[t],
                "country": country_of[t],
                "action": action,
                "previous_weight": pw,
                "drifted_weight": float(dw_of[t]),
                "new_weight": nw,
                "change": nw - pw,
                "previous_binding": "" if was_b is None else was_b,
                "binding": now_b,
                "screen": scr,
                "flags": str(flags[t]),
                "reason": reason,
            }
        )
    return pd.DataFrame(rows, columns=list(ANNOUNCEMENT_COLUMNS))


def _compliance(
    w: pd.Series, f: pd.DataFrame, names: ReviewNames, aum: float, m: Methodology, review: pd.Series, rep: ReviewReport
) -> dict[str, Any]:
    """``compliance.json``: every cap, and the RIC and UCITS tests (legal and rulebook-buffered)."""
    checks: list[dict[str, Any]] = []
    w = w[w != 0]  # the held names (a negative weight would stay and fail "long only")
    country = names.country.reindex(f.index)

    def add(group: str, c: ComplianceCheck, **extra: Any) -> None:
        checks.append(
            {
                "group": group,
                "name": c.name,
                "limit": json_float(c.limit),
                "value": json_float(c.value),
                "passed": bool(c.passed),
                "detail": c.detail,
                **extra,
            }
        )

    country_caps = {c: m.caps.country_cap(c) for c in sorted(country.dropna().unique())}
    for c in check_caps(
        w,
        caps=m.caps.single,
        issuers=f["issuer"],
        issuer_cap=m.caps.issuer,
        countries=country,
        country_caps=country_caps,
    ):
        add("caps", c, in_force=True)
    single = [c for c in check_caps(w, caps=names.liquidity_cap) if c.name == "single-name cap"][0]
    liq_check = dataclasses.replace(
        single,
        name="liquidity cap",
        detail=(
            f"weight x AUM <= {m.liquidity.participation:g} x ADTV x {m.liquidity.days_to_trade:g} days "
            f"at AUM {usd(aum)}; " + single.detail
        ),
    )
    add("caps", liq_check, in_force=True)

    mode = m.regulatory.mode
    for key, legal in (
        ("ric", RegulatoryLimits.ric()),
        ("ucits", RegulatoryLimits.ucits()),
        ("ucits_index", RegulatoryLimits.ucits_index()),
    ):
        buffered = rulebook_limits(m.regulatory, key, name=f"{legal.name} (rulebook buffer)")
        assert buffered is not None  # only the mode "none" has no limits
        for basis, limits in (("legal", legal), ("rulebook", buffered)):
            for c in check_regulatory(w, f["issuer"], limits):
                add("regulatory", c, rule=key, basis=basis, in_force=(mode == key))
    return {
        "implementation": review["implement"].date().isoformat(),
        "cutoff": review["cutoff"].date().isoformat(),
        "aum_usd": json_float(aum, 2),
        "regulatory_mode": mode,
        "tolerance": DEFAULT_TOL,
        "checks": checks,
        "all_in_force_passed": all(c["passed"] for c in checks if c["in_force"]),
        "relaxations": list(rep.relaxations),
        "binding_constraints": list(rep.binding_constraints),
    }


def _summary(
    ann: pd.DataFrame,
    tr: pd.DataFrame,
    constituents: int,
    initial: bool,
    compliance: dict[str, Any],
    rep: ReviewReport,
    aum: float,
) -> dict[str, Any]:
    """The manifest's ``summary``: counts of actions, turnover, trade values, costs, days to trade."""
    value = tr["trade_value_usd"]
    days = tr["days_to_trade"]
    finite_days = days[np.isfinite(days)]
    cost = float(tr["estimated_cost_usd"].sum())
    return {
        "constituents": int(constituents),
        "additions": int((ann["action"] == "ADD").sum()),
        "deletions": int((ann["action"] == "DELETE").sum()),
        "changes": int((ann["action"] == "CHANGE").sum()),
        "holds": int((ann["action"] == "HOLD").sum()),
        "initial": initial,
        "one_way_turnover": json_float(0.5 * float(np.abs(tr["trade_weight"].to_numpy()).sum())),
        "buy_value_usd": json_float(float(value[value > 0].sum()), 2),
        "sell_value_usd": json_float(float(-value[value < 0].sum()), 2),
        "estimated_cost_usd": json_float(cost, 2),
        "estimated_cost_bps_of_aum": json_float(cost / aum * 1e4, 6),
        "max_days_to_trade": json_float(float(finite_days.max()) if len(finite_days) else 0.0, 6),
        "names_without_adtv_traded": sorted(tr.loc[~np.isfinite(days), "ticker"].tolist()),
        "compliance_passed": bool(compliance["all_in_force_passed"]),
        "capacity_aum_usd": json_float(rep.capacity_aum, 2),
    }
