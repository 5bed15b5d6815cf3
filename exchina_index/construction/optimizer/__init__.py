"""The stage-balanced weighting problem: set-up, pre-checks, solvers, verification, capacity."""
