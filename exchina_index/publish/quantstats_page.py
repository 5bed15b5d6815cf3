"""The quantstats tearsheet (``tearsheet.html``), run offline and post-processed.

quantstats is always given pandas Series (never a ticker string, which would make it download
data), an explicit output path (so it never opens a browser) and a benchmark we have aligned
ourselves. The page it writes is then post-processed: every external reference (favicon, links to
quantstats.io, SVG doctype and namespace URLs) is removed, a link to the thematic page is added
and, for synthetic data, the banner.
"""

from __future__ import annotations

import contextlib
import html
import logging
import re
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from exchina_index.publish.backtest_series import PERIODS_PER_YEAR
from exchina_index.publish.html import THEMATIC_FILE, strip_external_references, synthetic_banner_html

__all__ = ["plain_label", "run_quantstats", "finish_quantstats_html"]


def plain_label(text: str) -> str:
    """A label safe for quantstats, which pastes it raw into HTML and chart titles."""
    return re.sub(r"\s+", " ", str(text).replace("&", "and").replace("<", "").replace(">", "")).strip()


@contextlib.contextmanager
def _quiet(logger_name: str) -> Iterator[None]:
    logger = logging.getLogger(logger_name)
    old = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(old)


def run_quantstats(
    returns: pd.Series,
    benchmark: pd.Series | None,
    output: Path,
    title: str,
    benchmark_name: str | None,
) -> None:
    """Call ``quantstats.reports.html`` with Series only and an explicit output path.

    quantstats is imported here (it is slow to import and sets global matplotlib state, which the
    ``rc_context`` undoes); its warnings (pandas deprecations, seaborn) and matplotlib's "font
    family 'Arial' not found" log lines are silenced for the duration of the call.
    """
    import matplotlib

    try:
        backend = matplotlib.get_backend(auto_select=False)
    except TypeError:  # matplotlib < 3.10
        backend = matplotlib.rcParams._get_backend_or_none()  # type: ignore[attr-defined]
    if backend is None:  # nothing chosen yet: never let quantstats' pyplot pick a GUI backend
        matplotlib.use("Agg")
    with matplotlib.rc_context(), warnings.catch_warnings(), _quiet("matplotlib.font_manager"):
        warnings.simplefilter("ignore")
        import quantstats

        kwargs: dict[str, Any] = {"strategy_title": returns.name}
        if benchmark is not None:
            kwargs["benchmark_title"] = plain_label(benchmark_name or "Benchmark")
        quantstats.reports.html(
            returns,
            benchmark=benchmark,
            rf=0.0,
            title=html.escape(title, quote=False),
            output=str(output),
            compounded=True,
            periods_per_year=PERIODS_PER_YEAR,
            figfmt="svg",
            match_dates=True,
            **kwargs,
        )


def finish_quantstats_html(text: str, title: str, synthetic: bool) -> str:
    """Post-process quantstats' page: offline, our title, a link to the thematic page, the banner."""
    text = strip_external_references(text)
    esc_title = html.escape(title, quote=False)
    if re.search(r"<title>.*?</title>", text, flags=re.DOTALL):
        text = re.sub(r"<title>.*?</title>", lambda _: f"<title>{esc_title}</title>", text, count=1, flags=re.DOTALL)
    top = (
        (synthetic_banner_html() if synthetic else "")
        + '<nav id="page-links" style="font:14px/1.4 Arial,Helvetica,sans-serif;margin:0 0 14px 0">'
        f'<a href="{THEMATIC_FILE}">Thematic page: stages, countries, holdings, turnover, liquidity, '
        "concentration, China nexus &rarr;</a></nav>"
    )
    m = re.search(r"<body\b[^>]*>", text, flags=re.IGNORECASE)
    if m is None:  # not the template we know: wrap what we got
        return (
            f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{esc_title}</title></head>'
            f"<body>{top}{text}</body></html>\n"
        )
    # drop the template's onload="save()" (an undefined function) along with any other body attribute
    return text[: m.start()] + "<body>\n" + top + text[m.end() :]
