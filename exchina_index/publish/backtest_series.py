"""What the tearsheet reads from a backtest: its levels, frames and the benchmark, checked and on
tz-naive daily dates.

The benchmark
-------------
``benchmark`` is a pandas Series indexed by date (a one-column DataFrame is accepted too) holding
either daily **returns** (``kind="returns"``) or **levels / prices** (``kind="levels"``). There is
no guessing: a "returns" series that looks like prices (all values >= 0 and some > 1) is rejected
with a message saying to pass levels. It is aligned on the index's dates without look-ahead: its
level on each index date is its last level on or before that date (a benchmark holiday is a zero
return; a day the benchmark traded but the index did not is carried into the next index date).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from exchina_index.errors import DataError, InputError
from exchina_index.simulation.performance import PERIODS_PER_YEAR

__all__ = [
    "LEVEL_COLUMNS",
    "PERIODS_PER_YEAR",
    "DEFAULT_INDEX_NAME",
    "INDEX_DESCRIPTION",
    "index_name",
    "naive_dates",
    "clean_levels",
    "daily_returns",
    "series_name",
    "align_benchmark",
    "frame_by_date",
    "series_by_date",
]

LEVEL_COLUMNS: tuple[str, ...] = ("price_return", "total_return", "net_total_return", "nav")
DEFAULT_INDEX_NAME = "U.S. & Allied (ex-China) Rare Earth Supply Chain Index"
#: What the index is, in the words of a factsheet.
INDEX_DESCRIPTION = (
    "A rules-based basket of listed miners, refiners and manufacturers of the rare-earth supply chain "
    "(magnets, metals, recycling) domiciled in allied nations and not controlled from China, balanced "
    "across mining, refining and manufacturing by rare-earth exposure and capped by name, issuer, "
    "country and liquidity."
)


def index_name(result: Any) -> str:
    """The index name from the result's rulebook (the default name without one)."""
    name = getattr(getattr(result, "methodology", None), "name", None)
    return str(name) if name else DEFAULT_INDEX_NAME


def naive_dates(index: pd.Index, what: str) -> pd.DatetimeIndex:
    """A tz-naive, nanosecond DatetimeIndex (quantstats and pandas 3 resolution quirks)."""
    try:
        idx = pd.DatetimeIndex(index)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{what} must be indexed by dates ({exc})") from None
    if idx.tz is not None:
        idx = idx.tz_localize(None)  # daily bars: keep the exchange's calendar date
    return idx.astype("datetime64[ns]")


def clean_levels(levels: pd.DataFrame) -> pd.DataFrame:
    """The four level columns as floats on naive dates, from the first review on; at least two
    closes, all positive."""
    missing = [c for c in LEVEL_COLUMNS if c not in levels.columns]
    if missing:
        raise DataError(f"the backtest levels have no column(s) {', '.join(missing)}")
    lv = levels[list(LEVEL_COLUMNS)].astype("float64")
    lv.index = naive_dates(lv.index, "the backtest levels")
    lv = lv.sort_index().dropna(how="any")  # the engine leaves rows before the first review NaN
    if len(lv) < 2:
        raise DataError("the backtest has fewer than two valid index levels; run it over a longer period")
    if (lv <= 0).to_numpy().any():
        raise DataError("the backtest has a non-positive index level; a tearsheet cannot be computed")
    lv.index.name = "date"
    return lv


def daily_returns(level: pd.Series) -> pd.Series:
    """Simple daily returns of the net total-return level, named for quantstats."""
    r = level.pct_change(fill_method=None).iloc[1:].astype("float64")
    r.name = "Index (NTR)"
    return r


def series_name(obj: Any) -> str | None:
    """The name of a Series or of a one-column DataFrame's column (``None`` without one)."""
    if isinstance(obj, pd.DataFrame) and obj.shape[1] == 1:
        return str(obj.columns[0])
    name = getattr(obj, "name", None)
    return None if name is None else str(name)


def align_benchmark(benchmark: Any, dates: pd.DatetimeIndex, kind: str) -> pd.Series:
    """Benchmark returns on ``dates[1:]`` (NaN where the benchmark does not cover both ends)."""
    if isinstance(benchmark, (str, bytes)):
        raise InputError(
            f"the benchmark must be a pandas Series of daily returns or levels, not the string {benchmark!r} "
            "(quantstats would download it); load its prices first and pass them with benchmark_kind='levels'"
        )
    if isinstance(benchmark, pd.DataFrame):
        if benchmark.shape[1] != 1:
            raise InputError(f"a benchmark DataFrame must have one column, got {benchmark.shape[1]}")
        benchmark = benchmark.iloc[:, 0]
    if not isinstance(benchmark, pd.Series):
        raise InputError(f"the benchmark must be a pandas Series indexed by date, got {type(benchmark).__name__}")
    if kind not in ("returns", "levels"):
        raise InputError(f"benchmark_kind must be 'returns' or 'levels', got {kind!r}")
    s = pd.Series(
        pd.to_numeric(benchmark, errors="coerce").to_numpy(dtype="float64"),
        index=naive_dates(benchmark.index, "the benchmark"),
    )
    if s.index.has_duplicates:
        dup = s.index[s.index.duplicated()][0]
        raise InputError(f"the benchmark has more than one value at {dup}")
    s = s.sort_index().dropna()
    if kind == "levels":  # a close stamped with a time of day is that day's close
        s = s.groupby(s.index.normalize()).last()
    elif not (s.index == s.index.normalize()).all():
        raise InputError(
            "benchmark returns must be daily, indexed by dates without a time of day; "
            "pass the prices with benchmark_kind='levels' instead"
        )
    if s.empty:
        raise InputError("the benchmark has no numeric values")
    if kind == "returns":
        if s.min() >= 0 and s.max() > 1:
            raise InputError(
                "the benchmark looks like prices or levels (all >= 0, some > 1); pass benchmark_kind='levels'"
            )
        if (s <= -1).any():
            raise InputError(f"the benchmark has a daily return of -100 % or less on {s.index[s <= -1][0].date()}")
        level = (1.0 + s).cumprod()
    else:
        if (s <= 0).any():
            raise InputError(f"the benchmark has a non-positive level on {s.index[s <= 0][0].date()}")
        level = s
    # Last benchmark level on or before each index date; undefined before its first and after its last date.
    pos = level.index.searchsorted(dates, side="right") - 1
    values = level.to_numpy()[np.clip(pos, 0, None)]
    known = (pos >= 0) & (dates <= level.index[-1])
    on_dates = pd.Series(np.where(known, values, np.nan), index=dates)
    ret = (on_dates / on_dates.shift(1) - 1.0).iloc[1:]
    return ret.astype("float64")


def frame_by_date(frame: pd.DataFrame) -> pd.DataFrame:
    """A backtest frame as floats on sorted naive dates."""
    f = frame.astype("float64")
    f.index = naive_dates(f.index, "the backtest frames")
    return f.sort_index()


def series_by_date(series: pd.Series) -> pd.Series:
    """A backtest series as floats on sorted naive dates."""
    s = pd.Series(series, dtype="float64")
    s.index = naive_dates(s.index, "the backtest series")
    return s.sort_index()
