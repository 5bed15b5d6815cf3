"""``python -m exchina_index.cli``: the same as the ``exchina-index`` console script."""

from exchina_index.cli import run

run()
