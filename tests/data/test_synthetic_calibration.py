"""The synthetic market calibrated to public reference points: the reference file's loader and
validator, and the generated paths passing near the points (market cap within 20 %, 63-session
ADTV within 35 %), computed here by hand from the generated frames."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from exchina_index.data.demo import DEMO_END, DEMO_START, load_demo
from exchina_index.data.synthetic import generate_market
from exchina_index.data.synthetic.calibration import REFERENCE_COLUMNS, load_market_reference
from exchina_index.errors import UniverseError
from exchina_index.universe.loading import load_universe

HEADER = "ticker,date,market_cap_usd,adtv_usd,source,notes\n"
URL = "https://example.org/quote"
# a stand-in universe: an ASX primary with an OTC ADR line, a NYSE name, an ASX micro-cap (zero-volume
# days), a London name, and two names left uncalibrated
TICKERS = ["LYC.AX", "LYSDY", "MP", "VML.AX", "PRE.L", "ILU.AX", "ARU.AX"]
POINTS = [  # ticker, date, market cap, ADTV (USD), made up for the test
    ("LYC.AX", "2019-12-31", 1.5e9, 12e6),
    ("LYC.AX", "2022-12-30", 5.0e9, 40e6),
    ("LYC.AX", "2025-11-28", 9.0e9, 150e6),
    ("MP", "2022-12-30", 6.0e9, None),
    ("MP", "2025-11-28", 10.0e9, 600e6),
    ("VML.AX", "2022-12-30", 60e6, 0.4e6),
    ("VML.AX", "2025-11-28", 120e6, 1.0e6),
    ("PRE.L", "2025-11-28", None, 1.5e6),
]


def _write(tmp_path: Path, body: str, name: str = "ref.csv") -> Path:
    p = tmp_path / name
    p.write_text(body, encoding="utf-8")
    return p


def _reference_frame() -> pd.DataFrame:
    rows = [
        (t, pd.Timestamp(d), np.nan if c is None else c, np.nan if a is None else a, URL, "") for t, d, c, a in POINTS
    ]
    return pd.DataFrame(rows, columns=list(REFERENCE_COLUMNS))


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return load_universe().frame.loc[TICKERS]


@pytest.fixture(scope="module")
def calibrated(frame):
    return generate_market(frame, DEMO_START, DEMO_END, seed=0, reference=_reference_frame())


@pytest.fixture(scope="module")
def plain(frame):
    return generate_market(frame, DEMO_START, DEMO_END, seed=0)


def _cap_usd(m, ticker: str, date: str) -> float:
    """close x shares x FX at the last priced session on or before ``date`` (by hand)."""
    close = m.close[ticker].loc[:date].dropna()
    day = close.index[-1]
    return float(close.iloc[-1] * m.shares.loc[day, ticker] * m.fx.loc[day, m.currency[ticker]])


def _adtv_usd(m, ticker: str, date: str, window: int = 63) -> float:
    """Mean USD traded value over the last ``window`` priced sessions to ``date`` (by hand)."""
    close = m.close[ticker].loc[:date].dropna().iloc[-window:]
    fx = m.fx[m.currency[ticker]].loc[close.index]
    return float((close * m.volume.loc[close.index, ticker] * fx).mean())


# ---- the loader -------------------------------------------------------------------------------


def test_loads_a_valid_file_with_comments_empty_cells_and_quotes(tmp_path: Path) -> None:
    body = (
        "# reference points\n# second comment line\n" + HEADER + f'MP,2025-11-28,1.0e10,,{URL},"A$1.2B at 0.70, say"\n'
        f"LYC.AX,2019-12-31,,4500000,{URL};{URL}/2,\n"
        f"LYC.AX,2019-06-28,1200000000,3000000,see {URL},\n"
    )
    ref = load_market_reference(_write(tmp_path, body), tickers=TICKERS)
    assert list(ref.columns) == list(REFERENCE_COLUMNS)
    assert list(zip(ref["ticker"], ref["date"].dt.strftime("%Y-%m-%d"))) == [
        ("LYC.AX", "2019-06-28"),
        ("LYC.AX", "2019-12-31"),
        ("MP", "2025-11-28"),
    ]
    assert np.isnan(ref.loc[1, "market_cap_usd"]) and ref.loc[1, "adtv_usd"] == 4.5e6
    assert ref.loc[2, "market_cap_usd"] == 1e10 and ref.loc[2, "notes"] == "A$1.2B at 0.70, say"


@pytest.mark.parametrize(
    ("row", "line", "column", "words"),
    [
        (f"XYZ.AX,2025-11-28,1e9,,{URL},", 3, "ticker", "not in the universe"),
        (f"MP,28/11/2025,1e9,,{URL},", 3, "date", "ISO date"),
        (f"MP,2025-02-30,1e9,,{URL},", 3, "date", "ISO date"),
        (f"MP,2025-11-28,-5,,{URL},", 3, "market_cap_usd", "outside"),
        (f"MP,2025-11-28,0,,{URL},", 3, "market_cap_usd", "positive"),
        (f"MP,2025-11-28,,lots,{URL},", 3, "adtv_usd", "not a number"),
        (f"MP,2025-11-28,inf,,{URL},", 3, "market_cap_usd", "outside"),
        (f"MP,2025-11-28,,,{URL},", 3, "market_cap_usd", "both empty"),
        ("MP,2025-11-28,1e9,,Reuters,", 3, "source", "URL"),
        ("MP,2025-11-28,1e9,,,", 3, "source", "empty"),
        (f",2025-11-28,1e9,,{URL},", 3, "ticker", "empty"),
    ],
)
def test_a_bad_cell_names_file_line_and_column(tmp_path: Path, row: str, line: int, column: str, words: str) -> None:
    p = _write(tmp_path, "# c\n" + HEADER + row + "\n")
    with pytest.raises(UniverseError) as info:
        load_market_reference(p, tickers=TICKERS)
    err = info.value
    assert err.path == p and err.line == line and err.column == column
    assert words in str(err) and str(p) in str(err)


def test_a_repeated_ticker_and_date_names_both_lines(tmp_path: Path) -> None:
    body = HEADER + f"MP,2025-11-28,1e9,,{URL},\nLYC.AX,2025-11-28,1e9,,{URL},\nMP,2025-11-28,,2e6,{URL},\n"
    with pytest.raises(UniverseError, match=r"line 4, column 'date': MP 2025-11-28 is already given on line 2"):
        load_market_reference(_write(tmp_path, body), tickers=TICKERS)


def test_header_problems(tmp_path: Path) -> None:
    with pytest.raises(UniverseError, match=r"line 1, column 'adtv_usd': missing column"):
        load_market_reference(_write(tmp_path, "ticker,date,market_cap_usd,source,notes\n"))
    with pytest.raises(UniverseError, match=r"column 'volume': unknown column"):
        load_market_reference(_write(tmp_path, HEADER.strip() + ",volume\n"))
    with pytest.raises(UniverseError, match="file not found"):
        load_market_reference(tmp_path / "missing.csv")


def test_without_tickers_any_ticker_is_accepted(tmp_path: Path) -> None:
    ref = load_market_reference(_write(tmp_path, HEADER + f"ANY.AX,2025-11-28,1e9,,{URL},\n"))
    assert list(ref["ticker"]) == ["ANY.AX"]


def test_the_bundled_file_is_valid_for_the_bundled_universe() -> None:
    universe = load_universe()
    ref = load_market_reference(tickers=universe.frame.index)
    assert len(ref) >= 10
    assert ref["source"].str.contains("http").all()
    assert ref["date"].between(DEMO_START, DEMO_END).all()
    figures = ref[["market_cap_usd", "adtv_usd"]]
    assert (figures.notna().any(axis=1)).all() and (figures.fillna(1.0) > 0).all().all()


# ---- the calibrated generator -------------------------------------------------------------------


@pytest.mark.parametrize(("ticker", "date", "cap", "adtv"), POINTS)
def test_paths_pass_near_each_reference_point(calibrated, ticker: str, date: str, cap, adtv) -> None:
    if cap is not None:
        assert _cap_usd(calibrated, ticker, date) == pytest.approx(cap, rel=0.20)
    if adtv is not None:
        assert _adtv_usd(calibrated, ticker, date) == pytest.approx(adtv, rel=0.35)


def test_the_uncalibrated_model_misses_them(plain) -> None:
    # the points are not met by chance: without them, many are off by more than the tolerance
    misses = [abs(_cap_usd(plain, t, d) / c - 1) > 0.20 for t, d, c, _ in POINTS if c is not None] + [
        abs(_adtv_usd(plain, t, d) / a - 1) > 0.35 for t, d, _, a in POINTS if a is not None
    ]
    assert sum(misses) >= len(misses) // 2


def test_a_secondary_line_shares_the_issuers_market_cap(calibrated) -> None:
    for date in ("2019-12-31", "2022-12-30", "2025-11-28"):
        assert _cap_usd(calibrated, "LYSDY", date) == pytest.approx(_cap_usd(calibrated, "LYC.AX", date), rel=0.05)
    # its own ADTV is not pinned: an OTC line still trades a fraction of the home line
    assert _adtv_usd(calibrated, "LYSDY", "2025-11-28") < _adtv_usd(calibrated, "LYC.AX", "2025-11-28") / 5


def test_between_the_points_the_path_is_still_random(calibrated) -> None:
    cap = (calibrated.close["LYC.AX"] * calibrated.shares["LYC.AX"] * calibrated.fx["AUD"]).dropna()
    between = np.log(cap.loc["2020-01-01":"2022-12-29"])
    line = np.linspace(between.iloc[0], between.iloc[-1], len(between))
    assert np.std(between.to_numpy() - line) > 0.1  # not a straight bridge
    daily = np.diff(between.to_numpy())
    assert 0.15 < daily.std() * np.sqrt(252) < 1.5  # a stock's volatility, not a smooth curve


def test_names_without_points_keep_todays_paths(calibrated, plain) -> None:
    for t in ("ILU.AX", "ARU.AX"):
        for f in ("close", "volume", "shares", "dividends"):
            pd.testing.assert_series_equal(getattr(calibrated, f)[t], getattr(plain, f)[t])
    pd.testing.assert_frame_equal(calibrated.fx, plain.fx)


def test_zero_volume_sessions_still_repeat_the_close(calibrated) -> None:
    close, volume = calibrated.close["VML.AX"].dropna(), calibrated.volume["VML.AX"]
    zero = volume.loc[close.index] == 0
    assert zero.sum() > 10
    prev = close.shift(1)
    assert (close[zero & prev.notna()] == prev[zero & prev.notna()]).all()


def test_same_bytes_from_the_same_seed_and_reference(frame, calibrated) -> None:
    again = generate_market(frame, DEMO_START, DEMO_END, seed=0, reference=_reference_frame())
    assert again.fingerprint == calibrated.fingerprint
    assert any(n.startswith("calibrated to public reference points") for n in calibrated.notes)


def test_points_outside_a_life_or_the_frame_are_ignored(frame) -> None:
    ref = pd.concat(
        [
            _reference_frame(),
            pd.DataFrame(
                [
                    ("MP", pd.Timestamp("2018-12-31"), 1e9, 1e6, URL, ""),  # before MP's first session
                    ("MP", pd.Timestamp("2027-06-30"), 1e8, 1e6, URL, ""),  # after the demo ends (size too)
                    ("NOT.IN", pd.Timestamp("2020-12-31"), 1e9, 1e6, URL, ""),  # not in the frame
                ],
                columns=list(REFERENCE_COLUMNS),
            ),
        ],
        ignore_index=True,
    ).sort_values(["ticker", "date"])
    m = generate_market(frame, DEMO_START, DEMO_END, seed=0, reference=ref)
    base = generate_market(frame, DEMO_START, DEMO_END, seed=0, reference=_reference_frame())
    assert m.fingerprint == base.fingerprint


def test_contradicting_adtv_points_inside_one_window_are_an_error(frame) -> None:
    # two points 3 weeks apart that ask for $50M and $5M a day: one 63-session window cannot give both
    from exchina_index.errors import DataError

    ref = pd.DataFrame(
        [
            ("LYC.AX", pd.Timestamp("2024-05-31"), np.nan, 50e6, URL, ""),
            ("LYC.AX", pd.Timestamp("2024-06-21"), np.nan, 5e6, URL, ""),
        ],
        columns=list(REFERENCE_COLUMNS),
    )
    with pytest.raises(DataError, match=r"ADTV points of LYC\.AX cannot all be met"):
        generate_market(frame, DEMO_START, DEMO_END, seed=0, reference=ref)


def test_the_demo_passes_near_the_bundled_points() -> None:
    universe = load_universe()
    demo = load_demo(universe)
    ref = load_market_reference(tickers=universe.frame.index)
    checked = 0
    for r in ref.itertuples():
        day = str(r.date.date())
        if demo.close[r.ticker].loc[:day].dropna().empty:  # before the listing's first session: not used
            assert r.date < universe.frame.loc[r.ticker, "listed_since"]
            continue
        checked += 1
        if not np.isnan(r.market_cap_usd):
            assert _cap_usd(demo, r.ticker, day) == pytest.approx(r.market_cap_usd, rel=0.20), (r.ticker, day)
        if not np.isnan(r.adtv_usd):
            assert _adtv_usd(demo, r.ticker, day) == pytest.approx(r.adtv_usd, rel=0.35), (r.ticker, day)
    assert checked >= 10
