"""The rulebook's effective date in `rebalance` (official or pro-forma), and the governance lines and
discretion-log decisions of a review in its manifest, report and the backtest's reviews.csv."""

from __future__ import annotations

import dataclasses
import hashlib
import html
import importlib
import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from _cli_helpers import run_cli

import exchina_index as xi
from exchina_index._resources import bundled_path
from exchina_index.publish.files import canonical_json

rb = importlib.import_module("exchina_index.publish.rebalance")
review_mod = importlib.import_module("exchina_index.construction.review")
backtest_mod = importlib.import_module("exchina_index.simulation.backtest")
AUM = 50e6
REVIEW = "2025-12-19"  # implemented at the close of 2025-12-19 (cut-off 2025-11-28)
GOVERNANCE = ("minimum constituents: 20 required, fallback relax_size applied", "fast entry: XYZ <b>")
DECISIONS = ("2025-08-18 exclude PEK.AX: takeover pending (S1)", "2026-01-20 note ASM.AX: scheme pending & open (S2)")


@pytest.fixture(scope="module")
def world() -> dict[str, Any]:
    u = xi.load_universe()
    return {"universe": u, "market": xi.load_market_data(u, source="demo"), "method": xi.load_methodology()}


def _rulebook(world: dict[str, Any], announced: str, effective: str) -> Any:
    return world["method"].with_overrides({"governance": {"announced": announced, "effective": effective}})


