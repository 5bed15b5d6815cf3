"""The reserve list: names not held that fail only an entry threshold and pass the retention ones."""

from __future__ import annotations

from types import SimpleNamespace

import pandas as pd

from exchina_index.construction.reserves import reserve_list
from exchina_index.rules.methodology import load_methodology

# entry $150M / $500k, retention $75M / $250k, written out so the bundled rulebook cannot move them
M = load_methodology().with_overrides(
    {
        "size": {
            "market_cap_entry_usd": 150e6,
            "market_cap_retention_usd": 75e6,
            "adtv_entry_usd": 500e3,
            "adtv_retention_usd": 250e3,
        }
    }
)
NaN = float("nan")


def names(rows: dict[str, tuple[str, float, float, float]]) -> SimpleNamespace:
    """``rows``: ticker -> (reason, market cap, ADTV, weight), as the fields of ReviewNames."""
    col = [pd.Series({t: v[i] for t, v in rows.items()}) for i in range(4)]
    return SimpleNamespace(reason=col[0], market_cap_usd=col[1], adtv_usd=col[2], weight=col[3])


def test_reserve_names_and_their_order() -> None:
    out = reserve_list(
        names(
            {
                "HELD": ("OK", 5e9, 9e6, 1.0),
                "SMALL_100M": ("SIZE_BELOW_ENTRY", 100e6, 1e6, 0.0),
                "SMALL_140M": ("SIZE_BELOW_ENTRY", 140e6, 600e3, 0.0),
                "AT_RETENTION": ("SIZE_BELOW_ENTRY", 75e6, 250e3, 0.0),  # at the threshold: passes
                "BELOW_RETENTION": ("SIZE_BELOW_ENTRY", 75e6 - 1, 1e6, 0.0),
                "THIN_BIG": ("ADTV_BELOW_ENTRY", 2e9, 300e3, 0.0),
                "TOO_THIN": ("ADTV_BELOW_ENTRY", 2e9, 250e3 - 1, 0.0),
                "SMALL_AND_TOO_THIN": ("SIZE_BELOW_ENTRY", 120e6, 200e3, 0.0),  # ADTV below retention
                "CHINA": ("CN_DOMICILE", 9e9, 9e6, 0.0),
                "SHORT": ("SHORT_HISTORY", 9e9, 9e6, 0.0),
                "RETAINED": ("SIZE_BELOW_ENTRY", 100e6, 1e6, 0.05),  # held: not a reserve
            }
        ),
        M,
    )
    assert out == ("THIN_BIG", "SMALL_140M", "SMALL_100M", "AT_RETENTION")


def test_skipped_screens_count_as_passing_and_ties_sort_by_ticker() -> None:
    out = reserve_list(
        names(
            {
                "B": ("SIZE_BELOW_ENTRY", 100e6, NaN, 0.0),  # prices-only data: ADTV screen skipped
                "A": ("SIZE_BELOW_ENTRY", 100e6, 1e6, 0.0),
                "NO_CAP": ("ADTV_BELOW_ENTRY", NaN, 300e3, 0.0),  # size screen skipped: last
            }
        ),
        M,
    )
    assert out == ("A", "B", "NO_CAP")


def test_no_reserve() -> None:
    assert reserve_list(names({"X": ("OK", 1e9, 1e6, 1.0)}), M) == ()
