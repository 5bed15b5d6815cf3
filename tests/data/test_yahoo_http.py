"""The Yahoo source with the REAL installed yfinance (and curl_cffi), against local stand-ins.

``tests/fixtures/yahoo_server.py`` serves Yahoo's JSON layout on 127.0.0.1 through an HTTPS
``CONNECT`` proxy with a test CA, so yfinance's own code runs unchanged: the cookie and crumb,
the time-zone lookup, ``Ticker.history`` (chart endpoint, dividends and splits events, exchange
time zones, GBp) and ``Ticker.get_shares_full`` (fundamentals-timeseries endpoint). Every expected
value below is written by hand next to the fixture data, not computed by the code under test.

Offline and hermetic: loopback only, each server bounded in requests and time; yfinance's own
caches and singletons are reset for every test and its cache folder lives in ``tmp_path``.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fixtures.yahoo_server import Bar, BlackHole, Fault, Listing, YahooStandIn

from exchina_index import atomic as atomic_mod
from exchina_index.data.cache import YahooCache
from exchina_index.data.yahoo import load_yahoo
from exchina_index.errors import DataError, NetworkError

pytest.importorskip("curl_cffi")  # yfinance's HTTP backend (a yfinance dependency)
pytest.importorskip("trustme")  # the test CA (a test dependency)
# ``import yfinance`` puts a "show" filter for its DeprecationWarnings first in the list: imported
# here, at collection, so the mark below (applied in each test) comes before it
pytest.importorskip("yfinance")
pytestmark = pytest.mark.filterwarnings("ignore:The inplace keyword:Warning")  # yfinance 1.7.0 on pandas 3.1

START, END, TODAY = "2025-09-29", "2025-10-07", "2026-01-15"
NY, SYD, TYO, LON = "America/New_York", "Australia/Sydney", "Asia/Tokyo", "Europe/London"
WEEK = ["2025-09-29", "2025-09-30", "2025-10-01", "2025-10-02", "2025-10-03", "2025-10-06", "2025-10-07"]


def _bars(closes: list[float], days: list[str] = WEEK, volume: int = 1000) -> list[Bar]:
    return [Bar(d, c, volume * (i + 1)) for i, (d, c) in enumerate(zip(days, closes, strict=True))]


FX_DAYS = [d.strftime("%Y-%m-%d") for d in pd.bdate_range("2025-09-19", END)]

#: Yahoo's answers, by hand. Bars are stamped with the session's opening time in UTC, as Yahoo
#: does: the ASX opens at 10:00 in Sydney, which is 23:00 UTC the day before once daylight saving
#: starts (2025-10-05); the FX pairs' bars open at midnight in London (23:00 UTC in summer).
LISTINGS = [
    Listing(
        "MP",
        NY,
        "USD",
        "09:30",
        bars=_bars([60.0, 61.5, 62.25, 63.0, 64.5, 65.0, 66.0]),
        dividends={"2025-10-01": 0.25},
        # two counts on 2025-09-30 (the last one counts)
        shares=[
            ("2025-06-30 20:00", 160_000_000),
            ("2025-09-30 13:00", 163_000_000),
            ("2025-09-30 21:00", 164_000_000),
        ],
    ),
    # a 2-for-1 split on 2025-10-06: Yahoo's earlier closes are already halved
    Listing(
        "LYC.AX",
        SYD,
        "AUD",
        "10:00",
        exchange="ASX",
        bars=_bars([4.5, 4.55, 4.6, 4.65, 4.7, 4.75, 4.8]),
        splits={"2025-10-06": (2, 1)},
        shares=[("2025-09-30 20:00", 934_000_000)],
    ),
    Listing("4063.T", TYO, "JPY", "09:00", exchange="JPX", bars=_bars([5000, 5100, 5200, 5300, 5400, 5500, 5600])),
    # pence, dividend in pence too
    Listing(
        "PRE.L",
        LON,
        "GBp",
        "08:00",
        exchange="LSE",
        bars=_bars([250, 252, 254, 256, 258, 260, 262]),
        dividends={"2025-10-02": 5.0},
        shares=[("2025-03-31 00:00", 550_000_000)],
    ),
    Listing(
        "AUDUSD=X", LON, "USD", "00:00", instrument="CURRENCY", exchange="CCY", bars=[Bar(d, 0.66, 0) for d in FX_DAYS]
    ),
    Listing(
        "GBPUSD=X",
        LON,
        "USD",
        "00:00",
        instrument="CURRENCY",
        exchange="CCY",
        bars=[Bar(d, {"2025-09-30": 1.35, "2025-10-02": 1.36}.get(d, 1.34), 0) for d in FX_DAYS],
    ),
    Listing(
        "JPY=X", LON, "JPY", "00:00", instrument="CURRENCY", exchange="CCY", bars=[Bar(d, 150.0, 0) for d in FX_DAYS]
    ),
]

ROWS: dict[str, dict[str, Any]] = {
    "MP": {"exchange": "XNYS", "currency": "USD", "price_unit": "USD"},
    "LYC.AX": {"exchange": "XASX", "currency": "AUD", "price_unit": "AUD"},
    "4063.T": {"exchange": "XTKS", "currency": "JPY", "price_unit": "JPY"},
    "PRE.L": {"exchange": "XLON", "currency": "GBP", "price_unit": "GBp"},
}


def _universe(rows: dict[str, dict[str, Any]]) -> SimpleNamespace:
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame.index.name = "ticker"
    frame["listed_since"] = pd.Timestamp("2000-01-04")
    frame["delisted"] = pd.NaT
    return SimpleNamespace(frame=frame.sort_index())


@pytest.fixture
def yf(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The real yfinance, with its process-wide state fresh and its caches in ``tmp_path``.

    yfinance keeps one ``YfData`` (session, cookie, crumb) per process, memoises answers
    (``YfData.cache_get``) and stores time zones and cookies in SQLite files: all reset here.
    """
    import yfinance
    import yfinance.base as yf_base
    import yfinance.cache as yf_cache
    import yfinance.data as yf_data

    for name in ("_TzDBManager", "_CookieDBManager", "_ISINDBManager"):
        monkeypatch.setattr(getattr(yf_cache, name), "_cache_dir", str(tmp_path / "py-yfinance"))
        monkeypatch.setattr(getattr(yf_cache, name), "_db", None)
    for name, attr in (
        ("_TzCacheManager", "_tz_cache"),
        ("_CookieCacheManager", "_Cookie_cache"),
        ("_ISINCacheManager", "_isin_cache"),
    ):
        monkeypatch.setattr(getattr(yf_cache, name), attr, None)
    monkeypatch.setattr(yf_data.SingletonMeta, "_instances", {})
    monkeypatch.setattr(yf_base, "_tz_info_fetch_ctr", 0)
    yf_data.YfData.cache_get.cache_clear()
    monkeypatch.setattr(atomic_mod.os, "fsync", lambda fd: None)
    for var in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(var, raising=False)
    yield yfinance
    yf_data.YfData.cache_get.cache_clear()


