from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from exchina_index._resources import bundled_path
from exchina_index.construction.screens import screen
from exchina_index.errors import UniverseError
from exchina_index.universe.loading import LINK_COLUMNS, load_universe

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
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
def test_bad_universe_names_file_line_and_column(
    tmp_path: Path, line: int, old: str, new: str, column: str, words: str
) -> None:
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
def test_bad_links_name_file_line_and_column(
    tmp_path: Path, line: int, old: str, new: str, column: str, words: str | None
) -> None:
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


# --- the China-link table is required (a forgotten file must not switch the China screen off) ---


def _universe_alone(tmp_path: Path, links_text: str | None = None) -> Path:
    """The bundled universe copied to tmp_path, with a china_links.csv beside it holding links_text."""
    u = tmp_path / "u.csv"
    u.write_text(bundled_path("allied_supply_chain.csv").read_text())
    if links_text is not None:
        (tmp_path / "china_links.csv").write_text(links_text)
    return u


def test_missing_links_file_is_an_error_naming_the_expected_path(tmp_path: Path) -> None:
    u = _universe_alone(tmp_path)
    with pytest.raises(UniverseError, match="allow_no_links=True") as err:
        load_universe(u)
    assert str(tmp_path / "china_links.csv") in str(err.value) and "does not exist" in str(err.value)
    with pytest.raises(UniverseError, match="file not found"):  # an explicit path must exist, whatever the flag
        load_universe(u, tmp_path / "other.csv", allow_no_links=True)


@pytest.mark.parametrize(
    "text", ["", "# links to come\n\n", ",".join(LINK_COLUMNS) + "\n"], ids=["empty", "comments only", "header only"]
)
def test_empty_links_file_is_an_error(tmp_path: Path, text: str) -> None:
    u = _universe_alone(tmp_path, text)
    with pytest.raises(UniverseError, match="holds no China links"):
        load_universe(u)


def test_allow_no_links_screens_without_links_and_says_so(tmp_path: Path) -> None:
    # Peak Rare Earths: Shenghe's 19.9 % stake (bundled links) -> FLAG_CN_STAKE before the takeover;
    # with no links at all it is an ordinary Australian miner. The caller has to ask for that explicitly.
    bundled = load_universe()
    assert screen(bundled, "2025-08-15").loc["PEK.AX", "reason"] == "FLAG_CN_STAKE" and bundled.notes == ()
    u = load_universe(_universe_alone(tmp_path), allow_no_links=True)
    assert u.links.empty and u.links_path is None
    without = [n for n in u.notes if "without links" in n]
    assert len(without) == 1 and "china_links.csv" in without[0]
    assert screen(u, "2025-08-15").loc["PEK.AX", "reason"] == "OK"
    # a links file that is there is read even with the flag
    with_file = load_universe(
        _universe_alone(tmp_path, bundled_path("china_links.csv").read_text()), allow_no_links=True
    )
    assert len(with_file.links) == len(bundled.links) and not any("without links" in n for n in with_file.notes)


def test_byte_order_mark_is_accepted_in_both_files(tmp_path: Path) -> None:
    u, lk = tmp_path / "u.csv", tmp_path / "l.csv"
    u.write_bytes(b"\xef\xbb\xbf" + MINI.read_bytes())
    lk.write_bytes(b"\xef\xbb\xbf" + LINKS.read_bytes())
    plain = load_universe(MINI, LINKS)
    got = load_universe(u, lk)
    pd.testing.assert_frame_equal(got.frame, plain.frame)
    pd.testing.assert_frame_equal(got.links, plain.links)


def test_undecodable_file_names_the_line_of_the_bad_byte(tmp_path: Path) -> None:
    text = MINI.read_text().replace("Gamma Magnets", "Gamma Magn\u00e9ts")
    u = tmp_path / "u.csv"
    u.write_bytes(text.encode("latin-1"))  # é as one byte 0xe9 on line 6
    with pytest.raises(UniverseError, match="not UTF-8") as err:
        load_universe(u, LINKS)
    assert err.value.line == 6 and err.value.path == u


def test_field_over_the_csv_limit_is_an_error_with_its_line(tmp_path: Path) -> None:
    u, lk = _mutate(tmp_path, 5, "Beta Refining", "B" * 140_000)
    with pytest.raises(UniverseError, match="longer than 131,072 characters") as err:
        load_universe(u, lk)
    assert err.value.line == 5
    u, lk = _mutate(tmp_path, 4, "AAA,Another", 'AAA,"Another', links=True)  # an unclosed quote swallows the rest
    (tmp_path / "l.csv").write_text(lk.read_text() + ("x" * 1000 + "\n") * 200)
    with pytest.raises(UniverseError, match="longer than") as err:
        load_universe(u, lk)
    assert err.value.line == 4


@pytest.mark.parametrize("bad", ["20100104", "2010-W01-1", "2010-01-04T00:00", "1899-12-31"])
def test_dates_must_be_plain_iso_dates(tmp_path: Path, bad: str) -> None:
    # datetime.date.fromisoformat (Python 3.11) accepts the first three
    u, lk = _mutate(tmp_path, 3, "2010-01-04", bad)
    with pytest.raises(UniverseError, match="not an ISO date") as err:
        load_universe(u, lk)
    assert err.value.line == 3 and err.value.column == "listed_since"


@pytest.mark.parametrize("args", [(5,), (MINI, 5), ({},)])
def test_paths_must_be_paths(args: tuple) -> None:
    with pytest.raises(UniverseError, match="must be a file path"):
        load_universe(*args)


def test_issuer_facts_must_agree_across_its_lines(tmp_path: Path) -> None:
    # AAA.AX is the ASX line of issuer alpha (AAA): a different purity on it is refused, naming its line
    text = MINI.read_text().replace(
        "AAA.AX,Alpha Mining ASX,alpha,false,US,US,XASX,AUD,AUD,1,1.0,1,0,0,0.9,",
        "AAA.AX,Alpha Mining ASX,alpha,false,US,US,XASX,AUD,AUD,1,1.0,1,0,0,0.8,",
    )
    assert text != MINI.read_text()
    (tmp_path / "u.csv").write_text(text, encoding="utf-8")
    with pytest.raises(UniverseError, match=r"u\.csv, line \d+, column 'purity'.*issuer 'alpha'"):
        load_universe(tmp_path / "u.csv", LINKS)
