"""Methodology research on top of the simulation: sweeps of rulebook variants (on Dask) and the
impact of a rule change."""
