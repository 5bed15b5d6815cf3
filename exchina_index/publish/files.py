"""The bytes of a review folder's files: CSV and JSON rendering, the manifest last.

Rows sorted by ticker, fixed float formats (weights ``%.10f``), JSON with sorted keys, two-space
indentation and floats rounded to 12 significant digits, no timestamps except the manifest's
``run_at``; solver timings are never written. Same review, same bytes.
"""

from __future__ import annotations

import csv
import datetime
import hashlib
import io
import json
import math
import numbers
import sys
from typing import Any

import numpy as np
import pandas as pd

from exchina_index.publish.deliverables import (
    ANNOUNCEMENT_COLUMNS,
    PROFORMA_COLUMNS,
    TRADES_COLUMNS,
    Bundle,
    json_float,
    rulebook_status,
)
from exchina_index.publish.review_report import render_report
from exchina_index.rules.methodology import STAGES

__all__ = ["FILES", "render_files", "call_record", "canonical_json", "software_versions"]

#: Files of a review folder, in the order they are written (the manifest last).
FILES: tuple[str, ...] = (
    "announcement.csv",
    "proforma.csv",
    "trades.csv",
    "compliance.json",
    "report.html",
    "manifest.json",
)
_W = "%.10f"
_FORMATS: dict[str, str] = {
    "previous_weight": _W,
    "drifted_weight": _W,
    "new_weight": _W,
    "change": _W,
    "weight": _W,
    "target_weight": _W,
    "trade_weight": _W,
    **{s: "%.6f" for s in STAGES},
    # significant digits, not decimals: ASX juniors trade at a few cents
    "reference_price": "%.10g",
    "reference_price_usd": "%.10g",
    "index_shares_per_1m": "%.10g",
    "trade_value_usd": "%.2f",
    "adtv_usd": "%.2f",
    "cost_rate": "%.6f",
    "estimated_cost_usd": "%.2f",
    "days_to_trade": "%.4f",
}


def _fmt(value: Any, fmt: str | None) -> str:
    """One CSV cell: empty for missing, ``true``/``false``, integers as such, floats in ``fmt``."""
    if value is None:
        return ""
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, (numbers.Integral,)) and not isinstance(value, bool):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        x = float(value)
        if math.isnan(x):
            return ""
        if math.isinf(x):
            return "inf" if x > 0 else "-inf"
        s = (fmt or "%.10g") % x
        if s.startswith("-") and not s.strip("-0."):
            s = s[1:]  # no negative zero
        return s
    if isinstance(value, pd.Timestamp):
        return value.date().isoformat()
    return str(value)


def _csv(frame: pd.DataFrame, columns: tuple[str, ...]) -> bytes:
    """A deliverable as CSV bytes: ``columns`` in order, rows sorted by ticker."""
    buf = io.StringIO()
    wr = csv.writer(buf, lineterminator="\n")
    wr.writerow(columns)
    frame = frame.sort_values("ticker", kind="stable") if len(frame) else frame
    for row in frame[list(columns)].itertuples(index=False):
        wr.writerow([_fmt(v, _FORMATS.get(c)) for c, v in zip(columns, row)])
    return buf.getvalue().encode("utf-8")


def canonical_json(obj: Any) -> bytes:
    """Canonical JSON: sorted keys, floats rounded to 12 significant digits so that solver noise in
    the last bits (1e-17) never changes the published bytes."""
    # a path holding bytes that are not UTF-8 (a surrogate escape) is written as its \\udcXX escape
    return (
        json.dumps(_round_floats(obj), indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False) + "\n"
    ).encode("utf-8", "backslashreplace")


