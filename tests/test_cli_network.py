"""The command line against a Yahoo that accepts connections and never answers (issue 11, item 2).

Each command runs in a subprocess, as a cron job would, with ``HTTPS_PROXY``/``HTTP_PROXY``
pointing at a local black hole (``tests/fixtures/yahoo_server.py``; loopback only, it closes
itself): it must print exactly one line on stderr and exit 2 within the deadline plus 10 s,
and the process must be gone (nothing left running to keep it alive).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fixtures.yahoo_server import BlackHole

DEADLINE = 5
#: Budget beyond the deadline: interpreter start-up and imports, then the error and the exit.
SLACK = 10


#: The console entry point (``run``: it ends the process even if a library left a thread behind).
MODULE = ["-m", "exchina_index.cli"]
#: ``main`` alone, without that backstop: the process can only end if no thread keeps it alive.
MAIN_ONLY = ["-c", "import sys; from exchina_index.cli import main; sys.exit(main(sys.argv[1:]))"]


def _run_against_black_hole(args: list[str], cwd: Path, entry: list[str] = MODULE) -> tuple[int, str, str, float, int]:
    """Run the CLI with the proxies pointing at a black hole; (exit code, stdout, stderr, seconds, connections)."""
    with BlackHole(lifetime_s=DEADLINE + SLACK + 5) as hole:
        env = {k: v for k, v in os.environ.items() if k.lower() not in ("no_proxy", "all_proxy")}
        env.update(HTTPS_PROXY=hole.url, HTTP_PROXY=hole.url, https_proxy=hole.url, http_proxy=hole.url)
        t0 = time.monotonic()
        proc = subprocess.Popen(
            [sys.executable, *entry, *args], cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        try:
            out, err = proc.communicate(timeout=DEADLINE + SLACK)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
            pytest.fail(
                f"still running {DEADLINE + SLACK} s after start (deadline {DEADLINE} s); stderr: {err[-2000:]}"
            )
        elapsed = time.monotonic() - t0
        return proc.returncode, out, err, elapsed, hole.accepted


def _assert_one_line_exit_2(result: tuple[int, str, str, float, int]) -> None:
    code, out, err, elapsed, accepted = result
    lines = err.splitlines()
    assert code == 2, (code, err[-2000:])
    assert len(lines) == 1, err
    assert lines[0].startswith("exchina-index: error: Yahoo Finance did not answer within the 5 s deadline"), lines
    assert "--deadline" in lines[0]
    assert elapsed < DEADLINE + SLACK
    assert accepted >= 2  # the pre-flight check went through the proxy, then yfinance did


@pytest.mark.parametrize("entry", [MODULE, MAIN_ONLY], ids=["console-entry", "main-without-os-exit"])
def test_data_fetch_against_a_black_hole(tmp_path: Path, entry: list[str]) -> None:
    _assert_one_line_exit_2(
        _run_against_black_hole(
            [
                "data",
                "fetch",
                "--deadline",
                str(DEADLINE),
                "--cache-dir",
                str(tmp_path / "cache"),
                "--start",
                "2025-01-01",
            ],
            tmp_path,
            entry,
        )
    )


def test_weights_from_yahoo_against_a_black_hole(tmp_path: Path) -> None:
    _assert_one_line_exit_2(
        _run_against_black_hole(
            [
                "weights",
                "--source",
                "yahoo",
                "--deadline",
                str(DEADLINE),
                "--cache-dir",
                str(tmp_path / "cache"),
                "--as-of",
                "2025-09-19",
            ],
            tmp_path,
        )
    )


def test_yahoo_backtest_against_a_black_hole(tmp_path: Path) -> None:
    spec = tmp_path / "net.toml"
    spec.write_text(
        'name = "net"\nsource = "yahoo"\nstart = "2024-01-01"\nend = "2025-06-30"\n'
        '[benchmark]\nkind = "universe_cap_weighted"\n',
        encoding="utf-8",
    )
    _assert_one_line_exit_2(
        _run_against_black_hole(
            [
                "backtest",
                str(spec),
                "--deadline",
                str(DEADLINE),
                "--cache-dir",
                str(tmp_path / "cache"),
                "--out",
                str(tmp_path / "out"),
            ],
            tmp_path,
        )
    )
    assert not (tmp_path / "out").exists()  # nothing written on refusal


# --------------------------------------------------------------------------------------------
# Offline reruns (issue 11, item 6): a cache filled today serves today's runs with no network
# --------------------------------------------------------------------------------------------


def _can_unshare_network() -> bool:
    try:
        return subprocess.run(["unshare", "-n", "true"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


@pytest.mark.skipif(not _can_unshare_network(), reason="needs `unshare -n` (a network namespace; root on Linux)")
def test_weights_from_a_cache_filled_today_run_without_any_network(tmp_path: Path) -> None:
    """``data fetch`` today (here: the loader, with a fake yfinance), then ``weights --source yahoo``
    in a network namespace with no interface at all (``unshare -n``): exit 0 and one note."""
    import numpy as np
    import pandas as pd
    from fixtures.fake_yfinance import FakeYFinance, make_history, sessions, shares_series

    import exchina_index as xi
    from exchina_index.data.yahoo import fetch, fx_pair

    def utc_today() -> pd.Timestamp:
        return pd.Timestamp.now("UTC").tz_localize(None).normalize()

    today = utc_today()
    universe = xi.load_universe()
    days = sessions(str((today - pd.Timedelta(days=700)).date()), str(today.date()))
    n = len(days)
    hist = {
        t: make_history(days, "America/New_York", 20 + 0.01 * np.arange(n), volume=np.full(n, 2_000_000))
        for t in universe.frame.index
    }
    shares = {t: shares_series({str(days[0].date()): 500_000_000}, "America/New_York") for t in universe.frame.index}
    for ccy in set(universe.frame["currency"]) - {"USD"}:
        pair, inverted = fx_pair(ccy)
        hist[pair] = make_history(days, "Europe/London", np.full(n, 7.0 if inverted else 0.5), volume=np.zeros(n))
    # what `data fetch` does today: the range up to today, today's unfinished session included
    fetch(
        universe,
        "2015-01-01",
        str(today.date()),
        cache_dir=tmp_path / "cache",
        yf=FakeYFinance(hist, shares=shares),
        preflight=False,
    )
    as_of = str((today - pd.Timedelta(days=30)).date())
    proc = subprocess.run(
        [
            "unshare",
            "-n",
            sys.executable,
            "-m",
            "exchina_index.cli",
            "weights",
            "--source",
            "yahoo",
            "--cache-dir",
            str(tmp_path / "cache"),
            "--as-of",
            as_of,
            "--deadline",
            "5",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if utc_today() != today:
        pytest.skip("crossed midnight UTC during the test")
    assert proc.returncode == 0, proc.stderr[-2000:]
    yesterday = (today - pd.Timedelta(days=1)).date()
    last_session = days[days < today][-1].date()  # the fake trades on weekdays: Friday on a Sunday or Monday
    # a price and a share series per listing, one per FX pair; listings delisted before the fake's first
    # day have no data (Yahoo drops delisted symbols) and are left out with a note
    f = universe.frame
    gone = f.index[f["delisted"].notna() & (f["delisted"] <= days[0])]
    n_series = 2 * (len(f) - len(gone)) + len(set(f["currency"]) - {"USD"})
    assert (
        f"note: yahoo: all {n_series} series served from the cache, no network call; prices to {last_session} "
        f"(asked up to {yesterday}, the last complete UTC day)"
    ) in proc.stdout.splitlines(), proc.stdout[-2000:]
    assert any(
        "Yahoo drops delisted symbols" in line and all(t in line for t in gone) for line in proc.stdout.splitlines()
    )
