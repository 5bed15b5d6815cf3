"""Two runs of the same spec on the same data give byte-identical output folders: every page (with
its SVG charts), the factsheet PDF, every CSV and the manifest."""

from __future__ import annotations

from pathlib import Path

from exchina_index.publish.runner import run_spec

SPEC = """name = "twice"
source = "demo"
start = "2024-06-01"
end = "2026-09-30"
aum = 100_000_000
currencies = ["EUR", "JPY"]
[benchmark]
kind = "universe_cap_weighted"
name = "Whole universe"
"""


def test_two_runs_write_the_same_bytes(tmp_path: Path) -> None:
    spec = tmp_path / "twice.toml"
    spec.write_text(SPEC, encoding="utf-8")
    first = run_spec(spec, out=tmp_path / "a")
    second = run_spec(spec, out=tmp_path / "b")
    names = sorted(p.name for p in first.iterdir())
    assert names == sorted(p.name for p in second.iterdir())
    # the outputs this issue added are there (a benchmark with holdings, two currencies)
    assert {"attribution.csv", "currency_levels.csv", "factsheet.pdf", "tearsheet.html"} <= set(names)
    different = [n for n in names if (first / n).read_bytes() != (second / n).read_bytes()]
    assert different == []