@pytest.fixture
def no_thread_left() -> Any:
    """After the test, no thread but the main one may keep the interpreter alive."""
    yield
    lingering = [
        t.name for t in threading.enumerate() if t.is_alive() and not t.daemon and t is not threading.main_thread()
    ]
    assert lingering == []


def _serve(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **kw: Any) -> YahooStandIn:
    server = YahooStandIn(LISTINGS, tmp_path, **kw)
    monkeypatch.setenv("HTTPS_PROXY", server.url)  # libcurl (and the pre-flight check) use it
    return server


def _load(yf: Any, server: YahooStandIn, cache: Path, rows: dict[str, dict[str, Any]] = ROWS, **kw: Any) -> Any:
    kw.setdefault("today", TODAY)
    kw.setdefault("sleep", lambda s: None)
    kw.setdefault("deadline_s", 30.0)
    return load_yahoo(_universe(rows), START, END, cache_dir=cache, yf=yf, session=server.session(), **kw)


# --------------------------------------------------------------------------------------------
# What yfinance's own parsing gives, end to end
# --------------------------------------------------------------------------------------------


def test_real_yfinance_end_to_end(
    yf: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_thread_left: Any
) -> None:
    with _serve(tmp_path, monkeypatch) as server:
        market = _load(yf, server, tmp_path / "cache")  # with the pre-flight check, through the proxy
        close, div = market.close, market.dividends
        assert list(close.index.strftime("%Y-%m-%d")) == WEEK  # no Sunday row from the ASX's UTC stamps
        # closes in currency units, on exchange-local dates
        assert close.loc["2025-10-01", "MP"] == 62.25
        assert close.loc["2025-09-29", "LYC.AX"] == 4.5
        assert close.loc["2025-10-06", "LYC.AX"] == 4.75  # stamped 2025-10-05 23:00 UTC
        assert close.loc["2025-10-03", "4063.T"] == 5400.0
        assert close.loc["2025-10-02", "PRE.L"] == pytest.approx(2.56)  # 256 pence
        # dividends on the ex-date, in currency units; 0.0 on the other sessions
        assert div.loc["2025-10-01", "MP"] == 0.25
        assert div["MP"].drop(pd.Timestamp("2025-10-01")).eq(0.0).all()
        assert div.loc["2025-10-02", "PRE.L"] == pytest.approx(0.05)  # 5 pence
        assert market.volume.loc["2025-09-30", "MP"] == 2000.0
        # the split is kept in the cache, on its date
        cached = YahooCache(tmp_path / "cache").read("prices", "LYC.AX")
        assert cached.loc["2025-10-06", "splits"] == 2.0
        assert cached["splits"].drop(pd.Timestamp("2025-10-06")).eq(0.0).all()
        # FX: USD per unit (JPY=X is yen per dollar, inverted)
        assert market.fx.loc["2025-09-30", "GBP"] == 1.35
        assert market.fx.loc["2025-10-02", "JPY"] == pytest.approx(1 / 150)
        assert market.fx.loc["2025-10-02", "AUD"] == 0.66
        # share counts: the last of a day, carried forward; yfinance dates them on their UTC date
        assert market.shares.loc["2025-09-29", "MP"] == 160_000_000
        assert market.shares.loc["2025-09-30", "MP"] == 164_000_000
        assert np.isnan(market.shares.loc["2025-09-29", "LYC.AX"])
        assert market.shares.loc["2025-09-30", "LYC.AX"] == 934_000_000
        assert market.shares["4063.T"].isna().all()
        assert market.market_cap_usd().loc["2025-10-02", "PRE.L"] == pytest.approx(2.56 * 550_000_000 * 1.36)
        assert any("4063.T: no share count from Yahoo" in n for n in market.notes)
        assert market.notes[0] == (
            "yahoo: 11 of 11 series asked from Yahoo, 0 served from the cache; "
            "prices to 2025-10-07 (asked up to 2025-10-07)"
        )
        # yfinance went through the cookie and crumb, then asked the chart endpoint for the window
        hosts = {host for host, _, _ in server.log}
        assert {"fc.yahoo.com", "query1.finance.yahoo.com", "query2.finance.yahoo.com"} <= hosts
        windows = [p for p in server.requests_for("MP") if "period1" in p]
        assert windows and all(p["crumb"] == "t3stCrumb.x" for p in windows)
        n = len(server.log)
        again = _load(yf, server, tmp_path / "cache")  # the second run is the cache's alone
        assert len(server.log) == n
        assert again.fingerprint == market.fingerprint


