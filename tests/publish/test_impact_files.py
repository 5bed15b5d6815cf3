"""The files of a rule-change impact: written atomically, the same bytes on a rerun, never over an
existing folder without force, and every input error raised before any folder is made."""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import json
from pathlib import Path
from typing import Any

import pytest

from exchina_index.errors import MethodologyError, OutputError, ReviewDateError
from exchina_index.publish import impact_files
from exchina_index.publish.impact_files import IMPACT_FILES, IMPACT_SCHEMA, run_diff, write_impact

START, AS_OF = "2024-01-01", "2026-06-30"


def _variant(folder: Path) -> Path:
    """The bundled rulebook with a 6 % single-name cap and its own version."""
    from exchina_index._resources import bundled_path

    text = bundled_path("methodology.toml").read_text(encoding="utf-8")
    assert text.count("\nsingle = 0.08 ") == 1 and text.count('version = "2.0.0"') == 1
    text = text.replace("\nsingle = 0.08 ", "\nsingle = 0.06 ").replace('version = "2.0.0"', 'version = "2.1.0-c"')
    path = folder / "variant.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """One impact of the variant on the demo index, computed in memory, and its rulebook file."""
    from exchina_index.data import load_market_data
    from exchina_index.research.impact import rule_change_impact
    from exchina_index.rules.methodology import load_methodology
    from exchina_index.universe.loading import load_universe

    variant = _variant(tmp_path_factory.mktemp("rulebooks"))
    u = load_universe()
    impact = rule_change_impact(
        u, load_market_data(u, "demo"), load_methodology(), load_methodology(variant), as_of=AS_OF, start=START
    )
    return impact, variant


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_run_diff_writes_every_file_and_the_same_bytes_as_write_impact(demo: Any, tmp_path: Path) -> None:
    impact, variant = demo
    from exchina_index.rules.methodology import load_methodology

    out = run_diff("bundled", variant, as_of=AS_OF, start=START, out=tmp_path / "diff")
    assert out == tmp_path / "diff" and sorted(p.name for p in out.iterdir()) == sorted(IMPACT_FILES)
    # a rerun (here from the impact in memory) into another folder gives the same bytes
    again = write_impact(impact, tmp_path / "elsewhere" / "diff2")
    assert _files(out) == _files(again)
    man = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert man["schema"] == IMPACT_SCHEMA and man["as_of"] == AS_OF
    assert man["rulebooks"]["old"]["hash"] == load_methodology().hash
    assert man["rulebooks"]["new"]["hash"] == load_methodology(variant).hash
    assert man["rulebooks"]["new"]["version"] == "2.1.0-c" and man["rulebooks"]["new"]["source"] == "variant.toml"
    assert man["data"]["synthetic"] is True and man["universe"]["fingerprint"]
    assert sorted(man["files"]) == sorted(set(IMPACT_FILES) - {"manifest.json"})
    for name, digest in man["files"].items():
        assert hashlib.sha256((out / name).read_bytes()).hexdigest() == digest
    assert not list(tmp_path.glob(".tmp-*"))  # no temporary folder left beside it


def test_the_csvs_hold_the_impact(demo: Any, tmp_path: Path) -> None:
    impact, _ = demo
    out = write_impact(impact, tmp_path / "diff")

    def rows(name: str) -> list[dict[str, str]]:
        return list(csv.DictReader(io.StringIO((out / name).read_text(encoding="utf-8"))))

    constituents = rows("constituents.csv")
    assert [r["ticker"] for r in constituents] == list(impact.constituents["ticker"])
    for r in constituents:
        assert float(r["new_weight"]) - float(r["old_weight"]) == pytest.approx(float(r["change"]), abs=1e-9)
    exposures = rows("exposures.csv")
    for dim in ("stage", "country", "purity"):
        for side in ("old", "new"):
            assert sum(float(r[side]) for r in exposures if r["dimension"] == dim) == pytest.approx(1.0, abs=1e-8)
    summary = {(r["section"], r["figure"]): r for r in rows("summary.csv")}
    assert (summary[("rule", "caps.single")]["old"], summary[("rule", "caps.single")]["new"]) == ("0.08", "0.06")
    assert float(summary[("switch", "one_way_turnover")]["change"]) == pytest.approx(impact.turnover, rel=1e-9)
    levels = rows("levels.csv")
    assert len(levels) == len(impact.levels) and levels[0]["date"] == "2024-03-15"
    last = levels[-1]
    assert float(last["difference"]) == pytest.approx(float(last["new"]) - float(last["old"]), abs=1e-6)
    assert len(rows("reviews.csv")) == len(impact.reviews)


def test_the_page_has_the_charts_the_banner_and_nothing_from_elsewhere(demo: Any, tmp_path: Path) -> None:
    from exchina_index.publish.html import find_external_references

    impact, _ = demo
    page = (write_impact(impact, tmp_path / "a") / "impact.html").read_text(encoding="utf-8")
    for chart in ("chart-levels", "chart-weight-changes", "chart-exposures"):
        assert f'id="{chart}"' in page
    assert 'id="synthetic-banner"' in page and 'id="data-notes"' in page
    assert 'id="status-' in page and find_external_references(page) == []
    real = dataclasses.replace(impact, synthetic=False)
    assert 'id="synthetic-banner"' not in (write_impact(real, tmp_path / "b") / "impact.html").read_text("utf-8")


def test_an_existing_folder_is_refused_without_force_and_kept_with_it(demo: Any, tmp_path: Path) -> None:
    impact, _ = demo
    out = tmp_path / "diff"
    out.mkdir()
    (out / "mine.txt").write_text("keep me", encoding="utf-8")
    with pytest.raises(OutputError, match="already exists"):
        write_impact(impact, out)
    assert sorted(p.name for p in out.iterdir()) == ["mine.txt"]
    write_impact(impact, out, force=True)
    assert (tmp_path / "diff.v1" / "mine.txt").read_text(encoding="utf-8") == "keep me"
    assert sorted(p.name for p in out.iterdir()) == sorted(IMPACT_FILES)


def test_a_failure_while_writing_publishes_nothing(demo: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    impact, _ = demo

    def broken(*args: Any) -> bytes:
        raise OSError("disk full")

    monkeypatch.setattr(impact_files, "_manifest", broken)
    with pytest.raises(OSError, match="disk full"):
        write_impact(impact, tmp_path / "diff")
    assert list(tmp_path.iterdir()) == []


def _no_backtest(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any backtest fails the test: the errors below must come before the work."""
    import exchina_index.simulation.backtest as backtest_module

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a backtest ran before the input error was raised")

    monkeypatch.setattr(backtest_module, "backtest", refuse)


def test_input_errors_come_before_any_folder(demo: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _, variant = demo
    out = tmp_path / "out" / "diff"
    with pytest.raises(ReviewDateError, match=r"2024-02-01 is before the first review.*2024-03-15"):
        run_diff("bundled", variant, as_of="2024-02-01", start=START, out=out)
    _no_backtest(monkeypatch)
    with pytest.raises(MethodologyError, match=r"missing\.toml.*file not found"):
        run_diff(tmp_path / "missing.toml", variant, as_of=AS_OF, out=out)
    with pytest.raises(ReviewDateError, match="as_of"):
        run_diff("bundled", variant, as_of="30/06/2026", out=out)
    with pytest.raises(ReviewDateError, match=r"2030-01-02 is outside the market data"):
        run_diff("bundled", variant, as_of="2030-01-02", out=out)
    assert not (tmp_path / "out").exists()
    out.mkdir(parents=True)
    with pytest.raises(OutputError, match="already exists"):
        run_diff("bundled", variant, as_of=AS_OF, out=out)
