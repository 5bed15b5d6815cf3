"""Simulation layer: the array index engine (:mod:`.engine`), the backtest loop (:mod:`.backtest`),
the transaction-cost model (:mod:`.costs`) and benchmark return series (:mod:`.benchmark`).

Imports construction and the layers below it, never publish or the CLI.
"""
