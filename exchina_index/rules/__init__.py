"""Rules layer: what the index's rules say, read from files and checked.

* :mod:`.methodology`: the rulebook (:class:`~.methodology.Methodology`), loaded and validated from
  ``methodology.toml``; its tables are the dataclasses of :mod:`.sections`, read key by key by
  :mod:`.typed_tables`; :mod:`.checks` holds the checks of single values (fund size, solver name);
* :mod:`.calendar`: exchange sessions and the review schedule;
* :mod:`.spec`: named backtest specifications (``backtests/*.toml``).

Imports only the foundation modules (``errors``, ``dates``, ``_files``, ``_resources``).
"""
