"""The package's shape holds: public API, module and function sizes, one version, the import contract.

These guard issue 12's targets (no module over 500 lines, no function over 80 lines of code, layers
importing downwards only) so that the layout does not drift back.
"""

from __future__ import annotations

import ast
import importlib
import importlib.metadata
import io
import tokenize
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

import exchina_index

PACKAGE = Path(exchina_index.__file__).resolve().parent
ROOT = Path(__file__).resolve().parents[1]
MAX_MODULE_LINES = 500
MAX_FUNCTION_CODE_LINES = 80
#: Modules that are mostly a data table and may be longer than MAX_MODULE_LINES (path -> why).
DATA_TABLE_MODULES: dict[str, str] = {}
#: Functions allowed more than MAX_FUNCTION_CODE_LINES lines of code ("module.py:function" -> why).
LONG_FUNCTIONS: dict[str, str] = {}


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def _rel(path: Path) -> str:
    return path.relative_to(PACKAGE).as_posix()


def _function_code_lines(source: str) -> Iterator[tuple[str, int, int]]:
    """(name, first line, lines of code) of every function: lines holding code, docstrings,
    comments and blank lines left out; a nested function counts towards its enclosing one too."""
    skipped = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.ENDMARKER}
    code: set[int] = set()
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type not in skipped:
            code.update(range(tok.start[0], tok.end[0] + 1))
    tree = ast.parse(source)
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and body:
            first = body[0]
            if (
                isinstance(first, ast.Expr)
                and isinstance(first.value, ast.Constant)
                and isinstance(first.value.value, str)
            ):
                code.difference_update(range(first.lineno, (first.end_lineno or first.lineno) + 1))
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            span = range(node.lineno, (node.end_lineno or node.lineno) + 1)
            yield node.name, node.lineno, sum(1 for line in span if line in code)


def test_function_line_counter_leaves_out_docstrings_comments_and_blank_lines() -> None:
    source = 'def f(x):\n    """Doc\n\n    string."""\n    # a comment\n\n    y = (x +\n         1)\n    return y\n'
    assert list(_function_code_lines(source)) == [("f", 1, 4)]


@pytest.mark.parametrize("name", exchina_index.__all__)
def test_every_public_name_resolves(name: str) -> None:
    assert getattr(exchina_index, name) is not None
    assert name in dir(exchina_index)


def test_the_fund_managers_facade_keeps_working() -> None:
    from exchina_index.weights import StageBalancedOptimizer, stage_balanced_weights

    assert callable(stage_balanced_weights) and isinstance(StageBalancedOptimizer, type)
    assert exchina_index.stage_balanced_weights is stage_balanced_weights


def test_no_module_is_over_500_lines() -> None:
    too_long = {}
    for path in _modules():
        lines = len(path.read_text(encoding="utf-8").splitlines())
        if lines > MAX_MODULE_LINES and _rel(path) not in DATA_TABLE_MODULES:
            too_long[_rel(path)] = lines
    assert not too_long, f"modules over {MAX_MODULE_LINES} lines (split them by job): {too_long}"
    assert all((PACKAGE / p).is_file() for p in DATA_TABLE_MODULES), "a listed data-table module is gone"


def test_no_function_is_over_80_lines_of_code() -> None:
    too_long = {}
    for path in _modules():
        for name, line, n in _function_code_lines(path.read_text(encoding="utf-8")):
            key = f"{_rel(path)}:{name}"
            if n > MAX_FUNCTION_CODE_LINES and key not in LONG_FUNCTIONS:
                too_long[f"{key} (line {line})"] = n
    assert not too_long, f"functions over {MAX_FUNCTION_CODE_LINES} lines of code: {too_long}"


def test_the_version_is_single_sourced() -> None:
    assert exchina_index.__version__ == importlib.metadata.version("exchina-index")
    pyproject = ROOT / "pyproject.toml"
    if not pyproject.is_file():
        pytest.skip("no pyproject.toml beside the tests (an installed copy of the tests)")
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    assert "version" not in project["project"] and "version" in project["project"]["dynamic"]
    assert project["tool"]["hatch"]["version"]["path"] == "exchina_index/_version.py"


def test_the_import_contract_is_kept(capsys: pytest.CaptureFixture[str]) -> None:
    cli = pytest.importorskip("importlinter.cli", reason="import-linter is not installed (pip install -e '.[test]')")
    pyproject = ROOT / "pyproject.toml"
    if not pyproject.is_file():
        pytest.skip("no pyproject.toml (which holds the contracts) beside the tests")
    code = cli.lint_imports(config_filenames=(str(pyproject),), no_cache=True, no_logo=True)
    out = capsys.readouterr().out
    assert code == 0, out


def test_every_module_imports() -> None:
    """Including those that import heavy optional libraries at the top (the doctests import them too)."""
    for path in _modules():
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        if parts[-1] == "__main__":
            continue  # runs a command when imported
        importlib.import_module(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
