"""The files of a rule-change impact (``exchina-index diff OLD.toml NEW.toml --as-of DATE``).

:func:`run_diff` loads two rulebooks, the universe and the market data, computes the impact
(:func:`~exchina_index.research.impact.rule_change_impact`) and :func:`write_impact` writes it into
one folder:

====================  ==========================================================================
``summary.csv``       section, figure, old, new, change: the rule changes (``rule``), each
                      side's review in force (``composition``: capacity, weighted purity, stage
                      deviation, relaxations...), the switch (``switch``: adds, deletes, ...,
                      one-way turnover, in ``change``) and the backtests' figures (``history``)
``constituents.csv``  per ticker held under either rulebook: name, stage, country, purity, old and
                      new weight, change, status (add / delete / increase / decrease / unchanged)
``exposures.csv``     dimension (stage, country, purity), group, old, new, change
``levels.csv``        per date: the net total-return level under each rulebook and the difference
``reviews.csv``       per review date: turnover, cost, names held, both capacities under each
``impact.html``       the page (:mod:`exchina_index.publish.impact_page`)
``manifest.json``     the as-of date, both rulebooks' version and hash, the universe and data
                      fingerprints (and whether the data are synthetic) and the SHA-256 of every file
====================  ==========================================================================

The folder is built in a temporary sibling and published with one rename
(:func:`~exchina_index.atomic.staged_folder`); an existing folder is never replaced without
``force`` (the old one is then kept as ``.vN``). Floats are written with ``%.10g``; nothing
depends on the clock or the folder's name, so the same inputs give the same bytes.
"""

from __future__ import annotations

import hashlib
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from exchina_index import atomic
from exchina_index.errors import InputError, OutputError
from exchina_index.publish.impact_page import IMPACT_PAGE, render_impact
from exchina_index.research.impact import RuleChangeImpact

__all__ = ["IMPACT_SCHEMA", "IMPACT_FILES", "BUNDLED", "run_diff", "write_impact", "impact_texts"]

#: Schema name of an impact folder's ``manifest.json``.
IMPACT_SCHEMA = "exchina-index/rule-change-impact/1"
#: The files of an impact folder.
IMPACT_FILES: tuple[str, ...] = (
    "summary.csv",
    "constituents.csv",
    "exposures.csv",
    "levels.csv",
    "reviews.csv",
    IMPACT_PAGE,
    "manifest.json",
)
#: The rulebook "path" that names the bundled rulebook (``universe/methodology.toml``).
BUNDLED = "bundled"
_FLOAT = "%.10g"


def run_diff(
    old_path: str | os.PathLike[str],
    new_path: str | os.PathLike[str],
    *,
    as_of: Any,
    universe: str | os.PathLike[str] | None = None,
    links: str | os.PathLike[str] | None = None,
    source: str = "demo",
    cache_dir: str | os.PathLike[str] | None = None,
    aum: float | None = None,
    start: Any = None,
    out: str | os.PathLike[str],
    force: bool = False,
    deadline_s: float | None = None,
) -> Path:
    """Compute the impact of switching from rulebook ``old_path`` to ``new_path`` and write its folder.

    Parameters
    ----------
    old_path, new_path
        Rulebook files (the format of ``universe/methodology.toml``); the string ``"bundled"``
        names the bundled rulebook.
    as_of
        The date whose reviews in force are compared (ISO date).
    universe, links
        The universe file and its China-link table (default: the bundled universe).
    source, cache_dir, deadline_s
        The market data source (``"demo"``, ``"yahoo"`` or a folder of CSV files), the Yahoo cache
        and the wall-clock limit of its downloads.
    aum
        Fund size in USD for both backtests (default: the OLD rulebook's ``liquidity.default_aum_usd``).
    start
        First date of both backtests (default: the market's first date).
    out
        The folder to write (must not exist unless ``force``).
    force
        Keep an existing folder as ``<out>.vN`` and write a new one.

    Returns
    -------
    pathlib.Path
        The folder written.

    Raises
    ------
    OutputError
        ``out`` exists and ``force`` is not given (checked before any work), or cannot be written.
    MethodologyError
        A rulebook file is missing or invalid (naming the file and key).
    ReviewDateError
        ``as_of`` or ``start`` is not a date, ``as_of`` is outside the data or before the first review.
    InputError, DataError, InfeasibleError
        From the universe, the data or the backtests. Every error is raised before any folder is made.
    """
    from exchina_index.data import load_market_data
    from exchina_index.dates import parse_date
    from exchina_index.research.impact import rule_change_impact
    from exchina_index.universe.loading import load_universe

    target = _target(out, force)
    old, new = _rulebook(old_path, "OLD"), _rulebook(new_path, "NEW")
    day = parse_date(as_of, "as_of")
    first = None if start is None else parse_date(start, "start")
    u = load_universe(universe, links)
    market = load_market_data(
        u, source=source, cache_dir=None if cache_dir is None else Path(cache_dir), deadline_s=deadline_s
    )
    impact = rule_change_impact(u, market, old, new, as_of=day, start=first, aum=aum)
    return write_impact(impact, target, force=force)


