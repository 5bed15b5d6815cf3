"""Performance harness of exchina-index (not part of the package, not part of the test suite).

Run ``python -m benchmarks.run`` from the repository root; see ``benchmarks/README.md``.
"""
