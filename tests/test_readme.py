"""The README is true: its command table matches the parser, its shell commands parse, and its
Python API example runs on the demo data as written."""

from __future__ import annotations

import argparse
import re
import shlex
from pathlib import Path

import pytest

from exchina_index.cli.parser import build_parser

README = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
OPTION = re.compile(r"--[a-z][a-z-]*")


def _commands(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> dict[tuple[str, ...], set[str]]:
    """Every leaf command of the parser and the options its --help shows."""
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if subs:
        out: dict[tuple[str, ...], set[str]] = {}
        for name, sub in subs[0].choices.items():
            out.update(_commands(sub, (*path, name)))
        return out
    return {
        path: {
            o
            for a in parser._actions
            if a.help != argparse.SUPPRESS and not isinstance(a, argparse._HelpAction)
            for o in a.option_strings
            if o.startswith("--")
        }
    }


COMMANDS = _commands(build_parser())


def _table_rows() -> dict[tuple[str, ...], set[str]]:
    rows = {}
    for cell in re.findall(r"^\| `exchina-index ([^`]*)` \|", README, flags=re.MULTILINE):
        words = cell.split()
        path = tuple(w for w in words[: next(i for i, w in enumerate([*words, "-"]) if not w.islower() or "-" in w)])
        rows[path] = set(OPTION.findall(cell))
    return rows


def _shared_options() -> set[str]:
    paragraph = README.split("**Shared options**", 1)[1].split("\n\n", 1)[0]
    return set(OPTION.findall(paragraph)) - {"--help"}  # argparse's own, on every command


ROWS = _table_rows()


def test_the_table_has_one_row_per_command_and_no_other() -> None:
    assert sorted(ROWS) == sorted(COMMANDS)


#: What the shared-options paragraph says, option group by option group: the options, and the
#: commands that take them (the spec commands read a universe from the spec; diff takes rulebooks).
SPEC_COMMANDS = {("backtest",), ("tearsheet",), ("calc",), ("sweep",), ("diff",)}
MARKET_COMMANDS = {("weights",), ("rebalance",), *SPEC_COMMANDS}
SHARED_GROUPS = [
    ({"--universe", "--links", "--no-china-links", "--methodology"}, set(COMMANDS) - SPEC_COMMANDS),
    ({"--source", "--cache-dir", "--deadline"}, MARKET_COMMANDS),
    ({"--quiet", "--json"}, {("backtest",), ("tearsheet",), ("rebalance",)}),
]


@pytest.mark.parametrize("path", sorted(COMMANDS), ids=" ".join)
def test_every_option_of_a_command_is_documented_and_every_documented_one_exists(path: tuple[str, ...]) -> None:
    documented = ROWS.get(path, set())
    assert documented <= COMMANDS[path], f"README row of {' '.join(path)} names options it does not take"
    shared = set().union(*(options for options, commands in SHARED_GROUPS if path in commands))
    # the paragraph's claims hold for this command (it takes every option claimed), and the row and
    # the paragraph together name every option it takes
    assert shared <= COMMANDS[path], f"{' '.join(path)} lacks {sorted(shared - COMMANDS[path])}"
    missing = COMMANDS[path] - documented - shared
    assert not missing, f"{' '.join(path)} --help has {sorted(missing)}, which the README does not mention"


def test_the_shared_options_paragraph_names_exactly_the_shared_groups() -> None:
    assert _shared_options() == set().union(*(options for options, _ in SHARED_GROUPS))


def _shell_commands() -> list[str]:
    blocks = re.findall(r"```bash\n(.*?)```", README, flags=re.DOTALL)
    lines = [line for block in blocks for line in block.splitlines()]
    return [part.strip() for line in lines for part in line.split("&&") if part.strip().startswith("exchina-index ")]


@pytest.mark.parametrize("command", _shell_commands())
def test_every_shell_command_of_the_readme_parses(command: str) -> None:
    argv = shlex.split(command, comments=True)[1:]
    try:
        build_parser().parse_args(argv)
    except SystemExit as exc:  # pragma: no cover - the failure message
        pytest.fail(f"README command does not parse ({exc.code}): {command}")


def test_the_python_api_example_runs_on_the_demo_as_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    section = README.split("## Python API", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)
    runnable = [b for b in blocks if "import exchina_index as xi" in b or b.lstrip().startswith("bt = xi.")]
    assert len(runnable) == 2  # the first example and the daily calculation's
    monkeypatch.chdir(tmp_path)  # the example writes to relative folders
    namespace: dict[str, object] = {}
    for block in runnable:
        exec(compile(block, "README.md", "exec"), namespace)  # noqa: S102 - the README's own code
    screen = namespace["screen"]
    assert int(screen["eligible"].sum()) >= 20  # a cut-off inside the data: not every name STALE_PRICE
    assert (tmp_path / "backtests" / "output" / "mine" / "tearsheet.html").is_file()
    assert (Path(str(namespace["folder"])) / "manifest.json").is_file()
