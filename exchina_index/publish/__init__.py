"""Publish layer: what is written for people and funds. Only the CLI sits above it.

Rebalance deliverables: :mod:`.rebalance` (the public :func:`rebalance`, the review's dates and
output checks), :mod:`.previous` (the previous portfolio), :mod:`.deliverables` (pro-forma, trades,
announcement, compliance, summary), :mod:`.files` (CSV/JSON bytes and the manifest) and
:mod:`.review_report` (``report.html``).

Backtest pages: :mod:`.tearsheet` (the public :func:`write_tearsheet` and its CSVs),
:mod:`.backtest_series` (levels and benchmark, checked and aligned), :mod:`.quantstats_page`,
:mod:`.thematic` with :mod:`.thematic_numbers` and :mod:`.charts`; and :mod:`.runner` (a backtest
spec end to end).

Shared: :mod:`.html` (escaping, tables, style sheets, banner, offline clean-up); numbers are
formatted by :mod:`exchina_index._text` and every file is written by :mod:`exchina_index.atomic`.
"""