def test_an_unknown_symbol_is_named(
    yf: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_thread_left: Any
) -> None:
    rows = {"MP": ROWS["MP"], "GONE": {"exchange": "XNYS", "currency": "USD", "price_unit": "USD"}}
    with _serve(tmp_path, monkeypatch) as server:
        with pytest.raises(
            DataError, match=r"no data for 1 of 2 listing\(s\): GONE \[GONE \(2025-09-29\.\.2025-10-07\)\]"
        ):
            _load(yf, server, tmp_path / "a", rows)
        market = _load(yf, server, tmp_path / "b", rows, allow_missing=True)
        assert market.close["GONE"].isna().all()
        assert market.close.loc["2025-10-07", "MP"] == 66.0
        assert any("dropped (allow_missing): no data from Yahoo for GONE" in n for n in market.notes)


# --------------------------------------------------------------------------------------------
# Faults
# --------------------------------------------------------------------------------------------


def test_a_rate_limit_is_retried(yf: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_thread_left: Any) -> None:
    # yfinance asks twice on an HTTP error (the second time with its other cookie method), then
    # raises YFRateLimitError on a second 429: the loader backs off and asks again
    with _serve(tmp_path, monkeypatch, faults={"MP": Fault(status=429, times=2)}) as server:
        market = _load(yf, server, tmp_path / "cache", {"MP": ROWS["MP"]})
        assert any("MP: price download attempt 1 failed (YFRateLimitError" in n for n in market.notes)
        assert market.close.loc["2025-10-01", "MP"] == 62.25
        assert len(server.requests_for("MP")) >= 3


