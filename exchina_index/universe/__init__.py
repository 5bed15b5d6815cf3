"""Universe layer: loading and validating the universe and China-link files (:mod:`.loading`).

Imports the rules layer and the foundation modules only.
"""
