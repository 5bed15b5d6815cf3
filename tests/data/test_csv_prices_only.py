"""CSV files with prices only: volume is optional, share counts come from the reference history,
and the notes say what is missing (hand-made universes and values)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from exchina_index.data.csv_source import load_csv
from exchina_index.universe.history import empty_history
from exchina_index.universe.loading import Universe

DAYS = ["2024-01-02", "2024-01-03", "2024-01-04", "2024-01-05"]
#: The universe columns the CSV source reads (a hand-made frame: three NYSE listings in USD).
FRAME = pd.DataFrame(
    {
        "issuer": ["a", "b", "c"],
        "exchange": "XNYS",
        "currency": "USD",
        "price_unit": "USD",
        "listed_since": pd.Timestamp("2000-01-03"),
        "delisted": pd.NaT,
    },
    index=pd.Index(["AAA", "BBB", "CCC"], name="ticker"),
)


def _history(rows: list[tuple[str, float, str]]) -> pd.DataFrame:
    h = empty_history()
    recs = [
        {
            "ticker": t,
            "field": "shares_outstanding",
            "value": v,
            "from": pd.Timestamp(d),
            "to": pd.NaT,
            "source": "test",
            "notes": "",
            "line": k + 2,
        }
        for k, (t, v, d) in enumerate(rows)
    ]
    return pd.concat([h, pd.DataFrame(recs)], ignore_index=True) if recs else h


def _folder(tmp_path: Path, files: dict[str, str]) -> Path:
    for t, text in files.items():
        (tmp_path / f"{t}.csv").write_text(text, encoding="utf-8")
    return tmp_path


def _closes(values: list[float], extra: str = "", cells: list[str] | None = None) -> str:
    head = "date,close" + (f",{extra}" if extra else "")
    rows = [f"{d},{v}" + (f",{cells[i]}" if cells else "") for i, (d, v) in enumerate(zip(DAYS, values))]
    return "\n".join([head, *rows]) + "\n"


def test_date_and_close_only_load_with_a_note_on_the_missing_volume(tmp_path: Path) -> None:
    folder = _folder(tmp_path, {t: _closes([1.0, 2.0, 3.0, 4.0]) for t in ("AAA", "BBB", "CCC")})
    m = load_csv(FRAME, folder)
    assert m.facts == frozenset({"close"})
    assert m.volume.isna().all().all() and m.shares.isna().all().all()
    assert m.adtv_usd().isna().all()
    assert any("the data has no volume" in n and "liquidity caps" in n for n in m.notes)
    assert any("no share count" in n and "3 listing(s): AAA, BBB, CCC" in n for n in m.notes)


def test_some_files_with_volume_name_the_ones_without(tmp_path: Path) -> None:
    folder = _folder(
        tmp_path,
        {
            "AAA": _closes([1.0, 2.0, 3.0, 4.0], "volume", ["10", "10", "10", "10"]),
            "BBB": _closes([1.0, 2.0, 3.0, 4.0]),
            "CCC": _closes([1.0, 2.0, 3.0, 4.0], "volume", ["5", "", "5", "5"]),
        },
    )
    m = load_csv(FRAME, folder)
    assert "volume" in m.facts
    note = next(n for n in m.notes if n.startswith("no volume for"))
    assert "1 listing(s): BBB" in note and "NO_DATA" in note
    assert not any("the data has no volume" in n for n in m.notes)
    assert m.adtv_usd()["AAA"] == pytest.approx(10.0 * (1 + 2 + 3 + 4) / 4)  # close x volume, mean of 4 sessions


def test_reference_shares_are_as_of_counts_and_the_data_wins(tmp_path: Path) -> None:
    history = _history(
        [
            ("AAA", 100.0, "2024-01-03"),  # first entry after the first market date: unknown before it
            ("AAA", 300.0, "2024-01-05"),
            ("BBB", 50.0, "2020-01-01"),  # the data's own shares win
        ]
    )
    universe = Universe(frame=FRAME, links=pd.DataFrame(), history=history)
    folder = _folder(
        tmp_path,
        {
            "AAA": _closes([1.0, 2.0, 3.0, 4.0]),
            "BBB": _closes([1.0, 2.0, 3.0, 4.0], "shares", ["7", "", "", ""]),
            "CCC": _closes([1.0, 2.0, 3.0, 4.0]),
        },
    )
    m = load_csv(universe, folder)
    cap = m.market_cap_usd()
    # close x shares in force, by hand; before the first count (2024-01-03) none is known (no look-ahead)
    assert np.isnan(cap["AAA"].iloc[0]) and cap["AAA"].iloc[1:].tolist() == [200.0, 300.0, 1200.0]
    assert cap["BBB"].tolist() == [7.0, 14.0, 21.0, 28.0]
    assert cap["CCC"].isna().all()
    assert m.facts == frozenset({"close", "shares"})
    assert any("reference shares_outstanding" in n and "1 listing(s): AAA" in n for n in m.notes)
    assert any("no share count" in n and "1 listing(s): CCC" in n for n in m.notes)
    assert any("share counts start after the first price" in n and "AAA" in n for n in m.notes)
    # a frame (no history) gets no reference counts
    assert np.isnan(load_csv(FRAME, folder).market_cap_usd()["AAA"]).all()


def test_whether_the_data_has_volume_is_decided_per_cut_off(tmp_path: Path) -> None:
    # volumes only from the third session on: a review before then sees a prices-only market (its ADTV
    # screens are skipped), one after sees volumes; later rows cannot change the earlier review
    from exchina_index.data.features import feature_panel

    folder = _folder(
        tmp_path,
        {t: _closes([1.0, 2.0, 3.0, 4.0], "volume", ["", "", "10", "10"]) for t in ("AAA", "BBB", "CCC")},
    )
    m = load_csv(FRAME, folder)
    panel = feature_panel(m, [DAYS[1], DAYS[3]], window=2)
    assert panel.volume_known.tolist() == [False, True]
