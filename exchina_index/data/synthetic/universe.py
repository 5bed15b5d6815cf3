"""Fake universe frames of any size, with the columns of the real one, for benchmarks and tests.

:func:`synthetic_universe` spreads listings over the allied exchanges, currencies, supply-chain
stages and countries; :func:`~exchina_index.data.synthetic.generate_market` then gives them a market.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from exchina_index.data.synthetic.seeds import stable_seed
from exchina_index.universe.loading import UNIVERSE_COLUMNS

__all__ = ["synthetic_universe"]

_SYN_EXCHANGES: tuple[tuple[str, str, str, str, str, float], ...] = (
    # MIC, suffix, currency, price unit, country, weight
    ("XASX", ".AX", "AUD", "AUD", "AU", 0.32),
    ("XTSX", ".V", "CAD", "CAD", "CA", 0.12),
    ("XTSE", ".TO", "CAD", "CAD", "CA", 0.07),
    ("XCNQ", ".CN", "CAD", "CAD", "CA", 0.03),
    ("XNYS", "", "USD", "USD", "US", 0.07),
    ("XNAS", "", "USD", "USD", "US", 0.07),
    ("XASE", "", "USD", "USD", "US", 0.03),
    ("OTCM", "", "USD", "USD", "US", 0.04),
    ("XLON", ".L", "GBP", "GBp", "GB", 0.10),
    ("XTKS", ".T", "JPY", "JPY", "JP", 0.10),
    ("XBRU", ".BR", "EUR", "EUR", "BE", 0.02),
    ("XAMS", ".AS", "EUR", "EUR", "NL", 0.03),
)
_STAGE_TEMPLATES: tuple[tuple[float, float, float, str], ...] = (
    (1.0, 0.0, 0.0, "mining"),
    (0.5, 0.5, 0.0, "mining;separation"),
    (0.0, 1.0, 0.0, "separation"),
    (0.0, 0.0, 1.0, "magnets"),
    (0.0, 0.4, 0.6, "separation;metals_alloys;magnets"),
    (0.4, 0.35, 0.25, "mining;separation;metals_alloys;magnets"),
    (0.0, 0.0, 1.0, "recycling"),
)


def synthetic_universe(n: int, seed: int = 0) -> pd.DataFrame:
    """A fake universe frame of ``n`` listings with the columns of the real one (for benchmarks).

    Tickers look like ``SYN0001.AX``; listings spread over the allied exchanges, currencies, stages
    and countries; about one issuer in ten also has an OTC line (``primary=False``). Deterministic in
    ``(n, seed)``.

    Examples
    --------
    >>> u = synthetic_universe(5)
    >>> len(u), u.index[0][:3]
    (5, 'SYN')
    """
    if n < 1:
        raise ValueError("n must be >= 1")
    r = np.random.default_rng(stable_seed(seed, "synthetic_universe"))
    width = max(4, len(str(n)))
    records = []
    k = 0
    issuer_no = 0
    while k < n:
        issuer_no += 1
        mic, suffix, cur, unit, since, base = _draw_issuer(r, f"syn_{issuer_no:0{width}d}")
        k += 1
        records.append(
            {
                "ticker": f"SYN{k:0{width}d}{suffix}",
                "name": f"Synthetic Listing {k}",
                "primary": True,
                "exchange": mic,
                "currency": cur,
                "price_unit": unit,
                "listed_since": since,
                **base,
            }
        )
        if k < n and mic != "OTCM" and r.uniform() < 0.1:
            k += 1
            records.append(
                {
                    "ticker": f"SYN{k:0{width}d}",
                    "name": f"Synthetic Listing {k} (OTC line)",
                    "primary": False,
                    "exchange": "OTCM",
                    "currency": "USD",
                    "price_unit": "USD",
                    "listed_since": max(since, pd.Timestamp("2010-01-01")),
                    **base,
                    "lot_size": 1,
                }
            )
    out = pd.DataFrame.from_records(records, columns=list(UNIVERSE_COLUMNS)).set_index("ticker").sort_index()
    out["listed_since"] = pd.to_datetime(out["listed_since"]).astype("datetime64[s]")
    out["delisted"] = pd.to_datetime(out["delisted"]).astype("datetime64[s]")
    out["verified"] = pd.to_datetime(out["verified"])
    out["lot_size"] = out["lot_size"].astype("int64")
    return out


def _draw_issuer(r: np.random.Generator, issuer: str) -> tuple[str, str, str, str, pd.Timestamp, dict[str, Any]]:
    """One issuer's exchange, listing date and the columns its lines share (the draws' order is
    part of the seed's meaning: do not reorder)."""
    weights = np.array([e[5] for e in _SYN_EXCHANGES])
    mic, suffix, cur, unit, country, _ = _SYN_EXCHANGES[int(r.choice(len(_SYN_EXCHANGES), p=weights / weights.sum()))]
    tmpl = _STAGE_TEMPLATES[int(r.integers(len(_STAGE_TEMPLATES)))]
    purity = float(np.round(r.uniform(0.02, 1.0) ** 0.5, 2))
    if r.uniform() < 0.6:
        since = pd.Timestamp("2000-01-01")
    else:
        since = pd.Timestamp("2005-01-01") + pd.Timedelta(days=int(r.integers(0, 20 * 365)))
    delisted = pd.NaT
    if r.uniform() < 0.03:
        delisted = since + pd.Timedelta(days=int(r.integers(400, 6000)))
    base = {
        "issuer": issuer,
        "domicile": country,
        "hq": country,
        "lot_size": 100 if mic == "XTKS" else 1,
        "float_factor": float(np.round(r.uniform(0.5, 1.0), 2)),
        "mining": tmpl[0],
        "refining": tmpl[1],
        "manufacturing": tmpl[2],
        "purity": purity,
        "delisted": delisted,
        "activities": tmpl[3],
        "isin": "",  # synthetic listings have no identifiers
        "figi": "",
        "unconfirmed": "",
        "source": "synthetic",
        "notes": "",
    }
    return mic, suffix, cur, unit, since, base
