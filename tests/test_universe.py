from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from exchina_index.errors import UniverseError
from exchina_index.universe import load_universe

FIXTURES = Path(__file__).parent / "fixtures"
MINI = FIXTURES / "mini_universe.csv"
LINKS = FIXTURES / "mini_china_links.csv"


def test_mini_universe_loads_typed() -> None:
    u = load_universe(MINI, LINKS)
    f = u.frame
    assert list(f.index) == sorted(f.index)
    assert f.loc["CCC.T", "lot_size"] == 100 and f.loc["BBB.L", "price_unit"] == "GBp"
    assert f.loc["EEE", "delisted"] == pd.Timestamp("2025-10-01") and pd.isna(f.loc["AAA", "delisted"])
    assert f["primary"].dtype == bool and f.loc["AAA.AX", "primary"] == False  # noqa: E712
    assert len(u.links) == 6 and u.links["to"].isna().sum() == 3
    assert u.fingerprint == load_universe(MINI, LINKS).fingerprint


def test_links_in_force_are_point_in_time() -> None:
    u = load_universe(MINI, LINKS)
    assert set(u.links_in_force("2023-06-01")["counterparty"]) >= {"Some State Fund", "Another Fund"}
    assert "Some State Fund" not in set(u.links_in_force("2024-06-30")["counterparty"])  # `to` is exclusive
    assert "Shenghe (Singapore)" not in set(u.links_in_force("2025-08-31")["counterparty"])


def _mutate(tmp_path: Path, line_no: int, old: str, new: str, *, links: bool = False) -> tuple[Path, Path]:
    """Copy the mini files, replacing `old` by `new` on physical line `line_no` of one of them."""
    src = LINKS if links else MINI
    lines = src.read_text().splitlines(keepends=True)
    assert old in lines[line_no - 1], (old, lines[line_no - 1])
    lines[line_no - 1] = lines[line_no - 1].replace(old, new, 1)
    u, lk = tmp_path / "u.csv", tmp_path / "l.csv"
    u.write_text(MINI.read_text() if links else "".join(lines))
    lk.write_text("".join(lines) if links else LINKS.read_text())
    return u, lk


# (physical line, old text, new text, column named in the error, words in the message)
BAD_UNIVERSE = [
    (2, "float_factor,", "", "float_factor", "missing column"),
    (2, ",notes", ",notes,colour", "colour", "unknown column"),
    (3, "AAA,Alpha", "AAA BBB,Alpha", "ticker", "one Yahoo symbol"),
    (4, "AAA.AX,", "AAA,", "ticker", "duplicate ticker"),
    (3, ",1,0,0,0.9,", ",0.9,0,0,0.9,", "mining", "sum to"),
    (5, ",0.2,0.8,0,", ",0.2,0.8,0.0000001,", "mining", "sum to"),
    (3, ",0.9,2010", ",1.4,2010", "purity", "outside [0, 1]"),
    (3, ",0.9,2010", ",high,2010", "purity", "not a number"),
    (3, "2010-01-04", "04/01/2010", "listed_since", "ISO date"),
    (3, ",US,US,XNYS", ",XX,US,XNYS", "domicile", "ISO 3166"),
    (3, ",USD,USD,", ",USX,USD,", "currency", "ISO 4217"),
    (3, ",XNYS,", ",NYSE,", "exchange", "MIC"),
    (3, ",mining,test", ",minning,test", "activities", "unknown activity"),
    (4, ",false,", ",true,", "primary", "primary listings"),
    (3, ",true,", ",yes,", "primary", "true or false"),
    (5, ",GBP,GBp,", ",GBP,USD,", "price_unit", "does not match"),
    (8, "2020-11-17,2025-10-01", "2020-11-17,2019-10-01", "delisted", "not after"),
    (3, ",test,", ",,", "source", "empty"),
    (6, ",100,1.0,", ",100.5,1.0,", "lot_size", "whole number"),
]


@pytest.mark.parametrize(("line", "old", "new", "column", "words"), BAD_UNIVERSE)
def test_bad_universe_names_file_line_and_column(tmp_path: Path, line: int, old: str, new: str, column: str, words: str) -> None:
    u, lk = _mutate(tmp_path, line, old, new)
    with pytest.raises(UniverseError) as err:
        load_universe(u, lk)
    e = err.value
    assert e.path == u and e.column == column and words in str(e)
    expected_line = 2 if line == 2 else (3 if words == "primary listings" else line)
    assert e.line == expected_line, str(e)


BAD_LINKS = [
    (3, "AAA,Some", "ZZZ,Some", "ticker", "not in the universe"),
    (3, "state_linked_shareholder", "state_owned", "kind", "unknown link kind"),
    (3, ",0.10,", ",1.10,", "stake", "outside [0, 1]"),
    (3, "2020-01-01,2024-06-30", "2020-01-01,2019-06-30", "to", "not after"),
    (3, "2020-01-01", "2020-13-01", "from", "ISO date"),
    (2, ",notes", "", "notes", None),  # notes is optional: loads fine
]


@pytest.mark.parametrize(("line", "old", "new", "column", "words"), BAD_LINKS)
def test_bad_links_name_file_line_and_column(tmp_path: Path, line: int, old: str, new: str, column: str, words: str | None) -> None:
    u, lk = _mutate(tmp_path, line, old, new, links=True)
    if words is None:
        with pytest.raises(UniverseError, match="fields"):  # header lost a column, rows did not
            load_universe(u, lk)
        return
    with pytest.raises(UniverseError) as err:
        load_universe(u, lk)
    assert err.value.path == lk and err.value.column == column and err.value.line == line and words in str(err.value)


def test_row_with_wrong_field_count(tmp_path: Path) -> None:
    u, lk = _mutate(tmp_path, 6, ",magnets,test,", ",magnets,test,extra,")
    with pytest.raises(UniverseError, match="fields") as err:
        load_universe(u, lk)
    assert err.value.line == 6


def test_missing_and_empty_files(tmp_path: Path) -> None:
    with pytest.raises(UniverseError, match="not found"):
        load_universe(tmp_path / "nope.csv")
    empty = tmp_path / "empty.csv"
    empty.write_text("# only a comment\n")
    with pytest.raises(UniverseError, match="empty"):
        load_universe(empty)
