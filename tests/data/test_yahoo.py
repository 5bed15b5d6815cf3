"""The Yahoo source end to end, through a fake yfinance with yfinance 1.7.0's exact layout.

Offline and hermetic: every cache lives in ``tmp_path``; backoff sleeps are injected.
"""

from __future__ import annotations

import socket
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fixtures.fake_yfinance import (
    FakeYFinance,
    YFRateLimitError,
    make_history,
    sessions,
    shares_series,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exchina_index import atomic as atomic_mod
from exchina_index.data import yahoo as yahoo_mod
from exchina_index.data.cache import YahooCache
from exchina_index.data.status import cache_status
from exchina_index.data.yahoo import fetch, load_yahoo, preflight_check
from exchina_index.errors import DataError, NetworkError, ReviewDateError

NY, SYD, LON = "America/New_York", "Australia/Sydney", "Europe/London"
START = "2025-09-01"
END = "2025-09-30"
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


@pytest.fixture(autouse=True)
def _fast_disk(monkeypatch: pytest.MonkeyPatch) -> None:
    """Skip fsync in these tests (atomicity itself is tested in test_cache.py)."""
    monkeypatch.setattr(atomic_mod.os, "fsync", lambda fd: None)


# --------------------------------------------------------------------------------------------
# Test data
# --------------------------------------------------------------------------------------------


def _histories(last: str = "2025-10-31") -> dict[str, pd.DataFrame]:
    us = sessions("2025-08-01", last, holidays=["2025-09-01"])  # Labor Day: NYSE closed, ASX/LSE open
    au = sessions("2025-08-01", last)
    uk = sessions("2025-08-01", last, holidays=["2025-08-25"])
    fx = sessions("2025-07-01", last)
    return {
        "MP": make_history(
            us, NY, 50 + 0.25 * np.arange(len(us)), volume=1_000_000 + np.arange(len(us)), dividends={"2025-09-15": 0.5}
        ),
        "LYC.AX": make_history(au, SYD, 9 - 0.01 * np.arange(len(au)), volume=np.full(len(au), 3_000_000)),
        # LSE line quoted in pence, dividend in pence too
        "PRE.L": make_history(
            uk,
            LON,
            250 + 1.0 * np.arange(len(uk)),
            volume=np.full(len(uk), 40_000),
            dividends={"2025-10-01": 5.0} if last >= "2025-10-01" else None,
        ),
        "AUDUSD=X": make_history(fx, LON, 0.65 + 0.0005 * np.arange(len(fx)), volume=np.zeros(len(fx))),
        "GBPUSD=X": make_history(fx, LON, 1.30 + 0.0005 * np.arange(len(fx)), volume=np.zeros(len(fx))),
    }


def _shares() -> dict[str, Any]:
    return {
        # two counts on one date (different times): the last one counts
        "MP": shares_series(
            [("2024-12-01", 160_000_000), ("2025-09-10 09:00", 163_000_000), ("2025-09-10 17:00", 164_000_000)], NY
        ),
        "LYC.AX": shares_series({"2025-06-30": 934_000_000}, SYD),
        "PRE.L": shares_series({"2025-03-31": 550_000_000}, LON),
    }


def _fake(**kw: Any) -> FakeYFinance:
    kw.setdefault("shares", _shares())
    histories = kw.pop("histories", None) or _histories()
    return FakeYFinance(histories, **kw)


_ROWS: dict[str, dict[str, Any]] = {
    "MP": {"exchange": "XNYS", "currency": "USD", "price_unit": "USD", "listed_since": "2020-11-17"},
    "LYC.AX": {"exchange": "XASX", "currency": "AUD", "price_unit": "AUD", "listed_since": "2000-01-04"},
    "PRE.L": {"exchange": "XLON", "currency": "GBP", "price_unit": "GBp", "listed_since": "2000-01-04"},
    "BAD": {"exchange": "XNYS", "currency": "USD", "price_unit": "USD", "listed_since": "2000-01-04"},
}
#: The universe without the ticker Yahoo knows nothing about.
GOOD = {k: v for k, v in _ROWS.items() if k != "BAD"}


def _universe(rows: dict[str, dict[str, Any]] | None = None) -> SimpleNamespace:
    """A stand-in for ``Universe``: only ``.frame`` is read by the loader."""
    frame = pd.DataFrame.from_dict(rows if rows is not None else _ROWS, orient="index")
    frame.index.name = "ticker"
    frame["listed_since"] = pd.to_datetime(frame["listed_since"])
    frame["delisted"] = pd.to_datetime(frame["delisted"]) if "delisted" in frame else pd.NaT
    return SimpleNamespace(frame=frame.sort_index())


def _load(
    fake: FakeYFinance, cache: Path | None, universe: Any = None, start: Any = START, end: Any = END, **kw: Any
) -> Any:
    kw.setdefault("preflight", False)
    kw.setdefault("sleep", lambda s: None)
    kw.setdefault("today", "2026-01-15")
    return load_yahoo(universe if universe is not None else _universe(GOOD), start, end, cache_dir=cache, yf=fake, **kw)


def _yahoo_close(hist: pd.DataFrame, day: str) -> float:
    return float(hist["Close"][hist.index.tz_localize(None) == pd.Timestamp(day)].iloc[0])


# --------------------------------------------------------------------------------------------
# End to end
# --------------------------------------------------------------------------------------------


def test_end_to_end_two_exchanges_gbp_failed_ticker_then_cache_only(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    fake = _fake()
    uni = _universe()  # MP (NYSE), LYC.AX (ASX), PRE.L (LSE, GBp), BAD (no data at Yahoo)

    with pytest.raises(DataError, match=r"no data for 1 of 4 listing\(s\): BAD \[") as info:
        _load(fake, cache, uni)
    assert not isinstance(info.value, NetworkError)
    for good in ("MP", "LYC.AX", "PRE.L"):
        assert good not in str(info.value)

    # the good listings were cached before the error; allow_missing drops BAD without asking
    # Yahoo again (the failure is remembered for a day); only the FX, never reached, is fetched
    fake.reset_calls()
    market = _load(fake, cache, uni, allow_missing=True)
    assert [a[0] for a in fake.asked()] == ["AUDUSD=X", "GBPUSD=X"]
    assert any("BAD" in n and "dropped" in n for n in market.notes)
    assert market.close["BAD"].isna().all()

    hist = fake.histories
    # two calendars: NYSE closed on Labor Day, ASX and LSE open -> NaN for MP only
    assert np.isnan(market.close.loc["2025-09-01", "MP"])
    assert market.close.loc["2025-09-01", "LYC.AX"] == pytest.approx(_yahoo_close(hist["LYC.AX"], "2025-09-01"))
    assert market.close.loc["2025-09-02", "MP"] == _yahoo_close(hist["MP"], "2025-09-02")
    # GBp -> GBP for prices and dividends
    assert market.close.loc["2025-09-30", "PRE.L"] == pytest.approx(_yahoo_close(hist["PRE.L"], "2025-09-30") / 100)
    assert market.currency["PRE.L"] == "GBP"
    assert market.dividends.loc["2025-09-15", "MP"] == pytest.approx(0.5)
    assert market.volume.loc["2025-09-02", "MP"] == float(
        hist["MP"]["Volume"][hist["MP"].index.tz_localize(None) == pd.Timestamp("2025-09-02")].iloc[0]
    )
    assert market.volume.dtypes.eq(np.float64).all()
    # FX: USD per unit
    assert market.fx.loc["2025-09-30", "USD"] == 1.0
    assert market.fx.loc["2025-09-30", "GBP"] == pytest.approx(_yahoo_close(hist["GBPUSD=X"], "2025-09-30"))
    assert market.source == "yahoo" and market.synthetic is False
    # share counts: last count of a day, carried forward by MarketData
    assert market.shares.loc["2025-09-30", "MP"] == 164_000_000
    assert market.shares.loc["2025-09-30", "LYC.AX"] == 934_000_000
    assert market.market_cap_usd().loc["2025-09-30", "MP"] == pytest.approx(
        _yahoo_close(hist["MP"], "2025-09-30") * 164_000_000
    )

    # a second run for the same range hits only the cache
    fake.reset_calls()
    again = _load(fake, cache, uni, allow_missing=True)
    assert fake.network_calls == 0
    assert again.fingerprint == market.fingerprint


def test_gbp_dividend_in_pence_is_divided(tmp_path: Path) -> None:
    market = _load(_fake(), tmp_path, end="2025-10-10")
    assert market.dividends.loc["2025-10-01", "PRE.L"] == pytest.approx(0.05)
    assert any("PRE.L" in n and "divided by 100" in n for n in market.notes)
    # a total return on the ex-date includes 5p on a ~2.7 GBP share
    assert market.returns("total").loc["2025-10-01", "PRE.L"] > market.returns("price").loc["2025-10-01", "PRE.L"]


def test_one_history_call_per_symbol_with_the_right_arguments(tmp_path: Path) -> None:
    fake = _fake()
    _load(fake, tmp_path, deadline_s=20.0)
    assert fake.asked() == [
        ("AUDUSD=X", "2025-08-22", "2025-10-01"),  # FX from 10 days before the start
        ("GBPUSD=X", "2025-08-22", "2025-10-01"),
        ("LYC.AX", "2025-09-01", "2025-10-01"),  # end is exclusive at Yahoo
        ("MP", "2025-09-01", "2025-10-01"),
        ("PRE.L", "2025-09-01", "2025-10-01"),
    ]
    for call in fake.calls_of("history"):
        assert call.kwargs["auto_adjust"] is False
        assert call.kwargs["actions"] is True
        assert call.kwargs["interval"] == "1d"
        assert 19.0 < call.kwargs["timeout"] <= 20.0  # the per-request timeout never passes the deadline
        assert call.kwargs["session"] is None
    assert len(fake.calls_of("get_shares_full")) == 3


def test_works_with_a_real_universe_and_inverted_jpy_pair(tmp_path: Path) -> None:
    from exchina_index.universe.loading import load_universe

    uni = load_universe(FIXTURES / "mini_universe.csv", FIXTURES / "mini_china_links.csv")
    days = sessions("2025-08-01", "2025-09-30")
    hist = {
        t: make_history(days, "UTC", 100 + np.arange(len(days)), volume=np.full(len(days), 500))
        for t in uni.frame.index
    }
    for pair, rate in (("AUDUSD=X", 0.65), ("GBPUSD=X", 1.3), ("JPY=X", 150.0), ("CNYUSD=X", 0.14), ("CADUSD=X", 0.72)):
        hist[pair] = make_history(
            sessions("2025-07-01", "2025-09-30"), LON, np.full(len(sessions("2025-07-01", "2025-09-30")), rate)
        )
    fake = FakeYFinance(hist, shares={})
    market = _load(fake, tmp_path, uni)
    assert list(market.close.columns) == sorted(uni.frame.index)
    assert market.fx.loc["2025-09-30", "JPY"] == pytest.approx(1 / 150.0)
    assert market.close_usd().loc["2025-09-30", "CCC.T"] == pytest.approx(
        market.close.loc["2025-09-30", "CCC.T"] / 150.0
    )
    # EEE is delisted on 2025-10-01: nothing to cut inside this window; BBB.L is in pence
    assert market.close.loc["2025-09-30", "BBB.L"] == pytest.approx((100 + len(days) - 1) / 100)
    # no share counts anywhere: every listing noted, market cap NaN (the size screen gives NO_DATA)
    assert market.market_cap_usd().iloc[-1].isna().all()
    assert sum("no share count" in n for n in market.notes) == len(uni.frame)


def test_load_market_data_dispatches_to_yahoo(tmp_path: Path) -> None:
    from exchina_index.data import load_market_data

    fake = _fake()
    market = load_market_data(
        _universe(GOOD),
        source="yahoo",
        start=START,
        end=END,
        cache_dir=tmp_path,
        yf=fake,
        preflight=False,
        today="2026-01-15",
    )
    assert market.source == "yahoo"
    assert (tmp_path / "metadata.json").exists()


# --------------------------------------------------------------------------------------------
# Cache behaviour
# --------------------------------------------------------------------------------------------


def test_later_run_fetches_only_the_missing_tail(tmp_path: Path) -> None:
    fake = _fake()
    _load(fake, tmp_path, end="2025-09-30")
    fake.reset_calls()
    longer = _load(fake, tmp_path, end="2025-10-20")
    # cached end is 2025-10-01 (exclusive): the tail starts one week earlier (documented overlap)
    tail_start = (pd.Timestamp("2025-10-01") - pd.Timedelta(days=yahoo_mod.TAIL_OVERLAP_DAYS)).strftime("%Y-%m-%d")
    assert {(c.start, c.end) for c in fake.calls_of("history")} == {(tail_start, "2025-10-21")}
    assert len(fake.calls_of("history")) == 5
    entry = YahooCache(tmp_path).entry("prices", "MP")
    assert (entry.start, entry.end) == (pd.Timestamp("2025-09-01"), pd.Timestamp("2025-10-21"))
    # same result as one fetch of the whole range
    direct = _load(_fake(), tmp_path / "direct", end="2025-10-20")
    pd.testing.assert_frame_equal(longer.close, direct.close)
    pd.testing.assert_frame_equal(longer.dividends, direct.dividends)
    pd.testing.assert_frame_equal(longer.fx, direct.fx)
    # and a range inside what is cached makes no call at all
    fake.reset_calls()
    _load(fake, tmp_path, start="2025-09-10", end="2025-10-01")
    assert fake.network_calls == 0


def test_earlier_start_fetches_only_the_head(tmp_path: Path) -> None:
    fake = _fake()
    _load(fake, tmp_path, start="2025-09-15")
    fake.reset_calls()
    market = _load(fake, tmp_path, start="2025-08-15")
    prices = next(c for c in fake.calls_of("history") if c.tickers == ("MP",))
    assert (prices.start, prices.end) == ("2025-08-15", "2025-09-22")  # up to the cached start + overlap
    assert market.close.index[0] == pd.Timestamp("2025-08-15")


def test_provisional_rows_of_today_are_replaced(tmp_path: Path) -> None:
    fake = _fake()
    first = _load(fake, tmp_path, end="2025-09-15", today="2025-09-15")  # today, asked for explicitly
    assert YahooCache(tmp_path).entry("prices", "MP").end == pd.Timestamp("2025-09-15")
    assert first.close.index[-1] == pd.Timestamp("2025-09-15")
    # the intraday price of 2025-09-15 becomes the final close
    hist = fake.histories["MP"]
    mask = hist.index.tz_localize(None) == pd.Timestamp("2025-09-15")
    hist.loc[mask, "Close"] = 77.0
    fake.reset_calls()
    second = _load(fake, tmp_path, end="2025-09-15", today="2025-09-15")
    assert fake.calls_of("history")  # a range including today is asked again
    assert second.close.loc["2025-09-15", "MP"] == 77.0


def test_split_in_the_tail_rewrites_the_history(tmp_path: Path) -> None:
    fake = _fake()
    _load(fake, tmp_path, end="2025-09-30")
    # a 2-for-1 split on 2025-10-06: the share trades at half the price from then on, and Yahoo
    # divides the whole earlier history by 2 (so every close changes, cached ones included)
    hist = fake.histories["MP"]
    for col in ("Open", "High", "Low", "Close", "Adj Close"):
        hist[col] = hist[col] / 2
    hist.loc[hist.index == pd.Timestamp("2025-10-06", tz=NY), "Stock Splits"] = 2.0
    fake.reset_calls()
    market = _load(fake, tmp_path, end="2025-10-20")
    assert any("MP" in n and "refetching" in n for n in market.notes)
    mp = [c.start for c in fake.calls_of("history") if c.tickers == ("MP",)]
    assert mp == ["2025-09-24", "2025-09-01"]  # the tail, then the whole cached window
    assert market.close.loc["2025-09-02", "MP"] == pytest.approx(_yahoo_close(hist, "2025-09-02"))
    # no jump at the split: old and new rows are on the same basis
    assert abs(market.returns("price")["MP"].loc["2025-09-22":"2025-10-10"]).max() < 0.05
    entry = YahooCache(tmp_path).entry("prices", "MP")
    assert (entry.start, entry.end) == (pd.Timestamp("2025-09-01"), pd.Timestamp("2025-10-21"))


def test_corrupt_cache_file_is_detected_and_refetched(tmp_path: Path) -> None:
    fake = _fake()
    first = _load(fake, tmp_path)
    path = YahooCache(tmp_path).file_for("prices", "MP")
    path.write_bytes(b"this is not parquet" * 10)
    fake.reset_calls()
    second = _load(fake, tmp_path)
    assert [a[0] for a in fake.asked()] == ["MP"]
    assert any("corrupt" in n and "MP" in n for n in second.notes)
    pd.testing.assert_frame_equal(second.close, first.close)
    # repaired: the next run is cache-only again
    fake.reset_calls()
    _load(fake, tmp_path)
    assert fake.network_calls == 0


def test_truncated_cache_file_is_detected(tmp_path: Path) -> None:
    fake = _fake()
    first = _load(fake, tmp_path)
    path = YahooCache(tmp_path).file_for("fx", "GBPUSD=X")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    fake.reset_calls()
    second = _load(fake, tmp_path)
    assert [a[0] for a in fake.asked()] == ["GBPUSD=X"]
    pd.testing.assert_frame_equal(second.fx, first.fx)


def test_garbage_metadata_refetches_everything(tmp_path: Path) -> None:
    fake = _fake()
    first = _load(fake, tmp_path)
    (tmp_path / "metadata.json").write_text("{ not json", encoding="utf-8")
    fake.reset_calls()
    second = _load(fake, tmp_path)
    assert len(fake.calls_of("history")) == 5
    assert list(tmp_path.glob("metadata.json.corrupt-*"))
    assert any("unreadable" in n for n in second.notes)
    pd.testing.assert_frame_equal(second.close, first.close)


def test_use_cache_false_writes_nothing(tmp_path: Path) -> None:
    fake = _fake()
    market = _load(fake, tmp_path / "c", use_cache=False)
    assert not (tmp_path / "c").exists()
    assert market.close.notna().any().all()


def test_fetch_and_status(tmp_path: Path) -> None:
    fake = _fake()
    seen: list[tuple[str, int, int]] = []
    market = fetch(
        _universe(),
        START,
        END,
        cache_dir=tmp_path,
        progress=lambda *a: seen.append(a),
        yf=fake,
        preflight=False,
        sleep=lambda s: None,
        today="2026-01-15",
    )
    assert any("BAD" in n for n in market.notes)  # fetch reports missing listings instead of failing
    assert {s[0] for s in seen} >= {"prices", "FX rates", "share counts"}
    assert ("prices", 4, 4) in seen
    status = cache_status(_universe(), tmp_path)
    assert status.loc["MP", "status"] == "ok"
    assert status.loc["MP", "first"] == pd.Timestamp("2025-09-02")
    assert status.loc["MP", "covered_to"] == pd.Timestamp("2025-09-30")
    assert status.loc["MP", "gaps"] == 0  # Labor Day is not an NYSE session
    assert status.loc["MP", "gap_basis"] == "XNYS sessions"
    assert status.loc["MP", "shares"] == "history (2)"
    assert status.loc["BAD", "status"] == "failed"
    assert status.loc["GBPUSD=X", "kind"] == "fx"
    weekdays = cache_status(_universe(), tmp_path, calendars=False)
    assert weekdays.loc["PRE.L", "gap_basis"] == "weekdays"


# --------------------------------------------------------------------------------------------
# Faults
# --------------------------------------------------------------------------------------------


def test_network_down_every_block_empty(tmp_path: Path) -> None:
    fake = FakeYFinance({}, fail_tickers=["MP", "LYC.AX", "PRE.L"])
    with pytest.raises(NetworkError, match=r"no price data for any of the 3 symbols .*LYC\.AX, MP, PRE\.L"):
        _load(fake, tmp_path)
    # an empty answer is asked again once before giving up
    assert [a[0] for a in fake.asked()] == ["LYC.AX", "LYC.AX", "MP", "MP", "PRE.L", "PRE.L"]
    entries = YahooCache(tmp_path).entries()
    assert all(e.extra.get("failed") for e in entries.values())  # nothing but remembered failures


def test_all_nan_blocks_for_some_tickers(tmp_path: Path) -> None:
    fake = _fake(fail_tickers=["LYC.AX"])
    with pytest.raises(DataError, match=r"1 of 3 listing\(s\): LYC\.AX \[LYC\.AX \(2025-09-01\.\.2025-09-30\)\]"):
        _load(fake, tmp_path)
    market = _load(fake, tmp_path / "b", allow_missing=True)
    assert market.close["LYC.AX"].isna().all()
    assert market.close["MP"].notna().sum() == 21
    assert any("dropped (allow_missing)" in n and "LYC.AX" in n for n in market.notes)


def test_rate_limit_is_retried_with_backoff(tmp_path: Path) -> None:
    sleeps: list[float] = []
    fake = _fake(history_errors={"MP": [YFRateLimitError()]})
    market = _load(fake, tmp_path, sleep=sleeps.append)
    assert [a[0] for a in fake.asked()] == ["AUDUSD=X", "GBPUSD=X", "LYC.AX", "MP", "MP", "PRE.L"]
    assert sleeps == [4.0]  # 1 s base, x4 for a rate limit
    assert any("MP: price download attempt 1 failed (YFRateLimitError" in n for n in market.notes)
    assert market.close["MP"].notna().sum() == 21


def test_retries_exhausted_raise_network_error(tmp_path: Path) -> None:
    sleeps: list[float] = []
    fake = _fake(history_errors={"MP": [OSError("connection reset")] * 3})
    with pytest.raises(
        NetworkError, match=r"price download for MP failed after 3 attempt\(s\): OSError: connection reset"
    ):
        _load(fake, tmp_path, retries=2, sleep=sleeps.append)
    assert sleeps == [1.0, 2.0]
    # the listings that answered are cached; MP is not
    assert YahooCache(tmp_path).entry("prices", "LYC.AX") is not None
    assert YahooCache(tmp_path).entry("prices", "MP") is None


def test_hang_hits_the_deadline(tmp_path: Path) -> None:
    fake = _fake(hang_s=3.0)
    t0 = time.monotonic()
    with pytest.raises(NetworkError, match=r"0\.5 s deadline; still pending: price download for LYC\.AX, MP, PRE\.L"):
        _load(fake, tmp_path, deadline_s=0.5)
    assert time.monotonic() - t0 < 2.0
    assert not (tmp_path / "metadata.json").exists()  # nothing half-written


def test_deadline_during_share_counts_keeps_prices(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from fixtures.fake_yfinance import FakeTicker

    def slow(self: Any, start: Any = None, end: Any = None) -> Any:
        time.sleep(3)
        return None

    monkeypatch.setattr(FakeTicker, "get_shares_full", slow)
    fake = _fake()
    with pytest.raises(NetworkError, match=r"pending: share counts for LYC\.AX, MP, PRE\.L"):
        _load(fake, tmp_path, deadline_s=0.7)
    assert YahooCache(tmp_path).entry("prices", "MP") is not None


def test_duplicated_dates_keep_the_last_row(tmp_path: Path) -> None:
    hist = _histories()
    mp = hist["MP"]
    day = pd.Timestamp("2025-09-10", tz=NY)
    extra = mp.loc[[day]].copy()
    extra.index = pd.DatetimeIndex([day + pd.Timedelta(hours=16)], name="Date")  # Yahoo's live row
    extra["Close"] = 61.5
    hist["MP"] = pd.concat([mp, extra]).sort_index()
    fake = _fake(histories=hist)
    market = _load(fake, tmp_path)
    assert market.close.loc["2025-09-10", "MP"] == 61.5
    assert not market.close.index.has_duplicates
    assert any("duplicated date" in n and "2025-09-10" in n for n in market.notes)
    # the repair is remembered: a cache-only run reports it again
    again = _load(fake, tmp_path)
    assert any("duplicated date" in n for n in again.notes)


def test_zero_and_negative_prices_are_dropped_with_a_note(tmp_path: Path) -> None:
    hist = _histories()
    lyc = hist["LYC.AX"]
    idx = lyc.index.tz_localize(None)
    lyc.loc[idx == pd.Timestamp("2025-09-03"), "Close"] = 0.0
    lyc.loc[idx == pd.Timestamp("2025-09-04"), "Close"] = -1.0
    market = _load(_fake(histories=hist), tmp_path)
    assert np.isnan(market.close.loc["2025-09-03", "LYC.AX"])
    assert np.isnan(market.close.loc["2025-09-04", "LYC.AX"])
    assert market.close.loc["2025-09-05", "LYC.AX"] > 0
    assert any("LYC.AX: dropped 2 zero/negative close(s) (2025-09-03, 2025-09-04)" in n for n in market.notes)


def test_currency_without_fx_pair_fails_before_any_call(tmp_path: Path) -> None:
    rows = dict(GOOD)
    rows["ODD.XX"] = {"exchange": "XNYS", "currency": "XAU", "price_unit": "XAU", "listed_since": "2000-01-04"}
    fake = _fake()
    with pytest.raises(DataError, match=r"no Yahoo FX pair for the currency of ODD\.XX \(XAU\)"):
        _load(fake, tmp_path, _universe(rows))
    assert fake.calls == []


def test_fx_pair_without_data_names_ticker_and_currency(tmp_path: Path) -> None:
    rows = dict(GOOD)
    rows["NEO.TO"] = {"exchange": "XTSE", "currency": "CAD", "price_unit": "CAD", "listed_since": "2000-01-04"}
    hist = _histories()
    hist["NEO.TO"] = make_history(sessions("2025-08-01", "2025-10-31"), "America/Toronto", np.full(66, 7.0))
    fake = _fake(histories=hist)  # no CADUSD=X history
    with pytest.raises(DataError, match=r"no FX data from Yahoo for CADUSD=X \(CAD, needed by NEO\.TO\)"):
        _load(fake, tmp_path, _universe(rows))
    market = _load(fake, tmp_path, _universe(rows), allow_missing=True)
    assert market.close["NEO.TO"].isna().all()
    assert market.close["MP"].notna().any()


def test_spac_shell_rows_before_listed_since_are_dropped(tmp_path: Path) -> None:
    rows = dict(GOOD)
    rows["MP"] = {**rows["MP"], "listed_since": "2025-09-15"}
    market = _load(_fake(), tmp_path, _universe(rows))
    mp = market.close["MP"]
    assert mp.loc[:"2025-09-12"].isna().all()
    assert mp.loc["2025-09-15"] == pytest.approx(_yahoo_close(_histories()["MP"], "2025-09-15"))
    assert any("MP: dropped" in n and "before listed_since 2025-09-15" in n for n in market.notes)


def test_rows_from_delisted_on_are_dropped(tmp_path: Path) -> None:
    rows = dict(GOOD)
    rows["LYC.AX"] = {**rows["LYC.AX"], "delisted": "2025-09-20"}
    uni = _universe(rows)
    market = _load(_fake(), tmp_path, uni)
    assert market.close["LYC.AX"].loc["2025-09-19"] > 0
    assert market.close["LYC.AX"].loc["2025-09-22":].isna().all()


def test_short_empty_tail_is_accepted_as_a_holiday(tmp_path: Path) -> None:
    _load(_fake(), tmp_path, end="2025-09-30")
    hist = _histories(last="2025-09-30")  # nothing after 2025-09-30 yet
    fake = _fake(histories=hist)
    market = _load(fake, tmp_path, end="2025-10-02")
    assert market.close.index[-1] == pd.Timestamp("2025-09-30")
    assert any("holiday" in n for n in market.notes)
    assert YahooCache(tmp_path).entry("prices", "MP").end == pd.Timestamp("2025-10-01")  # not advanced


def test_share_count_fallbacks(tmp_path: Path) -> None:
    fake = _fake(
        shares={"MP": RuntimeError("Yahoo web request for share count failed"), "LYC.AX": None, "PRE.L": None},
        fast_info_shares={"MP": 170_000_000, "LYC.AX": KeyError("shares")},
    )
    market = _load(fake, tmp_path)
    # MP: today's count as a constant over the whole history (noted)
    assert market.shares["MP"].loc["2025-09-02":].eq(170_000_000).all()
    assert any("MP: no share-count history" in n and "constant" in n for n in market.notes)
    # LYC.AX / PRE.L: nothing -> NaN market cap, noted with the reason
    cap = market.market_cap_usd()
    assert cap["LYC.AX"].isna().all() and cap["PRE.L"].isna().all()
    assert any("LYC.AX: no share count from Yahoo" in n and "NO_DATA" in n for n in market.notes)
    # cached: the fallbacks are not asked again for the same window
    fake.reset_calls()
    again = _load(fake, tmp_path)
    assert fake.network_calls == 0
    assert again.shares["MP"].loc["2025-09-30"] == 170_000_000


def test_never_opens_a_socket_without_preflight(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*a: Any, **k: Any) -> Any:
        raise OSError("no sockets in this test")

    monkeypatch.setattr(socket.socket, "connect", boom)
    monkeypatch.setattr(socket.socket, "connect_ex", boom)
    monkeypatch.setattr(socket, "create_connection", boom)
    monkeypatch.setattr(socket, "getaddrinfo", boom)
    market = _load(_fake(), tmp_path, _universe(), allow_missing=True, preflight=False)
    assert market.close["MP"].notna().any()


def test_preflight_failure_is_fast_and_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[Any] = []

    def refuse(address: Any, timeout: float = 0, **kw: Any) -> Any:
        asked.append((address, timeout))
        raise OSError("Temporary failure in name resolution")

    monkeypatch.setattr(socket, "create_connection", refuse)
    for var in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    fake = _fake()
    t0 = time.monotonic()
    with pytest.raises(NetworkError, match=r"cannot reach Yahoo Finance .*use --source demo or a CSV folder"):
        _load(fake, tmp_path, preflight=True)
    assert time.monotonic() - t0 < 1.0
    assert asked == [(("query1.finance.yahoo.com", 443), 3.0)]
    assert fake.calls == []


def test_preflight_goes_to_the_proxy_and_is_skipped_when_cached(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[Any] = []

    class Conn:
        def __enter__(self) -> Conn:
            return self

        def __exit__(self, *a: Any) -> None:
            return None

    def ok(address: Any, timeout: float = 0, **kw: Any) -> Conn:
        asked.append(address)
        return Conn()

    monkeypatch.setattr(socket, "create_connection", ok)
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    preflight_check()
    assert asked == [("proxy.example", 3128)]
    fake = _fake()
    _load(fake, tmp_path, preflight=True)
    assert len(asked) == 2
    _load(fake, tmp_path, preflight=True)  # everything cached: no network, no pre-flight
    assert len(asked) == 2


def test_bad_dates_are_review_date_errors_like_everywhere_else(tmp_path: Path) -> None:
    with pytest.raises(ReviewDateError, match="before start"):
        _load(_fake(), tmp_path, start="2025-09-30", end="2025-09-01")
    for bad in ("someday", "30/09/2025", 20250930):  # day-first and integers are refused, not guessed
        with pytest.raises(ReviewDateError, match="not a date"):
            _load(_fake(), tmp_path, start=bad)


def test_end_in_the_future_is_clamped_to_today(tmp_path: Path) -> None:
    fake = _fake(histories=_histories(last="2025-10-15"))  # Yahoo has nothing after today
    first = _load(fake, tmp_path, end="2026-03-01", today="2025-10-15")
    assert first.close.index[-1] == pd.Timestamp("2025-10-15")
    assert YahooCache(tmp_path).entry("prices", "MP").end == pd.Timestamp("2025-10-15")
    fake.reset_calls()
    again = _load(fake, tmp_path, end="2026-03-01", today="2025-10-15")
    assert fake.calls_of("history")  # today's rows are provisional: asked again
    assert not any("no new rows" in n or "holiday" in n for n in again.notes)
    pd.testing.assert_frame_equal(again.close, first.close)


def test_dividend_unit_mixups_are_flagged(tmp_path: Path) -> None:
    hist = _histories()
    pre = hist["PRE.L"]
    idx = pre.index.tz_localize(None)
    pre.loc[idx == pd.Timestamp("2025-09-10"), "Dividends"] = 0.05  # in GBP, not pence
    mp = hist["MP"]
    mp.loc[mp.index.tz_localize(None) == pd.Timestamp("2025-09-12"), "Dividends"] = 40.0  # > half the price
    market = _load(_fake(histories=hist), tmp_path)
    assert any("PRE.L: dividend 0.0005 on 2025-09-10" in n and "major units" in n for n in market.notes)
    assert any("MP: dividend 40 on 2025-09-12 exceeds half the close" in n for n in market.notes)
    assert market.dividends.loc["2025-09-10", "PRE.L"] == pytest.approx(0.0005)  # kept, not repaired


def test_rich_progress_is_supported(tmp_path: Path) -> None:
    from rich.progress import Progress

    with Progress(disable=True) as progress:
        _load(_fake(), tmp_path, progress=progress)
        tasks = {t.description: (t.completed, t.total) for t in progress.tasks}
    assert tasks == {"prices": (3, 3), "FX rates": (2, 2), "share counts": (3, 3)}


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cuts=st.lists(st.integers(min_value=0, max_value=60), min_size=1, max_size=3))
def test_incremental_loads_equal_one_load(tmp_path_factory: pytest.TempPathFactory, cuts: list[int]) -> None:
    """Any sequence of growing ranges ends with exactly what one load of the full range gives."""
    cache = tmp_path_factory.mktemp("inc")
    fake = _fake()
    base = pd.Timestamp("2025-09-01")
    for cut in sorted(cuts):
        _load(fake, cache, start="2025-09-01", end=base + pd.Timedelta(days=cut))
    final = _load(fake, cache, start="2025-08-20", end="2025-10-31")
    direct = _load(_fake(), tmp_path_factory.mktemp("direct"), start="2025-08-20", end="2025-10-31")
    assert final.fingerprint == direct.fingerprint


def test_a_hanging_preflight_is_bounded_by_the_deadline(tmp_path: Path) -> None:
    fake = _fake()
    t0 = time.monotonic()
    with pytest.raises(NetworkError, match="pending: the pre-flight connection check"):
        _load(fake, tmp_path, preflight=lambda: time.sleep(3), deadline_s=0.3)
    assert time.monotonic() - t0 < 1.5
    assert fake.calls == []


def test_benchmark_ticker_returns_through_the_same_cache(tmp_path: Path) -> None:
    from exchina_index.data import load_benchmark_returns

    market = _load(_fake(), tmp_path)
    days = sessions("2025-08-01", "2025-10-31", holidays=["2025-09-01"])
    close = np.linspace(50.0, 60.0, len(days))
    remx = make_history(days, NY, close, dividends={str(days[30].date()): 1.0})
    fake = FakeYFinance({"REMX": remx}, shares={"REMX": None}, fast_info_shares={"REMX": None})
    got = load_benchmark_returns(
        "REMX", market, cache_dir=tmp_path, yf=fake, preflight=False, sleep=lambda s: None, today="2026-01-15"
    )
    # the ex-date's total return adds the dividend over the previous close; other days are price moves
    i = 30  # 2025-09-12, inside the market's range
    assert got.loc[days[i]] == pytest.approx((close[i] + 1.0) / close[i - 1] - 1, rel=1e-6)
    assert got.loc[days[i + 1]] == pytest.approx(close[i + 1] / close[i] - 1, rel=1e-6)
    with pytest.raises(DataError, match="--source yahoo"):
        load_benchmark_returns("REMX", xi_demo_market())


def xi_demo_market():
    import exchina_index as xi

    return xi.load_market_data(xi.load_universe(), source="demo")


# --------------------------------------------------------------------------------------------
# Offline reruns (issue 11, item 6)
# --------------------------------------------------------------------------------------------


def _offline(monkeypatch: pytest.MonkeyPatch) -> tuple[FakeYFinance, Any]:
    """A yfinance that knows nothing, no sockets, and a pre-flight check that fails the test."""

    def boom(*a: Any, **k: Any) -> Any:
        raise OSError("no network in this test")

    for name in ("create_connection", "getaddrinfo"):
        monkeypatch.setattr(socket, name, boom)
    monkeypatch.setattr(socket.socket, "connect", boom)

    def preflight() -> None:
        raise AssertionError("the pre-flight check ran: this load wanted the network")

    return FakeYFinance({}, shares={}), preflight


def test_default_end_is_the_last_complete_day_so_a_rerun_today_needs_no_network(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = _fake()
    first = _load(fake, tmp_path, end=None, today="2025-09-16")
    # end=None is yesterday (UTC): today's unfinished session is not asked for
    assert {c.end for c in fake.calls_of("history")} == {"2025-09-16"}  # Yahoo's end is exclusive
    assert first.close.index[-1] == pd.Timestamp("2025-09-15")
    # 3 price series, 2 FX pairs, 3 share-count series
    assert first.notes[0] == (
        "yahoo: 8 of 8 series asked from Yahoo, 0 served from the cache; prices to "
        "2025-09-15 (asked up to 2025-09-15, the last complete UTC day)"
    )
    offline, preflight = _offline(monkeypatch)
    again = _load(offline, tmp_path, end=None, today="2025-09-16", preflight=preflight)
    assert offline.calls == []
    assert again.notes[0] == (
        "yahoo: all 8 series served from the cache, no network call; prices to "
        "2025-09-15 (asked up to 2025-09-15, the last complete UTC day)"
    )
    assert again.fingerprint == first.fingerprint
    assert again.notes[1:] == first.notes[1:]  # the repairs and fallbacks are said again


def test_a_fetch_up_to_today_serves_the_default_range_offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``data fetch`` asks up to today (explicitly); a later ``weights`` run asks up to yesterday."""
    fetch(
        _universe(GOOD),
        START,
        "2025-09-16",
        cache_dir=tmp_path,
        yf=_fake(),
        preflight=False,
        sleep=lambda s: None,
        today="2025-09-16",
    )
    offline, preflight = _offline(monkeypatch)
    market = _load(offline, tmp_path, end=None, today="2025-09-16", preflight=preflight)
    assert offline.calls == []
    assert market.close.index[-1] == pd.Timestamp("2025-09-15")  # the provisional row of today is not served
    assert market.notes[0].startswith(
        "yahoo: all 8 series served from the cache, no network call; prices to 2025-09-15"
    )
    # the next day the default range has one more complete day: it is asked for
    with pytest.raises(AssertionError, match="pre-flight check ran"):
        _load(offline, tmp_path, end=None, today="2025-09-17", preflight=preflight)


def test_the_summary_note_without_a_cache_and_for_an_explicit_end(tmp_path: Path) -> None:
    market = _load(_fake(), tmp_path / "c", use_cache=False)
    assert market.notes[0] == (
        "yahoo: all 8 series asked from Yahoo (cache not used); prices to 2025-09-30 (asked up to 2025-09-30)"
    )
    with pytest.raises(
        ReviewDateError, match=r"the last complete day 2025-09-15 \(end not given\) is before start 2025-09-16"
    ):
        _load(_fake(), tmp_path, start="2025-09-16", end=None, today="2025-09-16")


# --------------------------------------------------------------------------------------------
# The deadline and the worker threads (issue 11, item 2; the real yfinance: test_yahoo_http.py)
# --------------------------------------------------------------------------------------------


def _many(n: int) -> tuple[SimpleNamespace, dict[str, pd.DataFrame]]:
    rows = {
        f"T{i:02d}": {"exchange": "XNYS", "currency": "USD", "price_unit": "USD", "listed_since": "2000-01-04"}
        for i in range(n)
    }
    days = sessions("2025-08-01", "2025-10-31", holidays=["2025-09-01"])
    return _universe(rows), {t: make_history(days, NY, np.full(len(days), 10.0)) for t in rows}


def test_no_call_starts_after_the_deadline_and_every_worker_is_a_daemon(tmp_path: Path) -> None:
    import threading

    uni, hist = _many(20)
    fake = FakeYFinance(hist, shares={}, hang_s=1.0)
    t0 = time.monotonic()
    with pytest.raises(
        NetworkError,
        match=r"0\.4 s deadline; still pending: price download for "
        r"T00, T01, T02, T03, T04, T05, T06, T07 \.\.\. \(20 in all\)\. .*--deadline",
    ):
        _load(fake, tmp_path, uni, deadline_s=0.4)
    assert time.monotonic() - t0 < 1.0
    workers = [t for t in threading.enumerate() if t.name == "exchina-index-yahoo"]
    assert workers and all(t.daemon for t in workers)
    time.sleep(1.5)  # the first WORKERS calls end; no worker takes another symbol
    assert len(fake.calls_of("history")) == yahoo_mod.WORKERS == 8
    assert not (tmp_path / "metadata.json").exists()


def test_what_came_in_before_the_deadline_is_cached(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from fixtures.fake_yfinance import FakeTicker

    real = FakeTicker.history

    def slow_for_lyc(self: Any, *a: Any, **k: Any) -> Any:
        if self.ticker == "LYC.AX":
            time.sleep(2.0)
        return real(self, *a, **k)

    monkeypatch.setattr(FakeTicker, "history", slow_for_lyc)
    fake = _fake()
    with pytest.raises(NetworkError, match=r"still pending: price download for LYC\.AX\."):
        _load(fake, tmp_path, deadline_s=0.8)
    cache = YahooCache(tmp_path)
    assert cache.entry("prices", "MP") is not None and cache.entry("prices", "PRE.L") is not None
    assert cache.entry("prices", "LYC.AX") is None
    monkeypatch.setattr(FakeTicker, "history", real)
    fake.reset_calls()
    _load(fake, tmp_path)  # the rerun continues where the first one stopped
    assert [a[0] for a in fake.asked()] == ["AUDUSD=X", "GBPUSD=X", "LYC.AX"]


def test_corrupt_file_in_a_read_only_cache_is_one_cache_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from exchina_index.errors import CacheError

    _load(_fake(), tmp_path)
    YahooCache(tmp_path).file_for("prices", "MP").write_bytes(b"garbage")

    def refuse(*a: Any, **k: Any) -> None:
        raise PermissionError(13, "Read-only file system")

    monkeypatch.setattr(Path, "unlink", refuse)
    fake = _fake()
    with pytest.raises(CacheError, match=r"for prices MP is corrupt .* cannot be deleted .*--cache-dir"):
        _load(fake, tmp_path)
    assert fake.calls == []  # refused before any network call


def test_quiet_yfinance_logs(caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]) -> None:
    import logging
    import warnings

    logger = logging.getLogger("yfinance")
    saved = (logger.propagate, list(logger.handlers))
    try:
        with warnings.catch_warnings(record=True) as seen:
            yahoo_mod.quiet_yfinance_logs(debug=False)
            yahoo_mod.quiet_yfinance_logs(debug=False)  # twice: still one handler
            assert sum(isinstance(h, logging.NullHandler) for h in logger.handlers) == 1
            with caplog.at_level(logging.DEBUG):
                logger.error("MP: possibly delisted; no price data found")
                warnings.warn_explicit("noise", FutureWarning, "x.py", 1, module="yfinance.scrapers.history")
                warnings.warn_explicit("ours", FutureWarning, "y.py", 1, module="exchina_index.construction.review")
            assert [str(w.message) for w in seen] == ["ours"]  # only yfinance's own warnings are ignored
            assert "delisted" not in capsys.readouterr().err
            assert not caplog.records
            yahoo_mod.quiet_yfinance_logs(debug=True)
            with caplog.at_level(logging.DEBUG):
                logger.error("MP: possibly delisted; no price data found")
            assert [r.getMessage() for r in caplog.records] == ["MP: possibly delisted; no price data found"]
    finally:
        logger.propagate, logger.handlers[:] = saved[0], saved[1]


def test_a_delisted_listing_yahoo_no_longer_has_is_noted_not_an_error_and_not_asked_again(tmp_path: Path) -> None:
    # GONE was delisted on 2025-09-15 (universe `delisted`): Yahoo drops delisted symbols, so it answers
    # nothing. That is expected: a note naming the survivorship gap, no DataError even without
    # allow_missing, and the failure is remembered for good (no call for it on the next run).
    rows = {**GOOD, "GONE": {**_ROWS["BAD"], "delisted": "2025-09-15"}}
    fake = _fake()
    market = _load(fake, tmp_path, _universe(rows))
    assert market.close["GONE"].isna().all()
    assert any("GONE" in n and "Yahoo drops delisted symbols" in n for n in market.notes)
    fake.reset_calls()
    _load(fake, tmp_path, _universe(rows))
    assert "GONE" not in [a[0] for a in fake.asked()]
    # a listing that is not delisted and answers nothing is still an error
    with pytest.raises(DataError, match="BAD"):
        _load(_fake(), tmp_path / "other", _universe({**rows, "BAD": _ROWS["BAD"]}))
