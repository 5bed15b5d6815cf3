"""The discretion log applied at a review: dated committee exclusions on top of the mechanical screens.

A pure function over arrays (:func:`apply_decisions`): the decisions in force at the cut-off
(:func:`~exchina_index.universe.discretion.decisions_at`) are applied to the screens' reason codes
and eligibility, and every decision in force is returned as one line for the review record
(``ReviewReport.decisions``), notes included.

An ``exclude`` decision in force overrides the screens: the listing gets reason :data:`DISCRETION`
and is not eligible, whatever its mechanical reason was (so that no later rule, such as the
minimum-constituent fallback that admits names failing only a size entry threshold, can bring it
back; its mechanical reason is in the review of the day before the decision anyway).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from exchina_index.errors import InputError, UniverseError
from exchina_index.universe.discretion import DiscretionLog, decisions_at

__all__ = ["DISCRETION", "apply_decisions"]

#: The reason code of a listing excluded by a decision of the discretion log.
DISCRETION = "DISCRETION"


def apply_decisions(
    log: DiscretionLog, tickers: pd.Index, cutoff: Any, reason: np.ndarray, eligible: np.ndarray
) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """Apply the discretion log at the cut-off to the screens' reasons and eligibility.

    Parameters
    ----------
    log
        The discretion log (``Universe.decisions``).
    tickers
        The listings ``reason`` and ``eligible`` are ordered by.
    cutoff
        The review's cut-off: decisions with ``date <= cutoff < until`` are in force.
    reason, eligible
        The screens' reason code and eligibility of each listing (not modified).

    Returns
    -------
    tuple
        New ``reason`` (object) and ``eligible`` (bool) arrays, and the decisions in force at the
        cut-off, one line each (``"YYYY-MM-DD exclude XYZ: reason (source)"``, notes likewise), in
        date order.

    Raises
    ------
    InputError
        ``reason`` or ``eligible`` not of one entry per ticker.
    UniverseError
        An ``exclude`` decision in force names a ticker that is not among ``tickers`` (naming the
        log's file and line).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from exchina_index.universe.discretion import DiscretionLog
    >>> day = np.array(["2025-01-02"], dtype="datetime64[ns]")
    >>> log = DiscretionLog(date=day, kind=np.array(["exclude"], dtype=object), ticker=np.array(["B"], dtype=object),
    ...     until=np.array(["NaT"], dtype="datetime64[ns]"), reason=np.array(["takeover"], dtype=object),
    ...     decided_by=np.array(["committee"], dtype=object), source=np.array(["S1"], dtype=object),
    ...     line=np.array([4]))
    >>> r, ok, lines = apply_decisions(log, pd.Index(["A", "B"]), "2025-03-01",
    ...     np.array(["OK", "OK"], dtype=object), np.array([True, True]))
    >>> list(r), ok.tolist(), lines
    (['OK', 'DISCRETION'], [True, False], ('2025-01-02 exclude B: takeover (S1)',))
    """
    reason = np.array(reason, dtype=object, copy=True)
    eligible = np.array(eligible, dtype=bool, copy=True)
    if reason.shape != (len(tickers),) or eligible.shape != (len(tickers),):
        raise InputError(f"reason {reason.shape} and eligible {eligible.shape} must hold one entry per ticker")
    now = decisions_at(log, cutoff)
    exclude = now.kind == "exclude"
    pos = tickers.get_indexer(now.ticker[exclude])
    if (pos < 0).any():
        k = int(np.flatnonzero(pos < 0)[0])
        raise UniverseError(
            f"the discretion log excludes '{now.ticker[exclude][k]}', which is not a listing of this review's "
            "universe; fix the ticker or load the universe the log belongs to",
            path=log.path,
            line=int(now.line[exclude][k]) or None,
            column="ticker",
        )
    reason[pos] = DISCRETION
    eligible[pos] = False
    return reason, eligible, now.lines()
