"""Rules layer: the rulebook (:mod:`.methodology`), the review calendar and exchange sessions
(:mod:`.calendar`) and named backtest specifications (:mod:`.spec`).

Imports only the foundation modules (``errors``, ``dates``, ``_files``, ``_resources``).
"""