@pytest.mark.parametrize("fault", [Fault(status=500), Fault(truncated=True)], ids=["http-500", "truncated-body"])
def test_a_broken_answer_is_a_named_failure(
    yf: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fault: Fault, no_thread_left: Any
) -> None:
    rows = {"MP": ROWS["MP"], "PRE.L": ROWS["PRE.L"]}
    with _serve(tmp_path, monkeypatch, faults={"PRE.L": fault}) as server:
        with pytest.raises(DataError, match=r"no data for 1 of 2 listing\(s\): PRE\.L \["):
            _load(yf, server, tmp_path / "cache", rows)
        assert YahooCache(tmp_path / "cache").entry("prices", "MP") is not None  # the good one is kept
        assert server.requests_for("PRE.L")


def test_every_symbol_failing_is_a_network_error(
    yf: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_thread_left: Any
) -> None:
    faults = {s: Fault(status=500) for s in ROWS}
    with _serve(tmp_path, monkeypatch, faults=faults) as server:
        with pytest.raises(NetworkError, match=r"no price data for any of the 4 symbols"):
            _load(yf, server, tmp_path / "cache")


def test_a_slow_answer_inside_the_deadline_is_waited_for(
    yf: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_thread_left: Any
) -> None:
    with _serve(tmp_path, monkeypatch, faults={"MP": Fault(delay_s=0.7)}) as server:
        market = _load(yf, server, tmp_path / "cache", {"MP": ROWS["MP"]})
        assert market.close.loc["2025-10-07", "MP"] == 66.0


def test_a_slow_answer_past_the_deadline(
    yf: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_thread_left: Any
) -> None:
    rows = {"MP": ROWS["MP"], "4063.T": ROWS["4063.T"]}
    with _serve(tmp_path, monkeypatch, faults={"4063.T": Fault(delay_s=6.0)}) as server:
        t0 = time.monotonic()
        with pytest.raises(NetworkError, match=r"3 s deadline; still pending: price download for 4063\.T\."):
            _load(yf, server, tmp_path / "cache", rows, deadline_s=3.0)
        assert time.monotonic() - t0 < 4.0
        assert YahooCache(tmp_path / "cache").entry("prices", "MP") is not None  # what came in is kept


# --------------------------------------------------------------------------------------------
# A server that accepts connections and never answers (issue 11, item 2)
# --------------------------------------------------------------------------------------------


