"""``python -m exchina_index.cli``: the same as the ``exchina-index`` console script."""

from exchina_index.cli import run

if __name__ == "__main__":  # a Dask local cluster's worker processes import this module again
    run()
