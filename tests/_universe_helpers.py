"""Stand-in universe frames for tests that only need the columns, not the bundled data."""

from __future__ import annotations

import pandas as pd

from exchina_index.universe.loading import UNIVERSE_COLUMNS

COLUMNS = [c for c in UNIVERSE_COLUMNS if c != "ticker"]


def make_universe(rows: dict[str, dict]) -> pd.DataFrame:
    """A universe frame with the real columns; only the fields given per ticker matter."""
    recs = []
    for t, r in rows.items():
        base = {
            "name": t,
            "issuer": t.lower(),
            "primary": True,
            "domicile": "US",
            "hq": "US",
            "exchange": "XNYS",
            "currency": "USD",
            "price_unit": "USD",
            "lot_size": 1,
            "isin": "",
            "figi": "",
            "float_factor": 1.0,
            "mining": 1.0,
            "refining": 0.0,
            "manufacturing": 0.0,
            "purity": 0.9,
            "listed_since": "2000-01-01",
            "delisted": None,
            "activities": "mining",
            "verified": None,
            "unconfirmed": "",
            "source": "test",
            "notes": "",
        }
        base.update(r)
        recs.append({"ticker": t, **base})
    f = pd.DataFrame.from_records(recs).set_index("ticker").sort_index()[COLUMNS]
    f["listed_since"] = pd.to_datetime(f["listed_since"])
    f["delisted"] = pd.to_datetime(f["delisted"])
    f["verified"] = pd.to_datetime(f["verified"])
    return f
