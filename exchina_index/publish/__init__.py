"""Publish layer: what is written for people and funds.

Rebalance deliverables (:mod:`.rebalance`, :mod:`.review_report`), the tearsheet
(:mod:`.tearsheet`) and the spec runner (:mod:`.runner`). Only the CLI sits above it.
"""