def _target(out: Any, force: bool) -> Path:
    """``out`` as a folder path, refused at once when it exists and ``force`` is not given."""
    if not isinstance(out, (str, os.PathLike)) or not os.fspath(out) or "\x00" in os.fspath(out):
        raise OutputError(f"out must be a folder path, got {out!r}")
    target = Path(out)
    if target.name in ("", ".", ".."):
        raise OutputError(f"'{target}' is not a folder an impact can be written to; give a new folder name")
    if os.path.lexists(target) and not force:
        raise OutputError(
            f"{target} already exists; an impact folder is never overwritten (use --force / force=True to keep "
            f"the old one as {atomic.next_version_name(target).name} and write a new one)"
        )
    return target


def _rulebook(path: Any, label: str) -> Any:
    """The rulebook at ``path`` (the bundled one for :data:`BUNDLED`); ``load_methodology`` names
    the file and key of any problem."""
    from exchina_index.errors import MethodologyError
    from exchina_index.rules.methodology import load_methodology

    if isinstance(path, str) and path == BUNDLED:
        return load_methodology(None)
    if not isinstance(path, (str, os.PathLike)) or not os.fspath(path):
        raise MethodologyError(f"the {label} rulebook must be a file path or {BUNDLED!r}, got {path!r}")
    return load_methodology(Path(path))


def write_impact(impact: RuleChangeImpact, out: str | os.PathLike[str], *, force: bool = False) -> Path:
    """Write the impact's files (the module docstring) into the folder ``out``, atomically.

    Raises
    ------
    InputError
        ``impact`` is not a :class:`~exchina_index.research.impact.RuleChangeImpact`.
    OutputError
        ``out`` exists and ``force`` is not given, or cannot be written; nothing is left behind.
    """
    if not isinstance(impact, RuleChangeImpact):
        raise InputError(f"impact must be a RuleChangeImpact (from rule_change_impact()), got {type(impact).__name__}")
    target = _target(out, force)
    if target.parent.is_dir():
        atomic.clean_stale(target.parent)  # temporary folders of a killed run
    texts = impact_texts(impact)  # before the folder: a failure leaves nothing behind
    with atomic.staged_folder(target, force=force) as staging:
        for name, text in texts.items():
            atomic.write_text(staging / name, text)
        atomic.write_bytes(staging / "manifest.json", _manifest(impact, staging))
    return target


def _cell(x: Any) -> str:
    """One summary value as CSV text: ``""`` for none, floats as ``%.10g``."""
    if x is None or (isinstance(x, (float, np.floating)) and math.isnan(x)):
        return ""
    if isinstance(x, (bool, np.bool_)):
        return "true" if x else "false"
    if isinstance(x, (int, np.integer)):
        return str(int(x))
    if isinstance(x, (float, np.floating)):
        return _FLOAT % float(x)
    return str(x)


def _csv(frame: pd.DataFrame, *, index: bool = False) -> str:
    return frame.to_csv(index=index, float_format=_FLOAT, date_format="%Y-%m-%d", lineterminator="\n")


def impact_texts(impact: RuleChangeImpact) -> dict[str, str]:
    """The text of every file but the manifest, by file name."""
    summary = impact.summary.copy()
    for col in ("old", "new", "change"):
        summary[col] = [_cell(v) for v in summary[col]]
    reviews = impact.reviews.copy()
    for col in ("old_names", "new_names"):
        reviews[col] = reviews[col].astype("Int64")
    return {
        "summary.csv": _csv(summary),
        "constituents.csv": _csv(impact.constituents),
        "exposures.csv": _csv(impact.exposures),
        "levels.csv": _csv(impact.levels, index=True),
        "reviews.csv": _csv(reviews, index=True),
        IMPACT_PAGE: render_impact(impact),
    }


def _manifest(impact: RuleChangeImpact, folder: Path) -> bytes:
    from exchina_index.publish.files import canonical_json, software_versions

    levels = impact.levels.index
    manifest = {
        "schema": IMPACT_SCHEMA,
        "as_of": impact.as_of.date().isoformat(),
        "reviews_in_force": {
            "old": {"implement": impact.old_review.date().isoformat(), "cutoff": impact.old_cutoff.date().isoformat()},
            "new": {"implement": impact.new_review.date().isoformat(), "cutoff": impact.new_cutoff.date().isoformat()},
        },
        "period": {"start": levels[0].date().isoformat(), "end": levels[-1].date().isoformat()},
        "aum_usd": impact.aum,
        "one_way_turnover": impact.turnover,
        "rulebooks": {"old": dict(impact.old_rulebook), "new": dict(impact.new_rulebook)},
        "universe": {"fingerprint": impact.universe_fingerprint},
        "data": {
            "source": impact.data_source,
            "synthetic": impact.synthetic,
            "fingerprint": impact.data_fingerprint,
            "notes": list(impact.notes),
        },
        "software": software_versions(str(impact.new_rulebook.get("solver", ""))),
        "files": {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())},
    }
    return canonical_json(manifest)
