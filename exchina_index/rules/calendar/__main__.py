"""``python -m exchina_index.rules.calendar``: regenerate the bundled session table (see :mod:`.table`)."""

from exchina_index.rules.calendar.table import main

if __name__ == "__main__":
    raise SystemExit(main())