def _manifest(folder: Path) -> dict[str, Any]:
    return json.loads((folder / "manifest.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize(
    ("announced", "effective", "official"),
    [
        ("2025-06-02", "2025-09-19", True),  # in force a review earlier
        ("2025-09-01", REVIEW, True),  # takes effect with this very review
        ("2025-09-01", "2025-12-22", False),  # the index's effective day after implementation: still before it
        ("2025-12-02", "2027-03-19", False),  # the bundled rulebook's own dates
    ],
)
def test_the_manifest_says_whether_the_review_is_official(
    world: dict[str, Any], tmp_path: Path, announced: str, effective: str, official: bool
) -> None:
    m = _rulebook(world, announced, effective)
    folder = rb.rebalance(world["universe"], world["market"], REVIEW, AUM, tmp_path, methodology=m)
    man = _manifest(folder)
    assert man["official"] is official and man["rulebook_effective"] == effective
    note = rb.proforma_note(man)
    if official:
        assert note is None and "this is the official review" in (folder / "report.html").read_text()
    else:
        assert note == (
            f"rulebook {m.version} takes effect on {effective}; the review of {REVIEW} under it is a pro-forma, "
            "not the official review"
        )
        assert "is a pro-forma under it, not the official review" in (folder / "report.html").read_text()
        assert note in rb.summary(folder)


def test_the_manifest_stays_canonical_and_its_hashes_match_the_files(world: dict[str, Any], tmp_path: Path) -> None:
    folder = rb.rebalance(world["universe"], world["market"], REVIEW, AUM, tmp_path, methodology=world["method"])
    raw = (folder / "manifest.json").read_bytes()
    man = json.loads(raw)
    assert canonical_json(man) == raw
    for name, digest in man["files"].items():
        assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == digest
    assert man["governance"] == [] and man["decisions"] == []  # lists, also when empty


def test_an_empty_record_reads_none_in_the_report(world: dict[str, Any], tmp_path: Path, monkeypatch: Any) -> None:
    _with_record(monkeypatch, (), ())
    folder = rb.rebalance(world["universe"], world["market"], REVIEW, AUM, tmp_path, methodology=world["method"])
    section = _section((folder / "report.html").read_text())
    assert section.count("<p>none</p>") == 2


def _with_record(monkeypatch: Any, governance: tuple[str, ...], decisions: tuple[str, ...]) -> None:
    """build_weights returning its result with the given governance and decision lines."""
    real = review_mod.build_weights

    def fake(*args: Any, **kw: Any) -> Any:
        res = real(*args, **kw)
        return dataclasses.replace(
            res, report=dataclasses.replace(res.report, governance=governance, decisions=decisions)
        )

    monkeypatch.setattr(review_mod, "build_weights", fake)


def _section(page: str) -> str:
    start = page.index("<h2>Governance and discretion</h2>")
    return page[start : page.index("<h2>", start + 1)]


def test_the_record_is_listed_in_the_manifest_and_the_report(
    world: dict[str, Any], tmp_path: Path, monkeypatch: Any
) -> None:
    _with_record(monkeypatch, GOVERNANCE, DECISIONS)
    folder = rb.rebalance(world["universe"], world["market"], REVIEW, AUM, tmp_path, methodology=world["method"])
    man = _manifest(folder)
    assert man["governance"] == list(GOVERNANCE) and man["decisions"] == list(DECISIONS)
    section = _section((folder / "report.html").read_text())
    for line in GOVERNANCE + DECISIONS:
        assert f"<li>{html.escape(line)}</li>" in section  # escaped: "<b>" and "&" are text
    assert "<b>" not in section and "none" not in section


def _spec(tmp_path: Path) -> Path:
    p = tmp_path / "spec.toml"
    p.write_text(
        'name = "gov"\nsource = "demo"\nstart = "2025-06-01"\nend = "2026-09-30"\naum = 50_000_000\n'
        '[benchmark]\nkind = "universe_cap_weighted"\nname = "universe"\n',
        encoding="utf-8",
    )
    return p


def test_reviews_csv_has_the_governance_and_decisions_of_each_review(tmp_path: Path, monkeypatch: Any) -> None:
    from exchina_index.publish.runner import run_spec

    real = backtest_mod.run_review

    def fake(ctx: Any, k: int, aum: float, previous: Any) -> Any:
        res = real(ctx, k, aum, previous)
        day = ctx.panel.cutoffs[k].date().isoformat()
        rep = dataclasses.replace(res.report, governance=(f"rule at {day}",), decisions=(f"a {day}", "b"))
        return dataclasses.replace(res, report=rep)

    monkeypatch.setattr(backtest_mod, "run_review", fake)
    out = run_spec(_spec(tmp_path), out=tmp_path / "out")
    rows = pd.read_csv(out / "reviews.csv", dtype=str, keep_default_na=False)
    assert len(rows) == 6  # June 2025 to September 2026
    assert (rows["governance"] == "rule at " + rows["cutoff"]).all()
    assert (rows["decisions"] == "a " + rows["cutoff"] + "; b").all()


def _rulebook_file(tmp_path: Path, announced: str, effective: str) -> Path:
    text = bundled_path("methodology.toml").read_text(encoding="utf-8")
    g = xi.load_methodology().governance
    for key, old, new in (("announced", g.announced, announced), ("effective", g.effective, effective)):
        assert f'{key} = "{old}"' in text
        text = text.replace(f'{key} = "{old}"', f'{key} = "{new}"', 1)
    p = tmp_path / "methodology.toml"
    p.write_text(text, encoding="utf-8")
    return p


@pytest.mark.parametrize("official", [True, False])
def test_the_command_line_prints_the_pro_forma_note_and_exits_0(tmp_path: Path, official: bool) -> None:
    effective = "2025-12-19" if official else "2026-03-20"
    rulebook = _rulebook_file(tmp_path, "2025-09-01", effective)
    argv = ["rebalance", "--as-of", REVIEW, "--aum", "50e6", "--out", tmp_path / "rb", "--methodology", rulebook]
    code, out, err = run_cli(argv)
    assert code == 0, err
    note = (
        f"note: rulebook {xi.load_methodology().version} takes effect on 2026-03-20; the review of {REVIEW} under "
        "it is a pro-forma, not the official review"
    )
    assert (note in out.splitlines()) is not official
    assert any("pro-forma" in line for line in out.splitlines()) is not official  # no other note either
    assert "pro-forma" not in err
    assert _manifest(tmp_path / "rb" / REVIEW)["official"] is official
