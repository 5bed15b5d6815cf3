"""The attribution section of the thematic page and attribution.csv, on a demo backtest."""

from __future__ import annotations

import csv
import io
import re
from types import SimpleNamespace

import numpy as np
import pytest

import exchina_index as xi
from exchina_index._text import pct
from exchina_index.publish.attribution_page import (
    RESIDUAL_GROUP,
    TOTAL_GROUP,
    attribution_csv,
    attribution_section_html,
)
from exchina_index.publish.html import find_external_references
from exchina_index.publish.thematic import render_thematic
from exchina_index.simulation.attribution import EFFECTS, GROUP_COLUMNS, attribution_from_backtest
from exchina_index.simulation.benchmark import universe_cap_weighted_returns, universe_cap_weighted_weights


@pytest.fixture(scope="module")
def demo() -> SimpleNamespace:
    u = xi.load_universe()
    m = xi.load_market_data(u, source="demo")
    result = xi.backtest(u, m, start="2024-01-01", end="2026-09-30")
    returns = universe_cap_weighted_returns(u, m)
    attr = attribution_from_backtest(result, m, universe_cap_weighted_weights(u, m), benchmark_returns=returns)
    # the active return from the levels and the benchmark series, independently of the attribution
    tr = result.levels["total_return"].dropna()
    bench = returns.loc[tr.index[1] : tr.index[-1]]
    active = float(tr.iloc[-1] / tr.iloc[0] - 1.0) - float(np.prod(1.0 + bench.to_numpy()) - 1.0)
    return SimpleNamespace(result=result, returns=returns, attr=attr, active=active)


def _csv_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_csv_totals(demo: SimpleNamespace) -> None:
    text = attribution_csv(demo.attr)
    rows = _csv_rows(text)
    assert text.splitlines()[0] == ",".join(GROUP_COLUMNS)
    keys = list(dict.fromkeys((r["dimension"], r["period"]) for r in rows))
    assert [d for d, _ in keys] == ["stage"] * 4 + ["country"] * 4 + ["currency"] * 4
    assert [p for d, p in keys if d == "stage"] == [
        "2024-03-18..2026-09-30",
        "2024-03-18..2024-12-31",
        "2025-01-02..2025-12-31",
        "2026-01-02..2026-09-30",
    ]
    for dim, period in keys:
        block = [r for r in rows if (r["dimension"], r["period"]) == (dim, period)]
        assert [r["group"] for r in block[-2:]] == [RESIDUAL_GROUP, TOTAL_GROUP]
        groups, residual, total = block[:-2], float(block[-2]["total"]), block[-1]
        for r in groups:  # each group's total is its three effects
            assert float(r["total"]) == pytest.approx(sum(float(r[x]) for x in EFFECTS), abs=1e-9)
        for x in EFFECTS:
            assert float(total[x]) == pytest.approx(sum(float(r[x]) for r in groups), abs=1e-9)
        assert float(total["total"]) == pytest.approx(sum(float(r["total"]) for r in groups) + residual, abs=1e-9)
        assert float(total["weight_portfolio"]) == pytest.approx(1.0, abs=1e-9)
    whole = [r for r in rows if r["period"] == "2024-03-18..2026-09-30" and r["group"] == TOTAL_GROUP]
    assert {r["dimension"] for r in whole} == {"stage", "country", "currency"}
    for r in whole:
        assert float(r["total"]) == pytest.approx(demo.active, abs=1e-9)
    cn = next(r for r in rows if r["dimension"] == "country" and r["group"] == "CN")
    assert cn["return_portfolio"] == "" and float(cn["weight_portfolio"]) == 0.0  # never held: no return
    assert attribution_csv(demo.attr) == text  # deterministic


def _cell(html: str, cell_id: str) -> str:
    found = re.search(rf'<td id="{cell_id}">([^<]*)</td>', html)
    assert found, cell_id
    return found.group(1)


def _number(text: str) -> float:
    return float(text.rstrip("%")) / 100.0


def test_section_renders_and_its_totals_row_is_the_active_return(demo: SimpleNamespace) -> None:
    html = attribution_section_html(demo.attr, "Allied universe, cap-weighted")
    assert html.startswith('<h2 id="attribution">Attribution against Allied universe, cap-weighted (2024-03-18 to ')
    printed = _cell(html, "attr-active-return")
    assert printed == pct(demo.active)
    assert _cell(html, "attr-index-return") == pct(demo.result.levels["total_return"].dropna().iloc[-1] / 1000 - 1)
    for dim in ("stage", "country", "currency"):
        assert _cell(html, f"attr-{dim}-total") == printed
        table = re.search(rf'<table class="" id="attribution-{dim}-table">.*?</table>', html, re.S)
        assert table, dim
        totals = [_number(v) for v in re.findall(r'<td id="attr-[a-z]+-[a-z0-9-]+">([^<]*)</td>', table.group(0))]
        *groups, residual, allocation, selection, interaction, total = totals
        # printed to 0.01 %: the group totals and the residual add up to the printed total within the rounding
        assert sum(groups) + residual == pytest.approx(total, abs=0.00005 * (len(groups) + 2))
        assert allocation + selection + interaction + residual == pytest.approx(total, abs=0.0002)
        assert f'<div class="chart" id="chart-attribution-{dim}"><svg' in html
    assert "Cari\u00f1o" in html and "attribution.csv" in html
    assert "attribution.csv" not in attribution_section_html(demo.attr, "B", csv_file=None)
    assert find_external_references(html) == []
    assert attribution_section_html(demo.attr, "Allied universe, cap-weighted") == html  # same bytes


def test_the_years_table(demo: SimpleNamespace) -> None:
    html = attribution_section_html(demo.attr, "B")
    levels = demo.result.levels["total_return"]
    for year in (2025, 2026):
        span = levels.loc[f"{year - 1}-12-31" : f"{year}-12-31"]
        bench = demo.returns.loc[f"{year}-01-01" : f"{year}-12-31"]
        active = float(span.iloc[-1] / span.iloc[0] - 1.0) - float(np.prod(1.0 + bench.to_numpy()) - 1.0)
        assert _cell(html, f"attr-active-{year}") == pct(active)
    assert _cell(html, "attr-active-all") == pct(demo.active)


def test_thematic_page_appends_the_section_only_when_given(demo: SimpleNamespace) -> None:
    bench = demo.returns.loc[demo.result.returns.index[1] :]
    plain = render_thematic(demo.result, "Demo", benchmark=bench, benchmark_name="Universe")
    assert 'id="attribution"' not in plain
    page = render_thematic(demo.result, "Demo", benchmark=bench, benchmark_name="Universe", attribution=demo.attr)
    assert page.index('id="china"') < page.index('<h2 id="attribution">Attribution against Universe')
    assert page.endswith("</div>\n</body>\n</html>\n")
    assert page.replace(attribution_section_html(demo.attr, "Universe") + "\n", "") == plain