def _round_floats(obj: Any) -> Any:
    if isinstance(obj, float):
        return float(f"{obj:.12g}")
    if isinstance(obj, dict):
        return {k: _round_floats(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_round_floats(v) for v in obj]
    return obj


def software_versions(solver: str) -> dict[str, Any]:
    """Versions of the package, Python, pandas, numpy, cvxpy and ``solver`` (for manifests)."""
    from importlib import metadata

    from exchina_index._version import __version__

    def ver(dist: str) -> str | None:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return None

    solver_dist = {
        "CLARABEL": "clarabel",
        "SCS": "scs",
        "ECOS": "ecos",
        "OSQP": "osqp",
        "HIGHS": "highspy",
        "MOSEK": "mosek",
        "GUROBI": "gurobipy",
        "CVXOPT": "cvxopt",
    }.get(str(solver).upper())
    return {
        "exchina_index": __version__,
        "python": sys.version.split()[0],
        "pandas": pd.__version__,
        "numpy": np.__version__,
        "cvxpy": ver("cvxpy"),
        "solver": str(solver),
        "solver_version": ver(solver_dist) if solver_dist else None,
    }


def call_record(as_of: Any, aum: Any, previous: Any, force: bool, methodology: Any) -> dict[str, Any]:
    """The Python call's arguments, for the manifest of a run not made from the command line (without
    the output folder, so runs into different folders match)."""
    prev = None if previous is None else ("<Series>" if isinstance(previous, pd.Series) else str(previous))
    return {
        "function": "exchina_index.publish.rebalance",
        "as_of": as_of.date().isoformat() if isinstance(as_of, pd.Timestamp) else str(as_of),
        "aum": None if aum is None else str(aum),
        "previous": prev,
        "force": bool(force),
        "methodology": None if methodology is None else getattr(methodology, "source", None),
    }


def render_files(b: Bundle, *, command_line: str | None, call: dict[str, Any]) -> dict[str, bytes]:
    """All file contents, in memory; the manifest last, with the hashes of the others.

    ``command_line`` (the CLI's) is recorded in the manifest; without one, ``call``
    (:func:`call_record`).
    """
    files: dict[str, bytes] = {
        "announcement.csv": _csv(b.announcement, ANNOUNCEMENT_COLUMNS),
        "proforma.csv": _csv(b.proforma, PROFORMA_COLUMNS),
        "trades.csv": _csv(b.trades, TRADES_COLUMNS),
        "compliance.json": canonical_json(b.compliance),
        "report.html": render_report(b).encode("utf-8", "backslashreplace"),
    }
    manifest = _manifest(b, files)
    if command_line is not None:
        manifest["command_line"] = command_line
    else:
        manifest["call"] = call
    files["manifest.json"] = canonical_json(manifest)
    return files


def _manifest(b: Bundle, files: dict[str, bytes]) -> dict[str, Any]:
    """The manifest: the review's dates, versions and hashes of every input and of ``files``."""
    mk = b.market
    rv = b.review
    rep = b.report
    close_index = mk.close.index
    return {
        "schema": "exchina-index/rebalance-manifest/1",
        "index": b.methodology.name,
        "review": {
            "requested_as_of": b.requested,
            **{
                k: pd.Timestamp(rv[c]).date().isoformat()
                for k, c in (
                    ("cutoff", "cutoff"),
                    ("announcement", "announce"),
                    ("proforma", "proforma"),
                    ("implementation", "implement"),
                    ("effective", "effective"),
                )
            },
        },
        "aum_usd": json_float(b.aum, 2),
        "methodology": {
            "version": b.methodology.version,
            "hash": b.methodology.hash,
            "regulatory_mode": b.methodology.regulatory.mode,
        },
        "universe": {
            "fingerprint": b.universe.fingerprint,
            "listings": len(b.universe.frame),
            "notes": list(b.universe.notes),
        },
        "data": {
            "source": str(mk.source),
            "synthetic": bool(mk.synthetic),
            "start": pd.Timestamp(close_index[0]).date().isoformat(),
            "end": pd.Timestamp(close_index[-1]).date().isoformat(),
            "used_through": pd.Timestamp(rv["cutoff"]).date().isoformat(),
            "fingerprint": str(getattr(mk, "fingerprint", "")),
            "notes": list(mk.notes),
        },
        "previous": None
        if b.previous is None
        else {
            "source": b.previous.source,
            "implementation": b.previous.date.date().isoformat(),
            "sha256": b.previous.sha256,
        },
        "software": software_versions(rep.solver),
        "solver": {"name": str(rep.solver), "status": str(rep.status), "fallback_used": bool(rep.fallback_used)},
        "relaxations": list(rep.relaxations),
        "binding_constraints": list(rep.binding_constraints),
        **rulebook_status(b.methodology, rv["implement"]),
        "purity": {key: json_float(value, 12) for key, value in sorted(rep.purity.items())},
        "stage_band": json_float(rep.stage_band, 12),
        "governance": list(rep.governance),
        "decisions": list(rep.decisions),
        "reserve": list(rep.reserve),
        "summary": b.summary,
        "files": {name: hashlib.sha256(data).hexdigest() for name, data in sorted(files.items())},
        "run_at": _now(),
    }


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
