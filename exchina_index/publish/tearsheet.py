"""Tearsheets of a backtest: the quantstats report and a thematic page of our own, offline.

:func:`write_tearsheet` writes, into one folder:

``tearsheet.html``
    The quantstats HTML report of the **net total-return** index's daily returns, against an
    optional benchmark (:mod:`exchina_index.publish.quantstats_page`).
``thematic.html``
    A self-contained page of our own (:mod:`exchina_index.publish.thematic`): stages, countries,
    holdings, turnover, liquidity, concentration and China nexus.
``levels.csv``, ``weights.csv``, ``turnover.csv``
    Index levels by date, target weights by implementation date, turnover and costs by
    implementation date, with ``%.10g`` floats.
``factsheet.pdf``
    Two A4 pages like an index provider's factsheet (:mod:`exchina_index.publish.factsheet`).
``attribution.csv``
    With an attribution (a benchmark with holdings): the Brinson–Fachler effects by stage,
    country and currency (:mod:`exchina_index.publish.attribution_page`), also on the thematic page.

Every file is written atomically (:mod:`exchina_index.atomic`). The benchmark (daily returns or
levels) is aligned on the index's dates without look-ahead
(:func:`~exchina_index.publish.backtest_series.align_benchmark`); both the index and the
benchmark are then restricted to the dates both cover, so quantstats never re-aligns them itself.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import pandas as pd

from exchina_index._text import SYNTHETIC_TAG
from exchina_index.atomic import TEMP_PREFIX, write_bytes, write_text
from exchina_index.errors import InputError, OutputError
from exchina_index.publish.attribution_page import ATTRIBUTION_FILE, attribution_csv
from exchina_index.publish.backtest_series import (
    INDEX_DESCRIPTION,
    align_benchmark,
    clean_levels,
    daily_returns,
    frame_by_date,
    index_name,
    series_by_date,
    series_name,
)
from exchina_index.publish.factsheet import FACTSHEET_FILE, render_factsheet
from exchina_index.publish.html import TEARSHEET_FILE, THEMATIC_FILE
from exchina_index.publish.quantstats_page import finish_quantstats_html, plain_label, run_quantstats
from exchina_index.publish.thematic import render_thematic

if TYPE_CHECKING:  # pragma: no cover
    from exchina_index.simulation.attribution import Attribution
    from exchina_index.simulation.backtest import BacktestResult

__all__ = ["write_tearsheet"]

_FLOAT_FORMAT = "%.10g"


def write_tearsheet(
    result: BacktestResult,
    out_dir: str | os.PathLike[str],
    benchmark: pd.Series | pd.DataFrame | None = None,
    *,
    title: str | None = None,
    benchmark_name: str | None = None,
    benchmark_kind: Literal["returns", "levels"] = "returns",
    attribution: Attribution | None = None,
    currency_levels: pd.DataFrame | None = None,
    description: str = INDEX_DESCRIPTION,
) -> Path:
    """Write the quantstats tearsheet, the thematic page and the CSVs of a backtest.

    Parameters
    ----------
    result
        A :class:`~exchina_index.simulation.backtest.BacktestResult`.
    out_dir
        Output folder (created if needed). Existing files of the same names are replaced.
    benchmark
        ``None`` or a pandas Series by date (daily returns or levels, see ``benchmark_kind``). A
        ticker string is refused: fetch the data first (quantstats would download it).
    title
        Page title; default: the index name from the rulebook. When ``result.synthetic`` the words
        ``SYNTHETIC DEMO DATA`` are appended if the title does not already contain them.
    benchmark_name
        Label of the benchmark; default: the Series name, else ``"Benchmark"``.
    benchmark_kind
        ``"returns"`` (simple daily returns, 0.01 = 1 %) or ``"levels"`` (prices or index levels).
    attribution
        The attribution against a benchmark with holdings
        (:func:`~exchina_index.simulation.attribution.attribution_from_backtest`): a section of the
        thematic page and ``attribution.csv``.
    currency_levels
        The net total-return level in other currencies, one column per ISO code, for the
        factsheet's table of returns by currency (or ``None``).
    description
        The factsheet's description of the index.

    Returns
    -------
    pathlib.Path
        The path of ``tearsheet.html``; ``thematic.html``, ``levels.csv``, ``weights.csv`` and
        ``turnover.csv`` are beside it.

    Raises
    ------
    InputError
        The benchmark is a string, of the wrong kind, or does not overlap the backtest.
    DataError
        The result has fewer than two valid index levels.
    OutputError
        The folder cannot be created or written.

    Examples
    --------
    >>> import exchina_index as xi                                     # doctest: +SKIP
    >>> bt = xi.backtest(universe, market, start="2019-01-01")         # doctest: +SKIP
    >>> xi.write_tearsheet(bt, "backtests/output/demo", benchmark=basket_returns)  # doctest: +SKIP
    PosixPath('backtests/output/demo/tearsheet.html')
    """
    from exchina_index.simulation.backtest import BacktestResult

    if not isinstance(result, BacktestResult):
        raise InputError(f"result must be a BacktestResult (from backtest()), got {type(result).__name__}")
    if not isinstance(out_dir, (str, os.PathLike)) or "\x00" in os.fspath(out_dir):
        raise OutputError(f"out_dir must be a folder path, got {out_dir!r}")
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(
            f"cannot create the tearsheet folder {out} ({exc.strerror}); choose a writable folder"
        ) from None

    levels = clean_levels(result.levels)
    synthetic = bool(getattr(result, "synthetic", False))
    page_title = title if title is not None else index_name(result)
    if synthetic and SYNTHETIC_TAG.lower() not in page_title.lower():
        page_title = f"{page_title} \u2014 {SYNTHETIC_TAG}"
    strategy = daily_returns(levels["net_total_return"])
    bench_returns = bench_label = None
    if benchmark is not None:
        bench_label = benchmark_name or series_name(benchmark) or "Benchmark"
        strategy, bench_returns = _common_window(strategy, benchmark, levels.index, benchmark_kind, bench_label)

    for name, text in _csv_texts(result, levels).items():
        write_text(out / name, text)
    thematic = render_thematic(
        result, page_title, benchmark=bench_returns, benchmark_name=bench_label, attribution=attribution
    )
    write_text(out / THEMATIC_FILE, thematic)
    if attribution is not None:
        write_text(out / ATTRIBUTION_FILE, attribution_csv(attribution))
    factsheet = render_factsheet(
        result,
        title=index_name(result),  # the index's name, as providers head a factsheet (the band says synthetic)
        description=description,
        benchmark=bench_returns,
        benchmark_name=bench_label,
        currency_levels=currency_levels,
    )
    write_bytes(out / FACTSHEET_FILE, factsheet)
    target = out / TEARSHEET_FILE
    write_text(
        target,
        finish_quantstats_html(
            _quantstats_raw(out, strategy, bench_returns, page_title, bench_label), page_title, synthetic
        ),
    )
    return target


def _common_window(
    strategy: pd.Series, benchmark: Any, dates: pd.DatetimeIndex, kind: str, label: str
) -> tuple[pd.Series, pd.Series]:
    """The index's and the benchmark's daily returns on the dates both cover."""
    aligned = align_benchmark(benchmark, dates, kind)
    both = strategy.notna() & aligned.notna()
    if int(both.sum()) < 2:
        raise InputError(
            f"the benchmark {label!r} does not overlap the backtest "
            f"({dates[0].date()} to {dates[-1].date()}); give a benchmark covering that period"
        )
    first, last = both[both].index[0], both[both].index[-1]
    window = (strategy.index >= first) & (strategy.index <= last)
    return strategy[window], aligned[window].fillna(0.0).rename(plain_label(label))


def _quantstats_raw(
    out: Path, strategy: pd.Series, benchmark: pd.Series | None, title: str, benchmark_name: str | None
) -> str:
    """quantstats' page as it wrote it, in a scratch file beside the outputs (removed again; a
    killed run's is removed by :func:`~exchina_index.atomic.clean_stale`)."""
    raw_path = out / f"{TEMP_PREFIX}quantstats-{os.getpid()}-{secrets.token_hex(4)}"
    try:
        run_quantstats(strategy, benchmark, raw_path, title, benchmark_name)
        try:
            return raw_path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise OutputError(f"quantstats wrote no report to {raw_path}") from None
    finally:
        with contextlib.suppress(OSError):
            raw_path.unlink()


def _csv_texts(result: Any, levels: pd.DataFrame) -> dict[str, str]:
    """The texts of ``levels.csv``, ``weights.csv`` and ``turnover.csv``."""

    def csv(frame: pd.DataFrame, label: str) -> str:
        f = frame.copy()
        f.index = pd.DatetimeIndex(f.index)
        f.index.name = label
        return f.to_csv(float_format=_FLOAT_FORMAT, date_format="%Y-%m-%d", lineterminator="\n")

    weights = frame_by_date(result.weights).fillna(0.0)
    weights = weights.reindex(columns=sorted(weights.columns, key=str))
    flows = pd.DataFrame(
        {
            "turnover": series_by_date(result.turnover),
            "cost": series_by_date(result.costs),
        }
    ).sort_index()
    return {
        "levels.csv": csv(levels, "date"),
        "weights.csv": csv(weights, "implement"),
        "turnover.csv": csv(flows, "implement"),
    }