def test_a_black_hole_fails_within_the_deadline_and_leaves_no_thread(
    yf: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_thread_left: Any
) -> None:
    with BlackHole(lifetime_s=30) as hole:
        monkeypatch.setenv("HTTPS_PROXY", hole.url)
        t0 = time.monotonic()
        with pytest.raises(
            NetworkError, match=r"did not answer within the 3 s deadline; still pending: price download"
        ):
            load_yahoo(
                _universe(ROWS), START, END, cache_dir=tmp_path / "cache", yf=yf, deadline_s=3.0, today=TODAY
            )  # yfinance's own session, the pre-flight check through the proxy
        assert time.monotonic() - t0 < 5.0
        assert hole.accepted >= 2  # the pre-flight check, then yfinance


# --------------------------------------------------------------------------------------------
# The module-level fake used by test_yahoo.py is the real client's layout
# --------------------------------------------------------------------------------------------


def test_the_fake_history_is_the_real_history(
    yf: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_thread_left: Any
) -> None:
    """The same bars through the stand-in and the real ``Ticker.history``, and through the fake."""
    from fixtures.fake_yfinance import FakeYFinance, make_history, sessions

    frames = {
        "MP": make_history(
            sessions("2025-09-22", "2025-10-10"), NY, np.linspace(60, 66, 15), dividends={"2025-10-01": 0.25}
        ),
        "LYC.AX": make_history(sessions("2025-09-22", "2025-10-10"), SYD, np.linspace(4.5, 4.8, 15)),
    }
    listings = []
    for (sym, frame), tz, opens in zip(frames.items(), (NY, SYD), ("09:30", "10:00"), strict=True):
        bars = [
            Bar(d.strftime("%Y-%m-%d"), r.Close, int(r.Volume), r["Adj Close"], r.Open, r.High, r.Low)
            for d, r in frame.iterrows()
        ]
        divs = {d.strftime("%Y-%m-%d"): v for d, v in frame["Dividends"].items() if v}
        listings.append(Listing(sym, tz, "USD", opens, bars=bars, dividends=divs))
    fake = FakeYFinance(frames)
    with YahooStandIn(listings, tmp_path) as server:
        monkeypatch.setenv("HTTPS_PROXY", server.url)
        session = server.session()
        for sym in frames:
            for kw in ({"auto_adjust": False, "actions": True}, {}):
                real = yf.Ticker(sym, session=session).history(start="2025-09-24", end="2025-10-08", **kw)
                mine = fake.Ticker(sym).history(start="2025-09-24", end="2025-10-08", **kw)
                pd.testing.assert_frame_equal(real, mine, check_freq=False)


def test_quiet_yfinance_logs_keeps_stderr_clean(
    yf: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str], no_thread_left: Any
) -> None:
    """What the command line does without --debug: yfinance's log lines and warnings stay off stderr."""
    import logging
    import warnings

    from exchina_index.data import yahoo as yahoo_mod
    from exchina_index.data.yahoo import client

    logger = logging.getLogger("yfinance")
    saved = (logger.propagate, list(logger.handlers), client._quiet)
    rows = {"MP": ROWS["MP"], "GONE": {"exchange": "XNYS", "currency": "USD", "price_unit": "USD"}}
    try:
        with warnings.catch_warnings(record=True) as seen, _serve(tmp_path, monkeypatch) as server:
            warnings.simplefilter("default")
            yahoo_mod.quiet_yfinance_logs(debug=False)
            # what `import yfinance` does (it happened already in this process): a filter first in the list
            warnings.filterwarnings("default", category=DeprecationWarning, module="^yfinance")
            market = _load(yf, server, tmp_path / "cache", rows, allow_missing=True)  # GONE: yfinance logs errors
        assert market.close.loc["2025-10-01", "MP"] == 62.25
        assert [str(w.message) for w in seen if "yfinance" in w.filename] == []
        assert capfd.readouterr().err == ""
    finally:
        logger.propagate, logger.handlers[:], client._quiet = saved
