"""Construction layer: one index review, from screens to weights.

:mod:`.screens` and :mod:`.market_screens` decide eligibility, :mod:`.review` computes anchors and
caps and runs the relaxation ladder, :mod:`.compliance` holds the regulatory limits and their
checks, and :mod:`.optimizer` solves the stage-balanced weighting problem.

Imports the data, universe and rules layers below it, never simulation, publish or the CLI.
"""
