"""CSV market data: round trips (folder and long file) and one DataError per kind of bad input."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _universe_helpers import make_universe

from exchina_index.data import load_market_data
from exchina_index.data.csv_source import load_csv
from exchina_index.data.demo import generate_market
from exchina_index.errors import DataError

UNI = make_universe(
    {
        "MP": {},
        "LYC.AX": {"exchange": "XASX", "currency": "AUD", "price_unit": "AUD", "domicile": "AU", "hq": "AU"},
        "PRE.L": {"exchange": "XLON", "currency": "GBP", "price_unit": "GBp", "domicile": "GB", "hq": "GB"},
    }
)


@pytest.fixture(scope="module")
def original():
    """A small synthetic market (three exchanges, a GBp line) to write out and read back."""
    return generate_market(UNI, "2024-01-01", "2024-06-30", seed=7)


def write_folder(m, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for t in m.tickers:
        unit = 100.0 if UNI.at[t, "price_unit"] == "GBp" else 1.0
        rows = m.close[t].notna() | (m.dividends[t] != 0)
        df = pd.DataFrame(
            {
                "date": m.close.index[rows].strftime("%Y-%m-%d"),
                "close": (m.close[t][rows] * unit).map(repr),
                "volume": m.volume[t][rows].map(lambda v: "" if np.isnan(v) else f"{v:.0f}"),
                "dividend": (m.dividends[t][rows] * unit).map(repr),
                "shares": m.shares[t][rows].map(lambda v: "" if np.isnan(v) else f"{v:.0f}"),
            }
        )
        df.to_csv(folder / f"{t}.csv", index=False)
    fx = m.fx.drop(columns="USD")
    fx.index = fx.index.strftime("%Y-%m-%d")
    fx.rename_axis("date").to_csv(folder / "fx.csv")
    return folder


def assert_same_market(a, b) -> None:
    pd.testing.assert_frame_equal(a.close, b.close, check_exact=False, rtol=1e-12)
    pd.testing.assert_frame_equal(a.volume, b.volume)
    pd.testing.assert_frame_equal(a.dividends, b.dividends, check_exact=False, rtol=1e-12)
    pd.testing.assert_frame_equal(a.shares, b.shares)
    pd.testing.assert_frame_equal(a.fx, b.fx)


def test_folder_round_trip(original, tmp_path: Path) -> None:
    folder = write_folder(original, tmp_path / "prices")
    back = load_market_data(UNI, source=folder)
    assert back.source == f"csv:{folder}" and not back.synthetic
    assert_same_market(original, back)
    assert back.close["PRE.L"].max() < 50  # pence divided by 100
    assert any("PRE.L" in n and "100" in n for n in back.notes)


def test_long_file_round_trip(original, tmp_path: Path) -> None:
    folder = write_folder(original, tmp_path / "prices")
    parts = []
    for t in original.tickers:
        df = pd.read_csv(folder / f"{t}.csv", dtype=str, keep_default_na=False)
        parts.append(df.assign(ticker=t))
    long = tmp_path / "long" / "all.csv"
    long.parent.mkdir()
    pd.concat(parts).to_csv(long, index=False)
    (folder / "fx.csv").rename(long.with_name("fx.csv"))
    back = load_csv(UNI, long)
    assert_same_market(original, back)


def test_start_end_and_missing_listing(original, tmp_path: Path) -> None:
    folder = write_folder(original, tmp_path / "prices")
    (folder / "MP.csv").unlink()
    back = load_csv(UNI, folder, "2024-02-01", "2024-03-29")
    assert back.start >= pd.Timestamp("2024-02-01") and back.end <= pd.Timestamp("2024-03-29")
    assert back.close["MP"].isna().all()
    # the listing without a file is named in the notes, with the file expected and the consequence
    note = next(n for n in back.notes if "no price file" in n)
    assert "MP" in note and str(folder / "<TICKER>.csv") in note and "NO_DATA" in note
    assert not any("no prices for" in n for n in back.notes)  # one note, not two


def test_listing_without_prices_in_the_range_is_noted(original, tmp_path: Path) -> None:
    folder = write_folder(original, tmp_path / "prices")
    text = (folder / "MP.csv").read_text().splitlines()
    (folder / "MP.csv").write_text("\n".join([text[0], *[ln for ln in text[1:] if ln < "2024-03"]]) + "\n")
    back = load_csv(UNI, folder, "2024-04-01", "2024-06-28")
    note = next(n for n in back.notes if "no prices between" in n)
    assert "2024-04-01 and 2024-06-28" in note and "MP" in note and "LYC.AX" not in note
    long = tmp_path / "long.csv"
    long.write_text("ticker,date,close,volume\nMP,2024-01-02,10,1\n")
    only_mp = load_csv(usd_universe(), long)
    assert any("no price file for 1 listing(s) (no rows in long.csv): LYC.AX" in n for n in only_mp.notes)


# --------------------------------------------------------------------------- bad input


def usd_universe() -> pd.DataFrame:
    return make_universe({"MP": {}, "LYC.AX": {"exchange": "XASX", "currency": "AUD", "price_unit": "AUD"}})


GOOD_MP = "date,close,volume\n2024-01-02,10.5,100\n2024-01-03,10.6,200\n"
GOOD_FX = "date,AUD\n2024-01-02,0.68\n2024-01-03,0.67\n"


def folder_with(tmp_path: Path, files: dict[str, str]) -> Path:
    d = tmp_path / "bad"
    d.mkdir(exist_ok=True)
    for name, text in files.items():
        (d / name).write_text(text)
    return d


@pytest.mark.parametrize(
    "files, file, line, column, what",
    [
        ({"MP.csv": "date,volume\n2024-01-02,10\n"}, "MP.csv", 1, "close", "missing column"),
        ({"MP.csv": "date,close,volume\n2024-01-02,10,1\n02/01/2024,10,1\n"}, "MP.csv", 3, "date", "not a date"),
        ({"MP.csv": "date,close,volume\n2024-01-02,10,1\n2024-13-45,10,1\n"}, "MP.csv", 3, "date", "not a date"),
        ({"MP.csv": "date,close,volume\n2024-01-02,ten,1\n"}, "MP.csv", 2, "close", "not a number"),
        ({"MP.csv": "date,close,volume\n2024-01-02,10,1\n2024-01-03,10,lots\n"}, "MP.csv", 3, "volume", "not a number"),
        (
            {"MP.csv": "date,close,volume\n2024-01-02,10,1\n2024-01-03,11,1\n2024-01-02,12,1\n"},
            "MP.csv",
            4,
            "date",
            "twice",
        ),
        ({"MP.csv": "date,close,volume\n2024-01-02,10,1\n2024-01-03,0,1\n"}, "MP.csv", 3, "close", "must be > 0"),
        ({"MP.csv": "date,close,volume\n2024-01-02,-1,1\n"}, "MP.csv", 2, "close", "must be > 0"),
        ({"MP.csv": "date,close,volume\n2024-01-02,10,-5\n"}, "MP.csv", 2, "volume", "must be >= 0"),
        ({"MP.csv": "date,close,volume,dividend\n2024-01-02,10,5,-0.1\n"}, "MP.csv", 2, "dividend", "must be >= 0"),
        ({"MP.csv": "date,close,volume,shares\n2024-01-02,10,5,0\n"}, "MP.csv", 2, "shares", "must be > 0"),
        (
            {"MP.csv": "# exported by hand\n\ndate,close,volume\n2024-01-02,10,5\n\n2024-01-03,x,5\n"},
            "MP.csv",
            6,
            "close",
            "not a number",
        ),  # comment and blank lines still count as physical lines
        ({"MP.csv": "date,close,volume\n2024-01-02,10,5,7\n"}, "MP.csv", 2, None, "fields"),
        (
            {"MP.csv": GOOD_MP, "LYC.AX.csv": GOOD_MP, "fx.csv": "date,AUD\n2024-01-02,0.68\n2024-01-03,-1\n"},
            "fx.csv",
            3,
            "AUD",
            "must be > 0",
        ),
        (
            {"MP.csv": GOOD_MP, "LYC.AX.csv": GOOD_MP, "fx.csv": "date,AUD\n2024-01-02,0.68\n2024-01-02,0.67\n"},
            "fx.csv",
            3,
            "date",
            "twice",
        ),
        (
            {"MP.csv": GOOD_MP, "LYC.AX.csv": GOOD_MP, "fx.csv": "date,CAD\n2024-01-02,0.7\n"},
            "fx.csv",
            1,
            None,
            "no column 'AUD' for LYC.AX",
        ),
        # plausible ranges: typos such as 1e300 would overflow market caps into infinities
        (
            {"MP.csv": "date,close,volume\n2024-01-02,10,1\n2024-01-03,1e300,1\n"},
            "MP.csv",
            3,
            "close",
            "plausible range",
        ),
        ({"MP.csv": "date,close,volume\n2024-01-02,1e-300,1\n"}, "MP.csv", 2, "close", "[1e-06, 1e+12]"),
        ({"MP.csv": "date,close,volume\n2024-01-02,10,1e300\n"}, "MP.csv", 2, "volume", "[0, 1e+15]"),
        ({"MP.csv": "date,close,volume,shares\n2024-01-02,10,5,2e15\n"}, "MP.csv", 2, "shares", "[1, 1e+15]"),
        ({"MP.csv": "date,close,volume,shares\n2024-01-02,10,5,0.5\n"}, "MP.csv", 2, "shares", "plausible range"),
        ({"MP.csv": "date,close,volume,dividend\n2024-01-02,10,5,1e300\n"}, "MP.csv", 2, "dividend", "plausible"),
        (
            {"MP.csv": GOOD_MP, "LYC.AX.csv": GOOD_MP, "fx.csv": "date,AUD\n2024-01-02,0.68\n2024-01-03,1e300\n"},
            "fx.csv",
            3,
            "AUD",
            "[1e-09, 1e+06]",
        ),
        (
            {"MP.csv": "date,close,volume\n2024-01-02,10,1\n9999-01-03,10,1\n"},
            "MP.csv",
            3,
            "date",
            "1900-01-01 to 2200",
        ),
        ({"MP.csv": "date,close,volume\n0001-01-02,10,1\n"}, "MP.csv", 2, "date", "outside"),
        (
            {"MP.csv": "date,close,volume\n2024-01-02,10,1\n2024-01-03," + "9" * 140_000 + ",1\n"},
            "MP.csv",
            3,
            None,
            "longer than 131,072",
        ),
        (
            {"MP.csv": 'date,close,volume\n2024-01-02,10,1\n2024-01-03,"10,1\n' + "2024-01-04,10,1\n" * 9000},
            "MP.csv",
            3,
            None,
            "unclosed quote",
        ),
    ],
)
def test_bad_folder_input_names_file_line_and_column(tmp_path, files, file, line, column, what) -> None:
    folder = folder_with(tmp_path, files)
    with pytest.raises(DataError) as info:
        load_csv(usd_universe(), folder)
    msg = str(info.value)
    assert file in msg, msg
    assert f"line {line}" in msg, msg
    if column:
        assert f"column '{column}'" in msg, msg
    assert what in msg, msg


def test_ticker_not_in_universe_is_named(tmp_path) -> None:
    folder = folder_with(tmp_path, {"MP.csv": GOOD_MP, "XYZ.csv": GOOD_MP})
    with pytest.raises(DataError, match=r"XYZ\.csv.*'XYZ'.*not in the universe"):
        load_csv(usd_universe(), folder)
    long = tmp_path / "long.csv"
    long.write_text("ticker,date,close,volume\nMP,2024-01-02,10,1\nXYZ,2024-01-02,10,1\n")
    with pytest.raises(DataError, match=r"long\.csv, line 3, column 'ticker': 'XYZ' is not in the universe"):
        load_csv(usd_universe(), long)


def test_long_file_without_ticker_column(tmp_path) -> None:
    long = tmp_path / "long.csv"
    long.write_text(GOOD_MP)
    with pytest.raises(DataError, match=r"long\.csv, line 1, column 'ticker'"):
        load_csv(usd_universe(), long)


def test_currency_without_fx_file(tmp_path) -> None:
    folder = folder_with(tmp_path, {"MP.csv": GOOD_MP, "LYC.AX.csv": GOOD_MP})
    with pytest.raises(DataError, match=r"fx\.csv: file not found, but LYC\.AX is quoted in AUD"):
        load_csv(usd_universe(), folder)


def test_fx_starting_after_the_first_price(tmp_path) -> None:
    folder = folder_with(tmp_path, {"LYC.AX.csv": GOOD_MP, "fx.csv": "date,AUD\n2024-01-03,0.67\n"})
    with pytest.raises(DataError, match=r"fx\.csv, column 'AUD': no rate on or before 2024-01-02.*LYC\.AX"):
        load_csv(usd_universe(), folder)


def test_extra_columns_ignored_and_empty_cells(tmp_path) -> None:
    text = (
        "Date,Open,Close,Volume,Dividends\n2024-01-02 00:00:00-05:00,1,10,100,\n2024-01-03,1,,NaN,0\n"
        "2024-01-04,1,11,,0.5\n"
    )
    folder = folder_with(tmp_path, {"MP.csv": text})
    m = load_csv(usd_universe(), folder)
    assert list(m.close.index.strftime("%Y-%m-%d")) == ["2024-01-02", "2024-01-03", "2024-01-04"]
    np.testing.assert_array_equal(m.close["MP"], [10.0, np.nan, 11.0])  # an empty close = no price that day
    assert np.isnan(m.volume.loc["2024-01-04", "MP"])
    assert m.dividends.loc["2024-01-04", "MP"] == 0.5
    assert any("ignored column(s) open" in n for n in m.notes)


def test_empty_folder_and_unknown_source(tmp_path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no <TICKER>.csv files"):
        load_csv(usd_universe(), tmp_path / "empty")
    with pytest.raises(DataError, match=re.escape("use 'demo', 'yahoo'")):
        load_market_data(usd_universe(), source=str(tmp_path / "nope"))


def test_extreme_values_give_one_error_and_no_numpy_warning(tmp_path) -> None:
    folder = folder_with(tmp_path, {"MP.csv": "date,close,volume,shares\n2024-01-02,1e300,1e300,1e300\n"})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(DataError, match="line 2, column 'close'"):
            load_csv(usd_universe(), folder)


def test_undecodable_price_file_names_the_line(tmp_path) -> None:
    d = tmp_path / "bad"
    d.mkdir()
    (d / "MP.csv").write_bytes(b"date,close,volume\n2024-01-02,10,1\n2024-01-03,1\xff0,1\n")
    with pytest.raises(DataError, match=r"MP\.csv, line 3: not UTF-8"):
        load_csv(usd_universe(), d)


def test_csv_path_must_be_a_path() -> None:
    with pytest.raises(DataError, match="must be a folder or a CSV file"):
        load_csv(usd_universe(), 5)
